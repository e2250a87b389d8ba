"""Read any supported image into a uint8 array with one clear error type; write PNGs atomically.

Convention used by every stage: an image in memory is a C-contiguous ``uint8`` array of shape
``(H, W)`` for one channel (gray) or ``(H, W, 3)`` for RGB (RGB order, never BGR). ``hwc`` gives an
``(H, W, C)`` view of either.

What ``read_image`` did to a file is in its ``ImageInfo``: an embedded ICC colour profile is
converted to sRGB with LittleCMS (Pillow's ImageCms; relative colorimetric), so an Adobe RGB scan
reads as the colours it shows; a file with several frames (animated PNG / WebP, multi-page TIFF)
gives its first frame and says how many it has. Samples that do not fit 8 or 16 bits (32-bit
integers past 65535, floating point) are refused with that reason, never clipped.
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from srkit.core.files import atomic_write_bytes
from srkit.core.image_profiles import READ_FORMATS_TEXT, UnsupportedImage, profile_to_srgb, tiff_problem

# Well above a 4800 x 6800 page (32.6 Mpx) and far below what exhausts memory (a 400 Mpx RGB page
# needs 1.2 GB decoded).
DEFAULT_MAX_PIXELS = 400_000_000
SUPPORTED_FORMATS = {"PNG", "JPEG", "MPO", "WEBP", "TIFF", "BMP"}
SUPPORTED_SUFFIXES = {".png", ".apng", ".jpg", ".jpeg", ".jpe", ".webp", ".tif", ".tiff", ".bmp"}
# A page is gray in content when, at all but GRAY_OUTLIER_FRACTION of its pixels, the channels
# differ by at most GRAY_TOLERANCE levels (JPEG chroma noise on a gray scan stays within it).
GRAY_TOLERANCE = 6
GRAY_OUTLIER_FRACTION = 0.001

ColorMode = Literal["auto", "gray", "rgb", "keep"]

# Pillow's own bomb check would raise a different error type; ours runs first, before decoding.
Image.MAX_IMAGE_PIXELS = None


class ImageError(Exception):
    """An input image could not be used. ``str(err)`` is one line: the file and what is wrong."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class ImageInfo:
    """What was done to bring the file to the in-memory convention (recorded in manifests)."""

    format: str
    mode: str
    width: int
    height: int
    bit_depth: int = 8
    alpha_composited: bool = False
    exif_transposed: bool = False
    converted: list[str] = field(default_factory=list)
    frames: int = 1  # frames in the file; only the first is read
    icc: str | None = None  # what was done with an embedded colour profile, when there was one to convert

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": self.format,
            "mode": self.mode,
            "bit_depth": self.bit_depth,
            "alpha_composited": self.alpha_composited,
            "exif_transposed": self.exif_transposed,
            "converted": list(self.converted),
        }
        if self.frames > 1:  # only when there is something to say, so plain files keep their record
            out["frames"] = self.frames
        if self.icc:
            out["icc"] = self.icc
        return out


def hwc(img: np.ndarray) -> np.ndarray:
    """An ``(H, W, C)`` view of an ``(H, W)`` or ``(H, W, C)`` image."""
    return img[:, :, None] if img.ndim == 2 else img


def channels(img: np.ndarray) -> int:
    return 1 if img.ndim == 2 else int(img.shape[2])


def is_gray_content(rgb: np.ndarray, tolerance: int = GRAY_TOLERANCE,
                    outlier_fraction: float = GRAY_OUTLIER_FRACTION) -> bool:
    """True when an RGB image is gray in content (R = G = B within ``tolerance``)."""
    if rgb.ndim == 2:
        return True
    r, g, b = (rgb[:, :, i] for i in range(3))
    spread = cv2.max(cv2.absdiff(r, g), cv2.max(cv2.absdiff(g, b), cv2.absdiff(r, b)))
    outliers = int(np.count_nonzero(spread > tolerance))
    return outliers <= outlier_fraction * spread.size


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma, the conversion gray scans and JPEG use; exact for R = G = B."""
    if rgb.ndim == 2:
        return rgb
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def to_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3:
        return img
    return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)


def apply_color(img: np.ndarray, color: ColorMode) -> np.ndarray:
    if color == "keep":
        return img
    if color == "gray":
        return to_gray(img)
    if color == "rgb":
        return to_rgb(img)
    if color == "auto":
        return to_gray(img) if img.ndim == 3 and is_gray_content(img) else img
    raise ValueError(f"color must be auto, gray, rgb or keep, not {color!r}")


def _composite_on_white(color: np.ndarray, alpha: np.ndarray, maxval: int) -> np.ndarray:
    a = alpha.astype(np.float32) / maxval
    if color.ndim == 3:
        a = a[:, :, None]
    out = color.astype(np.float32) * a + maxval * (1.0 - a)
    return out


def _to_uint8(arr: np.ndarray, maxval: int) -> np.ndarray:
    if maxval == 255 and arr.dtype == np.uint8:
        return arr
    scaled = np.rint(arr.astype(np.float64) * (255.0 / maxval))
    return np.clip(scaled, 0, 255).astype(np.uint8)


_EXIF_ORIENTATION = 0x0112


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an array, as ``ImageOps.exif_transpose`` does to images."""
    if orientation == 2:
        arr = arr[:, ::-1]
    elif orientation == 3:
        arr = arr[::-1, ::-1]
    elif orientation == 4:
        arr = arr[::-1]
    elif orientation == 5:
        arr = np.swapaxes(arr, 0, 1)
    elif orientation == 6:
        arr = np.rot90(arr, -1)
    elif orientation == 7:
        arr = np.swapaxes(arr[::-1, ::-1], 0, 1)
    elif orientation == 8:
        arr = np.rot90(arr, 1)
    return np.ascontiguousarray(arr)


def _png_bit_depth(head: bytes) -> int:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 25:
        return head[24]
    return 8


def read_image(
    path: str | os.PathLike,
    color: ColorMode = "keep",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, ImageInfo]:
    """Decode ``path`` into the in-memory convention, or raise ``ImageError`` saying why not.

    Applies EXIF orientation, composites alpha on white (manga paper), scales 16-bit to 8-bit with
    rounding, converts palette / CMYK / other modes to L or RGB, then applies ``color``.
    Refuses images above ``max_pixels`` before decoding their pixels.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except OSError as err:
        raise ImageError(path, f"cannot stat file: {err.strerror or err}") from None
    if not path.is_file():
        raise ImageError(path, "not a regular file")
    if st.st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except PermissionError:
        raise ImageError(path, "permission denied (cannot read the file)") from None
    except OSError as err:
        raise ImageError(path, f"cannot read the file: {err.strerror or err}") from None

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(path)
    except UnidentifiedImageError:
        raise ImageError(path, tiff_problem(path) or "not an image, or not a format we read "
                         f"({READ_FORMATS_TEXT})") from None
    except (OSError, SyntaxError, ValueError, struct.error) as err:
        raise ImageError(path, f"cannot open image: {err}") from None

    with im:
        if im.format not in SUPPORTED_FORMATS:
            raise ImageError(path, f"format {im.format} is not supported ({READ_FORMATS_TEXT})")
        width, height = im.size
        if width * height > max_pixels:
            raise ImageError(
                path,
                f"image is {width} x {height} = {width * height:,} pixels, above the limit of "
                f"{max_pixels:,} (raise --max-pixels if this is intended)",
            )
        if width == 0 or height == 0:
            raise ImageError(path, "image has zero width or height")
        info = ImageInfo(format=str(im.format), mode=im.mode, width=width, height=height,
                         frames=int(getattr(im, "n_frames", 1) or 1))
        icc = im.info.get("icc_profile")
        bit_depth = _png_bit_depth(head) if im.format == "PNG" else 8
        try:
            if im.format == "PNG" and bit_depth == 16 and im.mode not in ("I", "I;16", "I;16B", "I;16L"):
                arr = _read_png16_color(path, im, info)
                info.bit_depth = 16
            else:
                arr, maxval = _decode_with_pillow(im, info, icc)
                arr = _to_uint8(arr, maxval)
            if icc and info.icc is None:
                arr = _to_srgb(arr, icc, info)
        except ImageError:
            raise
        except UnsupportedImage as err:
            raise ImageError(path, str(err)) from None
        except (OSError, SyntaxError, ValueError, struct.error, MemoryError) as err:
            msg = str(err) or type(err).__name__
            if "truncated" in msg:
                msg = "file is truncated (incomplete download or copy?)"
            raise ImageError(path, f"cannot decode image: {msg}") from None
    arr = np.ascontiguousarray(arr)
    return apply_color(arr, color), info


def _decode_with_pillow(im: Image.Image, info: ImageInfo, icc: bytes | None = None) -> tuple[np.ndarray, int]:
    orientation = _orientation(im)
    if orientation not in (0, 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = ImageOps.exif_transpose(im)
        info.exif_transposed = True
    im.load()
    mode = im.mode
    if mode == "1":
        info.converted.append("bilevel->L")
        return np.asarray(im.convert("L")), 255
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        info.bit_depth = 16
        return np.asarray(im).astype(np.uint16), 65535
    if mode == "I":
        arr = np.asarray(im)
        low, high = int(arr.min()), int(arr.max())
        if low < 0 or high > 65535:
            raise UnsupportedImage(f"32-bit integer samples from {low} to {high}, beyond 16 bits: srkit "
                                   "reads 8- and 16-bit images; convert it to 16 bits as you mean it")
        info.bit_depth = 16
        return arr.astype(np.uint16), 65535
    if mode == "F":
        raise UnsupportedImage("32-bit floating-point samples: srkit reads 8- and 16-bit integer images; "
                               "convert it to 16 bits")
    if mode == "P":
        has_alpha = "transparency" in im.info or im.palette is not None and im.palette.mode == "RGBA"
        im = im.convert("RGBA" if has_alpha else "RGB")
        info.converted.append(f"palette->{im.mode}")
        mode = im.mode
    if mode in ("LA", "La", "PA"):
        im = im.convert("LA")
        arr = np.asarray(im)
        return _alpha(arr[:, :, 0], arr[:, :, 1], info), 255
    if mode in ("RGBA", "RGBa"):
        arr = np.asarray(im.convert("RGBA"))
        return _alpha(arr[:, :, :3], arr[:, :, 3], info), 255
    if mode == "L":
        return np.asarray(im), 255
    if mode == "RGB":
        return np.asarray(im), 255
    if mode == "CMYK" and icc:
        converted, info.icc = profile_to_srgb(im, icc, "CMYK")
        if converted is not None:
            info.converted.append("CMYK->RGB")
            return converted, 255
    if mode == "CMYK":
        info.converted.append("CMYK->RGB")
    else:
        info.converted.append(f"{mode}->RGB")
    return np.asarray(im.convert("RGB")), 255


def _to_srgb(arr: np.ndarray, icc: bytes, info: ImageInfo) -> np.ndarray:
    """A decoded gray or RGB array converted from its embedded profile to sRGB (gray stays gray)."""
    mode = "L" if arr.ndim == 2 else "RGB"
    out, info.icc = profile_to_srgb(Image.fromarray(arr, mode), icc, mode)
    if out is None:
        return arr
    return to_gray(out) if mode == "L" else np.ascontiguousarray(out)


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - broken EXIF is ignored, the pixels still decode
        return 1


def _alpha(color: np.ndarray, alpha: np.ndarray, info: ImageInfo, maxval: int = 255) -> np.ndarray:
    if int(alpha.min()) >= maxval:
        return color
    info.alpha_composited = True
    out = _composite_on_white(color, alpha, maxval)
    return np.clip(np.rint(out), 0, maxval).astype(np.uint16 if maxval > 255 else np.uint8)


def _read_png16_color(path: Path, im: Image.Image, info: ImageInfo) -> np.ndarray:
    """16-bit RGB(A)/LA PNGs: Pillow keeps only 8 bits, so decode them with OpenCV at full depth."""
    buf = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("OpenCV could not decode the 16-bit PNG")
    if arr.ndim == 3 and arr.shape[2] == 4:
        rgb = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
        out = _alpha(rgb[:, :, :3], rgb[:, :, 3], info, maxval=65535)
    elif arr.ndim == 3 and arr.shape[2] == 2:
        out = _alpha(arr[:, :, 0], arr[:, :, 1], info, maxval=65535)
    elif arr.ndim == 3:
        out = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    else:
        out = arr
    return _orient(_to_uint8(out, 65535 if out.dtype == np.uint16 else 255), _orientation(im))


# ---------------------------------------------------------------- our own lossless tiles (fast path)

def encode_png(img: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes of an image in the in-memory convention (zlib level 0..9); RGBA is accepted too."""
    if img.ndim == 2:
        bgr = img
    elif img.shape[2] == 4:
        bgr = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    else:
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, int(level)])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_png(data: bytes | memoryview | np.ndarray, source: str = "<bytes>") -> np.ndarray:
    """Decode PNG bytes we wrote (8-bit gray or RGB) into the in-memory convention."""
    buf = np.frombuffer(data, dtype=np.uint8)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageError(source, "cannot decode PNG data (corrupt or not a PNG)")
    if arr.dtype != np.uint8:
        raise ImageError(source, f"expected an 8-bit PNG, found {arr.dtype}")
    if arr.ndim == 3:
        if arr.shape[2] == 4:
            raise ImageError(source, "expected gray or RGB, found RGBA")
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    return arr


def write_png(path: str | os.PathLike, img: np.ndarray, level: int = 1) -> bytes:
    """Encode and write a PNG atomically; returns the bytes written (for hashing)."""
    data = encode_png(img, level)
    atomic_write_bytes(path, data)
    return data


def read_png(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG tile this toolkit wrote (fast path, no EXIF or alpha handling)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise ImageError(path, f"cannot read the file: {err.strerror or err}") from None
    if data.size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    return decode_png(data, str(path))
