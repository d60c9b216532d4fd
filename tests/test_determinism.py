import pandas.testing as pdt

from conftest import calm
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
