"""Every stage's speed and memory in one Markdown table: tile, degrade, pack, train.

Workspace: the real manga `dev` pages (never the `eval` ones) enlarged to 4800 px tall, as the
4800 px sources of seed 000 are, saved as JPEG q95; mirrored copies make more distinct pages for the
memory check. Each stage runs through its real CLI in a child process, as a user runs it:

    sr-data tile pages/ --jobs J ; sr-data degrade --recipe rawkuma_like --jobs J ;
    sr-data pack lmdb --jobs J ; sr-train --shards data.lmdb --preset smoke (OMP_NUM_THREADS=J)

Columns:
- 1 core / 2 cores: items per wall second of the command with 1 and 2 workers (threads for pack and
  train), counted from inside the child once its imports are done (start-up excluded); train: the
  steady-state samples/s the trainer logs;
- floor: what any implementation must do, per CPU second of one core, measured with the stage
  benchmarks' own floors: tile = decode the pages + PNG-encode every tile (bench/tile.py);
  degrade = read the HR PNG, the recipe's ops written inline, write the LR PNG (bench/degrade.py);
  pack = read and decode the input PNG pairs (bench/pack.py); train = forward + backward + Adam of
  the same model on in-memory tensors, no data path;
- ours / floor: our 1-core rate over the floor's (1.0 = as fast as the floor);
- peak RSS: the peak resident set (VmHWM) of the 1-core command's process.

Memory check: peak RSS (and peak anonymous RSS, sampled) of tile / degrade / pack with one job for
1 page and for K pages (K x the tiles): it should stay flat (each stage streams; none holds the whole
set in memory).

    python bench/run_all.py            # 3 pages timed, memory 1 vs 10 pages, plus each stage's bench
    python bench/run_all.py --quick    # 2 pages timed, memory 1 vs 4 pages (about a minute)

The full form then runs each stage's own benchmark (bench/tile.py, degrade.py, pack.py, train.py)
and prints its report (--no-stage-benches skips them; --quick --stage-benches runs them with
--quick). Numbers only, nothing asserted. On a shared machine the wall-clock columns are
pessimistic; the floors are CPU time and are not.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
REAL = PROJECT.parent / "shared" / "data" / "real"
HEIGHT = 4800
RECIPE = "rawkuma_like"
TRAIN_ITERS = {True: 30, False: 100}
SMOKE_MODEL = {"num_feat": 32, "num_conv": 4}  # train/presets/smoke.toml
SMOKE_BATCH, SMOKE_GT = 8, 64


def bench_module(name: str) -> ModuleType:
    """A stage benchmark (bench/NAME.py) as a module: this script's folder is first on sys.path."""
    return importlib.import_module(name)


# ---------------------------------------------------------------------------------- inputs


def dev_manga_pages() -> list[Path]:
    manifest = REAL / "MANIFEST.tsv"
    if not manifest.exists():
        sys.exit(f"{manifest} not found: this benchmark needs ../shared/data/real (the real manga pages)")
    with open(manifest, newline="") as f:
        return [REAL / r["file"] for r in csv.DictReader(f, delimiter="\t")
                if r["role"] == "dev" and r["file"].startswith("manga/")]


def enlarged_pages(folder: Path, count: int) -> list[Path]:
    """``count`` distinct 4800 px tall gray pages: the dev pages, then their mirror images."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = dev_manga_pages()
    variants = [lambda a: a, lambda a: a[:, ::-1], lambda a: a[::-1], lambda a: a[::-1, ::-1]]
    out = []
    for n in range(count):
        src = sources[n % len(sources)]
        img = cv2.imread(str(src), cv2.IMREAD_GRAYSCALE)
        width = round(img.shape[1] * HEIGHT / img.shape[0])
        big = np.ascontiguousarray(variants[n // len(sources) % len(variants)](
            cv2.resize(img, (width, HEIGHT), interpolation=cv2.INTER_CUBIC)))
        path = folder / f"{src.stem}_v{n // len(sources)}.jpg"
        cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 95])
        out.append(path)
    return out


# ---------------------------------------------------------------------------------- running CLIs


def child_env(threads: int = 1) -> dict[str, str]:
    return dict(os.environ, COLUMNS="200", OMP_NUM_THREADS=str(threads))


# The child measures itself: the time of the command alone (the interpreter's start-up and the stage's
# imports happen before its clock starts) and its own peak RSS (VmHWM; ru_maxrss of a child would also
# count the pages of this process it was forked from).
MEASURE = """
import atexit, json, sys, time
{imports}
def _report(t0=time.perf_counter()):
    seconds = time.perf_counter() - t0
    hwm = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")]
    with open({report!r}, "w") as f:
        json.dump({{"seconds": seconds, "rss_mb": hwm[0] / 1024 if hwm else float("nan")}}, f)
atexit.register(_report)
sys.argv[0] = {program!r}
from {module} import main
main()
"""
IMPORTS = {"data": "import srkit.cli.data, srkit.tiling.run, srkit.degrade.run, srkit.shards.pack, "
                   "srkit.shards.reader",
           "train": "import srkit.cli.train, srkit.train.loop, torch"}


def run_child(program: str, args: list[str], cwd: Path, threads: int = 1) -> tuple[float, float, float]:
    """Run ``sr-data`` / ``sr-train`` (program "data" / "train") with ``args`` to completion in a child:
    (seconds spent in the command, its peak RSS in MB, its peak anonymous RSS in MB, sampled every
    5 ms: the RSS less file-backed pages such as a memory-mapped LMDB shard being written)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        report = f.name
    code = MEASURE.format(imports=IMPORTS[program], report=report, program=f"sr-{program}",
                          module=f"cli.{program}")
    anon = 0
    try:
        with tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, env=child_env(threads),
                                    stdout=subprocess.DEVNULL, stderr=err, text=True)
            while proc.poll() is None:
                try:
                    with open(f"/proc/{proc.pid}/status") as status:
                        for line in status:
                            if line.startswith("RssAnon"):
                                anon = max(anon, int(line.split()[1]))
                except OSError:
                    pass
                time.sleep(0.005)
            if proc.returncode != 0:
                err.seek(0)
                raise SystemExit(f"sr-{program} {' '.join(args)} failed with exit {proc.returncode}:\n"
                                 f"{err.read()}")
        with open(report) as f:
            measured = json.load(f)
    finally:
        os.unlink(report)
    return float(measured["seconds"]), float(measured["rss_mb"]), anon / 1024


# ---------------------------------------------------------------------------------- floors


def tile_floor(pages: list[Path]) -> float:
    """Candidate tiles per CPU second: decode the pages, PNG-encode every tile (level 1)."""
    bench_tile = bench_module("tile")
    from srkit.tiling.grid import grid

    floor = bench_tile.floor(pages, 1)["decode_encode"].cpu
    n = 0
    for path in pages:
        h, w = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).shape
        n += len(grid(h, w, bench_tile.SIZE, bench_tile.SIZE, "shift"))
    return n / floor


def degrade_floor(tiles_dir: Path) -> float:
    """Tiles per CPU second: read the HR PNG, rawkuma_like's ops inline, write the LR PNG."""
    bench_degrade = bench_module("degrade")
    from srkit.core.images import encode_png, read_png
    from srkit.tiling.manifest import kept_tiles

    paths = [tiles_dir / r["file"] for r in kept_tiles(tiles_dir)]
    with tempfile.TemporaryDirectory(prefix="floor-degrade-") as tmp:

        def run() -> None:
            rng = np.random.default_rng(0)
            for i, p in enumerate(paths):
                lr = bench_degrade.inline_rawkuma(read_png(p), rng)
                (Path(tmp) / f"{i}.png").write_bytes(encode_png(lr, 1))

        return bench_degrade.rate(run, len(paths), 2)


def pack_floor(tiles_dir: Path, lr_dir: Path) -> float:
    """Pairs per CPU second: read and decode the HR and LR PNGs."""
    keys = sorted(p.stem for p in lr_dir.glob("*.png"))
    bench_pack = bench_module("pack")
    return bench_pack.folder_pairs_per_s(tiles_dir, lr_dir, keys, np.arange(len(keys)))


def train_floor(scale: int, steps: int) -> float:
    """Samples per CPU second of forward + backward + Adam on in-memory tensors (the smoke model)."""
    import torch

    from srkit.train.models import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model("compact", 1, 1, scale, **SMOKE_MODEL)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    lr = torch.rand(SMOKE_BATCH, 1, SMOKE_GT // scale, SMOKE_GT // scale)
    hr = torch.rand(SMOKE_BATCH, 1, SMOKE_GT, SMOKE_GT)

    def one() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(model(lr), hr).backward()
        opt.step()

    for _ in range(5):
        one()
    start = time.process_time()
    for _ in range(steps):
        one()
    return steps * SMOKE_BATCH / (time.process_time() - start)


# ---------------------------------------------------------------------------------- stages


def count_candidates(tiles_dir: Path) -> int:
    from srkit.core.manifest import read_jsonl

    return sum(1 for r in read_jsonl(tiles_dir / "tiles.jsonl") if r.get("type") == "tile")


def count_kept(tiles_dir: Path) -> int:
    from srkit.tiling.manifest import kept_tiles

    return len(kept_tiles(tiles_dir))


def stage_run(stage: str, ws: Path, pages: Path, jobs: int, out_name: str) -> tuple[float, float, float]:
    """Run one stage's CLI into a fresh output ``out_name``: (seconds, peak RSS MB, peak anon RSS MB)."""
    shutil.rmtree(ws / out_name, ignore_errors=True)
    if stage == "tile":
        args = ["tile", str(pages), "--out", out_name]
    elif stage == "degrade":
        args = ["degrade", "--recipe", RECIPE, "--tiles", "tiles", "--out", out_name]
    elif stage == "pack":
        args = ["pack", "lmdb", "--hr", "tiles", "--lr", f"lr/{RECIPE}", "--out", out_name]
    else:
        raise ValueError(stage)
    return run_child("data", [*args, "--jobs", str(jobs)], ws)


def train_run(ws: Path, threads: int, iters: int) -> tuple[float, float]:
    """sr-train smoke on the workspace store: (steady-state samples/s from metrics.jsonl, peak RSS MB)."""
    run_dir = ws / "runs" / f"smoke_t{threads}"
    shutil.rmtree(run_dir, ignore_errors=True)
    _, rss, _ = run_child("train", ["--shards", "data.lmdb", "--preset", "smoke", "--iters", str(iters),
                                    "--log-every", str(max(1, iters // 5)), "--val-every", str(10 ** 9),
                                    "--ckpt-every", str(10 ** 9), "--device", "cpu", "--workers", "0",
                                    "--out", str(run_dir)], ws, threads=threads)
    from srkit.core.manifest import read_jsonl

    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("kind") == "train"][1:]
    return float(np.mean([r["samples_per_s"] for r in rows])), rss


# ---------------------------------------------------------------------------------- report


def fmt_rate(value: float, unit: str) -> str:
    return f"{value:,.1f} {unit}/s" if value < 100 else f"{value:,.0f} {unit}/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 pages timed, memory 1 vs 4 pages")
    parser.add_argument("--stage-benches", action=argparse.BooleanOptionalAction, default=None,
                        help="also run bench/tile.py, degrade.py, pack.py, train.py (with --quick when this "
                        "run is quick) and print their reports [default: yes, except with --quick]")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    timed_pages, many_pages = (2, 4) if args.quick else (3, 10)
    iters = TRAIN_ITERS[args.quick]
    load = os.getloadavg()
    root = args.keep or Path(tempfile.mkdtemp(prefix="srkit-bench-all-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        ws = root / "ws"
        ws.mkdir(exist_ok=True)
        pages = enlarged_pages(ws / "pages", timed_pages)
        shape = cv2.imread(str(pages[0]), cv2.IMREAD_GRAYSCALE).shape

        rows = []
        # tile: the 1-job run's output is the workspace the next stages read.
        results = {}
        for jobs in (1, 2):
            results[jobs] = stage_run("tile", ws, ws / "pages", jobs, "tiles" if jobs == 1 else "tiles_j2")
        n_tiles = count_candidates(ws / "tiles")
        kept = count_kept(ws / "tiles")
        rows.append(("tile", "tiles", n_tiles, results, tile_floor(pages)))
        results = {}
        for jobs in (1, 2):
            out = f"lr/{RECIPE}" if jobs == 1 else "lr_j2"
            results[jobs] = stage_run("degrade", ws, ws / "pages", jobs, out)
        rows.append(("degrade " + RECIPE, "tiles", kept, results, degrade_floor(ws / "tiles")))
        results = {}
        for jobs in (1, 2):
            out = "data.lmdb" if jobs == 1 else "data_j2.lmdb"
            results[jobs] = stage_run("pack", ws, ws / "pages", jobs, out)
        rows.append(("pack lmdb raw", "pairs", kept, results, pack_floor(ws / "tiles", ws / "lr" / RECIPE)))
        train_results = {threads: train_run(ws, threads, iters) for threads in (1, 2)}
        floor = train_floor(4, 10 if args.quick else 40)

        print(f"## srkit benchmark ({'quick' if args.quick else 'full'})\n")
        print(f"{timed_pages} real dev manga page(s) enlarged to {shape[1]} x {shape[0]} gray (JPEG q95), "
              f"{n_tiles} candidate 400 px tiles, {kept} kept; recipe {RECIPE} (x4); "
              f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} at the start. "
              "CLI rates count the command's own time (start-up and imports excluded; the 2-worker "
              "runs include starting their worker processes).\n")
        print("| stage | 1 core | 2 cores | floor (1 core, CPU time) | ours / floor | peak RSS (1 core) |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, unit, n, res, fl in rows:
            rates = {j: n / max(1e-6, res[j][0]) for j in (1, 2)}
            print(f"| {name} | {fmt_rate(rates[1], unit)} | {fmt_rate(rates[2], unit)} | "
                  f"{fmt_rate(fl, unit)} | {rates[1] / fl:.2f} | {res[1][1]:,.0f} MB |")
        rates = {t: train_results[t][0] for t in (1, 2)}
        print(f"| train smoke (compact 32x4, batch {SMOKE_BATCH}, {SMOKE_GT} px) | "
              f"{fmt_rate(rates[1], 'samples')} | {fmt_rate(rates[2], 'samples')} | "
              f"{fmt_rate(floor, 'samples')} | {rates[1] / floor:.2f} | {train_results[1][1]:,.0f} MB |")

        # Memory check: the same stages with one job on 1 page and on K times the pages.
        rss: dict[int, dict[str, tuple[float, float, float]]] = {}
        tiles_of: dict[int, int] = {}
        for count in (1, many_pages):
            folder = root / f"ws_mem{count}"
            folder.mkdir(exist_ok=True)
            enlarged_pages(folder / "pages", count)
            rss[count] = {stage: stage_run(stage, folder, folder / "pages", 1, out)
                          for stage, out in (("tile", "tiles"), ("degrade", f"lr/{RECIPE}"),
                                             ("pack", "data.lmdb"))}
            tiles_of[count] = count_kept(folder / "tiles")
            shutil.rmtree(folder, ignore_errors=True)
        one, many = tiles_of[1], tiles_of[many_pages]
        print(f"\nMemory check: peak RSS with one job, 1 page ({one} kept tiles) vs {many_pages} pages "
              f"({many} kept tiles, {many / max(1, one):.1f} x):\n")
        print(f"| command | peak RSS, {one} tiles | {many} tiles | ratio | peak anonymous RSS, {one} tiles | "
              f"{many} tiles | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for stage in ("tile", "degrade", "pack"):
            (_, small, small_anon), (_, big, big_anon) = rss[1][stage], rss[many_pages][stage]
            print(f"| sr-data {stage} | {small:,.0f} MB | {big:,.0f} MB | {big / small:.2f} | "
                  f"{small_anon:,.0f} MB | {big_anon:,.0f} MB | {big_anon / max(1e-9, small_anon):.2f} |")
        print("\n(Anonymous RSS leaves out file-backed pages, such as mapped libraries and store shards, "
              "which the kernel can reclaim.)")
        print(f"\n({time.perf_counter() - t0:.0f} s in all; load average now {os.getloadavg()[0]:.1f})")
        sys.stdout.flush()

        if args.stage_benches or (args.stage_benches is None and not args.quick):
            for name in ("tile", "degrade", "pack", "train"):
                print(f"\n### bench/{name}.py{' --quick' if args.quick else ''}\n\n```")
                sys.stdout.flush()
                command = [sys.executable, str(PROJECT / "bench" / f"{name}.py")]
                subprocess.run(command + (["--quick"] if args.quick else []), cwd=PROJECT, env=child_env(1),
                               check=False)
                print("```")
                sys.stdout.flush()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
