"""``sr-train eval``: models against nearest, bilinear and bicubic (the command; the work is in
``evaluate``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from srkit.core.console import (
    EXIT_CODES_HELP,
    EXIT_SKIPPED,
    StageError,
    UsageError,
    console,
    friendly_errors,
    make_progress,
)

EVAL_HELP = (
    "Evaluate models against nearest, bilinear and bicubic upscaling.\n\n"
    "Each HR image is degraded with --recipe (logged in OUT/degradations.jsonl; `sr-data replay OUT` "
    "checks it), upscaled by every method, and scored with PSNR and SSIM on the Y channel with a "
    "border of `scale` pixels shaved, and with the manga scores (tone_kept, moire, line_precision, "
    "line_recall, line_f1, paper_noise; see sr-train score). Prints the tables of means (scales as "
    "rows, methods as columns, the form of the m-SRCNN paper's Table III) and writes table.csv, "
    "table.md, scores.csv and scores.md to --out; --save-images also writes, per image, crops of the "
    "windows where the (first) model keeps the least screentone and the fewest lines. A recipe "
    "name may contain {scale} (e.g. bilinear_x{scale}) to evaluate several --scales; every scale's "
    "recipe is checked before any work.\n\n"
    "A model of factor N runs on the LR bicubic-upscaled to HR / N: scale-1 (SRCNN-family) models "
    "run at any scale by bicubic pre-upsampling, an x2 model at 3x and 4x on the LR upscaled to half "
    "the HR size. A model cannot run below its own factor (exit 2). Several MODELs give one column "
    "each, named after their run folders. Images too small to score are skipped with their reason "
    "(exit 1); an image whose PSNR is undefined (an output identical to the HR, e.g. a blank page) is "
    "left out of the means and counted. Use images the model never saw in training.\n\n"
    + EXIT_CODES_HELP
)


def register(app: typer.Typer) -> None:
    """Add ``eval`` to the ``sr-train`` app."""
    app.command("eval", help=EVAL_HELP)(eval_command)


@friendly_errors
def eval_command(
    models: list[Path] = typer.Argument(None, metavar="MODEL",
                                        help="Model files; none to tabulate the baselines only."),
    images: Path = typer.Option(..., "--images", help="Folder (or file) of HR images."),
    recipe: str = typer.Option("bicubic_x4", "--recipe", help="Recipe name or file; may contain {scale}."),
    scales: str = typer.Option(None, "--scales", help="Comma-separated scales, e.g. 2,3,4."),
    out: Path = typer.Option(Path("eval"), "--out", help="Output folder for the tables and images."),
    seed: int = typer.Option(None, "--seed", help="Override the recipe's seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    tile: int = typer.Option(512, "--tile", help="Tile size for the models (0: whole image)."),
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
    try:
        dev = inference_device(device)
    except ValueError as err:
        raise UsageError(str(err)) from None
    root = images if images.is_dir() else images.parent
    total = len(files) * (len(scale_list) if scale_list else 1)
    try:
        with make_progress("images") as progress:
            task = progress.add_task("eval", total=total)
            result = evaluate(models or None, files, recipe, scale_list, out, seed, str(dev), tile,
                              save_images, root=root, progress=lambda: progress.advance(task))
    except ModelFileError as err:
        raise UsageError(str(err)) from None
    except MemoryError:
        raise StageError("not enough memory for the evaluation: use a smaller --tile") from None
    if result.evaluated:
        console.print(result.rich_table(f"recipe {recipe}, {len(files)} images"))
        console.print(result.manga.rich_table("means of the manga scores (and PSNR / SSIM), see the README"))
    for line in result.skipped:
        console.print(f"[red]skipped[/red] {escape(line)}")
    for line in result.excluded_lines:
        console.print(f"[yellow]left out of the means[/yellow] {escape(line)}")
    if result.written:
        console.print(escape(f"wrote {', '.join(str(p) for p in result.written)}"))
    else:
        console.print("nothing could be evaluated: no table written")
    if result.skipped or result.excluded_lines or not result.evaluated:
        raise typer.Exit(EXIT_SKIPPED)
