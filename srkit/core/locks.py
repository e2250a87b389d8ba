"""A folder lock for the life of a run: two runs never write into one output folder at once.

The lock is an advisory ``flock`` on a file in the folder, so the kernel drops it when the process
ends in any way (Ctrl-C, ``kill -9``, a crash): a stale lock file never blocks a rerun.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from srkit.core.console import UsageError

LOCK_NAME = ".lock"


@contextlib.contextmanager
def folder_lock(folder: Path, busy_message: str) -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively; raise UsageError(busy_message) when another run holds it."""
    with open(Path(folder) / LOCK_NAME, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(busy_message) from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
