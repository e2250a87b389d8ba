"""The native shard in HDF5: pixel datasets written per record, the small datasets when complete.

The layout (datasets, chunks, padding, attributes) is described in ``shards/__init__.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from srkit.shards.format import CHECKSUM_NAME, Record
from srkit.shards.shard_writer import ShardOptions, ShardWriter

# PNG payloads are written this many rows at a time: one h5py call per sample is the slow part.
PNG_ROWS_PER_WRITE = 64


class Hdf5ShardWriter(ShardWriter):
    """One HDF5 file. With ``expected_sizes`` the pixel datasets start at the shard's record count."""

    def __init__(self, path: Path, options: ShardOptions, number: int, start: int,
                 expected_sizes: list[int] | None = None):
        import h5py

        super().__init__(path, options, number, start, expected_sizes)
        self._h5py = h5py
        self.compression = options.hdf5_compression
        self.expected = len(expected_sizes) if expected_sizes is not None else None
        self.file = h5py.File(self.path, "w", libver="earliest", track_order=False)
        self.ds: dict[str, Any] = {}
        self._pending: dict[str, list[np.ndarray]] = {"hr": [], "lr": []}
        self._pending_start = 0

    def _create(self, rec: Record) -> None:
        n = self.expected or 64
        opts: dict[str, Any] = {"track_times": False}
        if self.compression:
            opts["compression"] = self.compression
        for side, shape in (("hr", rec.hr_shape), ("lr", rec.lr_shape)):
            if self.codec == "raw":
                h, w, c = shape
                self.ds[side] = self.file.create_dataset(
                    side, shape=(n, h, w, c), maxshape=(None, None, None, c), dtype=np.uint8,
                    chunks=(1, h, w, c), fillvalue=0, **opts)
            else:
                self.ds[side] = self.file.create_dataset(
                    side, shape=(n,), maxshape=(None,), dtype=self._h5py.vlen_dtype(np.uint8),
                    chunks=(64,), **opts)

    def _write(self, rec: Record) -> None:
        if not self.ds:
            self._create(rec)
        i = self.count
        for side, shape, payload in (("hr", rec.hr_shape, rec.hr_payload),
                                     ("lr", rec.lr_shape, rec.lr_payload)):
            ds = self.ds[side]
            if i >= ds.shape[0]:
                ds.resize(max(i + 1, ds.shape[0] * 2), axis=0)
            arr = np.frombuffer(payload, dtype=np.uint8)
            if self.codec == "png":
                self._pending[side].append(arr)
                continue
            h, w, c = shape
            if (h, w, c) == ds.chunks[1:] and not self.compression:
                # Uncompressed chunk == one sample: write its bytes as they are (no h5py conversion).
                ds.id.write_direct_chunk((i, 0, 0, 0), payload)
                continue
            if h > ds.shape[1] or w > ds.shape[2]:
                ds.resize((ds.shape[0], max(h, ds.shape[1]), max(w, ds.shape[2]), c))
            ds[i, :h, :w, :] = arr.reshape(h, w, c)
        if self.codec == "png" and len(self._pending["hr"]) >= PNG_ROWS_PER_WRITE:
            self._flush_pending()

    def _flush_pending(self) -> None:
        count = len(self._pending["hr"])
        if not count:
            return
        start = self._pending_start
        for side, rows in self._pending.items():
            if len({len(row) for row in rows}) == 1:
                # h5py would see equal-length rows as one 2-D array: write them one by one.
                for k, row in enumerate(rows):
                    self.ds[side][start + k] = row
            else:
                column = np.empty(count, dtype=object)
                for k, row in enumerate(rows):
                    column[k] = row
                self.ds[side][start:start + count] = column
            rows.clear()
        self._pending_start = start + count

    def _complete(self, meta: dict[str, Any]) -> int:
        n = self.count
        self._flush_pending()
        for ds in self.ds.values():
            ds.resize(n, axis=0)
        width = max((len(k) for k in self.keys), default=1)
        opts = {"track_times": False}
        self.file.create_dataset("keys", data=np.array(self.keys, dtype=f"S{width}"), **opts)
        self.file.create_dataset("hr_shape", data=np.array(self.hr_shapes, dtype=np.uint32).reshape(n, 3),
                                 **opts)
        self.file.create_dataset("lr_shape", data=np.array(self.lr_shapes, dtype=np.uint32).reshape(n, 3),
                                 **opts)
        both = np.array(self.sums, dtype=np.uint64).reshape(n, 2)
        self.file.create_dataset(f"hr_{CHECKSUM_NAME}", data=both[:, 0], **opts)
        self.file.create_dataset(f"lr_{CHECKSUM_NAME}", data=both[:, 1], **opts)
        for name, value in meta.items():
            self.file.attrs[name] = "" if value is None else value
        self.file.close()
        return self.path.stat().st_size

    def abort(self) -> None:
        self.file.close()


__all__ = ["Hdf5ShardWriter"]
