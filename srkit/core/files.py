"""Crash-safe file writing: write under a temporary name beside the target, rename when complete.

A reader never sees a half-written file under its final name: after a crash (Ctrl-C, kill -9)
only a hidden ``.NAME.tmp-PID`` file can remain, which ``remove_stale_temps`` cleans up on rerun.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".tmp-"


def temp_name(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``."""
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to ``path``, on error removed."""
    final = Path(path)
    tmp = temp_name(final)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes | memoryview, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` so that ``path`` either holds all of it or does not change."""
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, fsync: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete temporary files a crashed run left in ``folder`` (not recursive). Returns the count."""
    count = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") and TEMP_MARK in entry.name:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        import shutil

                        shutil.rmtree(entry.path)
                    else:
                        os.unlink(entry.path)
                    count += 1
    return count


def inside(base: str | os.PathLike, relative: str) -> Path:
    """Resolve ``relative`` under ``base``, refusing absolute paths and ``..`` escapes.

    Manifests and indexes store relative paths; one that points outside its folder is refused
    rather than followed.
    """
    if os.path.isabs(relative) or relative.startswith(("/", "\\")):
        raise ValueError(f"path {relative!r} is absolute; only paths inside {base} are allowed")
    base_resolved = Path(base).resolve()
    target = (base_resolved / relative).resolve()
    if target != base_resolved and base_resolved not in target.parents:
        raise ValueError(f"path {relative!r} escapes its folder {base}")
    return target
