"""A PNG plot of a run's ``metrics.jsonl`` drawn with OpenCV (no plotting library needed).

Top panel: training losses (log scale) against the iteration; then validation PSNR of the model and
of the bicubic baseline; then the manga scores ``tone_kept`` and ``line_f1`` of both (0..1). The
panels share one iteration axis, from 0 to the last iteration logged, so a single validation point
sits where it belongs; the legend is above each frame, never over the data.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from srkit.core.images import write_png
from srkit.core.manifest import read_jsonl

COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
W, H, MARGIN = 900, 300, 60
MANGA_SERIES = {"tone_kept": "tone_kept", "bicubic tone": "bicubic_tone_kept",
                "line_f1": "line_f1", "bicubic line": "bicubic_line_f1"}


def _panel(series: dict[str, list[tuple[float, float]]], title: str, log: bool,
           x_range: tuple[float, float]) -> np.ndarray:
    img = np.full((H, W, 3), 255, np.uint8)
    cv2.putText(img, title, (MARGIN, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    points = [(x, y) for pts in series.values() for x, y in pts if math.isfinite(y) and (y > 0 or not log)]
    if not points:
        cv2.putText(img, "no data yet", (W // 2 - 50, H // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
        return img
    ys = [math.log10(p[1]) if log else p[1] for p in points]
    x0, x1 = x_range
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = (y1 - y0) * 0.06  # no point drawn on the frame
    y0, y1 = y0 - pad, y1 + pad
    left, right, top, bottom = MARGIN, W - 20, 35, H - 35
    cv2.rectangle(img, (left, top), (right, bottom), (0, 0, 0), 1)

    def to_px(x: float, y: float) -> tuple[int, int]:
        px = left + (x - x0) / (x1 - x0) * (right - left)
        py = bottom - (y - y0) / (y1 - y0) * (bottom - top)
        return int(round(px)), int(round(py))

    for k in range(5):
        yv = y0 + (y1 - y0) * k / 4
        _, py = to_px(x0, yv)
        label = f"{10 ** yv:.3g}" if log else f"{yv:.2f}"
        cv2.putText(img, label, (2, py + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (80, 80, 80), 1, cv2.LINE_AA)
        cv2.line(img, (left, py), (right, py), (225, 225, 225), 1)
    for k in range(5):
        xv = x0 + (x1 - x0) * k / 4
        px, _ = to_px(xv, y0)
        label = f"{xv:,.0f}"
        (tw, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1)
        cv2.line(img, (px, bottom), (px, bottom + 4), (0, 0, 0), 1)
        cv2.putText(img, label, (px - tw // 2, bottom + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (80, 80, 80), 1,
                    cv2.LINE_AA)
    cv2.putText(img, "iteration", (right - 70, H - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1,
                cv2.LINE_AA)
    legend_x = right
    for i, pts in enumerate(series.values()):
        color = COLORS[i % len(COLORS)]
        good = [(x, math.log10(y) if log else y) for x, y in pts if math.isfinite(y) and (y > 0 or not log)]
        poly = np.array([to_px(x, y) for x, y in good], np.int32)
        if len(poly) > 1:
            cv2.polylines(img, [poly], False, color, 2, cv2.LINE_AA)
        elif len(poly) == 1:
            cv2.circle(img, tuple(int(v) for v in poly[0]), 3, color, -1)
    for i, name in reversed(list(enumerate(series))):  # right-aligned, above the frame
        (tw, _), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        legend_x -= tw + 26
        color = COLORS[i % len(COLORS)]
        cv2.line(img, (legend_x, 16), (legend_x + 14, 16), color, 2, cv2.LINE_AA)
        cv2.putText(img, name, (legend_x + 18, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)
    return img


def plot_metrics(metrics_file: Path, out_png: Path) -> Path:
    losses: dict[str, list[tuple[float, float]]] = {}
    val: dict[str, list[tuple[float, float]]] = {"val_psnr": [], "bicubic_psnr": []}
    manga: dict[str, list[tuple[float, float]]] = {name: [] for name in MANGA_SERIES}
    for rec in read_jsonl(metrics_file):
        it = float(rec.get("iter", 0))
        if rec.get("kind") == "train":
            for key, value in rec.items():
                if key.startswith("l_") and isinstance(value, (int, float)):
                    losses.setdefault(key, []).append((it, float(value)))
        elif rec.get("kind") == "val":
            val["val_psnr"].append((it, float(rec["psnr"])))
            val["bicubic_psnr"].append((it, float(rec["bicubic_psnr"])))
            for name, key in MANGA_SERIES.items():  # absent from runs logged before these scores, or None
                if isinstance(rec.get(key), (int, float)):
                    manga[name].append((it, float(rec[key])))
    last = max((x for pts in (*losses.values(), *val.values()) for x, _ in pts), default=1.0)
    x_range = (0.0, max(last, 1.0))
    img = np.concatenate([_panel(losses, "training losses (log)", log=True, x_range=x_range),
                          _panel(val, "validation PSNR (dB, Y)", log=False, x_range=x_range),
                          _panel(manga, "validation tone_kept / line_f1", log=False, x_range=x_range)],
                         axis=0)
    write_png(out_png, img, level=3)
    return out_png
