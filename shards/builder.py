"""Building a store folder shard by shard: the one open / put / commit sequence of every layout.

A shard is written under a temporary name and renamed to its final name only once complete, so a
crash never leaves a half-written file under a name that counts; leaving the ``with`` block on an
error closes the open shard and deletes its temporary file. ``StoreBuilder`` is that sequence for any
writer (the BasicSR layout's hr.lmdb / lr.lmdb use it as they are); ``NativeStoreBuilder`` adds what
our layout needs: shards numbered in order, one writer class per backend, the index written last.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

from srkit.core.files import temp_name
from srkit.shards.format import PROGRESS_NAME, shard_name
from srkit.shards.hdf5_writer import Hdf5ShardWriter
from srkit.shards.lmdb_writer import LmdbShardWriter
from srkit.shards.shard_writer import ShardOptions, ShardWriter
from srkit.shards.store_folder import prepare_out, remove_extra_shards, remove_path, write_index


class StagedWriter(Protocol):
    """What the builder needs from a writer: the temporary ``path`` it writes, and these three."""

    path: Path

    def put(self, item: Any) -> None: ...

    def finish(self) -> dict[str, Any]:
        """Complete and close; returns what the caller records about the shard."""
        ...

    def abort(self) -> None:
        """Close without completing (the builder then deletes ``path``)."""
        ...


W = TypeVar("W", bound=StagedWriter)


class StoreBuilder:
    """Writes the shards of the folder ``out`` one at a time: ``open``, ``put`` items, ``commit``."""

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self.writer: Any = None  # the open shard's writer, None between shards
        self._final: Path | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            writer.abort()
            remove_path(writer.path)

    def open(self, name: str, make: Callable[[Path], W]) -> W:
        """Start the shard ``out/name``: ``make(temporary path)`` returns its writer."""
        if self.writer is not None:
            raise RuntimeError(f"{self._final} is still open: commit it before opening {name}")
        final = self.out / name
        tmp = temp_name(final)
        remove_path(tmp)
        writer = make(tmp)
        self.writer, self._final = writer, final
        return writer

    def put(self, item: Any) -> None:
        self.writer.put(item)

    def commit(self) -> dict[str, Any]:
        """Finish the open shard and rename it to its final name; returns its entry (with ``file``)."""
        if self.writer is None or self._final is None:
            raise RuntimeError("no shard is open")
        entry = self.writer.finish()
        remove_path(self._final)
        os.replace(self.writer.path, self._final)
        self.writer = None
        entry["file"] = self._final.name
        return entry


WRITERS: dict[str, type[ShardWriter]] = {"lmdb": LmdbShardWriter, "hdf5": Hdf5ShardWriter}


class NativeStoreBuilder(StoreBuilder):
    """A store of our layout in ``out``: numbered shards, then keys.txt, lineage.jsonl and index.json.

    Creating it makes ``out`` an incomplete store (``store_folder.prepare_out``: ValueError for a
    folder that is not a store). ``entries`` are the index entries of the shards so far, in order.
    """

    def __init__(self, out: str | os.PathLike, options: ShardOptions):
        super().__init__(out)
        self.options = options
        self.entries: list[dict[str, Any]] = []
        prepare_out(self.out)

    def open_shard(self, start: int, expected_sizes: list[int] | None = None) -> ShardWriter:
        """Open the next shard, whose first record has global index ``start``."""
        number = len(self.entries)
        writer_class = WRITERS[self.options.backend]
        return self.open(shard_name(number, self.options.backend),
                         lambda tmp: writer_class(tmp, self.options, number, start, expected_sizes))

    def commit(self) -> dict[str, Any]:
        entry = super().commit()
        self.entries.append(entry)
        return entry

    def keep(self, entry: dict[str, Any]) -> None:
        """Count a shard an earlier run completed (a resumed pack) as the next one."""
        self.entries.append(dict(entry))

    def finish(self, *, scale: int, keys: list[str], hr_shapes: list, lr_shapes: list, val_fraction: float,
               recipe: dict[str, Any] | None = None, lineage: Iterable[dict[str, Any]] | None = None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Remove what an earlier store left, write the index (last), drop the resume log; the index."""
        remove_extra_shards(self.out, self.options.backend, len(self.entries))
        index = write_index(self.out, backend=self.options.backend, codec=self.options.codec, scale=scale,
                            shards=self.entries, keys=keys, hr_shapes=hr_shapes, lr_shapes=lr_shapes,
                            val_fraction=val_fraction, recipe=recipe, lineage=lineage,
                            hdf5_compression=self.options.hdf5_compression, extra=extra)
        (self.out / PROGRESS_NAME).unlink(missing_ok=True)
        return index


__all__ = ["StoreBuilder", "NativeStoreBuilder", "StagedWriter", "WRITERS"]
