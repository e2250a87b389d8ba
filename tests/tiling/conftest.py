"""Fixtures of the tiling tests: small generated manga-like pages written as files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest


def manga_like(height: int = 300, width: int = 260, seed: int = 0, rgb: bool = False) -> np.ndarray:
    """White paper, random strokes in the top half, a dot screentone in the bottom half, a black box."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 255, np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    tone = ((yy % 6) - 3) ** 2 + ((xx % 6) - 3) ** 2 < 4
    img[(yy > height // 2) & tone] = 0
    for _ in range(30):
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height // 2)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height // 2)))
        cv2.line(img, p1, p2, 0, int(rng.integers(1, 4)), cv2.LINE_AA)
    cv2.rectangle(img, (5, height // 2 - 30), (60, height // 2 - 5), 0, -1)
    if rgb:
        color = np.stack([img, img, img], axis=2)
        color[10:60, width - 60:width - 10, 0] = 220
        color[10:60, width - 60:width - 10, 2] = 30
        return np.ascontiguousarray(color)
    return img


def save(path: Path, img: np.ndarray) -> Path:
    """Write an image in the in-memory convention (RGB order) with the format of ``path``'s suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(path.suffix, bgr)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


@pytest.fixture(scope="session")
def make_page() -> Callable[..., np.ndarray]:
    return manga_like


@pytest.fixture(scope="session")
def save_image() -> Callable[[Path, np.ndarray], Path]:
    return save


@pytest.fixture
def pages_dir(tmp_path: Path) -> Path:
    """A folder of five small generated pages (gray PNG/JPEG, one RGB) in nested folders."""
    root = tmp_path / "pages"
    save(root / "ch1" / "001.png", manga_like(seed=1))
    save(root / "ch1" / "002.jpg", manga_like(seed=2))
    save(root / "ch2" / "003.png", manga_like(seed=3, rgb=True))
    save(root / "ch2" / "004.png", manga_like(280, 300, seed=4))
    save(root / "005.bmp", manga_like(seed=5))
    return root
