"""Reading a store: ``open_store(path)`` -> ``Store`` with random access, shard iteration, the split.

Safe after ``fork`` (DataLoader workers): shard handles are opened lazily, per process (a fork hook
marks every child), so a worker never uses an LMDB environment or HDF5 file its parent opened.
Pickling a Store (spawned workers) carries the paths and index only.
Every read checks the record's checksums (XXH3) and shapes; any problem raises ``StoreError`` naming the shard
and the key. Paths in ``index.json`` that leave the store folder are refused.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from srkit.core.files import inside
from srkit.core.workspace import STORE_INDEX
from srkit.shards.format import (
    BACKENDS,
    CHECKSUM_NAME,
    CODEC_NAMES,
    CODECS,
    FORMAT_NAME,
    FORMAT_VERSION,
    HEADER,
    HEADER_MAGIC,
    HEADER_SIZE,
    LMDB_META_KEY,
    StoreError,
    check_sum,
    checksum,
    decode_payload,
)
from srkit.shards.split import validation_mask
from srkit.shards.store_folder import missing_index_problem

__all__ = ["open_store", "Store", "Pair", "StoreError"]

# Bumped in every forked child, so a Store notices it was inherited without a getpid() per read.
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


class Pair(NamedTuple):
    """One training pair in the in-memory convention: uint8 ``(H, W)`` gray or ``(H, W, 3)`` RGB."""

    key: str
    hr: np.ndarray
    lr: np.ndarray


def _load_index(root: Path) -> dict[str, Any]:
    path = root / STORE_INDEX
    if not root.exists():
        raise StoreError(f"{root}: no such store folder")
    if not root.is_dir():
        raise StoreError(f"{root}: a store is a folder (with index.json and shards), this is a file")
    if not path.exists():
        raise StoreError(missing_index_problem(root))
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise StoreError(f"{path}: cannot read the index ({err}); repack the store") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT_NAME:
        raise StoreError(f"{path}: not an srkit store index (format {index.get('format')!r})"
                         if isinstance(index, dict) else f"{path}: not an srkit store index")
    if index.get("version") != FORMAT_VERSION:
        raise StoreError(f"{path}: store format version {index.get('version')}, this srkit reads "
                         f"version {FORMAT_VERSION}; repack with this version")
    if index.get("backend") not in BACKENDS or index.get("codec") not in CODECS:
        raise StoreError(f"{path}: unknown backend {index.get('backend')!r} or codec {index.get('codec')!r}")
    return index


def _inside(root: Path, rel: Any, what: str) -> Path:
    if not isinstance(rel, str):
        raise StoreError(f"{root / STORE_INDEX}: {what} path is not a string")
    try:
        return inside(root, rel)
    except ValueError as err:
        raise StoreError(f"{root / STORE_INDEX}: {what} refused: {err}") from None


class Store:
    """A complete store. ``read(i)`` -> ``Pair``; ``len``; ``keys``; split and shard ranges."""

    def __init__(self, path: str | os.PathLike, verify: bool = True):
        self.path = Path(path)
        self.verify = verify
        self.index = _load_index(self.path)
        self._generation: int | None = None
        self._handles: dict[int, Any] = {}
        try:
            self._parse_index()
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise StoreError(f"{self.path / STORE_INDEX}: malformed index ({type(err).__name__}: {err}); "
                             "repack the store") from None

    def _parse_index(self) -> None:
        self.backend: str = self.index["backend"]
        self.codec: str = self.index["codec"]
        self.scale: int = int(self.index["scale"])
        self.channels: int | None = self.index.get("channels")
        self._shard_paths: list[Path] = []
        ranges: list[tuple[int, int]] = []
        pos = 0
        for number, entry in enumerate(self.index.get("shards", [])):
            shard_path = _inside(self.path, entry.get("file"), f"shard {number}")
            if not shard_path.exists():
                raise StoreError(f"{self.path}: shard {entry.get('file')} is missing; repack the store")
            self._check_size(shard_path, entry)
            start, count = int(entry["start"]), int(entry["count"])
            if start != pos:
                raise StoreError(f"{self.path / STORE_INDEX}: shard {entry['file']} starts at {start}, "
                                 f"expected {pos}; the index is corrupt")
            ranges.append((start, start + count))
            self._shard_paths.append(shard_path)
            pos += count
        self.shard_ranges: list[tuple[int, int]] = ranges
        self._start_list = [r[0] for r in ranges]
        self.keys: list[str] = self._load_keys()
        if len(self.keys) != pos or pos != int(self.index.get("count", -1)):
            raise StoreError(f"{self.path}: {len(self.keys)} keys, shards hold {pos}, index says "
                             f"{self.index.get('count')}; the store is corrupt: repack it")
        mask = validation_mask(self.keys, self.index.get("split") or {})
        self.val_indices: np.ndarray = np.flatnonzero(mask)
        self.train_indices: np.ndarray = np.flatnonzero(~mask)

    def _check_size(self, shard_path: Path, entry: dict[str, Any]) -> None:
        data = shard_path / "data.mdb" if self.backend == "lmdb" else shard_path
        if not data.exists():
            raise StoreError(f"{self.path}: shard {entry.get('file')} has no {data.name}; repack the store")
        size = data.stat().st_size
        expected = int(entry.get("file_bytes", size))
        if size < expected:
            raise StoreError(f"{self.path}: shard {entry.get('file')} is truncated ({size} of {expected} "
                             "bytes); repack the store")

    def _load_keys(self) -> list[str]:
        spec = self.index.get("keys") or {}
        path = _inside(self.path, spec.get("file"), "keys file")
        try:
            data = path.read_bytes()
        except OSError as err:
            raise StoreError(f"{path}: cannot read the keys ({err.strerror or err}); "
                             "repack the store") from None
        if spec.get("sha256") and hashlib.sha256(data).hexdigest() != spec["sha256"]:
            raise StoreError(f"{path}: keys file does not match its sha256 in index.json; repack the store")
        return data.decode("ascii").splitlines()

    # ------------------------------------------------------------------ handles (per process)
    def _handle(self, shard: int) -> Any:
        if self._generation != _fork_generation:
            # Inherited through fork: never touch the parent's handles, open our own.
            self._handles = {}
            self._generation = _fork_generation
        handle = self._handles.get(shard)
        if handle is None:
            handle = self._open_shard(shard)
            self._handles[shard] = handle
        return handle

    def _open_shard(self, shard: int) -> Any:
        path = self._shard_paths[shard]
        try:
            if self.backend == "lmdb":
                import lmdb

                env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False,
                                subdir=True, max_readers=1)
                # One read transaction per shard for the life of the handle: buffers stay valid.
                return _LmdbHandle(env, env.begin(write=False, buffers=True))
            return _Hdf5Handle(path, self.codec)
        except StoreError:
            raise
        except Exception as err:  # noqa: BLE001 - lmdb/h5py raise many types for a broken file
            raise StoreError(f"{self.path}: shard {path.name} cannot be opened ({err}); "
                             "repack the store") from None

    def close(self) -> None:
        if self._generation == _fork_generation:
            for handle in self._handles.values():
                try:
                    handle.close()
                except Exception:  # noqa: BLE001 - closing a broken handle must not hide the real error
                    pass
        self._handles = {}

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    def __getstate__(self) -> dict[str, Any]:
        # Spawned DataLoader workers get the paths and index, never open handles.
        state = self.__dict__.copy()
        state["_handles"] = {}
        state["_generation"] = None
        return state

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.keys)

    def shard_of(self, i: int) -> int:
        return bisect.bisect_right(self._start_list, i) - 1

    def read(self, i: int) -> Pair:
        """The pair at global index ``i`` (checksums verified unless opened with verify=False)."""
        n = len(self.keys)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a store of {n} samples")
        i = int(i) % n
        shard = bisect.bisect_right(self._start_list, i) - 1
        return self._read(shard, i - self._start_list[shard], self.keys[i])

    __getitem__ = read

    def iter_shard(self, shard: int) -> Iterator[Pair]:
        """All pairs of shard ``shard`` in index order."""
        start, stop = self.shard_ranges[shard]
        for i in range(start, stop):
            yield self._read(shard, i - start, self.keys[i])

    def __iter__(self) -> Iterator[Pair]:
        for shard in range(len(self.shard_ranges)):
            yield from self.iter_shard(shard)

    def _where(self, shard: int, key: str) -> str:
        return f"{self.path}: shard {self._shard_paths[shard].name}, key {key}"

    def _read(self, shard: int, row: int, key: str) -> Pair:
        handle = self._handles.get(shard) if self._generation == _fork_generation else None
        if handle is None:
            handle = self._handle(shard)
        try:
            if self.backend == "lmdb":
                return self._read_lmdb(handle, shard, key)
            return self._read_hdf5(handle, shard, row, key)
        except StoreError:
            raise
        except Exception as err:  # noqa: BLE001 - a damaged file surfaces as many exception types
            raise StoreError(f"{self._where(shard, key)}: cannot read the record "
                             f"({type(err).__name__}: {err})") from None

    def _bad(self, shard: int, key: str, side: str, problem: str) -> StoreError:
        return StoreError(f"{self._where(shard, key)}{side}: {problem}")

    def _pixels(self, payload: Any, expected: int, shape: tuple[int, int, int], shard: int, key: str,
                side: str) -> np.ndarray:
        h, w, c = shape
        if self.codec == "raw" and len(payload) == h * w * c:
            # The one copy, out of the map; the checksum then runs on the copy, hot in the CPU cache,
            # so what is returned is exactly what was verified.
            arr = np.frombuffer(payload, dtype=np.uint8).copy()
            if self.verify and checksum(arr) != expected:
                check_sum(arr, expected, f"{self._where(shard, key)} ({side})")
            return arr.reshape((h, w) if c == 1 else (h, w, c))
        if self.verify and checksum(payload) != expected:
            check_sum(payload, expected, f"{self._where(shard, key)} ({side})")
        return decode_payload(payload, self.codec, shape, f"{self._where(shard, key)} ({side})")

    def _read_lmdb(self, handle: _LmdbHandle, shard: int, key: str) -> Pair:
        buf = handle.txn.get(key.encode("ascii"))
        if buf is None:
            raise self._bad(shard, key, "", "record missing from the shard; repack the store")
        if len(buf) < HEADER_SIZE:
            raise self._bad(shard, key, "", f"record is {len(buf)} bytes, shorter than its header")
        magic, _version, codec_id, hh, hw, hc, lh, lw, lc, hlen, llen, hsum, lsum = HEADER.unpack_from(buf)
        if magic != HEADER_MAGIC or CODEC_NAMES.get(codec_id) != self.codec:
            raise self._bad(shard, key, "", f"bad record header (magic {magic!r}, codec id {codec_id})")
        if len(buf) != HEADER_SIZE + hlen + llen:
            raise self._bad(shard, key, "", f"record is {len(buf)} bytes, header says "
                                            f"{HEADER_SIZE + hlen + llen}")
        hr = self._pixels(buf[HEADER_SIZE:HEADER_SIZE + hlen], hsum, (hh, hw, hc), shard, key, "HR")
        lr = self._pixels(buf[HEADER_SIZE + hlen:], lsum, (lh, lw, lc), shard, key, "LR")
        return Pair(key, hr, lr)

    def _read_hdf5(self, handle: _Hdf5Handle, shard: int, row: int, key: str) -> Pair:
        out = []
        for side in ("hr", "lr"):
            shape, expected = handle.shape(side, row), handle.checksum(side, row)
            payload = handle.payload(side, row, shape)
            out.append(self._pixels(payload, expected, shape, shard, key, side.upper()))
        return Pair(key, out[0], out[1])

    def shard_meta(self, shard: int) -> dict[str, Any]:
        """The metadata a shard carries about itself (written when the shard was completed)."""
        handle = self._handle(shard)
        if self.backend == "lmdb":
            raw = handle.txn.get(LMDB_META_KEY)
            if raw is None:
                raise StoreError(f"{self.path}: shard {self._shard_paths[shard].name} has no metadata record")
            return json.loads(bytes(raw))
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in handle.file.attrs.items()}

    def shard_path(self, shard: int) -> Path:
        return self._shard_paths[shard]


class _LmdbHandle:
    def __init__(self, env: Any, txn: Any):
        self.env = env
        self.txn = txn

    def close(self) -> None:
        self.txn.abort()
        self.env.close()


class _Hdf5Handle:
    """An open HDF5 shard. Uncompressed raw samples whose chunk is exactly one sample are read from a
    read-only memory map of the file at the chunk's offset (found once with ``chunk_iter``), which
    skips h5py's per-call overhead; everything else goes through h5py."""

    def __init__(self, path: Path, codec: str):
        import h5py

        self.file = h5py.File(path, "r")
        self.ds = {"hr": self.file["hr"], "lr": self.file["lr"]}
        self.shapes = {"hr": self.file["hr_shape"][:], "lr": self.file["lr_shape"][:]}
        self.sums = {side: self.file[f"{side}_{CHECKSUM_NAME}"][:].tolist() for side in ("hr", "lr")}
        self.offsets: dict[str, list[int] | None] = {"hr": None, "lr": None}
        self.chunk_shape = {side: (ds.chunks or (0,))[1:] for side, ds in self.ds.items()}
        self.is_png = codec == "png"
        self.map: mmap.mmap | None = None
        if codec == "raw":
            for side, ds in self.ds.items():
                if ds.compression is None and not ds.id.get_create_plist().get_nfilters() and ds.chunks:
                    self.offsets[side] = self._chunk_offsets(ds)
            if any(v is not None for v in self.offsets.values()):
                with open(path, "rb") as f:
                    self.map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                self.view = memoryview(self.map)

    @staticmethod
    def _chunk_offsets(ds: Any) -> list[int]:
        offsets = [-1] * ds.shape[0]

        def visit(info: Any) -> None:
            row = info.chunk_offset[0]
            if ds.chunks[0] == 1 and not any(info.chunk_offset[1:]) and 0 <= row < len(offsets):
                offsets[row] = int(info.byte_offset)

        ds.id.chunk_iter(visit)
        return offsets

    def shape(self, side: str, row: int) -> tuple[int, int, int]:
        h, w, c = self.shapes[side][row].tolist()
        return h, w, c

    def checksum(self, side: str, row: int) -> int:
        return self.sums[side][row]

    def payload(self, side: str, row: int, shape: tuple[int, int, int]) -> Any:
        ds = self.ds[side]
        offsets = self.offsets[side]
        if self.is_png:  # one variable-length byte array per sample
            return ds[row]
        h, w, c = shape
        if offsets is not None and offsets[row] >= 0 and self.chunk_shape[side] == (h, w, c):
            start = offsets[row]
            if start + h * w * c <= len(self.view):  # a damaged offset must never read past the end
                return self.view[start:start + h * w * c]
        return np.ascontiguousarray(ds[row, :h, :w, :]).reshape(-1)

    def close(self) -> None:
        if self.map is not None:
            self.view.release()
            self.map.close()
        self.file.close()


def open_store(path: str | os.PathLike, verify: bool = True) -> Store:
    """Open a complete store (format detected from index.json); StoreError if incomplete or corrupt."""
    return Store(path, verify=verify)
