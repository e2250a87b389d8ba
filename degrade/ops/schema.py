"""Each op's spec declared once: its keys with their forms, defaults and bounds; one check and one draw.

An op declares an `OpSchema`: its name, one `Param` per spec key (in draw order) and optionally a
`rule` for what spans several keys. Everything else reads that one declaration:
- `check(spec)` validates a recipe step: unknown keys, each key's form and bounds, then the rule;
- `value(spec, key)` is the step's own value for a key, else the declared default;
- `draw(rng, spec, key)` draws one concrete value of a key, `chance(rng, spec, key)` one event of a
  probability key, `draw_all(rng, spec)` every key in declaration order (the whole `sample` of an
  op whose params are its keys, drawn in order);
- `describe()` says the same in words, one line per key (SPECS.md holds these lines; a test checks).

Forms of a key (the `Param` constructors):
- `Param.value_spec`: a value spec of floats, ints or strings (fixed, range or choice; see value_specs.py);
- `Param.prob`: a probability, one fixed number in [0, 1];
- `Param.integer`: one fixed int in [lo, hi] (odd if asked), optionally one value meaning "automatic";
- `Param.float_range`: a literal range `[lo, hi]` within the bounds, drawn uniformly;
- `Param.int_list`, `Param.names`: a non-empty list of ints / of allowed names, drawn as one entry
  (names weighted by the `Param.weights` declared `of` them);
- `Param.weights`: non-negative numbers, one per entry of a list key or a fixed count;
- `Param.flag`: true or false; `Param.option`: one of a few fixed values; `Param.size`: `[h, w]`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from srkit.degrade.ops.value_specs import (
    SpecError,
    check_scalar,
    check_value,
    check_weights,
    draw_uniform,
    draw_value,
    fmt_bounds,
    is_int,
    pick_index,
)

# Keys of a recipe step that belong to the engine, not to the op: check and sample ignore them.
ENGINE_KEYS = frozenset({"op", "p", "name", "comment"})
_CAST: dict[str, Callable[[Any], Any]] = {"float": float, "int": int, "str": str}


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


# The default of a key that has none: absent then means "not given" (resize's factor, size and to).
NO_DEFAULT: Any = _NoDefault()


@dataclass(frozen=True)
class Param:
    """One spec key: its form, default and bounds (inclusive). Built with the constructors below."""

    key: str
    form: str
    default: Any = NO_DEFAULT
    kind: str = ""  # value: "float", "int" or "str"
    lo: float | None = None
    hi: float | None = None
    allowed: tuple = ()  # the names of a str value or a names list; the values of an option
    meanings: tuple[str, ...] = ()  # option: what each allowed value means, for messages and docs
    odd: bool = False
    positive: bool = False  # float_range: lo must be > 0
    auto: int | None = None  # integer: the value (outside the bounds) that means "choose automatically"
    of: str = ""  # weights: the list key they weight
    count: int = 0  # weights: a fixed count instead

    @classmethod
    def value_spec(cls, key: str, kind: str, default: Any = NO_DEFAULT, lo: float | None = None,
              hi: float | None = None, allowed: Sequence[str] = ()) -> Param:
        default = tuple(default) if isinstance(default, list) else default
        return cls(key, "value", default, kind=kind, lo=lo, hi=hi, allowed=tuple(allowed))

    @classmethod
    def prob(cls, key: str, default: float) -> Param:
        return cls(key, "prob", default)

    @classmethod
    def integer(cls, key: str, default: int, lo: int, hi: int, odd: bool = False,
                auto: int | None = None) -> Param:
        return cls(key, "integer", default, lo=lo, hi=hi, odd=odd, auto=auto)

    @classmethod
    def float_range(cls, key: str, default: Sequence[float], lo: float, hi: float,
                    positive: bool = False) -> Param:
        return cls(key, "range", tuple(default), lo=lo, hi=hi, positive=positive)

    @classmethod
    def int_list(cls, key: str, default: Sequence[int], lo: int, hi: int, odd: bool = False) -> Param:
        return cls(key, "int_list", tuple(default), lo=lo, hi=hi, odd=odd)

    @classmethod
    def names(cls, key: str, default: Sequence[str], allowed: Sequence[str]) -> Param:
        return cls(key, "names", tuple(default), allowed=tuple(allowed))

    @classmethod
    def weights(cls, key: str, default: Sequence[float] | None = None, of: str = "",
                count: int = 0) -> Param:
        """Default None = equal weights. A default for the weights `of` a list applies to that list's
        default only: a recipe that gives its own list gets equal weights unless it gives weights too."""
        return cls(key, "weights", None if default is None else tuple(default), of=of, count=count)

    @classmethod
    def flag(cls, key: str, default: bool) -> Param:
        return cls(key, "flag", default)

    @classmethod
    def option(cls, key: str, default: Any, options: Mapping[Any, str] | Sequence[Any]) -> Param:
        """`options` is the allowed values, or a mapping from each allowed value to what it means."""
        meanings = tuple(options.values()) if isinstance(options, Mapping) else ()
        return cls(key, "option", default, allowed=tuple(options), meanings=meanings)

    @classmethod
    def size(cls, key: str) -> Param:
        return cls(key, "size")

    # ------------------------------------------------------------------------------------ checking

    def check(self, value: Any, count: int = 0) -> None:
        """Raise SpecError unless `value` suits this key; `count` is the length weights must have."""
        key, lo, hi = self.key, self.lo, self.hi
        if self.form == "value":
            check_value(value, key, self.kind, lo, hi, self.allowed or None)
        elif self.form == "prob":
            check_scalar(value, key, "float", 0.0, 1.0, None)
        elif self.form == "integer":
            if self.auto is not None and value == self.auto:
                return
            check_scalar(value, key, "int", lo, hi, None)
            if self.odd and value % 2 == 0:
                raise SpecError(key, f"must be an odd integer {fmt_bounds(lo, hi)}, got {value!r}")
        elif self.form == "range":
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise SpecError(key, f"expected a range [lo, hi] of two numbers {fmt_bounds(lo, hi)}, "
                                     f"got {value!r}")
            check_value(list(value), key, "float", lo, hi)
            if self.positive and value[0] <= 0:
                raise SpecError(key, f"both ends of the range must be > 0, got {value!r}")
        elif self.form == "int_list":
            what = "odd integers" if self.odd else "integers"
            if not isinstance(value, (list, tuple)) or not value:
                raise SpecError(key, f"expected a non-empty list of {what} between {lo} and {hi}, "
                                     f"got {value!r}")
            for v in value:
                if not is_int(v) or not lo <= v <= hi or (self.odd and v % 2 == 0):
                    raise SpecError(key, f"expected {what} between {lo} and {hi}, got {v!r} in {value!r}")
        elif self.form == "names":
            if not isinstance(value, (list, tuple)) or not value:
                raise SpecError(key, f"expected a non-empty list of names among {list(self.allowed)}, "
                                     f"got {value!r}")
            for v in value:
                check_scalar(v, key, "str", None, None, self.allowed)
        elif self.form == "weights":
            check_weights(value, key, count)
        elif self.form == "flag":
            if not isinstance(value, bool):
                raise SpecError(key, f"expected true or false, got {value!r}")
        elif self.form == "option":
            if isinstance(value, bool) or value not in self.allowed:
                raise SpecError(key, f"expected {self._options_text(code=False)}, got {value!r}")
        elif self.form == "size":
            if (not isinstance(value, (list, tuple)) or len(value) != 2
                    or not all(is_int(v) and v >= 1 for v in value)):
                raise SpecError(key, f"expected [h, w], two integers >= 1, got {value!r}")
        else:
            raise ValueError(f"unknown form {self.form!r} of key {key!r}")

    # ------------------------------------------------------------------------------------ describing

    def describe(self) -> str:
        """One line of documentation: the key, its form and bounds, its default."""
        return f"`{self.key}`: {self._form_text()}, {self._default_text()}"

    def _form_text(self) -> str:
        lo, hi = self.lo, self.hi
        odd = "odd " if self.odd else ""
        if self.form == "value":
            if self.kind == "str":
                return f"value(str, one of {_code_list(self.allowed)})"
            if lo is not None and hi is not None:
                return f"value({self.kind}, {_fmt(lo)}..{_fmt(hi)})"
            if lo is not None or hi is not None:
                return f"value({self.kind}, {'>=' if hi is None else '<='} {_fmt(lo if hi is None else hi)})"
            return f"value({self.kind})"
        if self.form == "integer":
            auto = f" or {self.auto} (automatic)" if self.auto is not None else ""
            return f"{odd}int {_fmt(lo)}..{_fmt(hi)}{auto}"
        if self.form == "range":
            positive = ", lo > 0" if self.positive else ""
            return f"float range `[lo, hi]` within {_fmt(lo)}..{_fmt(hi)}{positive}"
        if self.form == "int_list":
            return f"list of {odd}ints {_fmt(lo)}..{_fmt(hi)}"
        if self.form == "names":
            return f"list of names among {_code_list(self.allowed)}"
        if self.form == "weights":
            return f"weights, one per entry of `{self.of}`" if self.of else f"{self.count} weights"
        if self.form == "option":
            return self._options_text(code=True)
        return _FIXED_FORM_TEXT[self.form]

    def _default_text(self) -> str:
        if self.default is NO_DEFAULT:
            return "no default"
        if self.form == "names" and self.default == self.allowed:
            return "default all of them, in this order"
        if self.form == "weights":
            if self.default is None:
                return "default equal"
            if self.of:
                return f"default `{_fmt(self.default)}` with the default `{self.of}`, else equal"
        return f"default `{_fmt(self.default)}`"

    def _options_text(self, code: bool) -> str:
        """The allowed values (with their meanings), as code for the docs or plain for messages."""
        if not self.meanings:
            listed = _code_list(map(json.dumps, self.allowed)) if code else str(list(self.allowed))
            return f"one of {listed}"
        quote = (lambda v: f"`{json.dumps(v)}`") if code else json.dumps
        parts = [f"{quote(v)} ({m})" for v, m in zip(self.allowed, self.meanings, strict=True)]
        return " or ".join(parts) if len(parts) <= 2 else ", ".join(parts[:-1]) + " or " + parts[-1]


@dataclass(frozen=True)
class OpSchema:
    """The spec of one op: its keys in draw order and a `rule` for constraints spanning keys."""

    op: str
    params: tuple[Param, ...]
    rule: Callable[[dict], None] | None = None

    @cached_property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.params)

    @cached_property
    def _by_key(self) -> dict[str, Param]:
        return {p.key: p for p in self.params}

    @cached_property
    def _weights_of(self) -> dict[str, str]:
        """list key -> the key of its weights."""
        return {p.of: p.key for p in self.params if p.form == "weights" and p.of}

    def param(self, key: str) -> Param:
        return self._by_key[key]

    def value(self, spec: dict, key: str) -> Any:
        """The step's own value for `key`, else the declared default (NO_DEFAULT for keys without one)."""
        if key in spec:
            return spec[key]
        param = self._by_key[key]
        if param.form == "weights" and param.of and param.of in spec:
            return None  # the default weights belong to the default list
        return param.default

    def check(self, spec: dict) -> None:
        """Validate a recipe step; SpecError names the key and says what is allowed."""
        if not isinstance(spec, dict):
            raise SpecError("", f"the spec of op {self.op!r} must be a table (dict), "
                                f"got {type(spec).__name__}")
        for key in spec:
            if key not in self._by_key and key not in ENGINE_KEYS:
                raise SpecError(key, f"unknown key for op {self.op!r}; allowed keys: {sorted(self.keys)}")
        for param in self.params:
            value = self.value(spec, param.key)
            if value is NO_DEFAULT or (param.form == "weights" and value is None):
                continue
            param.check(value, len(self.value(spec, param.of)) if param.of else param.count)
        if self.rule is not None:
            self.rule(spec)

    def draw(self, rng: np.random.Generator, spec: dict, key: str) -> Any:
        """One concrete value of `key`: value specs and ranges are drawn, lists give one entry (names
        weighted by their weights key), fixed forms give their value. Draws nothing for fixed values."""
        param, value = self._by_key[key], self.value(spec, key)
        if param.form == "value":
            return _CAST[param.kind](draw_value(rng, value, key, param.kind))
        if param.form == "range":
            return draw_uniform(rng, list(value), key)
        if param.form in ("int_list", "names"):
            weights = self.value(spec, self._weights_of[key]) if key in self._weights_of else None
            entry = value[pick_index(rng, weights, len(value))]
            return int(entry) if param.form == "int_list" else str(entry)
        if param.form == "integer":
            return int(value)
        return value

    def chance(self, rng: np.random.Generator, spec: dict, key: str) -> bool:
        """True with the probability `key` holds; always uses one rng.random(), even for 0 and 1."""
        return bool(rng.random() < float(self.value(spec, key)))

    def draw_all(self, rng: np.random.Generator, spec: dict) -> dict[str, Any]:
        """Every key drawn in declaration order: the params of an op whose params are its keys."""
        return {p.key: self.draw(rng, spec, p.key) for p in self.params}

    def describe(self) -> list[str]:
        return [p.describe() for p in self.params]


_FIXED_FORM_TEXT = {"prob": "probability 0..1", "flag": "true or false", "size": "`[h, w]`, two ints >= 1"}


def _code_list(names: Iterable[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _fmt(value: Any) -> str:
    """A default or bound as the docs write it: [0.2, 3], "420", true, pi/3."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        for q in range(1, 7):  # small multiples of pi (kernel cutoffs, rotations) by name
            p = value * q / math.pi
            if round(p) != 0 and abs(p - round(p)) < 1e-8:
                n = abs(round(p))
                return f"{'-' if p < 0 else ''}{'' if n == 1 else n}pi{'' if q == 1 else f'/{q}'}"
        return f"{value:g}"
    return str(value)
