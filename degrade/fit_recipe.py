"""Measurements in, recipe out: the recipe whose distributions reproduce what the raws measured.

The chain (each step only where the raws call for it): downscale to HR / scale (`bicubic_aa`), or for
the share of raws that were enlarged, downscale further and enlarge back by the measured factor with
the measured kernel; blur; levels and noise (drawn together, as scans show them); JPEG. Every number
is a weighted choice over the measured values (their quantiles when there are many), so the recipe
draws what the raws show, at the rate they show it. What the user's HR tiles already have after a
plain downscale (the *baseline*: their own softness, and the texture JPEG leaves that reads as a
little noise) is taken off: the recipe adds only the difference.
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
NOISY = 1.0  # noise sigma (levels) below this: clean
MIN_GAMMA_RAWS = 3  # a gamma ratio needs this many raws on each side
MIN_NOISE_SHARE = 0.05  # noise read on under 5 % of the image (a few flat blocks) does not count
NOISE_OVER_FLOOR = 1.3  # noisy: 30 % over what the HR tiles read with no noise at that quality
WASHED_LEVELS = 10.0  # black or white point this far (levels) from the baseline's: levels step
MAX_CHOICES = 6
MODES = {"bicubic": "bicubic_aa", "bilinear": "bilinear_aa", "lanczos": "lanczos"}
SUBSAMPLING = {"4:2:0": "420", "4:2:2": "422", "4:4:4": "444"}


@dataclass(frozen=True)
class Baseline:
    """The medians the user's HR tiles measure after a plain antialiased bicubic downscale by the scale;
    `noise_at`: their noise reading after JPEG at each quality the raws show, as they are and put through
    the washed raws' levels (what compression leaves of the page's texture reads as a little noise,
    more where paper at 255 is no use to the estimator); `gamma_response`: how far levels with gamma g
    move their gamma reading (`estimate.calibrate.gamma_response`)."""

    blur: float = 0.0
    noise: float = 0.0
    gamma: float | None = None
    black: float = 0.0
    white: float = 255.0
    images: int = 0
    noise_at: tuple[tuple[int, bool, float], ...] = ()  # (quality, washed, noise reading)
    gamma_response: tuple[tuple[float, float], ...] = ()  # (levels gamma, factor on the gamma reading)

    def noise_for(self, quality: int | None, washed: bool = False) -> float:
        """The noise a raw of this quality (and washed-out paper or not) reads with no noise added."""
        rows = [r for r in self.noise_at if r[1] == washed] or [r for r in self.noise_at]
        if quality is None or not rows:
            return self.noise
        return min(rows, key=lambda r: abs(r[0] - quality))[2]

    def levels_gamma(self, reading: float) -> float:
        """The levels gamma that moves the HR tiles' gamma reading by the factor `reading` (interpolated
        on log scales; the factor itself when there are no HR tiles to measure the response on)."""
        if len(self.gamma_response) < 2:
            return reading
        rows = [self.gamma_response[0]]
        for row in self.gamma_response[1:]:  # past the reading's ceiling (gamma 5) a factor stops growing
            if row[1] > rows[-1][1]:
                rows.append(row)
        gammas, factors = np.log(np.asarray(rows, np.float64)).T
        return float(np.exp(np.interp(math.log(reading), factors, gammas)))


def _median(records: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.median(values)) if values else None


def baseline_of(records: list[dict[str, Any]], noise_at: dict[tuple[int, bool], float] | None = None,
                gamma_response: tuple[tuple[float, float], ...] = ()) -> Baseline:
    if not records:
        return Baseline()
    return Baseline(blur=_median(records, "blur_sigma") or 0.0,
                    noise=_median(records, "noise_sigma") or 0.0,
                    gamma=_median(records, "gamma"), black=_median(records, "black_point") or 0.0,
                    white=_median(records, "white_point") or 255.0, images=len(records),
                    noise_at=tuple(sorted((q, w, n) for (q, w), n in (noise_at or {}).items())),
                    gamma_response=gamma_response)


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
    scan: dict[str, Any] | None  # levels and noise drawn together (a fresh recipe)
    levels: dict[str, Any] | None  # each on its own (for a --base recipe's own steps)
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
    scan, levels, noise = _scan_steps(raws, base, notes)
    jpeg = _jpeg_step(raws)
    return Fitted(native_blur, enlarged, weights, len(native), scan, levels, noise, jpeg, notes)


def _is_washed(r: dict[str, Any], base: Baseline) -> bool:
    black = r.get("black_point") if r.get("black_point") is not None else base.black
    white = r.get("white_point") if r.get("white_point") is not None else base.white
    return black - base.black >= WASHED_LEVELS or base.white - white >= WASHED_LEVELS


def _noise_of(r: dict[str, Any], base: Baseline) -> float:
    """The raw's noise when it stands clear of what compression leaves of the page's texture, else 0."""
    sigma = r.get("noise_sigma")
    if sigma is None or (r.get("noise_fraction") or 0.0) < MIN_NOISE_SHARE:
        return 0.0  # a reading from a few flat blocks inside a drawing is too weak to add noise for
    floor = base.noise_for(r.get("jpeg_quality"), _is_washed(r, base))
    return float(sigma) if sigma >= max(NOISY, NOISE_OVER_FLOOR * floor) else 0.0


def _levels_spec(group: list[dict[str, Any]], base: Baseline, reference: float | None,
                 ) -> tuple[dict[str, Any], str]:
    """levels keys for a group of washed raws. Gamma: the median of its noise-free members' gamma
    readings over `reference` (the median of the unwashed, noise-free raws': pages of the same folder,
    so drawn alike; the reading depends on how densely a page is drawn, and noise lifts the black
    point it is read from), turned into the levels gamma that moves the HR tiles' reading as far
    (`Baseline.levels_gamma`)."""
    blacks = [max(0.0, (r["black_point"] if r.get("black_point") is not None else base.black) - base.black)
              for r in group]
    whites = [min(255.0, (r["white_point"] if r.get("white_point") is not None else base.white)
                  + (255.0 - base.white)) for r in group]
    if max(blacks) >= min(whites):
        blacks = [min(b, min(whites) - 1.0) for b in blacks]
    ratios = [r["gamma"] / reference for r in group
              if reference and r.get("gamma") and not _noise_of(r, base)]
    if len(ratios) >= MIN_GAMMA_RAWS:  # one value, their median: per-page readings scatter widely
        gamma: Any = round(base.levels_gamma(float(np.median(ratios))), 2)
        told = (f"gamma {gamma:g} (their gamma reading over the unwashed raws': {_fmt(ratios)}; "
                + ("levels gamma as the HR tiles respond" if base.gamma_response else
                   "no HR tiles to calibrate on: the factor itself, which understates the curve") + ")")
    else:
        gamma, told = 1.0, "gamma 1 (too few noise-free raws here, or unwashed ones, to compare midtones)"
    keys = {"black": choice(blacks, 1), "white": choice(whites, 1), "gamma": gamma}
    return keys, f"black {_fmt(blacks, 1)}, white {_fmt(whites, 1)}, {told}"


Step = dict[str, Any]


def _scan_steps(raws: list[dict[str, Any]], base: Baseline,
                notes: list[str]) -> tuple[Step | None, Step | None, Step | None]:
    """(the joint scan step, the pooled levels step, the pooled noise step).

    Washed-out tones and noise come together in scans: the joint step draws them together, one branch
    per combination the raws show, weighted by how many show it. The pooled steps (each on its own)
    are what a --base recipe's separate levels and noise steps get."""
    n = len(raws)
    plain = [r["gamma"] for r in raws
             if r.get("gamma") and not _is_washed(r, base) and not _noise_of(r, base)]
    reference = float(np.median(plain)) if len(plain) >= MIN_GAMMA_RAWS else None
    groups: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
    for r in raws:
        groups.setdefault((_is_washed(r, base), bool(_noise_of(r, base))), []).append(r)
    children, weights = [], []
    for (washed, noisy), group in sorted(groups.items(), reverse=True):
        steps = []
        if washed:
            keys, told = _levels_spec(group, base, reference)
            steps.append({COMMENT: [f"Levels ({len(group)} raws): {told}."], "op": "levels", **keys})
        if noisy:
            sigmas = [_noise_of(r, base) for r in group]
            steps.append({COMMENT: [f"Noise ({len(group)} raws): {_fmt(sigmas)} levels, one plane on every "
                                    "channel (the luma noise is sigma)."],
                          "op": "gaussian_noise", "sigma": choice(sigmas, 2), "gray_prob": 1.0})
        if steps:
            children.append({"sequence": steps})
            weights.append(len(group))
    if not children:
        return None, None, None
    scan = {COMMENT: [f"Scan: {sum(weights)} of {n} raws are washed out and / or noisy (noise over what "
                      "JPEG leaves of the HR tiles' texture at the raw's quality); each combination drawn "
                      "as often as the raws show it."],
            "name": "scan", "weights": weights, "one_of": children}
    washed = [r for r in raws if _is_washed(r, base)]
    levels = None
    if washed:
        keys, told = _levels_spec(washed, base, reference)
        levels = _with_p({COMMENT: [f"Levels: {len(washed)} of {n} raws are washed out: {told}."],
                          "op": "levels", **keys}, _share(len(washed), n))
    measured = [r for r in raws if r.get("noise_sigma") is not None]
    sigmas = [s for s in (_noise_of(r, base) for r in measured) if s]
    noise = None
    if sigmas:
        noise = _with_p({COMMENT: [f"Noise: {len(sigmas)} of {len(measured)} measurable raws are noisy, "
                                   f"{_fmt(sigmas)} levels; one plane on every channel."],
                         "op": "gaussian_noise", "sigma": choice(sigmas, 2), "gray_prob": 1.0},
                        _share(len(sigmas), len(measured)))
    return _with_p(scan, _share(sum(weights), n)), levels, noise


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
    steps += [s for s in (parts.scan, parts.jpeg) if s is not None]
    return {COMMENT: header, "name": name,
            "description": f"Fitted by sr-data fit: {'; '.join(_describe(parts))}.",
            "scale": scale, "seed": 0, "steps": steps}


def _describe(parts: Fitted) -> list[str]:
    out = []
    if parts.enlarged:
        out.append(f"{sum(parts.enlarged_weights)} of {parts.native_count + sum(parts.enlarged_weights)} "
                   "enlarged")
    for label, step in (("blur", parts.native_blur), ("levels and noise", parts.scan), ("JPEG", parts.jpeg)):
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
