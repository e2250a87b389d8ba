"""One image in, one record out: every estimator run in order, each feeding the next what it found.

Order: the JPEG facts (from the file's tables, else from the block artifacts), then the noise (which
needs the quantisation table and grid), the levels (which need the noise), the blur (which needs the
levels and noise), the enlargement and the screentone. Colour images are measured on their luma
(BT.601, as JPEG stores it); `channels` is 1 for gray content (R = G = B, see srkit.core.images).

Record fields (the README documents them for users):
file, width, height, channels, jpeg_quality (int or null), jpeg_quality_source ("tables",
"blockiness" or null), jpeg_tables ("standard", "nonstandard" or null), subsampling ("4:2:0",
"4:2:2", "4:4:4", "gray", "other" or null), progressive (bool or null), jpeg_grid_aligned (bool or
null), upscaled_by, upscale_kernel, blur_sigma, blur_edges, noise_sigma, noise_fraction,
black_point, white_point, gamma, tone.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from srkit.core.images import read_image, to_gray
from srkit.degrade.estimate.blocks import estimate_from_blocks
from srkit.degrade.estimate.edges import blur_sigma
from srkit.degrade.estimate.jpeg_tables import jpeg_file_info, table_of
from srkit.degrade.estimate.levels import levels, tone
from srkit.degrade.estimate.noise import noise_sigma
from srkit.degrade.estimate.upscale import upscaled_by
from srkit.tiling.grid import grid
from srkit.tiling.scores import DEFAULT_FLAT_STD, DEFAULT_MIN_LAP, rejection_reason, score_boxes

# The numeric fields a fit summarises and compare compares, in the order they are shown.
FEATURES = ("jpeg_quality", "blur_sigma", "noise_sigma", "upscaled_by", "black_point", "white_point",
            "gamma", "tone")
FIELDS = ("file", "width", "height", "channels", "jpeg_quality", "jpeg_quality_source", "jpeg_tables",
          "subsampling", "progressive", "jpeg_grid_aligned", "upscaled_by", "upscale_kernel",
          "blur_sigma", "blur_edges", "noise_sigma", "noise_fraction", "black_point", "white_point",
          "gamma", "tone")


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else float(round(float(value), digits))


WHOLE = ("jpeg_quality", "jpeg_quality_source", "jpeg_tables", "subsampling", "progressive",
         "jpeg_grid_aligned", "upscaled_by", "upscale_kernel")


def _jpeg_facts(gray: np.ndarray, jpeg_bytes: bytes | None) -> tuple[dict[str, Any], np.ndarray | None,
                                                                        tuple[int, int]]:
    """(the JPEG fields, the luminance table for the noise, the block grid) of an image."""
    info = jpeg_file_info(jpeg_bytes) if jpeg_bytes else None
    if info is not None:
        table = np.asarray(info.luma_table, np.float64).reshape(8, 8)
        return ({"jpeg_quality": info.quality, "jpeg_quality_source": "tables",
                 "jpeg_tables": "standard" if info.standard else "nonstandard",
                 "subsampling": info.subsampling, "progressive": info.progressive,
                 "jpeg_grid_aligned": True}, table, (0, 0))
    found = estimate_from_blocks(gray)
    table = None if found.quality is None else table_of(found.quality)
    source = None if found.quality is None else "blockiness"
    return ({"jpeg_quality": found.quality, "jpeg_quality_source": source, "jpeg_tables": None,
             "subsampling": None, "progressive": None,
             "jpeg_grid_aligned": None if found.quality is None else found.aligned}, table, found.grid)


def whole_image_facts(img: np.ndarray, jpeg_bytes: bytes | None = None) -> dict[str, Any]:
    """What belongs to the whole image, not to a region: its JPEG facts and its enlargement."""
    gray = to_gray(img)
    facts, table, grid = _jpeg_facts(gray, jpeg_bytes)
    enlarged = upscaled_by(gray)
    return {**facts, "upscaled_by": _round(enlarged.factor, 4), "upscale_kernel": enlarged.kernel,
            "_table": table, "_grid": grid}


def measure_array(img: np.ndarray, jpeg_bytes: bytes | None = None,
                  whole: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record (without `file`) of a uint8 gray or RGB image; `jpeg_bytes`: its file when a JPEG.

    `whole`: the whole image's facts (`whole_image_facts`) when `img` is a crop of it on its JPEG grid.
    """
    gray = to_gray(img)
    facts = whole if whole is not None else whole_image_facts(img, jpeg_bytes)
    rec: dict[str, Any] = {"width": int(img.shape[1]), "height": int(img.shape[0]),
                           "channels": 1 if img.ndim == 2 else 3}
    rec.update({k: facts[k] for k in WHOLE})
    noise = noise_sigma(gray, facts["_table"], facts["_grid"])
    tones = levels(gray, noise.sigma)
    edges = blur_sigma(gray, tones.black, tones.white, noise.sigma)
    rec.update(
        blur_sigma=_round(edges.sigma), blur_edges=edges.edges,
        noise_sigma=_round(noise.sigma), noise_fraction=_round(noise.fraction, 4),
        black_point=_round(tones.black, 1), white_point=_round(tones.white, 1), gamma=_round(tones.gamma),
        tone=_round(tone(gray), 4),
    )
    return rec


def _read(path: str | os.PathLike) -> tuple[np.ndarray, bytes | None]:
    img, info = read_image(path, color="auto")
    data = None
    if info.format in ("JPEG", "MPO") and not info.exif_transposed:
        with open(path, "rb") as f:
            data = f.read()
    return img, data


def measure_file(path: str | os.PathLike) -> dict[str, Any]:
    """The record of an image file (raises srkit.core.images.ImageError when it cannot be read)."""
    img, data = _read(path)
    rec = {"file": str(path), **measure_array(img, data)}
    return {key: rec.get(key) for key in FIELDS}


def crop_boxes(img: np.ndarray, size: int, count: int) -> list[tuple[int, int]]:
    """Top-left corners of the crops `sr-data tile` would keep at this size (its grid, border tiles
    shifted in, flat and low-detail ones rejected by its rules), at most `count` of them evenly spread:
    the same parts of a page as the LR tiles show when the raw is that page reduced."""
    gray = to_gray(img)
    if min(gray.shape) < size:
        return []
    boxes = grid(gray.shape[0], gray.shape[1], size, size, "shift")
    kept = [(b.y, b.x) for b, s in zip(boxes, score_boxes(gray, boxes), strict=True)
            if rejection_reason(s, DEFAULT_FLAT_STD, DEFAULT_MIN_LAP) is None]
    if len(kept) > count:
        kept = [kept[i] for i in np.linspace(0, len(kept) - 1, count).astype(np.int64)]
    return kept


def measure_crops(path: str | os.PathLike, size: int, count: int) -> list[dict[str, Any]]:
    """Records of the tile-sized crops of an image file (the whole image when it is under twice the
    size): to compare a folder of large raws with a folder of small LR tiles like with like. The JPEG
    facts and the enlargement belong to the whole image: measured once on it, given to every crop."""
    img, data = _read(path)
    if min(img.shape[:2]) < 2 * size:
        return [measure_file(path)]
    whole = whole_image_facts(img, data)
    out = []
    for y, x in crop_boxes(img, size, count):
        crop = np.ascontiguousarray(img[y:y + size, x:x + size])
        gy, gx = whole["_grid"]
        facts = {**whole, "_grid": ((gy - y) % 8, (gx - x) % 8)}  # the JPEG grid, seen from the crop
        rec = {"file": f"{path}#{y},{x}", **measure_array(crop, data, facts)}
        out.append({key: rec.get(key) for key in FIELDS})
    return out
