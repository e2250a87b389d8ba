"""The ops `sr-data fit` writes into recipes: levels, paper, ink_spread, sharpen (their properties)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srkit.degrade.ops import OPS, SpecError
from srkit.degrade.ops.scan import grain

floats01 = st.floats(0.0, 1.0, allow_nan=False, width=32)


def ramp(n: int = 64) -> np.ndarray:
    return np.tile(np.linspace(0.0, 1.0, n, dtype=np.float32), (8, 1))


@settings(max_examples=60, deadline=None)
@given(black=st.floats(0, 120), white=st.floats(130, 255), gamma=st.floats(0.2, 5.0))
def test_levels_maps_black_and_white_and_keeps_order(black, white, gamma):
    out = OPS["levels"].apply(ramp(), {"black": black, "white": white, "gamma": gamma})
    assert abs(float(out[0, 0]) * 255 - black) < 1e-3 and abs(float(out[0, -1]) * 255 - white) < 1e-3
    assert (np.diff(out[0]) >= -1e-6).all()  # a tone curve never swaps two levels
    linear = (black + (white - black) * 0.5) / 255
    mid = float(out[0, 32])  # x = 32/63, just above 0.5
    assert (mid >= linear - 1e-3) if gamma >= 1 else (mid <= linear + 0.02)


def test_levels_refuses_black_above_white():
    with pytest.raises(SpecError) as err:
        OPS["levels"].check({"black": [10, 200], "white": [150, 255]})
    assert err.value.key == "white"
    OPS["levels"].check({"black": {"choices": [0, 20]}, "white": [220, 255]})


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), level=st.integers(60, 200))
def test_paper_zero_sigma_is_identity_and_solid_ink_takes_no_grain(seed, level):
    img = np.full((32, 40), level, np.uint8)
    img[:8] = 0
    assert np.array_equal(OPS["paper"].apply(img, {"sigma": 0.0, "scale": 2.0, "noise_seed": seed}), img)
    out = OPS["paper"].apply(img, {"sigma": 20.0, "scale": 1.5, "noise_seed": seed})
    assert (out[:8] == 0).all()  # the grain is in the paper: none under solid ink
    assert out[8:].std() > 0


def test_paper_grain_has_unit_std_and_its_scale_is_its_correlation_length():
    rng = lambda: np.random.Generator(np.random.PCG64(3))  # noqa: E731
    fine, coarse = grain((256, 256), 0.8, rng()), grain((256, 256), 3.0, rng())
    for g in (fine, coarse):
        assert abs(float(g.std()) - 1.0) < 0.1
    corr = [float(np.corrcoef(g[:, :-2].ravel(), g[:, 2:].ravel())[0, 1]) for g in (fine, coarse)]
    assert corr[1] > corr[0] + 0.3


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), radius=st.floats(0.1, 4.0), gain=st.floats(0.0, 4.0))
def test_ink_spread_only_darkens(seed, radius, gain):
    img = np.random.default_rng(seed).random((24, 24), dtype=np.float32)
    out = OPS["ink_spread"].apply(img, {"radius": radius, "gain": gain})
    assert (out <= img + 1e-6).all()


def test_ink_spread_moves_a_step_edge_out_by_two_thirds_of_the_radius():
    step = np.ones((8, 80), np.float32)
    step[:, :40] = 0.0  # ink on the left
    out = OPS["ink_spread"].apply(step, {"radius": 3.0, "gain": 1.0})[4]
    half = np.flatnonzero(out >= 0.5)[0] - 0.5  # where the edge now crosses mid-gray
    assert abs((half - 39.5) - 0.67 * 3.0) < 0.5


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), radius=st.floats(0.2, 3.0), amount=st.floats(0.0, 3.0))
def test_sharpen_identity_cases(seed, radius, amount):
    img = np.random.default_rng(seed).integers(0, 256, (20, 20), dtype=np.uint8)
    assert np.array_equal(OPS["sharpen"].apply(img, {"radius": radius, "amount": 0.0, "threshold": 0.0}), img)
    assert np.array_equal(OPS["sharpen"].apply(img, {"radius": radius, "amount": amount, "threshold": 255.0}),
                          img)
    flat = np.full((20, 20), 0.4, np.float32)
    params = {"radius": radius, "amount": amount, "threshold": 0.0}
    assert np.allclose(OPS["sharpen"].apply(flat, params), flat)


def test_sharpen_leaves_halos_that_usm_softens():
    step = np.full((16, 64), 0.3, np.float32)
    step[:, 32:] = 0.7
    sharp = OPS["sharpen"].apply(step, {"radius": 1.5, "amount": 1.0, "threshold": 0.0})
    assert sharp.max() > 0.75 and sharp.min() < 0.25  # light and dark halos beside the edge
    usm = OPS["usm"].apply(step, {"weight": 1.0, "kernel_size": 9, "sigma": 1.5, "threshold": 10.0})
    assert sharp.max() - 0.7 > usm.max() - 0.7  # usm's blurred mask softens the overshoot
