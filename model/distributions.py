"""Non-negative random durations (jitter, outages, generation gaps) that know their own moments.

Each `Dist` samples with a caller's `numpy.random.Generator` (never global state) and reports its
theoretical mean and variance, so tests can compare samples with theory. numpy is imported when a
sample is drawn, not with the module, so reading the configuration (the CLI's `scenarios`,
`describe`) does not load it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from model.fields import spec, validate

KINDS = ("constant", "exponential", "halfnormal", "lognormal", "pareto", "uniform")


@dataclass(frozen=True)
class Dist:
    """A non-negative distribution, parameterised by `scale` (seconds) and `shape`.

    - constant:    x = scale
    - exponential: mean scale
    - halfnormal:  |N(0, scale^2)|, i.e. a normal truncated at zero (mean scale*sqrt(2/pi))
    - lognormal:   median scale, log-sd shape
    - pareto:      Lomax (Pareto II, support from 0): scale*((1-U)^(-1/shape) - 1); heavy tail,
                   mean scale/(shape-1) for shape > 1
    - uniform:     U(0, scale)
    """

    kind: str = spec("constant", "-", "distribution family", choices=KINDS)
    scale: float = spec(0.0, "s", "scale parameter (see the family)", lo=0.0)
    # shape <= 20: a log-sd of 20 already spans a factor 10^8 per standard deviation, and
    # exp(shape^2 / 2) in the lognormal mean must stay a float.
    shape: float = spec(
        1.0,
        "-",
        "shape parameter: lognormal log-sd, Pareto tail index",
        lo=0.0,
        lo_open=True,
        hi=20.0,
    )

    def __post_init__(self):
        validate(self)

    def sample(self, rng, size: int | None = None):
        """One draw (size None) or an array of `size` draws from `rng` (a numpy Generator)."""
        s, k = self.scale, self.kind
        if k == "constant":
            return s if size is None else _numpy().full(size, s)
        if k == "exponential":
            return rng.exponential(s, size)
        if k == "halfnormal":
            return abs(rng.normal(0.0, s, size))
        if k == "lognormal":
            return s * _numpy().exp(rng.normal(0.0, self.shape, size))
        if k == "pareto":
            return s * rng.pareto(self.shape, size)
        return rng.uniform(0.0, s, size)

    def mean(self) -> float:
        s, a, k = self.scale, self.shape, self.kind
        if k in ("constant", "exponential"):
            return s
        if k == "halfnormal":
            return s * math.sqrt(2 / math.pi)
        if k == "lognormal":
            return s * math.exp(a * a / 2)
        if k == "pareto":
            return s / (a - 1) if a > 1 else math.inf
        return s / 2

    def var(self) -> float:
        s, a, k = self.scale, self.shape, self.kind
        if k == "constant":
            return 0.0
        if k == "exponential":
            return s * s
        if k == "halfnormal":
            return s * s * (1 - 2 / math.pi)
        if k == "lognormal":
            return s * s * (math.exp(a * a) - 1) * math.exp(a * a)
        if k == "pareto":
            return s * s * a / ((a - 1) ** 2 * (a - 2)) if a > 2 else math.inf
        return s * s / 12


def _numpy():
    """numpy, imported when a sample is drawn (it is loaded by then: the generator is numpy's)."""
    import numpy

    return numpy
