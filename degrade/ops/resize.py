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

from srkit.degrade.ops.base import Context, Op, check_image, like
from srkit.degrade.ops.schema import NO_DEFAULT, OpSchema, Param
from srkit.degrade.ops.value_specs import SpecError, pick_index

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
REALESRGAN_MODES = ("area", "bilinear_plain", "bicubic_plain")
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


# ---- resize -------------------------------------------------------------------------------------------

SIZE_KEYS = ("factor", "size", "to")


def _one_size_key(spec: dict) -> None:
    given = [k for k in SIZE_KEYS if k in spec]
    if len(given) != 1:
        raise SpecError("factor", "give exactly one of `factor` (value spec), `size` ([h, w]) or "
                                  f"`to` (\"final\" or \"hr\"); got {given or 'none'}")


RESIZE = OpSchema("resize", (
    Param.value_spec("factor", "float", lo=1e-3, hi=MAX_FACTOR),
    Param.size("size"),
    Param.option("to", NO_DEFAULT, {"final": "HR / scale", "hr": "the HR size"}),
    Param.value_spec("mode", "str", "bicubic_aa", allowed=MODES),
), rule=_one_size_key)


def sample_resize(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: factor (if a value spec), mode."""
    params: dict = {}
    if "factor" in spec:
        factor = RESIZE.draw(rng, spec, "factor")
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
    params.update(mode=RESIZE.draw(rng, spec, "mode"), out_h=int(out_h), out_w=int(out_w))
    return params


# ---- random_resize (Real-ESRGAN) ----------------------------------------------------------------------

DIRECTIONS = ("up", "down", "keep")


def _probs_sum_to_one(spec: dict) -> None:
    probs = RANDOM_RESIZE.value(spec, "probs")
    if abs(sum(probs) - 1.0) > 1e-6:
        raise SpecError("probs", f"[p_up, p_down, p_keep] must sum to 1, got {probs!r} (sum {sum(probs)})")


# Defaults: Real-ESRGAN's stage 1 (stage 2: probs [0.3, 0.4, 0.3], up [1, 1.2], down [0.3, 1], final).
RANDOM_RESIZE = OpSchema("random_resize", (
    Param.weights("probs", [0.2, 0.7, 0.1], count=len(DIRECTIONS)),
    Param.float_range("up", [1.0, 1.5], 1.0, MAX_FACTOR),
    Param.float_range("down", [0.15, 1.0], 0.0, 1.0, positive=True),
    Param.names("modes", REALESRGAN_MODES, MODES),
    Param.weights("mode_weights", of="modes"),
    Param.option("relative_to", "input", {"input": "the input size", "final": "HR / scale"}),
), rule=_probs_sum_to_one)


def sample_random_resize(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: direction, factor (none for keep), mode (drawn for keep too)."""
    schema = RANDOM_RESIZE
    direction = DIRECTIONS[pick_index(rng, schema.value(spec, "probs"), len(DIRECTIONS))]
    if direction == "up":
        factor = schema.draw(rng, spec, "up")
    elif direction == "down":
        factor = schema.draw(rng, spec, "down")
    else:
        factor = 1.0
    mode = schema.draw(rng, spec, "modes")  # weighted by mode_weights
    if schema.value(spec, "relative_to") == "final":
        base_h, base_w = ctx.hr_shape[0] / ctx.scale, ctx.hr_shape[1] / ctx.scale
    else:
        base_h, base_w = ctx.shape[0], ctx.shape[1]
    return {"direction": direction, "factor": float(factor), "mode": mode,
            "out_h": scaled_size(base_h, factor), "out_w": scaled_size(base_w, factor)}


# ---- to_final -----------------------------------------------------------------------------------------


TO_FINAL = OpSchema("to_final", (
    Param.names("modes", REALESRGAN_MODES, MODES),
    Param.weights("mode_weights", of="modes"),
))


def sample_to_final(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws the mode; the size is HR // scale."""
    out_h, out_w = final_size(ctx)
    return {"mode": TO_FINAL.draw(rng, spec, "modes"), "out_h": int(out_h), "out_w": int(out_w)}


OPS = {op.name: op for op in (
    Op(RESIZE, sample_resize, _apply_resize,
       "Resize by a factor, to [h, w], to the final LR size or to the HR size with a named mode."),
    Op(RANDOM_RESIZE, sample_random_resize, _apply_resize,
       "Real-ESRGAN resize: up / down / keep with probabilities, random factor and mode."),
    Op(TO_FINAL, sample_to_final, _apply_resize,
       "Resize to exactly HR / scale with a randomly chosen mode (Real-ESRGAN step 9)."),
)}
