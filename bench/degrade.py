"""Degradation throughput on one core: our engine end to end and in memory, beside its floors and peers.

Tiles: 400 px gray tiles cut from the real manga `dev` pages, and 400 px RGB tiles from the Set5
and anime `dev` images (resized so the short side is 400, centre-cropped); `eval` images are never
read. Every rate is tiles per second of CPU time (time.process_time) on one core: OpenCV on one
thread, jobs = 1; on a shared machine the wall clock also counts other people's work, the CPU time of
a one-thread process does not. Compare ratios measured in one run.

Rows of the table (`python bench/degrade.py [--quick]`):
- engine end to end: `degrade_tiles` (read HR PNG, sha256, degrade, write LR PNG atomically, log).
- engine in memory: `Recipe.plan_and_apply` on decoded arrays (draws, JSON round trip of the params,
  ops, pair check); then the share of each op.
- floor in memory: the same ops written inline with cv2/Pillow, no sampling framework, no checks.
- floor end to end: the inline ops plus reading the HR PNG and writing the LR PNG (no log).
- I/O alone: read the HR PNG and write a same-size LR PNG, nothing else.

Side by side, each measurement in its own fresh process, alternated, `--runs` times, medians:
- `--pepedd PYTHON`: rawkuma_like end to end against pepedd 0.1.2 (the community's offline degrader,
  PyPI `pepedd[nodes]`) running the same chain (Catmull-Rom = antialiased bicubic to 25 %, Gaussian
  blur sigma U(0.3, 1) with p 0.5, JPEG q 60..95, PNG out) on the same tiles, its run phase only.
  PYTHON is an interpreter that can import `pepedd.nodes` (its own venv: pepedd pins other versions
  of numpy's neighbours and installs opencv-python beside ours); skipped with a line when it cannot.
  pepedd is never a dependency of this project.
- `--base CHECKOUT`: the same two rows (realesrgan_x4 in memory, rawkuma_like end to end) with the
  code of another checkout of this repository (e.g. the commit before a speed-up) in the same run.
- `--base CHECKOUT --lr-diff`: instead of timing, every recipe's LR pixels on the dev tiles, this
  checkout against the other (how far a change of formulation moved them).

Targets (issue 16): realesrgan_x4 in memory >= 100 tiles/s (RGB 400 px); rawkuma_like end to end
>= 1.3 x pepedd on the same tiles.
Run: python bench/degrade.py [--quick] [--pepedd PYTHON] [--base CHECKOUT [--lr-diff]] [--runs 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np
from PIL import Image

import srkit.degrade.plan as plan_module
from srkit.core.images import encode_png, read_image, read_png, to_rgb, write_png
from srkit.core.keys import tile_key
from srkit.core.manifest import JsonlAppender
from srkit.degrade.recipe import load_recipe
from srkit.degrade.run import degrade_tiles

PROJECT = Path(__file__).resolve().parents[1]

REAL = PROJECT.parent / "shared" / "data" / "real"
SIZE = 400


def dev_images(folder: str) -> list[Path]:
    with open(REAL / "MANIFEST.tsv", newline="") as f:
        return [REAL / r["file"] for r in csv.DictReader(f, delimiter="\t")
                if r["role"] == "dev" and r["file"].startswith(folder + "/")]


def gray_tiles(n: int) -> list[np.ndarray]:
    tiles = []
    for path in dev_images("manga"):
        page, _ = read_image(path, color="gray")
        for y in range(0, page.shape[0] - SIZE + 1, SIZE):
            for x in range(0, page.shape[1] - SIZE + 1, SIZE):
                tile = page[y:y + SIZE, x:x + SIZE]
                if tile.std() > 20:  # skip blank paper, as the tiler does
                    tiles.append(np.ascontiguousarray(tile))
    return [tiles[i % len(tiles)] for i in range(n)]


def rgb_tiles(n: int) -> list[np.ndarray]:
    tiles = []
    for path in dev_images("benchmark/Set5") + dev_images("anime"):
        img, _ = read_image(path, color="rgb")
        img = to_rgb(img)
        h, w = img.shape[:2]
        k = SIZE / min(h, w)
        if k != 1:
            img = np.asarray(Image.fromarray(img).resize((max(SIZE, round(w * k)), max(SIZE, round(h * k))),
                                                         Image.BICUBIC))
        h, w = img.shape[:2]
        y, x = (h - SIZE) // 2, (w - SIZE) // 2
        tiles.append(np.ascontiguousarray(img[y:y + SIZE, x:x + SIZE]))
    return [tiles[i % len(tiles)] for i in range(n)]


def write_tiles_folder(folder: Path, tiles: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True)
    with JsonlAppender(folder / "tiles.jsonl") as log:
        for i, tile in enumerate(tiles):
            key = tile_key("bench-00000000", 0, i)
            write_png(folder / f"{key}.png", tile)
            log.write({"type": "tile", "key": key, "page": "bench-00000000", "status": "kept",
                       "file": f"{key}.png", "w": SIZE, "h": SIZE, "channels": 1 if tile.ndim == 2 else 3})
        log.write({"type": "page", "page": "bench-00000000", "status": "complete"})
    return folder


def rate(fn: Callable[[], None], count: int, repeat: int) -> float:
    """Items per second of this process's CPU time (best of ``repeat``): on a shared machine the
    wall clock also counts other people's work, the CPU time of a one-thread process does not."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return count / best


# ---------------------------------------------------------------------------- inline floors

def inline_rawkuma(tile: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lr = np.asarray(Image.fromarray(tile).resize((SIZE // 4, SIZE // 4), Image.BICUBIC))
    if rng.random() < 0.5:
        lr = cv2.GaussianBlur(lr, (5, 5), rng.uniform(0.3, 1.0), borderType=cv2.BORDER_REFLECT_101)
    ok, buf = cv2.imencode(".jpg", lr, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def _jpeg_float(x: np.ndarray, q: int) -> np.ndarray:
    u8 = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255


def inline_realesrgan(tile: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Second-order chain with fixed-form kernels (iso Gaussian / sinc-free), cv2 only."""
    x = tile.astype(np.float32) / 255
    k = int(rng.choice([7, 9, 11, 13, 15, 17, 19, 21]))
    x = cv2.GaussianBlur(x, (k, k), rng.uniform(0.2, 3), borderType=cv2.BORDER_REFLECT_101)
    f = rng.uniform(0.15, 1.5)
    x = cv2.resize(x, (max(1, int(SIZE * f)),) * 2, interpolation=cv2.INTER_LINEAR)
    x = np.clip(x + rng.standard_normal(x.shape, dtype=np.float32) * (rng.uniform(1, 30) / 255), 0, 1)
    x = _jpeg_float(x, int(rng.integers(30, 96)))
    x = cv2.GaussianBlur(x, (k, k), rng.uniform(0.2, 1.5), borderType=cv2.BORDER_REFLECT_101)
    f = rng.uniform(0.3, 1.2)
    x = cv2.resize(x, (max(1, int(SIZE / 4 * f)),) * 2, interpolation=cv2.INTER_LINEAR)
    x = np.clip(x + rng.standard_normal(x.shape, dtype=np.float32) * (rng.uniform(1, 25) / 255), 0, 1)
    x = cv2.resize(x, (SIZE // 4, SIZE // 4), interpolation=cv2.INTER_AREA)
    x = cv2.filter2D(x, -1, np.full((7, 7), 1 / 49, np.float32), borderType=cv2.BORDER_REFLECT_101)
    x = _jpeg_float(x, int(rng.integers(30, 96)))
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- one recipe

class CpuClock:
    """Stands in for the `time` module of srkit.degrade.plan, whose op timings read perf_counter: the
    per-op shares then count this process's CPU time, as the rates do."""

    perf_counter = staticmethod(time.process_time)


def bench_recipe(name: str, tiles: list[np.ndarray], inline: Callable, work: Path, repeat: int) -> dict:
    recipe = load_recipe(name)
    n = len(tiles)
    tiles_dir = write_tiles_folder(work / f"tiles_{name}", tiles)
    paths = sorted(tiles_dir.glob("*.png"))
    timings: dict[str, list[float]] = {}

    def engine_memory() -> None:
        clock, plan_module.time = plan_module.time, CpuClock
        try:
            for i, t in enumerate(tiles):
                recipe.plan_and_apply(t, f"k{i}", 0, timings)
        finally:
            plan_module.time = clock

    def floor_memory() -> None:
        rng = np.random.default_rng(0)
        for t in tiles:
            inline(t, rng)

    counter = {"run": 0}

    def engine_e2e() -> None:
        counter["run"] += 1
        degrade_tiles(tiles_dir, recipe, work / f"lr_{name}_{counter['run']}", jobs=1)

    out_floor = work / f"floor_{name}"
    out_floor.mkdir()

    def floor_e2e() -> None:
        rng = np.random.default_rng(0)
        for i, p in enumerate(paths):
            lr = inline(read_png(p), rng)
            (out_floor / f"{i}.png").write_bytes(encode_png(lr, 1))

    small = [np.ascontiguousarray(t[::4, ::4]) for t in tiles]

    def io_alone() -> None:
        for i, p in enumerate(paths):
            read_png(p)
            (out_floor / f"io{i}.png").write_bytes(encode_png(small[i], 1))

    row = {
        "recipe": name,
        "tiles": n,
        "engine_memory": rate(engine_memory, n, repeat),
        "floor_memory": rate(floor_memory, n, repeat),
        "engine_e2e": rate(engine_e2e, n, repeat),
        "floor_e2e": rate(floor_e2e, n, repeat),
        "io": rate(io_alone, n, repeat),
    }
    row["ops"] = timings
    return row


# ---------------------------------------------------------------------------- side by side

# One measurement in a fresh process: the srkit of CHECKOUT (linked as its pyproject maps the folders),
# OpenCV on one thread; prints {"cpu_s": ..., "ops": ...} as its last line.
CHILD = r"""
import json, os, sys, time
spec = json.loads(sys.argv[1])
sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
sys.path.insert(0, spec["package_root"])
import cv2
import numpy as np
cv2.setNumThreads(1)
import srkit
if not os.path.realpath(srkit.__file__).startswith(spec["checkout"] + os.sep):
    sys.exit(f"imported srkit from {srkit.__file__}, not from {spec['checkout']}")
from srkit.degrade.recipe import load_recipe
recipe = load_recipe(spec["recipe"])
if spec["task"] == "memory":
    import srkit.degrade.plan
    class CpuClock:  # op timings in CPU time (the engine reads time.perf_counter)
        perf_counter = staticmethod(time.process_time)
    srkit.degrade.plan.time = CpuClock
    tiles = list(np.load(spec["tiles"]))
    for i, t in enumerate(tiles[:8]):
        recipe.plan_and_apply(t, f"warm{i}", 0)
    timings = {}
    start = time.process_time()
    for i, t in enumerate(tiles):
        recipe.plan_and_apply(t, f"k{i}", 0, timings)
    print(json.dumps({"cpu_s": time.process_time() - start, "ops": timings}))
else:
    from srkit.degrade.run import degrade_tiles
    start = time.process_time()
    degrade_tiles(spec["tiles"], recipe, spec["out"], jobs=1)
    print(json.dumps({"cpu_s": time.process_time() - start}))
"""

# pepedd's run phase on a folder of gray PNGs: rawkuma_like's chain in its nodes, LQ PNGs only, serial.
PEPEDD_CHILD = r"""
import contextlib, io, json, sys, time
import cv2
cv2.setNumThreads(1)
from pepedd.core import PipeLine
src, dst = sys.argv[1], sys.argv[2]
options = {
    "input": src, "output": dst, "map_type": "simple", "gray": True, "only_lq": True,
    "shuffle_dataset": False, "real_name": True, "seed": 0,
    "degradation": [
        {"type": "resize", "options": {"alg_lq": ["c_catmullrom"], "spread": [1], "scale": 4, "olq": True}},
        {"type": "blur", "options": {"filters": ["gauss"], "target_kernels": {"gauss": [0.3, 1.0]},
                                     "probability": 0.5}},
        {"type": "compress", "options": {"algorithm": ["jpeg"], "target_compress": {"jpeg": [60, 95]}}},
    ],
}
pipeline = PipeLine(options)
start = time.process_time()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    pipeline()
print(json.dumps({"cpu_s": time.process_time() - start}))
"""

# The same chain as a bare script (cv2 and Pillow, no sampling framework, no hashes, no log): the
# floor of an end-to-end run with these codecs.
FLOOR_CHILD = r"""
import json, os, sys, time
import cv2
import numpy as np
from PIL import Image
cv2.setNumThreads(1)
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst)
rng = np.random.default_rng(0)
start = time.process_time()
for name in sorted(f for f in os.listdir(src) if f.endswith(".png")):
    hr = cv2.imdecode(np.fromfile(os.path.join(src, name), np.uint8), cv2.IMREAD_UNCHANGED)
    lr = np.asarray(Image.fromarray(hr).resize((hr.shape[1] // 4, hr.shape[0] // 4), Image.BICUBIC))
    if rng.random() < 0.5:
        lr = cv2.GaussianBlur(lr, (5, 5), rng.uniform(0.3, 1.0), borderType=cv2.BORDER_REFLECT_101)
    ok, jpg = cv2.imencode(".jpg", lr, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
    ok, png = cv2.imencode(".png", cv2.imdecode(jpg, cv2.IMREAD_UNCHANGED), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    with open(os.path.join(dst, name), "wb") as f:
        f.write(png.tobytes())
print(json.dumps({"cpu_s": time.process_time() - start}))
"""

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "RAYON_NUM_THREADS": "1"}


def run_child(argv: list[str], cwd: Path) -> dict:
    done = subprocess.run(argv, cwd=cwd, env={**os.environ, **ONE_THREAD}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} {argv[1]} ... failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def package_root(checkout: Path, into: Path) -> Path:
    """A folder whose `srkit` is the checkout's code: its pyproject's package-dir map, as links."""
    mapping = tomllib.loads((checkout / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    root = into / "pkg"
    package = root / "srkit"
    package.mkdir(parents=True)
    for entry in (checkout / mapping.get("srkit", "srkit")).iterdir():
        (package / entry.name).symlink_to(entry)
    for name, folder in mapping.items():
        if name != "srkit":
            (package / name.split(".", 1)[1]).symlink_to(checkout / folder)
    return root


class Side:
    """One side of a comparison: a checkout of this repository, or a script (pepedd, the bare floor)
    that reads a folder of PNGs and writes the LR PNGs, run by `python`."""

    def __init__(self, label: str, work: Path, checkout: Path | None = None, python: str | None = None,
                 script: str | None = None):
        self.label, self.work, self.python, self.script = label, work, python, script
        self.checkout = checkout.resolve() if checkout else None
        self.root = package_root(self.checkout, work / label) if self.checkout else None
        self.runs = 0

    def measure(self, task: str, recipe: str, tiles: Path) -> dict:
        self.runs += 1
        out = self.work / self.label / f"{task}_{recipe}_{self.runs}"
        if self.script is not None:
            argv = [self.python or sys.executable, "-c", self.script, str(tiles), str(out)]
            return run_child(argv, self.work)
        spec = {"package_root": str(self.root), "checkout": str(self.checkout), "task": task,
                "recipe": recipe, "tiles": str(tiles), "out": str(out)}
        return {**run_child([sys.executable, "-c", CHILD, json.dumps(spec)], self.work), "out": str(out)}


def pepedd_side(python: str, work: Path) -> Side | None:
    # The runs start in the work folder: a relative path such as .venv/pepedd/bin/python is made absolute.
    found = shutil.which(python)
    python = os.path.abspath(found) if found else python
    probe = found and subprocess.run([python, "-c", "import pepedd.nodes"], capture_output=True, text=True)
    if not probe or probe.returncode != 0:
        print(f"pepedd side by side: skipped, {python} cannot import pepedd.nodes "
              "(install pepedd[nodes]==0.1.2 in a venv of its own and pass its python)")
        return None
    return Side("pepedd", work, python=python, script=PEPEDD_CHILD)


def compare(sides: list[Side], task: str, recipe: str, tiles: Path, n: int, runs: int) -> dict[str, dict]:
    """Alternate the sides `runs` times; per side the median tiles per CPU second, and one run's ops."""
    results: dict[str, list[dict]] = {s.label: [] for s in sides}
    for r in range(runs):
        for side in sides[r % len(sides):] + sides[:r % len(sides)]:
            folder_script = side.script is not None
            if task == "memory" and folder_script:
                continue
            source = tiles.parent / "png_only" if folder_script else tiles
            results[side.label].append(side.measure(task, recipe, source))
    table = {}
    for label, got in results.items():
        if got:
            rates = sorted(n / g["cpu_s"] for g in got)
            table[label] = {"median": statistics.median(rates), "rates": rates, "ops": got[0].get("ops", {})}
    return table


def print_compare(title: str, table: dict[str, dict], reference: str = "ours") -> None:
    print(f"\n{title}")
    for label, row in table.items():
        ratio = ""
        if label != reference:
            ratio = f"  ours / {label} = {table[reference]['median'] / row['median']:.2f}"
        runs = ", ".join(f"{r:.1f}" for r in row["rates"])
        print(f"  {label:<8} median {row['median']:8.1f} tiles/s  (runs {runs}){ratio}")


def print_ops(label: str, ops: dict) -> None:
    total = sum(s for _, s in ops.values()) or 1.0
    print(f"\nper op, {label} (engine in memory, CPU time):")
    for op, (count, seconds) in sorted(ops.items(), key=lambda kv: -kv[1][1]):
        print(f"  {op:<16} {count:>6} applied {seconds / count * 1000:8.3f} ms each "
              f"{seconds / total * 100:5.1f} %")


def lr_differences(args: argparse.Namespace, work: Path) -> None:
    """The LR pixels of every recipe made by this checkout and by --base, on the dev tiles."""
    ours, base = Side("ours", work, checkout=PROJECT), Side("base", work, checkout=Path(args.base))
    folders = {"gray": write_tiles_folder(work / "gray" / "tiles", gray_tiles(135)),
               "rgb": write_tiles_folder(work / "rgb" / "tiles", rgb_tiles(24))}
    print(f"LR pixels, ours ({PROJECT}) against base ({args.base}): 135 gray tiles of the dev manga pages, "
          "24 RGB tiles of the dev images")
    for recipe in sorted(p.stem for p in (PROJECT / "recipes").glob("*.toml")):
        for kind, tiles in folders.items():
            a, b = (Path(side.measure("e2e", recipe, tiles)["out"]) for side in (ours, base))
            names = sorted(p.name for p in b.glob("*.png"))
            files = values = worst = 0
            for name in names:
                x, y = read_png(a / name).astype(np.int16), read_png(b / name).astype(np.int16)
                diff = np.abs(x - y)
                files += bool(diff.any())
                values += int(np.count_nonzero(diff))
                worst = max(worst, int(diff.max()))
            print(f"  {recipe:<18} {kind:<4} {len(names):>4} LR files: {files:>3} differ, "
                  f"{values:>6} values, largest |difference| {worst} levels")


def side_by_side(args: argparse.Namespace, work: Path) -> None:
    n_gray, n_rgb = (90, 40) if args.quick else (270, 120)
    sides = [Side("ours", work, checkout=PROJECT)]
    if args.base:
        sides.append(Side("base", work, checkout=Path(args.base)))
    pepedd = pepedd_side(args.pepedd, work) if args.pepedd else None
    tiles_dir = write_tiles_folder(work / "tiles" / "tiles", gray_tiles(n_gray))
    png_only = tiles_dir.parent / "png_only"  # pepedd reads every file of its input folder
    png_only.mkdir()
    for p in sorted(tiles_dir.glob("*.png")):
        try:
            os.link(p, png_only / p.name)
        except OSError:
            shutil.copyfile(p, png_only / p.name)
    print(f"side by side, one core, each run a fresh process, {args.runs} runs alternated, medians")
    if args.base:
        stack = work / "tiles" / "rgb.npy"
        np.save(stack, np.stack(rgb_tiles(n_rgb)))
        memory = compare(sides, "memory", "realesrgan_x4", stack, n_rgb, args.runs)
        print_compare(f"realesrgan_x4 in memory, {n_rgb} RGB tiles of 400 px (ours = {PROJECT}, "
                      f"base = {args.base})", memory)
        print_ops("realesrgan_x4, ours", memory["ours"]["ops"])
    floor = Side("floor", work, script=FLOOR_CHILD)
    e2e = compare(sides + ([pepedd] if pepedd else []) + [floor], "e2e", "rawkuma_like", tiles_dir, n_gray,
                  args.runs)
    print_compare(f"rawkuma_like end to end (read HR PNG, degrade, write LR PNG and the log), {n_gray} gray "
                  "tiles of 400 px;\n  floor = the same chain as a bare cv2/Pillow script, no hashes, no log",
                  e2e)
    print("\ntargets:")
    if args.base:
        rate_now = memory["ours"]["median"]
        verdict = "met" if rate_now >= 100 else "NOT met"
        print(f"  realesrgan_x4 in memory >= 100 tiles/s: {rate_now:.1f} ({verdict})")
    if pepedd:
        ratio = e2e["ours"]["median"] / e2e["pepedd"]["median"]
        verdict = "met" if ratio >= 1.3 else "NOT met"
        print(f"  rawkuma_like end to end >= 1.3 x pepedd: {ratio:.2f} x ({verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer tiles and repetitions (~30 s)")
    parser.add_argument("--pepedd", metavar="PYTHON",
                        help="side by side with pepedd run by this interpreter (rawkuma_like end to end)")
    parser.add_argument("--base", metavar="CHECKOUT",
                        help="side by side with the code of another checkout of this repository")
    parser.add_argument("--runs", type=int, default=3, help="runs per side in the side-by-side modes")
    parser.add_argument("--lr-diff", action="store_true",
                        help="with --base: compare the LR pixels of every recipe instead of timing")
    args = parser.parse_args()
    if not (REAL / "MANIFEST.tsv").exists():
        sys.exit(f"{REAL} is absent: this benchmark needs the real dev images")
    cv2.setNumThreads(1)
    if args.lr_diff:
        if not args.base:
            sys.exit("--lr-diff compares with another checkout: give --base CHECKOUT")
        with tempfile.TemporaryDirectory(prefix="bench_degrade_") as tmp:
            lr_differences(args, Path(tmp))
        return
    if args.pepedd or args.base:
        with tempfile.TemporaryDirectory(prefix="bench_degrade_") as tmp:
            side_by_side(args, Path(tmp))
        return
    n_gray, n_rgb, repeat = (60, 40, 2) if args.quick else (200, 120, 3)
    with tempfile.TemporaryDirectory(prefix="bench_degrade_") as tmp:
        work = Path(tmp)
        rows = [
            bench_recipe("rawkuma_like", gray_tiles(n_gray), inline_rawkuma, work, repeat),
            bench_recipe("realesrgan_x4", rgb_tiles(n_rgb), inline_realesrgan, work, repeat),
        ]
    mode = "quick" if args.quick else "full"
    print(f"degradation throughput, one core, 400 px tiles ({mode} run), tiles per CPU second")
    header = ("recipe", "tiles", "engine mem", "floor mem", "engine e2e", "floor e2e", "I/O alone",
              "e2e/floor")
    print("{:<14} {:>6} {:>11} {:>10} {:>11} {:>10} {:>10} {:>10}".format(*header))
    for r in rows:
        print(f"{r['recipe']:<14} {r['tiles']:>6} {r['engine_memory']:>11.1f} {r['floor_memory']:>10.1f} "
              f"{r['engine_e2e']:>11.1f} {r['floor_e2e']:>10.1f} {r['io']:>10.1f} "
              f"{r['engine_e2e'] / r['floor_e2e']:>9.0%}")
    for r in rows:
        print_ops(r["recipe"], r["ops"])
    raw, real = rows
    print("\ntargets (rawkuma_like against pepedd: --pepedd PYTHON):")
    print(f"  realesrgan_x4 in memory >= 100 tiles/s: {real['engine_memory']:.1f} "
          f"({'met' if real['engine_memory'] >= 100 else 'NOT met'})")
    share = raw["engine_e2e"] / raw["floor_e2e"]
    print(f"  rawkuma_like end to end, share of its floor: {share:.0%}")


if __name__ == "__main__":
    main()
