"""nftables for the testbed: a table of its own, rule batches, named counters, cleanup.

The table is `inet midstream_<pid>` (the pid of the process that owns it) with two base chains,
`input` and `output`, on the filter hooks at priority 0: a packet from 127.0.0.1 to 127.0.0.1
crosses the output hook, then the input hook. Fault rules (drops, rejects) sit on the input hook,
so a packet is lost after it has left the sender, as on a real path: a drop on the output hook is a
local drop that the sending socket is told about. The output chain only counts: it holds, for
each fault, a counter of the packets sent on the stream's port while the fault is active, so the
fault's drop counter can be read against what was sent (a realised loss rate, for example).

Every change goes through `nft -f -` in one batch (one transaction); added rules are echoed with
their handles (`-e -a`), and deleted by handle. Counters are named, so they outlive their rules and
are read once, when a stream ends. The table is deleted on every exit path by its owner
(`installed`); a table whose owner pid is gone is stale and removed by the next run
(`remove_stale_tables`).
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import re
import shutil
import subprocess

FAMILY = "inet"
PREFIX = "midstream_"
HANDLE = re.compile(r"^(add|insert) rule \S+ \S+ (\S+) .*# handle (\d+)\s*$")


class NftError(RuntimeError):
    """`nft` refused a batch (the message is its stderr)."""


def table_name(pid: int | None = None) -> str:
    return f"{PREFIX}{os.getpid() if pid is None else pid}"


def run(script: str, *, echo: bool = False, timeout: float = 10.0) -> str:
    """Run an nft batch synchronously; returns its output (the echoed rules with `echo`)."""
    args = ["nft", *(["-e", "-a"] if echo else []), "-f", "-"]
    done = subprocess.run(args, input=script, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise NftError(done.stderr.strip() or f"nft exited with {done.returncode}")
    return done.stdout


async def run_async(script: str, *, echo: bool = False) -> str:
    """`run` without blocking the event loop (the batch runs in a child process)."""
    args = ["nft", *(["-e", "-a"] if echo else []), "-f", "-"]
    proc = await asyncio.create_subprocess_exec(*args, stdin=subprocess.PIPE,
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate(script.encode())
    if proc.returncode:
        raise NftError(err.decode().strip() or f"nft exited with {proc.returncode}")
    return out.decode()


def echoed_handles(output: str) -> list[tuple[str, int]]:
    """(chain, handle) of every rule an echoed batch added or inserted, in command order."""
    found = []
    for line in output.splitlines():
        m = HANDLE.match(line.strip())
        if m:
            found.append((m.group(2), int(m.group(3))))
    return found


def version() -> str:
    done = subprocess.run(["nft", "--version"], capture_output=True, text=True, timeout=10)
    return done.stdout.strip()


# ---------------------------------------------------------------- the table's life

def create_script(name: str) -> str:
    return "\n".join([
        f"add table {FAMILY} {name}",
        f"add chain {FAMILY} {name} input {{ type filter hook input priority 0; policy accept; }}",
        f"add chain {FAMILY} {name} output {{ type filter hook output priority 0; policy accept; }}",
        ""])


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
    done = subprocess.run(["nft", "-j", "list", "tables", FAMILY], capture_output=True,
                          text=True, timeout=10)
    if done.returncode:
        raise NftError(done.stderr.strip())
    items = json.loads(done.stdout or '{"nftables": []}')["nftables"]
    return [i["table"]["name"] for i in items if "table" in i and i["table"]["name"].startswith(PREFIX)]


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


def read_counters(name: str, prefix: str) -> dict[str, tuple[int, int]]:
    """(packets, bytes) of the table's named counters whose name starts with `prefix`."""
    done = subprocess.run(["nft", "-j", "list", "counters", "table", FAMILY, name],
                          capture_output=True, text=True, timeout=10)
    if done.returncode:
        raise NftError(done.stderr.strip())
    return _counters(done.stdout, prefix)


async def read_counters_async(name: str, prefix: str) -> dict[str, tuple[int, int]]:
    proc = await asyncio.create_subprocess_exec(
        "nft", "-j", "list", "counters", "table", FAMILY, name,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode:
        raise NftError(err.decode().strip())
    return _counters(out.decode(), prefix)


def _counters(text: str, prefix: str) -> dict[str, tuple[int, int]]:
    items = json.loads(text)["nftables"]
    return {c["name"]: (c["packets"], c["bytes"]) for i in items if (c := i.get("counter"))
            and c["name"].startswith(prefix)}


def unavailable_reason() -> str | None:
    """None if this process can use nftables (root, `nft` on the PATH, the kernel's nf_tables
    answering a probe table); otherwise the reason, in one line."""
    if os.geteuid() != 0:
        return "the testbed needs root (nftables rules): run as root"
    if shutil.which("nft") is None:
        return "the testbed needs the `nft` command (apt-get install nftables)"
    probe = f"{table_name()}_probe"
    try:
        run(create_script(probe))
        run(f"delete table {FAMILY} {probe}\n")
    except (NftError, OSError, subprocess.TimeoutExpired) as e:
        return f"nftables is not usable here: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    return None
