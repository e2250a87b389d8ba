"""The CPU preset's evidence: which x4 trainer buys the most quality per CPU minute, and what cpu_x4 gets.

Data: the three `dev` manga pages of the project's test images (1414 x 2000, real screentones), cut by
``sr-data tile --size 400 --step 200``, degraded by ``rawkuma_like`` and packed with ``sr-data pack
lmdb``: what a user with a handful of pages runs.

Two modes:

``search``: hold out one dev page, train every candidate on the other two for the same CPU time of the
training process (``time.process_time``, so other load on the machine does not bias the comparison;
the data loading runs in the training process, ``workers = 0``), and score each on the held-out whole
page with ``sr-train eval``'s code (Y-PSNR gain over bicubic). A candidate is a set of config overrides.

``final``: on all three dev pages, ``sr-train --shards data.lmdb --preset cpu_x4 --time-budget T``
and the same for the baseline (Compact 32 x 8, batch 16, 192 px crops, Adam 5e-4 cosine: the trainer
behind the figures in bench/FIGURES.md), T = 5, 10 and 20 minutes of wall clock (run it on a quiet
machine: nothing else running), each scored with ``sr-train eval`` on the two `eval` pages, whole pages.

Run: python bench/cpu_x4.py search [--cpu-minutes 6] [--only NAME]
     python bench/cpu_x4.py final [--minutes 5,10,20]
Needs the project's test images (the manga pages and their MANIFEST.tsv) beside the checkout.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
WORK = ROOT / "bench" / "out" / "cpu_x4"
HOLD_OUT = "manga/manga_bj_v01_p145.jpg"  # the dev page the search scores on (never trained on there)

BASELINE = {"model": {"arch": "compact", "options": {"num_feat": 32, "num_conv": 8}},
            "data": {"gt_size": 192, "batch_size": 16},
            "optim": {"lr": 5e-4, "schedule": "cosine", "warmup": 0, "min_lr_ratio": 0.01}}

# In the order they were tried (the most promising levers first: the learning rate, the width of the
# net, the crop and batch). Each is the baseline with these overrides.
LR_2E3 = {"optim": {"lr": 2e-3, "warmup": 50}}
CANDIDATES: dict[str, dict] = {
    "baseline": {},
    "lr2e-3": LR_2E3,
    "feat48_lr2e-3": {"model": {"options": {"num_feat": 48, "num_conv": 8}}, **LR_2E3},
    "batch8_lr2e-3": {"data": {"batch_size": 8}, **LR_2E3},
    "conv4_lr2e-3": {"model": {"options": {"num_feat": 32, "num_conv": 4}}, **LR_2E3},
    "mse_lr2e-3": {"loss": {"pixel": "mse"}, **LR_2E3},
}


def pages(role: str) -> list[Path]:
    with open(REAL / "MANIFEST.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t")
                if r["role"] == role and r["file"].startswith("manga/")]
    return [REAL / r["file"] for r in rows]


def sh(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def build_store(folder: Path, page_files: list[Path]) -> Path:
    """tile -> degrade rawkuma_like -> pack lmdb, with the CLI a user runs; reused when present."""
    store = folder / "data.lmdb"
    if (store / "index.json").exists():
        return store
    (folder / "pages").mkdir(parents=True, exist_ok=True)
    for page in page_files:
        link = folder / "pages" / page.name
        if not link.exists():
            link.symlink_to(page)
    sh("sr-data", "tile", "pages", "--size", "400", "--step", "200", cwd=folder)
    sh("sr-data", "degrade", "--recipe", "rawkuma_like", cwd=folder)
    sh("sr-data", "pack", "lmdb", cwd=folder)
    return store


def score(model: Path, images: list[Path], out: Path) -> tuple[float, float]:
    """(model, bicubic) mean Y-PSNR on whole pages, degraded by rawkuma_like, as ``sr-train eval``."""
    from srkit.train.evaluate import evaluate

    result = evaluate(model, images, "rawkuma_like", out_dir=out, device="cpu")
    return result.mean(4, "model")[0], result.mean(4, "bicubic")[0]


def nested_update(base: dict, extra: dict) -> dict:
    out = json.loads(json.dumps(base))
    for key, value in extra.items():
        out[key] = nested_update(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def search(cpu_minutes: float, only: str) -> None:
    import torch

    from srkit.train.config import resolve
    from srkit.train.loop import train
    from srkit.train.schedule import RunClock

    torch.set_num_threads(2)
    train_pages = [p for p in pages("dev") if not str(p).endswith(HOLD_OUT)]
    store = build_store(WORK / "search", train_pages)
    held_out = [REAL / HOLD_OUT]
    print(f"store {store} from {[p.name for p in train_pages]}; held out {HOLD_OUT}; "
          f"{cpu_minutes} CPU-min per candidate")
    for name, extra in CANDIDATES.items():
        if only and name != only:
            continue
        overrides = nested_update(BASELINE, extra)
        run = WORK / "search" / "runs" / name
        # The schedule spans a budget of CPU seconds of this process (the time budget with a CPU clock),
        # so a cheaper candidate gets more iterations, as it would on a quiet machine.
        cfg = resolve(overrides=nested_update(overrides, {
            "data": {"workers": 0, "val_max": 8},
            "train": {"time_budget": f"{cpu_minutes * 60:g}s", "log_every": 50, "ckpt_every": 10 ** 9,
                      "val_every": 10 ** 9, "resume": "no", "out": str(run)}}))
        t0 = time.process_time()
        result = train(cfg, store, quiet=True, clock=RunClock.for_config(cfg, now=time.process_time))
        spent, iters = time.process_time() - t0, result.iterations
        psnr, bicubic = score(run / "model.safetensors", held_out, run / "eval")
        line = {"candidate": name, "iters": iters, "cpu_s": round(spent), "cpu_budget_s": cpu_minutes * 60,
                "psnr": round(psnr, 3), "bicubic": round(bicubic, 3), "gain": round(psnr - bicubic, 3)}
        print(json.dumps(line), flush=True)
        with open(WORK / "search" / "results.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")


def final(minutes: list[float]) -> None:
    """cpu_x4 and the baseline for each wall-clock budget, on all dev pages; scored on the eval pages."""
    folder = WORK / "final"
    store = build_store(folder, pages("dev"))
    eval_pages = folder / "eval_pages"
    eval_pages.mkdir(exist_ok=True)
    for page in pages("eval"):
        if not (eval_pages / page.name).exists():
            (eval_pages / page.name).symlink_to(page)
    base = BASELINE
    baseline_args = ["--arch", "compact", "--set", "model.options.num_feat=32", "--set",
                     "model.options.num_conv=8", "--gt-size", str(base["data"]["gt_size"]), "--batch-size",
                     str(base["data"]["batch_size"]), "--lr", str(base["optim"]["lr"]), "--set",
                     "optim.schedule=cosine", "--workers", "0"]
    print("| run | budget | iterations | eval pages: model / bicubic Y-PSNR (dB) | gain |")
    print("|---|---:|---:|---|---:|")
    for budget in minutes:
        for name, args in (("cpu_x4", ["--preset", "cpu_x4"]), ("baseline compact 32x8", baseline_args)):
            run = folder / "runs" / f"{name.split()[0]}_{budget:g}m"
            command = ["sr-train", "--shards", str(store), *args, "--time-budget", f"{budget:g}m",
                       "--out", str(run), "--resume", "no"]
            if not (run / "model.safetensors").exists():
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            subprocess.run(["sr-train", "eval", str(run / "model.safetensors"), "--images", str(eval_pages),
                            "--recipe", "rawkuma_like", "--out", str(run / "eval")], check=True,
                           stdout=subprocess.DEVNULL)
            with open(run / "eval" / "table.csv", newline="") as f:
                row = next(csv.DictReader(f))
            model, bicubic = float(row["model PSNR"]), float(row["bicubic PSNR"])
            iters = max(json.loads(line)["iter"] for line in open(run / "metrics.jsonl"))
            gain = model - bicubic
            print(f"| {name} | {budget:g} min | {iters} | {model:.2f} / {bicubic:.2f} | {gain:+.2f} |",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("search")
    s.add_argument("--cpu-minutes", type=float, default=4.0)
    s.add_argument("--only", default="")
    f = sub.add_parser("final")
    f.add_argument("--minutes", default="5,10,20", help="wall-clock budgets, comma-separated")
    args = parser.parse_args()
    if not (REAL / "MANIFEST.tsv").exists():
        sys.exit(f"needs the project's test images at {REAL}")
    if args.mode == "search":
        search(args.cpu_minutes, args.only)
    else:
        final([float(m) for m in args.minutes.split(",")])


if __name__ == "__main__":
    main()
