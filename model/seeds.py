"""One seed tree: root seed -> (session, component, member) -> an independent numpy Generator.

A session is the unit of replication: one network path and one server shared by `session.streams`
concurrent streams (just one stream by default, so a session is a stream). Session i's generators
depend only on (root seed, i, component, member), never on how many sessions are run,
on the worker count or on chunking; each component has its own fixed key, so adding a component
never shifts another's draws. Scenarios share the tree on purpose (common random numbers): two
scenarios run with the same seed see the same disconnect and jitter draws wherever their settings
agree, which sharpens comparisons such as resume vs restart.
"""

from __future__ import annotations

import numpy as np

# Fixed keys: never renumber (that would change every published result); append new ones.
COMPONENTS = {
    "network": 0,
    "link": 1,
    "server": 2,
    "client": 3,
    "content": 4,
    "session": 5,
    "corruption": 6,
}


def component_rng(
    root_seed: int, session: int, component: str, member: int = 0
) -> np.random.Generator:
    """The generator of one component of one session (`member`: which of its concurrent streams)."""
    if root_seed < 0 or session < 0:
        raise ValueError(f"seed={root_seed}, session={session}: both must be >= 0")
    seq = np.random.SeedSequence(root_seed, spawn_key=(session, COMPONENTS[component], member))
    return np.random.Generator(np.random.PCG64(seq))


class StreamRngs(dict):
    """The generators of one stream's own components, each made on first use (making one costs
    about as much as simulating a dozen frames, and some components draw nothing in most runs)."""

    def __init__(self, root_seed: int, session: int, member: int = 0):
        super().__init__()
        self.key = (root_seed, session, member)

    def __missing__(self, name: str) -> np.random.Generator:
        root_seed, session, member = self.key
        self[name] = rng = component_rng(root_seed, session, name, member)
        return rng


def stream_rngs(root_seed: int, session: int, member: int = 0) -> StreamRngs:
    return StreamRngs(root_seed, session, member)
