"""What an image file holds beyond its pixels: an embedded colour profile, samples srkit does not read,
a format it does not read. ``srkit.core.images.read_image`` uses these.

Colour profiles are converted to sRGB with LittleCMS through Pillow's ImageCms (relative colorimetric
intent); a profile that is sRGB already is left alone (nothing to convert), one that cannot be read or
does not fit the image is ignored and said so.
"""

from __future__ import annotations

import io
import os
import struct

import numpy as np
from PIL import Image, ImageCms, TiffImagePlugin

READ_FORMATS_TEXT = "PNG, JPEG, WebP, TIFF, BMP"
# Image files srkit does not read, named when they are found, so none is passed over in silence.
UNREAD_FORMATS = {".gif": "GIF", ".avif": "AVIF", ".avifs": "AVIF", ".heic": "HEIC", ".heif": "HEIF",
                  ".jxl": "JPEG XL", ".jp2": "JPEG 2000", ".j2k": "JPEG 2000", ".psd": "Photoshop",
                  ".tga": "TGA", ".ico": "ICO", ".svg": "SVG", ".pdf": "PDF", ".dng": "DNG raw",
                  ".cr2": "Canon raw", ".nef": "Nikon raw", ".cbz": "CBZ archive", ".zip": "ZIP archive"}

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_PROFILE_SPACES = {"L": "GRAY", "RGB": "RGB", "CMYK": "CMYK"}


class UnsupportedImage(ValueError):
    """A decodable image whose samples srkit does not read (the message says which and what to do)."""


def unread_format_problem(name: str) -> str:
    """Why a file found beside the pages is not used (by its suffix)."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix in UNREAD_FORMATS:
        return (f"{UNREAD_FORMATS[suffix]} files are not read (srkit reads {READ_FORMATS_TEXT}): convert it "
                "to PNG to use it")
    return f"not an image file ({suffix or 'no suffix'}; srkit reads {READ_FORMATS_TEXT})"


def profile_to_srgb(im: Image.Image, icc: bytes, mode: str) -> tuple[np.ndarray | None, str | None]:
    """``im`` (mode ``mode``: L, RGB or CMYK) converted from the profile ``icc`` to sRGB, as an RGB array,
    and a note of what was done; (None, note) when nothing was converted (None: sRGB already)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = ImageCms.getProfileDescription(profile).strip() or "an unnamed profile"
    except (OSError, ImageCms.PyCMSError) as err:
        return None, f"unreadable colour profile ignored ({err})"
    if "srgb" in name.lower():
        return None, None
    space = str(profile.profile.xcolor_space).strip()
    if space != _PROFILE_SPACES[mode]:
        return None, f"{name} ({space} profile on a {mode} image) ignored"
    try:
        transform = ImageCms.buildTransform(profile, _SRGB, mode, "RGB",
                                            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
        out = ImageCms.applyTransform(im, transform)
    except (OSError, ValueError, ImageCms.PyCMSError) as err:
        return None, f"{name} could not be converted ({err}); ignored"
    return np.asarray(out), f"{name} -> sRGB"


def tiff_problem(path: str | os.PathLike) -> str | None:
    """For a TIFF Pillow cannot open: the sample format that stops it (float16, RGB float, ...)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head[:4] not in (b"II*\x00", b"MM\x00*"):
                return None
            ifd = TiffImagePlugin.ImageFileDirectory_v2(head)
            f.seek(ifd.next)
            ifd.load(f)
    except (OSError, ValueError, SyntaxError, struct.error):
        return None
    bits, sample_format, spp = ifd.get(258) or (1,), ifd.get(339) or (1,), ifd.get(277) or 1
    kind = {1: "unsigned integer", 2: "signed integer", 3: "floating-point"}.get(sample_format[0], "unknown")
    return (f"TIFF with {spp} channel(s) of {bits[0]}-bit {kind} samples, which Pillow does not decode: "
            "srkit reads 8- and 16-bit integer images; convert it to a 16-bit integer TIFF or a PNG")
