"""How far each downscaler is from MATLAB's ``imresize`` (bicubic, antialiased) on real manga tiles.

The benchmark degradations of the field (Set5/Set14 tables, BasicSR's ``imresize``) are MATLAB's
bicubic downscale with its antialiasing kernel widening. This script writes that resampler from its
definition (Keys' cubic, a = -0.5, kernel stretched by 1 / scale when shrinking, symmetric borders,
rows normalised) and reports the mean absolute difference, in gray levels, of Pillow BICUBIC and
OpenCV's INTER_CUBIC / INTER_AREA from it, at 25 % on 400 px tiles of the `dev` manga pages (the
`bicubic_aa` mode of our resize op is Pillow BICUBIC). The figures back the choice of resampler in
the shipped recipes (bench/FIGURES.md).

    python bench/resampling.py [--factor 0.25] [--tile 400]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from srkit.core.images import read_image, to_gray

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def keys_cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def imresize_weights(n_in: int, n_out: int, scale: float) -> np.ndarray:
    """The (n_out, n_in) resampling matrix of MATLAB ``imresize(..., 'bicubic')`` along one axis."""
    width = 4.0 / scale if scale < 1 else 4.0
    out = np.arange(1, n_out + 1, dtype=np.float64)
    centre = out / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(centre - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    dist = centre[:, None] - idx
    w = scale * keys_cubic(dist * scale) if scale < 1 else keys_cubic(dist)
    w /= w.sum(axis=1, keepdims=True)
    # Symmetric (mirror) borders, 1-based indices folded into 0..n_in-1.
    mirrored = np.concatenate([np.arange(n_in), np.arange(n_in - 1, -1, -1)])
    cols = mirrored[np.mod(idx.astype(np.int64) - 1, 2 * n_in)]
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.repeat(np.arange(n_out), taps), cols.ravel()), w.ravel())
    return matrix


def matlab_imresize(gray: np.ndarray, factor: float) -> np.ndarray:
    h, w = gray.shape
    oh, ow = math.ceil(h * factor), math.ceil(w * factor)
    rows, cols = imresize_weights(h, oh, factor), imresize_weights(w, ow, factor)
    out = rows @ gray.astype(np.float64) @ cols.T
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def tiles_of(pages: list[Path], size: int) -> list[np.ndarray]:
    tiles = []
    for page in pages:
        gray = to_gray(read_image(page)[0])
        for y in range(0, gray.shape[0] - size + 1, size):
            for x in range(0, gray.shape[1] - size + 1, size):
                tiles.append(gray[y:y + size, x:x + size])
    return tiles


def dev_manga_pages() -> list[Path]:
    manifest = REAL / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    rows = [line.split("\t") for line in manifest.read_text().splitlines()[1:]]
    return [REAL / r[0] for r in rows if r[0].startswith("manga/") and r[1] == "dev"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=0.25)
    parser.add_argument("--tile", type=int, default=400)
    args = parser.parse_args()
    pages = dev_manga_pages()
    if not pages:
        print(f"no dev manga pages under {REAL}: nothing to measure")
        return
    tiles = tiles_of(pages, args.tile)
    n = math.ceil(args.tile * args.factor)
    others = {
        "Pillow BICUBIC": lambda t: np.asarray(Image.fromarray(t).resize((n, n), Image.Resampling.BICUBIC)),
        "OpenCV INTER_CUBIC": lambda t: cv2.resize(t, (n, n), interpolation=cv2.INTER_CUBIC),
        "OpenCV INTER_AREA": lambda t: cv2.resize(t, (n, n), interpolation=cv2.INTER_AREA),
    }
    diffs: dict[str, list[float]] = {name: [] for name in others}
    for tile in tiles:
        reference = matlab_imresize(tile, args.factor).astype(np.int16)
        for name, resize in others.items():
            diffs[name].append(float(np.abs(resize(tile).astype(np.int16) - reference).mean()))
    print(f"{len(tiles)} tiles of {args.tile} px from {len(pages)} dev manga pages, downscaled to "
          f"{args.factor:g} ({n} px); mean |difference| from MATLAB imresize bicubic, gray levels:")
    for name, values in diffs.items():
        print(f"  {name:20s} mean {np.mean(values):6.2f}   worst tile {np.max(values):6.2f}")


if __name__ == "__main__":
    main()
