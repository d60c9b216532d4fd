"""One seed tree: root seed -> (session, member) -> component -> an independent numpy Generator.

A session is the unit of replication: one network path and one server shared by `session.streams`
concurrent streams (just one stream by default, so a session is a stream). Each (session, member)
has one `SeedSequence` (entropy = root seed, spawn key = (session, member)); component k's PCG64
is seeded with words 4k..4k+3 of that sequence's output (the four words PCG64 would draw from a
sequence of its own; SeedSequence's output words are independent hashes, so disjoint words give
independent generators). Session-wide components (the weather, the start spread) are member 0's.
So session i's generators depend only on (root seed, i, member, component), never on how many
sessions are run, on the worker count or on chunking; each component has its own fixed key, so
adding a component never shifts another's draws.

The words are numpy's SeedSequence output, but hashed for a block of sessions at once
(`seed_words`: the same algorithm, O'Neill's seed_seq hash, on uint32 columns): a block of 128
costs about what two SeedSequences do, so seeding a stream costs the six generators it makes and
little else. A test holds `seed_words` to `SeedSequence` word for word.

Scenarios share the tree on purpose (common random numbers): two scenarios run with the same seed
see the same disconnect and jitter draws wherever their settings agree, which sharpens comparisons
such as resume vs restart.
"""

from __future__ import annotations

import functools

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
EAGER = len(COMPONENTS)  # components whose words come with the block (later ones: on their own)
BLOCK = 128  # sessions whose seed words are hashed together (block b: sessions 128b .. 128b+127)

# SeedSequence's hash constants (numpy.random.bit_generator; O'Neill's seed_seq)
_M32 = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL = 4  # SeedSequence's default pool size, in uint32 words


def _uint32_words(n: int) -> list[int]:
    """An integer as SeedSequence reads it: little-endian 32-bit words ([0] for 0)."""
    out = [n & _M32]
    while n := n >> 32:
        out.append(n & _M32)
    return out


class _Hashmix:
    """SeedSequence's hashmix: its multiplier advances with each call, whatever the data."""

    def __init__(self, init: int, mult: int):
        self.const, self.mult = init, mult

    def __call__(self, value: np.ndarray) -> np.ndarray:
        value = value ^ np.uint32(self.const)
        self.const = (self.const * self.mult) & _M32
        value = value * np.uint32(self.const)  # uint32 columns wrap, as the C code does
        return value ^ (value >> np.uint32(16))


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
    return r ^ (r >> np.uint32(16))


def seed_words(root_seed: int, sessions: np.ndarray, member: int, n_words: int) -> np.ndarray:
    """Row i: the first `n_words` uint64 words of SeedSequence(root_seed, spawn_key=(sessions[i],
    member)), for sessions below 2**32 (one uint32 word each), all rows in one pass."""
    sessions = np.asarray(sessions, dtype=np.uint64)
    if len(sessions) and int(sessions.max()) > _M32:
        raise ValueError(f"sessions up to {int(sessions.max())}: seed_words takes them below 2**32")
    n, run = len(sessions), _uint32_words(root_seed)
    run += [0] * (_POOL - len(run))  # a spawn key pads the root's words to the pool size
    column = lambda word: np.full(n, word, dtype=np.uint32)
    entropy = [column(w) for w in run] + [sessions.astype(np.uint32)]
    entropy += [column(w) for w in _uint32_words(member)]
    hashmix = _Hashmix(_INIT_A, _MULT_A)
    pool = [hashmix(entropy[i]) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = _mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL, len(entropy)):
        for dst in range(_POOL):
            pool[dst] = _mix(pool[dst], hashmix(entropy[src]))
    # output word j hashes pool[j % 4] with the j-th and (j+1)-th multipliers
    k = 2 * n_words
    consts = [_INIT_B]
    for _ in range(k):
        consts.append((consts[-1] * _MULT_B) & _M32)
    hashed = np.ascontiguousarray(np.stack(pool, axis=1)[:, np.arange(k) % _POOL])
    hashed = (hashed ^ np.array(consts[:-1], dtype=np.uint32)) * np.array(consts[1:], np.uint32)
    hashed ^= hashed >> np.uint32(16)
    return hashed.view("<u8")


@functools.lru_cache(maxsize=256)  # at most 8 MB: a stress session's 100 members fit
def _block_words(root_seed: int, member: int, block: int) -> np.ndarray:
    sessions = np.arange(block * BLOCK, (block + 1) * BLOCK, dtype=np.uint64)
    return seed_words(root_seed, sessions, member, WORDS * EAGER)


def _session_words(root_seed: int, session: int, member: int) -> np.ndarray:
    """The seed words of the first EAGER components of (session, member)."""
    if (session // BLOCK + 1) * BLOCK > _M32 + 1:  # beyond one uint32 word: numpy's own hash
        sequence = np.random.SeedSequence(root_seed, spawn_key=(session, member))
        return sequence.generate_state(WORDS * EAGER, np.uint64)
    return _block_words(root_seed, member, session // BLOCK)[session % BLOCK]


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
        self._words = _session_words(root_seed, session, member)

    def __missing__(self, name: str) -> np.random.Generator:
        k = COMPONENTS[name]
        if len(self._words) < WORDS * (k + 1):  # a prefix of the output never changes
            root_seed, session, member = self.key
            sequence = np.random.SeedSequence(root_seed, spawn_key=(session, member))
            self._words = sequence.generate_state(WORDS * (k + 1), np.uint64)
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
