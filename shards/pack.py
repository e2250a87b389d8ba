"""Packing a workspace's tiles and LR set into a store (``sr-data pack``), resumable shard by shard.

The shard plan (which samples go to which shard) is computed before anything is written, from the
manifests and file sizes alone, so it is the same on every run. Each finished shard is renamed into
place and then recorded in ``progress.jsonl`` with the digest of its planned inputs; a rerun after
an interruption keeps every recorded shard whose plan is unchanged and writes the rest. ``index.json``
is written last.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srkit.core.console import StageError, UsageError
from srkit.core.files import inside
from srkit.core.images import ImageError, decode_png
from srkit.core.keys import check_key
from srkit.core.manifest import JsonlAppender, canonical_json, read_jsonl
from srkit.shards.format import (
    FORMAT_VERSION,
    HEADER_SIZE,
    INDEX_NAME,
    PROGRESS_NAME,
    Record,
    checksum,
    raw_size,
    shape3,
)
from srkit.shards.writer import (
    DEFAULT_SHARD_SIZE,
    check_options,
    commit_shard,
    lmdb_map_size,
    open_shard,
    parse_size,
    prepare_out,
    remove_extra_shards,
    remove_path,
    write_index,
)

DEGRADATIONS_NAME = "degradations.jsonl"
RUN_NAME = "run.json"
TILES_MANIFEST = "tiles.jsonl"
# Test hook: SIGKILL this process after this many records have been written (simulates a crash).
KILL_AFTER_ENV = "SRKIT_PACK_KILL_AFTER"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Sample:
    key: str
    hr_path: str  # plain strings: tens of thousands of samples, Path objects cost measurable time
    lr_path: str
    hr_shape: tuple[int, int, int]
    lr_shape: tuple[int, int, int]
    hr_sha256: str
    lr_sha256: str
    hr_file_bytes: int
    lr_file_bytes: int

    def payload_bytes(self, codec: str) -> int:
        if codec == "png":
            return self.hr_file_bytes + self.lr_file_bytes
        return raw_size(self.hr_shape) + raw_size(self.lr_shape)


@dataclass
class Inputs:
    hr_dir: Path
    lr_dir: Path
    samples: list[Sample]
    scale: int
    recipe: dict[str, Any] | None
    lineage: list[dict[str, Any]]
    missing: dict[str, list[str]]


def find_lr_dir(workspace: Path) -> Path:
    """The single LR set under ``workspace/lr``; a UsageError listing them when there are several."""
    found = sorted(p.parent for p in (workspace / "lr").glob(f"*/{DEGRADATIONS_NAME}"))
    if not found:
        raise UsageError(f"no LR set found ({workspace / 'lr'}/*/{DEGRADATIONS_NAME}): run "
                         "`sr-data degrade --recipe NAME` first, or pass --lr FOLDER")
    if len(found) > 1:
        names = ", ".join(str(p) for p in found)
        raise UsageError(f"several LR sets found ({names}); choose one with --lr, e.g. --lr {found[0]}")
    return found[0]


def _tile_records(hr_dir: Path) -> dict[str, dict[str, Any] | None]:
    if (hr_dir / TILES_MANIFEST).exists():
        from srkit.tiling.manifest import kept_tiles

        return {r["key"]: r for r in kept_tiles(hr_dir)}
    # A folder of PNGs without our manifest (e.g. tiles made by another tool): keys are the stems.
    return {p.stem: None for p in sorted(hr_dir.glob("*.png"))}


def _file_size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def collect_inputs(hr_dir: str | os.PathLike, lr_dir: str | os.PathLike) -> Inputs:
    """The samples present in both HR and LR (with their LR record), and what is missing on each side."""
    hr_dir, lr_dir = Path(hr_dir), Path(lr_dir)
    if not hr_dir.is_dir():
        raise UsageError(f"HR tiles folder {hr_dir} not found: run `sr-data tile PAGES/` first, or pass --hr")
    deg_path = lr_dir / DEGRADATIONS_NAME
    if not deg_path.exists():
        raise UsageError(f"{deg_path} not found: --lr must be a folder written by `sr-data degrade`")
    run: dict[str, Any] = {}
    if (lr_dir / RUN_NAME).exists():
        try:
            run = json.loads((lr_dir / RUN_NAME).read_text(encoding="utf-8"))
        except ValueError as err:
            raise UsageError(f"{lr_dir / RUN_NAME}: not valid JSON ({err})") from None
    tiles = _tile_records(hr_dir)
    degradations = {r["key"]: r for r in read_jsonl(deg_path) if isinstance(r.get("key"), str)}
    missing: dict[str, list[str]] = {"no_lr_record": [], "no_hr_tile": [], "lr_file_missing": [],
                                     "hr_file_missing": []}
    samples: list[Sample] = []
    lineage: list[dict[str, Any]] = []
    hr_root, lr_root = str(hr_dir), str(lr_dir)
    scales = set()
    for key in sorted(set(tiles) | set(degradations)):
        if key not in degradations:
            missing["no_lr_record"].append(key)
            continue
        if key not in tiles:
            missing["no_hr_tile"].append(key)
            continue
        try:
            check_key(key)
        except ValueError as err:
            raise UsageError(f"{deg_path}: {err}") from None
        rec = degradations[key]
        tile_file = (tiles[key] or {}).get("file") or f"{key}.png"
        if tile_file == f"{key}.png":
            hr_path = os.path.join(hr_root, tile_file)
        else:
            try:
                hr_path = str(inside(hr_dir, tile_file))
            except ValueError as err:
                raise UsageError(f"{hr_dir / TILES_MANIFEST}: tile {key}: {err}") from None
        lr_path = os.path.join(lr_root, f"{key}.png")
        hr_size, lr_size = _file_size(hr_path), _file_size(lr_path)
        if hr_size is None:
            missing["hr_file_missing"].append(key)
            continue
        if lr_size is None:
            missing["lr_file_missing"].append(key)
            continue
        try:
            hr_shape = tuple(int(v) for v in rec["hr_shape"])
            lr_shape = tuple(int(v) for v in rec["lr_shape"])
            scales.add(int(rec["scale"]))
            sample = Sample(key, hr_path, lr_path, hr_shape, lr_shape, str(rec["hr_sha256"]),
                            str(rec["lr_sha256"]), hr_size, lr_size)
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(f"{deg_path}: record {key} lacks or has a bad field ({err}); "
                             "rerun `sr-data degrade`") from None
        samples.append(sample)
        lineage.append({"key": key, "tile": tiles[key], "degradation": rec})
    scale = int(run["scale"]) if "scale" in run else (min(scales) if len(scales) == 1 else 0)
    if scales - {scale}:
        raise UsageError(f"{deg_path}: records have scales {sorted(scales)} (run.json: {run.get('scale')}); "
                         "one store has one scale")
    if samples and scale < 1:
        raise UsageError(f"{lr_dir}: cannot tell the scale (no run.json and no scale in the records)")
    for s in samples:
        if (s.lr_shape[0] * scale, s.lr_shape[1] * scale, s.lr_shape[2]) != s.hr_shape:
            raise UsageError(f"{deg_path}: {s.key}: LR {s.lr_shape} x {scale} != HR {s.hr_shape}")
    channels = sorted({s.hr_shape[2] for s in samples})
    if len(channels) > 1:
        counts = {c: sum(1 for s in samples if s.hr_shape[2] == c) for c in channels}
        raise UsageError(f"tiles mix channel counts {counts}: a store holds one; tile gray and color pages "
                         "into separate folders (or tile with one color mode) and pack them separately")
    recipe = None
    if run or samples:
        first = degradations[samples[0].key] if samples else {}
        recipe = {"name": run.get("recipe", first.get("recipe")),
                  "hash": run.get("recipe_hash", first.get("recipe_hash"))}
        if "nominal_scale" in run:
            recipe["nominal_scale"] = run["nominal_scale"]
    return Inputs(hr_dir, lr_dir, samples, scale, recipe, lineage, missing)


def plan_shards(samples: list[Sample], codec: str, shard_size: int) -> list[list[Sample]]:
    """Cut the samples into shards: a new shard when the next sample would pass ``shard_size``."""
    plan: list[list[Sample]] = []
    current: list[Sample] = []
    size = 0
    for s in samples:
        b = s.payload_bytes(codec)
        if current and size + b > shard_size:
            plan.append(current)
            current, size = [], 0
        current.append(s)
        size += b
    if current:
        plan.append(current)
    return plan


def _plan_digest(settings: dict[str, Any], samples: list[Sample]) -> str:
    h = hashlib.sha256(canonical_json(settings).encode("ascii"))
    for s in samples:
        h.update(f"{s.key} {s.hr_sha256} {s.lr_sha256}\n".encode("ascii"))
    return h.hexdigest()


def _png_shape(data: bytes, where: str | Path) -> tuple[int, int, int]:
    """(h, w, c) from a PNG's IHDR, refusing what is not 8-bit gray or RGB (our tiles' formats)."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise StageError(f"{where}: not a PNG file")
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 2: 3}.get(color)
    if depth != 8 or channels is None:
        raise StageError(f"{where}: PNG is not 8-bit gray or RGB (bit depth {depth}, color type {color}); "
                         "use --codec raw, which decodes and stores pixels")
    return height, width, channels


def _load(sample: Sample, codec: str, check_hashes: bool) -> Record:
    """Read one pair from disk and encode it as a record (PNG bytes kept exactly as they are)."""
    payloads = []
    for path, expected_sha, shape in ((sample.hr_path, sample.hr_sha256, sample.hr_shape),
                                      (sample.lr_path, sample.lr_sha256, sample.lr_shape)):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as err:
            raise StageError(f"{path}: cannot read ({err.strerror or err}); rerun the same command") from None
        if check_hashes and hashlib.sha256(data).hexdigest() != expected_sha:
            raise StageError(f"{path}: its sha256 differs from the one in {DEGRADATIONS_NAME} (the file "
                             "changed after `sr-data degrade`); rerun `sr-data degrade` for this recipe")
        if codec == "png":
            found = _png_shape(data, path)
            payload: Any = data
        else:
            try:
                arr = decode_png(data, str(path))
            except ImageError as err:
                raise StageError(str(err)) from None
            found = shape3(arr)
            payload = memoryview(arr).cast("B")
        if found != shape:
            raise StageError(f"{path}: image is {found}, {DEGRADATIONS_NAME} says {shape}")
        payloads.append(payload)
    hp, lp = payloads
    return Record(sample.key, codec, sample.hr_shape, sample.lr_shape, hp, lp, checksum(hp), checksum(lp))


def _records(samples: list[Sample], codec: str, check_hashes: bool, jobs: int) -> Iterator[Record]:
    if jobs <= 1:
        for s in samples:
            yield _load(s, codec, check_hashes)
        return
    # Threads: file reads, sha256, checksums and PNG decoding all release the GIL; map keeps the order.
    with ThreadPoolExecutor(jobs) as pool:
        step = 64 * jobs
        for lo in range(0, len(samples), step):
            yield from pool.map(lambda s: _load(s, codec, check_hashes), samples[lo:lo + step])


def _read_progress(out: Path) -> dict[int, dict[str, Any]]:
    return {int(r["shard"]): r for r in read_jsonl(out / PROGRESS_NAME) if isinstance(r.get("shard"), int)}


def _shard_done(out: Path, backend: str, record: dict[str, Any] | None, digest: str) -> bool:
    if record is None or record.get("plan") != digest:
        return False
    entry = record.get("entry") or {}
    path = out / str(entry.get("file", ""))
    data = path / "data.mdb" if backend == "lmdb" else path
    return data.is_file() and data.stat().st_size == entry.get("file_bytes")


def pack_store(hr_dir: str | os.PathLike, lr_dir: str | os.PathLike, out: str | os.PathLike,
               fmt: str = "lmdb", codec: str = "raw", shard_size: int | str = DEFAULT_SHARD_SIZE,
               val_fraction: float = 0.02, layout: str = "ours", hdf5_compression: str | None = None,
               check_hashes: bool = True, jobs: int = 1,
               on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Pack the pairs of ``hr_dir`` and ``lr_dir`` into the store ``out``; returns a summary dict.

    ``on_progress(done, total)`` is called as samples are written (or found already written).
    """
    if layout == "basicsr":
        from srkit.shards.basicsr import pack_basicsr

        if fmt != "lmdb":
            raise UsageError("--layout basicsr is an LMDB layout: use `sr-data pack lmdb --layout basicsr`")
        return pack_basicsr(collect_inputs(hr_dir, lr_dir), out, on_progress=on_progress)
    if layout != "ours":
        raise UsageError(f"--layout must be ours or basicsr, not {layout!r}")
    try:
        check_options(fmt, codec, hdf5_compression)
        shard_bytes = parse_size(shard_size)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if not 0.0 <= val_fraction < 1.0:
        raise UsageError(f"--val-fraction must be in [0, 1), not {val_fraction}")
    started = time.perf_counter()
    inputs = collect_inputs(hr_dir, lr_dir)
    if not inputs.samples:
        raise UsageError(f"no pairs to pack: {hr_dir} and {lr_dir} have no sample in common")
    out = Path(out)
    samples = inputs.samples
    plan = plan_shards(samples, codec, shard_bytes)
    settings = {"version": FORMAT_VERSION, "backend": fmt, "codec": codec, "shard_size": shard_bytes,
                "hdf5_compression": hdf5_compression, "scale": inputs.scale}
    digests = [_plan_digest(dict(settings, shard=n), part) for n, part in enumerate(plan)]
    inputs_digest = hashlib.sha256("".join(digests).encode("ascii")).hexdigest()
    inputs_digest = hashlib.sha256(f"{inputs_digest} {val_fraction!r}".encode("ascii")).hexdigest()
    total = len(samples)

    if _up_to_date(out, inputs_digest):
        if on_progress:
            on_progress(total, total)
        index = json.loads((out / INDEX_NAME).read_text())
        return _summary(out, index, inputs, written=0, reused=len(plan), seconds=0.0, payload_written=0)

    try:
        prepare_out(out)
    except ValueError as err:
        raise UsageError(str(err)) from None
    progress = _read_progress(out)
    kill_after = int(os.environ.get(KILL_AFTER_ENV, "0") or 0)
    entries: list[dict[str, Any]] = []
    done = 0
    written_records = 0
    written_shards = 0
    payload_written = 0
    with JsonlAppender(out / PROGRESS_NAME) as log:
        for number, (part, digest) in enumerate(zip(plan, digests, strict=True)):
            record = progress.get(number)
            if _shard_done(out, fmt, record, digest):
                entries.append(dict(record["entry"]))
                done += len(part)
                if on_progress:
                    on_progress(done, total)
                continue
            map_size = lmdb_map_size([HEADER_SIZE + s.payload_bytes(codec) for s in part]) \
                if fmt == "lmdb" else None
            start = sum(len(p) for p in plan[:number])
            writer = open_shard(out, fmt, codec, number, start, hdf5_compression, map_size,
                                expected_count=len(part))
            try:
                for rec in _records(part, codec, check_hashes, jobs):
                    writer.put(rec)
                    done += 1
                    written_records += 1
                    payload_written += rec.payload_bytes
                    if kill_after and written_records >= kill_after:
                        os.kill(os.getpid(), signal.SIGKILL)
                    if on_progress and (done % 32 == 0 or done == total):
                        on_progress(done, total)
                entry = commit_shard(out, writer)
            except BaseException:
                writer.abort()
                remove_path(writer.path)
                raise
            log.write({"shard": number, "plan": digest, "entry": entry})
            entries.append(entry)
            written_shards += 1
    remove_extra_shards(out, fmt, len(plan))
    lineage = inputs.lineage
    sources = {"hr": os.path.relpath(inputs.hr_dir, out), "lr": os.path.relpath(inputs.lr_dir, out)}
    extra = {"inputs_digest": inputs_digest, "sources": sources}
    index = write_index(out, backend=fmt, codec=codec, scale=inputs.scale, shards=entries,
                        keys=[s.key for s in samples], hr_shapes=[s.hr_shape for s in samples],
                        lr_shapes=[s.lr_shape for s in samples], val_fraction=val_fraction,
                        recipe=inputs.recipe, lineage=lineage, hdf5_compression=hdf5_compression,
                        extra=extra)
    (out / PROGRESS_NAME).unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    return _summary(out, index, inputs, written=written_shards, reused=len(plan) - written_shards,
                    seconds=seconds, payload_written=payload_written, records_written=written_records)


def _up_to_date(out: Path, inputs_digest: str) -> bool:
    path = out / INDEX_NAME
    if not path.exists():
        return False
    try:
        index = json.loads(path.read_text())
    except ValueError:
        return False
    if index.get("inputs_digest") != inputs_digest:
        return False
    for entry in index.get("shards", []):
        data = out / entry["file"] / "data.mdb" if index.get("backend") == "lmdb" else out / entry["file"]
        if not data.is_file() or data.stat().st_size != entry.get("file_bytes"):
            return False
    return True


def _summary(out: Path, index: dict[str, Any], inputs: Inputs, *, written: int, reused: int, seconds: float,
             payload_written: int, records_written: int = 0) -> dict[str, Any]:
    mb = payload_written / 1e6
    return {
        "out": str(out),
        "format": index["backend"],
        "codec": index["codec"],
        "samples": index["count"],
        "shards": len(index["shards"]),
        "shards_written": written,
        "shards_reused": reused,
        "payload_bytes": index["payload_bytes"],
        "file_bytes": index["file_bytes"],
        "scale": index["scale"],
        "channels": index["channels"],
        "train": index["split"]["train_count"],
        "val": index["split"]["val_count"],
        "split_method": index["split"]["method"],
        "seconds": seconds,
        "records_written": records_written,
        "mb_per_s": mb / seconds if seconds > 0 else 0.0,
        "tiles_per_s": records_written / seconds if seconds > 0 else 0.0,
        "missing": {k: v for k, v in inputs.missing.items() if v},
        "next": f"sr-train --shards {out} --preset smoke",
    }


__all__ = ["pack_store", "collect_inputs", "find_lr_dir", "plan_shards", "KILL_AFTER_ENV"]
