"""Run a local image operation tile by tile and assemble its uint8 result: no seams, bounded memory.

The image is cut into a grid of ``tile`` x ``tile`` cores. Each core is processed with ``overlap``
pixels of real image context on every side (clamped at the image border), and only the core's part
of the result is kept. For an operation whose output pixel depends on input pixels within ``overlap``
of it (a network's receptive field, a bicubic kernel, a denoiser's window), the result is exactly the
untiled result; for deep networks a 32 px overlap leaves differences far below one gray level.

Memory: the result is written into one uint8 array as tiles finish, so a run needs the input, the
output in uint8 and a few tiles' worth of working memory, whatever the image size.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

TileFn = Callable[[np.ndarray], np.ndarray]


class OutOfMemory(Exception):
    """The result of an image does not fit in memory; the message says how large it is."""


def tile_count(height: int, width: int, tile: int) -> int:
    """How many tiles ``tiled_map`` runs on an image of this size."""
    if tile <= 0 or (height <= tile and width <= tile):
        return 1
    return math.ceil(height / tile) * math.ceil(width / tile)


def allocate(shape: tuple[int, ...], what: str) -> np.ndarray:
    """An uninitialised uint8 array, or OutOfMemory saying how many bytes ``what`` needed."""
    try:
        return np.empty(shape, np.uint8)
    except MemoryError:
        size = math.prod(shape)
        raise OutOfMemory(f"not enough memory for {what} ({' x '.join(map(str, shape))} = "
                          f"{size / 1e9:.2f} GB)") from None


def tiled_map(
    img: np.ndarray,
    fn: TileFn,
    scale: int,
    tile: int = 512,
    overlap: int = 32,
    on_tile: Callable[[], None] | None = None,
) -> np.ndarray:
    """Apply ``fn`` to ``img`` (H, W, C) uint8 tile by tile; returns uint8 (H*scale, W*scale, C_out).

    ``fn`` maps an (h, w, C) uint8 crop to an (h*scale, w*scale, C_out) uint8 result and must be
    local (see the module docstring). ``tile=0`` runs the whole image at once. ``on_tile`` is called
    after every tile (progress bars).
    """
    h, w = img.shape[:2]
    s = scale
    if tile <= 0 or (h <= tile and w <= tile):
        out = fn(img)
        _check_shape(out, h, w, s)
        if on_tile is not None:
            on_tile()
        return out
    out: np.ndarray | None = None
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            cy0, cx0 = max(0, y0 - overlap), max(0, x0 - overlap)
            cy1, cx1 = min(h, y1 + overlap), min(w, x1 + overlap)
            part = fn(img[cy0:cy1, cx0:cx1])
            _check_shape(part, cy1 - cy0, cx1 - cx0, s)
            if out is None:
                out = allocate((h * s, w * s, part.shape[2]), f"the {w * s} x {h * s} result")
            oy, ox = (y0 - cy0) * s, (x0 - cx0) * s
            out[y0 * s:y1 * s, x0 * s:x1 * s] = part[oy:oy + (y1 - y0) * s, ox:ox + (x1 - x0) * s]
            if on_tile is not None:
                on_tile()
    assert out is not None
    return out


def _check_shape(part: np.ndarray, h: int, w: int, s: int) -> None:
    if part.dtype != np.uint8 or part.ndim != 3 or part.shape[:2] != (h * s, w * s):
        raise ValueError(f"a tile operation must return uint8 (h*{s}, w*{s}, C) for an (h, w) crop: "
                         f"got {part.dtype} {part.shape} for {(h, w)}")
