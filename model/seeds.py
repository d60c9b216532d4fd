"""One seed tree: root seed -> (stream index, component) -> an independent numpy Generator.

Stream i's generators depend only on (root seed, i, component), never on how many streams are run,
on the worker count or on chunking; each component has its own fixed key, so adding a component
never shifts another's draws. Scenarios share the tree on purpose (common random numbers): two
scenarios run with the same seed see the same disconnect and jitter draws wherever their settings
agree, which sharpens comparisons such as resume vs restart.
"""
from __future__ import annotations

import numpy as np

# Fixed keys: never renumber (that would change every published result); append new ones.
COMPONENTS = {"network": 0, "link": 1, "server": 2, "client": 3, "content": 4}


def component_rng(root_seed: int, stream: int, component: str) -> np.random.Generator:
    """The generator of one component of one stream."""
    if root_seed < 0 or stream < 0:
        raise ValueError(f"seed={root_seed}, stream={stream}: both must be >= 0")
    seq = np.random.SeedSequence(root_seed, spawn_key=(stream, COMPONENTS[component]))
    return np.random.Generator(np.random.PCG64(seq))


def stream_rngs(root_seed: int, stream: int) -> dict[str, np.random.Generator]:
    """All component generators of one stream."""
    return {name: component_rng(root_seed, stream, name) for name in COMPONENTS}
