"""The testbed's wire format: binary data frames and small JSON control messages.

A data frame is one binary WebSocket message of exactly the model's frame size (`Frames.size`, the
envelope included): a header (type, sequence number, the frame's 64-bit digest, a CRC-32 of the
rest) and the payload. The payload is the content's own bytes where the kind has them (a `json`
chunk), deterministic filler otherwise; a frame smaller than the header is sent as the header
alone. The client checks the CRC of every frame (TCP on loopback never corrupts, so a failure is a
bug, reported as a `protocol_error`) and records the digest, which `model.content.verify` checks.

Control messages are JSON text messages: client -> server `request` (new / resume / restart with the
client's position) and `ack` (cumulative count); server -> client `error` (a typed error).
"""

from __future__ import annotations

import json
import struct
import zlib

from model.content import Frames

HEADER = struct.Struct("<BQQI")  # type, seq, digest, crc32(seq, digest, payload)
DATA = 1


def encode_frame(frames: Frames, seq: int) -> bytes:
    """Frame `seq` of `frames` as sent on the wire."""
    digest = int(frames.digest[seq])
    room = max(int(frames.size[seq]) - HEADER.size, 0)
    if frames.payload is not None:  # json: the chunk itself, then filler up to the envelope
        chunk = frames.payload[int(frames.offsets[seq]) : int(frames.offsets[seq + 1])][:room]
    else:
        chunk = b""
    payload = chunk + _filler(digest, room - len(chunk))
    fields = struct.pack("<QQ", seq, digest)
    return HEADER.pack(DATA, seq, digest, zlib.crc32(payload, zlib.crc32(fields))) + payload


def _filler(digest: int, length: int) -> bytes:
    block = digest.to_bytes(8, "little")
    return (block * (length // 8 + 1))[:length]


def decode_frame(message: bytes) -> tuple[int, int, bool]:
    """(seq, digest, checksum ok) of a data frame."""
    kind, seq, digest, crc = HEADER.unpack_from(message)
    payload = memoryview(message)[HEADER.size :]
    ok = kind == DATA and zlib.crc32(payload, zlib.crc32(struct.pack("<QQ", seq, digest))) == crc
    return seq, digest, ok


def request(kind: str, position: int, attempt: int, token: str = "valid") -> str:
    """A new / resume / restart request; `attempt` numbers the client's requests (0 = the first)."""
    return json.dumps(
        {"type": "request", "kind": kind, "position": position, "attempt": attempt, "token": token}
    )


def ack(count: int) -> str:
    return json.dumps({"type": "ack", "count": count})


def error(kind: str) -> str:
    return json.dumps({"type": "error", "error": kind})


def parse(text: str) -> dict:
    return json.loads(text)
