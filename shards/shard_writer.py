"""The interface every shard writer of the native layout implements, and the options they share.

A shard writer takes records (``put``) and, once complete (``finish``), returns the shard's entry for
index.json. What a shard records about its samples is the same in every backend (keys, shapes,
checksums, the digest its metadata carries) and is kept here, once; a backend only stores the bytes
(``_write``) and completes its file (``_complete``). Implementations: ``lmdb_writer.LmdbShardWriter``
and ``hdf5_writer.Hdf5ShardWriter``, one class per backend as in the reader.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srkit.shards.format import BACKENDS, CODECS, FORMAT_NAME, FORMAT_VERSION, HDF5_COMPRESSIONS, Record


@dataclass(frozen=True)
class ShardOptions:
    """How every shard of a store is written; ``ValueError`` for an unknown backend, codec or compression.

    ``lmdb_map_size`` is the initial LMDB map of a shard whose record sizes are not known in advance
    (the map grows as needed; mainly for tests).
    """

    backend: str = "lmdb"
    codec: str = "raw"
    hdf5_compression: str | None = None
    lmdb_map_size: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"format must be one of {BACKENDS}, not {self.backend!r}")
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {CODECS}, not {self.codec!r}")
        if self.hdf5_compression not in HDF5_COMPRESSIONS:
            raise ValueError(f"hdf5 compression must be gzip, lzf or none, not {self.hdf5_compression!r}")


class ShardWriter(ABC):
    """One shard being written at ``path``: ``put`` records, then ``finish`` (or ``abort``).

    ``expected_sizes``, when the caller knows them, are the payload bytes of the records to come:
    a backend may size its file from them.
    """

    def __init__(self, path: Path, options: ShardOptions, number: int, start: int,
                 expected_sizes: list[int] | None = None):
        self.path = Path(path)
        self.codec = options.codec
        self.number = number
        self.start = start
        self.keys: list[str] = []
        self.hr_shapes: list[tuple[int, int, int]] = []
        self.lr_shapes: list[tuple[int, int, int]] = []
        self.sums: list[tuple[int, int]] = []
        self.payload_bytes = 0
        self._digest = hashlib.sha256()

    @property
    def count(self) -> int:
        return len(self.keys)

    def put(self, rec: Record) -> None:
        self._write(rec)
        self.keys.append(rec.key)
        self.hr_shapes.append(rec.hr_shape)
        self.lr_shapes.append(rec.lr_shape)
        self.sums.append((rec.hr_sum, rec.lr_sum))
        self.payload_bytes += rec.payload_bytes
        self._digest.update(f"{rec.key} {rec.hr_sum:016x} {rec.lr_sum:016x}\n".encode("ascii"))

    def meta(self) -> dict[str, Any]:
        """What the shard says about itself (stored inside it, checked by ``sr-data verify``)."""
        return {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "shard": self.number, "codec": self.codec,
            "start": self.start, "count": self.count,
            "first_key": self.keys[0] if self.keys else None,
            "last_key": self.keys[-1] if self.keys else None,
            "digest": self._digest.hexdigest(),
        }

    def finish(self) -> dict[str, Any]:
        """Complete and close the shard; returns its index entry (less ``file``, set on renaming)."""
        meta = self.meta()
        file_bytes = self._complete(meta)
        meta.update(payload_bytes=self.payload_bytes, file_bytes=file_bytes)
        return meta

    @abstractmethod
    def _write(self, rec: Record) -> None:
        """Store one record's header and payloads (the record numbered ``self.count``)."""

    @abstractmethod
    def _complete(self, meta: dict[str, Any]) -> int:
        """Store ``meta`` and whatever else the backend keeps per shard, close; the file's size."""

    @abstractmethod
    def abort(self) -> None:
        """Close without completing; the caller deletes ``path``."""


__all__ = ["ShardOptions", "ShardWriter"]
