"""Response content: what the server generates and how the client checks it arrived intact.

A content kind turns a seeded generator into frames: a size in bytes and a 64-bit digest per frame
(the frame checksum a real protocol carries). The response hash is a BLAKE2b hash over the digests
in order, so a missing, duplicated, reordered or corrupted frame changes it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from model.config import Content


@dataclass(frozen=True)
class Frames:
    size: np.ndarray    # bytes on the wire, envelope included
    digest: np.ndarray  # uint64 checksum of each frame's payload

    def __len__(self) -> int:
        return len(self.size)


def text_frames(cfg: Content, rng: np.random.Generator) -> Frames:
    """Token-like chunks: payload 1 + Poisson(chunk_bytes - 1) bytes, plus the envelope."""
    payload = 1 + rng.poisson(cfg.chunk_bytes - 1.0, cfg.frames)
    digest = rng.integers(0, 2**63, cfg.frames, dtype=np.int64).astype(np.uint64)
    return Frames(size=payload + cfg.envelope_bytes, digest=digest)


GENERATORS = {"text": text_frames}


def make_frames(cfg: Content, rng: np.random.Generator) -> Frames:
    return GENERATORS[cfg.kind](cfg, rng)


def response_hash(digests: np.ndarray) -> str:
    """Order-sensitive hash of a whole response."""
    return hashlib.blake2b(np.ascontiguousarray(digests, dtype=np.uint64).tobytes(), digest_size=16).hexdigest()
