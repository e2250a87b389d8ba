"""Real JPEG / WebP encoders: quality is monotone in file size, gray JPEG is a 1-component file,
the subsampling setting reaches the encoder, float and uint8 paths agree."""

from __future__ import annotations

import numpy as np
import pytest

from srkit.core.images import read_image
from srkit.degrade.ops import OPS, Context, SpecError, to_float
from srkit.degrade.ops.compress import jpeg_bytes, webp_bytes


def sof_components(data: bytes) -> list[tuple[int, int]]:
    """(component id, sampling byte H<<4|V) from the JPEG frame header (SOF0/SOF1/SOF2)."""
    i = 2
    while i < len(data):
        assert data[i] == 0xFF
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            n = data[i + 9]
            return [(data[i + 10 + 3 * c], data[i + 11 + 3 * c]) for c in range(n)]
        i += 2 + length
    raise AssertionError("no SOF marker")


def generated_tiles() -> dict[str, np.ndarray]:
    """Smooth shading, hard strokes and noise: enough structure for a codec, no files needed."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:160, 0:176]
    base = 128 + 90 * np.sin(xx / 13.0) * np.cos(yy / 17.0) + rng.normal(0, 12, xx.shape)
    base[(xx // 9 + yy // 11) % 7 == 0] = 10
    gray = np.clip(base, 0, 255).astype(np.uint8)
    rgb = np.stack([gray, np.roll(gray, 21, axis=1), 255 - gray], axis=2)
    return {"gray": gray, "rgb": np.ascontiguousarray(rgb)}


@pytest.fixture(scope="module")
def tiles(manga_dev_pages, real_root) -> dict[str, np.ndarray]:
    page, _ = read_image(manga_dev_pages[0], color="gray")
    anime, _ = read_image(real_root / "anime" / "anime_miku_600.jpg", color="rgb")
    return {
        "gray": np.ascontiguousarray(page[400:800, 300:700]),
        "rgb": np.ascontiguousarray(anime[100:500, 100:500]),
    }


def check_monotone(img: np.ndarray) -> None:
    sizes = [len(jpeg_bytes(img, q)) for q in (10, 30, 50, 70, 90, 98)]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    errors = []
    for q in (20, 60, 95):
        out = OPS["jpeg"].apply(img, {"quality": q, "subsampling": "420"})
        errors.append(np.abs(out.astype(int) - img).mean())
    assert errors == sorted(errors, reverse=True)


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_jpeg_quality_is_monotone_in_size_on_real_tiles(tiles, kind):
    check_monotone(tiles[kind])


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_jpeg_quality_is_monotone_in_size(kind):
    check_monotone(generated_tiles()[kind])


def test_jpeg_gray_is_one_component_and_subsampling_reaches_encoder():
    tiles = generated_tiles()
    assert len(sof_components(jpeg_bytes(tiles["gray"], 80))) == 1
    comps420 = sof_components(jpeg_bytes(tiles["rgb"], 80, "420"))
    comps444 = sof_components(jpeg_bytes(tiles["rgb"], 80, "444"))
    comps422 = sof_components(jpeg_bytes(tiles["rgb"], 80, "422"))
    assert [s for _, s in comps420] == [0x22, 0x11, 0x11]
    assert [s for _, s in comps422] == [0x21, 0x11, 0x11]
    assert [s for _, s in comps444] == [0x11, 0x11, 0x11]


def test_jpeg_colour_order_is_kept():
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0] = 220  # red
    out = OPS["jpeg"].apply(img, {"quality": 95, "subsampling": "444"})
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 20


@pytest.mark.parametrize(
    "name, params", [("jpeg", {"quality": 55, "subsampling": "420"}), ("webp", {"quality": 60})]
)
def test_codec_float_path_equals_uint8_path(name, params):
    tiles = generated_tiles()
    for img in (tiles["gray"][:64, :80], tiles["rgb"][:64, :80]):
        u8 = OPS[name].apply(img, params)
        fl = OPS[name].apply(to_float(img), params)
        assert u8.dtype == np.uint8 and fl.dtype == np.float32 and u8.shape == img.shape == fl.shape
        assert np.array_equal(to_float(u8), fl)
        assert OPS[name].apply(img, params).tobytes() == u8.tobytes()


def test_webp_quality_and_layout():
    tiles = generated_tiles()
    assert len(webp_bytes(tiles["rgb"], 20)) < len(webp_bytes(tiles["rgb"], 90))
    gray = OPS["webp"].apply(tiles["gray"], {"quality": 80})
    assert gray.shape == tiles["gray"].shape and np.abs(gray.astype(int) - tiles["gray"]).mean() < 10


def test_codec_specs():
    rng = np.random.default_rng(0)
    ctx = Context((8, 8), (8, 8), 1)
    draws = [OPS["jpeg"].sample(rng, {"quality": [30, 32]}, ctx)["quality"] for _ in range(300)]
    assert set(draws) == {30, 31, 32}  # integers, both ends included
    with pytest.raises(SpecError) as err:
        OPS["jpeg"].check({"quality": 101})
    assert err.value.key == "quality" and "1 and 100" in err.value.message
    with pytest.raises(SpecError) as err:
        OPS["jpeg"].check({"quality": 75.5})
    assert err.value.key == "quality" and "integer" in err.value.message
    with pytest.raises(SpecError) as err:
        OPS["jpeg"].check({"subsampling": "411"})
    assert err.value.key == "subsampling" and "444" in err.value.message
    with pytest.raises(SpecError) as err:
        OPS["webp"].check({"lossless": True})
    assert err.value.key == "lossless" and "quality" in err.value.message
