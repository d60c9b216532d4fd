"""The public facade `model`: every exported name resolves to its owner's object, and importing the
package (as every worker process does) loads none of the heavy libraries."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

import model

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "pandas", "scipy", "simpy", "matplotlib", "reportlab", "pyarrow")


def test_import_model_loads_no_heavy_library():
    code = f"import sys, model; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", model.__all__)
def test_every_public_name_is_its_owners_object(name):
    owner = importlib.import_module(model._OWNER[name])
    value = getattr(model, name)
    expected = owner if isinstance(value, types.ModuleType) else getattr(owner, name)
    assert value is expected and name in dir(model)


def test_star_import_gives_exactly_the_public_names():
    namespace: dict = {}
    exec("from model import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(model.__all__)


def test_unknown_names_fail_and_submodules_still_import():
    with pytest.raises(AttributeError, match="no_such_name"):
        model.no_such_name  # noqa: B018
    from model import runner, slo  # not facade names: plain submodule imports

    assert runner.run is model.run and slo.verdicts is model.verdicts


@pytest.mark.parametrize("argv", [["scenarios"], ["describe", "text-interruption"], ["--help"]])
def test_light_commands_load_no_heavy_library(argv):
    """`midstream scenarios`, `describe` and `--help` answer at once: they import no numpy, pandas
    or scipy (benchmarks/stream_rate.py prints their wall time; it is not asserted here)."""
    code = (
        "import contextlib, sys\nfrom model.cli import main\n"
        f"with contextlib.suppress(SystemExit):\n    main({argv!r})\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout and out.stderr.strip().splitlines()[-1] == "[]"
