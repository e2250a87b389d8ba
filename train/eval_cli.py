"""``sr-train eval``: a model against nearest, bilinear and bicubic (the command; the work is in
``evaluate``)."""

from __future__ import annotations

from pathlib import Path

import typer

from srkit.core.console import (
    EXIT_CODES_HELP,
    EXIT_SKIPPED,
    UsageError,
    console,
    friendly_errors,
    make_progress,
)

EVAL_HELP = (
    "Evaluate a model against nearest, bilinear and bicubic upscaling.\n\n"
    "Each HR image is degraded with --recipe (logged in degradations.jsonl, replayable), upscaled "
    "by every method, and scored with PSNR and SSIM on the Y channel with a border of `scale` pixels "
    "shaved, and with the manga scores (tone_kept, moire, line_precision, line_recall, line_f1, "
    "paper_noise; see sr-train score). Prints the tables of means and writes table.csv, table.md, "
    "scores.csv and scores.md to --out; --save-images also writes, per image, crops of the windows "
    "where the model keeps the least screentone and the fewest lines. A recipe name may "
    "contain {scale} (e.g. bicubic_x{scale}) to evaluate several --scales. Use images the model never "
    "saw in training.\n\n" + EXIT_CODES_HELP
)


def register(app: typer.Typer) -> None:
    """Add ``eval`` to the ``sr-train`` app."""
    app.command("eval", help=EVAL_HELP)(eval_command)


@friendly_errors
def eval_command(
    model: Path = typer.Argument(None, help="Model file; omit to tabulate the baselines only."),
    images: Path = typer.Option(..., "--images", help="Folder (or file) of HR images."),
    recipe: str = typer.Option("bicubic_x4", "--recipe", help="Recipe name or file; may contain {scale}."),
    scales: str = typer.Option(None, "--scales", help="Comma-separated scales, e.g. 2,3,4."),
    out: Path = typer.Option(Path("eval"), "--out", help="Output folder for the tables and images."),
    seed: int = typer.Option(None, "--seed", help="Override the recipe's seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    tile: int = typer.Option(512, "--tile", help="Tile size for the model (0: whole image)."),
    save_images: bool = typer.Option(False, "--save-images", help="Write side-by-side comparison crops."),
) -> None:
    from srkit.train.evaluate import evaluate
    from srkit.train.inference import ModelFileError, inference_device
    from srkit.train.upscale_paths import list_inputs

    if not images.exists():
        raise UsageError(f"--images {images} not found")
    files = [path for path, _ in list_inputs([images])]
    if not files:
        raise UsageError(f"no image files in {images}")
    try:
        scale_list = [int(s) for s in scales.split(",")] if scales else None
    except ValueError:
        raise UsageError(f"--scales must be comma-separated integers, not {scales!r}") from None
    root = images if images.is_dir() else images.parent
    total = len(files) * (len(scale_list) if scale_list else 1)
    try:
        dev = inference_device(device)
        with make_progress("images") as progress:
            task = progress.add_task("eval", total=total)
            result = evaluate(model, files, recipe, scale_list, out, seed, str(dev), tile,
                              save_images, root=root, progress=lambda: progress.advance(task))
    except ModelFileError as err:
        raise UsageError(str(err)) from None
    except (KeyError, ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    console.print(result.rich_table(f"recipe {recipe}, {len(files)} images"))
    console.print(result.manga.rich_table("means of the manga scores (and PSNR / SSIM), see the README"))
    for line in result.skipped:
        console.print(f"[red]skipped[/red] {line}")
    console.print(f"wrote {out / 'table.csv'}, {out / 'table.md'}, {out / 'scores.csv'}, {out / 'scores.md'} "
                  f"and {out / 'degradations.jsonl'}")
    if result.skipped:
        raise typer.Exit(EXIT_SKIPPED)
