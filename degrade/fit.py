"""`sr-data fit`: measure a folder of real low-quality images and write the recipe that imitates them.

`fit_folder(inputs, scale, out)` is the whole command: it finds the images (files and folders,
searched recursively, as `sr-data tile` does), measures each in parallel (`estimate.measure`), takes
the baseline from the user's HR tiles when there are any (a sample of them downscaled by the scale
with `bicubic_aa` and measured the same way: what the recipe must not add again), writes the recipe
(`fit_recipe`) and, beside it, `NAME.fit.json`: every image's record, the distribution of every field
and the baseline. Images that cannot be read are listed with the reason and skipped.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srkit.core.console import UsageError
from srkit.core.files import atomic_write_text
from srkit.core.images import ImageError, read_png, to_gray
from srkit.core.parallel import parallel_map, resolve_jobs
from srkit.degrade.estimate.calibrate import gamma_response
from srkit.degrade.estimate.jpeg_tables import table_of
from srkit.degrade.estimate.measure import FEATURES, measure_array, measure_crops, measure_file
from srkit.degrade.estimate.noise import noise_sigma
from srkit.degrade.fit_recipe import baseline_of, fit_parts, fresh_recipe, rebased_recipe
from srkit.degrade.ops.compress import apply_jpeg
from srkit.degrade.ops.resize import resize_image
from srkit.degrade.ops.scan import apply_levels
from srkit.degrade.recipe import RecipeError, dry_run, load_recipe, parse_recipe
from srkit.degrade.recipe_toml import dump_recipe
from srkit.tiling.sources import find_sources

QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
CATEGORIES = ("channels", "jpeg_quality_source", "jpeg_tables", "subsampling", "upscale_kernel")
BASELINE_TILES = 48
DEFAULT_LIMIT = 2000
WASHED_WHITE, WASHED_BLACK = 245.0, 10.0  # paper below / black above these: a washed-out raw

Progress = Callable[[int, int], None]
Response = tuple[tuple[float, float], ...]  # (levels gamma, factor on the gamma reading)


@dataclass
class FitResult:
    records: list[dict[str, Any]]
    errors: list[dict[str, str]]
    summary: dict[str, Any]
    baseline: list[dict[str, Any]]
    recipe_path: Path
    json_path: Path
    recipe_text: str
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def find_images(inputs: list[str | os.PathLike], limit: int | None = DEFAULT_LIMIT,
                exclude: list[str | os.PathLike] = ()) -> tuple[list[str], list[dict[str, str]]]:
    """Image paths under `inputs` (sorted; at most `limit`, evenly spread) and the entries unusable."""
    if not inputs:
        raise UsageError("no input given: name image files or folders")
    try:
        sources, unusable = find_sources(list(inputs), exclude=list(exclude))
    except FileNotFoundError as err:
        raise UsageError(f"{err}; check the path") from None
    paths = [s.path for s in sources]
    if limit and len(paths) > limit:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, limit).astype(np.int64)]
    return paths, [{"file": s.path, "error": s.problem} for s in unusable]


class _Measure:
    """Measure one file in a worker (a plain class: it pickles for process pools): its record, or the
    records of its crops of `crop` size; an error record when it cannot be read."""

    def __init__(self, single_thread: bool, crop: int | None, crops: int):
        self.single_thread = single_thread
        self.crop = crop
        self.crops = crops

    def __call__(self, path: str) -> list[dict[str, Any]]:
        if self.single_thread:
            import cv2

            cv2.setNumThreads(1)
        try:
            return [measure_file(path)] if self.crop is None else measure_crops(path, self.crop, self.crops)
        except ImageError as err:
            return [{"file": path, "error": err.problem}]
        except (ValueError, MemoryError) as err:
            return [{"file": path, "error": f"cannot measure: {err}"}]


def measure_images(
    paths: list[str], jobs: int | None = 0, backend: str = "loky", on_progress: Progress | None = None,
    crop: int | None = None, crops: int = 64,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Records of the readable images (sorted by file; per crop when `crop` is given) and the errors."""
    n_jobs = min(resolve_jobs(jobs), max(1, len(paths)))
    records, errors = [], []
    task = _Measure(n_jobs > 1, crop, crops)
    for done, recs in enumerate(parallel_map(task, paths, n_jobs, backend), 1):
        for rec in recs:
            (errors if "error" in rec else records).append(rec)
        if on_progress:
            on_progress(done, len(paths))
    return sorted(records, key=lambda r: r["file"]), sorted(errors, key=lambda e: e["file"])


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per numeric feature: count, nulls, min, quantiles, max, mean; per category: counts."""
    out: dict[str, Any] = {"images": len(records)}
    for key in FEATURES:
        values = np.asarray([r[key] for r in records if r.get(key) is not None], np.float64)
        entry: dict[str, Any] = {"n": int(values.size), "null": len(records) - int(values.size)}
        if values.size:
            entry.update(min=float(values.min()), max=float(values.max()),
                         mean=round(float(values.mean()), 4))
            entry.update({f"q{int(q * 100):02d}": round(float(np.quantile(values, q)), 4) for q in QUANTILES})
        out[key] = entry
    for key in CATEGORIES:
        out[key] = dict(sorted(Counter(str(r.get(key)) for r in records).items()))
    return out


def baseline_records(tiles_dir: str | os.PathLike, scale: int, qualities: list[int],
                     washed: tuple[float, float] | None = None,
                     count: int = BASELINE_TILES,
                     ) -> tuple[list[dict[str, Any]], dict[tuple[int, bool], float], Response]:
    """Records of up to `count` kept tiles (evenly spread) after a plain bicubic_aa downscale by `scale`;
    their median noise reading after JPEG at each of `qualities`, as they are and (when `washed` gives a
    black and a white point) through those levels: what a raw reads with no noise added; and how far a
    levels gamma moves their gamma reading (`estimate.calibrate.gamma_response`)."""
    from srkit.tiling.manifest import kept_tiles, manifest_path

    if not manifest_path(tiles_dir).is_file():
        return [], {}, ()
    tiles = kept_tiles(tiles_dir)
    if len(tiles) > count:
        tiles = [tiles[i] for i in np.linspace(0, len(tiles) - 1, count).astype(np.int64)]
    out, lrs = [], []
    for tile in tiles:
        try:
            hr = read_png(Path(tiles_dir) / (tile.get("file") or f"{tile['key']}.png"))
        except ImageError:
            continue
        h, w = hr.shape[0] // scale, hr.shape[1] // scale
        if min(h, w) < 16:
            continue
        lr = resize_image(hr, h, w, "bicubic_aa")
        lrs.append(lr)
        out.append({"file": tile["key"], **measure_array(lr)})
    noise_at = {}
    variants = [(False, None)] + ([(True, washed)] if washed else [])
    for q in sorted(set(qualities)):
        for is_washed, points in variants:
            found = []
            for lr in lrs:
                img = lr if points is None else apply_levels(lr, {"black": points[0], "white": points[1],
                                                                  "gamma": 1.0})
                jpeg = to_gray(apply_jpeg(img, {"quality": q, "subsampling": "420"}))
                found.append(noise_sigma(jpeg, table_of(q)).sigma or 0.0)  # no reading: no noise to see
            if found:
                noise_at[(q, is_washed)] = round(float(np.median(found)), 3)
    return out, noise_at, gamma_response([to_gray(lr) for lr in lrs])


def washed_points(records: list[dict[str, Any]]) -> tuple[float, float] | None:
    """Median black and white points of the raws whose paper is not white or whose black is not black."""
    off = [r for r in records if (r.get("white_point") or 255.0) <= WASHED_WHITE
           or (r.get("black_point") or 0.0) >= WASHED_BLACK]
    if not off:
        return None
    black = float(np.median([r.get("black_point") or 0.0 for r in off]))
    white = float(np.median([r.get("white_point") or 255.0 for r in off]))
    return (black, white) if white - black > 32 else None


def _header(inputs: list[str | os.PathLike], records: list[dict[str, Any]], scale: int,
            baseline: list[dict[str, Any]], tiles: str | None) -> list[str]:
    lines = [f"Fitted by `sr-data fit` to {len(records)} image(s) of {', '.join(map(str, inputs))} "
             f"at scale {scale}.",
             "Each step says which measurements its numbers come from (every record: the .fit.json beside",
             "this file). Check it: sr-data degrade --recipe THIS_FILE, then sr-data compare lr/NAME RAWS."]
    if baseline:
        b = baseline_of(baseline)
        gamma = "none" if b.gamma is None else f"{b.gamma:.2f}"
        lines.append(f"Baseline ({len(baseline)} HR tiles of {tiles} downscaled by {scale}, bicubic_aa): "
                     f"blur {b.blur:.2f} px, noise {b.noise:.2f}, gamma {gamma}: taken off, the recipe adds "
                     "the rest.")
    else:
        lines.append("No HR tiles to take a baseline from: blur and noise are applied as measured, "
                     "gamma kept.")
    return lines


def fit_folder(inputs: list[str | os.PathLike], scale: int,
               out: str | os.PathLike = "recipes/fitted.toml", base: str | None = None,
               tiles: str | os.PathLike | None = "tiles", name: str | None = None, jobs: int | None = 0,
               backend: str = "loky", limit: int | None = DEFAULT_LIMIT,
               on_start: Callable[[int], None] | None = None,
               on_progress: Progress | None = None) -> FitResult:
    """Measure the images of `inputs`, write the fitted recipe to `out` and NAME.fit.json beside it."""
    start = time.perf_counter()
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 16:
        raise UsageError(f"--scale must be an integer from 1 to 16, not {scale!r}")
    out = Path(out)
    if out.suffix != ".toml":
        raise UsageError(f"--out must name a .toml file, not {out}")
    name = name or out.stem
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise UsageError(f"recipe name {name!r}: use letters, digits, '-' and '_' (--name)")
    base_recipe = load_recipe(base) if base else None
    if base_recipe is not None and base_recipe.nominal_scale != scale:
        raise UsageError(f"--base {base} has scale {base_recipe.nominal_scale}, not --scale {scale}")
    paths, errors = find_images(inputs, limit)
    if not paths:
        raise UsageError(f"no images (PNG, JPEG, WebP, TIFF, BMP) found in {', '.join(map(str, inputs))}")
    if on_start:
        on_start(len(paths))
    records, bad = measure_images(paths, jobs, backend, on_progress)
    errors = sorted(errors + bad, key=lambda e: e["file"])
    if not records:
        raise UsageError(f"none of the {len(paths)} image(s) could be read; see the list above")
    tiles_dir = str(tiles) if tiles is not None and Path(tiles).is_dir() else None
    qualities = sorted({int(5 * round(r["jpeg_quality"] / 5)) for r in records if r.get("jpeg_quality")})
    washed = washed_points(records)
    baseline, noise_at, response = (baseline_records(tiles_dir, scale, qualities, washed) if tiles_dir
                                    else ([], {}, ()))
    parts = fit_parts(records, scale, baseline_of(baseline, noise_at, response))
    header = _header(inputs, records, scale, baseline, tiles_dir)
    data = (fresh_recipe(parts, name, scale, header) if base_recipe is None
            else rebased_recipe(base_recipe.data, parts, name,
                                header + [f"Base recipe: {base_recipe.source}."]))
    text = dump_recipe(data)
    try:
        dry_run(parse_recipe(text, str(out)))
    except RecipeError as err:  # a fitted recipe the engine refuses is our bug: say so plainly
        raise RuntimeError(f"the fitted recipe does not validate: {err}") from err
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path = out.with_name(f"{out.stem}.fit.json")
    summary = summarise(records)
    atomic_write_text(json_path, json.dumps({
        "version": 1, "inputs": [str(i) for i in inputs], "scale": scale, "recipe": str(out), "base": base,
        "summary": summary, "images": records, "errors": errors,
        "baseline": {"tiles": tiles_dir, "images": len(baseline), "summary": summarise(baseline),
                     "noise_after_jpeg": [{"quality": q, "washed": w, "noise": n}
                                          for (q, w), n in sorted(noise_at.items())],
                     "gamma_response": [{"levels_gamma": g, "reading_factor": f} for g, f in response],
                     "records": baseline},
    }, indent=1) + "\n")
    atomic_write_text(out, text)
    return FitResult(records, errors, summary, baseline, out, json_path, text, parts.notes,
                     time.perf_counter() - start)
