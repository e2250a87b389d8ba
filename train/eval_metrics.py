"""The scores of one evaluated image: the one place a metric is computed (a new column starts here).

``score_image`` scores every method's output of one image against its HR (all methods at once, so a
metric that needs work on the HR alone, a reference, does it once per image); the table averages
each metric of ``METRICS`` over the images whose scores are all defined. PSNR of an output identical
to the HR is infinite (a blank page that every method reproduces exactly): such an image is left out
of the means, with its reason, rather than making a mean infinite. ``manga_image_scores`` adds the
manga scores (``manga_scores``) of every method, for ``scores.csv``.
"""

from __future__ import annotations

import math

import numpy as np

from srkit.train.manga_scores import Reference, reference, score_against
from srkit.train.metrics import psnr_ssim_y

METRICS = ("PSNR", "SSIM")
SSIM_WINDOW = 11


def score_image(hr: np.ndarray, outputs: dict[str, np.ndarray], scale: int) -> dict[str, dict[str, float]]:
    """method -> every metric of its output against ``hr`` (uint8, same size), on Y with ``scale`` px
    shaved."""
    scores = {}
    for method, output in outputs.items():
        psnr, ssim = psnr_ssim_y(output, hr, crop_border=scale)
        scores[method] = {"PSNR": psnr, "SSIM": ssim}
    return scores


def manga_image_scores(hr: np.ndarray, outputs: dict[str, np.ndarray], scale: int,
                       scores: dict[str, dict[str, float]]) -> tuple[Reference, dict[str, dict[str, float]]]:
    """The HR analysed once (its screentone windows, lines, paper), and per method the columns of
    ``sr-train score``: ``scores``' PSNR and SSIM with the manga scores, ``scale`` px shaved."""
    ref = reference(hr, scale)
    return ref, {method: {"psnr": scores[method]["PSNR"], "ssim": scores[method]["SSIM"],
                          **score_against(ref, output)} for method, output in outputs.items()}


def undefined_reason(scores: dict[str, dict[str, float]]) -> str | None:
    """Why an image's scores (method -> metric -> value) cannot enter a mean, or None."""
    bad = [(method, metric) for method, values in scores.items() for metric, v in values.items()
           if not math.isfinite(v)]
    if not bad:
        return None
    methods = sorted({m for m, _ in bad})
    metrics = sorted({k for _, k in bad})
    return (f"{' and '.join(metrics)} undefined for {', '.join(methods)} (output identical to the HR); "
            "left out of the means")


def smallest_side(scale: int) -> int:
    """The smallest HR side that can be degraded by ``scale`` and scored (SSIM's 11 x 11 window
    after shaving ``scale`` px per side, and at least 4 px of LR)."""
    return max(4 * scale, SSIM_WINDOW + 2 * scale)
