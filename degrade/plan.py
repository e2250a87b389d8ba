"""Plans: run a recipe's steps on one sample, drawing each op's params as it goes; replay a logged plan.

A *plan* is the flat, ordered list of the concrete steps one sample went through:
``{"op", "at", "params"}`` for an applied op, ``{"op", "at", "skipped": true}`` for a step whose
``p`` draw failed (``op`` is the group kind for a skipped group), plus ``name`` when the step has
one. ``at`` is the step's key path in the recipe, so a plan can be read against its file. A float32
chain starts with the engine entry ``{"op": "to_float32"}``. Replaying a plan needs only ``apply``.

Draws come from the per-sample generator in a fixed order: a step's ``p`` draw (only when p < 1),
then the group choice (one_of index, random_order permutation) or the op's own draws.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from srkit.core.manifest import canonical_json
from srkit.degrade.ops import OPS, Context, to_float, to_uint8

# The plan entry that records a float32 working chain (the engine's, not an op).
TO_FLOAT_ENTRY = {"op": "to_float32", "at": "dtype"}
# No step may make the image more than this many times the HR tile's side (a recipe's sizes are bounded
# relative to the HR size, so a typo like size = [100000, 100000] is an error, not a MemoryError).
MAX_GROWTH = 16

# Bumped whenever the same plan can give other LR bytes (a changed formulation, even one that only
# rounds differently); logged with every sample so that replay can tell an engine change from drift.
# 2: float images blurred with kernels from 13 x 13 go through one DFT of the padded image.
ENGINE_VERSION = 2
# What a log record without `engine_version` was made by.
FIRST_ENGINE_VERSION = 1


class PlanError(ValueError):
    """A plan that cannot be applied (unknown op, bad params)."""


@dataclass(frozen=True)
class OpStep:
    op: str
    spec: dict[str, Any]
    p: float
    label: str = ""


@dataclass(frozen=True)
class GroupStep:
    kind: str
    children: tuple[Step, ...]
    p: float
    weights: tuple[float, ...] = ()
    repeat: int = 1
    label: str = ""


Step = OpStep | GroupStep


def draw_and_apply(
    steps: tuple[Step, ...],
    hr: np.ndarray,
    rng: np.random.Generator,
    scale: int,
    float_chain: bool,
    timings: dict[str, list[float]] | None = None,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Run ``steps`` on ``hr``, drawing from ``rng``; returns the uint8 LR and the plan.

    ``scale`` is the recipe's resampling factor (ops see it in their Context); ``float_chain`` works
    in float32 and rounds once at the end. ``timings``, when given, collects ``[count, seconds]`` per op.
    """
    run = _SampleRun(hr, rng, scale, timings)
    img: np.ndarray = hr
    if float_chain:
        run.plan.append(dict(TO_FLOAT_ENTRY))
        img = to_float(hr)
    for i, step in enumerate(steps):
        img = run.step(step, f"steps[{i}]", img)
    return to_uint8(img), run.plan


class _SampleRun:
    """One sample going through the steps: the HR, the rng, the plan so far."""

    def __init__(self, hr: np.ndarray, rng: np.random.Generator, scale: int,
                 timings: dict[str, list[float]] | None) -> None:
        self.hr = hr
        self.rng = rng
        self.scale = scale
        self.timings = timings
        self.plan: list[dict[str, Any]] = []

    def step(self, step: Step, at: str, img: np.ndarray) -> np.ndarray:
        if step.p < 1.0 and not self.rng.random() < step.p:
            kind = step.op if isinstance(step, OpStep) else step.kind
            self._record({"op": kind, "at": at, "skipped": True}, step.label)
            return img
        if isinstance(step, OpStep):
            op = OPS[step.op]
            params = op.sample(self.rng, step.spec, Context(shape=img.shape, hr_shape=self.hr.shape,
                                                            scale=self.scale))
            # Apply exactly what the log will hold (JSON floats, lists), so replay cannot differ.
            params = json.loads(canonical_json(params))
            _check_size(params, self.hr.shape, at)
            start = time.perf_counter()
            img = op.apply(img, params)
            _count_time(self.timings, step.op, start)
            self._record({"op": step.op, "at": at, "params": params}, step.label)
            return img
        if step.kind == "one_of":
            i = _weighted_index(self.rng, step.weights)
            return self.step(step.children[i], f"{at}.one_of[{i}]", img)
        if step.kind == "random_order":
            for i in self.rng.permutation(len(step.children)).tolist():
                img = self.step(step.children[i], f"{at}.random_order[{i}]", img)
            return img
        for r in range(step.repeat):
            prefix = f"{at}.repeat[{r}]" if step.repeat > 1 else at
            for i, child in enumerate(step.children):
                img = self.step(child, f"{prefix}.sequence[{i}]", img)
        return img

    def _record(self, entry: dict[str, Any], label: str) -> None:
        if label:
            entry["name"] = label
        self.plan.append(entry)


def _check_size(params: dict[str, Any], hr_shape: tuple[int, ...], at: str) -> None:
    """Refuse an output size (``out_h`` / ``out_w``, the resize ops' params) past MAX_GROWTH x the HR."""
    out_h, out_w = params.get("out_h"), params.get("out_w")
    if isinstance(out_h, int) and isinstance(out_w, int) \
            and (out_h > MAX_GROWTH * hr_shape[0] or out_w > MAX_GROWTH * hr_shape[1]):
        raise PlanError(f"{at}: size {out_w}x{out_h} is more than {MAX_GROWTH} x the HR tile "
                        f"({hr_shape[1]}x{hr_shape[0]}); a recipe's sizes are bounded relative to the HR")


def _weighted_index(rng: np.random.Generator, weights: tuple[float, ...]) -> int:
    total = math.fsum(weights)
    u = rng.random() * total
    acc = 0.0
    for i, w in enumerate(weights):
        acc += w
        if u < acc:
            return i
    return max(i for i, w in enumerate(weights) if w > 0)


def _count_time(timings: dict[str, list[float]] | None, name: str, start: float) -> None:
    if timings is not None:
        slot = timings.setdefault(name, [0, 0.0])
        slot[0] += 1
        slot[1] += time.perf_counter() - start


def apply_plan(
    hr: np.ndarray,
    plan: list[dict[str, Any]],
    timings: dict[str, list[float]] | None = None,
) -> np.ndarray:
    """Replay a plan on ``hr``: apply its non-skipped steps in order and round to uint8."""
    img = hr
    for n, entry in enumerate(plan):
        if entry.get("skipped"):
            continue
        name = entry.get("op")
        if name == TO_FLOAT_ENTRY["op"]:
            img = to_float(img)
            continue
        op = OPS.get(name) if isinstance(name, str) else None
        if op is None:
            raise PlanError(f"plan step {n} ({entry.get('at', '?')}): unknown op {name!r}; "
                            f"known ops: {', '.join(sorted(OPS))}")
        if "params" not in entry:
            raise PlanError(f"plan step {n} ({entry.get('at', '?')}): no params recorded")
        start = time.perf_counter()
        img = op.apply(img, entry["params"])
        _count_time(timings, name, start)
    return to_uint8(img)
