"""The table of an evaluation: means per scale and method, in the form of the m-SRCNN paper's
Table III (methods as columns, scales as rows, each metric of ``eval_metrics.METRICS`` per method),
for the terminal, ``table.csv`` and ``table.md``. Each row also counts the images in its means and
the images left out of them (their reasons are listed beside the table)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srkit.core.files import atomic_write_text
from srkit.train.eval_metrics import METRICS, undefined_reason
from srkit.train.eval_scores import EvalScores


@dataclass
class EvalResult:
    """Per (scale, method): one dict of metric values per image that entered the means."""

    scores: dict[tuple[int, str], list[dict[str, float]]] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)
    scales: list[int] = field(default_factory=list)
    counted: dict[int, int] = field(default_factory=dict)
    excluded: dict[int, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    manga: EvalScores = field(default_factory=EvalScores)  # PSNR, SSIM and the manga scores per image

    def add_image(self, scale: int, image: str, scores: dict[str, dict[str, float]]) -> bool:
        """Add one image's scores at ``scale`` (method -> metric -> value); False when it is left out
        of the means (a score is undefined), with its reason in ``excluded``."""
        if scale not in self.scales:
            self.scales.append(scale)
        for method in scores:
            if method not in self.methods:
                self.methods.append(method)
        reason = undefined_reason(scores)
        if reason is not None:
            self.excluded.setdefault(scale, []).append(f"{image} at {scale}x: {reason}")
            return False
        for method, values in scores.items():
            self.scores.setdefault((scale, method), []).append(dict(values))
        self.counted[scale] = self.counted.get(scale, 0) + 1
        return True

    def means(self, scale: int, method: str) -> dict[str, float] | None:
        values = self.scores.get((scale, method))
        if not values:
            return None
        return {k: float(np.mean([v[k] for v in values], dtype=np.float64)) for k in METRICS}

    def mean(self, scale: int, method: str) -> tuple[float, ...] | None:
        """The means in the order of METRICS (PSNR first), or None when nothing was scored."""
        means = self.means(scale, method)
        return None if means is None else tuple(means[k] for k in METRICS)

    @property
    def excluded_lines(self) -> list[str]:
        return [line for s in sorted(self.excluded) for line in self.excluded[s]]

    @property
    def evaluated(self) -> bool:
        return any(self.counted.values())

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for s in sorted(self.scales):
            row: dict[str, Any] = {"scale": f"{s}x", "images": self.counted.get(s, 0),
                                   "excluded": len(self.excluded.get(s, []))}
            for m in self.methods:
                means = self.means(s, m)
                for k in METRICS:
                    row[f"{m} {k}"] = "" if means is None else f"{means[k]:.4f}"
            rows.append(row)
        return rows

    def markdown(self) -> str:
        rows = self.rows()
        if not rows:
            return ""
        head = list(rows[0])
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(str(r[h]) if r[h] != "" else "n/a" for h in head) + " |" for r in rows]
        return "\n".join(lines) + "\n"

    def rich_table(self, title: str):  # noqa: ANN201 - rich.table.Table, imported lazily
        """The table of means for the terminal: one row per scale, the metrics per method."""
        from rich.table import Table

        table = Table(title=f"mean {' / '.join(METRICS)} on Y, border shaved: {title}")
        table.add_column("scale")
        table.add_column("images", justify="right")
        for method in self.methods:
            table.add_column(method, justify="right")
        for scale in sorted(self.scales):
            cells = []
            for method in self.methods:
                means = self.means(scale, method)
                cells.append("n/a" if means is None else " / ".join(_cell(k, means[k]) for k in METRICS))
            excluded = len(self.excluded.get(scale, []))
            count = f"{self.counted.get(scale, 0)}" + (f" (+{excluded} left out)" if excluded else "")
            table.add_row(f"{scale}x", count, *cells)
        return table

    def write(self, out_dir: Path) -> list[Path]:
        """Write ``table.csv`` and ``table.md`` (and the manga scores' ``scores.csv`` and ``scores.md``)
        when anything was scored; returns what was written."""
        if not self.evaluated:
            return []
        rows = self.rows()
        out_dir.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out_dir / "table.csv", buf.getvalue())
        atomic_write_text(out_dir / "table.md", self.markdown())
        written = [out_dir / "table.csv", out_dir / "table.md", *self.manga.write(out_dir)]
        self.written += written
        return written


def _cell(metric: str, value: float) -> str:
    return f"{value:.2f}" if metric == "PSNR" else f"{value:.4f}"
