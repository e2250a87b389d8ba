"""The manga scores in ``sr-train eval``: their table (one row per scale and method, the columns of
``sr-train score``) and, with ``--save-images``, crops of the windows where the model loses the most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from srkit.core.images import hwc, to_gray, write_png
from srkit.train.manga_scores import WINDOW, Reference, line_f1_by_window, tone_kept_by_window
from srkit.train.score_pairs import COLUMNS, SCORES_CSV, SCORES_MD, finite_mean, format_score, write_tables

CONTEXT = 32  # pixels shown around a window
ZOOM = 2


@dataclass
class EvalScores:
    """Per (scale, method): the scores of each image (``COLUMNS``); the table gives their means."""

    values: dict[tuple[int, str], list[dict[str, float]]] = field(default_factory=dict)

    def add(self, scale: int, method: str, scores: dict[str, float]) -> None:
        self.values.setdefault((scale, method), []).append(scores)

    def means(self, scale: int, method: str) -> dict[str, float]:
        """Each column's mean over the images (``finite_mean``)."""
        rows = self.values.get((scale, method), [])
        return {column: finite_mean([row[column] for row in rows]) for column in COLUMNS}

    def table(self, digits: int = 4) -> list[dict[str, str]]:
        return [{"scale": f"{scale}x", "method": method,
                 **{c: format_score(v, digits) for c, v in self.means(scale, method).items()}}
                for scale, method in sorted(self.values, key=lambda k: k[0])]

    def write(self, out_dir: Path) -> list[Path]:
        """``scores.csv`` and ``scores.md`` in ``out_dir`` when anything was scored; returns what was
        written."""
        if not self.values:
            return []
        write_tables(out_dir, self.table())
        return [out_dir / SCORES_CSV, out_dir / SCORES_MD]

    def rich_table(self, title: str):
        from rich import box
        from rich.table import Table

        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("scale")
        table.add_column("method")
        for column in COLUMNS:
            table.add_column(column.replace("_", "\n"), justify="right", no_wrap=True)
        for row in self.table(digits=3):
            table.add_row(*row.values())
        return table


def save_worst_windows(stem: Path, hr: np.ndarray, outputs: dict[str, np.ndarray], ref: Reference,
                       judged: str) -> list[Path]:
    """For ``tone_kept`` and ``line_f1``: crops of every method and the HR around the window where
    ``judged`` (the model, else a baseline) scores lowest, each labelled with its score there.
    Writes ``{stem}_tone.png`` and ``{stem}_lines.png`` (none where the HR has no such window)."""
    written = []
    for name, by_window in (("tone_kept", tone_kept_by_window), ("line_f1", line_f1_by_window)):
        scores = {method: by_window(ref, img) for method, img in outputs.items()}
        worst = scores[judged]
        if not worst:
            continue
        y, x = min(worst, key=worst.get)
        panels = [(f"{method} {name} {scores[method][(y, x)]:.2f}", img) for method, img in outputs.items()]
        path = stem.with_name(f"{stem.name}_{'tone' if name == 'tone_kept' else 'lines'}.png")
        _write_crops(path, [*panels, ("HR", hr)], y, x)
        written.append(path)
    return written


def _write_crops(path: Path, panels: list[tuple[str, np.ndarray]], y: int, x: int) -> None:
    """Side by side, left to right: the window (outlined) with ``CONTEXT`` px around it, zoomed."""
    h, w = hwc(panels[0][1]).shape[:2]
    top, left = max(0, y - CONTEXT), max(0, x - CONTEXT)
    bottom, right = min(h, y + WINDOW + CONTEXT), min(w, x + WINDOW + CONTEXT)
    tiles = []
    for label, img in panels:
        gray = to_gray(hwc(img)) if hwc(img).shape[2] == 3 else hwc(img)[:, :, 0]
        crop = gray[top:bottom, left:right]
        tile = cv2.cvtColor(cv2.resize(crop, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST),
                            cv2.COLOR_GRAY2RGB)
        corner = ((x - left) * ZOOM, (y - top) * ZOOM)
        cv2.rectangle(tile, corner, (corner[0] + WINDOW * ZOOM - 1, corner[1] + WINDOW * ZOOM - 1),
                      (255, 0, 0), 1)
        band = np.full((22, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(band, label, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.pad(np.concatenate([band, tile]), ((0, 0), (0, 4), (0, 0)), constant_values=255))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, np.concatenate(tiles, axis=1), level=3)
