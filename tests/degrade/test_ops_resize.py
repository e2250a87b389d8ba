"""Resize ops: bicubic_aa is MATLAB imresize (checked against an independent numpy implementation on real
tiles), the *_plain modes are torch's F.interpolate, and the random resize samplers give the right sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from srkit.core.images import read_image
from srkit.degrade.ops import OPS, Context, SpecError, to_float, to_uint8
from srkit.degrade.ops.resize import MODES, resize_image, scaled_size


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic with a = -0.5 (MATLAB imresize)."""
    ax = np.abs(x)
    return (1.5 * ax**3 - 2.5 * ax**2 + 1) * (ax <= 1) + (-0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


def matlab_weights(in_len: int, out_len: int) -> np.ndarray:
    """(out_len, in_len) matrix of MATLAB imresize bicubic: antialiased when shrinking, symmetric borders."""
    scale = out_len / in_len
    width = 4.0 / scale if scale < 1 else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    ind = left[:, None] + np.arange(taps)[None, :]
    dist = u[:, None] - ind
    w = scale * cubic(scale * dist) if scale < 1 else cubic(dist)
    w /= w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    idx = mirror[np.mod(ind - 1, 2 * in_len).astype(int)]
    out = np.zeros((out_len, in_len))
    np.add.at(out, (np.repeat(np.arange(out_len), taps), idx.ravel()), w.ravel())
    return out


def matlab_imresize(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    wy, wx = matlab_weights(img.shape[0], out_h), matlab_weights(img.shape[1], out_w)
    x = img.astype(np.float64)
    planes = [x] if x.ndim == 2 else [x[:, :, c] for c in range(x.shape[2])]
    out = np.stack([wy @ p @ wx.T for p in planes], axis=-1)
    out = out[:, :, 0] if x.ndim == 2 else out
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)  # MATLAB rounds half away from zero


@pytest.fixture(scope="module")
def real_tiles(manga_dev_pages) -> list[np.ndarray]:
    """400 px gray tiles cropped from the real dev manga pages (two per page)."""
    tiles = []
    for path in manga_dev_pages:
        page, _ = read_image(path, color="gray")
        for y, x in ((300, 200), (1200, 700)):
            tiles.append(np.ascontiguousarray(page[y : y + 400, x : x + 400]))
    return tiles


def test_bicubic_aa_is_pillow_and_matlab_on_real_tiles(real_tiles):
    for tile in real_tiles:
        ours = resize_image(tile, 100, 100, "bicubic_aa")
        pillow = np.asarray(Image.fromarray(tile).resize((100, 100), Image.Resampling.BICUBIC))
        assert np.abs(ours.astype(int) - pillow).mean() < 0.5
        matlab = matlab_imresize(tile, 100, 100)
        assert np.abs(ours.astype(int) - matlab).mean() < 0.5
        # the plain (aliasing) cubic is a different operation on screentone
        plain = resize_image(tile, 100, 100, "bicubic_plain")
        assert np.abs(plain.astype(int) - matlab).mean() > np.abs(ours.astype(int) - matlab).mean()
        # the float path is the same resampler without 8-bit intermediate rounding
        fl = to_uint8(resize_image(to_float(tile), 100, 100, "bicubic_aa"))
        assert np.abs(fl.astype(int) - matlab).mean() < 0.5


@pytest.mark.parametrize("shape, out", [((48, 40), (12, 10)), ((30, 21), (60, 42)), ((37, 29, 3), (11, 17))])
def test_bicubic_aa_matches_numpy_matlab_on_small_images(shape, out):
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.normal(size=shape), axis=0), axis=1)
    img = np.clip((smooth - smooth.min()) / np.ptp(smooth) * 255, 0, 255).astype(np.uint8)
    ours = resize_image(img, *out, "bicubic_aa")
    matlab = matlab_imresize(img, *out)
    assert ours.shape == matlab.shape
    diff = np.abs(ours.astype(int) - matlab)
    assert diff.mean() < 0.5
    assert (
        diff[2:-2, 2:-2].max() <= 2
    )  # borders aside (Pillow renormalises, MATLAB mirrors), at most rounding


@pytest.mark.parametrize(
    "mode, torch_mode", [("bilinear_plain", "bilinear"), ("bicubic_plain", "bicubic"), ("area", "area")]
)
def test_plain_modes_match_torch_interpolate(mode, torch_mode):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.default_rng(1)
    img = rng.random((40, 60, 3), dtype=np.float32)
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    # area equals adaptive average pooling for integer factors and upscales; the others for any size
    sizes = [(20, 30), (10, 15), (60, 90)] + ([] if mode == "area" else [(17, 23), (33, 71)])
    for size in sizes:
        kwargs = {} if torch_mode == "area" else {"align_corners": False}
        want = F.interpolate(t, size=size, mode=torch_mode, **kwargs)[0].permute(1, 2, 0).numpy()
        got = resize_image(img, *size, mode)
        np.testing.assert_allclose(got, np.clip(want, 0, 1), atol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_on_gray_and_rgb(mode):
    rng = np.random.default_rng(2)
    for img in (
        rng.integers(0, 256, (31, 45), dtype=np.uint8),
        rng.integers(0, 256, (31, 45, 3), dtype=np.uint8),
    ):
        for data in (img, to_float(img)):
            out = resize_image(data, 13, 70, mode)
            assert out.shape == (13, 70) + data.shape[2:] and out.dtype == data.dtype
            assert out.flags.c_contiguous
            if out.dtype == np.float32:
                assert out.min() >= 0 and out.max() <= 1
    flat = np.full((20, 20, 3), 77, np.uint8)
    assert (resize_image(flat, 7, 9, mode) == 77).all()


def test_scaled_size_is_floor_with_tolerance():
    assert scaled_size(300, 1 / 3) == 100
    assert scaled_size(400, 0.25) == 100
    assert scaled_size(101, 0.5) == 50
    assert scaled_size(10, 0.01) == 1


def test_resize_spec_forms():
    op = OPS["resize"]
    ctx = Context((400, 300, 3), (400, 300, 3), 4)
    rng = np.random.default_rng(0)
    assert op.sample(rng, {"to": "final"}, ctx) == {"mode": "bicubic_aa", "out_h": 100, "out_w": 75}
    assert op.sample(rng, {"to": "hr", "mode": "lanczos"}, Context((100, 75), (400, 300), 4))["out_h"] == 400
    assert op.sample(rng, {"size": [17, 19]}, ctx)["out_w"] == 19
    p = op.sample(
        rng, {"factor": [0.5, 0.6], "mode": {"choices": ["area", "nearest"], "weights": [1, 0]}}, ctx
    )
    assert 0.5 <= p["factor"] <= 0.6 and p["mode"] == "area"
    assert (p["out_h"], p["out_w"]) == (math.floor(400 * p["factor"]), math.floor(300 * p["factor"]))
    for bad in ({}, {"factor": 0.5, "to": "final"}):
        with pytest.raises(SpecError, match="exactly one"):
            op.check(bad)
    with pytest.raises(SpecError) as err:
        op.check({"to": "final", "mode": "bicubic"})
    assert err.value.key == "mode" and "bicubic_aa" in err.value.message


def test_random_resize_stage1_sizes_and_probabilities():
    op = OPS["random_resize"]
    op.check({})
    ctx = Context((400, 400, 3), (400, 400, 3), 4)
    rng = np.random.default_rng(0)
    n = 3000
    draws = [op.sample(rng, {}, ctx) for _ in range(n)]
    for direction, p in (("up", 0.2), ("down", 0.7), ("keep", 0.1)):
        frac = sum(d["direction"] == direction for d in draws) / n
        assert abs(frac - p) < 4.5 * math.sqrt(p * (1 - p) / n)
    for d in draws:
        lo, hi = {"up": (1, 1.5), "down": (0.15, 1), "keep": (1, 1)}[d["direction"]]
        assert lo <= d["factor"] <= hi
        assert d["out_h"] == d["out_w"] == math.floor(400 * d["factor"] + 1e-9)
        assert d["mode"] in ("area", "bilinear_plain", "bicubic_plain")
    modes = [d["mode"] for d in draws]
    assert all(abs(modes.count(m) / n - 1 / 3) < 0.04 for m in set(modes))


def test_random_resize_stage2_is_relative_to_final_size():
    op = OPS["random_resize"]
    spec = {"probs": [0.3, 0.4, 0.3], "up": [1.0, 1.2], "down": [0.3, 1.0], "relative_to": "final"}
    op.check(spec)
    rng = np.random.default_rng(1)
    ctx = Context((237, 251, 3), (400, 404, 3), 4)  # current image size does not matter
    for _ in range(200):
        d = op.sample(rng, spec, ctx)
        assert d["out_h"] == math.floor(100 * d["factor"] + 1e-9) and d["out_w"] == math.floor(
            101 * d["factor"] + 1e-9
        )
    keep = op.sample(np.random.default_rng(0), {"probs": [0, 0, 1]}, ctx)
    img = np.random.default_rng(0).random((237, 251, 3), dtype=np.float32)
    assert np.array_equal(op.apply(img, keep), img)
    with pytest.raises(SpecError) as err:
        op.check({"probs": [0.5, 0.6, 0.1]})
    assert err.value.key == "probs" and "sum to 1" in err.value.message


def test_to_final():
    op = OPS["to_final"]
    rng = np.random.default_rng(0)
    ctx = Context((123, 87, 3), (400, 300, 3), 4)
    params = op.sample(rng, {}, ctx)
    assert (params["out_h"], params["out_w"]) == (100, 75)
    out = op.apply(np.zeros((123, 87, 3), np.float32), params)
    assert out.shape == (100, 75, 3)
    with pytest.raises(SpecError) as err:
        op.check({"modes": ["area", "cubic"]})
    assert err.value.key == "modes" and "bicubic_plain" in err.value.message
