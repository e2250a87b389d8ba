"""CPU time of scoring one 1414 x 2000 manga page pair: the manga scores and PSNR / SSIM, one core.

Each `dev` manga page of the project's test images (1414 x 2000 gray) is scored against its x4
bicubic down-up (Pillow), as ``sr-train score`` scores a pair: the HR analysed once
(``manga_scores.reference``: screentone windows, line map, clean paper), the SR scored against it
(``score_against``), and Y-PSNR / SSIM. OpenCV runs on one thread; times are the process's CPU time
(``time.process_time``), so other jobs on the machine change them little. The issue's target: the
whole pair under 1 s on one core.

``--validation`` measures what the manga scores add to a validation during training: 16 tiles of
400 px from the dev pages, degraded by ``rawkuma_like`` (x4), upscaled by untrained networks of the
sizes the presets use; the CPU time of ``score_on_valset`` (inference, PSNR / SSIM) against that of
``manga_record`` (tone_kept and line_f1 of the outputs), torch and OpenCV on one thread.

``--figure PATH`` draws the README's picture: one region of a dev page (screentone, lines, clean
paper), enlarged to the page's size at the manga blog post's 4800 px height, as the original and as
several upscalers leave it, each labelled with its scores; ``--model FILE`` adds a model's x4 output
of the region degraded by ``rawkuma_like``.

    python bench/scores.py [--repeats 5] [--pages FILE ...] [--validation] [--figure PATH [--model FILE]]
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


class TileStore:
    """The little of a store that ``load_valset`` reads, over tiles in memory (every tile in validation)."""

    def __init__(self, pairs: list[tuple[str, np.ndarray, np.ndarray]]):
        self.pairs = pairs
        self.val_indices = list(range(len(pairs)))
        self.scale = 4
        self.index = {"recipe": {"nominal_scale": 4}}

    def read(self, i: int):
        from types import SimpleNamespace

        key, hr, lr = self.pairs[i]
        return SimpleNamespace(key=key, hr=hr, lr=lr)


def validation_overhead(pages: list[Path], repeats: int) -> None:
    import torch

    from srkit.degrade.recipe import load_recipe
    from srkit.train.models import build_model
    from srkit.train.validate import load_valset, manga_record, score_on_valset

    torch.set_num_threads(1)
    recipe = load_recipe("rawkuma_like")
    pairs = []
    for path in pages:
        hr, _ = read_image(path, color="gray")
        for y in range(0, hr.shape[0] - 400 + 1, 400):
            for x in range(0, hr.shape[1] - 400 + 1, 400):
                tile = np.ascontiguousarray(hr[y:y + 400, x:x + 400])
                if tile.std() >= 20:
                    key = f"{path.stem}_{y}_{x}"
                    pairs.append((key, tile, recipe.plan_and_apply(tile, key)[0]))
    pairs = pairs[:: max(1, len(pairs) // 16)][:16]
    start = time.process_time()
    valset = load_valset(TileStore(pairs), 0)
    loading = time.process_time() - start
    print(f"\n{len(pairs)} validation tiles of 400 px; analysing their HR once when loading: {loading:.3f} s")
    print("| network | inference + PSNR / SSIM | + tone_kept, line_f1 | overhead |")
    print("|---|---:|---:|---:|")
    device = torch.device("cpu")
    nets = {"compact 32 x 4 (smoke)": ("compact", {"num_feat": 32, "num_conv": 4}),
            "RRDBNet 3 blocks x 32": ("rrdbnet", {"num_block": 3, "num_feat": 32}),
            "compact 64 x 16 (compact_x4)": ("compact", {"num_feat": 64, "num_conv": 16})}
    for name, (arch, options) in nets.items():
        torch.manual_seed(0)
        model = build_model(arch, 1, 1, 4, **options)
        outputs = score_on_valset(model, valset, device)[2]
        base = cpu_seconds(lambda m=model: score_on_valset(m, valset, device), repeats)
        extra = cpu_seconds(lambda o=outputs: manga_record(valset, o), repeats)
        print(f"| {name} | {base:.3f} s | {extra:.3f} s | {extra / base:.1%} |")


FIGURE_PAGE = "manga_bj_v01_p041.jpg"
FIGURE_REGION = (1200, 620, 300)  # y, x, side on the page: a face (strokes, a white mask) on screentone
ENLARGE = 2.4  # the page at the manga blog post's 4800 px height, where its dots repeat every 6 px
SHOWN = 300    # the central part of the enlarged region that is shown and scored


def figure(out: Path, model_file: Path | None) -> None:
    """Crops of the original and of several upscalers' outputs, labelled with their scores."""
    from srkit.core.images import write_png

    page, _ = read_image(REAL / "manga" / FIGURE_PAGE, color="gray")
    y, x, side = FIGURE_REGION
    big = round(side * ENLARGE) // 4 * 4
    hr = cv2.resize(page[y:y + side, x:x + side], (big, big), interpolation=cv2.INTER_CUBIC)
    noisy = hr.astype(np.float64)
    paper = hr >= 240
    noisy[paper] += np.random.default_rng(0).normal(0.0, 6.0, int(paper.sum()))
    small = Image.fromarray(hr).resize((big // 4, big // 4), Image.Resampling.NEAREST)
    panels = [("original", hr), ("x2 bicubic down-up", down_up(hr, 2)),
              ("x4 bicubic down-up", down_up(hr, 4)),
              ("x4 nearest down-up", np.asarray(small.resize((big, big), Image.Resampling.NEAREST))),
              ("noise on the paper", np.clip(np.rint(noisy), 0, 255).astype(np.uint8))]
    if model_file is not None:
        from srkit.degrade.recipe import load_recipe
        from srkit.train.inference import load_model
        from srkit.train.upscale import upscale_image

        lr, _ = load_recipe("rawkuma_like").plan_and_apply(hr, "figure")
        panels.insert(3, ("model x4 (rawkuma_like LR)", upscale_image(load_model(model_file, "cpu"), lr)))
    at = (big - SHOWN) // 2
    shown = np.s_[at:at + SHOWN, at:at + SHOWN]
    ref = reference(hr[shown])
    tiles = []
    for name, img in panels:
        crop = np.ascontiguousarray(img[shown])
        sc = score_against(ref, crop)
        label = np.full((58, SHOWN), 255, np.uint8)
        lines = [name, f"tone_kept {sc['tone_kept']:.2f}  moire {sc['moire']:.2f}",
                 f"line_f1 {sc['line_f1']:.2f}  paper_noise {sc['paper_noise']:.1f}"]
        for i, text in enumerate(lines):
            cv2.putText(label, text, (6, 16 + 18 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 1, cv2.LINE_AA)
        tiles.append(np.pad(np.concatenate([crop, label]), 4, constant_values=255))
    while len(tiles) % 3:
        tiles.append(np.full_like(tiles[0], 255))
    rows = [np.concatenate(tiles[i:i + 3], axis=1) for i in range(0, len(tiles), 3)]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(out, np.concatenate(rows), level=9)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pages", nargs="*", type=Path, help="Page files (default: the dev manga pages).")
    parser.add_argument("--validation", action="store_true", help="Also measure the validation overhead.")
    parser.add_argument("--figure", type=Path, help="Draw the README's picture to this PNG and stop.")
    parser.add_argument("--model", type=Path, help="With --figure: add this model's x4 output.")
    args = parser.parse_args()
    if args.figure:
        figure(args.figure, args.model)
        return
    pages = args.pages or [REAL / "manga" / name for name in DEV_PAGES]
    if not all(p.exists() for p in pages):
        raise SystemExit("needs the project's test images (the dev manga pages), or pass --pages")
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
    if args.validation:
        validation_overhead(pages, args.repeats)


if __name__ == "__main__":
    main()
