"""compare.png: for each feature, the LR's and the raws' distributions overlaid (OpenCV, no plotting library).

One panel per feature, two columns: a histogram of each side on common bins (raws filled orange, LR
outlined blue, both scaled to their own count so folders of different sizes compare), the medians as
vertical lines, and the feature's distance in the title (green below 1 tolerance unit, red above).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from srkit.core.images import write_png

PANEL_W, PANEL_H, PAD = 460, 190, 36
BINS = 24
RAWS = (230, 140, 40)  # RGB
LR = (40, 90, 200)
TEXT = (20, 20, 20)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _put(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.45,
         color: tuple[int, int, int] = TEXT) -> None:
    cv2.putText(img, text, org, FONT, scale, color, 1, cv2.LINE_AA)


def _panel(key: str, entry: dict[str, Any]) -> np.ndarray:
    img = np.full((PANEL_H, PANEL_W, 3), 255, np.uint8)
    a, b = np.asarray(entry["a_values"], np.float64), np.asarray(entry["b_values"], np.float64)
    dist = entry.get("distance")
    title = f"{key}   distance {dist:.2f}" if dist is not None else f"{key}   (not measured on both)"
    colour = TEXT if dist is None else ((30, 140, 30) if dist < 1 else (200, 30, 30))
    _put(img, title, (8, 18), 0.5, colour)
    both = np.concatenate([a, b])
    if not both.size:
        return img
    lo, hi = float(both.min()), float(both.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    left, right, top, bottom = PAD, PANEL_W - 12, 28, PANEL_H - 26
    edges = np.linspace(lo, hi, BINS + 1)
    ha = np.histogram(a, edges)[0] / max(1, a.size)
    hb = np.histogram(b, edges)[0] / max(1, b.size)
    peak = max(float(ha.max(initial=0)), float(hb.max(initial=0)), 1e-9)

    def x_of(v: float) -> int:
        return int(round(left + (v - lo) / (hi - lo) * (right - left)))

    def y_of(h: float) -> int:
        return int(round(bottom - h / peak * (bottom - top)))

    overlay = img.copy()
    for i in range(BINS):
        if hb[i] > 0:
            cv2.rectangle(overlay, (x_of(edges[i]), y_of(hb[i])), (x_of(edges[i + 1]), bottom), RAWS, -1)
    img[:] = cv2.addWeighted(overlay, 0.55, img, 0.45, 0)
    for i in range(BINS):
        if ha[i] > 0:
            cv2.rectangle(img, (x_of(edges[i]), y_of(ha[i])), (x_of(edges[i + 1]), bottom), LR, 2)
    for values, colour in ((b, RAWS), (a, LR)):
        if values.size:
            x = x_of(float(np.median(values)))
            cv2.line(img, (x, top), (x, bottom), colour, 1, cv2.LINE_AA)
    cv2.line(img, (left, bottom), (right, bottom), TEXT, 1)
    _put(img, f"{lo:.3g}", (left - 4, PANEL_H - 8), 0.4)
    _put(img, f"{hi:.3g}", (right - 40, PANEL_H - 8), 0.4)
    return img


def plot_comparison(features: dict[str, dict[str, Any]], overall: float | None, a_label: str, b_label: str,
                    out_png: str | Path) -> Path:
    panels = [_panel(k, v) for k, v in features.items()]
    if len(panels) % 2:
        panels.append(np.full_like(panels[0], 255))
    rows = [np.concatenate(panels[i:i + 2], axis=1) for i in range(0, len(panels), 2)]
    head = np.full((54, rows[0].shape[1], 3), 255, np.uint8)
    total = ("overall distance n/a" if overall is None
             else f"overall distance {overall:.2f} (1 = one tolerance unit)")
    _put(head, total, (8, 20), 0.55)
    cv2.rectangle(head, (8, 32), (26, 46), LR, 2)
    _put(head, a_label[:60], (32, 45), 0.45)
    cv2.rectangle(head, (PANEL_W + 8, 32), (PANEL_W + 26, 46), RAWS, -1)
    _put(head, b_label[:60], (PANEL_W + 32, 45), 0.45)
    out = Path(out_png)
    write_png(out, np.concatenate([head, *rows], axis=0), level=6)
    return out
