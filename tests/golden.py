"""Golden table digests: small seeded runs of every catalogue scenario must keep their tables bit
for bit (values, column names, column order and dtypes) through refactors of the engine.

Each case is a catalogue scenario shortened by overrides (a few hundred frames, more disconnects so
the recovery paths run), plus a few variants that reach the mechanisms the catalogue leaves rare
(restart, eviction, corruption) and one on the per-frame reference engine. The digests of the
tables are stored in `tests/data/golden_digests.json`, one per column, so a failure names the
columns that changed. After an intended change of the model's results, regenerate them with

    python -m tests.golden --update

The same cases with every frame on its own RTO timer (`link.fast_recovery=false`, the textbook
link model) keep their own tables too: `golden_digests_textbook.json`, checked with

    python -m tests.golden --set link.fast_recovery=false \
        --digests tests/data/golden_digests_textbook.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from model.config import apply_overrides
from model.scenarios import CATALOGUE, get_scenario
from model.simulation import simulate

DIGESTS = Path(__file__).parent / "data" / "golden_digests.json"
TEXTBOOK = DIGESTS.with_name("golden_digests_textbook.json")  # every frame on its own RTO timer
TEXTBOOK_SET = ("link.fast_recovery=false",)
SEED = 7
SESSIONS = 40
SHORT = ["content.frames=300"]


def cut(rate: float, *more: str) -> list[str]:
    """Shortened, with `disconnects.rate_scale` = rate, plus `more` overrides."""
    return [*SHORT, f"disconnects.rate_scale={rate:g}", *more]


CASES: dict[str, tuple[str, list[str], int]] = {  # case -> (scenario, overrides, sessions)
    "text-interruption": ("text-interruption", cut(5), SESSIONS),
    "json-interruption": ("json-interruption", cut(5), SESSIONS),
    "multipart-delivery": ("multipart-delivery", cut(5), SESSIONS),
    "large-response": ("large-response", [], SESSIONS),
    "buffer-preservation": ("buffer-preservation", cut(8), SESSIONS),
    "timeout-and-retry": ("timeout-and-retry", cut(5), SESSIONS),
    "concurrent-interruptions": ("concurrent-interruptions", cut(5), 8),
    "rapid-reconnection": ("rapid-reconnection", cut(10), SESSIONS),
    "buffer-memory-management": ("buffer-memory-management", cut(8), SESSIONS),
    "stress": ("stress", cut(4, "session.streams=40"), 3),
    "network-degradation": ("network-degradation", cut(5), SESSIONS),
    # mechanisms the catalogue reaches rarely in a small run
    "restart": ("text-interruption", cut(5, "client.strategy=restart"), SESSIONS),
    "evict": (
        "text-interruption",
        cut(5, "server.when_full=evict", "server.buffer_bytes=2000"),
        SESSIONS,
    ),
    "corruption": ("json-interruption", [*SHORT, "link.corruption_rate=0.003"], SESSIONS),
    "heartbeat": (
        "text-interruption",
        cut(
            8,
            "client.ping_interval=1",
            "client.ping_timeout=2",
            "disconnects.outage.scale=6",
            "network.unstable.loss.model=bernoulli",
            "network.unstable.loss.p=0.2",
        ),
        SESSIONS,
    ),
    "censored": ("text-interruption", cut(8, "horizon=5"), SESSIONS),
    "per-frame-engine": ("network-degradation", cut(8, "engine=per_frame"), 20),
}


def column_digest(series: pd.Series) -> str:
    """sha256 of a column's dtype and values: raw bytes for numbers, type and repr for objects."""
    h = hashlib.sha256(str(series.dtype).encode())
    values = series.to_numpy()
    if values.dtype == object:
        h.update("\x1f".join(f"{type(v).__name__}:{v!r}" for v in values).encode())
    else:
        h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()[:16]


def table_digest(df: pd.DataFrame) -> dict:
    """Rows and, in column order, each column's digest. An importance-sampling `weight` column of
    exactly 1.0 (an untilted run) is left out: it records that nothing was tilted, and the digests
    pin the model's results, which it does not change."""
    untilted = "weight" in df and bool((df["weight"] == 1.0).all())
    names = [name for name in df.columns if not (untilted and name == "weight")]
    return {"rows": len(df), "columns": {name: column_digest(df[name]) for name in names}}


def case_digests(case: str, extra: tuple[str, ...] = ()) -> dict:
    """The case's table digests, with `extra` overrides after the case's own."""
    scenario, overrides, sessions = CASES[case]
    cfg = apply_overrides(get_scenario(scenario), [*overrides, *extra])
    res = simulate(cfg, sessions, seed=SEED)
    return {"streams": table_digest(res.streams), "disconnects": table_digest(res.disconnects)}


def stored(path: Path = DIGESTS) -> dict:
    return json.loads(path.read_text())


def same(got: dict, want: dict | None) -> bool:
    """Equal digests, columns in the same order."""

    def table(digests: dict, name: str) -> tuple:
        return digests[name]["rows"], list(digests[name]["columns"].items())

    return want is not None and all(
        table(got, t) == table(want, t) for t in ("streams", "disconnects")
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Check the golden table digests (--update: rewrite).")
    p.add_argument("--update", action="store_true", help=f"rewrite {DIGESTS.name} from this code")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="an override applied to every case after its own (repeatable)",
    )
    p.add_argument(
        "--digests", type=Path, default=DIGESTS, help="the digests file to check or write"
    )
    p.add_argument(
        "--cases",
        nargs="+",
        choices=list(CASES),
        default=list(CASES),
        metavar="CASE",
        help="check or write these cases only",
    )
    args = p.parse_args(argv)
    missing = {e.name for e in CATALOGUE} - {s for s, _, _ in CASES.values()}
    if missing:
        print(f"catalogue scenarios without a golden case: {sorted(missing)}", file=sys.stderr)
        return 1
    now = {case: case_digests(case, tuple(args.set)) for case in args.cases}
    if args.update:
        args.digests.parent.mkdir(exist_ok=True)
        args.digests.write_text(json.dumps(now, indent=1) + "\n")
        print(f"wrote {args.digests} ({len(now)} cases)")
        return 0
    want = stored(args.digests)
    changed = [case for case in args.cases if not same(now[case], want.get(case))]
    print("golden digests " + (f"differ: {changed}" if changed else "unchanged"))
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
