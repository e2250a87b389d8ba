"""``sr-data demo``: the whole pipeline on procedural manga pages, before you own any data.

Synthesises seeded manga-like pages (``srkit.demo.pages``), then runs, in one folder, the same
functions the commands run: tile -> degrade (``rawkuma_like``) -> pack (LMDB) -> train (preset
``smoke``) -> eval on held-out pages the model never saw. Every stage is resumable, so a rerun only
finishes what is missing. It drives every stage, so it sits above all of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srkit.core.workspace import LMDB_STORE

RECIPE = "rawkuma_like"
PRESET = "smoke"
# What to train on your own pages next, best first: a GPU takes the documented path to a real model;
# a CPU gets the first preset here that exists and finishes in minutes (smoke is always shipped).
GPU_PRESETS = ("compact_x4",)
CPU_PRESETS = ("cpu_x4", "smoke")


def advised_preset(has_gpu: bool, presets: list[str]) -> tuple[str, str]:
    """(preset, why) to advise after the demo, for this machine and the presets installed."""
    if has_gpu:
        for name in GPU_PRESETS:
            if name in presets:
                return name, "the documented path to a real model, on your GPU"
    for name in CPU_PRESETS:
        if name in presets:
            why = "checks your pages end to end in minutes on a CPU" if name == "smoke" else \
                "sized to finish on a CPU"
            return name, f"{why}; compact_x4 and the larger presets need a GPU (days on a CPU)"
    return PRESET, "the demo's preset"


@dataclass
class DemoSettings:
    pages: int = 6
    heldout: int = 2
    page_height: int = 1400
    page_width: int = 990
    tile_size: int = 256
    seed: int = 0
    jobs: int | None = None
    iters: int | None = None  # None: the preset's


@dataclass
class DemoResult:
    out: Path
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, what it made)
    table: Any = None
    model_psnr: float | None = None
    bicubic_psnr: float | None = None
    seconds: float = 0.0


def run_demo(out: str | os.PathLike = "demo", settings: DemoSettings | None = None,
             report: Callable[[str, str], None] | None = None) -> DemoResult:
    """Run the demo in ``out``; ``report(step, message)`` is called as each step finishes."""
    from srkit.degrade.run import degrade_tiles
    from srkit.demo.pages import write_manga_pages
    from srkit.shards.pack import pack_store
    from srkit.tiling.run import TileOptions, tile_pages
    from srkit.train.config import resolve
    from srkit.train.evaluate import evaluate
    from srkit.train.loop import train

    s = settings or DemoSettings()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out=out)
    start = time.perf_counter()

    def done(step: str, message: str) -> None:
        result.steps.append((step, message))
        if report:
            report(step, message)

    pages = write_manga_pages(out / "pages", s.pages, s.page_height, s.page_width, seed=s.seed)
    heldout = write_manga_pages(out / "heldout", s.heldout, s.page_height, s.page_width, seed=s.seed + 1)
    done("pages", f"{len(pages)} training pages in {out / 'pages'}, {len(heldout)} held-out pages in "
                  f"{out / 'heldout'} ({s.page_width} x {s.page_height}, gray)")

    tiles = tile_pages([out / "pages"], out / "tiles", TileOptions(size=s.tile_size, jobs=s.jobs))
    reasons = ", ".join(f"{v} {k}" for k, v in sorted(tiles.rejected.items()) if v) or "none"
    done("tile", f"{tiles.tiles_kept} tiles of {s.tile_size} px in {out / 'tiles'} (rejected: {reasons})")

    lr_dir = out / "lr" / RECIPE
    deg = degrade_tiles(out / "tiles", RECIPE, lr_dir, jobs=s.jobs)
    done("degrade", f"{deg.made + deg.already_done} LR tiles in {lr_dir} with recipe {RECIPE} "
                    f"(plans in {lr_dir / 'degradations.jsonl'})")

    store = out / LMDB_STORE
    packed = pack_store(out / "tiles", lr_dir, store, "lmdb", jobs=s.jobs)
    done("pack", f"{packed['samples']} pairs in {store} ({packed['train']} train, "
                 f"{packed['val']} validation, {packed['file_bytes'] / 1e6:.1f} MB)")

    run_dir = out / "runs" / PRESET
    model = run_dir / "model.safetensors"
    if model.exists():
        done("train", f"already trained: {model}")
    else:
        overrides: dict[str, Any] = {"train": {"out": str(run_dir), "resume": "auto"}}
        if s.iters:
            overrides["train"]["iters"] = s.iters
        cfg = resolve(PRESET, overrides=overrides)
        run = train(cfg, store, quiet=True)
        model = run.model_path or model
        done("train", f"preset {PRESET}: {run.iterations} iterations, validation PSNR {run.last_psnr:.2f} dB "
                      f"vs bicubic {run.bicubic_psnr:.2f} dB; model {model}")

    table = evaluate(model, heldout, RECIPE, out_dir=out / "eval", root=out / "heldout", save_images=True)
    result.table = table
    scale = table.scales[0]
    model_scores, bicubic_scores = table.mean(scale, "model"), table.mean(scale, "bicubic")
    result.model_psnr = model_scores[0] if model_scores else None
    result.bicubic_psnr = bicubic_scores[0] if bicubic_scores else None
    done("eval", f"held-out pages: model {result.model_psnr:.2f} dB vs bicubic {result.bicubic_psnr:.2f} dB "
                 f"Y-PSNR (table in {out / 'eval' / 'table.md'}, crops in {out / 'eval' / 'images'})")
    result.seconds = time.perf_counter() - start
    return result
