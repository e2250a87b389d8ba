"""Shared fixtures: the real images in ../shared (skipped cleanly when absent) and small generated ones."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED = Path(PROJECT.parent / "shared")
REAL = SHARED / "data" / "real"


def real_images(role: str | None = None, folder: str | None = None) -> list[Path]:
    """Paths of the real images listed in MANIFEST.tsv, filtered by role (dev/eval) and folder."""
    manifest = REAL / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    out = []
    with open(manifest, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if role and row["role"] != role:
                continue
            if folder and not row["file"].startswith(folder + "/"):
                continue
            out.append(REAL / row["file"])
    return out


@pytest.fixture(scope="session")
def manga_dev_pages() -> list[Path]:
    """The real manga pages with role `dev` (free to use in tests)."""
    pages = real_images(role="dev", folder="manga")
    if not pages:
        pytest.skip("../shared/data/real is absent (a user's clone has none): real-page tests skipped")
    return pages


@pytest.fixture(scope="session")
def real_root() -> Path:
    if not REAL.exists():
        pytest.skip("../shared/data/real is absent (a user's clone has none): real-image tests skipped")
    return REAL


def synthetic_page(height: int = 900, width: int = 700, seed: int = 0, rgb: bool = False) -> np.ndarray:
    """A small manga-like page: white paper margins, line strokes, a dot screentone, a solid black."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 255, np.uint8)
    import cv2

    m = 40
    yy, xx = np.mgrid[0:height, 0:width]
    pitch = 6
    tone = (((yy % pitch) - pitch / 2) ** 2 + ((xx % pitch) - pitch / 2) ** 2) < 4
    region = (yy > height // 2) & (xx > m) & (xx < width - m) & (yy < height - m)
    img[region & tone] = 0
    for _ in range(40):
        p1 = (int(rng.integers(m, width - m)), int(rng.integers(m, height // 2)))
        p2 = (int(rng.integers(m, width - m)), int(rng.integers(m, height // 2)))
        cv2.line(img, p1, p2, 0, int(rng.integers(1, 4)), cv2.LINE_AA)
    cv2.rectangle(img, (m, height // 2 - 60), (m + 120, height // 2 - 10), 0, -1)
    if rgb:
        color = np.stack([img, img, img], axis=2).copy()
        color[m:m + 100, width - m - 100:width - m, 0] = 200
        color[m:m + 100, width - m - 100:width - m, 2] = 30
        return color
    return img
