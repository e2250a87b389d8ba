"""Raws with known parameters, made from real manga pages with the project's own ops (a uniquely named
module: the fit tests and bench/fit_accuracy.py share it).

A raw is the page reduced to 1 / scale with the antialiased bicubic resize (or further, by scale x
enlarge, then enlarged back with `kernel`), blurred (in the pixels of the image it is applied to:
the reduced one when enlarged), put through levels, given Gaussian noise (one plane on every
channel) and JPEG-compressed; saved as the JPEG itself, or as PNG (lossless after the JPEG, or
without any JPEG). Colour raws are the gray page tinted (sepia) with a coloured block, encoded 4:2:0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from srkit.core.images import encode_png
from srkit.degrade.ops import OPS
from srkit.degrade.ops.compress import jpeg_bytes
from srkit.degrade.ops.resize import resize_image


@dataclass(frozen=True)
class RawSpec:
    page: int
    scale: int = 4
    blur: float = 0.0
    enlarge: float = 1.0
    kernel: str = "bicubic_aa"
    noise: float = 0.0
    quality: int | None = None
    save: str = "jpg"  # "jpg" (the JPEG file itself) or "png"
    colour: bool = False
    levels: tuple[float, float, float] | None = None  # black, white (0..255), gamma
    seed: int = 0

    @property
    def name(self) -> str:
        parts = [f"p{self.page}", f"b{self.blur:g}", f"u{self.enlarge:g}", f"n{self.noise:g}",
                 f"q{self.quality or 0}", "rgb" if self.colour else "gray"]
        if self.enlarge != 1:
            parts.append(self.kernel.split("_")[0])
        if self.levels:
            parts.append("lv")
        return "_".join(parts)


def tint(gray: np.ndarray) -> np.ndarray:
    """Sepia-tinted RGB of a gray page, with a red block in a corner (colour content, same luma scale)."""
    rgb = np.stack([gray, (gray * 0.93).astype(np.uint8), (gray * 0.78).astype(np.uint8)], axis=2)
    h, w = gray.shape
    rgb[h // 20:h // 6, w // 20:w // 6] = (190, 40, 30)
    return np.ascontiguousarray(rgb)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return OPS["gaussian_blur"].apply(img, {"sigma": sigma, "kernel_size": 2 * math.ceil(3 * sigma) + 1})


def make_raw(hr: np.ndarray, spec: RawSpec) -> tuple[np.ndarray, bytes, str]:
    """(the raw's pixels as decoded, its file bytes, its suffix) for a gray uint8 HR page."""
    img = tint(hr) if spec.colour else hr
    h, w = img.shape[0] // spec.scale, img.shape[1] // spec.scale
    if spec.enlarge != 1:
        small = resize_image(img, round(h / spec.enlarge), round(w / spec.enlarge), "bicubic_aa")
        if spec.blur:
            small = _blur(small, spec.blur)
        img = resize_image(small, h, w, spec.kernel)
    else:
        img = resize_image(img, h, w, "bicubic_aa")
        if spec.blur:
            img = _blur(img, spec.blur)
    if spec.levels:
        black, white, gamma = spec.levels
        img = OPS["levels"].apply(img, {"black": black, "white": white, "gamma": gamma})
    if spec.noise:
        img = OPS["gaussian_noise"].apply(img, {"sigma": spec.noise, "gray": True,
                                                "noise_seed": spec.seed + 1})
    if spec.quality is None:
        return img, encode_png(img), ".png"
    data = jpeg_bytes(img, spec.quality, "420")
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded.ndim == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    if spec.save == "png":
        return decoded, encode_png(decoded), ".png"
    return decoded, data, ".jpg"


def write_raws(pages: list[Path], specs: list[RawSpec], folder: Path) -> dict[str, RawSpec]:
    """Write every raw to folder/NAME.jpg|png; returns file name -> spec."""
    folder.mkdir(parents=True, exist_ok=True)
    cache: dict[int, np.ndarray] = {}
    out = {}
    for spec in specs:
        if spec.page not in cache:
            cache[spec.page] = cv2.imread(str(pages[spec.page]), cv2.IMREAD_GRAYSCALE)
        _, data, suffix = make_raw(cache[spec.page], spec)
        name = spec.name + ("_png" if suffix == ".png" and spec.quality else "") + suffix
        (folder / name).write_bytes(data)
        out[name] = spec
    return out


SCAN = (16.0, 224.0, 1.0)  # scanned paper: noise comes with scans, whose paper is not pure white
WASHED = (20.0, 235.0, 1.3)  # a washed-out re-encode


def web_raws(n_pages: int, count: int = 24) -> list[RawSpec]:
    """A folder of 'web raws' as an aggregator serves them: JPEG q 70-95, about half blurred, a third
    noisy scans (paper not pure white), some enlarged x1.5 or x2 (bicubic), some washed out, two
    saved as PNG after their JPEG, a few in colour."""
    rng = np.random.default_rng(7)
    specs = []
    for i in range(count):
        enlarge = float(rng.choice([1.0, 1.0, 1.0, 1.5, 2.0]))
        blur = float(rng.choice([0.0, 0.0, 0.6, 0.9, 1.2])) if enlarge == 1 else float(rng.choice([0.0, 0.5]))
        noise = float(rng.choice([0.0, 0.0, 3.0, 6.0]))
        levels = SCAN if noise else (WASHED if i % 4 == 3 else None)
        specs.append(RawSpec(page=i % n_pages, blur=blur, enlarge=enlarge, noise=noise,
                             quality=int(rng.integers(70, 96)), save="png" if i % 12 == 3 else "jpg",
                             colour=i % 8 == 7, levels=levels, seed=i))
    return specs
