"""``sr-train upscale``: upscale images with a trained model (the command; the work is in ``upscale``)."""

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

UPSCALE_HELP = (
    "Upscale images (whole pages of any size) with a trained model.\n\n"
    "MODEL is a model.safetensors / model.pth our trainer exported, any RRDBNet (ESRGAN, Real-ESRGAN), "
    "SRVGGNetCompact, SPAN or RealPLKSR file in the layouts chaiNNer/spandrel read, or a model.onnx "
    "`sr-train export` wrote (run by onnxruntime). Pages are cut into "
    "overlapping tiles and reassembled without seams; gray pages stay gray; alpha is kept. Outputs are "
    "PNG files named after the inputs in --out.\n\n" + EXIT_CODES_HELP
)


def register(app: typer.Typer) -> None:
    """Add ``upscale`` to the ``sr-train`` app."""
    app.command("upscale", help=UPSCALE_HELP)(upscale_command)


@friendly_errors
def upscale_command(
    model: Path = typer.Argument(..., help="Model file (.safetensors or .pth)."),
    inputs: list[Path] = typer.Argument(..., help="Image files or folders (searched recursively)."),
    out: Path = typer.Option(Path("upscaled"), "--out", help="Output folder."),
    tile: int = typer.Option(512, "--tile", help="Tile size in input pixels (0: whole image at once)."),
    overlap: int = typer.Option(32, "--overlap", help="Context pixels around each tile."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    backend: str = typer.Option("auto", "--backend", help="auto (onnxruntime for .onnx files, else torch), "
                                "torch or onnxruntime."),
    half: bool = typer.Option(False, "--half", help="fp16 inference (CUDA only)."),
    denoise: str = typer.Option(None, "--denoise", help="Post-process: nlmeans or bilateral."),
) -> None:
    import torch

    from srkit.core.images import ImageError
    from srkit.train.upscale import (
        ModelFileError,
        inference_device,
        list_inputs,
        load_model,
        output_paths,
        upscale_file,
    )

    if denoise not in (None, "nlmeans", "bilateral"):
        raise UsageError(f"--denoise must be nlmeans or bilateral, not {denoise!r}")
    if tile < 0 or overlap < 0:
        raise UsageError("--tile and --overlap must be >= 0")
    if backend not in ("auto", "torch", "onnxruntime"):
        raise UsageError(f"--backend must be auto, torch or onnxruntime, not {backend!r}")
    if backend != "auto" and (backend == "onnxruntime") != (model.suffix == ".onnx"):
        wants = ".onnx files" if backend == "onnxruntime" else "torch models"
        raise UsageError(f"--backend {backend} runs {wants}; {model} is not one (sr-train export MODEL "
                         "--format onnx makes an .onnx file)")
    try:
        dev = inference_device(device)
    except ValueError as err:
        raise UsageError(str(err)) from None
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
