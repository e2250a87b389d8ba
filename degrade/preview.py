"""A contact sheet to judge a degradation by eye: HR crop | LR nearest | LR bicubic, steps below.

Each sample shows the most detailed square of its HR tile at 1:1, the same region of its LR tile
upscaled back to that size with nearest neighbour (the true LR pixels) and with bicubic (what a
naive upscaler would give), and the steps it went through, with their drawn parameters.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from srkit.core.console import UsageError
from srkit.core.files import inside
from srkit.core.images import read_png, to_rgb, write_png
from srkit.core.keys import check_key
from srkit.core.manifest import read_jsonl
from srkit.degrade.replay import read_run_info, resolve_log
from srkit.degrade.run import recorded_tiles_dir

CROP = 192
GAP = 8
COLUMNS = 2
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.42
LINE_H = 16
INK = (20, 20, 20)
FAINT = (130, 130, 130)
BACKGROUND = 255
HIDDEN_PARAMS = {"noise_seed"}


def find_lr_dir(lr_root: str | os.PathLike = "lr") -> Path:
    """The single degraded folder under ``lr_root``; a clear error when there are none or several."""
    root = Path(lr_root)
    found = sorted(p.parent for p in root.glob("*/degradations.jsonl")) if root.is_dir() else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(f"no degraded folder under {root}/: run `sr-data degrade --recipe NAME` first "
                         "or pass --lr")
    raise UsageError(f"several degraded folders under {root}/ ({', '.join(p.name for p in found)}): "
                     "choose one with --lr")


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "x".join(format_value(v) for v in value)
    return str(value)


def describe_step(entry: dict[str, Any]) -> str:
    """One line for a plan entry: ``name: op k=v ...`` with short numbers, sizes as ``WxH``."""
    params = dict(entry.get("params", {}))
    parts = []
    if "out_h" in params and "out_w" in params:
        parts.append(f"to {params.pop('out_w')}x{params.pop('out_h')}")
    parts += [f"{k}={format_value(v)}" for k, v in sorted(params.items()) if k not in HIDDEN_PARAMS]
    name = entry.get("name")
    label = f"{name}: " if name and name != entry["op"] else ""
    return f"{label}{entry['op']} " + " ".join(parts)


def describe_plan(plan: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(lines of applied steps, names of skipped steps)."""
    applied = [describe_step(e) for e in plan if not e.get("skipped") and "params" in e]
    skipped = [e.get("name") or e["op"] for e in plan if e.get("skipped")]
    return applied, skipped


def _wrap(text: str, width_px: int) -> list[str]:
    (char_w, _), _ = cv2.getTextSize("n", FONT, FONT_SCALE, 1)
    per_line = max(10, width_px // max(1, char_w))
    lines = []
    while len(text) > per_line:
        cut = text.rfind(" ", 0, per_line)
        cut = cut if cut > per_line // 2 else per_line
        lines.append(text[:cut])
        text = "  " + text[cut:].lstrip()
    lines.append(text)
    return lines


def detailed_window(hr: np.ndarray, size: int, scale: int) -> tuple[int, int]:
    """Top-left of the ``size`` square with the most gradient energy, on a grid aligned to ``scale``."""
    h, w = hr.shape[:2]
    gray = hr if hr.ndim == 2 else cv2.cvtColor(hr, cv2.COLOR_RGB2GRAY)
    energy = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    integral = cv2.integral(energy)
    step = max(scale, (size // 4) // scale * scale)
    best, best_yx = -1.0, (0, 0)
    for y in range(0, h - size + 1, step):
        for x in range(0, w - size + 1, step):
            total = (integral[y + size, x + size] - integral[y, x + size]
                     - integral[y + size, x] + integral[y, x])
            if total > best:
                best, best_yx = float(total), (y, x)
    return best_yx


def sample_panels(hr: np.ndarray, lr: np.ndarray, crop: int = CROP) -> np.ndarray:
    """HR crop | LR region nearest-upscaled | LR region bicubic-upscaled, as one RGB strip."""
    factor = hr.shape[0] / lr.shape[0]
    scale = max(1, round(factor))
    size = min(crop, hr.shape[0], hr.shape[1]) // scale * scale
    y, x = detailed_window(hr, size, scale)
    hr_crop = hr[y:y + size, x:x + size]
    s = size // scale
    lr_crop = lr[y // scale:y // scale + s, x // scale:x // scale + s]
    near = cv2.resize(lr_crop, (size, size), interpolation=cv2.INTER_NEAREST_EXACT)
    cubic = cv2.resize(lr_crop, (size, size), interpolation=cv2.INTER_CUBIC)
    panels = [to_rgb(np.ascontiguousarray(p)) for p in (hr_crop, near, cubic)]
    gap = np.full((size, GAP // 2, 3), BACKGROUND, np.uint8)
    return np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)


def make_preview(
    lr_dir: str | os.PathLike,
    n: int = 16,
    out: str | os.PathLike = "preview.png",
    tiles_dir: str | os.PathLike | None = None,
) -> tuple[Path, int]:
    """Write a contact sheet of ``n`` samples of ``lr_dir`` (evenly spread over the keys) to ``out``.

    Returns (the sheet's path, the number of samples shown).
    """
    log = resolve_log(lr_dir)
    lr_dir = log.parent
    info = read_run_info(lr_dir)
    tiles = Path(tiles_dir) if tiles_dir is not None else recorded_tiles_dir(lr_dir, info)
    if tiles is None or not tiles.is_dir():
        raise UsageError(f"HR tiles folder {tiles or '(run.json names none)'} not found: pass --tiles")
    if n < 1:
        raise UsageError("--n must be at least 1")
    records = sorted((r for r in read_jsonl(log) if isinstance(r.get("key"), str)), key=lambda r: r["key"])
    if not records:
        raise UsageError(f"{log} holds no samples")
    picks = sorted({round(i) for i in np.linspace(0, len(records) - 1, min(n, len(records)))})
    cells = []
    for i in picks:
        r = records[i]
        try:
            check_key(r["key"])
            hr = read_png(inside(tiles, r.get("hr_file") or f"{r['key']}.png"))
            lr = read_png(lr_dir / f"{r['key']}.png")
        except (OSError, ValueError) as err:
            raise UsageError(f"sample {r['key']}: {err}") from None
        strip = sample_panels(hr, lr)
        applied, skipped = describe_plan(r["steps"])
        lines: list[tuple[str, tuple[int, int, int]]] = [(r["key"], INK)]
        for text in applied:
            lines += [(t, INK) for t in _wrap(text, strip.shape[1])]
        if skipped:
            lines += [(t, FAINT) for t in _wrap("skipped: " + ", ".join(skipped), strip.shape[1])]
        cells.append((strip, lines))
    title = (f"{info.get('recipe', lr_dir.name)}  (scale {info.get('scale', '?')}, "
             f"seed {info.get('seed', '?')})   columns: HR crop | LR nearest-upscaled | LR bicubic-upscaled")
    sheet = _compose(cells, title)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(out, sheet, 6)
    return out, len(cells)


Line = tuple[str, tuple[int, int, int]]


def _compose(cells: list[tuple[np.ndarray, list[Line]]], title: str) -> np.ndarray:
    cell_w = max(s.shape[1] for s, _ in cells)
    cols = min(COLUMNS, len(cells))
    rows = math.ceil(len(cells) / cols)
    heights = []
    for row in range(rows):
        group = cells[row * cols:(row + 1) * cols]
        heights.append(max(s.shape[0] + LINE_H * len(lines) + GAP for s, lines in group))
    top = LINE_H * 2
    width = cols * cell_w + (cols + 1) * GAP * 2
    sheet = np.full((top + sum(heights) + GAP * (rows + 1), width, 3), BACKGROUND, np.uint8)
    cv2.putText(sheet, title, (GAP * 2, LINE_H + 4), FONT, FONT_SCALE + 0.08, INK, 1, cv2.LINE_AA)
    y0 = top + GAP
    for row in range(rows):
        for col, (strip, lines) in enumerate(cells[row * cols:(row + 1) * cols]):
            x0 = GAP * 2 + col * (cell_w + GAP * 2)
            sheet[y0:y0 + strip.shape[0], x0:x0 + strip.shape[1]] = strip
            y = y0 + strip.shape[0] + LINE_H - 3
            for text, color in lines:
                cv2.putText(sheet, text, (x0, y), FONT, FONT_SCALE, color, 1, cv2.LINE_AA)
                y += LINE_H
        y0 += heights[row] + GAP
    return sheet
