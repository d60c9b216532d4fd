import numpy as np
import pandas.testing as pdt
import pytest
from numpy.random.bit_generator import ISeedSequence

from conftest import calm
from model import seeds
from model.simulation import simulate

CFG = calm(content__frames=200, disconnects__rate_scale=4.0)  # a disconnect every 15 s on average


def test_same_seed_same_tables_bit_for_bit():
    a, b = simulate(CFG, 30, seed=3), simulate(CFG, 30, seed=3)
    pdt.assert_frame_equal(a.streams, b.streams, check_exact=True)
    pdt.assert_frame_equal(a.disconnects, b.disconnects, check_exact=True)
    assert len(a.disconnects) > 0


def test_more_streams_leave_the_first_rows_unchanged():
    small, large = simulate(CFG, 10, seed=3), simulate(CFG, 30, seed=3)
    pdt.assert_frame_equal(small.streams, large.streams.iloc[:10], check_exact=True)
    tail = simulate(CFG, 5, seed=3, first_stream=25).streams
    pdt.assert_frame_equal(
        tail.reset_index(drop=True),
        large.streams.iloc[25:].reset_index(drop=True),
        check_exact=True,
    )


def test_different_seeds_differ():
    a, b = simulate(CFG, 30, seed=3), simulate(CFG, 30, seed=4)
    assert not a.streams.completion_time.equals(b.streams.completion_time)


@pytest.mark.parametrize("root", [0, 1, 2**32 - 1, 2**32, 2**63 - 1, 2**130 + 3])
@pytest.mark.parametrize("member", [0, 1, 99])
def test_block_seed_words_are_seed_sequence_words(root, member):
    rng = np.random.default_rng(root % 1000 + member)
    sessions = np.concatenate([[0, 1, 2**32 - 1], rng.integers(0, 2**32, 40)]).astype(np.uint64)
    words = seeds.seed_words(root, sessions, member, 2 * seeds.WORDS * seeds.EAGER)
    for session, row in zip(sessions.tolist(), words):
        sequence = np.random.SeedSequence(root, spawn_key=(session, member))
        assert (row == sequence.generate_state(len(row), np.uint64)).all()


class _GivenWords(ISeedSequence):
    """PCG64 seeded with these words, as the seed tree does."""

    def __init__(self, words):
        self.words = words

    def generate_state(self, n_words, dtype=np.uint32):
        return self.words


def test_every_session_gets_seed_sequence_generators():
    """Blocks, the fallback beyond 2**32 sessions and components past the block's words."""
    late = dict(seeds.COMPONENTS, later=len(seeds.COMPONENTS) + 3)  # a component added later
    for session in (0, seeds.BLOCK - 1, seeds.BLOCK, 2**32 - 1, 2**32, 2**40 + 7):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(seeds, "COMPONENTS", late)
            rngs = seeds.stream_rngs(5, session, 2)
            got = {name: rngs[name].bit_generator.state["state"] for name in late}
        sequence = np.random.SeedSequence(5, spawn_key=(session, 2))
        expected = sequence.generate_state(seeds.WORDS * (max(late.values()) + 1), np.uint64)
        for name, k in late.items():
            words = expected[seeds.WORDS * k : seeds.WORDS * (k + 1)]
            want = np.random.PCG64(_GivenWords(words)).state["state"]
            assert got[name] == want, (session, name)
