"""Output files written whole or not at all, checked before any work is done.

Every file of one output (a table and its disconnects, their JSON sidecars; a PDF and its JSON) is
written to a temporary name beside its final one, and the temporary files are renamed into place
together once all of them are complete: a reader never sees half a file, and a killed command
leaves the previous outputs as they were. Temporary names carry the writer's process id
(`.NAME.PID.XXXX.tmp`), so the next command writing the same outputs deletes the ones whose writer
is dead and leaves a running writer's alone.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from model.fields import ConfigError


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_stale(path: Path) -> None:
    """Delete temporary files of `path` left by writers that died."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[0-9a-f]+\.tmp")
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            m = pattern.fullmatch(entry.name)
            if m and not process_alive(int(m.group(1))):
                Path(entry.path).unlink(missing_ok=True)


@contextlib.contextmanager
def written_together(paths: Iterable[Path]) -> Iterator[dict[Path, Path]]:
    """Yield a temporary path for each of `paths` to write; when the block ends without an
    exception, rename them all into place, else delete them."""
    paths = [Path(p) for p in paths]
    for p in paths:
        clean_stale(p)
    temps = {p: _temp_name(p) for p in paths}
    try:
        yield temps
        for p, tmp in temps.items():
            if not tmp.exists():
                raise FileNotFoundError(f"{tmp}: the writer of {p} wrote nothing")
            os.chmod(tmp, 0o644)  # results are for sharing
        for p, tmp in temps.items():
            os.replace(tmp, p)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[str], Any]) -> None:
    """Write one file via a temporary name: `write(temporary path)`, then rename."""
    with written_together([path]) as temps:
        write(str(temps[Path(path)]))


def check_writable(paths: Iterable[Path], option: str = "--out") -> None:
    """Refuse (ConfigError naming `option`) outputs that cannot be written: a path that is a
    folder, or whose folder is missing (or is a file) or not writable. Missing folders are fine
    when the nearest existing one is writable (they are created)."""
    for path in map(Path, paths):
        if path.is_dir():
            raise ConfigError(option, str(path), f"{path} is a folder, not a file")
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise ConfigError(option, str(path), f"{folder} is not a folder")
        probe = _temp_name(folder / path.name)
        try:
            probe.touch(exist_ok=False)
        except OSError as e:
            raise ConfigError(
                option, str(path), f"cannot write in {folder} ({e.strerror or e})"
            ) from None
        probe.unlink(missing_ok=True)
