"""A folder lock for the life of a run: two runs never write into one output folder at once.

The lock is an advisory ``flock`` on a file in the folder, so the kernel drops it when the process
ends in any way (Ctrl-C, ``kill -9``, a crash): a stale lock file never blocks a rerun. While it is
held the file says who holds it (process id, command line, start time), so a refused run can name
the one in its way.

A child made by ``fork`` without ``exec`` (a DataLoader worker) would share the lock and keep it
after its parent died; such children close their copy at once, so the lock lives exactly as long
as the process that took it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from srkit.core.console import UsageError

LOCK_NAME = ".lock"
MAX_COMMAND = 300  # characters of the holder's command line kept in the lock file

_held: set[int] = set()  # descriptors of the locks this process holds


def _close_in_forked_child() -> None:
    for fd in _held:
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_in_forked_child)


def holder_record() -> dict[str, Any]:
    """What the lock file says about this process while it holds the lock."""
    command = " ".join([os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:]])
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": command[:MAX_COMMAND],
            "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}


def describe_holder(text: str) -> str:
    """``held by process 123 on host (sr-train ...), since ...`` from a lock file's text ('' if unknown)."""
    try:
        holder = json.loads(text)
    except ValueError:
        return ""
    if not isinstance(holder, dict) or "pid" not in holder:
        return ""
    return (f"held by process {holder.get('pid')} on {holder.get('host', '?')} "
            f"({holder.get('command', '?')}), since {holder.get('started', '?')}")


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, busy_message: str) -> Iterator[None]:
    """Hold ``folder/.lock`` exclusively; raise UsageError(busy_message + who holds it) when another
    run holds it."""
    path = Path(folder) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    owner = os.getpid()
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            raise UsageError(f"{busy_message} (the lock {path} is "
                             f"{holder or 'held by another process'})") from None
        _held.add(fd)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(holder_record(), sort_keys=True) + "\n").encode("utf-8"), 0)
            yield
        finally:
            if os.getpid() == owner:  # a forked child closed its copy already: the number is not ours
                _held.discard(fd)
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        if os.getpid() == owner:
            os.close(fd)
