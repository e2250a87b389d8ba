"""Shared types of the op library: Op, Context, SpecError and the uint8 <-> float32 conversions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Keys of a recipe step that belong to the engine, not to the op: check/sample ignore them.
ENGINE_KEYS = frozenset({"op", "p", "name", "comment"})


class SpecError(ValueError):
    """A recipe step's spec is invalid: `key` names the offending key, `message` says what is allowed."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)

    def __reduce__(self):  # keep (key, message) when the error crosses a process boundary
        return (type(self), (self.key, self.message))


@dataclass(frozen=True)
class Context:
    """What `sample` may know about the step: current image shape, HR tile shape, target scale."""

    shape: tuple[int, ...]
    hr_shape: tuple[int, ...]
    scale: int


@dataclass(frozen=True)
class Op:
    """A degradation: `sample` draws JSON-able params from a spec, `apply` is pure and deterministic."""

    name: str
    sample: Callable[[np.random.Generator, dict, Context], dict]
    apply: Callable[[np.ndarray, dict], np.ndarray]
    check: Callable[[dict], None]
    doc: str


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
