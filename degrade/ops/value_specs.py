"""Value specs of recipe steps (fixed value, uniform range, weighted choice): validation and draws.

A value spec is one of
- a fixed value: `75`, `0.5`, `"bicubic_aa"`;
- a range `[lo, hi]` of two numbers (lo <= hi): uniform; for int keys the integers lo..hi inclusive;
- a weighted choice `{choices = [...], weights = [...]}` (weights optional, non-negative, not all zero);
- for string keys also a plain list of strings: an equally weighted choice.
Every helper raises `SpecError(key, message)` where the message says what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

KINDS = ("float", "int", "str")


class SpecError(ValueError):
    """A recipe step's spec is invalid: `key` names the offending key, `message` says what is allowed."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)

    def __reduce__(self):  # keep (key, message) when the error crosses a process boundary
        return (type(self), (self.key, self.message))


def is_number(x: object) -> bool:
    """A finite int or float (booleans are not numbers here)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def fmt_bounds(lo: float | None, hi: float | None) -> str:
    """Inclusive bounds in words, for error messages."""
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return "any value"


def check_scalar(x: object, key: str, kind: str, lo: float | None, hi: float | None,
                 allowed: Sequence[str] | None) -> None:
    """One fixed value of `kind`, within the inclusive bounds or among `allowed` (strings)."""
    if kind == "str":
        if not isinstance(x, str):
            raise SpecError(key, f"expected a string, one of {list(allowed or [])}; got {x!r}")
        if allowed is not None and x not in allowed:
            raise SpecError(key, f"{x!r} is not allowed; allowed: {list(allowed)}")
        return
    if kind == "int" and not is_int(x):
        raise SpecError(key, f"expected an integer {fmt_bounds(lo, hi)}, got {x!r}")
    if not is_number(x):
        raise SpecError(key, f"expected a number {fmt_bounds(lo, hi)}, got {x!r}")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise SpecError(key, f"{x!r} is out of range: must be {fmt_bounds(lo, hi)}")


def check_weights(weights: object, key: str, n: int) -> None:
    """A list of n non-negative numbers, not all zero."""
    if not isinstance(weights, (list, tuple)) or len(weights) != n:
        raise SpecError(key, f"weights must be a list of {n} non-negative numbers (one per choice), "
                             f"got {weights!r}")
    if not all(is_number(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise SpecError(key, f"weights must be non-negative numbers, not all zero; got {weights!r}")


def check_value(value: object, key: str, kind: str, lo: float | None = None, hi: float | None = None,
                allowed: Sequence[str] | None = None) -> None:
    """Validate a value spec (fixed, range or choice) of `kind` ("float", "int", "str")."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if isinstance(value, dict):
        extra = set(value) - {"choices", "weights"}
        if extra or "choices" not in value:
            raise SpecError(key, "a choice must be a table {choices = [...], weights = [...]} "
                                 f"(weights optional); got keys {sorted(value)}")
        choices = value["choices"]
        if not isinstance(choices, (list, tuple)) or not choices:
            raise SpecError(key, f"choices must be a non-empty list, got {choices!r}")
        for c in choices:
            check_scalar(c, key, kind, lo, hi, allowed)
        if "weights" in value:
            check_weights(value["weights"], key, len(choices))
        return
    if isinstance(value, (list, tuple)):
        if kind == "str":
            if not value:
                raise SpecError(key, f"a list of choices must not be empty; allowed: {list(allowed or [])}")
            for c in value:
                check_scalar(c, key, kind, lo, hi, allowed)
            return
        if len(value) != 2:
            raise SpecError(key, f"a range is [lo, hi] (two numbers {fmt_bounds(lo, hi)}); got {value!r}. "
                                 "For a set of values use {choices = [...]}")
        for c in value:
            check_scalar(c, key, kind, lo, hi, allowed)
        if value[0] > value[1]:
            raise SpecError(key, f"range [lo, hi] needs lo <= hi, got {value!r}")
        return
    check_scalar(value, key, kind, lo, hi, allowed)


def pick_index(rng: np.random.Generator, weights: Sequence[float] | None, n: int) -> int:
    """Index in 0..n-1 drawn with probability weights[i] / sum (equal if None); uses one rng.random()."""
    u = rng.random()
    if weights is None:
        return min(int(u * n), n - 1)
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    idx = int(np.searchsorted(cum / cum[-1], u, side="right"))
    return min(idx, n - 1)


def _plain(x: object) -> object:
    """numpy scalar -> Python scalar, so params stay JSON-able."""
    return x.item() if isinstance(x, np.generic) else x


def draw_uniform(rng: np.random.Generator, value: object, key: str = "") -> float:
    """Float from a fixed number or a range [lo, hi] (uniform)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise SpecError(key, f"a range is [lo, hi], got {value!r}")
        lo, hi = float(value[0]), float(value[1])
        return lo if lo == hi else float(rng.uniform(lo, hi))
    if not is_number(value):
        raise SpecError(key, f"expected a number or a range [lo, hi], got {value!r}")
    return float(value)


def draw_int(rng: np.random.Generator, value: object, key: str = "") -> int:
    """Int from a fixed integer or a range [lo, hi] (each integer lo..hi inclusive equally likely)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise SpecError(key, f"a range is [lo, hi], got {value!r}")
        lo, hi = int(value[0]), int(value[1])
        return lo if lo == hi else int(rng.integers(lo, hi + 1))
    if not is_int(value):
        raise SpecError(key, f"expected an integer or a range [lo, hi], got {value!r}")
    return int(value)


def draw_choice(rng: np.random.Generator, value: object, key: str = "") -> object:
    """One element of a choice table {choices, weights}, of a list (equal weights), or a fixed value."""
    if isinstance(value, dict):
        choices = value["choices"]
        return _plain(choices[pick_index(rng, value.get("weights"), len(choices))])
    if isinstance(value, (list, tuple)):
        return _plain(value[pick_index(rng, None, len(value))])
    return _plain(value)


def draw_value(rng: np.random.Generator, value: object, key: str, kind: str) -> object:
    """Draw from any value spec form; `kind` ("float", "int", "str") decides how a range is read."""
    if isinstance(value, dict):
        v = draw_choice(rng, value, key)
        return float(v) if kind == "float" else v
    if kind == "str":
        return draw_choice(rng, value, key)
    if kind == "int":
        return draw_int(rng, value, key)
    return draw_uniform(rng, value, key)
