"""Replay a degradation log: rebuild every LR from its HR and logged plan, compare the PNG bytes.

Logs of `sr-data degrade` and of `sr-train eval` (whose HR are whole images of any format, read as
eval read them) replay alike. A sample is *identical* when the HR file still has the logged sha256
and the rebuilt LR, encoded at the logged PNG level, has the logged LR sha256. Anything else names
the sample, what differs and the library versions that differ from the logged ones (the usual
cause of byte drift).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srkit.core.console import UsageError, make_progress
from srkit.core.files import inside
from srkit.core.hashing import sha256_bytes
from srkit.core.images import ImageError, decode_png, encode_png, read_image, read_png
from srkit.core.keys import check_key
from srkit.core.manifest import read_jsonl
from srkit.core.parallel import parallel_map
from srkit.core.versions import library_versions
from srkit.core.workspace import DEGRADATIONS_LOG, RUN_RECORD
from srkit.degrade.plan import ENGINE_VERSION, FIRST_ENGINE_VERSION, apply_plan
from srkit.degrade.run import logged_shape, recorded_tiles_dir

IDENTICAL = "identical"


@dataclass
class ReplayResult:
    key: str
    status: str  # identical | lr_differs | hr_changed | hr_missing | error
    detail: str = ""
    versions_differ: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == IDENTICAL


@dataclass
class ReplaySummary:
    log: Path
    tiles_dir: Path
    results: list[ReplayResult] = field(default_factory=list)

    @property
    def identical(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def all_identical(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)


def resolve_log(log: str | os.PathLike) -> Path:
    """The log file itself, or ``DEGRADATIONS_LOG`` inside a given LR folder."""
    path = Path(log)
    if path.is_dir():
        path = path / DEGRADATIONS_LOG
    if not path.is_file():
        raise UsageError(f"no degradation log at {path}: give lr/NAME/ or lr/NAME/{DEGRADATIONS_LOG} "
                         "(made by sr-data degrade)")
    return path


def read_run_info(lr_dir: Path) -> dict[str, Any]:
    """``run.json`` of an LR folder, or {} when absent or unreadable."""
    try:
        return json.loads((lr_dir / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def replay_log(
    log: str | os.PathLike,
    keys: list[str] | None = None,
    tiles_dir: str | os.PathLike | None = None,
    jobs: int | None = 1,
    backend: str = "loky",
    progress: bool = False,
) -> ReplaySummary:
    """Replay the samples of ``log`` (all, or ``keys``) and compare with the logged LR sha256."""
    log_path = resolve_log(log)
    info = read_run_info(log_path.parent)
    if tiles_dir is None:
        tiles_dir = recorded_tiles_dir(log_path.parent, info)
        if tiles_dir is None:
            raise UsageError(f"{log_path.parent / RUN_RECORD} does not say where the HR tiles are: "
                             "pass --tiles")
    tiles = Path(tiles_dir)
    if not tiles.is_dir():
        raise UsageError(f"HR tiles folder {tiles} not found: pass --tiles")
    records = {r["key"]: r for r in read_jsonl(log_path) if isinstance(r.get("key"), str)}
    if keys:
        missing = [k for k in keys if k not in records]
        if missing:
            raise UsageError(f"key(s) not in {log_path}: {', '.join(missing[:10])}"
                             + (" ..." if len(missing) > 10 else ""))
        chosen = [records[k] for k in keys]
    else:
        chosen = [records[k] for k in sorted(records)]
    if not chosen:
        raise UsageError(f"{log_path} holds no sample records")
    task = _ReplayTask(str(tiles), str(log_path.parent))
    summary = ReplaySummary(log=log_path, tiles_dir=tiles)
    bar = make_progress("samples") if progress else None
    try:
        if bar is not None:
            bar.start()
            bar_task = bar.add_task("replay", total=len(chosen))
        for result in parallel_map(task, chosen, jobs=jobs, backend=backend):
            summary.results.append(result)
            if bar is not None:
                bar.advance(bar_task)
    finally:
        if bar is not None:
            bar.stop()
    summary.results.sort(key=lambda r: r.key)
    return summary


class _ReplayTask:
    def __init__(self, tiles_dir: str, lr_dir: str):
        self.tiles_dir = tiles_dir
        self.lr_dir = lr_dir

    def __call__(self, record: dict[str, Any]) -> ReplayResult:
        return replay_record(record, self.tiles_dir, self.lr_dir)


def versions_differ(logged: dict[str, Any]) -> dict[str, list[str]]:
    """``{library: [logged, now]}`` for every library whose version changed since the log."""
    now = library_versions()
    return {k: [str(logged.get(k)), str(now.get(k))]
            for k in sorted(set(logged) | set(now)) if str(logged.get(k)) != str(now.get(k))}


def replay_record(record: dict[str, Any], tiles_dir: str | os.PathLike,
                  lr_dir: str | os.PathLike | None = None) -> ReplayResult:
    """Rebuild one sample's LR from its HR and plan; compare with the logged hashes."""
    key = record["key"]
    diff = versions_differ(record.get("versions", {}))
    try:
        check_key(key)
    except ValueError as err:
        return ReplayResult(key, "error", str(err))
    try:
        hr_path = inside(tiles_dir, record.get("hr_file") or f"{key}.png")
        data = hr_path.read_bytes()
    except (OSError, ValueError) as err:
        return ReplayResult(key, "hr_missing", f"cannot read the HR tile: {err}")
    if sha256_bytes(data) != record.get("hr_sha256"):
        return ReplayResult(key, "hr_changed", f"HR tile {hr_path} is not the logged one "
                            "(sha256 differs): the tiles were remade or edited")
    try:
        hr = _decode_hr(data, hr_path, record)
        lr = apply_plan(hr, record["steps"])
    except Exception as err:  # noqa: BLE001 - a replay failure is reported per sample
        return ReplayResult(key, "error", f"{type(err).__name__}: {err}", diff)
    lr_shape = logged_shape(lr.shape)
    if lr_shape != list(record.get("lr_shape", [])):
        return ReplayResult(key, "lr_differs", f"rebuilt LR shape {lr_shape} is not the logged "
                            f"{record.get('lr_shape')}", diff)
    lr_bytes = encode_png(lr, int(record.get("png_level", 1)))
    if sha256_bytes(lr_bytes) == record.get("lr_sha256"):
        return ReplayResult(key, IDENTICAL)
    detail = "rebuilt LR bytes differ from the logged sha256"
    if lr_dir is not None:
        detail += _pixel_note(Path(lr_dir) / f"{key}.png", lr)
    logged_engine = record.get("engine_version", FIRST_ENGINE_VERSION)
    if logged_engine != ENGINE_VERSION:
        detail += (f"; the log was made by degradation engine version {logged_engine}, this is version "
                   f"{ENGINE_VERSION}, which computes some ops differently (rounding): degrade again to "
                   "get a log this version replays byte for byte")
        diff = {"engine": [str(logged_engine), str(ENGINE_VERSION)], **diff}
    return ReplayResult(key, "lr_differs", detail, diff)


def _decode_hr(data: bytes, hr_path: Path, record: dict[str, Any]) -> np.ndarray:
    """The HR the plan was applied to: a tile is our PNG as it is; an image `sr-train eval` read
    (any format, ``hr_color`` in its record) is read the same way and cropped to the logged size."""
    if "hr_color" not in record:
        return decode_png(data, str(hr_path))
    img, _ = read_image(hr_path, color=record["hr_color"])
    h, w = (int(v) for v in record["hr_shape"][:2])
    return np.ascontiguousarray(img[:h, :w])


def _pixel_note(lr_path: Path, lr: np.ndarray) -> str:
    """Tell a pixel difference from a PNG-encoder difference, when the logged LR file is there."""
    try:
        old = read_png(lr_path)
    except ImageError:
        return ""
    if old.shape == lr.shape and np.array_equal(old, lr):
        return " (same pixels as the LR file: only the PNG encoding differs)"
    if old.shape == lr.shape:
        n = int(np.count_nonzero(old != lr))
        return f" ({n} values differ from the LR file, max |diff| {int(np.abs(old.astype(int) - lr).max())})"
    return ""
