"""Small real stores for the trainer tests, built from the dev manga pages.

Tiles come from the three `dev` pages (never the `eval` ones), are degraded by the real `rawkuma_like`
recipe (antialiased bicubic to 25 %, blur, JPEG; a box filter x4 when the degrade package is
unavailable) and packed with the real writer (``shards.writer.write_store``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from srkit.core.images import read_image
from srkit.core.keys import page_key, tile_key


def page_tiles(pages: list[Path], tile: int, per_page: int) -> list[tuple[str, np.ndarray]]:
    """Up to ``per_page`` non-blank ``tile``-px tiles from each page, on a regular grid."""
    out = []
    for path in pages:
        img, _ = read_image(path, color="gray")
        page = page_key(path.name)
        h, w = img.shape[:2]
        taken = 0
        for y in range(0, h - tile + 1, tile):
            for x in range(0, w - tile + 1, tile):
                crop = img[y:y + tile, x:x + tile]
                if crop.std() < 20:  # blank paper teaches nothing
                    continue
                out.append((tile_key(page, y, x), np.ascontiguousarray(crop)))
                taken += 1
                if taken >= per_page:
                    break
            if taken >= per_page:
                break
    return out


def build_store(out: Path, pages: list[Path], tile: int = 192, per_page: int = 8,
                recipe: str = "rawkuma_like", val_fraction: float = 0.15, fmt: str = "lmdb") -> Path:
    from srkit.shards.writer import write_store

    tiles = page_tiles(pages, tile, per_page)
    try:
        from srkit.degrade.recipe import load_recipe
    except ImportError:  # the degrade package is absent or incomplete: a plain box-filter x4 instead
        pairs = [(key, hr, cv2.resize(hr, (tile // 4, tile // 4), interpolation=cv2.INTER_AREA))
                 for key, hr in tiles]
        scale = 4
    else:
        rec = load_recipe(recipe)
        pairs = [(key, hr, rec.plan_and_apply(hr, key, None)[0]) for key, hr in tiles]
        scale = rec.scale
    write_store(out, pairs, fmt=fmt, scale=scale, codec="raw", val_fraction=val_fraction,
                shard_size=max(1, sum(hr.nbytes for _, hr, _ in pairs) // 3))
    return out
