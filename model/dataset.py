"""A run's tables as a partitioned Parquet dataset: one part per chunk and table, written by the
worker that simulated the chunk. The dataset is also the run's checkpoint.

Layout of a dataset directory DIR:

    DIR/streams/part-000000000-000001999.parquet      sessions 0..1999 of the stream table
    DIR/disconnects/part-000000000-000001999.parquet  their disconnects
    DIR/{streams,disconnects}/_common_metadata        schema + provenance (when the run finished)
    DIR/dataset.json                                  identity, chunk size; provenance and the
                                                      list of parts once the run finished

Each part is written to a temporary name and renamed, and carries in its Parquet metadata the
chunk's session range, the run's identity (scenario, hash of the full configuration, seed, the
overrides that made it differ from the named scenario, and the model's version: another version
may draw other random numbers), its row count and a SHA-256 checksum of
its rows. A rerun uses a part only if it reads back whole and matches all of these; a part that is
truncated, unreadable, misplaced (another chunk's range) or from another run is recomputed, with a
line saying so, never used. Parts are the same bits whatever worker wrote them, so a resumed run's
tables equal an uninterrupted one's.

The directory must be reachable under the same path by every worker (a shared filesystem when the
workers run on other machines).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from model import __version__
from model.config import Scenario, settable_paths
from model.runner import Chunk, _atomic_write, _json_safe, simulate_chunk
from model.simulation import Results

__all__ = ["PartStore", "PartError", "config_hash", "compute_part", "is_dataset", "parts_of"]

TABLES = ("disconnects", "streams")  # write order: a chunk counts as done once its streams part is
MANIFEST = "dataset.json"
PART_KEY = b"midstream.part"
PROVENANCE_KEY = b"midstream"
PART_NAME = re.compile(r"part-(\d{9})-(\d{9})\.parquet")


class PartError(Exception):
    """A part that cannot be used; the message says why."""


def config_hash(cfg: Scenario) -> str:
    """SHA-256 of the full configuration (canonical JSON): two runs with equal hashes simulate the
    same model."""
    text = json.dumps(_json_safe(dataclasses.asdict(cfg)), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def overrides_of(cfg: Scenario) -> list[str]:
    """The settings in which `cfg` differs from the catalogue scenario of its name (all of them
    for a scenario not in the catalogue): the overrides that made it, in canonical form."""
    from model.scenarios import SCENARIOS

    base = SCENARIOS.get(cfg.name)
    have = {s.path: s.value for s in settable_paths(cfg)}
    if base is None:
        return [f"{p}={v}" for p, v in have.items()]
    was = {s.path: s.value for s in settable_paths(base)}
    return [f"{p}={v}" for p, v in have.items() if was.get(p) != v]


def checksum(table: pa.Table) -> str:
    """SHA-256 of the column names, types and values (metadata left out: it holds the checksum).
    Values are hashed row by row from pandas, so the checksum does not depend on how Arrow lays the
    table out in memory (chunks, validity bitmaps), which differs between writing and reading."""
    h = hashlib.sha256()
    for field in table.schema:
        h.update(f"{field.name}:{field.type};".encode())
    rows = pd.util.hash_pandas_object(_frame(table), index=False)
    h.update(rows.to_numpy().tobytes())
    return h.hexdigest()


def is_dataset(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


@dataclass(frozen=True)
class PartStore:
    """The parts of one run (scenario configuration and seed) under `path`. Picklable: workers get
    a copy and write their chunks' parts themselves."""

    path: Path
    identity: dict

    @classmethod
    def open(cls, path: str | os.PathLike, cfg: Scenario, seed: int) -> PartStore:
        path = Path(path)
        for table in TABLES:
            (path / table).mkdir(parents=True, exist_ok=True)
        for stray in [*path.glob(".*.tmp"), *path.glob("*/.*.tmp")]:  # left by a killed writer
            stray.unlink(missing_ok=True)
        identity = {
            "scenario": cfg.name,
            "config_hash": config_hash(cfg),
            "seed": seed,
            "overrides": overrides_of(cfg),
            "session_streams": cfg.session.streams,
            "model_version": __version__,
        }
        return cls(path, identity)

    # ------------------------------------------------------------ manifest

    def manifest(self) -> dict:
        try:
            return json.loads((self.path / MANIFEST).read_text())
        except (OSError, ValueError):
            return {}

    def recorded_chunk_size(self) -> int | None:
        """The chunk size of the run this dataset holds, when it is this run (a resumed run keeps
        its chunking even on a machine with another core count)."""
        have = self.manifest()
        same = have.get("identity") == self.identity
        return have.get("chunk_size") if same and isinstance(have.get("chunk_size"), int) else None

    def claim(self, chunk_size: int) -> None:
        """Record this run and its chunk size (replacing another run's record: its parts will
        fail verification and be recomputed). A sealed dataset is unsealed until `seal` again:
        its list of parts no longer holds while a run changes them."""
        want = {"identity": self.identity, "chunk_size": chunk_size}
        if self.manifest() == want:
            return
        text = json.dumps(want, indent=2)
        _atomic_write(self.path / MANIFEST, lambda tmp: Path(tmp).write_text(text + "\n"))

    # ------------------------------------------------------------ parts

    def file(self, table: str, c: Chunk) -> Path:
        return self.path / table / f"part-{c.first:09d}-{c.last:09d}.parquet"

    def write(self, c: Chunk, res: Results) -> None:
        for table in TABLES:
            data = pa.Table.from_pandas(getattr(res, table), preserve_index=False)
            meta = {
                **self.identity,
                "table": table,
                "first": c.first,
                "last": c.last,
                "rows": data.num_rows,
                "checksum": checksum(data),
            }
            data = data.replace_schema_metadata(
                {**(data.schema.metadata or {}), PART_KEY: json.dumps(meta).encode()}
            )
            _atomic_write(self.file(table, c), lambda tmp: pq.write_table(data, tmp))

    def read(
        self, table: str, c: Chunk, columns: list[str] | None = None, verify: bool = True
    ) -> pa.Table:
        """The part of `table` for chunk `c`, verified; PartError says why it cannot be used.
        Unverified (`verify=False`), only `columns` are read."""
        path = self.file(table, c)
        if not path.exists():
            raise PartError("missing")
        try:
            if not verify:
                return pq.read_table(path, columns=columns)
            data = pq.read_table(path)
        except (OSError, pa.ArrowException) as e:
            raise PartError(f"unreadable ({type(e).__name__}: {e})".splitlines()[0]) from None
        try:
            meta = json.loads((data.schema.metadata or {})[PART_KEY])
        except (KeyError, ValueError):
            raise PartError("no part metadata (not written by midstream)") from None
        if (meta.get("first"), meta.get("last"), meta.get("table")) != (c.first, c.last, table):
            raise PartError(
                f"misplaced: holds the {meta.get('table')} of sessions "
                f"{meta.get('first')}..{meta.get('last')}"
            )
        differ = [k for k, v in self.identity.items() if meta.get(k) != v]
        if differ:
            raise PartError(f"from another run ({', '.join(differ)} differ)")
        if meta.get("rows") != data.num_rows or meta.get("checksum") != checksum(data):
            raise PartError("corrupt (rows or checksum differ from its metadata)")
        return data.select(columns) if columns is not None else data

    def load(self, c: Chunk) -> Results:
        return Results(*(_frame(self.read(t, c)) for t in ("streams", "disconnects")))

    def ranges(self) -> set[Chunk]:
        """The chunks that have a part file of either table, whatever its state."""
        return {
            Chunk(int(m[1]), int(m[2]))
            for table in TABLES
            for p in (self.path / table).glob("part-*.parquet")
            if (m := PART_NAME.fullmatch(p.name))
        }

    def remove(self, c: Chunk) -> None:
        for table in TABLES:
            self.file(table, c).unlink(missing_ok=True)

    def resume(
        self, chunks: list[Chunk], gather: bool, say: Callable[[str], None]
    ) -> dict[Chunk, Results | None]:
        """The chunks whose parts verify (their tables when `gather`, else None). Parts that
        fail are removed with one line each, as are parts overlapping the planned chunks with
        another range (written with another chunking)."""
        done: dict[Chunk, Results | None] = {}
        planned = set(chunks)
        for c in chunks:
            try:
                res = self.load(c)
            except PartError as e:
                if self.file("streams", c).exists() or self.file("disconnects", c).exists():
                    say(f"{self.path}: part {c.first}..{c.last} {e}; recomputing it")
                    self.remove(c)
                continue
            done[c] = res if gather else None
        lo, hi = min(c.first for c in chunks), max(c.last for c in chunks)
        for c in sorted(self.ranges() - planned):
            if c.first <= hi and c.last >= lo:
                say(f"{self.path}: part {c.first}..{c.last} overlaps this run's chunks; removed")
                self.remove(c)
        return done

    # ------------------------------------------------------------ the finished dataset

    def seal(self, sessions: int, provenance: dict) -> None:
        """Seal the dataset as the tables of sessions [0, sessions): parts beyond are removed;
        provenance goes into each table's `_common_metadata` and, with the list of parts, into
        dataset.json."""
        parts = sorted(self.ranges())
        for c in parts:
            if c.last >= sessions:
                self.remove(c)
        parts = [c for c in parts if c.last < sessions]
        ends = [-1] + [c.last for c in parts]
        if ends[-1] != sessions - 1 or any(c.first != end + 1 for c, end in zip(parts, ends)):
            raise PartError(
                f"{self.path}: the parts do not tile sessions 0..{sessions - 1} "
                f"({len(parts)} parts; rerun the command to recompute what is missing)"
            )
        text = json.dumps(_json_safe(provenance), allow_nan=False, default=str)
        for table in TABLES:
            schema = pq.read_schema(self.file(table, parts[0])).remove_metadata()
            schema = schema.with_metadata({PROVENANCE_KEY: text.encode()})
            where = self.path / table / "_common_metadata"
            _atomic_write(where, lambda tmp: pq.write_metadata(schema, tmp))
        manifest = {
            **self.manifest(),
            "sessions": sessions,
            "parts": [[c.first, c.last] for c in parts],
            "provenance": json.loads(text),
        }
        _atomic_write(
            self.path / MANIFEST,
            lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2) + "\n"),
        )


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.replace_schema_metadata(None).to_pandas()


def compute_part(store: PartStore, cfg: Scenario, seed: int, gather: bool, chunk: Chunk):
    """Simulate a chunk and write its parts (runs in the worker); its tables when `gather`, else
    only its row counts (nothing big travels back)."""
    res = simulate_chunk(cfg, seed, chunk)
    store.write(chunk, res)
    return res if gather else (len(res.streams), len(res.disconnects))


def parts_of(path: str | os.PathLike) -> tuple[PartStore, list[Chunk], dict]:
    """A finished dataset: its store, its chunks in session order and its provenance."""
    path = Path(path)
    manifest = json.loads((path / MANIFEST).read_text())
    if "parts" not in manifest:
        raise PartError(f"{path}: the run that writes this dataset has not finished")
    store = PartStore(path, manifest["identity"])
    return store, [Chunk(a, b) for a, b in manifest["parts"]], manifest["provenance"]


def iter_parts(
    store: PartStore, chunks: list[Chunk], columns: dict[str, list[str]], verify: bool = True
) -> Iterator[Results]:
    """Each chunk's tables (only `columns` of each), one chunk in memory at a time; verified unless
    `verify` is False (a later pass over parts already verified)."""
    for c in chunks:
        try:
            tables = (store.read(t, c, columns[t], verify) for t in ("streams", "disconnects"))
            yield Results(*(_frame(t) for t in tables))
        except PartError as e:
            raise PartError(f"{store.path}: part {c.first}..{c.last} {e}") from None
