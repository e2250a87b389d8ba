"""Trainer throughput: steady-state samples/s and data stall for Compact and RRDBNet, and the loader alone.

Store: 400 px gray tiles cut from the real manga `dev` pages (the procedural pages of
``srkit.demo.pages`` when ../shared is absent), degraded x4 by the ``rawkuma_like`` recipe (a box
filter if the degrade package is unavailable) and packed as a raw LMDB store in a temp folder.

Rows:
- loader only: pairs/s out of ``train.data`` (read, checksum, crop, collate) with W workers;
- train <arch>: samples/s of full training steps (forward, backward, Adam, EMA) and the data stall
  (time waiting for the next batch / step time), averaged over the log intervals after the first
  (warm-up) one.
Prints numbers only; nothing is asserted. Run: python bench/train.py [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

REAL = ROOT.parent / "shared" / "data" / "real"

ARCHS = {"compact": {"num_feat": 64, "num_conv": 16}, "compact_small": {"num_feat": 32, "num_conv": 8},
         "rrdbnet": {"num_feat": 64, "num_block": 23}}


def dev_pages() -> list[np.ndarray]:
    from srkit.core.images import read_image

    manifest = REAL / "MANIFEST.tsv"
    if manifest.exists():
        with open(manifest, newline="") as f:
            rows = [r for r in csv.DictReader(f, delimiter="\t")
                    if r["role"] == "dev" and r["file"].startswith("manga/")]
        return [read_image(REAL / r["file"], color="gray")[0] for r in rows]
    from srkit.demo.pages import manga_page

    return [manga_page(seed=s) for s in range(3)]


def build_store(out: Path, tile: int = 400) -> Path:
    from srkit.core.keys import tile_key
    from srkit.shards.writer import write_store

    tiles = []
    for n, page in enumerate(dev_pages()):
        for y in range(0, page.shape[0] - tile + 1, tile):
            for x in range(0, page.shape[1] - tile + 1, tile):
                tiles.append((tile_key(f"page{n}", y, x), np.ascontiguousarray(page[y:y + tile, x:x + tile])))
    try:
        from srkit.degrade.recipe import load_recipe

        recipe = load_recipe("rawkuma_like")
        pairs = [(k, hr, recipe.plan_and_apply(hr, k, None)[0]) for k, hr in tiles]
    except ImportError:
        small = (tile // 4, tile // 4)
        pairs = [(k, hr, cv2.resize(hr, small, interpolation=cv2.INTER_AREA)) for k, hr in tiles]
    write_store(out, pairs, fmt="lmdb", scale=4, codec="raw", val_fraction=0.1, shard_size="4MB")
    return out


def loader_rate(store: Path, workers: int, batch: int, gt_size: int, batches: int) -> float:
    from srkit.shards.reader import open_store
    from srkit.train.data import StreamSpec, make_loader

    with open_store(store) as s:
        spec = StreamSpec(str(store), tuple(int(i) for i in s.train_indices), tuple(s.shard_ranges), s.scale,
                          gt_size, batch, 0, 64)
    it = iter(make_loader(spec, workers, pin_memory=False))
    for _ in range(2 * max(1, workers) * 4):  # start-up and the prefetched batches are not steady state
        next(it)
    start = time.perf_counter()
    for _ in itertools.islice(it, batches):
        pass
    return batches * batch / (time.perf_counter() - start)


def train_rate(store: Path, arch: str, device: str, iters: int, batch: int, gt_size: int, workers: int,
               out: Path) -> tuple[float, float]:
    from srkit.core.manifest import read_jsonl
    from srkit.train.config import resolve
    from srkit.train.loop import train

    name = "compact" if arch.startswith("compact") else arch
    cfg = resolve(overrides={"model": {"arch": name, "options": ARCHS[arch]},
                             "data": {"gt_size": gt_size, "batch_size": batch, "workers": workers,
                                      "val_max": 1},
                             "train": {"iters": iters, "device": device, "log_every": max(1, iters // 4),
                                       "val_every": 10 ** 9, "ckpt_every": 10 ** 9, "out": str(out)}})
    train(cfg, store, quiet=True)
    records = [r for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "train"][1:]
    rate = float(np.mean([r["samples_per_s"] for r in records]))
    return rate, float(np.mean([r["data_stall"] for r in records]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a minute on 2 CPU cores)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    on_cuda = args.device == "cuda"
    iters = 8 if args.quick else 40
    if on_cuda:
        iters *= 10
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        t0 = time.perf_counter()
        store = build_store(Path(tmp) / "data.lmdb")
        print(f"store: {store} built in {time.perf_counter() - t0:.1f} s; torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads, device {args.device}")
        print("archs: " + "; ".join(f"{k} {v}" for k, v in ARCHS.items()))
        print(f"{'row':44s} {'rate':>17s} {'data stall':>11s}")
        for workers in sorted({0, args.workers}):
            rate = loader_rate(store, workers, 16, 192, 60 if args.quick else 300)
            print(f"{f'loader only, {workers} workers, 192 px crops':44s} {rate:9.1f} pairs/s")
        runs = [("compact_small", 16, 192), ("compact", 16, 192), ("rrdbnet", 4, 128)]
        if on_cuda:
            runs = [("compact", 32, 256), ("rrdbnet", 12, 256)]
        for arch, batch, gt in runs:
            steps = iters if arch != "rrdbnet" or on_cuda else max(4, iters // 4)
            rate, stall = train_rate(store, arch, args.device, steps, batch, gt, args.workers,
                                     Path(tmp) / f"run_{arch}")
            label = f"train {arch}, batch {batch}, {gt} px crops"
            print(f"{label:44s} {rate:7.1f} samples/s {stall:10.0%}")


if __name__ == "__main__":
    main()
