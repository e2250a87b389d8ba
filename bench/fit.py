"""Speed of `sr-data fit` on 1200 x 1700 gray raws (the size of a web raw), CPU time on one core.

Raws: the real manga pages (dev and eval: speed only) reduced to 1200 x 1700 with the antialiased
bicubic, some blurred or noised, saved as JPEG q 75-95 (and the same pixels as PNG, where the JPEG
quality must be read from block artifacts). Printed: CPU seconds per image of the whole measurement
(decode + every estimator) and images per second per core, for JPEG and PNG raws, and the CPU time
of a whole `fit_folder` run on one worker (finding files, writing the recipe and fit.json). Target:
>= 10 images/s per core on the JPEG raws.

    OMP_NUM_THREADS=1 python bench/fit.py            # 20 raws of each kind
    OMP_NUM_THREADS=1 python bench/fit.py --quick    # 6
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from srkit.degrade.estimate.measure import measure_file
from srkit.degrade.fit import fit_folder
from srkit.degrade.ops import OPS
from srkit.degrade.ops.resize import resize_image

PROJECT = Path(__file__).resolve().parents[1]
REAL_MANGA = PROJECT.parent / "shared" / "data" / "real" / "manga"
SIZE = (1700, 1200)


def make_raws(folder: Path, count: int) -> tuple[list[Path], list[Path]]:
    sources = sorted(REAL_MANGA.glob("*.jpg"))
    if not sources:
        sys.exit(f"no pages in {REAL_MANGA}: the benchmark needs the project's test images")
    rng = np.random.default_rng(0)
    jpegs, pngs = [], []
    for i in range(count):
        page = cv2.imread(str(sources[i % len(sources)]), cv2.IMREAD_GRAYSCALE)
        img = resize_image(page, SIZE[0], SIZE[1], "bicubic_aa")
        if i % 3 == 1:
            img = OPS["gaussian_blur"].apply(img, {"sigma": 1.0, "kernel_size": 7})
        if i % 4 == 2:
            img = OPS["levels"].apply(img, {"black": 16.0, "white": 224.0, "gamma": 1.0})
            img = OPS["gaussian_noise"].apply(img, {"sigma": 5.0, "gray": True, "noise_seed": i})
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(75, 96))])
        jpeg = folder / "jpeg" / f"raw{i:03d}.jpg"
        jpeg.parent.mkdir(exist_ok=True)
        jpeg.write_bytes(buf.tobytes())
        png = folder / "png" / f"raw{i:03d}.png"
        png.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(png), cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE))
        jpegs.append(jpeg)
        pngs.append(png)
    return jpegs, pngs


def per_image(paths: list[Path]) -> float:
    measure_file(paths[0])  # warm: the per-process tables (JPEG qualities, edge models)
    start = time.process_time()
    for path in paths:
        measure_file(path)
    return (time.process_time() - start) / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("note: run with OMP_NUM_THREADS=1 so numpy's BLAS stays on one core")
    with tempfile.TemporaryDirectory() as tmp:
        jpegs, pngs = make_raws(Path(tmp), 6 if args.quick else 20)
        for label, paths in (("JPEG", jpegs), ("PNG after JPEG", pngs)):
            seconds = per_image(paths)
            print(f"{label:15s} {SIZE[1]} x {SIZE[0]} gray: {seconds * 1000:6.1f} ms CPU per image, "
                  f"{1 / seconds:5.1f} images/s per core")
        start = time.process_time()
        fit_folder([jpegs[0].parent], 4, Path(tmp) / "fitted.toml", tiles=None, jobs=1)
        seconds = time.process_time() - start
        print(f"fit_folder, {len(jpegs)} JPEG raws, 1 worker: {seconds:.2f} s CPU, "
              f"{len(jpegs) / seconds:.1f} images/s")


if __name__ == "__main__":
    main()
