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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="*", choices=list(SYSTEMS), help="Run only these systems.")
    parser.add_argument("--work", type=Path, default=Path("/tmp/srkit_published_systems"))
    parser.add_argument("--scale-iters", type=float, default=1.0, help="Multiply every iteration budget.")
    args = parser.parse_args()
    if not (REAL / "MANIFEST.tsv").exists():
        raise SystemExit("needs ../shared/data/real (the real manga pages)")
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
