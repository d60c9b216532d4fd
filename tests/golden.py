"""Golden table digests: small seeded runs of every catalogue scenario must keep their tables bit
for bit (values, column names, column order and dtypes) through refactors of the engine.

Each case is a catalogue scenario shortened by overrides (a few hundred frames, more disconnects so
the recovery paths run), plus a few variants that reach the mechanisms the catalogue leaves rare
(restart, eviction, corruption) and one on the per-frame reference engine. The digests of the
tables are stored in `tests/data/golden_digests.json`, one per column, so a failure names the
columns that changed. After an intended change of the model's results, regenerate them with

    python -m tests.golden --update
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
    "evict": ("text-interruption", cut(5, "server.when_full=evict", "server.buffer_bytes=2000"),
              SESSIONS),
    "corruption": ("json-interruption", [*SHORT, "link.corruption_rate=0.003"], SESSIONS),
    "heartbeat": ("text-interruption", cut(8, "client.ping_interval=1", "client.ping_timeout=2",
                                           "disconnects.outage.scale=6",
                                           "network.unstable.loss.model=bernoulli",
                                           "network.unstable.loss.p=0.2"), SESSIONS),
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
    """Rows and, in column order, each column's digest."""
    return {"rows": len(df), "columns": {name: column_digest(df[name]) for name in df.columns}}


def case_digests(case: str) -> dict:
    scenario, overrides, sessions = CASES[case]
    res = simulate(apply_overrides(get_scenario(scenario), overrides), sessions, seed=SEED)
    return {"streams": table_digest(res.streams), "disconnects": table_digest(res.disconnects)}


def stored() -> dict:
    return json.loads(DIGESTS.read_text())


def same(got: dict, want: dict | None) -> bool:
    """Equal digests, columns in the same order."""
    def table(digests: dict, name: str) -> tuple:
        return digests[name]["rows"], list(digests[name]["columns"].items())

    return want is not None and all(table(got, t) == table(want, t)
                                    for t in ("streams", "disconnects"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Check the golden table digests (--update: rewrite).")
    p.add_argument("--update", action="store_true", help=f"rewrite {DIGESTS.name} from this code")
    args = p.parse_args(argv)
    missing = {e.name for e in CATALOGUE} - {s for s, _, _ in CASES.values()}
    if missing:
        print(f"catalogue scenarios without a golden case: {sorted(missing)}", file=sys.stderr)
        return 1
    now = {case: case_digests(case) for case in CASES}
    if args.update:
        DIGESTS.parent.mkdir(exist_ok=True)
        DIGESTS.write_text(json.dumps(now, indent=1) + "\n")
        print(f"wrote {DIGESTS} ({len(now)} cases)")
        return 0
    changed = [case for case in CASES if not same(now[case], stored().get(case))]
    print("golden digests " + (f"differ: {changed}" if changed else "unchanged"))
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
