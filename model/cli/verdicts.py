"""`verdicts`: estimates and SLO verdicts of a finished dataset, recomputed from its parts alone."""

from __future__ import annotations

from pathlib import Path


def add_commands(verbs) -> None:
    verdicts = verbs.add_parser(
        "verdicts",
        help="estimates and SLO verdicts of a dataset written with --out DIR",
        description="Recompute the estimates and SLO verdicts of a run from its Parquet dataset "
        "(`midstream run ... --out DIR`), one part at a time: memory does not grow with the "
        "number of streams. Every part is verified (checksum, range, run) before it is used.",
    )
    verdicts.add_argument("dataset", type=Path, metavar="DIR", help="the dataset directory")
    verdicts.set_defaults(func=cmd_verdicts)


def cmd_verdicts(args) -> int:
    from model import slo
    from model.aggregate import dataset_evidence
    from model.cli.simulate import print_summary
    from model.config import ConfigError, Slo
    from model.dataset import PartError, is_dataset

    if not is_dataset(args.dataset):
        raise ConfigError("DIR", str(args.dataset), "a dataset written by `run --out DIR`")
    try:
        ev, prov = dataset_evidence(args.dataset)
    except (PartError, OSError, ValueError) as e:
        raise ConfigError("DIR", str(args.dataset), str(e)) from None
    # the SLO targets the run was judged against, as recorded (non-finite ones as strings)
    targets = Slo(**{k: float(v) for k, v in prov["config"]["slo"].items()})
    overrides = " ".join(f"--set {o}" for o in prov["overrides"])
    print(f"dataset {args.dataset}: {prov['scenario']} {overrides}".rstrip())
    print_summary(prov["scenario"], targets, ev, slo.verdicts(ev, targets), prov["seed"])
    return 0
