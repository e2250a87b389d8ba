"""Procedural manga-like pages for the demo and for tests: no files needed, the same pages every run.

A page is white paper with a margin, a grid of panels with black borders, and in each panel a mix of
what a real manga page holds: dot screentone fills at several pitches and angles (and a tone
gradient), line art (curves and hatching), solid blacks, and speech balloons with vertical rows of
text-like strokes. Drawn at twice the size and area-downsampled so edges carry the soft gray
transitions of a scan.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from srkit.core.images import write_png

SUPERSAMPLE = 2


def _screentone(shape: tuple[int, int], pitch: float, angle_deg: float, coverage: np.ndarray | float,
                square: bool = False) -> np.ndarray:
    """Boolean mask of a dot screen: dots on a rotated square grid, dot area = coverage of a cell."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = math.radians(angle_deg)
    u = xx * math.cos(a) + yy * math.sin(a)
    v = -xx * math.sin(a) + yy * math.cos(a)
    du = (u % pitch) - pitch / 2
    dv = (v % pitch) - pitch / 2
    cov = np.clip(np.asarray(coverage, np.float32), 0.0, 1.0)
    if square:
        half = np.sqrt(cov) * pitch / 2
        return (np.abs(du) < half) & (np.abs(dv) < half)
    radius = np.sqrt(cov / math.pi) * pitch
    return du * du + dv * dv < radius * radius


def _balloon(canvas: np.ndarray, rng: np.random.Generator, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    ax, ay = max(8, (x1 - x0) // 2), max(8, (y1 - y0) // 2)
    cv2.ellipse(canvas, (cx, cy), (ax, ay), 0, 0, 360, 255, -1, cv2.LINE_AA)
    cv2.ellipse(canvas, (cx, cy), (ax, ay), 0, 0, 360, 0, 2 * SUPERSAMPLE, cv2.LINE_AA)
    # vertical "text": columns of short strokes, right to left as Japanese is read
    glyph = max(6, int(ay * 0.18))
    cols = max(1, int(ax * 1.2 / (glyph * 1.6)))
    for c in range(cols):
        x = cx + int((cols / 2 - c - 0.5) * glyph * 1.6)
        n_glyphs = int(rng.integers(2, max(3, int(1.4 * ay / glyph))))
        for g in range(n_glyphs):
            y = cy - int(0.7 * ay) + g * int(glyph * 1.2)
            for _ in range(int(rng.integers(2, 5))):
                p1 = (x + int(rng.integers(-glyph // 2, glyph // 2)), y + int(rng.integers(0, glyph)))
                p2 = (x + int(rng.integers(-glyph // 2, glyph // 2)), y + int(rng.integers(0, glyph)))
                cv2.line(canvas, p1, p2, 0, max(1, SUPERSAMPLE), cv2.LINE_AA)


def _line_art(canvas: np.ndarray, rng: np.random.Generator, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    for _ in range(int(rng.integers(4, 10))):
        pts = np.stack([rng.integers(x0, x1, 4), rng.integers(y0, y1, 4)], axis=1).astype(np.float64)
        t = np.linspace(0, 1, 40)[:, None]
        curve = ((1 - t) ** 3 * pts[0] + 3 * (1 - t) ** 2 * t * pts[1] + 3 * (1 - t) * t ** 2 * pts[2]
                 + t ** 3 * pts[3])
        thickness = int(rng.integers(1, 4)) * SUPERSAMPLE
        cv2.polylines(canvas, [curve.astype(np.int32)], False, 0, thickness, cv2.LINE_AA)
    if rng.random() < 0.6:  # hatching
        hx, hy = int(rng.integers(x0, max(x0 + 1, x1 - 60))), int(rng.integers(y0, max(y0 + 1, y1 - 60)))
        step = int(rng.integers(3, 7)) * SUPERSAMPLE
        for k in range(0, 60 * SUPERSAMPLE // 2, step):
            cv2.line(canvas, (hx + k, hy), (hx, hy + k), 0, SUPERSAMPLE // 2 + 1, cv2.LINE_AA)
    if rng.random() < 0.5:  # a solid black shape (hair, shadow)
        c = (int(rng.integers(x0, x1)), int(rng.integers(y0, y1)))
        axes = (int(rng.integers(10, max(11, (x1 - x0) // 4))),
                int(rng.integers(10, max(11, (y1 - y0) // 4))))
        cv2.ellipse(canvas, c, axes, float(rng.uniform(0, 180)), 0, 360, 0, -1, cv2.LINE_AA)


def manga_page(height: int = 1600, width: int = 1131, seed: int = 0) -> np.ndarray:
    """One synthetic gray manga page (uint8, H x W), deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    H, W = height * SUPERSAMPLE, width * SUPERSAMPLE
    canvas = np.full((H, W), 255, np.uint8)
    margin = int(0.06 * W)
    gutter = int(0.015 * W)
    rows = int(rng.integers(2, 4))
    row_edges = np.linspace(margin, H - margin, rows + 1).astype(int)
    for r in range(rows):
        cols = int(rng.integers(1, 3))
        col_edges = np.linspace(margin, W - margin, cols + 1).astype(int)
        for c in range(cols):
            x0, x1 = col_edges[c] + gutter // 2, col_edges[c + 1] - gutter // 2
            y0, y1 = row_edges[r] + gutter // 2, row_edges[r + 1] - gutter // 2
            panel = canvas[y0:y1, x0:x1]
            ph, pw = panel.shape
            kind = int(rng.integers(0, 3))
            pitch = float(rng.choice([5.0, 6.0, 8.0, 10.0])) * SUPERSAMPLE
            angle = float(rng.choice([0.0, 15.0, 45.0, 30.0]))
            if kind == 0:  # flat tone over the lower part of the panel
                cut = int(ph * rng.uniform(0.3, 0.7))
                mask = _screentone((ph - cut, pw), pitch, angle, float(rng.uniform(0.1, 0.5)))
                panel[cut:][mask] = 0
            elif kind == 1:  # gradient tone (dot size grows down the panel)
                cov = np.linspace(0.05, 0.7, ph, dtype=np.float32)[:, None]
                mask = _screentone((ph, pw), pitch, angle, cov, square=bool(rng.random() < 0.3))
                panel[mask] = 0
            _line_art(panel, rng, (0, 0, pw, ph))
            if rng.random() < 0.7:
                bw, bh = int(pw * rng.uniform(0.25, 0.4)), int(ph * rng.uniform(0.35, 0.6))
                bx, by = int(rng.integers(0, max(1, pw - bw))), int(rng.integers(0, max(1, ph - bh)))
                _balloon(panel, rng, (bx, by, bx + bw, by + bh))
            cv2.rectangle(canvas, (x0, y0), (x1, y1), 0, 3 * SUPERSAMPLE)
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)


def write_manga_pages(out_dir: str | Path, count: int = 4, height: int = 1600, width: int = 1131,
                      seed: int = 0) -> list[Path]:
    """Write ``count`` synthetic pages as PNG files ``page-NN.png``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = out / f"page-{i:02d}.png"
        write_png(path, manga_page(height, width, seed=seed * 1000 + i), level=1)
        paths.append(path)
    return paths
