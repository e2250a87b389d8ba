"""JSON Lines manifests: append-only while a stage runs, read tolerantly, rewritten sorted at the end.

A record is complete only once its line ends in a newline; a torn last line left by a crash is
ignored (and its work redone). ``canonical_json`` makes the bytes of a record depend on its content
alone, so a finished manifest is byte-identical whatever the worker count or interruption history.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from srkit.core.files import atomic_write_text


def canonical_json(record: dict[str, Any]) -> str:
    """One line of JSON with sorted keys and no spaces: equal records give equal bytes."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def read_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield the complete records of a manifest; skip a torn last line and undecodable lines."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    # The last element is either b"" (file ended with a newline) or a torn, unterminated line.
    for raw in lines[:-1]:
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


class JsonlAppender:
    """Append records to a manifest, one ``write`` per line so a crash tears at most the last one."""

    def __init__(self, path: str | os.PathLike, fsync: bool = False):
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._file = open(self.path, "ab")

    def _repair_tail(self) -> None:
        # A crash can leave an unterminated line; cut it off so the next record starts on its own line.
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            chunk = 1 << 16
            pos = size
            while pos > 0:
                start = max(0, pos - chunk)
                f.seek(start)
                block = f.read(pos - start)
                cut = block.rfind(b"\n")
                if cut >= 0:
                    f.truncate(start + cut + 1)
                    return
                pos = start
            f.truncate(0)

    def write(self, record: dict[str, Any]) -> None:
        self._file.write((canonical_json(record) + "\n").encode("ascii"))
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl_sorted(
    path: str | os.PathLike,
    records: Iterable[dict[str, Any]],
    sort_key: Callable[[dict[str, Any]], Any],
) -> None:
    """Atomically replace a manifest with ``records`` in a deterministic order."""
    lines = sorted((canonical_json(r) for r in records), key=lambda line: sort_key(json.loads(line)))
    atomic_write_text(path, "".join(line + "\n" for line in lines))
