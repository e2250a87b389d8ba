"""``sr-data demo``: the command over ``srkit.demo.pipeline.run_demo``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from srkit.core.console import EXIT_CODES_HELP, EXIT_FAILED, console, friendly_errors


def register(app: typer.Typer) -> None:
    app.command("demo", help=DEMO_HELP)(demo_command)


DEMO_HELP = (
    "Run the whole pipeline on procedural manga pages: no data needed.\n\n"
    "Writes seeded synthetic pages, then tiles them, degrades the tiles with rawkuma_like, packs an "
    "LMDB store, trains the smoke preset (a tiny model, about a minute on a CPU) and evaluates it "
    "against bicubic on held-out pages. Rerunning finishes what is missing.\n\n" + EXIT_CODES_HELP
)


@friendly_errors
def demo_command(
    out: Path = typer.Option(Path("demo"), "--out", help="Folder for everything the demo makes."),
    pages: int = typer.Option(6, "--pages", help="Number of synthetic training pages."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic pages."),
    iters: int = typer.Option(None, "--iters", help="Training iterations (default: the smoke preset's)."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Parallel workers for tile, degrade and pack; 0 = all "
                             "cores."),
) -> None:
    import torch

    from srkit.demo.pipeline import DemoSettings, advised_preset, run_demo
    from srkit.train.config import preset_names

    def report(step: str, message: str) -> None:
        console.print(f"[bold green]{step:>8}[/bold green]  {message}")

    result = run_demo(out, DemoSettings(pages=pages, seed=seed, iters=iters, jobs=jobs or None), report)
    console.print()
    console.print(result.table.rich_table("held-out pages, recipe rawkuma_like"))
    preset, why = advised_preset(torch.cuda.is_available(), preset_names())
    console.print(f"done in {result.seconds:.0f} s. Next, on your own pages:")
    for line in (
        "sr-data tile PAGES/ --size 400",
        "sr-data degrade --recipe rawkuma_like",
        "sr-data pack lmdb",
        f"sr-train --shards data.lmdb --preset {preset}    # {why}",
        f"sr-train upscale runs/{preset}/model.safetensors PAGE.png",
    ):
        console.print(f"  {escape(line)}", soft_wrap=True)
    if result.model_psnr is None or result.bicubic_psnr is None or result.model_psnr <= result.bicubic_psnr:
        console.print("[red]the demo model did not beat bicubic on the held-out pages[/red]")
        raise typer.Exit(EXIT_FAILED)
