"""The fast decoder of our own PNG tiles gives exactly OpenCV's pixels, and never sees other data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srkit.core import png_decode
from srkit.core.images import ImageError, decode_png, encode_png

pytestmark = pytest.mark.skipif(png_decode.pepeline is None, reason="pepeline is not installed")


@settings(max_examples=40, deadline=None)
@given(height=st.integers(1, 70), width=st.integers(1, 70), rgb=st.booleans(), level=st.integers(0, 9),
       seed=st.integers(0, 2**32 - 1))
def test_same_pixels_as_opencv(height: int, width: int, rgb: bool, level: int, seed: int) -> None:
    shape = (height, width, 3) if rgb else (height, width)
    img = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(img, level)
    fast = png_decode.decode_verified_png(data)
    assert fast.dtype == np.uint8 and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, decode_png(data))
    np.testing.assert_array_equal(fast, img)


def test_our_tiles_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = png_decode.pepeline.buff_read
    monkeypatch.setattr(png_decode.pepeline, "buff_read", lambda *a: calls.append(a) or real(*a))
    img = np.arange(400 * 300, dtype=np.uint32).reshape(300, 400).astype(np.uint8)
    np.testing.assert_array_equal(png_decode.decode_verified_png(encode_png(img, 1)), img)
    assert len(calls) == 1


def _png(img: np.ndarray, *params: int) -> bytes:
    ok, buf = cv2.imencode(".png", img, list(params))
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("make", [
    lambda: _png(np.zeros((8, 8, 4), np.uint8)),  # RGBA
    lambda: _png(np.zeros((8, 8), np.uint16)),  # 16 bit
    lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,  # a header that is not IHDR
    lambda: b"not a png at all",
])
def test_other_data_goes_to_opencv(make, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_):
        raise AssertionError("the fast decoder saw data it must not")
    monkeypatch.setattr(png_decode.pepeline, "buff_read", refuse)
    data = make()
    assert png_decode.png_kind(data) is None
    with pytest.raises(ImageError):
        png_decode.decode_verified_png(data, "x.png")
