"""The real-stack testbed: the model's protocol on websockets over loopback TCP, faults by nftables.

`run_testbed(cfg, streams, seed)` runs streams of a scenario for real, each under the weather the
model draws for the same stream (same seed), and returns the model's stream and disconnect tables
plus one row per fault and the run's provenance; `check_available()` says why it cannot run here,
if it cannot (it needs root and nftables).
"""

from model.testbed.runner import (
    TestbedError,
    TestbedResults,
    check_available,
    run_testbed,
)

__all__ = ["TestbedError", "TestbedResults", "check_available", "run_testbed"]
