"""The realesrgan recipes draw from the published distributions (reference/realesrgan_degradation.md).

2,000 plans of small RGB tiles; the bounds are about 4 standard deviations wide, so a correct
recipe fails them with negligible probability while a wrong probability (e.g. 0.3 for 0.2) fails.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from srkit.degrade.recipe import load_recipe

N = 2000
KERNEL_PROBS = {"iso": 0.45, "aniso": 0.25, "generalized_iso": 0.12, "generalized_aniso": 0.03,
                "plateau_iso": 0.12, "plateau_aniso": 0.03}


def near(fraction: float, p: float, n: int) -> bool:
    return abs(fraction - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-9


@pytest.fixture(scope="module")
def plans() -> list[dict[str, dict]]:
    """Per sample: the plan entries by name (``blur 1``, ..., ``final sinc``)."""
    recipe = load_recipe("realesrgan_x4")
    hr = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = []
    for i in range(N):
        _, plan = recipe.plan_and_apply(hr, f"tile{i}")
        by_name = {e["name"]: e for e in plan if "name" in e}
        by_name["_order"] = [e.get("name", e["op"]) for e in plan]
        out.append(by_name)
    return out


def fraction(values: list[bool]) -> float:
    return sum(values) / len(values)


def test_stage_kernels(plans):
    for stage, sigma_hi in (("blur 1", 3.0), ("blur 2", 1.5)):
        applied = [p[stage]["params"] for p in plans if not p[stage].get("skipped")]
        sinc = [k for k in applied if k["kind"] == "sinc"]
        assert near(len(sinc) / len(applied), 0.1, len(applied)), stage
        assert {k["size"] for k in applied} == set(range(7, 22, 2))
        for k in sinc:
            low = math.pi / 3 if k["size"] < 13 else math.pi / 5
            assert low <= k["omega_c"] <= math.pi
        mixed = [k for k in applied if k["kind"] != "sinc"]
        kinds = Counter(k["kind"] for k in mixed)
        for kind, p in KERNEL_PROBS.items():
            assert near(kinds[kind] / len(mixed), p, len(mixed)), (stage, kind)
        for k in mixed:
            assert 0.2 <= k["sigma_x"] <= sigma_hi and 0.2 <= k["sigma_y"] <= sigma_hi
            assert -math.pi <= k["theta"] <= math.pi
        plateau = [k["beta"] for k in mixed if k["kind"].startswith("plateau")]
        assert near(fraction([b == 1.0 for b in plateau]), 0.5, len(plateau))  # the published quirk
        assert all(1.0 <= b <= 2.0 for b in plateau)
        gen = [k["beta"] for k in mixed if k["kind"].startswith("generalized")]
        assert all(0.5 <= b <= 4.0 for b in gen)


def test_stage_two_blur_is_skipped_one_time_in_five(plans):
    assert near(fraction([bool(p["blur 2"].get("skipped")) for p in plans]), 0.2, N)
    assert not any(p["blur 1"].get("skipped") for p in plans)


@pytest.mark.parametrize(("stage", "probs", "up", "down"), [
    ("resize 1", (0.2, 0.7, 0.1), 1.5, 0.15),
    ("resize 2", (0.3, 0.4, 0.3), 1.2, 0.3),
])
def test_random_resizes(plans, stage, probs, up, down):
    params = [p[stage]["params"] for p in plans]
    directions = Counter(r["direction"] for r in params)
    for direction, p in zip(("up", "down", "keep"), probs, strict=True):
        assert near(directions[direction] / N, p, N), (stage, direction)
    modes = Counter(r["mode"] for r in params)
    for mode in ("area", "bilinear_plain", "bicubic_plain"):
        assert near(modes[mode] / N, 1 / 3, N)
    for r in params:
        if r["direction"] == "up":
            assert 1.0 <= r["factor"] <= up
        elif r["direction"] == "down":
            assert down <= r["factor"] <= 1.0
        else:
            assert r["factor"] == 1.0


@pytest.mark.parametrize(("stage", "sigma_hi", "scale_hi"), [("noise 1", 30.0, 3.0), ("noise 2", 25.0, 2.5)])
def test_noises(plans, stage, sigma_hi, scale_hi):
    params = [p[stage]["params"] for p in plans]
    assert near(fraction([n["kind"] == "gaussian" for n in params]), 0.5, N)
    assert near(fraction([n["gray"] for n in params]), 0.4, N)
    for n in params:
        if n["kind"] == "gaussian":
            assert 1.0 <= n["sigma"] <= sigma_hi
        else:
            assert 0.05 <= n["scale"] <= scale_hi


def test_jpeg_qualities_and_the_final_step(plans):
    for stage in ("jpeg 1", "jpeg 2"):
        qualities = [p[stage]["params"]["quality"] for p in plans]
        assert min(qualities) == 30 and max(qualities) == 95
        assert abs(np.mean(qualities) - 62.5) < 1.5
    final_sinc = [p["final sinc"] for p in plans]
    assert near(fraction([not e.get("skipped") for e in final_sinc]), 0.8, N)
    for e in final_sinc:
        if not e.get("skipped"):
            assert math.pi / 3 <= e["params"]["omega_c"] <= math.pi
            assert e["params"]["size"] in range(7, 22, 2)
    resize_first = [p["_order"].index("to_final") < p["_order"].index("jpeg 2") for p in plans]
    assert near(fraction(resize_first), 0.5, N)
    for p in plans:
        order = p["_order"]
        assert order.index("noise 2") < min(order.index("to_final"), order.index("jpeg 2"))
        assert order.index("final sinc") == order.index("to_final") + 1


def test_x2_differs_from_x4_only_in_scale():
    x2, x4 = load_recipe("realesrgan_x2"), load_recipe("realesrgan_x4")
    assert (x2.scale, x4.scale) == (2, 4)
    assert x2.steps == x4.steps and x2.dtype == x4.dtype == "float32"
