"""Versions of the libraries whose code decides output bytes (recorded in every log record)."""

from __future__ import annotations

import functools
from importlib import metadata


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    import cv2
    import numpy
    import PIL
    from PIL import features

    versions = {
        "srkit": _dist_version("srkit"),
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
        "libjpeg": str(features.version("jpg") or "unknown"),
        "libwebp": str(features.version("webp") or "unknown"),
        "zlib": str(features.version("zlib") or "unknown"),
    }
    return versions


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"
