"""Writing stores: one shard at a time under a temporary name, ``index.json`` last.

``write_store`` builds a complete store from an iterable of ``(key, hr, lr)`` arrays (tests and
Python users); ``shards.pack`` drives the same shard writers from tile and LR folders, with resume.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from srkit.core.console import StageError
from srkit.core.files import atomic_write_text, remove_stale_temps, temp_name
from srkit.core.keys import check_key
from srkit.core.manifest import canonical_json
from srkit.shards.format import (
    BACKENDS,
    CHECKSUM_NAME,
    CODECS,
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_NAME,
    KEYS_NAME,
    LINEAGE_NAME,
    LMDB_META_KEY,
    PROGRESS_NAME,
    Record,
    encode_record,
    shard_name,
)
from srkit.shards.split import choose_split

DEFAULT_SHARD_SIZE = 1 << 30
HDF5_COMPRESSIONS = (None, "gzip", "lzf")
# Commit an LMDB write transaction every this many bytes or records. Small transactions are faster:
# LMDB copies each value into malloc'ed pages and writes them at commit, and with ~1 MiB per commit
# the allocator hands the same, already mapped memory back every time (measured: 60 us per 170 KB
# record with 1 MiB commits, 125 us with 64 MiB commits, 116 us writing into the file's memory map).
BATCH_BYTES = 1 << 20
BATCH_RECORDS = 1024
_MIB = 1 << 20


def parse_size(text: str | int) -> int:
    """``1GiB``, ``512MiB``, ``200MB``, ``1e9`` or an int -> bytes."""
    if isinstance(text, int):
        return text
    s = str(text).strip().replace(" ", "")
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "kb": 10**3, "mb": 10**6,
             "gb": 10**9, "tb": 10**12, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "b": 1}
    lower = s.lower()
    for unit in sorted(units, key=len, reverse=True):
        if lower.endswith(unit):
            number = lower[: -len(unit)]
            try:
                value = float(number) * units[unit]
            except ValueError:
                break
            if value <= 0:
                break
            return int(value)
    try:
        value = float(s)
    except ValueError:
        raise ValueError(f"cannot read size {text!r}: use e.g. 1GiB, 512MiB, 200MB") from None
    if value <= 0:
        raise ValueError(f"size must be positive, not {text!r}")
    return int(value)


def lmdb_pages_needed(value_lengths: Iterable[int], key_length: int = 64, psize: int = 4096) -> int:
    """Upper estimate of the pages LMDB needs for these values (overflow pages plus leaf entries)."""
    pages = 0
    count = 0
    for length in value_lengths:
        count += 1
        if length + key_length + 16 > psize // 2:
            pages += -(-(length + 16) // psize)  # an overflow run of whole pages
        else:
            pages += 1
    leaf_per_page = max(1, psize // (key_length + 24))
    return pages + 2 * (count // leaf_per_page + 1) + 4


def lmdb_map_size(value_lengths: Iterable[int], psize: int = 4096) -> int:
    """A map size from the real totals, with margin: LMDB never reports MDB_MAP_FULL."""
    pages = lmdb_pages_needed(value_lengths, psize=psize)
    return _round_mib(int(pages * psize * 1.1) + 8 * _MIB)


def _round_mib(n: int) -> int:
    return -(-n // _MIB) * _MIB


class LmdbShardWriter:
    """One LMDB environment (a folder with data.mdb and lock.mdb) written in ~1 MiB transactions.

    The map is sized from the totals when the caller knows them, and grown before each transaction
    from what the batch needs (and on MapFullError, as a last resort), so neither a blank first tile
    nor a bad estimate ever ends the pack.

    Pages go to the file with ``pwrite`` at each commit (no ``writemap``: faulting in the file's
    memory map page by page costs twice as much here, and a full disk can then only surface as a
    SIGBUS). The map's file space is reserved with ``posix_fallocate``, so a disk too small for the
    shard fails at once with ENOSPC, and on close data.mdb is cut back to the pages in use: no
    sparse map-sized file is left behind.
    """

    def __init__(self, path: Path, map_size: int | None = None):
        import lmdb

        self._lmdb = lmdb
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=False)
        with self._errors():
            self._open(map_size)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """LMDB reports a file it cannot grow (EFBIG, a file-size limit) as lmdb.Error, not OSError."""
        try:
            yield
        except self._lmdb.MapFullError:
            raise
        except self._lmdb.Error as err:
            raise StageError(f"{self.path}: cannot write the LMDB shard ({err}); check free space and "
                             "file-size limits, then rerun the same command to finish") from None

    def _open(self, map_size: int | None) -> None:
        lmdb = self._lmdb
        size = _round_mib(max(map_size or 0, 16 * _MIB))
        self.env = lmdb.open(str(self.path), map_size=size, subdir=True, writemap=False,
                             sync=False, metasync=False, readahead=False, meminit=True, max_dbs=0)
        self.psize = int(self.env.stat()["psize"])
        self._reserve(size)
        self._batch: list[tuple[bytes, tuple[bytes | memoryview, ...], int]] = []
        self._batch_bytes = 0
        self._scratch = bytearray()

    def put_value(self, key: bytes, *parts: bytes | memoryview) -> None:
        """Queue the value ``b"".join(parts)`` under ``key``; written by the next transaction.

        The parts are joined at write time into one reused buffer: joining into a new bytes object
        per record costs a fresh allocation's page faults (measured 80 us for a 170 KB record against
        15 us for the reused buffer).
        """
        size = sum(len(p) for p in parts)
        self._batch.append((key, parts, size))
        self._batch_bytes += size
        if self._batch_bytes >= BATCH_BYTES or len(self._batch) >= BATCH_RECORDS:
            self.flush()

    def _estimate_batch(self) -> int:
        return lmdb_pages_needed((size for _, _, size in self._batch), psize=self.psize) * self.psize

    def _joined(self, parts: tuple[bytes | memoryview, ...], size: int) -> memoryview:
        if len(self._scratch) < size:
            self._scratch = bytearray(size)
        view = memoryview(self._scratch)[:size]
        pos = 0
        for part in parts:
            view[pos:pos + len(part)] = part
            pos += len(part)
        return view

    def flush(self) -> None:
        if not self._batch:
            return
        with self._errors():
            self._write_batch()

    def _write_batch(self) -> None:
        info = self.env.info()
        used = (int(info["last_pgno"]) + 1) * self.psize
        need = used + self._estimate_batch()
        if int(info["map_size"]) < need:
            self._grow(_round_mib(int(need * 1.1) + 4 * _MIB))
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for key, parts, size in self._batch:
                        if len(parts) == 1:
                            txn.put(key, parts[0])
                            continue
                        with self._joined(parts, size) as value:
                            txn.put(key, value)
                break
            except self._lmdb.MapFullError:
                self._grow(_round_mib(int(self.env.info()["map_size"]) * 2))
        self._batch.clear()
        self._batch_bytes = 0

    def _grow(self, size: int) -> None:
        self.env.set_mapsize(size)
        self._reserve(size)

    def _reserve(self, size: int) -> None:
        fd = os.open(self.path / "data.mdb", os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise OSError(err.errno, f"cannot reserve {size / 1e6:,.0f} MB for an LMDB shard "
                                         f"({err.strerror})", str(self.path)) from None
        finally:
            os.close(fd)

    def close(self) -> None:
        # No fsync, as everywhere in srkit: the pages are in the OS's cache before the rename, which is
        # what survives a killed process; verify catches what a power cut could leave.
        self.flush()
        with self._errors():
            used = (int(self.env.info()["last_pgno"]) + 1) * self.psize
            self.env.close()
        os.truncate(self.path / "data.mdb", used)

    def abort(self) -> None:
        self._batch.clear()
        self.env.close()


class ShardWriter:
    """Writes one shard of our store format in either backend; ``finish`` returns its index entry."""

    def __init__(self, path: Path, backend: str, codec: str, number: int, start: int,
                 hdf5_compression: str | None = None, map_size: int | None = None,
                 expected_count: int | None = None):
        self.path = Path(path)
        self.backend = backend
        self.codec = codec
        self.number = number
        self.start = start
        self.keys: list[str] = []
        self.hr_shapes: list[tuple[int, int, int]] = []
        self.lr_shapes: list[tuple[int, int, int]] = []
        self.sums: list[tuple[int, int]] = []
        self.payload_bytes = 0
        self._digest = hashlib.sha256()
        if backend == "lmdb":
            self._lmdb = LmdbShardWriter(self.path, map_size=map_size)
        else:
            self._h5 = _Hdf5Pixels(self.path, codec, hdf5_compression, expected_count)

    @property
    def count(self) -> int:
        return len(self.keys)

    def put(self, rec: Record) -> None:
        if self.backend == "lmdb":
            self._lmdb.put_value(rec.key.encode("ascii"), rec.header(), rec.hr_payload, rec.lr_payload)
        else:
            self._h5.put(self.count, rec)
        self.keys.append(rec.key)
        self.hr_shapes.append(rec.hr_shape)
        self.lr_shapes.append(rec.lr_shape)
        self.sums.append((rec.hr_sum, rec.lr_sum))
        self.payload_bytes += rec.payload_bytes
        self._digest.update(f"{rec.key} {rec.hr_sum:016x} {rec.lr_sum:016x}\n".encode("ascii"))

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "shard": self.number, "codec": self.codec,
            "start": self.start, "count": self.count,
            "first_key": self.keys[0] if self.keys else None,
            "last_key": self.keys[-1] if self.keys else None,
            "digest": self._digest.hexdigest(),
        }

    def finish(self) -> dict[str, Any]:
        meta = self.meta()
        if self.backend == "lmdb":
            self._lmdb.put_value(LMDB_META_KEY, canonical_json(meta).encode("ascii"))
            self._lmdb.close()
            file_bytes = (self.path / "data.mdb").stat().st_size
        else:
            self._h5.finish(meta, self.keys, self.hr_shapes, self.lr_shapes, self.sums)
            file_bytes = self.path.stat().st_size
        meta.update(payload_bytes=self.payload_bytes, file_bytes=file_bytes)
        return meta

    def abort(self) -> None:
        if self.backend == "lmdb":
            self._lmdb.abort()
        else:
            self._h5.abort()


class _Hdf5Pixels:
    """The HDF5 side of a shard: pixel datasets written per sample, the small datasets at the end."""

    def __init__(self, path: Path, codec: str, compression: str | None, expected_count: int | None):
        import h5py

        self._h5py = h5py
        self.codec = codec
        self.compression = compression
        self.expected = expected_count
        self.file = h5py.File(path, "w", libver="earliest", track_order=False)
        self.ds: dict[str, Any] = {}
        # PNG payloads are written 64 rows at a time: one h5py call per sample is the slow part.
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

    def put(self, i: int, rec: Record) -> None:
        if not self.ds:
            self._create(rec)
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
        if self.codec == "png" and len(self._pending["hr"]) >= 64:
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

    def finish(self, meta: dict[str, Any], keys: list[str], hr_shapes, lr_shapes, sums) -> None:
        n = len(keys)
        self._flush_pending()
        for ds in self.ds.values():
            ds.resize(n, axis=0)
        width = max((len(k) for k in keys), default=1)
        opts = {"track_times": False}
        self.file.create_dataset("keys", data=np.array(keys, dtype=f"S{width}"), **opts)
        self.file.create_dataset("hr_shape", data=np.array(hr_shapes, dtype=np.uint32).reshape(n, 3),
                                 **opts)
        self.file.create_dataset("lr_shape", data=np.array(lr_shapes, dtype=np.uint32).reshape(n, 3),
                                 **opts)
        both = np.array(sums, dtype=np.uint64).reshape(n, 2)
        self.file.create_dataset(f"hr_{CHECKSUM_NAME}", data=both[:, 0], **opts)
        self.file.create_dataset(f"lr_{CHECKSUM_NAME}", data=both[:, 1], **opts)
        for name, value in meta.items():
            self.file.attrs[name] = "" if value is None else value
        self.file.close()

    def abort(self) -> None:
        self.file.close()


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def open_shard(out: Path, backend: str, codec: str, number: int, start: int,
               hdf5_compression: str | None = None, map_size: int | None = None,
               expected_count: int | None = None) -> ShardWriter:
    """A writer for shard ``number`` under its temporary name; ``commit_shard`` renames it."""
    tmp = temp_name(out / shard_name(number, backend))
    remove_path(tmp)
    return ShardWriter(tmp, backend, codec, number, start, hdf5_compression, map_size, expected_count)


def commit_shard(out: Path, writer: ShardWriter) -> dict[str, Any]:
    """Finish a shard and rename it to its final name; returns its index entry."""
    entry = writer.finish()
    final = out / shard_name(writer.number, writer.backend)
    remove_path(final)
    os.replace(writer.path, final)
    entry["file"] = final.name
    return entry


def _shape_counts(shapes: Iterable[tuple[int, int, int]]) -> dict[str, int]:
    counts = Counter(f"{h}x{w}x{c}" for h, w, c in shapes)
    return dict(sorted(counts.items()))


def write_index(out: Path, *, backend: str, codec: str, scale: int, shards: list[dict[str, Any]],
                keys: list[str], hr_shapes: list, lr_shapes: list, val_fraction: float,
                recipe: dict[str, Any] | None = None, lineage: Iterable[dict[str, Any]] | None = None,
                hdf5_compression: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write keys.txt, lineage.jsonl and, last and atomically, index.json; return the index."""
    channels = sorted({s[2] for s in hr_shapes})
    keys_text = "".join(k + "\n" for k in keys)
    atomic_write_text(out / KEYS_NAME, keys_text)
    index: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "backend": backend,
        "codec": codec,
        "checksum": CHECKSUM_NAME,
        "hdf5_compression": hdf5_compression if backend == "hdf5" else None,
        "count": len(keys),
        "scale": int(scale),
        "channels": channels[0] if len(channels) == 1 else None,
        "hr_shapes": _shape_counts(hr_shapes),
        "lr_shapes": _shape_counts(lr_shapes),
        "payload_bytes": int(sum(s["payload_bytes"] for s in shards)),
        "file_bytes": int(sum(s["file_bytes"] for s in shards)),
        "shards": shards,
        "keys": {"file": KEYS_NAME, "sha256": hashlib.sha256(keys_text.encode("ascii")).hexdigest()},
        "recipe": recipe,
        "split": choose_split(keys, val_fraction),
        "lineage": None,
    }
    if lineage is not None:
        lineage_text = "".join(canonical_json(r) + "\n" for r in lineage)
        atomic_write_text(out / LINEAGE_NAME, lineage_text)
        index["lineage"] = {"file": LINEAGE_NAME,
                            "sha256": hashlib.sha256(lineage_text.encode("utf-8")).hexdigest()}
    if extra:
        index.update(extra)
    atomic_write_text(out / INDEX_NAME, json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index


def remove_extra_shards(out: Path, backend: str, keep: int) -> None:
    """Delete shards numbered ``keep`` and above, left by an earlier, bigger store in ``out``."""
    for suffix_backend in BACKENDS:
        for path in out.glob(f"shard-*{'.lmdb' if suffix_backend == 'lmdb' else '.h5'}"):
            try:
                number = int(path.name.split("-", 1)[1].split(".", 1)[0])
            except ValueError:
                continue
            if suffix_backend != backend or number >= keep:
                remove_path(path)


STORE_FILES = {INDEX_NAME, KEYS_NAME, LINEAGE_NAME, PROGRESS_NAME}


def foreign_entries(out: Path) -> list[str]:
    """Names in ``out`` that a store never holds (so ``out`` is some other folder)."""
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir()
                  if p.name not in STORE_FILES and not p.name.startswith(("shard-", ".")))


def prepare_out(out: Path) -> None:
    """Make ``out`` an incomplete store: its index.json goes first, stale temporaries too.

    Refuses (ValueError) a folder holding anything a store does not: packing into ``tiles/`` by
    mistake must not mix shards with the user's files.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; a store is a folder: choose another --out")
    foreign = foreign_entries(out)
    if foreign:
        raise ValueError(f"{out} is not a store (it holds {', '.join(foreign[:3])}"
                         f"{', ...' if len(foreign) > 3 else ''}): choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / INDEX_NAME).unlink(missing_ok=True)
    remove_stale_temps(out)


def check_options(backend: str, codec: str, hdf5_compression: str | None) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"format must be one of {BACKENDS}, not {backend!r}")
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, not {codec!r}")
    if hdf5_compression not in HDF5_COMPRESSIONS:
        raise ValueError(f"hdf5 compression must be gzip, lzf or none, not {hdf5_compression!r}")


def check_pair_shapes(key: str, hr_shape, lr_shape, scale: int) -> None:
    h, w, c = hr_shape
    lh, lw, lc = lr_shape
    if (lh * scale, lw * scale, lc) != (h, w, c):
        raise ValueError(f"{key}: LR {lh}x{lw}x{lc} x scale {scale} does not match HR {h}x{w}x{c}")


def write_store(out: str | os.PathLike, pairs: Iterable[tuple[str, np.ndarray, np.ndarray]],
                fmt: str = "lmdb", scale: int = 1, codec: str = "raw",
                shard_size: int | str = DEFAULT_SHARD_SIZE, val_fraction: float = 0.02,
                recipe: dict[str, Any] | None = None, hdf5_compression: str | None = None,
                lineage: Iterable[dict[str, Any]] | None = None, map_size: int | None = None,
                png_level: int = 1) -> dict[str, Any]:
    """Write a complete store from ``(key, hr, lr)`` uint8 arrays; returns the parsed index.

    Shards are cut when the next record would push a shard's payload past ``shard_size``.
    ``map_size`` is the initial LMDB map of each shard (grown as needed; mainly for tests).
    """
    check_options(fmt, codec, hdf5_compression)
    shard_bytes = parse_size(shard_size)
    out = Path(out)
    prepare_out(out)
    shards: list[dict[str, Any]] = []
    keys: list[str] = []
    seen: set[str] = set()
    hr_shapes: list = []
    lr_shapes: list = []
    writer: ShardWriter | None = None
    channels: int | None = None
    try:
        for key, hr, lr in pairs:
            check_key(key)
            if key in seen:
                raise ValueError(f"duplicate sample key {key!r}")
            seen.add(key)
            rec = encode_record(key, hr, lr, codec, png_level)
            check_pair_shapes(key, rec.hr_shape, rec.lr_shape, scale)
            if channels is None:
                channels = rec.hr_shape[2]
            elif rec.hr_shape[2] != channels:
                raise ValueError(f"{key}: {rec.hr_shape[2]} channels, earlier samples have {channels}; "
                                 "a store holds one channel count")
            if writer is not None and writer.count and writer.payload_bytes + rec.payload_bytes > shard_bytes:
                shards.append(commit_shard(out, writer))
                writer = None
            if writer is None:
                writer = open_shard(out, fmt, codec, len(shards), len(keys), hdf5_compression, map_size)
            writer.put(rec)
            keys.append(key)
            hr_shapes.append(rec.hr_shape)
            lr_shapes.append(rec.lr_shape)
        if writer is not None:
            shards.append(commit_shard(out, writer))
            writer = None
    except BaseException:
        if writer is not None:
            writer.abort()
            remove_path(writer.path)
        raise
    remove_extra_shards(out, fmt, len(shards))
    (out / PROGRESS_NAME).unlink(missing_ok=True)
    return write_index(out, backend=fmt, codec=codec, scale=scale, shards=shards, keys=keys,
                       hr_shapes=hr_shapes, lr_shapes=lr_shapes, val_fraction=val_fraction,
                       recipe=recipe, lineage=lineage, hdf5_compression=hdf5_compression)


__all__ = ["write_store", "DEFAULT_SHARD_SIZE", "parse_size", "lmdb_map_size"]
