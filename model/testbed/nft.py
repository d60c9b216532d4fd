"""nftables for the testbed: a table of its own, rule batches, named counters, cleanup.

The table is `inet midstream_<pid>` (the pid of the process that owns it) with two base chains,
`input` and `output`, on the filter hooks at priority 0: a packet from 127.0.0.1 to 127.0.0.1
crosses the output hook, then the input hook. Fault rules (drops, rejects) sit on the input hook,
so a packet is lost after it has left the sender, as on a real path: a drop on the output hook is a
local drop that the sending socket is told about. The output chain only counts: it holds, for
each fault, a counter of the packets sent on the stream's port while the fault is active, so the
fault's drop counter can be read against what was sent (a realised loss rate, for example).

Every change is one batch of nft commands, applied as one transaction, through libnftables (the
library behind `nft -f -`: the same parser, the same batches, in-process). Forking `nft -f -` for
each change was measured first: a median 18 ms late, and up to 0.43 s when many streams ended at
once on this 2-core machine; the library takes about 1 ms, in a thread of its own so the event loop
never waits. Added rules are echoed with their handles and deleted by handle. Counters are named,
so they outlive their rules and are read once, when a stream ends. The table is deleted on every
exit path by its owner (`installed`); a table whose owner pid is gone is stale and removed by the
next run (`remove_stale_tables`).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import functools
import json
import os
import re
import shutil
import subprocess

FAMILY = "inet"
PREFIX = "midstream_"
HANDLE = re.compile(r"^(add|insert) rule \S+ \S+ (\S+) .*# handle (\d+)\s*$")
OUTPUT_HANDLE, OUTPUT_JSON, OUTPUT_ECHO = 1 << 3, 1 << 4, 1 << 5  # libnftables.h output flags


class NftError(RuntimeError):
    """nftables refused a batch (the message is its error output)."""


def table_name(pid: int | None = None) -> str:
    return f"{PREFIX}{os.getpid() if pid is None else pid}"


class Context:
    """One libnftables context with buffered output: `run` applies a batch, returns its output."""

    def __init__(self, flags: int):
        self.lib = _library()
        self.ctx = self.lib.nft_ctx_new(0)
        self.lib.nft_ctx_buffer_output(self.ctx)
        self.lib.nft_ctx_buffer_error(self.ctx)
        self.lib.nft_ctx_output_set_flags(self.ctx, flags)

    def run(self, script: str) -> str:
        failed = self.lib.nft_run_cmd_from_buffer(self.ctx, script.encode())
        out = (self.lib.nft_ctx_get_output_buffer(self.ctx) or b"").decode()
        if failed:
            err = (self.lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode().strip()
            raise NftError(err.splitlines()[0] if err else "nftables refused the batch")
        return out


@functools.cache
def _library() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("nftables") or "libnftables.so.1")
    lib.nft_ctx_new.restype, lib.nft_ctx_new.argtypes = ctypes.c_void_p, [ctypes.c_uint]
    for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
        getattr(lib, name).argtypes, getattr(lib, name).restype = [ctypes.c_void_p], ctypes.c_char_p
    return lib


@functools.cache
def _context(flags: int, user: str) -> Context:
    """One context per output kind and per user: the caller's thread (`run`, `query`: outside the
    event loop, or at exit, when executors take no more work) or the event loop's worker thread."""
    return Context(flags)


@functools.cache
def _worker() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nftables")


def run(script: str) -> str:
    """Apply a batch (one transaction); returns the echoed commands with their handles."""
    return _context(OUTPUT_HANDLE | OUTPUT_ECHO, "caller").run(script)


async def run_async(script: str) -> str:
    """`run` from the event loop, which goes on meanwhile."""
    echo = _context(OUTPUT_HANDLE | OUTPUT_ECHO, "worker")
    return await asyncio.get_running_loop().run_in_executor(_worker(), echo.run, script)


def query(command: str) -> dict:
    """A listing command's JSON answer."""
    return json.loads(_context(OUTPUT_JSON, "caller").run(command) or '{"nftables": []}')


async def query_async(command: str) -> dict:
    as_json = _context(OUTPUT_JSON, "worker")
    out = await asyncio.get_running_loop().run_in_executor(_worker(), as_json.run, command)
    return json.loads(out or '{"nftables": []}')


def echoed_handles(output: str) -> list[tuple[str, int]]:
    """(chain, handle) of every rule an echoed batch added or inserted, in command order."""
    found = []
    for line in output.splitlines():
        m = HANDLE.match(line.strip())
        if m:
            found.append((m.group(2), int(m.group(3))))
    return found


def version() -> str:
    done = subprocess.run(
        ["nft", "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    return done.stdout.strip()


# ---------------------------------------------------------------- the table's life


def create_script(name: str) -> str:
    chain = "{{ type filter hook {} priority 0; policy accept; }}"
    lines = [f"add table {FAMILY} {name}"]
    lines += [f"add chain {FAMILY} {name} {h} " + chain.format(h) for h in ("input", "output")]
    return "\n".join(lines) + "\n"


def delete_table(name: str) -> bool:
    """Delete the table if it exists; True if it did."""
    if name not in list_tables():
        return False
    try:
        run(f"delete table {FAMILY} {name}\n")
    except NftError:
        return name not in list_tables()  # deleted meanwhile by someone else
    return True


def list_tables() -> list[str]:
    """Names of the `inet` tables of this project (every owner)."""
    items = query(f"list tables {FAMILY}")["nftables"]
    return [
        i["table"]["name"] for i in items if "table" in i and i["table"]["name"].startswith(PREFIX)
    ]


def owner_pid(name: str) -> int | None:
    m = re.match(rf"{PREFIX}(\d+)", name)
    return int(m.group(1)) if m else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tables() -> list[str]:
    """Delete the project's tables whose owner process is gone; returns their names."""
    stale = [n for n in list_tables() if (pid := owner_pid(n)) is not None and not pid_alive(pid)]
    for name in stale:
        delete_table(name)
    return stale


@contextlib.contextmanager
def installed(name: str):
    """Create the table for the duration of the block; delete it on the way out, whatever the
    way out (also at interpreter exit, should the block be skipped by an abrupt exit)."""
    run(create_script(name))
    atexit.register(delete_table, name)
    try:
        yield name
    finally:
        delete_table(name)
        atexit.unregister(delete_table)


async def read_counters(name: str, prefix: str) -> dict[str, tuple[int, int]]:
    """(packets, bytes) of the table's named counters whose name starts with `prefix`."""
    items = (await query_async(f"list counters table {FAMILY} {name}"))["nftables"]
    return {
        c["name"]: (c["packets"], c["bytes"])
        for i in items
        if (c := i.get("counter")) and c["name"].startswith(prefix)
    }


def unavailable_reason() -> str | None:
    """None if this process can use nftables (root, the `nft` command and its library, the
    kernel's nf_tables answering a probe table); otherwise the reason, in one line."""
    if os.geteuid() != 0:
        return "the testbed needs root (nftables rules): run as root"
    if shutil.which("nft") is None:
        return "the testbed needs nftables (`nft` and libnftables): apt-get install nftables"
    probe = f"{table_name()}_probe"
    try:
        run(create_script(probe))
        run(f"delete table {FAMILY} {probe}\n")
    except (NftError, OSError) as e:
        return f"nftables is not usable here: {e}"
    return None
