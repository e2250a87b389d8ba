"""CPU time of scoring one 1414 x 2000 manga page pair: the manga scores and PSNR / SSIM, one core.

Each `dev` manga page of the project's test images (1414 x 2000 gray) is scored against its x4
bicubic down-up (Pillow), as ``sr-train score`` scores a pair: the HR analysed once
(``manga_scores.reference``: screentone windows, line map, clean paper), the SR scored against it
(``score_against``), and Y-PSNR / SSIM. OpenCV runs on one thread; times are the process's CPU time
(``time.process_time``), so other jobs on the machine change them little. The issue's target: the
whole pair under 1 s on one core.

    python bench/scores.py [--repeats 5] [--pages FILE ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from srkit.core.images import read_image
from srkit.train.manga_scores import reference, score_against
from srkit.train.metrics import psnr_ssim_y

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
DEV_PAGES = ["manga_bj_v01_p007.jpg", "manga_bj_v01_p041.jpg", "manga_bj_v01_p145.jpg"]
BORDER = 4


def down_up(img: np.ndarray, factor: int) -> np.ndarray:
    h, w = img.shape[:2]
    small = Image.fromarray(img).resize((w // factor, h // factor), Image.Resampling.BICUBIC)
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC))


def cpu_seconds(fn, repeats: int) -> float:
    """The median CPU time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pages", nargs="*", type=Path, help="Page files (default: the dev manga pages).")
    args = parser.parse_args()
    pages = args.pages or [REAL / "manga" / name for name in DEV_PAGES]
    if not all(p.exists() for p in pages):
        raise SystemExit("needs ../shared/data/real (the real manga pages), or pass --pages")
    cv2.setNumThreads(1)
    print("| page | size | HR analysis | SR scores | manga scores | Y-PSNR / SSIM | whole pair |")
    print("|---|---|---:|---:|---:|---:|---:|")
    totals = []
    for path in pages:
        hr, _ = read_image(path, color="gray")
        sr = down_up(hr, 4)
        ref = reference(hr, BORDER)
        analysis = cpu_seconds(lambda hr=hr: reference(hr, BORDER), args.repeats)
        scoring = cpu_seconds(lambda ref=ref, sr=sr: score_against(ref, sr), args.repeats)
        classic = cpu_seconds(lambda hr=hr, sr=sr: psnr_ssim_y(sr, hr, BORDER), args.repeats)
        whole = analysis + scoring + classic
        totals.append(whole)
        print(f"| {path.name} | {hr.shape[1]} x {hr.shape[0]} | {analysis:.3f} s | {scoring:.3f} s | "
              f"{analysis + scoring:.3f} s | {classic:.3f} s | {whole:.3f} s |")
    print(f"\nworst page: {max(totals):.3f} s of CPU per pair on one core (target: under 1 s)")


if __name__ == "__main__":
    main()
