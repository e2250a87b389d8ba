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

# The numeric fields a fit summarises and compare compares, in the order they are shown.
FEATURES = ("jpeg_quality", "blur_sigma", "noise_sigma", "upscaled_by", "black_point", "white_point",
            "gamma", "tone")
FIELDS = ("file", "width", "height", "channels", "jpeg_quality", "jpeg_quality_source", "jpeg_tables",
          "subsampling", "progressive", "jpeg_grid_aligned", "upscaled_by", "upscale_kernel",
          "blur_sigma", "blur_edges", "noise_sigma", "noise_fraction", "black_point", "white_point",
          "gamma", "tone")


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else float(round(float(value), digits))


def measure_array(img: np.ndarray, jpeg_bytes: bytes | None = None) -> dict[str, Any]:
    """The record (without `file`) of a uint8 gray or RGB image; `jpeg_bytes`: its file when a JPEG."""
    gray = to_gray(img)
    info = jpeg_file_info(jpeg_bytes) if jpeg_bytes else None
    rec: dict[str, Any] = {"width": int(img.shape[1]), "height": int(img.shape[0]),
                           "channels": 1 if img.ndim == 2 else 3}
    if info is not None:
        table = np.asarray(info.luma_table, np.float64).reshape(8, 8)
        grid, aligned = (0, 0), True
        rec.update(jpeg_quality=info.quality, jpeg_quality_source="tables",
                   jpeg_tables="standard" if info.standard else "nonstandard",
                   subsampling=info.subsampling, progressive=info.progressive)
    else:
        found = estimate_from_blocks(gray)
        grid, aligned = found.grid, found.aligned
        table = None if found.quality is None else table_of(found.quality)
        source = None if found.quality is None else "blockiness"
        rec.update(jpeg_quality=found.quality, jpeg_quality_source=source, jpeg_tables=None, subsampling=None,
                   progressive=None)
    rec["jpeg_grid_aligned"] = aligned if rec["jpeg_quality"] is not None else None
    noise = noise_sigma(gray, table, grid)
    tones = levels(gray, noise.sigma)
    edges = blur_sigma(gray, tones.black, tones.white, noise.sigma)
    enlarged = upscaled_by(gray)
    rec.update(
        upscaled_by=_round(enlarged.factor, 4), upscale_kernel=enlarged.kernel,
        blur_sigma=_round(edges.sigma), blur_edges=edges.edges,
        noise_sigma=_round(noise.sigma), noise_fraction=_round(noise.fraction, 4),
        black_point=_round(tones.black, 1), white_point=_round(tones.white, 1), gamma=_round(tones.gamma),
        tone=_round(tone(gray), 4),
    )
    return rec


def measure_file(path: str | os.PathLike, max_pixels: int | None = None) -> dict[str, Any]:
    """The record of an image file (raises srkit.core.images.ImageError when it cannot be read)."""
    kwargs = {} if max_pixels is None else {"max_pixels": max_pixels}
    img, info = read_image(path, color="auto", **kwargs)
    data = None
    if info.format in ("JPEG", "MPO") and not info.exif_transposed:
        with open(path, "rb") as f:
            data = f.read()
    rec = {"file": str(path), **measure_array(img, data)}
    return {key: rec.get(key) for key in FIELDS}
