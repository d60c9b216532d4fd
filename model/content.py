"""Response content: what the server generates and how the client checks it arrived intact.

A content kind turns a seeded generator into frames: a size in bytes and a 64-bit digest per frame
(the frame checksum a real protocol carries). The response hash is a BLAKE2b hash over the digests
in order, so a missing, duplicated, reordered or corrupted frame changes it.

Kinds (`Content.kind`):
- text: token-like chunks (sizes and digests only).
- json: a real JSON document, serialised and cut into `frames` chunks carried as payload bytes; the
  digest is the checksum of the chunk. Intact = the reassembled bytes parse, validate against
  `DOCUMENT_SCHEMA` (jsonschema) and equal the original.
- multipart: `components` independent parts interleaved in one stream; each frame also carries its
  component id and its sequence number within that component. Intact = every component complete,
  in order, no component frame twice.
- large: a big body in fixed `frame_bytes` frames (2 MiB and more); checked like text.

`verify(frames, seqs, digests)` is the one integrity check for every kind: what the application
received (frame numbers and digests in delivery order) against what the server generated.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from model.config import Content


@dataclass(frozen=True)
class Frames:
    size: np.ndarray  # bytes on the wire, envelope included
    digest: np.ndarray  # uint64 checksum of each frame (json: of its number and bytes)
    kind: str = "text"
    payload: bytes | None = None  # json: the serialised document ...
    offsets: np.ndarray | None = None  # ... frame k carries payload[offsets[k]:offsets[k + 1]]
    component: np.ndarray | None = None  # multipart: component id of each frame
    part_seq: np.ndarray | None = None  # multipart: sequence number within its component

    def __len__(self) -> int:
        return len(self.size)


def _random_digests(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.bit_generator.random_raw(n)  # 64 random bits each, as they come


def text_frames(cfg: Content, rng: np.random.Generator) -> Frames:
    """Token-like chunks: payload 1 + Poisson(chunk_bytes - 1) bytes, plus the envelope."""
    payload = 1 + poisson(rng, cfg.chunk_bytes - 1.0, cfg.frames)
    return Frames(size=payload + cfg.envelope_bytes, digest=_random_digests(cfg.frames, rng))


POISSON_TABLE_MAX = 1000.0  # means up to this one are drawn from a table (a few thousand rows)
GUIDE_ROWS = 4096


def poisson(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    """n Poisson(mean) draws. For the small means of token-sized frames, by inversion of the
    cumulative distribution (one uniform each): a guide table maps each uniform to the first
    candidate value and a search settles the few it leaves open. That is several times cheaper
    than numpy's sampler, which costs a stream about a tenth of its time at mean 15."""
    if mean <= 0:
        return np.zeros(n, dtype=np.int64)
    if mean > POISSON_TABLE_MAX:
        return rng.poisson(mean, n)
    cdf, guide = _poisson_table(float(mean))
    u = rng.random(n)
    x = guide[(u * GUIDE_ROWS).astype(np.intp)]
    open_ = cdf[x] <= u  # the value lies beyond the guide's first candidate
    if open_.any():
        x[open_] = cdf.searchsorted(u[open_], "right")
    return x


@functools.lru_cache(maxsize=8)
def _poisson_table(mean: float) -> tuple[np.ndarray, np.ndarray]:
    """The cumulative distribution of Poisson(mean) up to a value whose tail is below 10^-300
    (mean + 40 sd + 40; the last entry 1 exactly, so every uniform maps to a value), and the
    guide: for each row j, the smallest value whose cumulative probability exceeds j / rows."""
    k = np.arange(int(mean + 40 * math.sqrt(mean) + 40) + 1)
    log_pmf = k * math.log(mean) - mean - np.array([math.lgamma(i + 1.0) for i in k])
    cdf = np.cumsum(np.exp(log_pmf))
    cdf[-1] = 1.0
    guide = cdf.searchsorted(np.arange(GUIDE_ROWS) / GUIDE_ROWS, "right")
    return cdf, guide


def large_frames(cfg: Content, rng: np.random.Generator) -> Frames:
    """A large body (file, image, export) sent in equal frames of `frame_bytes`."""
    size = np.full(cfg.frames, cfg.frame_bytes + cfg.envelope_bytes, dtype=np.int64)
    return Frames(size=size, digest=_random_digests(cfg.frames, rng), kind="large")


def multipart_frames(cfg: Content, rng: np.random.Generator) -> Frames:
    """Text-like frames, each assigned to one of `components` parts, interleaved at random."""
    base = text_frames(cfg, rng)
    k, n = cfg.components, cfg.frames
    # every component gets at least one frame (config checks components <= frames)
    component = rng.permutation(np.concatenate([np.arange(k), rng.integers(0, k, n - k)]))
    counts = np.bincount(component, minlength=k)
    order = np.argsort(component, kind="stable")  # stable: stream order within each component
    part_seq = np.empty(n, dtype=np.int64)
    part_seq[order] = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    return Frames(
        size=base.size, digest=base.digest, kind="multipart", component=component, part_seq=part_seq
    )


# ---- json: an API-style result list with nested objects and arrays
# fmt: off
WORDS = (
    "stream", "frame", "resume", "replay", "buffer", "socket", "token", "model", "chunk", "retry",
    "backoff", "delta", "window", "signal", "cursor", "offset", "header", "packet", "route",
    "ledger",
)
# fmt: on

DOCUMENT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["object", "model", "data", "usage"],
    "additionalProperties": False,
    "properties": {
        "object": {"const": "list"},
        "model": {"type": "string"},
        "data": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "title", "text", "score", "tags", "meta"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "integer", "minimum": 0},
                    "title": {"type": "string", "minLength": 1},
                    "text": {"type": "string"},
                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "meta": {
                        "type": "object",
                        "required": ["flag", "parts"],
                        "additionalProperties": False,
                        "properties": {
                            "flag": {"type": "boolean"},
                            "parts": {"type": "array", "items": {"type": "integer"}},
                        },
                    },
                },
            },
        },
        "usage": {
            "type": "object",
            "required": ["items"],
            "properties": {"items": {"type": "integer"}},
        },
    },
}


# The words as numpy object arrays: indexing one with a batch's drawn word numbers looks up all its
# words in one step (a Python lookup per word cost a document about 50 us); quoted ones are tags.
_WORD_OBJECTS = np.array(WORDS, dtype=object)
_QUOTED_OBJECTS = np.array([f'"{w}"' for w in WORDS], dtype=object)
_PARTS = ("", "{}", "{},{}", "{},{},{}")  # the first n of three parts, joined by commas


def _items(rng: np.random.Generator, first: int, n: int) -> Iterator[str]:
    """n result items, each serialised compactly as `json.dumps` would (its keys in schema order;
    every string is made of WORDS, so nothing needs escaping; all ASCII). Every random quantity is
    drawn in bulk, on the call; the text is formatted directly (a document costs about 250 us less
    than building dicts and dumping them) and lazily, one item as the caller asks for it, so the
    items past the document's end are never formatted (a third of them, at ~150 B asked for each).
    A long `text` field keeps the node count per byte low: schema validation time grows with
    nodes."""
    rows = rng.integers(0, len(WORDS), (n, 32))  # word numbers (not all are used)
    n_text, n_tags, n_parts = (
        rng.integers(8, 25, n).tolist(),
        rng.integers(0, 4, n).tolist(),
        rng.integers(0, 4, n).tolist(),
    )
    score, flag = np.round(rng.random(n), 4).tolist(), (rng.random(n) < 0.5).tolist()
    parts = rng.integers(0, 10_000, (n, 3)).tolist()
    words, tags = _WORD_OBJECTS[rows].tolist(), _QUOTED_OBJECTS[rows[:, 28:31]].tolist()
    return (
        f'{{"id":{i},"title":"{w[0]} {w[1]} {w[2]}","text":"{" ".join(w[3 : 3 + nt])}",'
        f'"score":{s!r},"tags":[{",".join(t[:ng])}],'
        f'"meta":{{"flag":{"true" if f else "false"},"parts":[{_PARTS[k].format(*p)}]}}}}'
        for i, (w, nt, t, ng, s, f, k, p) in enumerate(
            zip(words, n_text, tags, n_tags, score, flag, n_parts, parts), first
        )
    )


def json_payload(target_bytes: int, rng: np.random.Generator) -> bytes:
    """A compact serialised document of at least `target_bytes` (about one item more)."""
    items: list[str] = []
    length = 0  # items and their commas only: the envelope around them makes up the rest
    while length < target_bytes:
        # ~150-400 B each: formatted until one reaches the target, the batch's rest never
        for item in _items(rng, len(items), (target_bytes - length) // 150 + 1):
            items.append(item)
            length += len(item) + 1  # ASCII: characters are bytes
            if length >= target_bytes:
                break
    # the envelope as json.dumps would write it, around the items; encoded once
    return (
        f'{{"object":"list","model":"midstream-1","data":[{",".join(items)}],'
        f'"usage":{{"items":{len(items)}}}}}'
    ).encode()


_WEIGHTS = (
    np.random.default_rng(0x6D6964).integers(0, 2**63, 1 << 16, dtype=np.int64).astype(np.uint64)
    * 2
    + 1
)


def _checksums(payload: bytes, offsets: np.ndarray) -> np.ndarray:
    """The checksum of every frame payload[offsets[k]:offsets[k+1]] at once: a multilinear hash (a
    fixed odd 64-bit weight per byte position, products summed mod 2^64), mixed with the frame
    number k (so equal chunks still differ) through the splitmix64 finaliser."""
    data = np.frombuffer(payload, dtype=np.uint8).astype(np.uint64)
    data += np.uint64(1)
    n = len(data)  # the weights repeat past their length
    data *= _WEIGHTS[:n] if n <= len(_WEIGHTS) else np.resize(_WEIGHTS, n)
    h = np.add.reduceat(data, offsets[:-1])  # chunks are never empty
    h ^= np.arange(len(h), dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def json_frames(cfg: Content, rng: np.random.Generator) -> Frames:
    """A JSON document of about frames * chunk_bytes bytes, cut at random points into `frames`
    chunks."""
    payload = json_payload(int(np.ceil(cfg.frames * cfg.chunk_bytes)), rng)
    cuts = (
        np.sort(rng.choice(len(payload) - 1, cfg.frames - 1, replace=False)) + 1
    )  # no empty chunk
    offsets = np.concatenate([[0], cuts, [len(payload)]]).astype(np.int64)
    return Frames(
        size=np.diff(offsets) + cfg.envelope_bytes,
        digest=_checksums(payload, offsets),
        kind="json",
        payload=payload,
        offsets=offsets,
    )


GENERATORS = {
    "text": text_frames,
    "json": json_frames,
    "multipart": multipart_frames,
    "large": large_frames,
}


def make_frames(cfg: Content, rng: np.random.Generator) -> Frames:
    return GENERATORS[cfg.kind](cfg, rng)


# ---- integrity: what the application received against what was generated
def _hash_ok(frames: Frames, digests: np.ndarray) -> bool:
    """The check of an order-sensitive hash over the whole response's frame checksums, as a client
    would make it: it passes exactly when the received checksum sequence equals the sent one, so the
    sequences are compared directly."""
    return np.array_equal(digests, frames.digest)


def verify_hash(frames: Frames, seqs: np.ndarray, digests: np.ndarray) -> dict:
    """text, large: the response hash over the delivered digests."""
    return {"integrity_ok": _hash_ok(frames, digests)}


@functools.cache
def schema_validator():
    import jsonschema  # imported on first use: text runs and worker start-up do not pay for it

    cls = jsonschema.validators.validator_for(DOCUMENT_SCHEMA)
    cls.check_schema(DOCUMENT_SCHEMA)
    return cls(DOCUMENT_SCHEMA)


def received_bytes(frames: Frames, seqs: np.ndarray, digests: np.ndarray) -> bytes:
    """The bytes the application got: delivered chunks in order, a chunk whose digest does not match
    its frame's (corrupted, had it ever been delivered) with its first byte damaged."""
    off, payload = frames.offsets, frames.payload
    body = bytearray(b"".join(payload[off[s] : off[s + 1]] for s in seqs.tolist()))
    lengths = np.diff(off)[seqs]
    for at in (np.cumsum(lengths) - lengths)[digests != frames.digest[seqs]].tolist():
        body[at] ^= 0x20
    return bytes(body)


def verify_json(frames: Frames, seqs: np.ndarray, digests: np.ndarray) -> dict:
    """json: the reassembled bytes parse, validate against the schema and equal the original.
    Every frame received intact and in order (the response hash matches) is the generated
    document, valid by construction (the tests validate generated documents), so only a differing
    reassembly pays for parsing and validation (ten times the cost of simulating the stream)."""
    if _hash_ok(frames, digests):
        return {"integrity_ok": True, "json_valid": True, "schema_valid": True}
    body = received_bytes(frames, seqs, digests)
    try:
        doc, parsed = json.loads(body), True
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        doc, parsed = None, False
    valid = parsed and schema_validator().is_valid(doc)
    return {
        "integrity_ok": valid and body == frames.payload and _hash_ok(frames, digests),
        "json_valid": parsed,
        "schema_valid": valid,
    }


def _names(ids) -> str:
    return ",".join(map(str, ids))


def verify_multipart(frames: Frames, seqs: np.ndarray, digests: np.ndarray) -> dict:
    """multipart: each component complete, in its own order, no component frame delivered twice.
    `missing_components` names the components not completely delivered (e.g. "2,3")."""
    k = int(frames.component.max()) + 1
    comp, part = frames.component[seqs], frames.part_seq[seqs]
    first = np.unique(comp * len(frames) + part, return_index=True)[
        1
    ]  # one delivery per distinct frame
    duplicates = len(seqs) - len(first)
    missing = np.flatnonzero(
        np.bincount(comp[first], minlength=k) < np.bincount(frames.component, minlength=k)
    )
    order = np.argsort(comp, kind="stable")  # delivery order within each component
    c, p = comp[order], part[order]
    misordered = np.unique(c[1:][(c[1:] == c[:-1]) & (np.diff(p) < 0)])
    return {
        "integrity_ok": _hash_ok(frames, digests)
        and not len(missing)
        and not len(misordered)
        and not duplicates,
        "missing_components": _names(missing),
        "misordered_components": _names(misordered),
        "component_duplicates": int(duplicates),
    }


VERIFIERS = {
    "text": verify_hash,
    "large": verify_hash,
    "json": verify_json,
    "multipart": verify_multipart,
}


def verify(frames: Frames, seqs: np.ndarray, digests: np.ndarray) -> dict:
    """Integrity columns of one stream's row: `integrity_ok` plus the kind's own checks.

    `seqs` and `digests` are what the application received, in order. Every kind always returns the
    same keys, so a table's columns do not depend on its streams' outcomes.
    """
    seqs = np.asarray(seqs, dtype=np.int64)
    return VERIFIERS[frames.kind](frames, seqs, np.asarray(digests, dtype=np.uint64))
