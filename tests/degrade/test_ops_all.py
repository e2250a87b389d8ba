"""Every op: layout and dtype kept, deterministic apply, JSON-able params, clear spec errors, SPECS.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srkit.degrade.ops import ENGINE_KEYS, OPS, Context, Op, SpecError, to_float, to_uint8
from srkit.degrade.ops.value_specs import check_value, draw_choice, draw_int, draw_uniform, draw_value

SPECS_MD = Path(__file__).resolve().parents[2] / "degrade" / "ops" / "SPECS.md"
RESIZE_OPS = {"resize", "random_resize", "to_final"}


def example_spec(name: str) -> dict:
    return {"factor": [0.3, 2.0]} if name == "resize" else {}


def make_image(h: int, w: int, channels: int, dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 1 else (h, w, 3)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    return to_float(img) if dtype == "float32" else img


def plain_json(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain_json(v) for v in value)
    return type(value) in (int, float, str, bool)


def test_registry_shape():
    assert isinstance(OPS, dict) and len(OPS) >= 15
    for name, op in OPS.items():
        assert isinstance(op, Op) and op.name == name
        assert op.doc and "\n" not in op.doc


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_op_keeps_layout_dtype_and_is_deterministic(name, channels, dtype):
    op = OPS[name]
    spec = example_spec(name)
    op.check(spec)
    img = make_image(48, 40, channels, dtype, seed=1)
    before = img.copy()
    ctx = Context(img.shape, img.shape, 2)
    for seed in range(3):
        params = op.sample(np.random.default_rng(seed), spec, ctx)
        assert params == op.sample(np.random.default_rng(seed), spec, ctx)
        assert plain_json(params)
        again = json.loads(json.dumps(params))
        assert again == params
        out = op.apply(img, params)
        assert np.array_equal(img, before)  # input untouched
        assert out.dtype == img.dtype and out.ndim == img.ndim and out.flags.c_contiguous
        if name in RESIZE_OPS:
            assert out.shape[:2] == (params["out_h"], params["out_w"])
        else:
            assert out.shape == img.shape
        assert out.shape[2:] == img.shape[2:]
        if out.dtype == np.float32:
            assert out.min() >= 0.0 and out.max() <= 1.0
        assert op.apply(img, again).tobytes() == out.tobytes()  # replay from the logged params


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(OPS)),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    channels=st.sampled_from([1, 3]),
    dtype=st.sampled_from(["uint8", "float32"]),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1, 2, 4]),
)
def test_property_any_shape(name, h, w, channels, dtype, seed, scale):
    op = OPS[name]
    img = make_image(h, w, channels, dtype, seed)
    ctx = Context(img.shape, img.shape, scale)
    params = op.sample(np.random.default_rng(seed), example_spec(name), ctx)
    assert json.loads(json.dumps(params)) == params and plain_json(params)
    out = op.apply(img, params)
    assert out.dtype == img.dtype and out.shape[2:] == img.shape[2:]
    if name not in RESIZE_OPS:
        assert out.shape == img.shape
    if dtype == "float32":
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert op.apply(img, params).tobytes() == out.tobytes()


@pytest.mark.parametrize("name", sorted(OPS))
def test_views_give_the_same_result_as_copies(name):
    big = make_image(70, 80, 3, "float32", seed=3)
    for base in (big, big[:, :, 1], to_uint8(big)):
        view = base[5:60, 3:71]  # a crop: not C-contiguous
        ctx = Context(view.shape, view.shape, 2)
        params = OPS[name].sample(np.random.default_rng(0), example_spec(name), ctx)
        assert OPS[name].apply(view, params).tobytes() == OPS[name].apply(view.copy(), params).tobytes()


def test_chain_in_float_is_reproducible():
    """A Real-ESRGAN-like chain: same params on the same input give the same bytes on every run."""
    hr = make_image(96, 96, 3, "uint8", seed=7)
    steps = [
        ("realesrgan_blur", {}),
        ("random_resize", {}),
        ("realesrgan_noise", {}),
        ("jpeg", {}),
        ("realesrgan_blur", {"sigma": [0.2, 1.5]}),
        (
            "random_resize",
            {"probs": [0.3, 0.4, 0.3], "up": [1, 1.2], "down": [0.3, 1], "relative_to": "final"},
        ),
        ("realesrgan_noise", {"sigma": [1, 25], "poisson_scale": [0.05, 2.5]}),
        ("to_final", {}),
        ("sinc", {}),
        ("jpeg", {}),
    ]
    rng = np.random.default_rng(11)
    x, log = to_float(hr), []
    for name, spec in steps:
        OPS[name].check(spec)
        params = OPS[name].sample(rng, spec, Context(x.shape, hr.shape, 4))
        log.append((name, json.loads(json.dumps(params))))
        x = OPS[name].apply(x, params)
    lr = to_uint8(x)
    assert lr.shape == (24, 24, 3)
    threads = cv2.getNumThreads()
    try:
        for n in (1, 2):
            cv2.setNumThreads(n)
            y = to_float(hr)
            for name, params in log:
                y = OPS[name].apply(y, params)
            assert to_uint8(y).tobytes() == lr.tobytes()
    finally:
        cv2.setNumThreads(threads)


def test_to_uint8_and_to_float():
    k = np.arange(256, dtype=np.uint8)
    assert np.array_equal(to_uint8(to_float(k)), k)
    assert to_float(k).dtype == np.float32
    halves = np.array([0.5, 1.5, 2.5, -3, 300], np.float32) / 255
    assert to_uint8(halves).tolist() == [0, 2, 2, 0, 255]  # rint: half to even; then clip
    with pytest.raises(TypeError):
        to_float(np.zeros(3, np.int16))


@pytest.mark.parametrize("name", sorted(OPS))
def test_check_names_unknown_key_and_allowed_ones(name):
    op = OPS[name]
    with pytest.raises(SpecError) as err:
        op.check({**example_spec(name), "bogus_key": 1})
    assert err.value.key == "bogus_key"
    assert "allowed keys" in err.value.message and name in err.value.message
    op.check({**example_spec(name), **{k: "engine" for k in ENGINE_KEYS}})  # the engine's keys are ignored
    with pytest.raises(SpecError):
        op.check(["not", "a", "table"])


@pytest.mark.parametrize(
    "name, spec, key, words",
    [
        ("gaussian_noise", {"sigma": "high"}, "sigma", "number"),
        ("gaussian_noise", {"sigma": [30, 1]}, "sigma", "lo <= hi"),
        ("gaussian_noise", {"sigma": [1, 2, 3]}, "sigma", "[lo, hi]"),
        ("gaussian_noise", {"sigma": 300}, "sigma", "between 0.0 and 255.0"),
        ("gaussian_noise", {"gray_prob": 1.5}, "gray_prob", "between 0.0 and 1.0"),
        ("gaussian_noise", {"sigma": True}, "sigma", "number"),
        ("poisson_noise", {"scale": {"choices": [1, 2], "weights": [1]}}, "scale", "2 non-negative"),
        ("poisson_noise", {"scale": {"choices": [1, 2], "weights": [-1, 2]}}, "scale", "non-negative"),
        ("poisson_noise", {"scale": {"values": [1, 2]}}, "scale", "choices"),
        ("realesrgan_blur", {"kernel_sizes": [7, 8]}, "kernel_sizes", "odd"),
        ("realesrgan_blur", {"kernel_list": ["iso", "box"]}, "kernel_list", "plateau_aniso"),
        ("realesrgan_blur", {"kernel_list": ["iso", "aniso"], "kernel_prob": [1]}, "kernel_prob", "of 2"),
        ("realesrgan_blur", {"betap": [1.2, 2.0]}, "betap", "contain 1"),
        ("realesrgan_blur", {"sigma": [0.0, 2.0]}, "sigma", "> 0"),
        ("realesrgan_blur", {"beta_split": 1}, "beta_split", "true or false"),
        ("realesrgan_noise", {"sigma": 5}, "sigma", "range [lo, hi]"),
        ("sinc", {"omega": [0.5, 4.0]}, "omega", "3.14"),
        ("gaussian_blur", {"kernel_size": 4}, "kernel_size", "odd"),
        ("random_resize", {"relative_to": "hr"}, "relative_to", "final"),
        ("random_resize", {"down": [0.1, 1.5]}, "down", "between 0.0 and 1.0"),
        ("resize", {"size": [10, 0]}, "size", "[h, w]"),
        ("resize", {"to": "lr"}, "to", "final"),
    ],
)
def test_check_errors_say_what_is_allowed(name, spec, key, words):
    with pytest.raises(SpecError) as err:
        OPS[name].check(spec)
    assert err.value.key == key
    assert words in err.value.message, err.value.message
    assert key in str(err.value)


def test_spec_error_survives_a_process_boundary():
    import copy

    err = copy.deepcopy(SpecError("quality", "must be between 1 and 100"))  # the same protocol as pickling
    assert (err.key, err.message, str(err)) == ("quality", "must be between 1 and 100",
                                                "quality: must be between 1 and 100")
    assert isinstance(err, ValueError)


def test_draw_helpers():
    rng = np.random.default_rng(0)
    assert draw_uniform(rng, 0.5) == 0.5 and draw_uniform(rng, [2.0, 2.0]) == 2.0
    assert all(1.0 <= draw_uniform(rng, [1, 3]) <= 3.0 for _ in range(100))
    assert {draw_int(rng, [3, 5]) for _ in range(200)} == {3, 4, 5}
    assert {draw_choice(rng, ["a", "b"]) for _ in range(100)} == {"a", "b"}
    picks = [draw_choice(rng, {"choices": ["x", "y", "z"], "weights": [0, 1, 3]}) for _ in range(4000)]
    assert "x" not in picks and abs(picks.count("z") / 4000 - 0.75) < 0.03
    assert draw_value(rng, {"choices": [1, 2]}, "k", "float") in (1.0, 2.0)
    assert isinstance(draw_value(rng, [1, 9], "k", "int"), int)
    check_value({"choices": ["a"], "weights": [2]}, "k", "str", allowed=["a"])
    with pytest.raises(SpecError, match="not allowed"):
        check_value(["a", "c"], "k", "str", allowed=["a", "b"])
    with pytest.raises(SpecError, match="integer"):
        check_value([1, 2.5], "k", "int")
    with pytest.raises(SpecError, match="not all zero"):
        check_value({"choices": [1, 2], "weights": [0, 0]}, "k", "float")


def _sections() -> dict[str, str]:
    text = SPECS_MD.read_text()
    parts = re.split(r"^### `(\w+)`", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def test_specs_md_documents_every_op_key_and_param():
    sections = _sections()
    assert set(sections) == set(OPS)
    for name, op in OPS.items():
        with pytest.raises(SpecError) as err:
            op.check({**example_spec(name), "bogus_key": 1})
        allowed = re.findall(r"'(\w+)'", err.value.message.split("allowed keys:")[1])
        assert allowed
        for key in allowed:
            assert f"`{key}`" in sections[name], (name, key)
        img = make_image(40, 40, 3, "float32", 0)
        for seed in range(20):
            params = op.sample(
                np.random.default_rng(seed), example_spec(name), Context(img.shape, img.shape, 2)
            )
            for key in params:
                assert re.search(rf"\b{key}\b", sections[name]), (name, key)


def test_specs_md_states_every_key_as_declared():
    """Each op's section holds one bullet per declared key, opening with the declaration in words
    (form, bounds, default), and no bullet for a key the op does not declare."""
    sections = _sections()
    for name, op in OPS.items():
        text = " ".join(sections[name].split())
        for line in op.schema.describe():
            assert f"- {line}" in text, f"SPECS.md, op {name}: expected a bullet '- {line}'"
        documented = set(re.findall(r"^- `(\w+)`:", sections[name], flags=re.M))
        assert documented <= set(op.schema.keys), (name, documented - set(op.schema.keys))


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(a=finite, b=finite, seed=st.integers(0, 2**32 - 1))
def test_property_float_range_draws_stay_inside(a, b, seed):
    lo, hi = min(a, b), max(a, b)
    check_value([lo, hi], "k", "float")
    v = draw_value(np.random.default_rng(seed), [lo, hi], "k", "float")
    assert type(v) is float and lo <= v <= hi


@settings(max_examples=100, deadline=None)
@given(a=st.integers(-1000, 1000), b=st.integers(-1000, 1000), seed=st.integers(0, 2**32 - 1),
       weights=st.lists(st.floats(0, 10), min_size=1, max_size=6).filter(lambda w: sum(w) > 0))
def test_property_int_and_choice_draws(a, b, seed, weights):
    lo, hi = min(a, b), max(a, b)
    rng = np.random.default_rng(seed)
    v = draw_value(rng, [lo, hi], "k", "int")
    assert type(v) is int and lo <= v <= hi
    spec = {"choices": [f"c{i}" for i in range(len(weights))], "weights": weights}
    check_value(spec, "k", "str")
    picked = draw_value(rng, spec, "k", "str")
    assert weights[int(picked[1:])] > 0
