"""The records boundary, checked on the source: analysis modules read tables and records, never
the engine's live objects.

Three rules, checked with `ast` on every analysis module (figures, report*, slo, stats, sequential,
runner, cli, validation*):
1. From an engine module, import only its public API for analysis (`PUBLIC_API`): no run objects
   (`run_session`, `Server`, `Client`, ...) and no private names.
2. Read no attribute that only engine objects have: the attributes and methods of the engine's
   classes (private ones included), less the names records, the configuration, the libraries
   analysis works with (pandas, numpy, matplotlib, builtins) and analysis's own classes and table
   columns also use. Attributes of a module (`np.floor`, `runner.run`) are not checked.
3. Reach no engine object through a run: no `.server`, `.client`, `.env` or `.members` except a
   configuration's sections (`cfg.server`, `cfg.client`).
The rules are shown to catch the code figures had before records existed.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from model import config, records

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "model"
ENGINE_MODULES = (
    "link",
    "connection",
    "recovery",
    "network",
    "server",
    "simulation",
    "content",
    "backoff",
    "clock",
    "seeds",
    "engines",
    "protocol",
    "client",
)
ANALYSIS_GLOBS = (
    "figures.py",
    "report*.py",
    "report/**/*.py",
    "slo.py",
    "stats.py",
    "sequential.py",
    "runner.py",
    "cli/**/*.py",
    "validation*.py",
    "validation/**/*.py",
    "weighted*.py",
    "tilting.py",
)
PUBLIC_API = {  # what analysis may import from an engine module
    "model.simulation": {"Results", "simulate", "session_record", "stream_timeline", "tables"}
    # the weather of a session as a record (importance sampling's pilots and validation)
    | {"session_weather"},
    # validation checks the link and the weather against closed forms through their public
    # methods (and the link's repair of lost frames through `recovered_arrivals`)
    "model.link": {"LinkPhysics"},
    "model.connection": {"recovered_arrivals"},
    "model.network": {"Weather"},
}
RUN_ROLES = {"server", "client", "env", "members"}


def engine_files() -> list[Path]:
    files = []
    for name in ENGINE_MODULES:
        module = MODEL / f"{name}.py"
        files += [module] if module.exists() else sorted((MODEL / name).rglob("*.py"))
    return files


def analysis_files() -> list[Path]:
    return sorted({p for pattern in ANALYSIS_GLOBS for p in MODEL.glob(pattern)})


def _class_attributes(tree: ast.AST) -> set[str]:
    """Methods, class-level fields and attributes assigned on `self` in every class of `tree`."""
    names = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for node in cls.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
        for node in ast.walk(cls):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                names.add(node.attr)
    return names


def _shared_vocabulary() -> set[str]:
    """Attribute names that records, the configuration and the libraries use too."""
    words = set()
    for module in (records, config):
        for obj in vars(module).values():
            if isinstance(obj, type):
                words |= set(dir(obj))
                if dataclasses.is_dataclass(obj):
                    words |= {f.name for f in dataclasses.fields(obj)}
    for schema in (records.STREAM_SCHEMA, records.DISCONNECT_SCHEMA):
        words |= {c.name for c in schema.columns}
    for library in (
        pd.DataFrame,
        pd.Series,
        pd.Index,
        np.ndarray,
        np.random.Generator,
        Axes,
        Figure,
        dict,
        list,
        str,
        set,
        tuple,
    ):
        words |= set(dir(library))
    return words | {"cfg"}  # every run and record of analysis carries its configuration


def _analysis_vocabulary() -> set[str]:
    """Names analysis gives its own objects: its classes' attributes, and the identifiers it uses as
    strings or keywords (column names of the tables it makes, read back as attributes)."""
    words = set()
    for path in analysis_files():
        tree = ast.parse(path.read_text())
        words |= _class_attributes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                words |= {node.value} if node.value.isidentifier() else set()
            elif isinstance(node, ast.keyword) and node.arg:
                words.add(node.arg)
    return words


def engine_only_attributes() -> set[str]:
    names = set().union(*(_class_attributes(ast.parse(f.read_text())) for f in engine_files()))
    shared = _shared_vocabulary() | _analysis_vocabulary()
    return {n for n in names - shared if not n.startswith("__")} | RUN_ROLES


def _module_aliases(tree: ast.AST) -> set[str]:
    """Names bound to modules by imports (their attributes are module members)."""
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module in ("model", "matplotlib", "scipy"):
            aliases |= {a.asname or a.name for a in node.names}
    return aliases


def _is_config(node: ast.AST) -> bool:
    name = getattr(node, "id", None) or getattr(node, "attr", None) or ""
    return name == "cfg" or name.endswith("_cfg")


def violations(
    source: str, where: str = "<source>", engine_only: set[str] | None = None
) -> list[str]:
    """Every breach of the three rules in `source`, as 'where:line: what'."""
    tree = ast.parse(source)
    engine_only = engine_only_attributes() if engine_only is None else engine_only
    modules = _module_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("model."):
            engine = node.module.split(".")[1] in ENGINE_MODULES
            for alias in node.names:
                # analysis modules may share their own helpers; the engine only its public API
                if engine and alias.name not in PUBLIC_API.get(node.module, ()):
                    found.append(f"{where}:{node.lineno}: imports {node.module}.{alias.name}")
        elif isinstance(node, ast.Attribute):
            receiver = node.value
            if isinstance(receiver, ast.Name) and receiver.id in modules | {"self", "cls"}:
                continue
            if node.attr in RUN_ROLES and _is_config(receiver):
                continue
            if node.attr in engine_only:
                found.append(f"{where}:{node.lineno}: reads .{node.attr}")
    return found


def test_the_engine_only_attributes_name_the_engine_internals():
    names = engine_only_attributes()
    assert {
        "served",
        "arrive",
        "cut",
        "gen_times",
        "health",
        "total_trace",
        "incarnations",
        "_storage",
        "_floor",
        "server",
        "client",
    } <= names
    assert not {"outcome", "streams", "disconnects", "time", "log", "cfg", "events"} & names


@pytest.mark.parametrize("path", analysis_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_analysis_modules_read_records_and_tables_only(path):
    assert violations(path.read_text(), str(path.relative_to(ROOT))) == []


def engine_private_names() -> set[str]:
    """Private names of the engine: its classes' underscore attributes and its modules' own."""
    names = set()
    for path in engine_files():
        tree = ast.parse(path.read_text())
        names |= {
            n for n in _class_attributes(tree) if n.startswith("_") and not n.startswith("__")
        }
        names |= {
            n.name
            for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name.startswith("_")
        }
    return names


def test_nothing_outside_the_engine_reads_its_private_names():
    private = engine_private_names()
    assert {"_storage", "_floor", "_commit", "_traces", "_kind_cdf"} <= private
    outside = (
        analysis_files()
        + sorted((ROOT / "tests").glob("*.py"))
        + sorted((ROOT / "benchmarks").glob("*.py"))
        + sorted((ROOT / "experiments").glob("*.py"))
    )
    found = []
    for path in outside:
        if path.name == Path(__file__).name:
            continue  # holds the counter-example
        for node in ast.walk(ast.parse(path.read_text())):
            read = node.attr if isinstance(node, ast.Attribute) else None
            imported = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            for name in [read, *imported]:
                if name in private:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert found == []


def test_analysis_modules_are_found():
    names = {p.stem for p in analysis_files()} | {p.parent.name for p in analysis_files()}
    want = {"figures", "report", "slo", "stats", "sequential", "runner", "cli", "validation"}
    assert want <= names


BEFORE_RECORDS = """
from model.simulation import run_session
from model.server import _private_helper

def delivered_frames(member):
    s = member.server.streams.get(member.stream)
    end = member.client.ended_at if math.isfinite(member.client.ended_at) else member.env.now
    for conn in sorted(s.served, key=lambda c: c.opened):
        keep = conn.arrive <= min(conn.cut, end)
    return s.gen_times, member.client.health, s._floor(3), session.server.total_trace

def fine(cfg, run, timeline):
    return cfg.client.ping_timeout, run.cfg.server.gap, timeline.record.outcome, runner.run
"""


def test_the_rules_catch_what_figures_did_before_records():
    found = violations(BEFORE_RECORDS)
    for what in (
        "imports model.simulation.run_session",
        "imports model.server._private_helper",
        ".server",
        ".client",
        ".env",
        ".served",
        ".opened",
        ".arrive",
        ".cut",
        ".gen_times",
        ".health",
        "._floor",
        ".total_trace",
        ".ended_at",
    ):
        assert any(f.endswith(what) for f in found), (what, found)
    assert not [f for f in found if ":13:" in f], found  # `fine` reads config and records only


def test_engine_modules_and_classes_stay_small():
    """No engine module over 500 lines, no engine class over 200 (split by concern instead)."""
    for path in [*engine_files(), MODEL / "records.py"]:
        text = path.read_text()
        assert len(text.splitlines()) <= 500, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno - node.lineno < 200, (path.name, node.name)
