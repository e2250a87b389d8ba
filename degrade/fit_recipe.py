"""Measurements in, recipe out: the recipe whose distributions reproduce what the raws measured.

The chain (each step only where the raws call for it): downscale to HR / scale (`bicubic_aa`), or for
the share of raws that were enlarged, downscale further and enlarge back by the measured factor with
the measured kernel; blur; levels; noise; JPEG. Every number is a weighted choice over the measured
values (their quantiles when there are many), so the recipe draws what the raws show, at the rate
they show it. What the user's HR tiles already have after a plain downscale (the *baseline*: their
own softness, grain and midtones) is taken off: the recipe adds only the difference.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from srkit.degrade.estimate.calibrate import enlargement_blur
from srkit.degrade.recipe_toml import COMMENT

UPSCALED = 1.05  # upscaled_by at least this: the raw was enlarged
BLURRED = 0.25  # added blur sigma (px) below this: sharp
NOISY = 1.0  # added noise sigma (levels) below this: clean
WASHED_LEVELS = 10.0  # black or white point this far (levels) from the baseline's: levels step
MAX_CHOICES = 6
MODES = {"bicubic": "bicubic_aa", "bilinear": "bilinear_aa", "lanczos": "lanczos"}
SUBSAMPLING = {"4:2:0": "420", "4:2:2": "422", "4:4:4": "444"}


@dataclass(frozen=True)
class Baseline:
    """The medians the user's HR tiles measure after a plain antialiased bicubic downscale by the scale;
    `noise_at`: their noise reading after JPEG at each quality the raws show (what compression alone
    leaves of the page's texture reads as a little noise)."""

    blur: float = 0.0
    noise: float = 0.0
    gamma: float | None = None
    black: float = 0.0
    white: float = 255.0
    images: int = 0
    noise_at: tuple[tuple[int, float], ...] = ()

    def noise_for(self, quality: int | None) -> float:
        if quality is None or not self.noise_at:
            return self.noise
        return min(self.noise_at, key=lambda qn: abs(qn[0] - quality))[1]


def _median(records: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.median(values)) if values else None


def baseline_of(records: list[dict[str, Any]], noise_at: dict[int, float] | None = None) -> Baseline:
    if not records:
        return Baseline()
    return Baseline(blur=_median(records, "blur_sigma") or 0.0,
                    noise=_median(records, "noise_sigma") or 0.0,
                    gamma=_median(records, "gamma"), black=_median(records, "black_point") or 0.0,
                    white=_median(records, "white_point") or 255.0, images=len(records),
                    noise_at=tuple(sorted((noise_at or {}).items())))


def choice(values: list[float], digits: int, integer: bool = False) -> Any:
    """A value spec drawing like `values`: fixed, or a weighted choice (quantiles when many)."""
    rounded = [int(round(v)) if integer else round(float(v), digits) for v in values]
    counts = Counter(rounded)
    if len(counts) == 1:
        return rounded[0]
    if len(counts) <= MAX_CHOICES:
        keys = sorted(counts)
        return {"choices": keys, "weights": [counts[k] for k in keys]}
    qs = np.quantile(np.asarray(values, np.float64), (np.arange(MAX_CHOICES) + 0.5) / MAX_CHOICES)
    picks = [int(round(q)) if integer else round(float(q), digits) for q in qs]
    counts = Counter(picks)
    keys = sorted(counts)
    return {"choices": keys, "weights": [counts[k] for k in keys]}


def snap(factor: float) -> float:
    """A measured enlargement (a ratio of two integer sizes) as the simple fraction it is within 1 % of
    (halves, thirds, quarters), else as measured: 353 / 176 is 2."""
    for den in (2, 3, 4):
        nice = round(factor * den) / den
        if abs(nice - factor) <= 0.01 * factor:
            return nice
    return factor


def _fmt(values: list[float], digits: int = 2) -> str:
    if not values:
        return "none"
    q10, q50, q90 = np.quantile(np.asarray(values, np.float64), (0.1, 0.5, 0.9))
    return f"median {q50:.{digits}f} [q10 {q10:.{digits}f}, q90 {q90:.{digits}f}]"


def _share(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


def _with_p(step: dict[str, Any], p: float) -> dict[str, Any]:
    return step if p >= 1.0 else {"p": p, **step}


@dataclass
class Fitted:
    """The parts of a fitted recipe, each with the comment that says where its numbers come from."""

    native_blur: dict[str, Any] | None
    enlarged: list[dict[str, Any]]  # one sequence step per kernel family, with its weight
    enlarged_weights: list[int]
    native_count: int
    levels: dict[str, Any] | None
    noise: dict[str, Any] | None
    jpeg: dict[str, Any] | None
    notes: list[str]


def _blur_step(sigmas: list[float], total: int, what: str) -> dict[str, Any] | None:
    blurred = [s for s in sigmas if s >= BLURRED]
    if not blurred:
        return None
    step = {COMMENT: [f"Blur: {len(blurred)} of {total} {what} have added blur, {_fmt(blurred)} px."],
            "op": "gaussian_blur", "sigma": choice(blurred, 2)}
    return _with_p(step, _share(len(blurred), total))


def fit_parts(raws: list[dict[str, Any]], scale: int, base: Baseline) -> Fitted:
    n = len(raws)
    notes: list[str] = []
    native = [r for r in raws if (r.get("upscaled_by") or 1.0) < UPSCALED]
    added = [math.sqrt(max(0.0, r["blur_sigma"] ** 2 - base.blur ** 2)) for r in native
             if r.get("blur_sigma") is not None]
    native_blur = _blur_step(added, len(native), "native raws (blur over the baseline's)")
    enlarged, weights = [], []
    by_kernel: dict[str, list[dict[str, Any]]] = {}
    for r in raws:
        if (r.get("upscaled_by") or 1.0) >= UPSCALED:
            by_kernel.setdefault(r.get("upscale_kernel") or "bicubic", []).append(r)
    for kernel, group in sorted(by_kernel.items()):
        mode = MODES.get(kernel, "bicubic_aa")
        factors = [snap(float(r["upscaled_by"])) for r in group]
        small_blur = []
        for r in group:
            if r.get("blur_sigma") is None:
                continue
            own = enlargement_blur(round(float(r["upscaled_by"]), 2), mode)
            left = r["blur_sigma"] ** 2 - own ** 2 - base.blur ** 2
            small_blur.append(math.sqrt(max(0.0, left)) / float(r["upscaled_by"]))
        steps = [{COMMENT: [f"{len(group)} of {n} raws were enlarged with a {kernel} kernel by "
                            f"{_fmt(factors)}: downscale by scale x factor, then enlarge to HR / scale."],
                  "op": "resize", "factor": choice([1.0 / (scale * f) for f in factors], 4),
                  "mode": "bicubic_aa"}]
        blur = _blur_step(small_blur, len(group),
                          "enlarged raws (blur before the enlargement, in its pixels)")
        if blur is not None:
            steps.append(blur)
        steps.append({"op": "resize", "to": "final", "mode": mode})
        enlarged.append({"sequence": steps})
        weights.append(len(group))
    levels = _levels_step(raws, base, notes)
    noise = _noise_step(raws, base)
    jpeg = _jpeg_step(raws)
    return Fitted(native_blur, enlarged, weights, len(native), levels, noise, jpeg, notes)


def _levels_step(raws: list[dict[str, Any]], base: Baseline, notes: list[str]) -> dict[str, Any] | None:
    """Washed-out raws (black or white point off the baseline's): their points, and their midtone gamma
    over that of the other raws (the same kind of pages: gamma depends on content as much as on tone)."""
    n = len(raws)
    washed, plain = [], []
    for r in raws:
        black = r.get("black_point") if r.get("black_point") is not None else base.black
        white = r.get("white_point") if r.get("white_point") is not None else base.white
        off = black - base.black >= WASHED_LEVELS or base.white - white >= WASHED_LEVELS
        (washed if off else plain).append((black, white, r.get("gamma")))
    if not washed:
        return None
    blacks = [max(0.0, b - base.black) for b, _, _ in washed]
    whites = [min(255.0, w + (255.0 - base.white)) for _, w, _ in washed]
    if max(blacks) >= min(whites):
        blacks = [min(b, min(whites) - 1.0) for b in blacks]
    washed_g = [g for _, _, g in washed if g]
    plain_g = [g for _, _, g in plain if g]
    reference = float(np.median(plain_g)) if len(plain_g) >= 3 else base.gamma
    if reference and washed_g:
        gamma: Any = choice([g / reference for g in washed_g], 2)
        told = f"gamma over the other raws' {_fmt([g / reference for g in washed_g])}"
    else:
        gamma, told = 1.0, "gamma kept (no unwashed raws or HR tiles to compare the midtones with)"
        notes.append("levels gamma not fitted: " + told.split("(")[1].rstrip(")"))
    step = {COMMENT: [f"Levels: {len(washed)} of {n} raws are washed out: black {_fmt(blacks, 1)}, "
                      f"white {_fmt(whites, 1)}; {told}."],
            "op": "levels", "black": choice(blacks, 1), "white": choice(whites, 1), "gamma": gamma}
    return _with_p(step, _share(len(washed), n))


def _noise_step(raws: list[dict[str, Any]], base: Baseline) -> dict[str, Any] | None:
    measured = [r for r in raws if r.get("noise_sigma") is not None]
    added = [math.sqrt(max(0.0, float(r["noise_sigma"]) ** 2 - base.noise_for(r.get("jpeg_quality")) ** 2))
             for r in measured]
    noisy = [s for s in added if s >= NOISY]
    if not noisy:
        return None
    step = {COMMENT: [f"Noise: {len(noisy)} of {len(measured)} measurable raws have noise over the "
                      f"baseline's (at their JPEG quality), {_fmt(noisy)} levels; one plane on every "
                      "channel, so the luma noise is sigma."],
            "op": "gaussian_noise", "sigma": choice(noisy, 2), "gray_prob": 1.0}
    return _with_p(step, _share(len(noisy), len(measured)))


def _jpeg_step(raws: list[dict[str, Any]]) -> dict[str, Any] | None:
    n = len(raws)
    jpeg = [r for r in raws if r.get("jpeg_quality") is not None]
    if not jpeg:
        return None
    qualities = [int(r["jpeg_quality"]) for r in jpeg]
    sources = Counter(r.get("jpeg_quality_source") for r in jpeg)
    step: dict[str, Any] = {
        COMMENT: [f"JPEG: {len(jpeg)} of {n} raws show JPEG ({sources.get('tables', 0)} from their tables, "
                  f"{sources.get('blockiness', 0)} from block artifacts), quality {_fmt(qualities, 0)}."],
        "op": "jpeg", "quality": choice(qualities, 0, integer=True)}
    colour = Counter(SUBSAMPLING[r["subsampling"]] for r in jpeg
                     if r.get("channels") == 3 and r.get("subsampling") in SUBSAMPLING)
    if colour:
        step["subsampling"] = colour.most_common(1)[0][0]
    return _with_p(step, _share(len(jpeg), n))


def fresh_recipe(parts: Fitted, name: str, scale: int, header: list[str]) -> dict[str, Any]:
    """A new recipe from the fitted parts (see the module docstring for the chain)."""
    native: list[dict[str, Any]] = [{"op": "resize", "to": "final", "mode": "bicubic_aa"}]
    if parts.native_blur is not None:
        native.append(parts.native_blur)
    steps: list[dict[str, Any]]
    if not parts.enlarged:
        native[0][COMMENT] = ["Downscale to HR / scale: antialiased bicubic (MATLAB imresize), as the blur "
                              "measurements assume."]
        steps = native
    else:
        children = ([{"sequence": native}] if parts.native_count else []) + parts.enlarged
        weights = ([parts.native_count] if parts.native_count else []) + parts.enlarged_weights
        steps = [{COMMENT: ["Native raws: downscale to HR / scale; enlarged raws: their own branch."],
                  "name": "downscale", "weights": weights, "one_of": children}]
    steps += [s for s in (parts.levels, parts.noise, parts.jpeg) if s is not None]
    return {COMMENT: header, "name": name,
            "description": f"Fitted by sr-data fit: {'; '.join(_describe(parts))}.",
            "scale": scale, "seed": 0, "steps": steps}


def _describe(parts: Fitted) -> list[str]:
    out = []
    if parts.enlarged:
        out.append(f"{sum(parts.enlarged_weights)} of {parts.native_count + sum(parts.enlarged_weights)} "
                   "enlarged")
    for label, step in (("blur", parts.native_blur), ("levels", parts.levels), ("noise", parts.noise),
                        ("JPEG", parts.jpeg)):
        if step is not None:
            out.append(f"{label} p {step.get('p', 1.0):g}")
    return out or ["a plain downscale"]


# Which fitted part replaces the parameters of which op of a base recipe, and which keys.
REBASED = {"gaussian_blur": ("native_blur", ("sigma",)), "levels": ("levels", ("black", "white", "gamma")),
           "gaussian_noise": ("noise", ("sigma", "gray_prob")), "jpeg": ("jpeg", ("quality", "subsampling"))}


def rebased_recipe(base: dict[str, Any], parts: Fitted, name: str, header: list[str]) -> dict[str, Any]:
    """The base recipe with the fitted parameters put into its own steps; its structure is kept.

    A step whose op was fitted gets the fitted values and the fitted probability (0 when the raws show
    none of it); fitted parts the base has no step for are named in the header, not added.
    """
    used: set[str] = set()

    def walk(step: dict[str, Any]) -> dict[str, Any]:
        out = dict(step)
        for kind in ("one_of", "sequence", "random_order"):
            if kind in out:
                out[kind] = [walk(child) for child in out[kind]]
        if out.get("op") in REBASED:
            part_name, keys = REBASED[out["op"]]
            part = getattr(parts, part_name)
            used.add(part_name)
            if part is None:
                out["p"] = 0.0
                out[COMMENT] = [f"Fitted: the raws show no {out['op']} beyond the baseline (p 0)."]
            else:
                for key in keys:
                    if key in part:
                        out[key] = part[key]
                out["p"] = part.get("p", 1.0)
                out[COMMENT] = part[COMMENT]
        return out

    steps = [walk(s) for s in base["steps"]]
    missing = [p for p in ("native_blur", "levels", "noise", "jpeg") if getattr(parts, p) is not None
               and p not in used]
    if parts.enlarged:
        missing.append("enlargement")
    notes = ([f"Measured but not applied (the base recipe has no step for it): {', '.join(missing)}."]
             if missing else [])
    data = {k: v for k, v in base.items() if k not in ("steps", COMMENT)}
    description = f"{base.get('description', '')} Parameters fitted by sr-data fit.".strip()
    data.update(name=name, description=description, steps=steps)
    return {COMMENT: header + notes, **data}
