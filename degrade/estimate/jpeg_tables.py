"""What a JPEG file says about itself: quality from its quantisation tables, chroma subsampling, progressive.

Quality: libjpeg (the IJG library, used by OpenCV, Pillow, browsers and most tools) makes its tables
by scaling the two standard tables of the JPEG standard (Annex K) with one number from the quality:
scale = 5000 / q below 50, else 200 - 2 q; entry = clamp((base * scale + 50) // 100, 1, 255). We do
not copy those rules: the reference tables of every quality 1..100 are the ones Pillow's libjpeg
writes into a tiny image at that quality (computed once per process). A file's luminance table (and
chrominance table, when present) is compared with all hundred: equal tables give the quality exactly
(`standard`); tables of other encoders (Photoshop, mozjpeg, cameras) are flagged non-standard and
get the quality whose tables are nearest in log scale (the usual way to put them on the IJG scale).
Subsampling and progressive mode are read from Pillow (`JpegImagePlugin.get_sampling`, `info`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, JpegImagePlugin

QUALITIES = tuple(range(1, 101))
_SAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


@dataclass(frozen=True)
class JpegFileInfo:
    quality: int  # the IJG quality (the nearest one when the tables are not standard)
    standard: bool  # the tables are exactly libjpeg's tables of that quality
    subsampling: str  # "4:2:0", "4:2:2", "4:4:4", "gray" or "other"
    progressive: bool
    luma_table: tuple[int, ...]  # the file's own luminance table, 64 entries in row-major order


@lru_cache(maxsize=1)
def standard_tables() -> np.ndarray:
    """(100, 2, 64) int array: libjpeg's luminance and chrominance tables (row-major) of qualities 1..100."""
    out = np.empty((len(QUALITIES), 2, 64), np.int64)
    tiny = Image.new("RGB", (16, 16), (128, 128, 128))
    for i, q in enumerate(QUALITIES):
        buf = io.BytesIO()
        tiny.save(buf, "JPEG", quality=q)
        with Image.open(buf) as im:
            tables = im.quantization
            out[i, 0] = tables[0]
            out[i, 1] = tables[1]
    return out


def nearest_quality(luma: np.ndarray, chroma: np.ndarray | None = None) -> tuple[int, bool]:
    """The IJG quality whose tables equal (standard) or are nearest in log scale to the given ones."""
    ref = standard_tables()
    have = [np.asarray(luma, np.int64).reshape(64)]
    refs = [ref[:, 0]]
    if chroma is not None:
        have.append(np.asarray(chroma, np.int64).reshape(64))
        refs.append(ref[:, 1])
    got = np.concatenate(have)
    table = np.concatenate(refs, axis=1)
    exact = np.flatnonzero((table == got).all(axis=1))
    if exact.size:
        return QUALITIES[int(exact[-1])], True
    dist = np.abs(np.log(table) - np.log(np.maximum(got, 1))).sum(axis=1)
    return QUALITIES[int(np.argmin(dist))], False


def jpeg_file_info(data: bytes) -> JpegFileInfo | None:
    """The JPEG facts of a file's bytes, or None when it is not a JPEG file (or has no tables)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in ("JPEG", "MPO"):
                return None
            tables = getattr(im, "quantization", None) or {}
            layers = getattr(im, "layers", 0)
            sampling = JpegImagePlugin.get_sampling(im) if layers == 3 else None
            progressive = bool(im.info.get("progressive") or im.info.get("progression"))
    except (OSError, SyntaxError, ValueError):
        return None
    if 0 not in tables:
        return None
    chroma = tables.get(1) if layers == 3 else None
    quality, standard = nearest_quality(np.asarray(tables[0]), None if chroma is None else np.asarray(chroma))
    if layers == 1:
        subsampling = "gray"
    else:
        subsampling = _SAMPLING.get(sampling, "other") if sampling is not None else "other"
    return JpegFileInfo(quality=quality, standard=standard, subsampling=subsampling, progressive=progressive,
                        luma_table=tuple(int(v) for v in tables[0]))


def table_of(quality: int) -> np.ndarray:
    """libjpeg's luminance table of an IJG quality, (8, 8) float64 in row-major (natural) order."""
    q = min(100, max(1, int(round(quality))))
    return standard_tables()[q - 1, 0].reshape(8, 8).astype(np.float64)

