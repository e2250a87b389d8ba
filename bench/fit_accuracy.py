"""How exactly the estimators of `sr-data fit` read raws made with known parameters: per-image errors.

Raws are made from the real `dev` manga pages (1414 x 2000, gray) with the project's own ops (see
tests/degrade/raws_fixtures.py): reduced to 1/4 with the antialiased bicubic (or further and
enlarged back), blurred, noised, JPEG-compressed, saved as JPEG or as PNG after the JPEG, gray or
tinted colour. Each table gives, per parameter value, the number of raws and the mean and worst
absolute error of the estimate (`upscaled_by`: relative error in %).

Reference values: the applied parameter, except where the page itself contributes: a clean reduced
page already reads `blur_sigma` b0 (its own softness) and `noise_sigma` n0 (what survives of its
texture); the reference is then sqrt(applied^2 + b0^2) (resp. n0), with b0 and n0 measured here on
the same page reduced and compressed the same way with nothing added (printed with the tables).
Noise raws are scans: levels black 16, white 224 under the noise (their paper is not pure white);
the same on pure white paper, where half the noise is clipped, is tabled beside them.

    python bench/fit_accuracy.py            # all three dev pages
    python bench/fit_accuracy.py --quick    # one page
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests" / "degrade"))
sys.path.insert(0, str(PROJECT / "tests"))

from conftest import real_images  # noqa: E402
from raws_fixtures import RawSpec, make_raw  # noqa: E402

from srkit.degrade.estimate.measure import measure_array  # noqa: E402

# Noise comes with scanning, and scanned paper is not pure white: levels black 16, white 224 under the
# noise keep the paper's noise whole. On pure white paper (255) half of it is clipped away.
SCAN = (16.0, 224.0, 1.0)


def measure(hr: np.ndarray, spec: RawSpec) -> dict:
    img, data, suffix = make_raw(hr, spec)
    return measure_array(img, data if suffix == ".jpg" else None)


def table(title: str, rows: dict, unit: str = "") -> None:
    print(f"\n{title}")
    print(f"| value | raws | mean abs error{unit} | worst{unit} |")
    print("|---:|---:|---:|---:|")
    for key in sorted(rows):
        errs = np.abs(np.asarray(rows[key], np.float64))
        print(f"| {key} | {errs.size} | {errs.mean():.2f} | {errs.max():.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    pages = real_images(role="dev", folder="manga")
    if not pages:
        sys.exit("no dev pages: the benchmark needs the project's test images")
    pages = pages[:1] if args.quick else pages
    jpeg_tables, jpeg_blocks, enlarge, blur, noise = (defaultdict(list) for _ in range(5))
    misses = []
    for page_no, path in enumerate(pages):
        hr = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        for q in (60, 70, 75, 80, 85, 90, 95):
            for colour in (False, True):
                spec = RawSpec(page_no, quality=q, colour=colour)
                jpeg_tables[q].append(measure(hr, spec)["jpeg_quality"] - q)
                found = measure(hr, RawSpec(page_no, quality=q, colour=colour, save="png"))["jpeg_quality"]
                jpeg_blocks[q].append(found - q if found is not None else math.inf)
        for u in (1.5, 2.0, 3.0):
            for kernel in ("bicubic_aa", "bilinear_aa", "lanczos"):
                for q in (None, 90):
                    rec = measure(hr, RawSpec(page_no, enlarge=u, kernel=kernel, quality=q))
                    w = hr.shape[1] // 4
                    truth = w / round(w / u)
                    enlarge[f"{u} {kernel}"].append(100 * (rec["upscaled_by"] - truth) / truth)
        native = measure(hr, RawSpec(page_no))
        if native["upscaled_by"] != 1.0:
            misses.append(f"page {page_no}: native read as enlarged x{native['upscaled_by']}")
        b0 = native["blur_sigma"] or 0.0
        print(f"page {page_no} ({path.name}): clean reduced page reads blur {b0}, "
              f"noise {native['noise_sigma']}")
        for s in (0.5, 1.0, 1.5, 2.0):
            for q in (None, 85):
                rec = measure(hr, RawSpec(page_no, blur=s, quality=q))
                got = rec["blur_sigma"]
                blur[s].append(math.inf if got is None else got - math.hypot(s, b0))
        for paper, lv in (("scanned paper", SCAN), ("pure white paper", None)):
            for q in (90, 95):
                n0 = measure(hr, RawSpec(page_no, quality=q, levels=lv))["noise_sigma"] or 0.0
                print(f"  noise floor of the clean page ({paper}) at JPEG {q}: {n0}")
                for s in (2.0, 5.0, 10.0, 15.0):
                    for colour in (False, True):
                        spec = RawSpec(page_no, noise=s, quality=q, colour=colour, seed=int(s), levels=lv)
                        got = measure(hr, spec)["noise_sigma"]
                        key = f"{s:g} (q{q}, {paper})"
                        noise[key].append(math.inf if got is None else got - math.hypot(s, n0))
    table("JPEG quality from the file's tables (error in quality units)", jpeg_tables)
    table("JPEG quality from block artifacts, PNG after JPEG (error in quality units)", jpeg_blocks)
    table("upscaled_by (relative error, %)", enlarge, " %")
    table("blur_sigma, native raws, with and without JPEG q85 (error in px)", blur)
    table("noise_sigma, JPEG q90 and q95, gray and colour, scanned or pure white paper (error in levels)",
          noise)
    for line in misses:
        print(line)


if __name__ == "__main__":
    main()
