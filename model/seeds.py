"""One seed tree: root seed -> (session, member) -> component -> an independent numpy Generator.

A session is the unit of replication: one network path and one server shared by `session.streams`
concurrent streams (just one stream by default, so a session is a stream). Each (session, member)
has one `SeedSequence` (entropy = root seed, spawn key = (session, member)); component k's PCG64
is seeded with words 4k..4k+3 of that sequence's output (the four words PCG64 would draw from a
sequence of its own; SeedSequence's output words are independent hashes, so disjoint words give
independent generators). Session-wide components (the weather, the start spread) are member 0's.
So session i's generators depend only on (root seed, i, member, component), never on how many
sessions are run, on the worker count or on chunking; each component has its own fixed key, so
adding a component never shifts another's draws. One sequence and one hash per stream instead of
one per component: seeding a stream costs about a third of what five spawned sequences did.

Scenarios share the tree on purpose (common random numbers): two scenarios run with the same seed
see the same disconnect and jitter draws wherever their settings agree, which sharpens comparisons
such as resume vs restart.
"""

from __future__ import annotations

import numpy as np
from numpy.random.bit_generator import ISeedSequence

# Fixed keys: never renumber (that would change every published result); append new ones.
COMPONENTS = {
    "network": 0,
    "link": 1,
    "server": 2,
    "client": 3,
    "content": 4,
    "session": 5,
    "corruption": 6,
    "acks": 7,
}
WORDS = 4  # 64-bit words of seed per component (PCG64's 128-bit state and increment)
# every component's words are hashed in one call (a second call costs more than the words: numpy
# guards each call with an errstate context; a lossy stream uses "acks", the last key)
EAGER = len(COMPONENTS)


class _Words(ISeedSequence):
    """Seed words already hashed by the stream's SeedSequence, handed to PCG64 as they are."""

    def __init__(self, words: np.ndarray):
        self.words = words

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        if n_words != len(self.words) or np.dtype(dtype) != np.uint64:
            raise ValueError(f"n_words={n_words}, dtype={dtype}: expected {WORDS} uint64 words")
        return self.words


def _check(root_seed: int, session: int) -> None:
    if root_seed < 0 or session < 0:
        raise ValueError(f"seed={root_seed}, session={session}: both must be >= 0")


class StreamRngs(dict):
    """The generators of one stream's components (one session member), each made on first use
    from the member's seed words."""

    def __init__(self, root_seed: int, session: int, member: int = 0):
        super().__init__()
        _check(root_seed, session)
        self.key = (root_seed, session, member)
        self._sequence = np.random.SeedSequence(root_seed, spawn_key=(session, member))
        self._words = np.empty(0, dtype=np.uint64)

    def __missing__(self, name: str) -> np.random.Generator:
        k = COMPONENTS[name]
        if len(self._words) < WORDS * (k + 1):  # a prefix of the output never changes
            self._words = self._sequence.generate_state(WORDS * max(k + 1, EAGER), np.uint64)
        words = self._words[WORDS * k : WORDS * (k + 1)]
        self[name] = rng = np.random.Generator(np.random.PCG64(_Words(words)))
        return rng


def stream_rngs(root_seed: int, session: int, member: int = 0) -> StreamRngs:
    return StreamRngs(root_seed, session, member)


def component_rng(
    root_seed: int, session: int, component: str, member: int = 0
) -> np.random.Generator:
    """The generator of one component of one session (`member`: which of its concurrent streams)."""
    return stream_rngs(root_seed, session, member)[component]
