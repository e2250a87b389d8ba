"""Helpers shared by the degrade tests (a uniquely named module: `from conftest import` would
pick whichever test folder's conftest was imported last)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from srkit.core.images import write_png
from srkit.core.keys import tile_key
from srkit.core.manifest import JsonlAppender


def manga_like_tile(size: int, seed: int, rgb: bool = False) -> np.ndarray:
    """Paper, strokes of several widths and a dot screentone patch; RGB adds a coloured block."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size), 255, np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    pitch = int(rng.integers(4, 8))
    tone = (((yy % pitch) - pitch / 2) ** 2 + ((xx % pitch) - pitch / 2) ** 2) < pitch
    img[(yy > size // 2) & tone] = 0
    for _ in range(8):
        p1 = tuple(int(v) for v in rng.integers(0, size, 2))
        p2 = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.line(img, p1, p2, 0, int(rng.integers(1, 4)), cv2.LINE_AA)
    if not rgb:
        return img
    color = np.stack([img] * 3, axis=2)
    color[: size // 3, : size // 3] = (200, 40, 30)
    return np.ascontiguousarray(color)


def write_tiles(folder: Path, tiles: dict[str, list[np.ndarray]], incomplete_page: str | None = None) -> Path:
    """Write ``{page: [tile, ...]}`` as ``folder/KEY.png`` + ``tiles.jsonl`` (the tiler's contract).

    The page named ``incomplete_page`` gets no completion record (its tiles must be ignored).
    """
    folder.mkdir(parents=True, exist_ok=True)
    with JsonlAppender(folder / "tiles.jsonl") as log:
        for page, images in tiles.items():
            for i, img in enumerate(images):
                key = tile_key(page, 0, i * img.shape[1])
                write_png(folder / f"{key}.png", img)
                log.write({"type": "tile", "key": key, "page": page, "status": "kept", "file": f"{key}.png",
                           "x": i * img.shape[1], "y": 0, "w": img.shape[1], "h": img.shape[0],
                           "channels": 1 if img.ndim == 2 else 3, "source": f"{page}.png",
                           "scores": {}, "reason": None})
            log.write({"type": "tile", "key": tile_key(page, 99999, 0), "page": page, "status": "rejected",
                       "file": None, "reason": "flat"})
            if page != incomplete_page:
                log.write({"type": "page", "page": page, "status": "complete", "source": f"{page}.png"})
    return folder
