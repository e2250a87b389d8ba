"""``sr-train upscale`` and ``sr-train eval``: use and evaluate a trained model."""

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


def register(app: typer.Typer) -> None:
    """Add the upscale and eval commands to the ``sr-train`` app."""
    app.command("upscale", help=UPSCALE_HELP)(upscale_command)
    app.command("eval", help=EVAL_HELP)(eval_command)


UPSCALE_HELP = (
    "Upscale images (whole pages of any size) with a trained model.\n\n"
    "MODEL is a model.safetensors / model.pth our trainer exported, or any RRDBNet (ESRGAN, "
    "Real-ESRGAN) or SRVGGNetCompact file in the layouts chaiNNer/spandrel read. Pages are cut into "
    "overlapping tiles and reassembled without seams; gray pages stay gray; alpha is kept. Outputs are "
    "PNG files named after the inputs in --out.\n\n" + EXIT_CODES_HELP
)


@friendly_errors
def upscale_command(
    model: Path = typer.Argument(..., help="Model file (.safetensors or .pth)."),
    inputs: list[Path] = typer.Argument(..., help="Image files or folders (searched recursively)."),
    out: Path = typer.Option(Path("upscaled"), "--out", help="Output folder."),
    tile: int = typer.Option(512, "--tile", help="Tile size in input pixels (0: whole image at once)."),
    overlap: int = typer.Option(32, "--overlap", help="Context pixels around each tile."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    half: bool = typer.Option(False, "--half", help="fp16 inference (CUDA only)."),
    denoise: str = typer.Option(None, "--denoise", help="Post-process: nlmeans or bilateral."),
) -> None:
    import torch

    from srkit.core.images import ImageError
    from srkit.train.upscale import ModelFileError, list_inputs, load_model, output_paths, upscale_file

    if denoise not in (None, "nlmeans", "bilateral"):
        raise UsageError(f"--denoise must be nlmeans or bilateral, not {denoise!r}")
    if tile < 0 or overlap < 0:
        raise UsageError("--tile and --overlap must be >= 0")
    dev = _device(device)
    if half and dev.type != "cuda":
        console.print("[yellow]note:[/yellow] --half needs CUDA; running in fp32 on the CPU")
        half = False
    missing = [p for p in inputs if not p.exists()]
    if missing:
        raise UsageError(f"input not found: {missing[0]}")
    found = list_inputs(inputs)
    if not found:
        raise UsageError("no image files found in the inputs (PNG, JPEG, WebP, TIFF, BMP)")
    try:
        targets = output_paths(found, out)
    except ValueError as err:
        raise UsageError(str(err)) from None
    files = [path for path, _ in found]
    try:
        loaded = load_model(model, dev)
    except ModelFileError as err:
        raise UsageError(str(err)) from None
    if half:
        loaded.model.half()
    console.print(f"model {model} ({loaded.config.get('arch')}, x{loaded.scale}, "
                  f"{loaded.in_channels}-channel) on {dev}")
    errors: list[str] = []
    out.mkdir(parents=True, exist_ok=True)
    with make_progress("images") as progress, torch.inference_mode():
        task = progress.add_task("upscale", total=len(files))
        for src, dst in zip(files, targets, strict=True):
            try:
                w, h = upscale_file(loaded, src, dst, tile, overlap, dev, half, denoise)
                progress.console.print(f"{src} -> {dst} ({w} x {h})")
            except ImageError as err:
                errors.append(str(err))
                progress.console.print(f"[red]skipped[/red] {err}")
            progress.advance(task)
    console.print(f"upscaled {len(files) - len(errors)} of {len(files)} images into {out}")
    if errors:
        raise typer.Exit(EXIT_SKIPPED)


EVAL_HELP = (
    "Evaluate a model against nearest, bilinear and bicubic upscaling.\n\n"
    "Each HR image is degraded with --recipe (logged in degradations.jsonl, replayable), upscaled "
    "by every method, and scored with PSNR and SSIM on the Y channel with a border of `scale` pixels "
    "shaved. Prints the table of means and writes table.csv and table.md to --out. A recipe name may "
    "contain {scale} (e.g. bicubic_x{scale}) to evaluate several --scales. Use images the model never "
    "saw in training.\n\n" + EXIT_CODES_HELP
)


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
    from srkit.train.upscale import ModelFileError, list_inputs

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
        with make_progress("images") as progress:
            task = progress.add_task("eval", total=total)
            result = evaluate(model, files, recipe, scale_list, out, seed, str(_device(device)), tile,
                              save_images, root=root, progress=lambda: progress.advance(task))
    except ModelFileError as err:
        raise UsageError(str(err)) from None
    except (KeyError, ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    console.print(result.rich_table(f"recipe {recipe}, {len(files)} images"))
    for line in result.skipped:
        console.print(f"[red]skipped[/red] {line}")
    console.print(f"wrote {out / 'table.csv'}, {out / 'table.md'} and {out / 'degradations.jsonl'}")
    if result.skipped:
        raise typer.Exit(EXIT_SKIPPED)


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UsageError(f"--device must be auto, cpu or cuda, not {name!r}")
    return torch.device(name)
