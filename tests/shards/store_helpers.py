"""Helpers for the store tests: small pairs in memory and workspaces laid out as tile/degrade write them.

A module of its own (not conftest.py) so that `import` finds it whatever other test folders run alongside.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from srkit.core.images import write_png
from srkit.core.manifest import JsonlAppender, canonical_json


def make_pair(rng: np.random.Generator, size: int = 32, scale: int = 2, rgb: bool = False,
              blank: bool = False) -> tuple[np.ndarray, np.ndarray]:
    shape = (size, size, 3) if rgb else (size, size)
    hr = np.full(shape, 255, np.uint8) if blank else rng.integers(0, 256, shape, dtype=np.uint8)
    lr = cv2.resize(hr, (size // scale, size // scale), interpolation=cv2.INTER_AREA)
    return hr, np.ascontiguousarray(lr)


def make_pairs(n: int, seed: int = 0, size: int = 32, scale: int = 2, rgb: bool = False,
               pages: int = 4, blank_first: bool = False) -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        hr, lr = make_pair(rng, size, scale, rgb, blank=blank_first and i == 0)
        out.append((f"page{i % pages}-0a1b2c3d_{i:05d}_00000", hr, lr))
    return sorted(out, key=lambda p: p[0])


def make_workspace(root: Path, pairs, scale: int, recipe: str = "test_recipe") -> tuple[Path, Path]:
    """``tiles/`` and ``lr/<recipe>/`` with the manifests tile and degrade write (see the brief)."""
    tiles = root / "tiles"
    lr_dir = root / "lr" / recipe
    tiles.mkdir(parents=True)
    lr_dir.mkdir(parents=True)
    recipe_hash = hashlib.sha256(recipe.encode()).hexdigest()
    with JsonlAppender(tiles / "tiles.jsonl") as tiles_log, \
            JsonlAppender(lr_dir / "degradations.jsonl") as deg_log:
        pages = sorted({key.rsplit("_", 2)[0] for key, _, _ in pairs})
        for key, hr, lr in pairs:
            page = key.rsplit("_", 2)[0]
            hr_bytes = write_png(tiles / f"{key}.png", hr, 1)
            lr_bytes = write_png(lr_dir / f"{key}.png", lr, 1)
            c = 1 if hr.ndim == 2 else 3
            tiles_log.write({"type": "tile", "key": key, "page": page, "source": f"{page}.png",
                             "source_sha256": "0" * 64, "x": 0, "y": 0, "w": hr.shape[1], "h": hr.shape[0],
                             "channels": c, "scores": {}, "status": "kept", "reason": None,
                             "file": f"{key}.png"})
            deg_log.write({"key": key, "hr_sha256": hashlib.sha256(hr_bytes).hexdigest(),
                           "lr_sha256": hashlib.sha256(lr_bytes).hexdigest(), "recipe": recipe,
                           "recipe_hash": recipe_hash, "seed": 0, "sample_seed": 1, "scale": scale,
                           "hr_shape": [hr.shape[0], hr.shape[1], c],
                           "lr_shape": [lr.shape[0], lr.shape[1], c],
                           "steps": [], "versions": {}})
        for page in pages:
            tiles_log.write({"type": "page", "page": page, "source": f"{page}.png", "status": "complete"})
    (lr_dir / "run.json").write_text(canonical_json({"recipe": recipe, "recipe_hash": recipe_hash,
                                                     "scale": scale, "seed": 0, "tiles_dir": str(tiles)}))
    return tiles, lr_dir
