"""Benchmark of the degradation op library: ms per op and tiles/s of a Real-ESRGAN-like chain.

Runs on one core (cv2 threads = 1) on real 400 px RGB tiles made from the `dev` anime and Set5 images in
../shared/data/real (centre crops, upscaled with Pillow bicubic first when smaller than 400 px).
Times are CPU time of this process (time.process_time: the machine is shared, wall clock swings with
other load) except the wall-clock tiles/s line. Prints numbers only; nothing is asserted.
Usage: `python bench/degrade_ops.py [--tiles N] [--gray]`.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from srkit.core.images import read_image, to_gray
from srkit.degrade.ops import OPS, Context, to_float, to_uint8
from srkit.degrade.ops.resize import resize_image

PROJECT = Path(__file__).resolve().parents[1]

REAL = PROJECT.parent / "shared" / "data" / "real"
SOURCES = ["anime/anime_miku_600.jpg", "anime/anime_chibi_720_rgba.png", "anime/screentone_tone.png",
           "benchmark/Set5/baby.png", "benchmark/Set5/bird.png", "benchmark/Set5/butterfly.png",
           "benchmark/Set5/head.png", "benchmark/Set5/woman.png"]
TILE = 400
SCALE = 4

# The published Real-ESRGAN x4 settings (reference/realesrgan_degradation.md), as op specs.
BLUR1: dict = {}
BLUR2 = {"sigma": [0.2, 1.5]}
RESIZE1: dict = {}
RESIZE2 = {"probs": [0.3, 0.4, 0.3], "up": [1.0, 1.2], "down": [0.3, 1.0], "relative_to": "final"}
NOISE1: dict = {}
NOISE2 = {"sigma": [1.0, 25.0], "poisson_scale": [0.05, 2.5]}
JPEG = {"quality": [30, 95]}
SINC: dict = {}


def load_tiles(gray: bool) -> list[np.ndarray]:
    tiles = []
    for rel in SOURCES:
        path = REAL / rel
        if not path.exists():
            continue
        img, _ = read_image(path, color="rgb")
        h, w = img.shape[:2]
        if min(h, w) < TILE:
            f = TILE / min(h, w)
            img = resize_image(img, max(TILE, math.ceil(h * f)), max(TILE, math.ceil(w * f)), "bicubic_aa")
            h, w = img.shape[:2]
        y, x = (h - TILE) // 2, (w - TILE) // 2
        tile = np.ascontiguousarray(img[y:y + TILE, x:x + TILE])
        tiles.append(to_gray(tile) if gray else tile)
    return tiles


def realesrgan_chain(hr: np.ndarray, rng: np.random.Generator, times: dict[str, float]) -> np.ndarray:
    """Steps 2-10 of the Real-ESRGAN x4 degradation, hand-chained from the ops, float32 throughout."""
    def step(name: str, spec: dict, img: np.ndarray) -> np.ndarray:
        t0 = time.process_time()
        op = OPS[name]
        params = op.sample(rng, spec, Context(img.shape, hr.shape, SCALE))
        out = op.apply(img, params)
        times[name] += time.process_time() - t0
        return out

    t0 = time.process_time()
    x = to_float(hr)
    times["to_float/to_uint8"] += time.process_time() - t0
    x = step("realesrgan_blur", BLUR1, x)
    x = step("random_resize", RESIZE1, x)
    x = step("realesrgan_noise", NOISE1, x)
    x = step("jpeg", JPEG, x)
    if rng.random() < 0.8:
        x = step("realesrgan_blur", BLUR2, x)
    x = step("random_resize", RESIZE2, x)
    x = step("realesrgan_noise", NOISE2, x)
    if rng.random() < 0.5:
        x = step("to_final", {}, x)
        if rng.random() < 0.8:
            x = step("sinc", SINC, x)
        x = step("jpeg", JPEG, x)
    else:
        x = step("jpeg", JPEG, x)
        x = step("to_final", {}, x)
        if rng.random() < 0.8:
            x = step("sinc", SINC, x)
    t0 = time.process_time()
    lr = to_uint8(x)
    times["to_float/to_uint8"] += time.process_time() - t0
    return lr


def per_op_table(tile: np.ndarray, repeat: int) -> list[tuple[str, str, float]]:
    """Each op alone on a full 400 px tile (float32 input) with fixed, typical params."""
    x = to_float(tile)
    ctx = Context(x.shape, x.shape, SCALE)
    cases = [
        ("resize", {"factor": 0.25, "mode": "bicubic_aa"}, "400->100 bicubic_aa (Pillow)"),
        ("resize", {"factor": 0.25, "mode": "bicubic_plain"}, "400->100 bicubic_plain (cv2)"),
        ("resize", {"factor": 0.25, "mode": "area"}, "400->100 area"),
        ("gaussian_blur", {"sigma": 2.0}, "sigma 2"),
        ("realesrgan_blur", {"kernel_sizes": [21], "sinc_prob": 0.0, "kernel_list": ["iso"],
                             "kernel_prob": [1]}, "iso 21x21 (separable)"),
        ("realesrgan_blur", {"kernel_sizes": [11], "sinc_prob": 0.0, "kernel_list": ["aniso"],
                             "kernel_prob": [1]}, "aniso 11x11"),
        ("realesrgan_blur", {"kernel_sizes": [21], "sinc_prob": 0.0, "kernel_list": ["aniso"],
                             "kernel_prob": [1]}, "aniso 21x21"),
        ("sinc", {"kernel_sizes": [21]}, "21x21"),
        ("gaussian_noise", {"sigma": 15.0}, "color"),
        ("gaussian_noise", {"sigma": 15.0, "gray_prob": 1.0}, "gray"),
        ("poisson_noise", {"scale": 1.0}, "color"),
        ("poisson_noise", {"scale": 1.0, "gray_prob": 1.0}, "gray"),
        ("jpeg", {"quality": 75}, "q75 4:2:0"),
        ("webp", {"quality": 75}, "q75"),
        ("usm", {}, "51x51 sigma 8"),
        ("halftone", {"pitch": 6.0}, "round, pitch 6"),
        ("dither", {"method": "bayer"}, "bayer 4x4"),
        ("dither", {"method": "floyd_steinberg"}, "floyd-steinberg"),
        ("quantize", {"levels": 8}, "8 levels"),
    ]
    rows = []
    rng = np.random.default_rng(0)
    for name, spec, note in cases:
        op = OPS[name]
        op.check(spec)
        params = op.sample(rng, spec, ctx)
        op.apply(x, params)  # warm caches (Poisson tables, imports)
        best = math.inf
        for _ in range(3 if name == "dither" else repeat):
            t0 = time.process_time()
            op.apply(x, params)
            best = min(best, time.process_time() - t0)
        rows.append((name, note, best * 1000))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=400, help="chain runs (tiles are reused round-robin)")
    parser.add_argument("--repeat", type=int, default=20, help="repeats per op in the per-op table")
    parser.add_argument("--gray", action="store_true", help="1-channel tiles instead of RGB")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    tiles = load_tiles(args.gray)
    if not tiles:
        print(f"no source images under {REAL}; nothing to measure", file=sys.stderr)
        return 1
    kind = "gray" if args.gray else "RGB"
    print(f"{len(tiles)} real {TILE} px {kind} tiles; cv2 threads = 1; numpy {np.__version__}, "
          f"opencv {cv2.__version__}")

    print(f"\nper op, alone on a {TILE} px {kind} float32 tile (CPU ms, best of the repeats):")
    for name, note, ms in per_op_table(tiles[0], args.repeat):
        print(f"  {name:<17} {note:<32} {ms:8.2f}")

    rng = np.random.default_rng(args.seed)
    times: dict[str, float] = defaultdict(float)
    for i in range(min(20, args.tiles)):  # warm-up (Poisson tables for each vals, codec init)
        realesrgan_chain(tiles[i % len(tiles)], rng, defaultdict(float))
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(args.tiles):
        lr = realesrgan_chain(tiles[i % len(tiles)], rng, times)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert lr.shape[:2] == (TILE // SCALE, TILE // SCALE)
    print(f"\nrealesrgan_x4-like chain, {args.tiles} tiles {TILE} -> {TILE // SCALE} px {kind} "
          "(sample + apply, float32 chain), CPU ms per tile by op:")
    for name, sec in sorted(times.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<20} {sec / args.tiles * 1000:8.2f}")
    print(f"  {'total (CPU)':<20} {cpu / args.tiles * 1000:8.2f}")
    print(f"  {'total (wall)':<20} {total / args.tiles * 1000:8.2f}")
    print(f"\n{args.tiles / total:.1f} tiles/s on one core, wall clock (in-memory part: no PNG read/write)")
    print(f"{args.tiles / cpu:.1f} tiles/s by this process's CPU time (less sensitive to other load)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
