"""Recipes: a TOML file of ordered steps, validated once (here), then drawn into one plan per sample.

A recipe file holds ``name``, ``description``, ``scale``, ``seed``, ``steps`` and optionally
``lr_size`` and ``dtype`` (see TOP_KEYS). A step is exactly one of:

- ``op = "NAME"`` plus that op's spec keys (see ``degrade/ops/SPECS.md``);
- ``one_of = [step, ...]`` with optional ``weights = [...]``: one sub-step, picked by weight;
- ``sequence = [step, ...]`` with optional ``repeat = N``: the sub-steps in order, N times
  (a repeatable stage);
- ``random_order = [step, ...]``: every sub-step once, in a uniformly random order.

Every step may carry ``p`` (probability that it runs at all, default 1) and the notes ``name`` and
``comment``. Each sample draws its own *plan* from the steps (see ``plan.py``).

``load_recipe`` (what every command uses) ends with a dry run: the recipe degrades a small synthetic
tile (gray and RGB, DRY_RUN_SIDE px), so a recipe whose output is not HR / scale, or whose sizes grow
past ``plan.MAX_GROWTH`` x the HR size, is refused when it is loaded, naming the recipe, instead of
failing on every tile. ``parse_recipe`` checks the text only.
"""

from __future__ import annotations

import hashlib
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from srkit.core.console import UsageError
from srkit.core.manifest import canonical_json
from srkit.core.seeding import sample_rng, sample_seed
from srkit.degrade.ops import OPS, SpecError
from srkit.degrade.plan import GroupStep, OpStep, PlanError, Step, draw_and_apply

TOP_KEYS = {
    "name": "a short name (also the default output folder lr/NAME/)",
    "description": "one line saying what the recipe imitates",
    "scale": "the integer factor between HR and LR sizes",
    "seed": "the base seed (per-sample seeds derive from it and the sample key)",
    "lr_size": '"scaled" (LR = HR / scale, the default) or "hr" (down-then-up: LR keeps the HR size)',
    "dtype": '"uint8" (round after every step, like a chain of files; the default) or "float32" '
             "(round once at the end, like the Real-ESRGAN GPU pipeline)",
    "steps": "the ordered list of steps",
}
GROUP_KINDS = ("one_of", "sequence", "random_order")
STEP_KINDS = ("op", *GROUP_KINDS)
LR_SIZES = ("scaled", "hr")
DTYPES = ("uint8", "float32")
# Keys every step may carry that are the engine's, not the op's: documentation and the probability.
STEP_NOTE_KEYS = ("name", "comment")
MAX_REPEAT = 16
DRY_RUN_SIDE = 256  # side of the synthetic HR tile of the dry run (rounded up to a multiple of the scale)
_dry_run_passed: set[str] = set()  # recipe hashes already tried in this process


class RecipeError(UsageError):
    """An invalid recipe: names the file, the key path and what is allowed."""

    def __init__(self, source: str, path: str, message: str):
        self.source = source
        self.path = path
        self.message = message
        where = f"{source}: {path}: " if path else f"{source}: "
        super().__init__(where + message)


class PairError(ValueError):
    """A degraded sample whose LR does not match its HR (size or channels); names the sample."""


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. ``scale`` is the pair scale (HR size / LR size, 1 for down-then-up);
    ``nominal_scale`` the recipe's resampling factor (equal to ``scale`` unless ``lr_size = "hr"``)."""

    name: str
    description: str
    scale: int
    nominal_scale: int
    lr_size: str
    dtype: str
    seed: int
    steps: tuple[Step, ...]
    source: str
    text: str
    data: dict[str, Any] = field(repr=False)
    hash: str = ""

    # ------------------------------------------------------------------ drawing and applying

    def lr_shape(self, hr_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The LR shape this recipe must produce from an HR of ``hr_shape``."""
        h, w = hr_shape[:2]
        if self.scale == 1:
            return tuple(hr_shape)
        return (h // self.scale, w // self.scale, *hr_shape[2:])

    def crop_hr(self, hr: np.ndarray) -> np.ndarray:
        """The top-left part of ``hr`` whose sides are multiples of the scale (for in-memory use on
        whole images, e.g. evaluation; tiles from ``sr-data tile`` already fit)."""
        s = self.nominal_scale
        h, w = hr.shape[:2]
        return np.ascontiguousarray(hr[: h - h % s, : w - w % s])

    def check_hr(self, hr: np.ndarray, key: str) -> None:
        """Refuse an HR tile this recipe cannot make an exact pair from."""
        if hr.dtype != np.uint8 or hr.ndim not in (2, 3) or (hr.ndim == 3 and hr.shape[2] != 3):
            raise PairError(f"sample {key}: HR must be uint8 (H, W) or (H, W, 3), "
                            f"found {hr.dtype} {hr.shape}")
        h, w = hr.shape[:2]
        s = self.nominal_scale
        if h % s or w % s:
            raise PairError(f"sample {key}: HR size {w}x{h} is not a multiple of the recipe scale {s}; "
                            f"tile with a size divisible by {s}")

    def plan_and_apply(
        self,
        hr: np.ndarray,
        key: str,
        seed: int | None = None,
        timings: dict[str, list[float]] | None = None,
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Degrade ``hr`` for sample ``key``: draw a plan from the per-sample rng and apply it.

        Returns the uint8 LR (checked against the HR: size and channels) and the plan.
        ``timings``, when given, collects ``[count, seconds]`` per op name.
        """
        self.check_hr(hr, key)
        base = self.seed if seed is None else int(seed)
        rng = sample_rng(sample_seed(base, key))
        lr, plan = draw_and_apply(self.steps, hr, rng, self.nominal_scale, self.dtype == "float32", timings)
        check_pair(key, hr, lr, self)
        return lr, plan

    def run_json(self) -> dict[str, Any]:
        """What ``run.json`` records about the recipe."""
        return {
            "recipe": self.name,
            "recipe_hash": self.hash,
            "recipe_source": self.source,
            "recipe_text": self.text,
            "scale": self.scale,
            "nominal_scale": self.nominal_scale,
            "lr_size": self.lr_size,
            "dtype": self.dtype,
        }


def check_pair(key: str, hr: np.ndarray, lr: np.ndarray, recipe: Recipe) -> None:
    """Raise PairError unless ``lr`` has the recipe's LR size and the HR's channel layout."""
    if lr.dtype != np.uint8:
        raise PairError(f"sample {key}: LR dtype is {lr.dtype}, expected uint8")
    if lr.ndim != hr.ndim or (lr.ndim == 3 and lr.shape[2] != hr.shape[2]):
        raise PairError(f"sample {key}: LR shape {lr.shape} has other channels than HR shape {hr.shape} "
                        "(gray must stay gray, RGB stay RGB)")
    want = recipe.lr_shape(hr.shape)
    if tuple(lr.shape) != tuple(want):
        if recipe.scale == 1:
            rule = "the HR size (lr_size = \"hr\")"
        else:
            rule = f"HR size / {recipe.scale}"
        raise PairError(f"sample {key}: LR shape {lr.shape} is not {rule} = {tuple(want)} "
                        f"for HR shape {hr.shape}")


# ---------------------------------------------------------------------------- loading and validation

def recipe_hash(data: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of the parsed recipe: comments and layout do not change it."""
    return hashlib.sha256(canonical_json(data).encode("ascii")).hexdigest()


def load_recipe(name_or_path: str | os.PathLike) -> Recipe:
    """A shipped recipe by name (``rawkuma_like``) or a recipe file by path; RecipeError if invalid."""
    from srkit import recipes

    text_name = str(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        shipped = recipes.shipped_path(text_name)
        if shipped is None:
            looks_like_path = text_name.endswith(".toml") or "/" in text_name or os.sep in text_name
            problem = "file not found" if looks_like_path else "no shipped recipe of that name"
            raise RecipeError(text_name, "", f"{problem}; shipped recipes: "
                              f"{', '.join(recipes.shipped_names())} (or give the path of a .toml file)")
        path = shipped
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RecipeError(str(path), "", f"cannot read the file: {err}") from None
    recipe = parse_recipe(text, str(path))
    dry_run(recipe)
    return recipe


def parse_recipe(text: str, source: str = "<recipe>") -> Recipe:
    """Validate recipe ``text`` (TOML) from ``source`` (named in every error)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(source, "", f"not valid TOML: {err}") from None
    _check_plain(data, source, "")
    for key in data:
        if key not in TOP_KEYS:
            raise RecipeError(source, key, "unknown key; allowed top-level keys: "
                              + "; ".join(f"{k} ({v})" for k, v in TOP_KEYS.items()))
    for key in ("name", "description", "scale", "steps"):
        if key not in data:
            raise RecipeError(source, key, f"missing; {TOP_KEYS[key]}")
    name = data["name"]
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise RecipeError(source, "name", "must be a non-empty string of letters, digits, '-' and '_'")
    if not isinstance(data["description"], str):
        raise RecipeError(source, "description", "must be a string")
    scale = data["scale"]
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 16:
        raise RecipeError(source, "scale", f"must be an integer from 1 to 16, not {scale!r}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RecipeError(source, "seed", f"must be a non-negative integer, not {seed!r}")
    lr_size = data.get("lr_size", "scaled")
    if lr_size not in LR_SIZES:
        raise RecipeError(source, "lr_size", f"must be one of {', '.join(map(repr, LR_SIZES))}, "
                          f"not {lr_size!r}")
    dtype = data.get("dtype", "uint8")
    if dtype not in DTYPES:
        raise RecipeError(source, "dtype", f"must be one of {', '.join(map(repr, DTYPES))}, not {dtype!r}")
    steps = data["steps"]
    if not isinstance(steps, list) or not steps:
        raise RecipeError(source, "steps", "must be a non-empty list of steps ([[steps]] tables)")
    parsed = tuple(_parse_step(s, source, f"steps[{i}]") for i, s in enumerate(steps))
    return Recipe(
        name=name,
        description=data["description"],
        scale=1 if lr_size == "hr" else scale,
        nominal_scale=scale,
        lr_size=lr_size,
        dtype=dtype,
        seed=seed,
        steps=parsed,
        source=source,
        text=text,
        data=data,
        hash=recipe_hash(data),
    )


def dry_run(recipe: Recipe) -> None:
    """Degrade a synthetic gray and RGB tile with ``recipe``; RecipeError unless each gives a uint8 LR
    of HR / scale with the HR's channels."""
    if recipe.hash in _dry_run_passed:
        return
    side = math.ceil(DRY_RUN_SIDE / recipe.nominal_scale) * recipe.nominal_scale
    rng = np.random.default_rng(0)
    ramp = np.add.outer(np.arange(side), np.arange(side)) * (255.0 / (2 * side))
    gray = np.clip(ramp + rng.normal(0, 20, (side, side)), 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(np.stack([gray, gray[::-1], gray[:, ::-1]], axis=2))
    where = f"recipe {recipe.name!r}, dry run on a {side}x{side} synthetic tile"
    for hr in (gray, rgb):
        try:
            lr, _ = draw_and_apply(recipe.steps, hr, sample_rng(sample_seed(recipe.seed, "dry-run")),
                                   recipe.nominal_scale, recipe.dtype == "float32")
        except (PlanError, SpecError, MemoryError) as err:
            raise RecipeError(recipe.source, "steps", f"{where}: {err}") from None
        except Exception as err:  # noqa: BLE001 - any failure of the recipe on a plain tile is the recipe's
            raise RecipeError(recipe.source, "steps", f"{where}: {type(err).__name__}: {err}") from None
        want = recipe.lr_shape(hr.shape)
        if lr.shape != want:
            rule = "the HR size (lr_size = \"hr\")" if recipe.scale == 1 else f"HR / {recipe.scale}"
            raise RecipeError(recipe.source, "steps", f"{where}: its output is {lr.shape[1]}x{lr.shape[0]}"
                              f"{'' if lr.ndim == 2 else f'x{lr.shape[2]}'}, not {rule} = {want[1]}x{want[0]}"
                              f"{'' if len(want) == 2 else f'x{want[2]}'}: the last resize must reach it "
                              '(e.g. { op = "resize", to = "final" })')
    _dry_run_passed.add(recipe.hash)


def _check_plain(value: Any, source: str, path: str) -> None:
    """Recipes hold strings, numbers, booleans, lists and tables only (no dates, no NaN)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain(v, source, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_plain(v, source, f"{path}[{i}]")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise RecipeError(source, path, "must be a finite number (no nan or inf)")
    elif not isinstance(value, str | int | bool):
        raise RecipeError(source, path, f"{type(value).__name__} values are not allowed "
                          "(use strings, numbers, booleans, lists and tables)")


def _parse_p(step: dict[str, Any], source: str, at: str) -> float:
    p = step.get("p", 1.0)
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise RecipeError(source, f"{at}.p", f"must be a probability from 0 to 1, not {p!r}")
    return float(p)


def _parse_step(step: Any, source: str, at: str) -> Step:
    if not isinstance(step, dict):
        raise RecipeError(source, at, "must be a table (a step), e.g. { op = \"jpeg\", quality = [60, 95] }")
    kinds = [k for k in STEP_KINDS if k in step]
    if len(kinds) != 1:
        found = f"found {', '.join(kinds)}" if kinds else "found none"
        raise RecipeError(source, at, f"a step needs exactly one of {', '.join(STEP_KINDS)} ({found})")
    kind = kinds[0]
    p = _parse_p(step, source, at)
    for key in STEP_NOTE_KEYS:
        if key in step and not isinstance(step[key], str):
            raise RecipeError(source, f"{at}.{key}", "must be a string (a note for people and plans)")
    label = step.get("name", "")
    if kind == "op":
        return _parse_op_step(step, p, label, source, at)
    allowed = {kind, "p", *STEP_NOTE_KEYS} | ({"weights"} if kind == "one_of" else set()) | (
        {"repeat"} if kind == "sequence" else set())
    for key in step:
        if key not in allowed:
            raise RecipeError(source, f"{at}.{key}", f"unknown key for a {kind} step; allowed: "
                              f"{', '.join(sorted(allowed))}")
    children_raw = step[kind]
    if not isinstance(children_raw, list) or not children_raw:
        raise RecipeError(source, f"{at}.{kind}", "must be a non-empty list of steps")
    children = tuple(_parse_step(c, source, f"{at}.{kind}[{i}]") for i, c in enumerate(children_raw))
    weights: tuple[float, ...] = ()
    repeat = 1
    if kind == "one_of":
        raw = step.get("weights", [1.0] * len(children))
        if (not isinstance(raw, list) or len(raw) != len(children)
                or any(isinstance(w, bool) or not isinstance(w, int | float) or w < 0 for w in raw)
                or not sum(raw) > 0):
            raise RecipeError(source, f"{at}.weights", f"must be {len(children)} non-negative numbers "
                              f"(one per one_of entry) with a positive sum, not {raw!r}")
        weights = tuple(float(w) for w in raw)
    if kind == "sequence":
        repeat = step.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
            raise RecipeError(source, f"{at}.repeat", f"must be an integer from 1 to {MAX_REPEAT}, "
                              f"not {repeat!r}")
    return GroupStep(kind=kind, children=children, p=p, weights=weights, repeat=repeat, label=label)


def _parse_op_step(step: dict[str, Any], p: float, label: str, source: str, at: str) -> OpStep:
    name = step["op"]
    if not isinstance(name, str) or name not in OPS:
        raise RecipeError(source, f"{at}.op", f"unknown op {name!r}; ops: {', '.join(sorted(OPS))}")
    spec = {k: v for k, v in step.items() if k not in ("op", "p", *STEP_NOTE_KEYS)}
    try:
        OPS[name].check(spec)
    except SpecError as err:
        key = getattr(err, "key", None)
        message = getattr(err, "message", None) or str(err)
        raise RecipeError(source, f"{at}.{key}" if key else at, f"({name}) {message}") from None
    return OpStep(op=name, spec=spec, p=p, label=label)
