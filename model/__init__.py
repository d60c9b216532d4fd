"""midstream: a discrete-event model of streaming responses cut mid-stream, and their recovery.

The public API, for scripts and notebooks:

    from model import apply_overrides, get_scenario, run, verdicts
    cfg = apply_overrides(get_scenario("text-interruption"), ["client.strategy=restart"])
    res = run(cfg, 2000, seed=1)          # res.streams, res.disconnects: the two tables
    verdicts(res, cfg.slo)                # PASS / FAIL / INCONCLUSIVE per SLO

Each name loads its module on first use (PEP 562), so `import model`, which every worker process
does, stays light. ARCHITECTURE.md maps the modules.
"""

from __future__ import annotations

import importlib

__version__ = "0.3.0"

_PUBLIC = {  # module -> the public names it defines ("figures": the module itself)
    "model.config": ("Scenario", "ConfigError", "apply_overrides", "settable_paths"),
    "model.scenarios": ("SCENARIOS", "ENTRIES", "get_scenario"),
    "model.simulation": ("simulate", "Results"),
    "model.runner": ("run", "sweep", "provenance", "write_table"),
    "model.slo": ("estimates", "verdicts"),
    "model.aggregate": ("dataset_evidence",),
    "model.stats": (
        "clopper_pearson_interval",
        "quantile_interval",
        "mean_interval",
        "zero_failure_sample_size",
    ),
    "model.sequential": (
        "RunSize",
        "run_sized",
        "run_until_decided",
        "run_demonstration",
        "demonstration_plan",
    ),
    "model.figures": ("figures",),
    "model.report": ("build_report",),
    "model.validation": ("main_validate",),
}
_OWNER = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = list(_OWNER)


def __getattr__(name: str):
    owner = _OWNER.get(name)
    if owner is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(owner)
    value = module if owner == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value  # later look-ups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
