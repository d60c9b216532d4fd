"""Run many streams of a scenario: chunked across workers, checkpointed, resumable, with provenance.

`run(cfg, streams, seed)` splits stream indices [0, streams) into chunks, simulates them with a
`ChunkExecutor` (in this process, in a process pool, or on a Dask cluster: `model.executors`) and
concatenates the chunk tables in stream order; with a workdir each chunk's tables are parts of a
Parquet dataset, the run's checkpoint (`model.dataset`). Stream i depends only on (seed, i), so
the final tables are identical bit for bit whatever the worker count, chunk size, executor, or how
often the run was interrupted and resumed.

Tables are written with `write_table`, next to the `provenance` that made them.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import itertools
import json
import math
import operator
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from model import __version__
from model.config import Scenario, apply_overrides
from model.executors import DaskExecutor, is_dask_client
from model.outputs import atomic_write, process_alive, written_together
from model.simulation import Results, simulate

__all__ = [
    "run",
    "sweep",
    "write_table",
    "write_tables",
    "table_files",
    "provenance",
    "RunError",
    "Chunk",
    "ChunkExecutor",
    "ChunkFailed",
    "SerialExecutor",
    "ProcessExecutor",
    "SharedPool",
    "each_at_once",
    "default_chunk_size",
]

T = TypeVar("T")
TABLE_FORMATS = (".parquet", ".csv")
METADATA_KEY = b"midstream"


class RunError(RuntimeError):
    """A stream raised during a run; the message names the scenario, the root seed and the
    stream."""


class Chunk(NamedTuple):
    """Stream indices first..last (inclusive)."""

    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1


class ChunkFailed(Exception):
    """Raised by an executor when `fn(chunk)` raised; the original exception is the __cause__."""

    def __init__(self, chunk: Chunk):
        super().__init__(f"chunk of streams {chunk.first}..{chunk.last} failed")
        self.chunk = chunk


# ---------------------------------------------------------------- executors


class ChunkExecutor(Protocol):
    """Where chunks are simulated. Another back end (e.g. Dask) only has to implement this."""

    def map_chunks(
        self, fn: Callable[[Chunk], T], chunks: Iterable[Chunk]
    ) -> Iterator[tuple[Chunk, T]]:
        """Yield (chunk, fn(chunk)) as each finishes, in any order; raise ChunkFailed(chunk) from
        the original exception when one fails. `fn` is picklable."""
        ...


class SerialExecutor:
    """Every chunk in this process, in order (debugging, profiling, monkeypatched tests)."""

    def map_chunks(self, fn, chunks):
        for chunk in chunks:
            try:
                result = fn(chunk)
            except Exception as e:
                raise ChunkFailed(chunk) from e
            yield chunk, result


class ProcessExecutor:
    """Chunks in a pool of worker processes; results come back as they finish. Workers die with
    this process (`_die_with_parent`), and on an error or Ctrl-C the pool is torn down at once
    rather than after the chunks in flight."""

    def __init__(self, workers: int):
        self.workers = workers

    def map_chunks(self, fn, chunks):
        chunks = list(chunks)
        pool = ProcessPoolExecutor(
            max(1, min(self.workers, len(chunks))),  # no idle workers
            initializer=_die_with_parent,
            initargs=(os.getpid(),),
        )
        try:
            yield from _as_they_finish({pool.submit(fn, c): c for c in chunks})
        except BaseException:
            _terminate(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class SharedPool:
    """One pool of worker processes for many runs, which may map their chunks at the same time from
    several threads (`each_at_once`): the report runs two scenarios at once, so that neither one's
    last chunks nor this process's work between batches leaves a core idle. Its workers start
    (fork) at once, before any such thread exists, and die with this process; leaving the `with`
    block on an error or Ctrl-C stops them at once."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            workers, initializer=_die_with_parent, initargs=(os.getpid(),)
        )
        self._pool.submit(int).result()  # with fork, the first task starts every worker

    def submit(self, fn, *args) -> Future:
        """`fn(*args)` in one of the workers (a task beside the runs' chunks)."""
        return self._pool.submit(fn, *args)

    def map_chunks(self, fn, chunks):
        pending = {self._pool.submit(fn, c): c for c in chunks}
        try:
            yield from _as_they_finish(pending)
        finally:
            for fut in pending:  # those left after an error: this run's only
                fut.cancel()

    def __enter__(self) -> SharedPool:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            _terminate(self._pool)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _as_they_finish(pending: dict) -> Iterator[tuple[Chunk, Any]]:
    """(chunk, result) of {future: chunk} as each finishes; ChunkFailed(chunk) from its error."""
    for fut in as_completed(pending):
        chunk = pending.pop(fut)  # drop our reference so results are not kept twice
        try:
            result = fut.result()
        except Exception as e:
            raise ChunkFailed(chunk) from e
        yield chunk, result


def each_at_once(fn: Callable[[Any], T], items: Iterable, at_once: int) -> list[T]:
    """[fn(item) for item in items], `at_once` of them at a time in threads (1: here, in order).
    The first error (or Ctrl-C) is raised at once: calls in flight are left to the caller to stop
    (a `SharedPool` left on an error stops its workers, which ends them)."""
    items = list(items)
    if at_once <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    threads = ThreadPoolExecutor(at_once)
    try:
        return list(threads.map(fn, items))
    finally:
        threads.shutdown(wait=False, cancel_futures=True)


class Alongside:
    """`fn(*args)` in a worker process of its own, started at once so that it runs alongside what
    this process does next; `result()` waits for its answer. The worker dies with this process,
    and leaving the `with` block before the answer came stops it at once."""

    def __init__(self, fn, *args):
        self._pool = ProcessPoolExecutor(1, initializer=_die_with_parent, initargs=(os.getpid(),))
        self._future = self._pool.submit(fn, *args)

    def result(self):
        return self._future.result()

    def __enter__(self) -> Alongside:
        return self

    def __exit__(self, *exc) -> None:
        if not self._future.done():
            _terminate(self._pool)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _die_with_parent(parent: int) -> None:
    """Worker initializer: exit when the parent does, even if it was SIGKILLed (Linux: the kernel
    sends SIGKILL on the parent's death; elsewhere a thread watches the parent id); leave Ctrl-C
    to the parent, which stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if not process_alive(parent):  # died before the kernel was told
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()


def _watch_parent(ppid: int) -> None:
    while os.getppid() == ppid:
        time.sleep(0.5)
    os._exit(1)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now (Python 3.14 has `terminate_workers`)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            proc.terminate()


def _executor(executor: str | ChunkExecutor, workers: int) -> ChunkExecutor:
    if not isinstance(executor, str):
        if is_dask_client(executor):  # the library takes a distributed.Client as it is
            return DaskExecutor(executor)
        return executor
    if executor == "serial" or (
        executor == "process" and workers == 1
    ):  # one worker: no pool needed
        return SerialExecutor()
    if executor == "process":
        return ProcessExecutor(workers)
    raise ValueError(f"executor={executor!r}: one of 'process', 'serial' or a ChunkExecutor")


# ---------------------------------------------------------------- run


def default_chunk_size(streams: int, workers: int, per_session: int = 1) -> int:
    """About 8 chunks per worker (load balance, frequent checkpoints), of 50 to 2000 streams' worth
    of sessions (a session holds `per_session` streams)."""
    floor = max(1, 50 // per_session)
    return min(max(floor, 2000 // per_session), max(floor, math.ceil(streams / (workers * 8))))


def plan_chunks(streams: int, chunk_size: int, first_stream: int = 0) -> list[Chunk]:
    end = first_stream + streams
    return [Chunk(i, min(i + chunk_size, end) - 1) for i in range(first_stream, end, chunk_size)]


def simulate_chunk(cfg: Scenario, seed: int, chunk: Chunk) -> Results:
    return simulate(cfg, chunk.size, seed=seed, first_stream=chunk.first)


def run(
    cfg: Scenario,
    streams: int,
    seed: int,
    workers: int | None = None,
    chunk_size: int | None = None,
    executor: str | ChunkExecutor = "process",
    progress: bool = True,
    workdir: str | os.PathLike | None = None,
    first_stream: int = 0,
    gather: bool = True,
) -> Results | None:
    """Simulate streams [first_stream, first_stream + streams) of `cfg` under root `seed`, in chunks
    across `workers` processes, or on a Dask cluster when `executor` is a `distributed.Client`.

    With `workdir`, each chunk's tables are written there by the worker that made them, as parts of
    a Parquet dataset (`model.dataset`), and a rerun skips the parts that exist and verify (resume
    after a crash or a kill). With `gather=False` (needs `workdir`) no rows come back to this
    process: the result is the dataset, and the return value None.
    """
    if workers is None:  # all cores here, or every worker thread of a Dask cluster
        threads = sum(executor.nthreads().values()) if is_dask_client(executor) else 0
        workers = threads or os.cpu_count() or 1
    streams, seed, workers = (
        _whole(streams=streams, lo=1),
        _whole(seed=seed, lo=0),
        _whole(workers=workers, lo=1),
    )
    if chunk_size is not None:
        chunk_size = _whole(chunk_size=chunk_size, lo=1)
    if not gather and workdir is None:
        raise ValueError("gather=False: needs a workdir to hold the tables")
    fn = functools.partial(simulate_chunk, cfg, seed)
    results: dict[Chunk, Results | None] = {}
    store = None
    if workdir is not None:
        from model.dataset import PartStore, compute_part

        store = PartStore.open(workdir, cfg, seed)
        fn = functools.partial(compute_part, store, cfg, seed, gather)
        # a resumed run keeps its chunking even on a machine with other core counts
        chunk_size = chunk_size or store.recorded_chunk_size()
    chunk_size = chunk_size or default_chunk_size(streams, workers, cfg.session.streams)
    chunks = plan_chunks(streams, chunk_size, _whole(first_stream=first_stream, lo=0))
    if store:
        store.claim(chunk_size)
        results = store.resume(chunks, gather, say=lambda line: tqdm.write(line, file=sys.stderr))
    todo = [c for c in chunks if c not in results]
    try:
        with tqdm(
            total=streams,
            initial=sum(c.size for c in results),
            unit="stream",
            desc=cfg.name,
            file=sys.stderr,
            disable=not progress,
            dynamic_ncols=True,
        ) as bar:
            for chunk, res in _executor(executor, workers).map_chunks(fn, todo):
                results[chunk] = res if gather else None
                bar.update(chunk.size)
    except ChunkFailed as failed:
        raise _run_error(cfg, seed, failed.chunk, failed.__cause__) from failed.__cause__
    return concat_results([results[c] for c in chunks]) if gather else None


def _whole(lo: int, **named) -> int:
    """The single named argument as an int >= lo (numpy integers welcome: they go into JSON)."""
    ((name, value),) = named.items()
    try:
        value = operator.index(value)
    except TypeError:
        raise ValueError(f"{name}={value!r}: must be a whole number >= {lo}") from None
    if value < lo:
        raise ValueError(f"{name}={value!r}: must be a whole number >= {lo}")
    return value


def _run_error(cfg: Scenario, seed: int, chunk: Chunk, cause: BaseException) -> RunError:
    """Name the failing stream: re-run the chunk here one stream at a time until one raises (not
    after a worker died: what killed it, e.g. running out of memory, could kill this process
    too)."""
    died = isinstance(cause, BrokenProcessPool) or type(cause).__name__ == "KilledWorker"
    for i in range(chunk.first, chunk.last + 1) if not died else ():
        try:
            simulate(cfg, 1, seed=seed, first_stream=i)
        except Exception:
            return RunError(
                f"scenario {cfg.name!r}, root seed {seed}: stream {i} failed: "
                f"{type(cause).__name__}: {cause}"
            )
    if isinstance(cause, BrokenProcessPool):
        return RunError(
            f"scenario {cfg.name!r}, root seed {seed}: a worker process died while simulating "
            f"the chunk of streams {chunk.first}..{chunk.last} (killed from outside, or out of "
            "memory)"
        )
    # Not reproducible here: name the chunk instead.
    return RunError(
        f"scenario {cfg.name!r}, root seed {seed}: the chunk of streams "
        f"{chunk.first}..{chunk.last} failed in a worker (not reproduced stream by stream in this "
        f"process): {type(cause).__name__}: {cause}"
    )


def concat_results(parts: list[Results]) -> Results:
    """Concatenate chunk tables sorted by stream (disconnects by stream, index), index reset."""
    streams = pd.concat([p.streams for p in parts], ignore_index=True)
    # Tables are typed by the schema even when empty; leaving empty ones out also keeps tables read
    # from older checkpoints (empty ones all-object) independent of how the streams were chunked.
    discs = [p.disconnects for p in parts if len(p.disconnects)] or [parts[0].disconnects]
    disconnects = pd.concat(discs, ignore_index=True)
    return Results(
        streams.sort_values("stream", kind="stable", ignore_index=True),
        disconnects.sort_values(["stream", "index"], kind="stable", ignore_index=True),
    )


# ---------------------------------------------------------------- atomic writes


def _atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """Write via a temporary file in the same directory, then rename: readers never see half a
    file (`model.outputs`)."""
    atomic_write(path, write)


# ---------------------------------------------------------------- output and provenance


def _json_safe(x):
    """JSON without NaN/inf (not valid JSON): non-finite floats become 'inf', '-inf', 'nan'."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(cfg: Scenario, overrides: list[str] | dict, seed: int, streams: int) -> dict:
    """What made a table: scenario, full config, overrides, seed, streams, code and interpreter
    versions."""
    return {
        "scenario": cfg.name,
        "config": _json_safe(dataclasses.asdict(cfg)),
        "overrides": _json_safe(
            [f"{k}={v}" for k, v in overrides.items()]
            if isinstance(overrides, dict)
            else list(overrides)
        ),
        "seed": seed,
        "streams": streams,
        "version": __version__,
        "git_commit": _git_commit(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }


def write_table(df: pd.DataFrame, path: str | os.PathLike, provenance: dict) -> None:
    """Write `df` as .parquet (provenance in the schema metadata) or .csv, plus a `path.json`
    sidecar."""
    write_tables({path: df}, provenance)


def table_files(path: str | os.PathLike) -> list[Path]:
    """The files `write_table` writes for `path`: the table and its JSON sidecar."""
    return [Path(path), Path(f"{path}.json")]


def write_tables(tables: dict[str | os.PathLike, pd.DataFrame], provenance: dict) -> None:
    """Write every table and its sidecar (as `write_table`) to temporary files, then rename them
    all into place together: a kill or a failure leaves none of them half written."""
    text = json.dumps(_json_safe(provenance), indent=2, allow_nan=False, default=str)
    for path in map(Path, tables):
        if path.suffix.lower() not in TABLE_FORMATS:
            raise ValueError(
                f"{path}: cannot write a table with extension {path.suffix or '(none)'!r}; "
                f"use one of {', '.join(TABLE_FORMATS)}"
            )
    files = [f for path in tables for f in table_files(path)]
    with written_together(files) as temps:
        for path, df in tables.items():
            table, sidecar = table_files(path)
            _write_one(df, table, temps[table], text)
            temps[sidecar].write_text(text + "\n")


def _write_one(df: pd.DataFrame, path: Path, tmp: Path, provenance_text: str) -> None:
    if path.suffix.lower() == ".parquet":
        table = pa.Table.from_pandas(df, preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), METADATA_KEY: provenance_text.encode()}
        )
        pq.write_table(table, tmp)
    else:
        df.to_csv(tmp, index=False)


# ---------------------------------------------------------------- sweeps


def sweep(
    cfg: Scenario,
    grid: dict[str, list],
    streams: int,
    seed: int,
    workers: int | None = None,
    progress: bool = True,
    executor: str | ChunkExecutor = "process",
    workdir: str | os.PathLike | None = None,
    at_once: int = 1,
) -> Results:
    """Run every point of the cartesian `grid` {dotted path: values} with the same seed (common
    random numbers); both tables get one column per swept path holding the point's value. With
    `workdir`, each point's chunks are saved (and resumed) under `workdir/point_dir(point)`;
    `at_once` points are simulated at a time (`each_at_once`: give it a `SharedPool`)."""
    if not grid or any(len(v) == 0 for v in grid.values()):
        raise ValueError(f"grid={grid!r}: needs at least one path, each with at least one value")

    def point_run(point: dict) -> Results:
        res = run(
            apply_overrides(cfg, point),
            streams,
            seed,
            workers=workers,
            progress=progress,
            executor=executor,
            workdir=None if workdir is None else Path(workdir) / point_dir(point),
        )
        for table in (res.streams, res.disconnects):
            for i, (path, value) in enumerate(point.items()):
                table.insert(i, path, value)
        return res

    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    parts = each_at_once(point_run, points, at_once)
    streams_ = pd.concat([p.streams for p in parts], ignore_index=True)
    discs = [p.disconnects for p in parts if len(p.disconnects)] or [parts[0].disconnects]
    return Results(streams_, pd.concat(discs, ignore_index=True))


def point_dir(point: dict) -> str:
    """A directory name for a grid point: PATH=VALUE pairs joined by commas, filesystem-safe."""
    text = ",".join(f"{path}={value}" for path, value in point.items())
    return "".join(ch if ch.isalnum() or ch in "._=,+-" else "_" for ch in text)
