"""What every op builds on: Op, Context, and the uint8 <-> float32 conversions ops work with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from srkit.degrade.ops.schema import OpSchema


@dataclass(frozen=True)
class Context:
    """What `sample` may know about the step: current image shape, HR tile shape, target scale."""

    shape: tuple[int, ...]
    hr_shape: tuple[int, ...]
    scale: int


@dataclass(frozen=True)
class Op:
    """A degradation: `schema` declares its spec, `sample` draws JSON-able params from a spec (within the
    schema), `apply` is pure and deterministic."""

    schema: OpSchema
    sample: Callable[[np.random.Generator, dict, Context], dict]
    apply: Callable[[np.ndarray, dict], np.ndarray]
    doc: str

    @property
    def name(self) -> str:
        return self.schema.op

    def check(self, spec: dict) -> None:
        """Validate a recipe step's spec; SpecError names the key and says what is allowed."""
        self.schema.check(spec)


def to_float(img: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1] (img / 255); float32 passes through unchanged."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / np.float32(255.0)
    if img.dtype == np.float32:
        return img
    raise TypeError(f"expected a uint8 or float32 image, got {img.dtype}")


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> uint8: clip(rint(img * 255), 0, 255), rint rounds half to even; uint8 passes."""
    if img.dtype == np.uint8:
        return img
    if img.dtype not in (np.float32, np.float64):
        raise TypeError(f"expected a uint8 or float image, got {img.dtype}")
    out = img * np.float32(255.0)
    np.rint(out, out=out)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def check_image(img: np.ndarray) -> None:
    """Raise TypeError/ValueError unless img is (H, W) or (H, W, 3), uint8 or float32."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(img).__name__}")
    if img.dtype not in (np.uint8, np.float32):
        raise TypeError(f"expected a uint8 or float32 image, got {img.dtype}")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {img.shape}")


def like(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Return float32 `out` (values in [0, 1]) in the dtype of `ref`, C-contiguous."""
    if ref.dtype == np.uint8:
        return np.ascontiguousarray(to_uint8(out))
    return np.ascontiguousarray(out, dtype=np.float32)
