"""Each published system this toolkit reproduces, end to end from the command line, on real manga pages.

Trains on the three `dev` manga pages of the project's test images (../shared/data/real, 400 px
tiles) and evaluates on the two `eval` pages, which no step ever trains or tunes on. Every system
runs the commands a user types: `sr-data tile`, `sr-data degrade --recipe R`, `sr-data pack`,
`sr-train --preset P`, then `sr-train eval` on the eval pages. On a CPU the published network sizes
and iteration counts are out of reach, so each system states the overrides it runs with (smaller
RRDBNet trunks, fewer iterations); the `esrgan_x4_gan` and `manga_x4_gan` stages run without the
perceptual loss because VGG19 weights are not shipped (pass --vgg-weights FILE to include it).

Run: python bench/published_systems.py [--only NAME ...] [--work DIR] [--scale-iters F]
Prints one Markdown table (and writes it to WORK/published_systems.md).

Table III of the m-SRCNN paper (Intaniyom et al.), as it ran: python bench/published_systems.py
--table3 [--table3-iters N] [--no-clean]. The dev tiles are cleaned with `sr-data clean --recipe
msrcnn_clean` (the paper's sharpen + denoise of the HR; --no-clean skips it), paired by both
down-up recipes (srcnn_bilinear_x2, srcnn_bicubic_x2) into HDF5 stores, SRCNN and m-SRCNN are trained
on each (four models, N iterations each), and one `sr-train eval` of the four models with the paper's
test protocol (bilinear down to 1/2, 1/3, 1/4: recipe bilinear_x{scale}; bicubic pre-upsampling for
the scale-1 models) runs on the two eval manga pages and one on Set14. Writes WORK/table3.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
DATA = [sys.executable, "-c", "from srkit.cli.data import main; main()"]
TRAIN = [sys.executable, "-c", "from srkit.cli.train import main; main()"]

SMALL_RRDB = ["--set", "model.options.num_block=3", "--set", "model.options.num_feat=32",
              "--gt-size", "128", "--batch-size", "8", "--workers", "0"]
NO_MILESTONE = ["--set", "optim.milestones=[100000]"]  # a constant learning rate at these budgets


def budget(iters: int, every: int | None = None) -> list[str]:
    """Iterations, validated and checkpointed every ``every`` (default: at the end)."""
    every = every or iters
    return ["--iters", str(iters), "--val-every", str(every), "--ckpt-every", str(every)]


def rrdb_two_stages(psnr: str, gan: str, psnr_iters: int, gan_iters: int) -> list[tuple[str, list[str]]]:
    """A small RRDBNet PSNR stage, then its GAN stage without the perceptual loss (no VGG weights)."""
    return [(psnr, [*SMALL_RRDB, *budget(psnr_iters, psnr_iters // 2), *NO_MILESTONE]),
            (gan, [*SMALL_RRDB, *budget(gan_iters), "--set", "loss.perceptual_weight=0.0", *NO_MILESTONE])]


# name -> the publication, recipe, store format, [(preset, extra sr-train args)]
SYSTEMS: dict[str, dict] = {
    "manga_blog": {
        "source": "New ESRGAN model for grayscale manga upscaling (blog post, 2024)",
        "recipe": "rawkuma_like", "store": "lmdb",
        "stages": rrdb_two_stages("manga_x4", "manga_x4_gan", 600, 60)},
    "srcnn": {
        "source": "Intaniyom et al., m-SRCNN paper: its SRCNN", "recipe": "srcnn_bicubic_x2", "store": "hdf5",
        "stages": [("srcnn_x2", ["--workers", "0", *budget(400, 200)])]},
    "msrcnn": {
        "source": "Intaniyom et al., m-SRCNN paper", "recipe": "srcnn_bicubic_x2", "store": "hdf5",
        "stages": [("msrcnn_x2", ["--workers", "0", *budget(400, 200)])]},
    "anime_wgangp": {
        "source": "Jin Huang, Anime Super Resolution Using GANs", "recipe": "bicubic_x4", "store": "lmdb",
        "stages": [("srresnet8_wgangp_x4", ["--batch-size", "8", "--workers", "0", *budget(200)])]},
    "realesrgan": {
        "source": "Real-ESRGAN (Wang et al., 2021) as implemented by Ioannou (2023) and ash1ra",
        "recipe": "realesrgan_x4", "store": "lmdb",
        "stages": rrdb_two_stages("esrgan_x4_psnr", "esrgan_x4_gan", 300, 30)},
}


def run(cmd: list[str], cwd: Path, log) -> float:
    start = time.perf_counter()
    log.write(f"$ {' '.join(cmd[3:] if cmd[:3] in (DATA, TRAIN) else cmd)}\n")
    log.flush()
    proc = subprocess.run(
        cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "120"}
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}; see {log.name}")
    return time.perf_counter() - start


def pages(role: str) -> list[Path]:
    with open(REAL / "MANIFEST.tsv", newline="") as f:
        return [
            REAL / r["file"]
            for r in csv.DictReader(f, delimiter="\t")
            if r["role"] == role and r["file"].startswith("manga/")
        ]


def run_system(name: str, spec: dict, work: Path, scale_iters: float) -> dict:
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pages").mkdir(exist_ok=True)
    (folder / "eval_pages").mkdir(exist_ok=True)
    for p in pages("dev"):
        shutil.copy(p, folder / "pages" / p.name)
    for p in pages("eval"):
        shutil.copy(p, folder / "eval_pages" / p.name)
    with open(folder / "log.txt", "a") as log:
        run([*DATA, "tile", "pages", "--size", "400"], folder, log)
        run([*DATA, "degrade", "--recipe", spec["recipe"]], folder, log)
        store = f"data.{'lmdb' if spec['store'] == 'lmdb' else 'h5'}"
        run([*DATA, "pack", spec["store"], "--out", store], folder, log)
        train_seconds, previous, stages = 0.0, None, []
        for preset, extra in spec["stages"]:
            extra = list(extra)
            if scale_iters != 1.0:
                i = extra.index("--iters")
                extra[i + 1] = str(max(10, int(int(extra[i + 1]) * scale_iters)))
            cmd = [*TRAIN, "--shards", store, "--preset", preset, "--out", f"runs/{preset}", *extra]
            if previous:
                cmd += ["--init", f"runs/{previous}"]
            train_seconds += run(cmd, folder, log)
            stages.append(f"{preset} ({' '.join(extra)})")
            previous = preset
        run(
            [
                *TRAIN,
                "eval",
                f"runs/{previous}/model.safetensors",
                "--images",
                "eval_pages",
                "--recipe",
                spec["recipe"],
                "--out",
                "eval",
            ],
            folder,
            log,
        )
    metrics = [json.loads(line) for line in open(folder / "runs" / previous / "metrics.jsonl")]
    val = [m for m in metrics if m.get("kind") == "val"]
    rows = list(csv.DictReader(open(folder / "eval" / "table.csv")))
    row = rows[0]
    return {
        "system": name,
        "source": spec["source"],
        "recipe": spec["recipe"],
        "store": spec["store"],
        "stages": "; ".join(stages),
        "train_s": train_seconds,
        "val_psnr": val[-1]["psnr"] if val else None,
        "val_bicubic": val[-1].get("bicubic_psnr") if val else None,
        "eval_model": float(row["model PSNR"]) if row.get("model PSNR") else None,
        "eval_model_ssim": float(row["model SSIM"]) if row.get("model SSIM") else None,
        "eval_bicubic": float(row["bicubic PSNR"]),
        "eval_bicubic_ssim": float(row["bicubic SSIM"]),
        "eval_bilinear": float(row["bilinear PSNR"]),
        "eval_nearest": float(row["nearest PSNR"]),
    }


def markdown(results: list[dict]) -> str:
    lines = [
        "| system (source) | recipe, store | training (CPU) | eval pages: nearest / bilinear / bicubic / "
        "model Y-PSNR (dB) | model - bicubic | SSIM bicubic -> model |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        model = "n/a" if r["eval_model"] is None else f"{r['eval_model']:.2f}"
        gain = "n/a" if r["eval_model"] is None else f"{r['eval_model'] - r['eval_bicubic']:+.2f}"
        ssim = (
            "n/a"
            if r["eval_model_ssim"] is None
            else f"{r['eval_bicubic_ssim']:.4f} -> {r['eval_model_ssim']:.4f}"
        )
        lines.append(
            f"| {r['system']} ({r['source']}) | {r['recipe']}, {r['store']} | {r['train_s'] / 60:.1f} min: "
            f"{r['stages']} | {r['eval_nearest']:.2f} / {r['eval_bilinear']:.2f} / {r['eval_bicubic']:.2f}"
            f" / {model} | {gain} | {ssim} |"
        )
    return "\n".join(lines) + "\n"


# Table III: (column label, preset, training recipe); the eval labels come from the run folder names.
TABLE3_MODELS = [
    ("SRCNN (up-bilinear)", "srcnn_x2", "srcnn_bilinear_x2", "srcnn_bilinear"),
    ("SRCNN (up-bicubic)", "srcnn_x2", "srcnn_bicubic_x2", "srcnn_bicubic"),
    ("m-SRCNN (up-bilinear)", "msrcnn_x2", "srcnn_bilinear_x2", "msrcnn_bilinear"),
    ("m-SRCNN (up-bicubic)", "msrcnn_x2", "srcnn_bicubic_x2", "msrcnn_bicubic"),
]


def set14() -> list[Path]:
    with open(REAL / "MANIFEST.tsv", newline="") as f:
        return [REAL / r["file"] for r in csv.DictReader(f, delimiter="\t")
                if r["role"] == "eval" and r["file"].startswith("benchmark/Set14/")]


def cpu_run(cmd: list[str], cwd: Path, log) -> float:
    """``run``, returning the CPU seconds (user + system) of the command instead of wall time: the
    machine is shared, so wall time says little."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run(cmd, cwd, log)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_table3(work: Path, iters: int, clean: bool) -> str:
    """Train the four Table III models on the dev pages and evaluate them; returns the Markdown."""
    folder = work / ("table3" if clean else "table3_noclean")
    for name, files in (("pages", pages("dev")), ("eval_pages", pages("eval")), ("set14", set14())):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for p in files:
            shutil.copy(p, folder / name / p.name)
    timings: dict[str, float] = {}
    with open(folder / "log.txt", "a") as log:
        run([*DATA, "tile", "pages", "--size", "400"], folder, log)
        hr = "tiles"
        if clean:
            timings["clean"] = cpu_run([*DATA, "clean", "--recipe", "msrcnn_clean"], folder, log)
            hr = "tiles_msrcnn_clean"
        for recipe in ("srcnn_bilinear_x2", "srcnn_bicubic_x2"):
            run([*DATA, "degrade", "--tiles", hr, "--recipe", recipe, "--out", f"lr/{recipe}"], folder, log)
            run([*DATA, "pack", "hdf5", "--hr", hr, "--lr", f"lr/{recipe}", "--out", f"{recipe}.h5"],
                folder, log)
        for _, preset, recipe, run_name in TABLE3_MODELS:
            timings[run_name] = cpu_run([*TRAIN, "--shards", f"{recipe}.h5", "--preset", preset, "--out",
                                         f"runs/{run_name}", "--workers", "0", *budget(iters, iters)],
                                        folder, log)
        models = [f"runs/{run_name}/model.safetensors" for *_, run_name in TABLE3_MODELS]
        for images, out in (("eval_pages", "eval_manga"), ("set14", "eval_set14")):
            protocol = ["--recipe", "bilinear_x{scale}", "--scales", "2,3,4"]
            timings[out] = cpu_run([*TRAIN, "eval", *models, "--images", images, *protocol, "--out", out,
                                    "--device", "cpu"], folder, log)
    hr_note = "cleaned with msrcnn_clean" if clean else "as tiled (no clean-up)"
    lines = [f"Training: {iters} iterations per model (batch 32 of 32 px HR crops, the presets' settings), "
             f"HR {hr_note}; CPU minutes (user + system): "
             + ", ".join(f"{k} {v / 60:.1f}" for k, v in timings.items()) + "."]
    for title, out in (("two eval manga pages", "eval_manga"), ("Set14", "eval_set14")):
        lines += ["", f"{title} (PSNR dB / SSIM on Y):", "", table3_markdown(folder / out / "table.csv")]
    return "\n".join(lines) + "\n"


def table3_markdown(table_csv: Path) -> str:
    """One row per scale, PSNR / SSIM per method, in the column order of the paper's Table III."""
    rows = list(csv.DictReader(open(table_csv)))
    columns = [("Nearest", "nearest"), ("Bilinear", "bilinear"), ("Bicubic", "bicubic"),
               *[(label, run_name) for label, *_, run_name in TABLE3_MODELS]]
    lines = ["| scale | images | " + " | ".join(c for c, _ in columns) + " |",
             "|---|---:|" + "---:|" * len(columns)]
    for r in rows:
        cells = [f"{float(r[f'{m} PSNR']):.2f} / {float(r[f'{m} SSIM']):.4f}" for _, m in columns]
        lines.append(f"| {r['scale']} | {r['images']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", choices=list(SYSTEMS), help="Run only these systems.")
    parser.add_argument("--work", type=Path, default=Path("/tmp/srkit_published_systems"))
    parser.add_argument("--scale-iters", type=float, default=1.0, help="Multiply every iteration budget.")
    parser.add_argument("--table3", action="store_true", help="Reproduce the m-SRCNN paper's Table III.")
    parser.add_argument("--table3-iters", type=int, default=1000, help="Iterations per Table III model.")
    parser.add_argument("--no-clean", action="store_true", help="Table III without the HR clean-up.")
    args = parser.parse_args()
    if not (REAL / "MANIFEST.tsv").exists():
        raise SystemExit("needs ../shared/data/real (the real manga pages)")
    if args.table3:
        text = run_table3(args.work, args.table3_iters, clean=not args.no_clean)
        args.work.mkdir(parents=True, exist_ok=True)
        (args.work / ("table3.md" if not args.no_clean else "table3_noclean.md")).write_text(text)
        print(text)
        return
    results = []
    for name in args.only or list(SYSTEMS):
        print(f"running {name} ...", flush=True)
        results.append(run_system(name, SYSTEMS[name], args.work, args.scale_iters))
        print(markdown(results[-1:]), flush=True)
    table = markdown(results)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "published_systems.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
