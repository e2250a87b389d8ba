"""Resize ops: `resize` (factor / exact size / final LR size / HR size), `random_resize`, `to_final`.

Mode names say which resampler they are (see SPECS.md): `*_aa` modes are Pillow's antialiased filters
(`bicubic_aa` is MATLAB imresize bicubic, a = -0.5), `*_plain` and `area` are OpenCV's, which match
torch's F.interpolate (align_corners=False, no antialiasing) used by Real-ESRGAN.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from srkit.degrade.ops.base import Context, Op, SpecError, check_image, like
from srkit.degrade.ops.draw import (
    check_choice_list,
    check_keys,
    check_range,
    check_value,
    check_weights,
    draw_choice,
    draw_uniform,
    draw_value,
    get,
    pick_index,
)

_PIL_MODES = {
    "bicubic_aa": Image.Resampling.BICUBIC,
    "bilinear_aa": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}
_CV2_MODES = {
    "area": cv2.INTER_AREA,
    "bilinear_plain": cv2.INTER_LINEAR,
    "bicubic_plain": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST_EXACT,
}
MODES = tuple(_PIL_MODES) + tuple(_CV2_MODES)
REALESRGAN_MODES = ["area", "bilinear_plain", "bicubic_plain"]
_OVERSHOOTING = {"bicubic_aa", "lanczos", "bicubic_plain"}
MAX_FACTOR = 16.0


def scaled_size(n: float, factor: float) -> int:
    """floor(n * factor) as torch's F.interpolate does; the epsilon keeps 300 * (1/3) at 100; at least 1."""
    return max(1, math.floor(n * factor + 1e-9))


def final_size(ctx: Context) -> tuple[int, int]:
    """The final LR size: HR size // scale (at least 1 x 1)."""
    return max(1, ctx.hr_shape[0] // ctx.scale), max(1, ctx.hr_shape[1] // ctx.scale)


def resize_image(img: np.ndarray, out_h: int, out_w: int, mode: str) -> np.ndarray:
    """Resize uint8 or float32 (H, W) / (H, W, 3) to (out_h, out_w) with a named mode; same dtype out."""
    check_image(img)
    if mode not in _PIL_MODES and mode not in _CV2_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; known: {list(MODES)}")
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output size must be at least 1 x 1, got {out_h} x {out_w}")
    if img.shape[:2] == (out_h, out_w):
        return img.copy()
    if mode in _CV2_MODES:
        out = cv2.resize(img, (out_w, out_h), interpolation=_CV2_MODES[mode])
    elif img.dtype == np.uint8:
        pil = Image.fromarray(img, "L" if img.ndim == 2 else "RGB")
        out = np.asarray(pil.resize((out_w, out_h), _PIL_MODES[mode]))
    else:
        # Pillow resamples 32-bit float images ("F") one plane at a time, in floating point.
        planes = [img] if img.ndim == 2 else [img[:, :, c] for c in range(3)]
        res = [np.asarray(Image.fromarray(np.ascontiguousarray(p), "F").resize((out_w, out_h),
                                                                                _PIL_MODES[mode]))
               for p in planes]
        out = res[0] if img.ndim == 2 else np.stack(res, axis=2)
    if img.dtype == np.float32 and mode in _OVERSHOOTING:
        out = np.clip(out, 0.0, 1.0)
    return like(out, img) if img.dtype == np.float32 else np.ascontiguousarray(out)


def _apply_resize(img: np.ndarray, params: dict) -> np.ndarray:
    return resize_image(img, int(params["out_h"]), int(params["out_w"]), params["mode"])


def _check_modes(spec: dict) -> None:
    modes = get(spec, "modes", REALESRGAN_MODES)
    check_choice_list(modes, "modes", MODES)
    if "mode_weights" in spec:
        check_weights(spec["mode_weights"], "mode_weights", len(modes))


def _draw_mode(rng: np.random.Generator, spec: dict) -> str:
    modes = get(spec, "modes", REALESRGAN_MODES)
    return str(modes[pick_index(rng, spec.get("mode_weights"), len(modes))])


# ---- resize -------------------------------------------------------------------------------------------

_RESIZE_KEYS = ("factor", "size", "to", "mode")


def check_resize(spec: dict) -> None:
    check_keys(spec, _RESIZE_KEYS, "resize")
    given = [k for k in ("factor", "size", "to") if k in spec]
    if len(given) != 1:
        raise SpecError("factor", "give exactly one of `factor` (value spec), `size` ([h, w]) or "
                                  f"`to` (\"final\" or \"hr\"); got {given or 'none'}")
    if "factor" in spec:
        check_value(spec["factor"], "factor", "float", 1e-3, MAX_FACTOR)
    if "size" in spec:
        size = spec["size"]
        if (not isinstance(size, (list, tuple)) or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
            raise SpecError("size", f"expected [h, w], two integers >= 1, got {size!r}")
    if "to" in spec and spec["to"] not in ("final", "hr"):
        raise SpecError("to", f"expected \"final\" (HR / scale) or \"hr\" (the HR size), got {spec['to']!r}")
    check_value(get(spec, "mode", "bicubic_aa"), "mode", "str", allowed=MODES)


def sample_resize(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: factor (if a value spec), mode."""
    params: dict = {}
    if "factor" in spec:
        factor = float(draw_value(rng, spec["factor"], "factor", "float"))
        out_h, out_w = scaled_size(ctx.shape[0], factor), scaled_size(ctx.shape[1], factor)
        params["factor"] = factor
    elif "size" in spec:
        out_h, out_w = int(spec["size"][0]), int(spec["size"][1])
    elif spec.get("to") == "final":
        out_h, out_w = final_size(ctx)
    elif spec.get("to") == "hr":
        out_h, out_w = int(ctx.hr_shape[0]), int(ctx.hr_shape[1])
    else:
        raise SpecError("factor", "give exactly one of `factor`, `size` or `to`")
    mode = str(draw_choice(rng, get(spec, "mode", "bicubic_aa"), "mode"))
    params.update(mode=mode, out_h=int(out_h), out_w=int(out_w))
    return params


# ---- random_resize (Real-ESRGAN) ----------------------------------------------------------------------

_RANDOM_RESIZE_KEYS = ("probs", "up", "down", "modes", "mode_weights", "relative_to")
DIRECTIONS = ("up", "down", "keep")


def check_random_resize(spec: dict) -> None:
    check_keys(spec, _RANDOM_RESIZE_KEYS, "random_resize")
    probs = get(spec, "probs", [0.2, 0.7, 0.1])
    check_weights(probs, "probs", 3)
    if abs(sum(probs) - 1.0) > 1e-6:
        raise SpecError("probs", f"[p_up, p_down, p_keep] must sum to 1, got {probs!r} (sum {sum(probs)})")
    check_range(get(spec, "up", [1.0, 1.5]), "up", 1.0, MAX_FACTOR)
    down = get(spec, "down", [0.15, 1.0])
    check_range(down, "down", 0.0, 1.0)
    if down[0] <= 0:
        raise SpecError("down", f"down factors must be > 0, got {down!r}")
    _check_modes(spec)
    if get(spec, "relative_to", "input") not in ("input", "final"):
        raise SpecError("relative_to",
                        f"expected \"input\" or \"final\" (HR / scale), got {spec['relative_to']!r}")


def sample_random_resize(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: direction, factor (none for keep), mode (drawn for keep too)."""
    direction = DIRECTIONS[pick_index(rng, get(spec, "probs", [0.2, 0.7, 0.1]), 3)]
    if direction == "up":
        factor = draw_uniform(rng, list(get(spec, "up", [1.0, 1.5])), "up")
    elif direction == "down":
        factor = draw_uniform(rng, list(get(spec, "down", [0.15, 1.0])), "down")
    else:
        factor = 1.0
    mode = _draw_mode(rng, spec)
    if get(spec, "relative_to", "input") == "final":
        base_h, base_w = ctx.hr_shape[0] / ctx.scale, ctx.hr_shape[1] / ctx.scale
    else:
        base_h, base_w = ctx.shape[0], ctx.shape[1]
    return {"direction": direction, "factor": float(factor), "mode": mode,
            "out_h": scaled_size(base_h, factor), "out_w": scaled_size(base_w, factor)}


# ---- to_final -----------------------------------------------------------------------------------------


def check_to_final(spec: dict) -> None:
    check_keys(spec, ("modes", "mode_weights"), "to_final")
    _check_modes(spec)


def sample_to_final(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws the mode; the size is HR // scale."""
    out_h, out_w = final_size(ctx)
    return {"mode": _draw_mode(rng, spec), "out_h": int(out_h), "out_w": int(out_w)}


OPS = {
    "resize": Op("resize", sample_resize, _apply_resize, check_resize,
                 "Resize by a factor, to [h, w], to the final LR size or to the HR size with a named mode."),
    "random_resize": Op("random_resize", sample_random_resize, _apply_resize, check_random_resize,
                        "Real-ESRGAN resize: up / down / keep with probabilities, random factor and mode."),
    "to_final": Op("to_final", sample_to_final, _apply_resize, check_to_final,
                   "Resize to exactly HR / scale with a randomly chosen mode (Real-ESRGAN step 9)."),
}
