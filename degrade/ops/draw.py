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
from collections.abc import Iterable, Sequence

import numpy as np

from srkit.degrade.ops.base import ENGINE_KEYS, SpecError

KINDS = ("float", "int", "str")


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _fmt_bounds(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return "any value"


def _check_scalar(x: object, key: str, kind: str, lo: float | None, hi: float | None,
                  allowed: Sequence[str] | None) -> None:
    if kind == "str":
        if not isinstance(x, str):
            raise SpecError(key, f"expected a string, one of {list(allowed or [])}; got {x!r}")
        if allowed is not None and x not in allowed:
            raise SpecError(key, f"{x!r} is not allowed; allowed: {list(allowed)}")
        return
    if kind == "int" and not _is_int(x):
        raise SpecError(key, f"expected an integer {_fmt_bounds(lo, hi)}, got {x!r}")
    if not _is_number(x):
        raise SpecError(key, f"expected a number {_fmt_bounds(lo, hi)}, got {x!r}")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise SpecError(key, f"{x!r} is out of range: must be {_fmt_bounds(lo, hi)}")


def check_keys(spec: dict, allowed: Iterable[str], op: str) -> None:
    """Refuse keys that are neither the op's nor the engine's (ENGINE_KEYS)."""
    if not isinstance(spec, dict):
        raise SpecError("", f"the spec of op {op!r} must be a table (dict), got {type(spec).__name__}")
    allowed = set(allowed)
    for key in spec:
        if key not in allowed and key not in ENGINE_KEYS:
            raise SpecError(key, f"unknown key for op {op!r}; allowed keys: {sorted(allowed)}")


def check_weights(weights: object, key: str, n: int) -> None:
    """A list of n non-negative numbers, not all zero."""
    if not isinstance(weights, (list, tuple)) or len(weights) != n:
        raise SpecError(key, f"weights must be a list of {n} non-negative numbers (one per choice), "
                             f"got {weights!r}")
    if not all(_is_number(w) and w >= 0 for w in weights) or sum(weights) <= 0:
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
            _check_scalar(c, key, kind, lo, hi, allowed)
        if "weights" in value:
            check_weights(value["weights"], key, len(choices))
        return
    if isinstance(value, (list, tuple)):
        if kind == "str":
            if not value:
                raise SpecError(key, f"a list of choices must not be empty; allowed: {list(allowed or [])}")
            for c in value:
                _check_scalar(c, key, kind, lo, hi, allowed)
            return
        if len(value) != 2:
            raise SpecError(key, f"a range is [lo, hi] (two numbers {_fmt_bounds(lo, hi)}); got {value!r}. "
                                 "For a set of values use {choices = [...]}")
        for c in value:
            _check_scalar(c, key, kind, lo, hi, allowed)
        if value[0] > value[1]:
            raise SpecError(key, f"range [lo, hi] needs lo <= hi, got {value!r}")
        return
    _check_scalar(value, key, kind, lo, hi, allowed)


def check_range(value: object, key: str, lo: float | None = None, hi: float | None = None) -> None:
    """A fixed float range [a, b] with lo <= a <= b <= hi (used where a range is the only sensible form)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise SpecError(key, f"expected a range [lo, hi] of two numbers {_fmt_bounds(lo, hi)}, got {value!r}")
    check_value(list(value), key, "float", lo, hi)


def check_prob(value: object, key: str) -> None:
    """A probability: a number in [0, 1]."""
    _check_scalar(value, key, "float", 0.0, 1.0, None)


def check_bool(value: object, key: str) -> None:
    if not isinstance(value, bool):
        raise SpecError(key, f"expected true or false, got {value!r}")


def check_int(value: object, key: str, lo: int | None = None, hi: int | None = None,
              odd: bool = False) -> None:
    _check_scalar(value, key, "int", lo, hi, None)
    if odd and value % 2 == 0:
        raise SpecError(key, f"must be an odd integer {_fmt_bounds(lo, hi)}, got {value!r}")


def check_choice_list(value: object, key: str, allowed: Sequence[str]) -> None:
    """A non-empty list of strings, each in `allowed`."""
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError(key, f"expected a non-empty list of names among {list(allowed)}, got {value!r}")
    for v in value:
        _check_scalar(v, key, "str", None, None, allowed)


def check_int_list(value: object, key: str, lo: int, hi: int, odd: bool = False) -> None:
    """A non-empty list of integers in [lo, hi] (odd ones if `odd`)."""
    what = "odd integers" if odd else "integers"
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError(key, f"expected a non-empty list of {what} between {lo} and {hi}, got {value!r}")
    for v in value:
        if not _is_int(v) or not lo <= v <= hi or (odd and v % 2 == 0):
            raise SpecError(key, f"expected {what} between {lo} and {hi}, got {v!r} in {value!r}")


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
    if not _is_number(value):
        raise SpecError(key, f"expected a number or a range [lo, hi], got {value!r}")
    return float(value)


def draw_int(rng: np.random.Generator, value: object, key: str = "") -> int:
    """Int from a fixed integer or a range [lo, hi] (each integer lo..hi inclusive equally likely)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise SpecError(key, f"a range is [lo, hi], got {value!r}")
        lo, hi = int(value[0]), int(value[1])
        return lo if lo == hi else int(rng.integers(lo, hi + 1))
    if not _is_int(value):
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


def get(spec: dict, key: str, default: object) -> object:
    """spec[key] if present, else the default."""
    return spec[key] if key in spec else default
