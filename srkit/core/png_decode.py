"""Decoding the PNG tiles this toolkit wrote itself, at the speed of a faster inflate.

PNG decoding is lossless, so any correct decoder gives the same pixels; the cost of a 400 px tile is
almost all zlib inflate. pepeline (MIT, the image library behind the pepedd degrader, prebuilt abi3
wheels for Linux, macOS and Windows) decodes such a tile in about 0.32 ms against OpenCV's 0.71 ms
(one core; figure in bench/FIGURES.md). Its decoder aborts with a Rust panic on data it cannot read,
so it only ever sees bytes whose sha256 matched the record of the stage that wrote them, with an
IHDR of the two kinds our encoder writes (8-bit gray or RGB, not interlaced); anything else, or a
machine without pepeline, takes OpenCV's path (``decode_png``), which also gives the clear errors.
"""

from __future__ import annotations

import struct

import numpy as np

from srkit.core.images import decode_png

try:
    import pepeline

    pepeline.rayon_mode(False)  # one thread per worker: the stages parallelise over processes
except ImportError:  # pragma: no cover - pepeline is a dependency; a broken install falls back
    pepeline = None

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GRAY, _RGB = 0, 2  # PNG colour types


def png_header(data: bytes) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit depth, colour type, interlace) from a PNG's IHDR, or None if not a PNG."""
    if len(data) < 29 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return width, height, depth, colour, interlace


def png_kind(data: bytes) -> int | None:
    """The colour type of an 8-bit, non-interlaced PNG (0 gray, 2 RGB), else None."""
    header = png_header(data)
    if header is None:
        return None
    width, height, depth, colour, interlace = header
    if width == 0 or height == 0 or depth != 8 or interlace != 0 or colour not in (_GRAY, _RGB):
        return None
    return colour


def decode_verified_png(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode PNG bytes we wrote and whose checksum was just verified; same result as ``decode_png``."""
    kind = png_kind(data)
    if pepeline is None or kind is None:
        return decode_png(data, source)
    mode = pepeline.ImgColor.GRAY if kind == _GRAY else pepeline.ImgColor.RGB
    return np.ascontiguousarray(pepeline.buff_read(data, mode, pepeline.ImgFormat.U8))
