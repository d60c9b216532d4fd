"""The runner: identical tables whatever the workers, chunking or interruptions; surfaced failures;
tables written with their provenance; parameter sweeps."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

import model.simulation
from conftest import assert_same, kill_once_a_part_is_written
from model.config import apply_overrides
from model.runner import (
    Chunk,
    ChunkFailed,
    ProcessExecutor,
    RunError,
    SharedPool,
    default_chunk_size,
    each_at_once,
    provenance,
    run,
    sweep,
    write_table,
)
from model.scenarios import get_scenario
from model.simulation import simulate

# 4 s streams cut often (rate x10), so the disconnect table has rows in most chunks but not all.
OVERRIDES = ["content.frames=200", "disconnects.rate_scale=10"]
CFG = apply_overrides(get_scenario("text-interruption"), OVERRIDES)
N, SEED = 120, 11


@pytest.fixture(scope="module")
def reference():
    return run(CFG, N, SEED, executor="serial", chunk_size=N, progress=False)


def test_reference_is_simulate_itself(reference):
    assert_same(reference, simulate(CFG, N, seed=SEED))
    assert len(reference.disconnects) > 10 and reference.streams.stream.tolist() == list(range(N))


@pytest.mark.parametrize(
    "executor, workers, chunk_size",
    [
        ("serial", 1, 1),  # many chunks have no disconnects: dtypes must not depend on that
        ("serial", 1, 17),
        ("process", 2, 13),
        ("process", 2, None),
        ("process", 2, 1000),  # one chunk bigger than the run
    ],
)
def test_tables_identical_for_any_executor_workers_and_chunking(
    reference, executor, workers, chunk_size
):
    res = run(
        CFG, N, SEED, workers=workers, chunk_size=chunk_size, executor=executor, progress=False
    )
    assert_same(res, reference)


def test_default_chunk_size_is_clamped():
    assert default_chunk_size(100, 2) == 50
    assert default_chunk_size(1_000_000, 1) == 2000
    assert default_chunk_size(16_000, 2) == 1000


def test_killed_run_resumes_to_the_uninterrupted_tables(tmp_path, reference):
    kill_once_a_part_is_written(
        f"""
        from model.config import apply_overrides
        from model.scenarios import get_scenario
        from model.runner import run
        cfg = apply_overrides(get_scenario("text-interruption"), {OVERRIDES!r})
        run(cfg, {N}, {SEED}, chunk_size=10, executor="serial", progress=False,
            workdir={str(tmp_path)!r})
        """,
        tmp_path,
    )
    saved = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in tmp_path.glob("*/part-*.parquet")}
    assert 0 < len(saved) < 2 * N // 10, "the run was not interrupted mid-way"

    resumed = run(CFG, N, SEED, chunk_size=10, executor="serial", progress=False, workdir=tmp_path)
    assert_same(resumed, reference)
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in tmp_path.glob("*/part-*.parquet")}
    assert len(after) == 2 * N // 10
    assert all(after[name] == stamp for name, stamp in saved.items()), (
        "a finished chunk was recomputed"
    )
    assert not list(tmp_path.glob("*/.*.tmp"))  # nothing half-written left behind by the rerun


def test_workdir_of_another_run_is_recomputed_not_used(tmp_path, capsys):
    run(CFG, 40, SEED, chunk_size=20, executor="serial", progress=False, workdir=tmp_path)
    manifest = json.loads((tmp_path / "dataset.json").read_text())
    assert manifest["identity"]["seed"] == SEED and manifest["chunk_size"] == 20
    other = run(
        CFG, 40, SEED + 1, chunk_size=20, executor="serial", progress=False, workdir=tmp_path
    )
    assert_same(other, simulate(CFG, 40, seed=SEED + 1))
    assert capsys.readouterr().err.count("from another run (seed differ); recomputing it") == 2
    restart = apply_overrides(CFG, ["client.strategy=restart"])
    again = run(
        restart, 40, SEED, chunk_size=20, executor="serial", progress=False, workdir=tmp_path
    )
    assert_same(again, simulate(restart, 40, seed=SEED))
    assert "config_hash, seed, overrides differ" in capsys.readouterr().err
    # without an explicit chunk size, the recorded one is reused (resume on a machine with more
    # cores): nothing is recomputed
    again = run(restart, 40, SEED, workers=2, progress=False, workdir=tmp_path)
    assert_same(again, simulate(restart, 40, seed=SEED))
    assert capsys.readouterr().err == ""


def test_failing_stream_is_named_with_scenario_and_seed(monkeypatch):
    real = model.simulation.run_session

    def run_session(cfg, seed, stream):
        if stream == 7:
            raise ZeroDivisionError("boom in stream seven")
        return real(cfg, seed, stream)

    monkeypatch.setattr(model.simulation, "run_session", run_session)
    with pytest.raises(RunError) as err:
        run(CFG, 40, 4242, chunk_size=5, executor="serial", progress=False)
    msg = str(err.value)
    assert (
        "stream 7 " in msg and "4242" in msg and CFG.name in msg and "boom in stream seven" in msg
    )
    assert isinstance(err.value.__cause__, ZeroDivisionError)


def fail_on_second_chunk(chunk: Chunk) -> int:  # module level: picklable for worker processes
    if chunk.first == 10:
        raise KeyError("worker side")
    return chunk.size


def test_process_executor_surfaces_worker_exceptions():
    chunks = [Chunk(0, 9), Chunk(10, 19), Chunk(20, 29)]
    with pytest.raises(ChunkFailed) as err:
        list(ProcessExecutor(2).map_chunks(fail_on_second_chunk, chunks))
    assert err.value.chunk == Chunk(10, 19)
    assert isinstance(err.value.__cause__, KeyError) and "worker side" in str(err.value.__cause__)


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_write_table_round_trip_with_provenance(tmp_path, reference, ext):
    prov = provenance(CFG, OVERRIDES, SEED, N)
    path = tmp_path / f"streams.{ext}"
    write_table(reference.streams, path, prov)
    sidecar = json.loads((tmp_path / f"streams.{ext}.json").read_text())
    assert (
        sidecar["seed"] == SEED
        and sidecar["overrides"] == OVERRIDES
        and sidecar["scenario"] == CFG.name
    )
    if ext == "parquet":
        assert_frame_equal(pd.read_parquet(path), reference.streams, check_exact=True)
        assert json.loads(pq.read_schema(path).metadata[b"midstream"]) == sidecar
    else:
        back = pd.read_csv(path, keep_default_na=False, na_values=[""])
        expected = reference.streams.replace(
            {"error": {"": float("nan")}}
        )  # CSV cannot tell "" from missing
        assert_frame_equal(back, expected, check_exact=True, check_dtype=False)
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_table_refuses_other_extensions(tmp_path):
    with pytest.raises(ValueError, match=r"streams\.xlsx.*\.parquet, \.csv"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "streams.xlsx", {})
    assert not list(tmp_path.iterdir())


def test_provenance_is_complete_and_strict_json():
    prov = provenance(CFG, OVERRIDES, SEED, N)
    json.dumps(prov, allow_nan=False)  # inf in the config must not leak as bare Infinity
    assert prov["config"]["network"]["unstable"]["mean_sojourn"] == "inf"
    assert prov["config"]["content"]["frames"] == 200
    assert {"version", "git_commit", "created_utc", "python", "streams", "seed"} <= prov.keys()


def test_sweep_runs_the_full_grid_with_common_random_numbers():
    grid = {"client.strategy": ["resume", "restart"], "client.backoff.jitter": ["none", "full"]}
    n = 40
    res = sweep(CFG, grid, n, SEED, workers=2, progress=False)
    assert len(res.streams) == 4 * n
    for table in (res.streams, res.disconnects):
        assert list(table.columns[:2]) == list(grid)
    points = res.streams.groupby(list(grid)).size()
    assert len(points) == 4 and (points == n).all()
    # each point is exactly a plain run of that configuration with the same seed
    one = res.streams[
        (res.streams["client.strategy"] == "restart")
        & (res.streams["client.backoff.jitter"] == "none")
    ]
    direct = simulate(
        apply_overrides(CFG, ["client.strategy=restart", "client.backoff.jitter=none"]),
        n,
        seed=SEED,
    )
    assert_frame_equal(
        one.drop(columns=list(grid)).reset_index(drop=True), direct.streams, check_exact=True
    )


def test_work_alongside_answers_and_stops_when_left_early():
    """`Alongside` runs a function in a process of its own: its answer comes back; leaving the
    block before it finished stops the process at once instead of waiting for it."""
    import os
    import time

    from model.runner import Alongside

    cfg = get_scenario("text-interruption")
    with Alongside(simulate, cfg, 3, 5) as work, Alongside(os.getpid) as pid:
        assert_same(work.result(), simulate(cfg, 3, 5))
        assert pid.result() != os.getpid()
    started = time.perf_counter()
    with Alongside(time.sleep, 60):
        pass
    assert time.perf_counter() - started < 10


def test_runs_at_once_on_a_shared_pool_give_their_own_tables(reference):
    """Two runs mapping chunks onto one `SharedPool` from two threads (as the report does) get
    the tables each would alone; a failing chunk fails its own run only, and the pool goes on."""
    other = apply_overrides(CFG, ["client.strategy=restart"])
    with SharedPool(2) as pool:
        jobs = [(CFG, 13), (other, 7), (CFG, None)]
        got = each_at_once(
            lambda job: run(job[0], N, SEED, executor=pool, chunk_size=job[1], progress=False),
            jobs,
            at_once=2,
        )
        with pytest.raises(ChunkFailed) as err:
            list(pool.map_chunks(fail_on_second_chunk, [Chunk(0, 9), Chunk(10, 19)]))
        assert err.value.chunk == Chunk(10, 19)
        again = run(CFG, 30, SEED, executor=pool, chunk_size=7, progress=False)
    assert_same(got[0], reference)
    assert_same(got[1], simulate(other, N, seed=SEED))
    assert_same(got[2], reference)
    assert_same(again, simulate(CFG, 30, seed=SEED))


def test_each_at_once_keeps_the_order_and_raises_the_first_error():
    assert each_at_once(lambda x: x * x, range(7), at_once=3) == [x * x for x in range(7)]

    def boom(x):
        if x == 2:
            raise ValueError(x)
        return x

    with pytest.raises(ValueError):
        each_at_once(boom, range(5), at_once=2)


def test_sweep_points_at_once_give_the_same_tables():
    grid = {"client.strategy": ["resume", "restart"], "disconnects.rate_scale": [1, 4]}
    one = sweep(CFG, grid, 30, SEED, workers=2, progress=False)
    with SharedPool(2) as pool:
        both = sweep(CFG, grid, 30, SEED, workers=2, progress=False, executor=pool, at_once=2)
    assert_same(both, one)
