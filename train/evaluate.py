"""``sr-train eval``: degrade HR images with a recipe, upscale them with a model and with nearest,
bilinear and bicubic, and tabulate mean PSNR / SSIM on Y with a ``scale``-pixel border shave, and
the manga scores (``eval_scores``: ``scores.csv``, one row per scale and method).

The table has one row per scale and a PSNR and SSIM column per method, the form of the m-SRCNN
paper's tables III and IV. Every degradation is logged with its plan (``degradations.jsonl``), so the
LR inputs can be replayed byte for byte.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from srkit.core.files import atomic_write_text
from srkit.core.images import ImageError, read_image, write_png
from srkit.core.keys import page_key
from srkit.core.manifest import canonical_json
from srkit.core.workspace import DEGRADATIONS_LOG
from srkit.train.eval_scores import EvalScores, save_worst_windows

BASELINES = ("nearest", "bilinear", "bicubic")
_PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}


def resize_pil(img: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """Resize an (H, W) or (H, W, C) uint8 array to ``size`` = (w, h) with a Pillow filter."""
    if img.ndim == 2:
        return np.asarray(Image.fromarray(img).resize(size, _PIL_FILTERS[method]))
    return np.stack([resize_pil(img[:, :, c], size, method) for c in range(img.shape[2])], axis=2)


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


@dataclass
class EvalResult:
    """Per (scale, method): the list of (psnr, ssim) over images; ``table`` gives the means."""

    scores: dict[tuple[int, str], list[tuple[float, float]]] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)
    scales: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    manga: EvalScores = field(default_factory=EvalScores)  # PSNR, SSIM and the manga scores per image

    def add(self, scale: int, method: str, psnr: float, ssim: float) -> None:
        self.scores.setdefault((scale, method), []).append((psnr, ssim))
        if method not in self.methods:
            self.methods.append(method)
        if scale not in self.scales:
            self.scales.append(scale)

    def mean(self, scale: int, method: str) -> tuple[float, float] | None:
        values = self.scores.get((scale, method))
        if not values:
            return None
        arr = np.asarray(values, np.float64)
        return float(arr[:, 0].mean()), float(arr[:, 1].mean())

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for s in sorted(self.scales):
            row: dict[str, Any] = {"scale": f"{s}x"}
            for m in self.methods:
                value = self.mean(s, m)
                row[f"{m} PSNR"] = "" if value is None else f"{value[0]:.4f}"
                row[f"{m} SSIM"] = "" if value is None else f"{value[1]:.4f}"
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

    def rich_table(self, title: str):
        """The table of means for the terminal: one row per scale, PSNR / SSIM per method."""
        from rich.table import Table

        table = Table(title=f"mean PSNR (dB) / SSIM on Y, border shaved: {title}")
        table.add_column("scale")
        for method in self.methods:
            table.add_column(method, justify="right")
        for scale in sorted(self.scales):
            cells = []
            for method in self.methods:
                value = self.mean(scale, method)
                cells.append("n/a" if value is None else f"{value[0]:.2f} / {value[1]:.4f}")
            table.add_row(f"{scale}x", *cells)
        return table

    def write(self, out_dir: Path) -> None:
        rows = self.rows()
        if not rows:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out_dir / "table.csv", buf.getvalue())
        atomic_write_text(out_dir / "table.md", self.markdown())


def _recipe_for(recipe: str, scale: int):
    from srkit.degrade.recipe import load_recipe

    return load_recipe(recipe.replace("{scale}", str(scale)))


def evaluate(
    model_path: str | os.PathLike | None,
    images: list[Path],
    recipe: str,
    scales: list[int] | None = None,
    out_dir: str | os.PathLike = "eval",
    seed: int | None = None,
    device: str = "cpu",
    tile: int = 512,
    save_images: bool = False,
    root: Path | None = None,
    progress: Any = None,
) -> EvalResult:
    """Run the evaluation; writes ``table.csv``, ``table.md`` and ``degradations.jsonl`` in ``out_dir``.

    ``recipe`` may contain ``{scale}`` (e.g. ``bicubic_x{scale}``) to evaluate several scales.
    ``model_path=None`` evaluates the baselines only.
    """
    from srkit.train.inference import load_model
    from srkit.train.manga_scores import reference, score_against
    from srkit.train.metrics import psnr_ssim_y
    from srkit.train.upscale import UpscaleOptions, upscale_image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loaded = load_model(model_path, device) if model_path else None
    if scales is None:
        first = _recipe_for(recipe, 0 if "{scale}" in recipe else 1)
        scales = [first.nominal_scale]
    result = EvalResult()
    records = []
    for s in scales:
        rec = _recipe_for(recipe, s)
        if rec.nominal_scale != s:
            raise ValueError(f"recipe {rec.name} degrades by x{rec.nominal_scale}, not x{s}; "
                             "use a recipe name with {scale} to evaluate several scales")
        for path in images:
            rel = path.name if root is None else path.relative_to(root).as_posix()
            key = page_key(rel)
            try:
                hr, _ = read_image(path, color="auto")
            except ImageError as err:
                result.skipped.append(str(err))
                continue
            if min(hr.shape[:2]) < 4 * s:
                result.skipped.append(f"{path}: too small for x{s} ({hr.shape[1]} x {hr.shape[0]} pixels; "
                                      f"at least {4 * s} per side)")
                continue
            hr = modcrop(hr, s)
            h, w = hr.shape[:2]
            lr, plan = rec.plan_and_apply(hr, key, seed)
            records.append({"image": rel, "key": key, "scale": s, "recipe": rec.name,
                            "recipe_hash": rec.hash, "plan": plan})
            down_up = lr.shape[:2] == hr.shape[:2]
            small = resize_pil(hr, (w // s, h // s), "bicubic") if down_up else lr
            outputs = {m: resize_pil(small, (w, h), m) for m in BASELINES}
            if loaded is not None:
                fits = loaded.scale == 1 if down_up else loaded.scale * max(1, loaded.pre_upsample) == s
                if fits:
                    outputs["model"] = upscale_image(loaded, lr, UpscaleOptions(
                        mode="enhance" if down_up else "enlarge", tile=tile))
            ref = reference(hr, s)
            for method, img in outputs.items():
                psnr, ssim = psnr_ssim_y(img, hr, crop_border=s)
                result.add(s, method, psnr, ssim)
                result.manga.add(s, method, {"psnr": psnr, "ssim": ssim, **score_against(ref, img)})
            if save_images:
                _save_comparison(out / "images" / f"{key}_x{s}.png", hr, outputs)
                judged = "model" if "model" in outputs else "bicubic"
                save_worst_windows(out / "images" / f"{key}_x{s}", hr, outputs, ref, judged)
            if progress is not None:
                progress()
    result.write(out)
    result.manga.write(out)
    atomic_write_text(out / DEGRADATIONS_LOG, "".join(canonical_json(r) + "\n" for r in records))
    return result


def _save_comparison(path: Path, hr: np.ndarray, outputs: dict[str, np.ndarray], crop: int = 192) -> None:
    """Side-by-side crops (from the most detailed area): each method, then the HR, left to right."""
    import cv2

    gray = hr if hr.ndim == 2 else cv2.cvtColor(hr, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    c = min(crop, h, w)
    energy = cv2.boxFilter(np.abs(cv2.Laplacian(gray, cv2.CV_32F)), -1, (c, c))
    y, x = np.unravel_index(int(np.argmax(energy[c // 2: h - c // 2 + 1, c // 2: w - c // 2 + 1])),
                            (h - c + 1, w - c + 1)) if h >= c and w >= c else (0, 0)
    panels = []
    for name, img in [*outputs.items(), ("HR", hr)]:
        tile = img[y:y + c, x:x + c]
        tile = tile if tile.ndim == 3 else np.repeat(tile[:, :, None], 3, 2)
        tile = np.ascontiguousarray(tile)
        cv2.putText(tile, name, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 0, 0), 1, cv2.LINE_AA)
        panels.append(tile)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, np.concatenate(panels, axis=1), level=3)
