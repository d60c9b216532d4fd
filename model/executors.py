"""Where chunks run when they leave this process for a Dask cluster (the serial and process-pool
executors live in `model.runner`).

`DaskExecutor(client)` implements `runner.ChunkExecutor` on a `distributed.Client`: one task per
chunk, results taken as they finish. Chunks are pure functions of (scenario, seed, stream range),
so a task that Dask re-runs after losing a worker gives the same rows, and the runner keeps one
result per chunk: a killed worker neither loses nor duplicates a chunk.

Dask is an optional extra (`pip install -e '.[dask]'`); this module imports it only when a cluster
is asked for, and says how to install it when it is missing.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from model.config import ConfigError

__all__ = ["DaskExecutor", "connect", "is_dask_client"]

LOCAL_PREFIX = "local:"


class DaskExecutor:
    """Chunks as tasks of a Dask `distributed` cluster, yielded as they complete."""

    def __init__(self, client):
        self.client = client

    def map_chunks(self, fn, chunks):
        from distributed import as_completed

        from model.runner import ChunkFailed

        chunks = list(chunks)
        if not chunks:
            return
        # a key of its own per call (never a result the cluster holds for another run); it names
        # the chunk on the dashboard
        run = uuid.uuid4().hex
        futures = {
            self.client.submit(fn, c, key=f"chunk-{c.first}-{c.last}-{run}"): c for c in chunks
        }
        try:
            for fut in as_completed(futures):
                chunk = futures.pop(fut)
                try:
                    result = fut.result()
                except Exception as e:
                    raise ChunkFailed(chunk) from e
                fut.release()  # the cluster may forget it: the result is ours now
                yield chunk, result
        finally:
            if futures:  # on failure or early exit, do not run chunks nobody will read
                self.client.cancel(list(futures))


def is_dask_client(obj) -> bool:
    """True for a `distributed.Client` (checked without importing Dask when it is not loaded)."""
    cls = type(obj)
    return cls.__name__ == "Client" and cls.__module__.startswith("distributed")


def _require_dask(address: str) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--scheduler",
            address,
            "needs Dask, which is not installed: pip install 'midstream[dask]' "
            "(or pip install 'dask[distributed]')",
        ) from None


@contextlib.contextmanager
def connect(address: str, say=print) -> Iterator[object]:
    """A `distributed.Client` for `address`: 'local:N' starts a LocalCluster of N single-threaded
    worker processes on this machine (closed on exit); anything else is a scheduler address
    (tcp://host:8786). `say` gets one line with the dashboard address."""
    _require_dask(address)
    from distributed import Client, LocalCluster

    if address.startswith(LOCAL_PREFIX):
        text = address[len(LOCAL_PREFIX) :]
        if not text.isascii() or not text.isdigit() or int(text) < 1:
            raise ConfigError("--scheduler", address, "local:N with N a whole number >= 1")
        # one thread per worker: the simulation is pure Python and holds the GIL
        with (
            LocalCluster(
                n_workers=int(text), threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            say(f"dask: local cluster of {text} workers, dashboard {client.dashboard_link}")
            yield client
        return
    try:
        client = Client(address, timeout=10)
    except (OSError, TimeoutError, ValueError) as e:
        raise ConfigError(
            "--scheduler", address, f"a reachable Dask scheduler address or local:N ({e})"
        ) from None
    with client:
        say(f"dask: scheduler {address}, dashboard {client.dashboard_link}")
        yield client
