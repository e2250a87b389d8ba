"""``sr-train eval``: degrade HR images with a recipe, upscale them with each model and with nearest,
bilinear and bicubic, and tabulate the mean scores (``eval_metrics``) per scale and method: PSNR /
SSIM in ``table.csv``, with the manga scores in ``scores.csv`` (``eval_scores``).

The protocol (the m-SRCNN paper's, Intaniyom, Thananporn and Woraratpanya, "Enhancement of Anime
Imaging Enlargement using Modified Super-Resolution CNN", section IV): each HR image, cropped to a
multiple of the scale, is degraded by the recipe of that scale (``{scale}`` in a recipe name is
replaced by it). The baselines upscale the LR back to the HR size. A model of factor N runs on the LR
bicubic-upscaled to HR / N: a scale-1 model (SRCNN family) gets the whole factor by bicubic
pre-upsampling, as in the paper, whatever factor it was trained for; an x2 model evaluated at 3x or
4x gets the LR bicubic-upscaled to half the HR size. A model cannot run at a scale below its own, nor
a scaled model on a down-then-up recipe: both are refused before any work, as is a missing recipe.
When the models' factors do not divide the scale, the HR is cropped to a multiple of both.

Every degradation is logged in ``degradations.jsonl`` with ``run.json`` beside it, so
``sr-data replay OUT`` rebuilds every LR and checks it byte for byte.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from srkit.core.console import UsageError
from srkit.core.files import atomic_write_text
from srkit.core.images import ImageError, encode_png, read_image, write_png
from srkit.core.keys import page_key
from srkit.core.manifest import canonical_json
from srkit.core.seeding import sample_seed
from srkit.core.versions import library_versions
from srkit.core.workspace import DEGRADATIONS_LOG, RUN_RECORD
from srkit.degrade.recipe import Recipe, load_recipe
from srkit.train.eval_metrics import manga_image_scores, score_image, smallest_side
from srkit.train.eval_scores import save_worst_windows
from srkit.train.eval_table import EvalResult

BASELINES = ("nearest", "bilinear", "bicubic")
_PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}
LOG_PNG_LEVEL = 1  # the level the logged LR sha256 is computed at (replay encodes at the same level)


def resize_pil(img: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """Resize an (H, W) or (H, W, C) uint8 array to ``size`` = (w, h) with a Pillow filter."""
    if img.ndim == 2:
        return np.asarray(Image.fromarray(img).resize(size, _PIL_FILTERS[method]))
    return np.stack([resize_pil(img[:, :, c], size, method) for c in range(img.shape[2])], axis=2)


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


@dataclass
class EvalModel:
    """A model under evaluation and the column it fills."""

    label: str
    model: Any  # a srkit.train.inference.TileModel


def recipes_for_scales(recipe: str, scales: list[int] | None) -> list[tuple[int, Recipe]]:
    """Each scale with its validated recipe, or a UsageError naming what is wrong (before any work)."""
    templated = "{scale}" in recipe
    if scales is None:
        if templated:
            raise UsageError(f"--recipe {recipe} has {{scale}} in its name: give the scales with --scales, "
                             "e.g. --scales 2,3,4")
        scales = [load_recipe(recipe).nominal_scale]
    if not scales or any(s < 1 for s in scales) or len(set(scales)) != len(scales):
        raise UsageError(f"--scales must be distinct integers >= 1, not {scales}")
    plan = []
    for s in scales:
        rec = load_recipe(recipe.replace("{scale}", str(s)))
        if rec.nominal_scale != s:
            hint = "; use a recipe name with {scale} to evaluate several scales" if not templated else ""
            raise UsageError(f"recipe {rec.name} degrades by x{rec.nominal_scale}, not x{s}{hint}")
        plan.append((s, rec))
    return plan


def check_model_fits(label: str, model: Any, scale: int, recipe: Recipe) -> None:
    """UsageError when ``model`` cannot be evaluated at ``scale`` with ``recipe``."""
    n = model.scale
    if recipe.scale == 1 and n != 1:
        raise UsageError(f"{label} is an x{n} model, but recipe {recipe.name} keeps the HR size "
                         "(down-then-up, for scale-1 models): use a downscaling recipe such as "
                         "bicubic_x{scale}")
    if n > scale:
        raise UsageError(f"{label} upscales by x{n}, more than the evaluated scale x{scale} (recipe "
                         f"{recipe.name}): evaluate it at --scales {n} or above, or use a recipe of x{n}")


def model_labels(paths: list[Path]) -> list[str]:
    """Column names: ``model`` for one model; else each run folder's name (or file name), unique."""
    if len(paths) == 1:
        return ["model"]
    labels = [p.parent.name if p.stem == "model" and p.parent.name else p.stem for p in paths]
    return [lab if labels.count(lab) == 1 else f"{lab}_{i + 1}" for i, lab in enumerate(labels)]


def evaluate(
    model_path: str | os.PathLike | list[str | os.PathLike] | None,
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
    """Evaluate the models (one path, a list, or None for the baselines only) on ``images``.

    Checks every scale's recipe and every model against every scale first (UsageError). Images that
    cannot be evaluated are listed in ``result.skipped``, images whose scores are undefined in
    ``result.excluded``; the rest are scored. Writes ``table.csv``, ``table.md``, ``scores.csv``,
    ``scores.md``, ``degradations.jsonl`` and ``run.json`` in ``out_dir`` when anything was scored
    (``result.written``). ``progress`` is called once per image and scale.
    """
    from srkit.train.inference import load_model

    if model_path is None:
        paths = []
    elif isinstance(model_path, str | os.PathLike):
        paths = [model_path]
    else:
        paths = list(model_path)
    plan = recipes_for_scales(recipe, scales)
    labels = model_labels([Path(p) for p in paths])
    models = [EvalModel(label, load_model(p, device)) for label, p in zip(labels, paths, strict=True)]
    for s, rec in plan:
        for m in models:
            check_model_fits(f"model {m.model.path}", m.model, s, rec)
    out = Path(out_dir)
    root = root if root is not None else Path(os.path.commonpath([str(Path(p).parent) for p in images]))
    run = _Evaluation(plan, models, seed, tile, out, save_images, progress or (lambda: None))
    for path in images:
        run.image(Path(path), Path(path).relative_to(root).as_posix())
    if run.result.write(out):
        # where the HR images are, as sr-data degrade records its tiles (so `sr-data replay OUT` finds
        # them, also after the folders moved together)
        images_dir = root.resolve()
        info = {"tiles_dir": Path(os.path.relpath(images_dir, out.resolve())).as_posix(),
                "tiles_dir_absolute": str(images_dir), "recipe": recipe, "scales": [s for s, _ in plan],
                "models": [str(p) for p in paths], "seed": seed, "versions": library_versions()}
        atomic_write_text(out / DEGRADATIONS_LOG, "".join(canonical_json(r) + "\n" for r in run.records))
        atomic_write_text(out / RUN_RECORD, canonical_json(info) + "\n")
        run.result.written += [out / DEGRADATIONS_LOG, out / RUN_RECORD]
    return run.result


@dataclass
class _Evaluation:
    """One evaluation under way: what it runs, and what it has scored and logged so far."""

    plan: list[tuple[int, Recipe]]
    models: list[EvalModel]
    seed: int | None
    tile: int
    out: Path
    save_images: bool
    tick: Any
    result: EvalResult = field(default_factory=EvalResult)
    records: list[dict[str, Any]] = field(default_factory=list)

    def crop_multiple(self, scale: int) -> int:
        return math.lcm(scale, *(m.model.scale for m in self.models))

    def image(self, path: Path, rel: str) -> None:
        """Every scale of one image; a problem skips the image (or one scale of it) with its reason."""
        try:
            full, _ = read_image(path, color="auto")
            file_sha = hashlib.sha256(path.read_bytes()).hexdigest()
        except (ImageError, OSError) as err:
            self.result.skipped.append(str(err) if isinstance(err, ImageError) else f"{path}: {err}")
            for _ in self.plan:
                self.tick()
            return
        too_small = [s for s, _ in self.plan
                     if min(modcrop(full, self.crop_multiple(s)).shape[:2]) < smallest_side(s)]
        if too_small:
            self.result.skipped.append(
                f"{path}: too small for {', '.join(f'x{s}' for s in too_small)} ({full.shape[1]} x "
                f"{full.shape[0]} pixels; at least {smallest_side(max(too_small))} per side to score SSIM "
                "on Y after shaving the scale)")
        for s, rec in self.plan:
            if s not in too_small:
                try:
                    record = self.score(full, path, rel, s, rec)
                except ValueError as err:  # a recipe that cannot pair this image
                    self.result.skipped.append(f"{path}: at x{s}: {err}")
                else:
                    self.records.append(dict(record, hr_sha256=file_sha))
            self.tick()

    def score(self, full: np.ndarray, path: Path, rel: str, s: int, rec: Recipe) -> dict[str, Any]:
        """Degrade, upscale with every method, score into ``result``; returns the log record."""
        from srkit.train.metrics import bicubic_upscale
        from srkit.train.upscale import UpscaleOptions, upscale_image

        key = page_key(rel)
        hr = np.ascontiguousarray(modcrop(full, self.crop_multiple(s)))
        h, w = hr.shape[:2]
        lr, steps = rec.plan_and_apply(hr, key, self.seed)
        down_up = rec.scale == 1
        small = resize_pil(hr, (w // s, h // s), "bicubic") if down_up else lr
        outputs = {m: resize_pil(small, (w, h), m) for m in BASELINES}
        for m in self.models:
            n = m.model.scale
            model_input = lr if lr.shape[:2] == (h // n, w // n) else bicubic_upscale(lr, (w // n, h // n))
            options = UpscaleOptions(mode="enhance" if n == 1 else "enlarge", tile=self.tile)
            outputs[m.label] = upscale_image(m.model, model_input, options)
        scores = score_image(hr, outputs, s)
        self.result.add_image(s, str(path), scores)
        ref, manga = manga_image_scores(hr, outputs, s, scores)
        for method, values in manga.items():
            self.result.manga.add(s, method, values)
        if self.save_images:
            _save_comparison(self.out / "images" / f"{key}_x{s}.png", hr, outputs)
            judged = self.models[0].label if self.models else "bicubic"  # the windows where it loses most
            save_worst_windows(self.out / "images" / f"{key}_x{s}", hr, outputs, ref, judged)
        base = rec.seed if self.seed is None else int(self.seed)
        return {"key": f"{key}_x{s}", "sample_key": key, "image": rel, "hr_file": rel, "hr_color": "auto",
                "hr_shape": _shape(hr), "lr_shape": _shape(lr),
                "lr_sha256": hashlib.sha256(encode_png(lr, LOG_PNG_LEVEL)).hexdigest(),
                "png_level": LOG_PNG_LEVEL, "scale": s, "recipe": rec.name, "recipe_hash": rec.hash,
                "seed": base, "sample_seed": sample_seed(base, key), "steps": steps,
                "versions": library_versions()}


def _shape(img: np.ndarray) -> list[int]:
    return [int(img.shape[0]), int(img.shape[1]), 1 if img.ndim == 2 else int(img.shape[2])]


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
