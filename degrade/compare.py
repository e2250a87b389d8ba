"""`sr-data compare`: how close a degraded LR folder is to a folder of real raws, feature by feature.

Both folders are measured with the same estimators (`estimate.measure`). For each feature the
distance is the Wasserstein-1 distance between the two distributions of per-image values (the mean
absolute shift needed to turn one into the other, on the feature's own scale: quality units, pixels,
levels), divided by the feature's SCALE (the tolerance the estimators are tested to), plus the
difference of the shares of images where the feature could not be measured. A distance of 1 is one
tolerance unit; the overall distance is the mean over the features measured on both sides. A JPEG
quality that is null (no JPEG seen) counts as 100.

Like with like: LR tiles are small crops of pages, raws are usually whole pages, and what a feature
reads depends on how much page it sees (a 100 px tile often holds no solid black). So raws at least
twice the LR's median side are cut as `sr-data tile` would cut them at that side (its grid and its
rejection of flat and low-detail tiles; up to RAW_CROPS per raw) and measured crop by crop. The JPEG
facts and the enlargement are the whole raw's, read once (a crop's JPEG grid offset is kept track of).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from srkit.core.console import UsageError
from srkit.core.files import atomic_write_text
from srkit.degrade.estimate.measure import FEATURES
from srkit.degrade.fit import DEFAULT_LIMIT, QUANTILES, find_images, measure_images

# One tolerance unit per feature: the accuracy the estimators are tested to (see the README).
SCALES = {"jpeg_quality": 5.0, "blur_sigma": 0.3, "noise_sigma": 1.5, "upscaled_by": 0.05,
          "black_point": 8.0, "white_point": 8.0, "gamma": 0.25, "tone": 0.05}
NO_JPEG = 100.0
RAW_CROPS = 64  # at most this many tile-sized crops measured per raw (evenly spread)


@dataclass
class CompareResult:
    features: dict[str, dict[str, Any]]
    overall: float | None
    counts: dict[str, int]
    errors: list[dict[str, str]]
    json_path: Path
    png_path: Path
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0


def feature_values(records: list[dict[str, Any]], key: str) -> tuple[np.ndarray, int]:
    """The measured values of `key` and the number of images where it is null."""
    if key == "jpeg_quality":
        return np.asarray([NO_JPEG if r.get(key) is None else r[key] for r in records], np.float64), 0
    values = [r[key] for r in records if r.get(key) is not None]
    return np.asarray(values, np.float64), len(records) - len(values)


def _quantiles(values: np.ndarray) -> dict[str, float] | None:
    if not values.size:
        return None
    return {f"q{int(q * 100):02d}": round(float(np.quantile(values, q)), 4) for q in QUANTILES}


def compare_records(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]],
                                                                                  float | None]:
    """Per feature: both sides' quantiles, W1 and the normalised distance; and the overall distance."""
    out: dict[str, dict[str, Any]] = {}
    used = []
    for key in FEATURES:
        va, na = feature_values(a, key)
        vb, nb = feature_values(b, key)
        entry: dict[str, Any] = {"scale": SCALES[key], "a": _quantiles(va), "b": _quantiles(vb),
                                 "a_null_share": round(na / max(1, len(a)), 4),
                                 "b_null_share": round(nb / max(1, len(b)), 4),
                                 "a_values": va.tolist(), "b_values": vb.tolist()}
        if va.size and vb.size:
            w1 = float(wasserstein_distance(va, vb))
            gap = abs(entry["a_null_share"] - entry["b_null_share"])
            entry.update(w1=round(w1, 4), distance=round(w1 / SCALES[key] + gap, 4))
            used.append(entry["distance"])
        else:
            entry.update(w1=None, distance=None)
        out[key] = entry
    return out, (round(float(np.mean(used)), 4) if used else None)


def compare_folders(lr_dir: str | os.PathLike, raws_dir: str | os.PathLike,
                    out_dir: str | os.PathLike = "compare", jobs: int | None = 0, backend: str = "loky",
                    limit: int | None = DEFAULT_LIMIT, on_start: Callable[[int], None] | None = None,
                    on_progress: Callable[[int, int], None] | None = None) -> CompareResult:
    """Measure both folders, write OUT/compare.json and OUT/compare.png; `a` is the LR, `b` the raws."""
    from srkit.degrade.compare_plot import plot_comparison

    start = time.perf_counter()
    for what, folder in (("LR_DIR", lr_dir), ("RAWS_DIR", raws_dir)):
        if not Path(folder).is_dir():
            raise UsageError(f"{what} {folder} is not a folder")
    out = Path(out_dir)
    lr_paths, lr_skipped = find_images([lr_dir], limit, exclude=[out])
    raw_paths, raw_skipped = find_images([raws_dir], limit, exclude=[out])
    for what, paths, folder in (("LR", lr_paths, lr_dir), ("raw", raw_paths, raws_dir)):
        if not paths:
            raise UsageError(f"no {what} images found in {folder}")
    if on_start:
        on_start(len(lr_paths) + len(raw_paths))
    done = {"n": 0}

    def step(_: int, __: int) -> None:
        done["n"] += 1
        if on_progress:
            on_progress(done["n"], len(lr_paths) + len(raw_paths))

    lr_records, lr_errors = measure_images(lr_paths, jobs, backend, step)
    crop = None
    if lr_records:
        crop = int(np.median([min(r["height"], r["width"]) for r in lr_records]))
    raw_records, raw_errors = measure_images(raw_paths, jobs, backend, step, crop=crop, crops=RAW_CROPS)
    if not lr_records or not raw_records:
        raise UsageError("no readable images on one side; see the errors above")
    features, overall = compare_records(lr_records, raw_records)
    errors = sorted(lr_skipped + raw_skipped + lr_errors + raw_errors, key=lambda e: e["file"])
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "compare.json", out / "compare.png"
    counts = {"lr": len(lr_records), "raws": len(raw_records)}
    atomic_write_text(json_path, json.dumps({
        "version": 1, "lr": str(lr_dir), "raws": str(raws_dir), "counts": counts, "overall": overall,
        "scales": SCALES, "features": {k: {kk: vv for kk, vv in v.items() if not kk.endswith("_values")}
                                       for k, v in features.items()},
        "records": {"lr": lr_records, "raws": raw_records}, "errors": errors,
    }, indent=1) + "\n")
    plot_comparison(features, overall, f"LR: {lr_dir}", f"raws: {raws_dir}", png_path)
    return CompareResult(features, overall, counts, errors, json_path, png_path,
                         {"lr": lr_records, "raws": raw_records}, time.perf_counter() - start)
