"""Compression through real encoders (OpenCV's libjpeg / libwebp): `jpeg` and `webp`, encode + decode.

The codecs work on 8 bit: float input is rounded with `to_uint8` first and the decoded image returned as
float32 (k / 255). Results depend on the encoder library version, which the engine logs.
"""

from __future__ import annotations

import cv2
import numpy as np

from srkit.degrade.ops.base import Context, Op, check_image, to_float, to_uint8
from srkit.degrade.ops.schema import OpSchema, Param

SUBSAMPLING = {
    "420": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    "422": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    "444": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
}


def _encode(ext: str, img_u8: np.ndarray, flags: list[int]) -> bytes:
    src = img_u8 if img_u8.ndim == 2 else cv2.cvtColor(img_u8, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(ext, src, flags)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {img_u8.shape} image as {ext}")
    return buf.tobytes()


# OpenCV >= 4.10 decodes straight to RGB: the codec's own colour conversion, the same pixels as
# decoding to BGR and swapping, one full-image pass fewer.
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


def _decode(data: bytes, gray: bool) -> np.ndarray:
    flag = cv2.IMREAD_UNCHANGED if gray or _IMREAD_RGB is None else _IMREAD_RGB
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if arr is None:
        raise RuntimeError("OpenCV could not decode the image it just encoded")
    if flag == _IMREAD_RGB:
        return arr
    if arr.ndim == 2:
        return arr if gray else cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    rgb = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if gray else rgb


def jpeg_bytes(img: np.ndarray, quality: int, subsampling: str = "420") -> bytes:
    """The JPEG file of a uint8 image; 1-channel images become true grayscale JPEGs."""
    flags = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    if img.ndim == 3:
        flags += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, SUBSAMPLING[subsampling]]
    return _encode(".jpg", img, flags)


def webp_bytes(img: np.ndarray, quality: int) -> bytes:
    """The lossy WebP file of a uint8 image (gray is encoded as RGB: WebP has no gray mode)."""
    src = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
    return _encode(".webp", src, [cv2.IMWRITE_WEBP_QUALITY, int(quality)])


def _roundtrip(img: np.ndarray, encode) -> np.ndarray:
    check_image(img)
    out = _decode(encode(to_uint8(img)), gray=img.ndim == 2)
    return to_float(out) if img.dtype == np.float32 else out


def apply_jpeg(img: np.ndarray, params: dict) -> np.ndarray:
    return _roundtrip(img, lambda u8: jpeg_bytes(u8, int(params["quality"]), str(params["subsampling"])))


def apply_webp(img: np.ndarray, params: dict) -> np.ndarray:
    return _roundtrip(img, lambda u8: webp_bytes(u8, int(params["quality"])))


JPEG = OpSchema("jpeg", (
    Param.value_spec("quality", "int", [30, 95], 1, 100),
    Param.value_spec("subsampling", "str", "420", allowed=tuple(SUBSAMPLING)),
))
WEBP = OpSchema("webp", (Param.value_spec("quality", "int", [50, 95], 1, 100),))


def sample_jpeg(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: quality (integers lo..hi inclusive for a range), subsampling."""
    return JPEG.draw_all(rng, spec)


def sample_webp(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws quality (integers lo..hi inclusive for a range)."""
    return WEBP.draw_all(rng, spec)


OPS = {op.name: op for op in (
    Op(JPEG, sample_jpeg, apply_jpeg,
       "Real JPEG encode + decode (quality, 4:2:0 / 4:2:2 / 4:4:4; true grayscale for 1 channel)."),
    Op(WEBP, sample_webp, apply_webp, "Real lossy WebP encode + decode (quality)."),
)}
