"""Upscale whole images with a model: channels, modes, passes, denoising and alpha, tile by tile.

Every step below is local, so a pass is one function of a tile run by ``tiled.tiled_map``: the output
has no seams and a page of any size needs about its output in uint8 plus a few tiles of memory.

Channels: a 1-channel model on a colour page runs on the luma (Y of YCbCr) with the chroma upscaled
bicubically (the classic SRCNN treatment); on a page that is gray in content, on the gray page. A
3-channel model on a gray page runs on the page replicated to RGB and returns its luma, so gray pages
stay gray. Alpha is resized with Pillow bicubic and re-attached (a gray page with alpha comes out RGBA).

Modes, after the post-processing modules of the m-SRCNN paper (Intaniyom, Thananporn and
Woraratpanya, "Enhancement of Anime Imaging Enlargement using Modified Super-Resolution CNN"):
- ``enlarge`` (default): the model's factor. A scale-1 model (SRCNN family) first gets its input
  bicubic-upscaled by the factor it was trained for (``pre_upsample`` in model.json).
- ``enhance``: the output keeps the input's size. A scale-1 model runs on the input as it is; a
  scale-N model runs, then every N x N block of its output is averaged back into one pixel (area
  downscale, computed before rounding to 8 bit).
- ``passes = 2`` runs the pass again on its own result: double enlargement or double enhancement.
``denoise`` (non-local means or bilateral, the paper's OpenCV filters with the defaults of the
`nlmeans` / `bilateral` ops) runs once, on the result of the last pass, inside the same tiles.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from srkit.core.images import hwc, is_gray_content, read_image, to_gray
from srkit.core.streamed_png import write_png_streamed
from srkit.train.inference import TileModel
from srkit.train.metrics import bicubic_upscale, round_to_uint8
from srkit.train.tiled import TileFn, tile_count, tiled_map

MODES = ("enlarge", "enhance")
DENOISERS = ("nlmeans", "bilateral")
MAX_PASSES = 2


@dataclass(frozen=True)
class UpscaleOptions:
    """How to upscale: ``mode`` enlarge | enhance, ``passes`` 1 or 2, ``denoise`` None | nlmeans |
    bilateral, and the tiling (``tile`` input pixels per tile, 0 = whole image; ``overlap`` context)."""

    mode: str = "enlarge"
    passes: int = 1
    denoise: str | None = None
    tile: int = 512
    overlap: int = 32

    def check(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"--mode must be enlarge or enhance, not {self.mode!r}")
        if not 1 <= self.passes <= MAX_PASSES:
            raise ValueError(f"--passes must be 1 or {MAX_PASSES}, not {self.passes}")
        if self.denoise is not None and self.denoise not in DENOISERS:
            raise ValueError(f"--denoise must be nlmeans or bilateral, not {self.denoise!r}")
        if self.tile < 0 or self.overlap < 0:
            raise ValueError("--tile and --overlap must be >= 0")


def pass_scale(model: TileModel, mode: str) -> int:
    """The factor one pass enlarges by."""
    if mode == "enhance":
        return 1
    return model.scale if model.scale > 1 else model.pre_upsample


def output_size(model: TileModel, height: int, width: int, options: UpscaleOptions) -> tuple[int, int]:
    """(height, width) of the result for an input of this size."""
    factor = pass_scale(model, options.mode) ** options.passes
    return height * factor, width * factor


def tiles_needed(model: TileModel, height: int, width: int, options: UpscaleOptions) -> int:
    """How many tiles all passes run on an input of this size (for a progress bar)."""
    total, s = 0, pass_scale(model, options.mode)
    for _ in range(options.passes):
        total += tile_count(height, width, options.tile)
        height, width = height * s, width * s
    return total


def denoise(img: np.ndarray, method: str) -> np.ndarray:
    """Denoise an image in the in-memory convention with the `nlmeans` or `bilateral` op's defaults."""
    from srkit.degrade.ops import OPS

    if method not in DENOISERS:
        raise ValueError(f"--denoise must be nlmeans or bilateral, not {method!r}")
    op = OPS[method]
    return op.apply(img, {p.key: p.default for p in op.schema.params})


def _model_fn(model: TileModel, mode: str) -> TileFn:
    """(h, w, model channels) uint8 -> the model's uint8 result, area-averaged back in enhance mode."""
    down = model.scale if mode == "enhance" and model.scale > 1 else 1

    def run(x: np.ndarray) -> np.ndarray:
        y = model.run_tile(x)
        if down > 1:
            h, w = x.shape[:2]
            y = cv2.resize(y, (w, h), interpolation=cv2.INTER_AREA).reshape(h, w, -1)
        return round_to_uint8(y)

    return run


def _channel_fn(model: TileModel, run: TileFn, channels: int) -> TileFn:
    """The model's function on an image of ``channels`` (1 or 3) channels, returning as many."""
    want = model.in_channels
    if channels == want:
        return run
    if channels == 1:  # a colour model on a gray image: run on RGB, keep the luma
        return lambda x: to_gray(run(np.repeat(x, 3, axis=2)))[:, :, None]

    def on_luma(x: np.ndarray) -> np.ndarray:
        ycc = cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb)
        y = run(np.ascontiguousarray(ycc[:, :, :1]))
        chroma = bicubic_upscale(ycc[:, :, 1:], (y.shape[1], y.shape[0]))
        return cv2.cvtColor(np.dstack([y, chroma]), cv2.COLOR_YCrCb2RGB)

    return on_luma


def _pass_fn(model: TileModel, channels: int, alpha: bool, mode: str, denoise_method: str | None,
             rgba_out: bool) -> TileFn:
    """One pass on a tile of ``channels`` colour channels (+ alpha as the last channel)."""
    pre = model.pre_upsample if mode == "enlarge" and model.scale == 1 else 1
    colour = _channel_fn(model, _model_fn(model, mode), channels)

    def fn(crop: np.ndarray) -> np.ndarray:
        x = crop[:, :, :channels]
        if pre > 1:
            x = hwc(bicubic_upscale(x, (x.shape[1] * pre, x.shape[0] * pre)))
        out = hwc(colour(np.ascontiguousarray(x)))
        if denoise_method:
            out = hwc(denoise(out[:, :, 0] if out.shape[2] == 1 else out, denoise_method))
        if not alpha:
            return out
        a = bicubic_upscale(np.ascontiguousarray(crop[:, :, -1]), (out.shape[1], out.shape[0]))
        if rgba_out and out.shape[2] == 1:
            out = np.repeat(out, 3, axis=2)
        return np.dstack([out, a])

    return fn


def upscale_image(
    model: TileModel,
    img: np.ndarray,
    options: UpscaleOptions = UpscaleOptions(),
    alpha: np.ndarray | None = None,
    on_tile=None,  # noqa: ANN001 - a callable without arguments, called after every tile
) -> np.ndarray:
    """Upscale an image in the in-memory convention (gray (H, W) or RGB (H, W, 3) uint8), with an
    optional (H, W) alpha plane; returns gray, RGB, or RGBA when ``alpha`` is given."""
    options.check()
    if img.ndim == 3 and model.in_channels == 1 and is_gray_content(img):
        img = to_gray(img)
    channels = 1 if img.ndim == 2 else 3
    x = hwc(img) if alpha is None else np.dstack([img, alpha])
    s = pass_scale(model, options.mode)
    for n in range(options.passes):
        last = n == options.passes - 1
        fn = _pass_fn(model, channels, alpha is not None, options.mode,
                      options.denoise if last else None, rgba_out=last)
        x = tiled_map(x, fn, s, options.tile, options.overlap, on_tile)
    return x[:, :, 0] if x.shape[2] == 1 else x


def upscale_array(model: TileModel, lr: np.ndarray, tile: int = 512, overlap: int = 32) -> np.ndarray:
    """The model alone, tiled, on an (H, W, C) uint8 array whose C is the model's input channels."""
    return tiled_map(lr, _model_fn(model, "enlarge"), model.scale, tile, overlap)


def read_alpha(path: str | os.PathLike) -> np.ndarray | None:
    """The alpha channel of an image file (EXIF-oriented), or None when it is fully opaque or absent."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode not in ("RGBA", "LA", "PA", "La", "RGBa") and not (
            im.mode == "P" and "transparency" in im.info
        ):
            return None
        alpha = np.asarray(im.convert("RGBA"))[:, :, 3]
    return None if int(alpha.min()) == 255 else np.ascontiguousarray(alpha)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) from the file header, without decoding the pixels; (0, 0) for what the real
    read will refuse (not a regular file, unreadable, above the pixel limit), which says why."""
    from srkit.core.images import DEFAULT_MAX_PIXELS

    if not os.path.isfile(path):  # a FIFO would block the header read
        return 0, 0
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - the real read reports the problem with its reason
        return 0, 0
    return (h, w) if h * w <= DEFAULT_MAX_PIXELS else (0, 0)


def upscale_file(
    model: TileModel,
    src: Path,
    dst: Path,
    options: UpscaleOptions = UpscaleOptions(),
    max_pixels: int | None = None,
    on_tile=None,  # noqa: ANN001 - as in upscale_image
) -> tuple[int, int]:
    """Upscale one image file into ``dst`` (PNG, written atomically). Returns the output (w, h)."""
    from srkit.core.images import DEFAULT_MAX_PIXELS

    img, info = read_image(src, color="auto", max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    alpha = read_alpha(src) if info.alpha_composited else None
    out = upscale_image(model, img, options, alpha, on_tile)
    del img, alpha
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_png_streamed(dst, out, level=3)
    return out.shape[1], out.shape[0]

