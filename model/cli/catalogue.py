"""`scenarios`, `describe`, `validate`: what the model holds and whether it agrees with theory."""

from __future__ import annotations

from model.cli.options import preset


def add_commands(verbs) -> None:
    scenarios = verbs.add_parser(
        "scenarios",
        help="list the scenarios",
        description="List the scenarios with a one-line summary.",
    )
    scenarios.set_defaults(func=cmd_scenarios)
    describe = verbs.add_parser(
        "describe",
        help="every setting of a scenario, and its SLOs",
        description="Print every settable dotted path with its value, unit and allowed values.",
    )
    describe.add_argument("scenario", help="scenario name (see `midstream scenarios`)")
    preset(describe)
    describe.set_defaults(func=cmd_describe)
    presets = verbs.add_parser(
        "presets",
        help="list the presets of real stacks",
        description="List the presets (`--preset NAME`): the system and version each describes.",
    )
    presets.set_defaults(func=cmd_presets)
    validate = verbs.add_parser(
        "validate",
        help="check the model against closed-form results",
        description="Compare Monte Carlo estimates with theory, one line per case "
        "(each test's false-alarm rate 0.1 %%); exit code 1 if any disagrees.",
    )
    validate.add_argument(
        "--quick", action="store_true", help="fewer replications (under a minute)"
    )
    validate.set_defaults(func=cmd_validate)


def cmd_scenarios(_args) -> int:
    from model.scenarios import SCENARIOS

    for name, s in sorted(SCENARIOS.items()):
        print(f"{name:26s} {s.description.split('. ')[0].rstrip('.')}.")
    return 0


def cmd_presets(_args) -> int:
    from model.presets import PRESETS

    for name, p in PRESETS.items():
        print(f"{name:12s} {p.system} ({p.version}): {p.summary}")
    return 0


def cmd_describe(args) -> int:
    from model.config import apply_overrides, settable_paths
    from model.presets import get_preset
    from model.scenarios import get_scenario

    cfg = apply_overrides(get_scenario(args.scenario), args.overrides)
    print(f"{cfg.name}\n\n{cfg.description}\n")
    chosen = get_preset(args.preset) if args.preset else None
    if chosen:
        print(f"preset {chosen.name}: {chosen.system} ({chosen.version})")
        print("".join(f"  note: {n}\n" for n in chosen.notes))
    rows = [(s.path, _fmt(s.value), s.unit, s.allowed, s.doc) for s in settable_paths(cfg)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for path, value, unit, allowed, doc in rows:
        print(f"{path:{widths[0]}}  {value:>{widths[1]}}  {unit:{widths[2]}}  {doc} [{allowed}]")
        v = chosen.value_of(path) if chosen else None
        if v:
            print(f"{'':{widths[0]}}  {'':>{widths[1]}}  {'':{widths[2]}}  ^ {chosen.name}: "
                  f"{v.source}" + (f"; model: {v.note}" if v.note else ""))  # fmt: skip
    return 0


def cmd_validate(args) -> int:
    from model.validation import main_validate

    return main_validate(quick=args.quick)


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value) if value != "" else '""'
