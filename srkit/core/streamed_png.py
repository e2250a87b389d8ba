"""Writing a very large image as a PNG without a second copy of it in memory (``sr-train upscale``'s
results: hundreds of megabytes). ``images.write_png`` holds the encoded bytes; this encodes straight
into the file."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from srkit.core.files import TEMP_MARK


def write_png_streamed(path: str | os.PathLike, img: np.ndarray, level: int = 1) -> None:
    """Write a gray, RGB or RGBA image as a PNG atomically, encoded straight into the file.

    Unlike ``write_png`` no encoded copy is held in memory, nor a BGR copy of the pixels: the channels
    are put in OpenCV's order in place, a band of rows at a time, and restored before returning. For
    results of hundreds of megabytes (``sr-train upscale``).
    """
    final = Path(path)
    # The temporary name ends in .png (OpenCV picks the encoder from it) and is cleaned like any other.
    tmp = final.with_name(f".{final.name}{TEMP_MARK}{os.getpid()}.png")
    if not img.flags.c_contiguous or not img.flags.writeable:
        img = np.ascontiguousarray(img).copy()
    swap = img.ndim == 3 and img.shape[2] in (3, 4)
    if swap:
        _swap_red_blue(img)
    try:
        ok = cv2.imwrite(str(tmp), img, [cv2.IMWRITE_PNG_COMPRESSION, int(level)])
        if not ok:
            import errno
            import shutil

            full = shutil.disk_usage(final.parent).free < 1 << 20
            raise OSError(errno.ENOSPC if full else errno.EIO,
                          f"could not write {final}" + ("" if full else " (is the folder writable?)"),
                          str(final))
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if swap:
            _swap_red_blue(img)


def _swap_red_blue(img: np.ndarray, band: int = 256) -> None:
    """RGB(A) <-> BGR(A) in place, a band of rows at a time (small temporaries only)."""
    for y in range(0, img.shape[0], band):
        rows = img[y:y + band]
        rows[:, :, [0, 2]] = rows[:, :, [2, 0]]
