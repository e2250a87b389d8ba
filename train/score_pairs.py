"""``sr-train score``'s work: pair the images of an HR folder with an upscaler's outputs and score
every pair with PSNR / SSIM on Y (``train.metrics``) and the manga scores (``train.manga_scores``).

Files pair by their path relative to each folder; the suffix may differ (``ch1/p01.jpg`` pairs with
``ch1/p01.png``), since upscalers write PNG whatever they read. Any upscaler's outputs can be scored:
ours, chaiNNer's, waifu2x's, Real-ESRGAN's own inference.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srkit.core.files import atomic_write_text
from srkit.core.images import SUPPORTED_SUFFIXES, ImageError, hwc, read_image, to_gray
from srkit.train.manga_scores import SCORE_NAMES, reference, score_against
from srkit.train.metrics import psnr_ssim_y

COLUMNS = ("psnr", "ssim", *SCORE_NAMES)
SCORES_CSV = "scores.csv"
SCORES_MD = "scores.md"


@dataclass
class ScoreReport:
    """One row of scores per scored image (by relative path), and the reason each other one was skipped."""

    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def means(self) -> dict[str, float]:
        """Each column's mean over the images (``finite_mean``)."""
        return {column: finite_mean([row[column] for row in self.rows.values()]) for column in COLUMNS}

    def table(self, digits: int = 4) -> list[dict[str, str]]:
        """Rows of text: one per image, then the means."""
        rows = [{"image": name, **{c: format_score(row[c], digits) for c in COLUMNS}}
                for name, row in self.rows.items()]
        if self.rows:
            rows.append({"image": "mean", **{c: format_score(v, digits) for c, v in self.means().items()}})
        return rows

    def write(self, out_dir: Path) -> None:
        """``scores.csv`` and ``scores.md`` in ``out_dir``."""
        write_tables(out_dir, self.table())

    def rich_table(self, title: str):
        from rich import box
        from rich.table import Table

        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("image", overflow="fold")
        for column in COLUMNS:  # names on two lines (tone / kept), so narrow terminals fit the numbers
            table.add_column(column.replace("_", "\n"), justify="right", no_wrap=True)
        rows = self.table(digits=3)
        for i, row in enumerate(rows):
            is_mean = i == len(rows) - 1
            table.add_row(*(row[h] for h in ["image", *COLUMNS]), style="bold" if is_mean else None,
                          end_section=i == len(rows) - 2)
        return table


def write_tables(out_dir: Path, rows: list[dict[str, str]]) -> None:
    """``rows`` (text, their keys as columns) as ``scores.csv`` and ``scores.md`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    head = list(rows[0]) if rows else ["image", *COLUMNS]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=head, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / SCORES_CSV, buf.getvalue())
    lines = ["| " + " | ".join(head) + " |", "|" + "".join("---:|" if h in COLUMNS else "---|" for h in head)]
    lines += ["| " + " | ".join(row[h] for h in head) + " |" for row in rows]
    atomic_write_text(out_dir / SCORES_MD, "\n".join(lines) + "\n")


def finite_mean(values: list[float]) -> float:
    """The mean of the finite values (NaN: nothing to measure; inf: the PSNR of identical images);
    NaN when there are none."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def format_score(value: float, digits: int = 4) -> str:
    """A score as the tables print it: ``n/a`` for NaN, ``inf``, else ``digits`` decimals."""
    if math.isnan(value):
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def images_under(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, no symlink loops), relative to it, sorted."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        found += [(Path(root) / f).relative_to(folder) for f in sorted(files)
                  if Path(f).suffix.lower() in SUPPORTED_SUFFIXES]
    return found


def pair_files(hr_dir: Path, sr_dir: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(HR path, SR path) pairs by relative path (same path first, else same path but the suffix),
    and why each HR image found no single SR image."""
    by_stem: dict[Path, list[Path]] = {}
    sr_files = images_under(sr_dir)
    for rel in sr_files:
        by_stem.setdefault(rel.with_suffix(""), []).append(rel)
    exact = set(sr_files)
    pairs, skipped = [], []
    for rel in images_under(hr_dir):
        matches = [rel] if rel in exact else by_stem.get(rel.with_suffix(""), [])
        if len(matches) == 1:
            pairs.append((hr_dir / rel, sr_dir / matches[0]))
        elif not matches:
            skipped.append(f"{hr_dir / rel}: no image {rel.with_suffix('.*')} in {sr_dir}")
        else:
            names = ", ".join(str(m) for m in matches)
            skipped.append(f"{hr_dir / rel}: several images in {sr_dir} could be its output ({names})")
    return pairs, skipped


def _same_channels(hr: np.ndarray, sr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A gray image against an RGB one: both on their luma."""
    if hwc(hr).shape[2] == hwc(sr).shape[2]:
        return hr, sr
    return to_gray(hwc(hr)) if hr.ndim == 3 else hr, to_gray(hwc(sr)) if sr.ndim == 3 else sr


def score_pair(hr: np.ndarray, sr: np.ndarray, border: int = 0) -> dict[str, float]:
    """PSNR / SSIM on Y and the manga scores of ``sr`` against ``hr`` (uint8, same size)."""
    hr, sr = _same_channels(hr, sr)
    psnr, ssim = psnr_ssim_y(sr, hr, crop_border=border)
    return {"psnr": psnr, "ssim": ssim, **score_against(reference(hr, border), sr)}


def score_folders(hr_dir: str | os.PathLike, sr_dir: str | os.PathLike, border: int = 0,
                  out_dir: str | os.PathLike | None = "scores",
                  progress: Callable[[], None] | None = None) -> ScoreReport:
    """Score every SR image against its HR image, ``border`` px shaved; writes ``scores.csv`` and
    ``scores.md`` to ``out_dir`` (None: nothing written). Pairs that cannot be scored are skipped
    with a reason."""
    hr_dir, sr_dir = Path(hr_dir), Path(sr_dir)
    pairs, skipped = pair_files(hr_dir, sr_dir)
    report = ScoreReport(skipped=skipped)
    if progress is not None:
        for _ in skipped:  # images without a single output count as done
            progress()
    for hr_path, sr_path in pairs:
        try:
            hr, _ = read_image(hr_path, color="auto")
            sr, _ = read_image(sr_path, color="auto")
            if hr.shape[:2] != sr.shape[:2]:
                raise ImageError(sr_path, f"{sr.shape[1]} x {sr.shape[0]} px, its HR {hr_path} is "
                                          f"{hr.shape[1]} x {hr.shape[0]}: score outputs of the HR's size")
            report.rows[hr_path.relative_to(hr_dir).as_posix()] = score_pair(hr, sr, border)
        except (ImageError, ValueError) as err:
            report.skipped.append(str(err) if isinstance(err, ImageError) else f"{sr_path}: {err}")
        if progress is not None:
            progress()
    if out_dir is not None:
        report.write(Path(out_dir))
    return report
