"""Validation on the store's validation split: PSNR / SSIM on Y and the manga scores ``tone_kept``
and ``line_f1`` (``train.manga_scores``), beside the bicubic baseline.

The validation pairs are whole tiles (no crop). The model sees the LR; the baseline is the Pillow
bicubic upscale of the same LR (for scale-1 stores, whose LR is already at HR size, the LR itself).
The border shaved is the SR factor: the store's scale, or for a down-up (scale-1) store the recipe's
nominal factor, as the SRCNN papers measure. Each HR tile is analysed for the manga scores once, when
the pairs are loaded, so a validation only analyses the model's outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from srkit.core.images import hwc, write_png
from srkit.train.manga_scores import Reference, reference, score_against
from srkit.train.metrics import bicubic_upscale, psnr_ssim_y, round_to_uint8

MIN_VALIDATION = 8  # fewer validation pairs give a PSNR that moves with the pick of tiles
VAL_MANGA_SCORES = ("tone_kept", "line_f1")


@dataclass
class ValSet:
    keys: list[str]
    lrs: list[np.ndarray]
    hrs: list[np.ndarray]
    baselines: list[np.ndarray]
    border: int                   # pixels shaved from every side before measuring
    bicubic_psnr: float
    bicubic_ssim: float
    references: list[Reference] = field(default_factory=list)   # each HR analysed for the manga scores
    bicubic_manga: dict[str, float | None] = field(default_factory=dict)


def load_valset(store, val_max: int) -> ValSet | None:
    """Read (at most ``val_max``, evenly spread) validation pairs and score their bicubic baseline."""
    indices = np.asarray(store.val_indices, dtype=np.int64)
    if len(indices) == 0:
        return None
    if val_max and len(indices) > val_max:
        indices = indices[np.linspace(0, len(indices) - 1, val_max).round().astype(np.int64)]
    border = int(store.scale)
    if border == 1:
        border = int((store.index.get("recipe") or {}).get("nominal_scale") or 1)
    keys, lrs, hrs, bases, scores = [], [], [], [], []
    for index in indices:
        pair = store.read(int(index))
        h, w = hwc(pair.hr).shape[:2]
        base = bicubic_upscale(pair.lr, (w, h))
        keys.append(pair.key)
        lrs.append(pair.lr)
        hrs.append(pair.hr)
        bases.append(base)
        scores.append(psnr_ssim_y(base, pair.hr, crop_border=border))
    p, s = np.mean(scores, axis=0)
    valset = ValSet(keys, lrs, hrs, bases, border, float(p), float(s),
                    references=[reference(hr, border) for hr in hrs])
    valset.bicubic_manga = mean_manga_scores(valset, bases)
    return valset


@torch.no_grad()
def upscale_tile(model: nn.Module, lr: np.ndarray, device: torch.device) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(hwc(lr).transpose(2, 0, 1))).unsqueeze(0).to(device)
    y = model(x.float().div_(255)).float().clamp_(0, 1)[0].permute(1, 2, 0).cpu().numpy()
    out = round_to_uint8(y)
    return out[:, :, 0] if lr.ndim == 2 and out.shape[2] == 1 else out


def score_on_valset(model: nn.Module, valset: ValSet,
                    device: torch.device) -> tuple[float, float, list[np.ndarray]]:
    """Mean (PSNR, SSIM) of ``model`` on the validation pairs, and its outputs."""
    was_training = model.training
    model.eval()
    outputs = [upscale_tile(model, lr, device) for lr in valset.lrs]
    model.train(was_training)
    pairs = zip(outputs, valset.hrs, strict=True)
    scores = [psnr_ssim_y(out, hr, crop_border=valset.border) for out, hr in pairs]
    p, s = np.mean(scores, axis=0)
    return float(p), float(s), outputs


def mean_manga_scores(valset: ValSet, outputs: list[np.ndarray]) -> dict[str, float | None]:
    """Mean ``tone_kept`` and ``line_f1`` of ``outputs`` over the validation pairs where each is measured
    (None when no pair holds screentone, or lines)."""
    scores = [score_against(ref, out) for ref, out in zip(valset.references, outputs, strict=True)]
    means: dict[str, float | None] = {}
    for name in VAL_MANGA_SCORES:
        values = [s[name] for s in scores if math.isfinite(s[name])]
        means[name] = float(np.mean(values)) if values else None
    return means


def manga_record(valset: ValSet, outputs: list[np.ndarray]) -> dict[str, float | None]:
    """The manga scores of a validation for ``metrics.jsonl``: the model's, and the bicubic baseline's
    as ``bicubic_<name>``."""
    baseline = {f"bicubic_{name}": value for name, value in valset.bicubic_manga.items()}
    return {**mean_manga_scores(valset, outputs), **baseline}


def split_warnings(store, val_max: int) -> list[str]:
    """What makes the validation PSNR of this store weak: shared pages, too few pairs, none at all."""
    from srkit.shards.split import shared_pages

    split = store.index.get("split") or {}
    used = len(store.val_indices) if not val_max else min(val_max, len(store.val_indices))
    if used == 0:
        return [f"{store.path} has no validation samples (packed with --val-fraction 0): no validation "
                "PSNR will be measured; repack with a --val-fraction to measure one"]
    warnings = []
    shared = shared_pages(store.keys, split)
    if shared:
        why = f" ({split['why']})" if split.get("why") else ""
        warnings.append(f"validation tiles come from {shared} page(s) that training sees too: the store's "
                        f"split is by single tiles{why}, so validation PSNR is optimistic")
    if used < MIN_VALIDATION:
        warnings.append(f"validation measures {used} sample(s) only (fewer than {MIN_VALIDATION}): its PSNR "
                        "is noisy; pack with a larger --val-fraction")
    return warnings


LABEL_H = 18


def _label(width: int, text: str) -> np.ndarray:
    strip = np.full((LABEL_H, width), 255, np.uint8)
    cv2.putText(strip, text[: max(1, width // 7)], (3, LABEL_H - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1,
                cv2.LINE_AA)
    return strip[:, :, None]


def save_grid(path: Path, valset: ValSet, outputs: list[np.ndarray], count: int) -> None:
    """One row per validation pair: bicubic | model | ground truth, each labelled (with its PSNR)."""
    rows = []
    for base, out, hr in list(zip(valset.baselines, outputs, valset.hrs, strict=True))[:count]:
        panels = []
        for name, img in (("bicubic", base), ("model", out), ("HR", hr)):
            if img is not hr:
                name += f" {psnr_ssim_y(img, hr, crop_border=valset.border)[0]:.2f} dB"
            img = hwc(img)
            label = np.repeat(_label(img.shape[1], name), img.shape[2], axis=2)
            panels.append(np.concatenate([label, img], axis=0))
        rows.append(np.concatenate(panels, axis=1))
    if not rows:
        return
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    grid = np.ascontiguousarray(np.concatenate(rows, axis=0))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, grid[:, :, 0] if grid.shape[2] == 1 else grid, level=3)
