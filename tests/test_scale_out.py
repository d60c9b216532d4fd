"""Scale-out: the Dask executor gives the serial executor's tables; a killed worker loses or
duplicates no chunk; datasets on disk are verified part by part, resumed after a kill, and give the
in-memory estimates and verdicts by streaming aggregation."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

from conftest import assert_same, kill_once_a_part_is_written
from model import aggregate, slo, stats
from model.cli import main
from model.config import apply_overrides
from model.dataset import PartStore
from model.report.running import run_scenario
from model.runner import Chunk, provenance, run
from model.scenarios import get_scenario

distributed = pytest.importorskip("distributed")

OVERRIDES = ["content.frames=200", "disconnects.rate_scale=10"]
CFG = apply_overrides(get_scenario("text-interruption"), OVERRIDES)
N, SEED = 80, 5


@pytest.fixture(scope="module")
def reference():
    return run(CFG, N, SEED, executor="serial", progress=False)


@pytest.fixture(scope="module")
def threads_client():
    """A LocalCluster of 2 in-process workers: the Dask path (scheduler, tasks, pickling of the
    chunk function, as_completed) without the seconds that worker processes take to start."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize("chunk_size", [7, None])
def test_dask_tables_equal_serial_and_process_pool(reference, threads_client, chunk_size):
    on_dask = run(CFG, N, SEED, executor=threads_client, chunk_size=chunk_size, progress=False)
    assert_same(on_dask, reference)
    assert_same(run(CFG, N, SEED, workers=2, chunk_size=chunk_size, progress=False), reference)


def test_killed_dask_worker_loses_and_duplicates_no_chunk(tmp_path, reference):
    """Real worker processes; one is SIGKILLed once the run has written parts. Dask reruns its
    tasks elsewhere; the tables, and the dataset on disk, are those of an uninterrupted run."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        pids = list(client.run(os.getpid).values())
        assert len(pids) == 2 and os.getpid() not in pids
        killed = []

        def kill_one_worker_mid_run():
            deadline = time.monotonic() + 60
            while not list((tmp_path / "streams").glob("part-*.parquet")):
                if time.monotonic() > deadline:
                    return
                time.sleep(0.005)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

        killer = threading.Thread(target=kill_one_worker_mid_run)
        killer.start()
        res = run(CFG, N, SEED, executor=client, chunk_size=2, progress=False, workdir=tmp_path)
        killer.join()
        assert killed, "no part was written within 60 s: the worker was never killed"
    assert_same(res, reference)
    store = PartStore.open(tmp_path, CFG, SEED)
    chunks = [Chunk(i, i + 1) for i in range(0, N, 2)]
    assert sorted(store.ranges()) == chunks  # every chunk once, nothing else
    assert_same(run(CFG, N, SEED, chunk_size=2, progress=False, workdir=tmp_path), reference)


def test_bad_parts_are_recomputed_with_one_line_each(tmp_path, reference, capsys):
    run(CFG, N, SEED, executor="serial", chunk_size=16, progress=False, workdir=tmp_path)
    first, second, third, fourth, fifth = sorted((tmp_path / "streams").glob("part-*.parquet"))
    data = first.read_bytes()
    first.write_bytes(data[: len(data) // 2])  # truncated
    shutil.copy(third, second)  # misplaced: chunk 32..47's streams under chunk 16..31's name
    foreign = tmp_path.parent / f"{tmp_path.name}-foreign"
    run(CFG, N, SEED + 1, executor="serial", chunk_size=16, progress=False, workdir=foreign)
    shutil.copy(foreign / "disconnects" / fourth.name, tmp_path / "disconnects" / fourth.name)
    table = pq.read_table(fifth)  # a value changed under intact metadata: only the checksum sees it
    column = table.column("bytes_delivered").to_pylist()
    column[3] += 1
    table = table.set_column(table.schema.get_field_index("bytes_delivered"), "bytes_delivered",
                             pa.array(column, type=pa.int64()))  # fmt: skip
    pq.write_table(table, fifth)
    capsys.readouterr()

    resumed = run(CFG, N, SEED, executor="serial", chunk_size=16, progress=False, workdir=tmp_path)
    assert_same(resumed, reference)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4, lines
    assert "part 0..15 unreadable" in lines[0]
    assert "part 16..31 misplaced: holds the streams of sessions 32..47" in lines[1]
    assert "part 48..63 from another run (seed differ)" in lines[2]
    assert "part 64..79 corrupt (rows or checksum differ from its metadata)" in lines[3]
    assert all(line.endswith("; recomputing it") for line in lines)
    run(CFG, N, SEED, executor="serial", chunk_size=16, progress=False, workdir=tmp_path)
    assert capsys.readouterr().err == ""  # all parts verify now


def test_parts_of_another_model_version_are_recomputed(tmp_path, reference, capsys, monkeypatch):
    """Another version may draw other random numbers: its checkpoint is never resumed from."""
    from model import dataset

    monkeypatch.setattr(dataset, "__version__", "0.2.3")
    run(CFG, N, SEED, executor="serial", chunk_size=16, progress=False, workdir=tmp_path)
    monkeypatch.undo()
    capsys.readouterr()
    resumed = run(CFG, N, SEED, executor="serial", chunk_size=16, progress=False, workdir=tmp_path)
    assert_same(resumed, reference)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 5 and all("(model_version differ)" in line for line in lines), lines


@pytest.mark.parametrize("name", ["text-interruption", "concurrent-interruptions"])
def test_dataset_verdicts_equal_in_memory_ones(tmp_path, name):
    cfg = apply_overrides(get_scenario(name), ["content.frames=200", "disconnects.rate_scale=5"])
    res = run(cfg, 60, SEED, workers=2, chunk_size=13, progress=False, workdir=tmp_path)
    PartStore.open(tmp_path, cfg, SEED).seal(60, provenance(cfg, [], SEED, 60))
    ev, prov = aggregate.dataset_evidence(tmp_path)
    assert prov["seed"] == SEED and prov["scenario"] == name
    assert ev.sessions < ev.streams or name == "text-interruption"
    assert_frame_equal(slo.verdicts(ev, cfg.slo), slo.verdicts(res, cfg.slo), check_exact=True)
    # estimates too: order statistics exactly, means up to the rounding of merged partial sums
    assert_frame_equal(slo.estimates(ev), slo.estimates(res), check_exact=False, rtol=1e-12)


def test_radix_keys_sort_as_the_floats():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 1e3, 500), [0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324]])
    keys = aggregate._keys(x)
    assert np.array_equal(x[np.argsort(keys, kind="stable")], np.sort(x))
    assert all(aggregate._value(int(k)) == v for k, v in zip(keys, x))


def test_rank_of_the_estimate_is_numpys_inverted_cdf():
    """`stats.estimate_rank` is what lets a dataset select the estimate instead of sorting."""
    for n in (1, 2, 3, 7, 99, 100, 101, 299, 1000, 12345):
        x = np.arange(n, dtype=float)
        for q in (0.001, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1 / 3):
            assert x[stats.estimate_rank(n, q)] == np.quantile(x, q, method="inverted_cdf")


def test_report_runs_give_the_same_verdicts_on_dask(threads_client, tmp_path):
    """As `midstream report --scheduler` runs a scenario (demonstration-sized, checkpointed)."""
    kwargs = dict(budget=60, overrides=OVERRIDES, progress=False)
    on_dask = run_scenario(
        "text-interruption", SEED, executor=threads_client, workdir=tmp_path, **kwargs
    )
    on_pool = run_scenario("text-interruption", SEED, workers=2, **kwargs)
    assert on_dask.mode == "demonstrate" and on_dask.sessions == 60
    assert_frame_equal(on_dask.verdicts, on_pool.verdicts, check_exact=True)
    assert_same(on_dask.results, on_pool.results)


def run_cli(args, capsys) -> str:
    assert main(args) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("out", ["ds", "t.parquet"])
def test_killed_cli_run_resumes_to_the_uninterrupted_output(tmp_path, capsys, out):
    """SIGKILL a `midstream run` mid-way (its sessions slowed so it is reliably mid-way), rerun it:
    the output and the printed verdicts are those of an uninterrupted run."""
    args = ["run", "text-interruption", "--streams", "60", "--seed", str(SEED), "--workers", "1"]
    args += [a for o in OVERRIDES for a in ("--set", o)] + ["--quiet"]
    parts = tmp_path / out if "." not in out else tmp_path / f"{out}.parts"
    body = f"from model.cli import main\nmain({[*args, '--out', str(tmp_path / out)]!r})\n"
    done = kill_once_a_part_is_written(body, parts)
    assert 0 < done < 8, "the run was not interrupted mid-way"

    resumed = run_cli([*args, "--out", str(tmp_path / out)], capsys)
    (tmp_path / "fresh").mkdir()
    fresh = run_cli([*args, "--out", str(tmp_path / "fresh" / out)], capsys)
    assert resumed.replace(str(tmp_path), "") == fresh.replace(str(tmp_path / "fresh"), "")
    if "." in out:
        assert not parts.exists()  # the checkpoint beside the file is removed once written
        for name in (out, out.replace(".", ".disconnects.")):
            assert_frame_equal(
                pd.read_parquet(tmp_path / name), pd.read_parquet(tmp_path / "fresh" / name)
            )
    else:
        verdicts = run_cli(["verdicts", str(tmp_path / out)], capsys)
        assert verdicts.split("\n", 1)[1] == fresh.rsplit("\nwrote", 1)[0]
        for table in ("streams", "disconnects"):
            assert_frame_equal(
                pd.read_parquet(tmp_path / out / table).sort_values("stream", kind="stable"),
                pd.read_parquet(tmp_path / "fresh" / out / table).sort_values(
                    "stream", kind="stable"
                ),
            )


def test_scheduler_without_dask_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    code = main(["run", "text-interruption", "--streams", "5", "--scheduler", "local:2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "--scheduler='local:2'" in err[0] and "pip install" in err[0]


def test_sweep_out_dir_is_one_dataset_per_point(tmp_path, capsys):
    out = tmp_path / "grid"
    args = ["sweep", "text-interruption", "--streams", "12", "--seed", str(SEED), "--workers", "1"]
    args += ["--set", "content.frames=200", "--vary", "client.strategy=resume,restart"]
    run_cli([*args, "--quiet", "--out", str(out)], capsys)
    points = sorted(p.name for p in out.iterdir())
    assert points == ["client.strategy=restart", "client.strategy=resume"]
    restart = run_cli(["verdicts", str(out / points[0])], capsys)
    assert "client.strategy=restart" in restart.splitlines()[0] and "12 streams" in restart
    assert main([*args, "--out", str(out), "--workdir", str(tmp_path / "w")]) == 2
    assert "a dataset --out is its own checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize(
    "how, sig",
    [("parent", signal.SIGKILL), ("group", signal.SIGKILL), ("group", signal.SIGINT)],
)
def test_killed_report_resumes_to_the_uninterrupted_verdicts(tmp_path, how, sig):
    """Kill `midstream report` mid-way (SIGKILL to the parent alone or to its whole process group,
    or Ctrl-C: SIGINT to the group), rerun it:
    the verdicts of an uninterrupted run, the checkpoint removed, no temporary file and no process
    of the killed run left (its workers die with it)."""
    args = ["report", "text-interruption", "--streams", "60", "--seed", str(SEED)]
    args += [a for o in OVERRIDES for a in ("--set", o)]
    args += ["--workers", "2", "--no-sweep", "--no-validation", "--no-remedies", "--quiet"]
    out, parts = tmp_path / "r.pdf", tmp_path / "r.pdf.parts"
    body = f"from model.cli import main\nmain({[*args, '--out', str(out)]!r})\n"
    kill_once_a_part_is_written(body, parts, group=how == "group", sig=sig)
    assert not out.exists() and len(list(parts.rglob("streams/part-*.parquet"))) > 0

    assert main([*args, "--out", str(out)]) == 0
    (tmp_path / "fresh").mkdir()
    assert main([*args, "--out", str(tmp_path / "fresh" / "r.pdf")]) == 0
    resumed, fresh = (
        json.loads(Path(f"{p}.json").read_text()) for p in (out, tmp_path / "fresh" / "r.pdf")
    )
    for key in ("sessions", "streams", "disconnects", "verdicts"):
        assert (
            resumed["scenarios"]["text-interruption"][key]
            == fresh["scenarios"]["text-interruption"][key]
        )
    assert not parts.exists() and not list(tmp_path.rglob("*.tmp"))
