"""Timing of the testbed itself: event-loop lag and summaries of delays.

A real-stack measurement is only as good as the timers behind it. `LagMonitor` asks its event loop
for a short sleep, again and again, and records how late each wake-up is: the delay any timer of
that loop (a generation tick, a keepalive ping, a backoff wait) suffers at that moment.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np


class LagMonitor:
    """Records the lateness of `period`-second sleeps of the running loop until stopped."""

    def __init__(self, period: float = 0.01):
        self.period, self.lags = period, []
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self.period)
            self.lags.append(loop.time() - asked - self.period)

    def stop(self) -> dict:
        self.task.cancel()
        return summary(self.lags)


def summary(values) -> dict:
    """Count, median, 99th percentile and maximum of finite values (NaN when there are none)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if not len(x):
        return {"n": 0, "median": math.nan, "p99": math.nan, "max": math.nan}
    return {
        "n": len(x),
        "median": float(np.median(x)),
        "p99": float(np.quantile(x, 0.99)),
        "max": float(x.max()),
    }
