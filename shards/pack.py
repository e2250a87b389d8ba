"""Packing a workspace's tiles and LR set into a store (``sr-data pack``), resumable shard by shard.

The shard plan (which samples go to which shard) is computed before anything is written, from the
manifests and file sizes alone, so it is the same on every run. Each finished shard is renamed into
place and then recorded in ``progress.jsonl`` with the digest of its planned inputs; a rerun after
an interruption keeps every recorded shard whose plan is unchanged and writes the rest. ``index.json``
is written last.

A folder that already holds a finished store made from other inputs (``made_from`` in its index:
recipe, tiles, LR files, codec, layout, ...) is never replaced silently: the pack is refused unless
``overwrite`` is given (``shards.identity.check_replace``). ``channels`` (1 or 3) converts the pairs of
the other channel count (gray to RGB, colour to BT.601 luma; PNG payloads of converted pairs are
encoded again) and the index records it in ``channels_converted``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from srkit.core.console import StageError, UsageError
from srkit.core.images import ImageError, decode_png, encode_png, to_gray, to_rgb
from srkit.core.manifest import JsonlAppender, canonical_json, read_jsonl
from srkit.core.parallel import resolve_jobs
from srkit.core.workspace import DEGRADATIONS_LOG, STORE_INDEX
from srkit.shards.basicsr import pack_basicsr
from srkit.shards.builder import NativeStoreBuilder
from srkit.shards.format import FORMAT_VERSION, PROGRESS_NAME, Record, checksum, shape3, shard_data_file
from srkit.shards.identity import check_replace, pack_identity
from srkit.shards.inputs import Inputs, Sample, collect_inputs, png_shape, read_input
from srkit.shards.shard_writer import ShardOptions
from srkit.shards.sizes import DEFAULT_SHARD_SIZE, parse_size


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


def convert_channels(img: Any, channels: int) -> Any:
    """Gray to RGB (``channels`` 3) or colour to BT.601 luma (1), as ``--channels`` asks."""
    return to_rgb(img) if channels == 3 else to_gray(img)


def _load(sample: Sample, codec: str, check_hashes: bool) -> Record:
    """Read one pair from disk and encode it as a record (PNG bytes kept exactly as they are, unless
    the pair is converted to another channel count)."""
    payloads = []
    for path, expected_sha, shape in ((sample.hr_path, sample.hr_sha256, sample.hr_shape),
                                      (sample.lr_path, sample.lr_sha256, sample.lr_shape)):
        data = read_input(path, expected_sha, check_hashes)
        if codec == "png" and not sample.convert:
            found = png_shape(data, path)
            payload: Any = data
        else:
            try:
                arr = decode_png(data, str(path))
            except ImageError as err:
                raise StageError(str(err)) from None
            found = shape3(arr)
            if sample.convert and found == shape:
                arr = convert_channels(arr, sample.convert)
            payload = encode_png(arr) if codec == "png" else memoryview(arr).cast("B")
        if found != shape:
            raise StageError(f"{path}: image is {found}, {DEGRADATIONS_LOG} says {shape}")
        payloads.append(payload)
    hp, lp = payloads
    hr_shape, lr_shape = sample.stored_shape(sample.hr_shape), sample.stored_shape(sample.lr_shape)
    return Record(sample.key, codec, hr_shape, lr_shape, hp, lp, checksum(hp), checksum(lp))


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
    data = shard_data_file(out / str(entry.get("file", "")), backend)
    return data.is_file() and data.stat().st_size == entry.get("file_bytes")


def pack_store(hr_dir: str | os.PathLike, lr_dir: str | os.PathLike, out: str | os.PathLike,
               fmt: str = "lmdb", codec: str = "raw", shard_size: int | str = DEFAULT_SHARD_SIZE,
               val_fraction: float = 0.02, layout: str = "ours", hdf5_compression: str | None = None,
               check_hashes: bool = True, jobs: int | None = 1, channels: int | None = None,
               overwrite: bool = False,
               on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Pack the pairs of ``hr_dir`` and ``lr_dir`` into the store ``out``; returns a summary dict.

    ``jobs``: reader threads (0 or None: one per core). ``channels``: 1 or 3 converts pairs of the
    other channel count. ``overwrite``: replace a store in ``out`` made from other inputs.
    ``on_progress(done, total)`` is called as samples are written (or found already written).
    """
    if channels not in (None, 1, 3):
        raise UsageError(f"--channels must be 1 (gray) or 3 (RGB), not {channels}")
    if layout == "basicsr":
        if fmt != "lmdb":
            raise UsageError("--layout basicsr is an LMDB layout: use `sr-data pack lmdb --layout basicsr`")
        inputs = collect_inputs(hr_dir, lr_dir, channels)
        identity = pack_identity(layout=layout, backend=fmt, recipe=inputs.recipe, samples=inputs.samples,
                                 settings={"channels": channels})
        check_replace(Path(out), identity, None, overwrite)
        return pack_basicsr(inputs, out, identity, on_progress=on_progress)
    if layout != "ours":
        raise UsageError(f"--layout must be ours or basicsr, not {layout!r}")
    try:
        options = ShardOptions(fmt, codec, hdf5_compression)
        shard_bytes = parse_size(shard_size)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if not 0.0 <= val_fraction < 1.0:
        raise UsageError(f"--val-fraction must be in [0, 1), not {val_fraction}")
    started = time.perf_counter()
    inputs = collect_inputs(hr_dir, lr_dir, channels)
    if not inputs.samples:
        raise UsageError(f"no pairs to pack: {hr_dir} and {lr_dir} have no sample in common")
    out = Path(out)
    samples = inputs.samples
    jobs = resolve_jobs(jobs)
    plan = plan_shards(samples, codec, shard_bytes)
    settings = {"version": FORMAT_VERSION, "backend": fmt, "codec": codec, "shard_size": shard_bytes,
                "hdf5_compression": hdf5_compression, "scale": inputs.scale}
    if channels is not None:  # only when given, so stores packed before the option keep their digest
        settings["channels"] = channels
    digests = [_plan_digest(dict(settings, shard=n), part) for n, part in enumerate(plan)]
    inputs_digest = hashlib.sha256("".join(digests).encode("ascii")).hexdigest()
    inputs_digest = hashlib.sha256(f"{inputs_digest} {val_fraction!r}".encode("ascii")).hexdigest()
    identity = pack_identity(layout=layout, backend=fmt, recipe=inputs.recipe, samples=samples, settings={
        "codec": codec, "channels": channels, "shard_size": shard_bytes, "val_fraction": val_fraction,
        "hdf5_compression": hdf5_compression})
    total = len(samples)

    if _up_to_date(out, inputs_digest):
        if on_progress:
            on_progress(total, total)
        index = json.loads((out / STORE_INDEX).read_text())
        return _summary(out, index, inputs, written=0, reused=len(plan), seconds=0.0, payload_written=0)
    check_replace(out, identity, inputs_digest, overwrite)

    try:
        builder = NativeStoreBuilder(out, options)
    except ValueError as err:
        raise UsageError(str(err)) from None
    progress = _read_progress(out)
    done = 0
    written_records = 0
    written_shards = 0
    payload_written = 0
    with builder, JsonlAppender(out / PROGRESS_NAME) as log:
        for number, (part, digest) in enumerate(zip(plan, digests, strict=True)):
            record = progress.get(number)
            if _shard_done(out, fmt, record, digest):
                builder.keep(record["entry"])
                done += len(part)
                if on_progress:
                    on_progress(done, total)
                continue
            start = sum(len(p) for p in plan[:number])
            builder.open_shard(start, expected_sizes=[s.payload_bytes(codec) for s in part])
            for rec in _records(part, codec, check_hashes, jobs):
                builder.put(rec)
                done += 1
                written_records += 1
                payload_written += rec.payload_bytes
                if on_progress and (done % 32 == 0 or done == total):
                    on_progress(done, total)
            entry = builder.commit()
            log.write({"shard": number, "plan": digest, "entry": entry})
            written_shards += 1
    sources = {"hr": os.path.relpath(inputs.hr_dir, out), "lr": os.path.relpath(inputs.lr_dir, out)}
    index = builder.finish(scale=inputs.scale, keys=[s.key for s in samples],
                           hr_shapes=[s.stored_shape(s.hr_shape) for s in samples],
                           lr_shapes=[s.stored_shape(s.lr_shape) for s in samples],
                           val_fraction=val_fraction, recipe=inputs.recipe, lineage=inputs.lineage,
                           extra={"inputs_digest": inputs_digest, "sources": sources, "made_from": identity,
                                  **({"channels_converted": inputs.converted} if inputs.converted else {})})
    seconds = time.perf_counter() - started
    return _summary(out, index, inputs, written=written_shards, reused=len(plan) - written_shards,
                    seconds=seconds, payload_written=payload_written, records_written=written_records)


def _up_to_date(out: Path, inputs_digest: str) -> bool:
    path = out / STORE_INDEX
    if not path.exists():
        return False
    try:
        index = json.loads(path.read_text())
    except ValueError:
        return False
    if index.get("inputs_digest") != inputs_digest:
        return False
    for entry in index.get("shards", []):
        data = shard_data_file(out / entry["file"], index.get("backend"))
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
        "split_why": index["split"].get("why"),
        "channels_converted": index.get("channels_converted"),
        "seconds": seconds,
        "records_written": records_written,
        "mb_per_s": mb / seconds if seconds > 0 else 0.0,
        "tiles_per_s": records_written / seconds if seconds > 0 else 0.0,
        "missing": {k: v for k, v in inputs.missing.items() if v},
        "next": f"sr-train --shards {out} --preset smoke",
    }


__all__ = ["pack_store", "plan_shards"]
