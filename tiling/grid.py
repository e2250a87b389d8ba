"""Where tiles go on a page: positions along one axis, then the boxes of the whole grid.

Tiles start every ``step`` pixels. The remainder at the right and bottom borders, when the page is
not a whole number of steps, is handled by the edge mode:

- ``shift`` (default): one extra tile aligned to the border, overlapping its neighbour; every pixel
  lies in some tile and no tile leaves the page.
- ``drop``: the remainder is not tiled.
- ``pad``: tiles continue past the border and are padded with white (manga paper); every pixel lies
  in some tile and the manifest records the true (unpadded) size.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

EdgeMode = Literal["shift", "drop", "pad"]
EDGE_MODES = ("shift", "drop", "pad")


class Box(NamedTuple):
    """A tile's place on the page. ``w``/``h`` is the tile size; ``true_w``/``true_h`` the part inside."""

    y: int
    x: int
    h: int
    w: int
    true_h: int
    true_w: int

    @property
    def padded(self) -> bool:
        return self.true_h < self.h or self.true_w < self.w


def positions(length: int, size: int, step: int, edge: EdgeMode = "shift") -> list[int]:
    """Start offsets of the tiles along an axis of ``length`` pixels (sorted, unique)."""
    if size < 1 or step < 1:
        raise ValueError(f"tile size and step must be at least 1 (size={size}, step={step})")
    if edge not in EDGE_MODES:
        raise ValueError(f"edge must be one of {', '.join(EDGE_MODES)}, not {edge!r}")
    if length <= 0:
        return []
    if edge == "pad":
        # Continue until a tile reaches the border; the last one may stick out and is padded.
        out = [0]
        while out[-1] + size < length:
            out.append(out[-1] + step)
        return out
    if length < size:
        return []
    out = list(range(0, length - size + 1, step))
    if edge == "shift" and out[-1] + size < length:
        out.append(length - size)
    return out


def grid(height: int, width: int, size: int, step: int, edge: EdgeMode = "shift") -> list[Box]:
    """All tile boxes of a ``height`` x ``width`` page, row by row (the key order)."""
    boxes = []
    for y in positions(height, size, step, edge):
        for x in positions(width, size, step, edge):
            boxes.append(Box(y, x, size, size, min(size, height - y), min(size, width - x)))
    return boxes


def too_small_reason(height: int, width: int, size: int, edge: EdgeMode) -> str | None:
    """Why a page yields no tile at all, or None when it yields some."""
    if edge == "pad" or (height >= size and width >= size):
        return None
    return (f"image is {width} x {height}, smaller than one {size} x {size} tile "
            "(use a smaller --size, or --edge pad to pad it with white)")
