"""Noise ops: exact Poisson sampler, the Real-ESRGAN Poisson definition, gray noise, seeds, stage sampler."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from scipy.stats import chisquare, poisson

from srkit.degrade.ops import OPS, Context, to_float
from srkit.degrade.ops.noise import distinct_levels, poisson_counts, poisson_noise_array

CTX = Context((32, 32, 3), (32, 32, 3), 4)


@pytest.mark.parametrize("level, vals", [(200, 256), (255, 256), (1, 256), (37, 4), (255, 1), (90, 32)])
def test_poisson_sampler_has_the_poisson_distribution(level, vals):
    lam = level / 255 * vals
    counts = poisson_counts(np.full(200_000, level, np.uint8), vals, np.random.Generator(np.random.PCG64(7)))
    ks = np.arange(counts.max() + 1)
    observed = np.bincount(counts, minlength=ks.size)
    expected = poisson.pmf(ks, lam) * counts.size
    keep = expected > 5
    rest_obs, rest_exp = counts.size - observed[keep].sum(), counts.size - expected[keep].sum()
    stat = chisquare(np.append(observed[keep], rest_obs), np.append(expected[keep], rest_exp))
    assert stat.pvalue > 1e-4
    assert abs(counts.mean() - lam) < 5 * math.sqrt(lam / counts.size) + 1e-9


def test_poisson_zero_level_gives_zero():
    counts = poisson_counts(np.zeros((50, 50), np.uint8), 256, np.random.default_rng(0))
    assert (counts == 0).all()


def test_poisson_noise_follows_the_realesrgan_definition():
    # 100 distinct levels -> vals = 2^ceil(log2(100)) = 128; noise = (Poisson(q * 128) / 128 - q) * scale
    levels = np.tile(np.arange(60, 160, dtype=np.uint8), (2000, 1))
    x = to_float(levels)
    scale = 2.0
    noise = poisson_noise_array(x, scale, False, np.random.default_rng(3))
    q = levels / 255
    for lvl in (60, 100, 159):
        col = noise[:, lvl - 60].astype(np.float64)
        lam = lvl / 255 * 128
        assert abs(col.mean()) < 5 * scale * math.sqrt(lam) / 128 / math.sqrt(col.size)
        assert abs(col.var() / (scale**2 * lam / 128**2) - 1) < 0.15
        # the values lie on the lattice k / vals - q (times scale)
        k = (col / scale + q[0, lvl - 60]) * 128
        assert np.allclose(k, np.rint(k), atol=1e-3)
    # a single distinct value -> vals = 1: noise is (Poisson(q) - q) * scale
    flat = np.full((100, 100), 128, np.uint8)
    k = poisson_noise_array(to_float(flat), 1.0, False, np.random.default_rng(0)) + 128 / 255
    assert np.allclose(k, np.rint(k), atol=1e-5)


def test_gray_noise_is_shared_across_channels():
    rng = np.random.default_rng(1)
    img = rng.integers(60, 200, (40, 50, 3), dtype=np.uint8)
    x = to_float(img)
    for name, spec in (
        ("gaussian_noise", {"sigma": 10.0, "gray_prob": 1.0}),
        ("poisson_noise", {"scale": 1.0, "gray_prob": 1.0}),
    ):
        op = OPS[name]
        params = op.sample(rng, spec, CTX)
        assert params["gray"] is True
        out = op.apply(x, params)
        unclipped = ((out > 0) & (out < 1)).all(axis=2)
        assert unclipped.mean() > 0.9
        diff = (out - x)[unclipped]
        np.testing.assert_allclose(diff[:, 0], diff[:, 1], atol=1e-6)
        np.testing.assert_allclose(diff[:, 0], diff[:, 2], atol=1e-6)
        color = op.apply(x, dict(params, gray=False)) - x
        assert np.abs(color[:, :, 0] - color[:, :, 1]).max() > 1e-3


def test_gaussian_noise_sigma_and_clipping():
    x = np.full((300, 300), 0.5, np.float32)
    op = OPS["gaussian_noise"]
    params = op.sample(np.random.default_rng(0), {"sigma": 20.0}, CTX)
    out = op.apply(x, params)
    assert abs((out - x).std() - 20 / 255) < 0.003
    extreme = op.apply(np.ones((50, 50, 3), np.float32), dict(params, sigma=200.0))
    assert extreme.min() >= 0.0 and extreme.max() <= 1.0


def test_noise_is_reproducible_from_the_seed_only():
    img = np.random.default_rng(2).integers(0, 256, (33, 47, 3), dtype=np.uint8)
    for name in ("gaussian_noise", "poisson_noise", "realesrgan_noise"):
        op = OPS[name]
        params = op.sample(np.random.default_rng(5), {}, CTX)
        assert isinstance(params["noise_seed"], int) and 0 <= params["noise_seed"] < 2**53
        a = op.apply(img, params)
        np.random.seed(123)  # the global RNG must play no part
        b = op.apply(img, params)
        assert a.tobytes() == b.tobytes()
        c = op.apply(img, dict(params, noise_seed=params["noise_seed"] + 1))
        assert a.tobytes() != c.tobytes()


def test_realesrgan_noise_sampler():
    op = OPS["realesrgan_noise"]
    spec = {"sigma": [1.0, 25.0], "poisson_scale": [0.05, 2.5]}
    op.check(spec)
    rng = np.random.default_rng(4)
    n = 4000
    draws = [op.sample(rng, spec, CTX) for _ in range(n)]
    gauss = [d for d in draws if d["kind"] == "gaussian"]
    assert abs(len(gauss) / n - 0.5) < 4.5 * math.sqrt(0.25 / n)
    assert abs(sum(d["gray"] for d in draws) / n - 0.4) < 4.5 * math.sqrt(0.24 / n)
    assert all(1 <= d["sigma"] <= 25 for d in gauss)
    assert all(0.05 <= d["scale"] <= 2.5 for d in draws if d["kind"] == "poisson")
    assert {frozenset(d) for d in draws} == {
        frozenset({"kind", "sigma", "gray", "noise_seed"}),
        frozenset({"kind", "scale", "gray", "noise_seed"}),
    }


def test_noise_on_uint8_and_gray_images():
    rng = np.random.default_rng(6)
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    for name in ("gaussian_noise", "poisson_noise"):
        op = OPS[name]
        params = op.sample(rng, {"gray_prob": 1.0}, Context(gray.shape, gray.shape, 2))
        out = op.apply(gray, params)
        assert out.shape == gray.shape and out.dtype == np.uint8
        # uint8 in: the float result rounded once
        assert np.array_equal(out, np.clip(np.rint(op.apply(to_float(gray), params) * 255), 0, 255))


def test_gray_poisson_uses_torchvision_luminance():
    # a colour whose 8-bit luminance differs between torchvision's 0.2989 R and BT.601's 0.299 R
    colour = next((r, g, b) for r in range(200, 256) for g in range(0, 256, 5) for b in (0, 100)
                  if round(0.2989 * r + 0.587 * g + 0.114 * b) != round(0.299 * r + 0.587 * g + 0.114 * b))
    level = round(0.2989 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2])
    img = np.empty((64, 64, 3), np.uint8)
    img[:] = colour
    noise = poisson_noise_array(to_float(img), 1.0, True, np.random.default_rng(0))
    assert noise.shape == (64, 64)
    k = noise + level / 255  # a single distinct level -> vals = 1: noise = Poisson(q) - q
    assert np.allclose(k, np.rint(k), atol=1e-5)


@pytest.mark.parametrize("vals", [256, 16, 1])
def test_poisson_sampler_is_the_inverse_cdf_of_its_uniforms(vals):
    """Guide table, forward steps and tail bisection give exactly searchsorted(CDF, u) for the same u."""
    from srkit.degrade.ops.noise import _poisson_tables

    cdf, _, K = _poisson_tables(vals)
    lam = np.arange(256) * (vals / 255)
    np.testing.assert_allclose(cdf[:, :-1], poisson.cdf(np.arange(K - 1)[None, :], lam[:, None]), atol=1e-12)
    levels = np.random.default_rng(1).integers(0, 256, 300_000).astype(np.uint8)
    counts = poisson_counts(levels, vals, np.random.Generator(np.random.PCG64(9)))
    raw = np.random.Generator(np.random.PCG64(9)).bit_generator.random_raw(levels.size)
    u = (raw >> np.uint64(11)).astype(np.float64) / 2.0**53
    want = np.empty(levels.size, np.int64)
    for lvl in range(256):
        sel = levels == lvl
        want[sel] = np.searchsorted(cdf[lvl], u[sel], side="right")
    assert np.array_equal(counts, want)


# The Poisson draws of every level for several vals, and the noise of a smooth image in colour and
# gray, hash to this digest. It was computed before the sampler was sped up (guide table, 32-bit
# index arithmetic, histogram by OpenCV): a faster sampler must not change a single draw, or logged
# plans would no longer replay.
POISSON_DIGEST = "1447a72e255015908b69233879955370a3e3162024d0404d320ce2788a01dca6"


def test_poisson_draws_are_pinned():
    h = hashlib.sha256()
    levels = np.tile(np.arange(256, dtype=np.uint8), (64, 3))  # every level, 192 draws each
    for vals in (1, 4, 32, 256):
        counts = poisson_counts(levels, vals, np.random.Generator(np.random.PCG64(vals)))
        h.update(counts.astype(np.int64).tobytes())
    yy, xx = np.mgrid[0:96, 0:80]
    img = np.stack([(xx + yy) / 180, np.sin(xx / 7) * 0.5 + 0.5, yy / 95], axis=2).astype(np.float32)
    for gray in (False, True):
        h.update(poisson_noise_array(img, 1.7, gray, np.random.Generator(np.random.PCG64(11))).tobytes())
    assert h.hexdigest() == POISSON_DIGEST


def test_distinct_levels_counts_the_values_present():
    rng = np.random.default_rng(2)
    for shape, high in (((40, 50, 3), 256), ((33, 7), 17), ((1, 1), 1)):
        levels = rng.integers(0, high, shape, dtype=np.uint8)
        assert distinct_levels(levels) == np.unique(levels).size
