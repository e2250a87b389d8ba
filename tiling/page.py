"""One page of ``sr-data tile``: decode it, score every candidate tile, write the kept ones.

``tile_one_page`` runs in a worker process and holds one decoded page at a time; what it returns
(tile records, the page record, or an error string) is all the stage (``srkit.tiling.run``) needs.
"""

from __future__ import annotations

import errno
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2

from srkit.core.console import StageError
from srkit.core.files import atomic_write_bytes
from srkit.core.hashing import sha256_bytes, sha256_file
from srkit.core.images import ImageError, channels, encode_png, read_image, to_gray
from srkit.core.keys import POSITION_DIGITS, tile_key
from srkit.tiling.grid import grid, too_small_reason
from srkit.tiling.options import TileOptions
from srkit.tiling.scores import pad_tile, rejection_reason, score_boxes
from srkit.tiling.sources import Source


@dataclass(frozen=True)
class PageTask:
    source: Source
    out_dir: str
    options: TileOptions
    single_thread: bool


def _tile_record(src: Source, sha: str, box: Any, ch: int, scores: dict[str, float]) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "type": "tile", "key": tile_key(src.page, box.y, box.x), "page": src.page,
        "source": src.source, "source_sha256": sha, "x": box.x, "y": box.y, "w": box.w, "h": box.h,
        "channels": ch, "scores": scores, "status": "rejected", "reason": None, "file": None,
        "sha256": None,
    }
    if box.padded:
        rec["true_w"], rec["true_h"] = box.true_w, box.true_h
    return rec


def tile_one_page(task: PageTask) -> dict[str, Any]:
    """Tile one page: write its kept tiles, return its records (``tiles``, ``page``) or ``error``.

    Runs in a worker; holds one decoded page at a time. Bad input becomes an ``error`` string;
    failing to write the output (disk full, no permission) raises StageError: the run cannot go on.
    """
    if task.single_thread:
        cv2.setNumThreads(1)
    src, opts = task.source, task.options
    try:
        return _tile_page(src, Path(task.out_dir), opts)
    except StageError:
        raise
    except ImageError as err:
        return {"error": err.problem, "source": src}
    except OSError as err:
        return {"error": f"cannot read the file: {err.strerror or err}", "source": src}
    except MemoryError:
        return {"error": "out of memory decoding this page (lower --max-pixels or --jobs)", "source": src}
    except Exception as err:  # noqa: BLE001 - one odd file must not stop a long run; it is reported
        return {"error": f"unexpected {type(err).__name__} while tiling: {err}", "source": src}


def _tile_page(src: Source, out_dir: Path, opts: TileOptions) -> dict[str, Any]:
    img, info = read_image(src.path, color=opts.color, max_pixels=opts.max_pixels)
    sha = sha256_file(src.path)
    height, width = img.shape[:2]
    ch = channels(img)
    page: dict[str, Any] = {
        "type": "page", "page": src.page, "source": src.source, "source_sha256": sha,
        "width": width, "height": height, "channels": ch, "alpha_composited": info.alpha_composited,
        "image": info.as_dict(), "status": "complete", "reason": None,
    }
    if max(height, width) > 10**POSITION_DIGITS:
        raise ImageError(src.path, f"image is {width} x {height}: positions past {10**POSITION_DIGITS:,} "
                         "px do not fit in tile keys; cut such long strips into pages first")
    small = too_small_reason(height, width, opts.size, opts.edge)  # type: ignore[arg-type]
    if small:
        page.update(status="skipped", reason=small)
        return {"tiles": [], "page": page, "written": 0}
    boxes = grid(height, width, opts.size, opts.grid_step, opts.edge)  # type: ignore[arg-type]
    gray = to_gray(img)
    scores = score_boxes(gray, boxes)
    del gray
    records = [_tile_record(src, sha, box, ch, sc) for box, sc in zip(boxes, scores, strict=True)]
    candidates = []
    for rec, sc in zip(records, scores, strict=True):
        rec["reason"] = rejection_reason(sc, opts.flat_std, opts.min_lap)
        if rec["reason"] is None:
            candidates.append(rec)
    if opts.select == "best":
        candidates.sort(key=lambda r: (-r["scores"]["lap"], r["key"]))
    limit = opts.max_per_page if opts.max_per_page else len(candidates)
    by_hash: dict[str, str] = {}
    written = 0
    box_of = {tile_key(src.page, b.y, b.x): b for b in boxes}
    for rec in candidates:
        if written >= limit:
            rec["reason"] = "not_selected"
            continue
        data = encode_png(pad_tile(img, box_of[rec["key"]]), opts.png_level)
        digest = sha256_bytes(data)
        rec["sha256"] = digest
        first = by_hash.get(digest)
        if first is not None and first < rec["key"]:
            rec["reason"], rec["duplicate_of"] = "duplicate", first
            continue
        by_hash[digest] = rec["key"]
        rec["status"], rec["file"] = "kept", f"{rec['key']}.png"
        _write_tile(out_dir / rec["file"], data)
        written += 1
    # ``best`` visits tiles by score: a duplicate seen before its smaller-keyed twin is settled at the end.
    page.update(page_counts(records))
    return {"tiles": records, "page": page, "written": written}


def _write_tile(path: Path, data: bytes) -> None:
    """Write a tile atomically; a failure to write output stops the run (it is not the page's fault)."""
    try:
        atomic_write_bytes(path, data)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise StageError(f"disk full while writing {path}; free some space and rerun the same command "
                             "to finish") from None
        raise StageError(f"cannot write {path}: {err.strerror or err}") from None


def page_counts(tile_records: list[dict[str, Any]]) -> dict[str, Any]:
    rejected = Counter(r["reason"] for r in tile_records if r["status"] != "kept")
    return {
        "candidates": len(tile_records),
        "kept": sum(1 for r in tile_records if r["status"] == "kept"),
        "rejected": dict(sorted(rejected.items())),
    }
