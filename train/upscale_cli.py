"""``sr-train upscale``: upscale images with a trained model (the command; the work is in ``upscale``)."""

from __future__ import annotations

from pathlib import Path

import typer

from srkit.core.console import (
    EXIT_CODES_HELP,
    EXIT_SKIPPED,
    StageError,
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
    "overlapping tiles and reassembled without seams, in about the output's size of memory; gray pages "
    "stay gray; alpha is kept.\n\n"
    "Modes (the m-SRCNN paper's post-processing): --mode enlarge (default) upscales by the model's "
    "factor (a scale-1 SRCNN-family model gets its input bicubic-upscaled first); --mode enhance keeps "
    "the input's size (a scale-1 model runs on the input as it is, a scale-N model's output is "
    "area-averaged back to the input size); --passes 2 runs the pass twice (double enlargement or "
    "double enhancement); --denoise cleans the final result.\n\n"
    "Outputs are PNG files named after the inputs (input folders mirrored) in --out. An output that "
    "would overwrite an input or the model (same path, a symlink or a hard link to it) is refused with "
    "exit 2 before any work: choose another --out. An --out inside an input folder is not searched "
    "for inputs.\n\n" + EXIT_CODES_HELP
)


def register(app: typer.Typer) -> None:
    """Add ``upscale`` to the ``sr-train`` app."""
    app.command("upscale", help=UPSCALE_HELP)(upscale_command)


@friendly_errors
def upscale_command(
    model: Path = typer.Argument(..., help="Model file (.safetensors, .pth or .onnx)."),
    inputs: list[Path] = typer.Argument(..., help="Image files or folders (searched recursively)."),
    out: Path = typer.Option(Path("upscaled"), "--out", help="Output folder."),
    mode: str = typer.Option("enlarge", "--mode", help="enlarge (by the model's factor) or enhance "
                             "(keep the input size)."),
    passes: int = typer.Option(1, "--passes", help="1, or 2 for double enlargement / enhancement."),
    denoise: str = typer.Option(None, "--denoise", help="Post-process the result: nlmeans or bilateral."),
    tile: int = typer.Option(512, "--tile", help="Tile size in input pixels (0: whole image at once)."),
    overlap: int = typer.Option(32, "--overlap", help="Context pixels around each tile."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    backend: str = typer.Option("auto", "--backend", help="auto (onnxruntime for .onnx files, else torch), "
                                "torch or onnxruntime."),
    half: bool = typer.Option(False, "--half", help="fp16 inference (CUDA only)."),
) -> None:
    from srkit.core.images import ImageError
    from srkit.train.inference import ModelFileError, inference_device, load_model
    from srkit.train.upscale import UpscaleOptions, image_size, tiles_needed
    from srkit.train.upscale_paths import OutputClash, check_outputs, list_inputs, output_paths

    if backend not in ("auto", "torch", "onnxruntime"):
        raise UsageError(f"--backend must be auto, torch or onnxruntime, not {backend!r}")
    if backend != "auto" and (backend == "onnxruntime") != (model.suffix == ".onnx"):
        wants = ".onnx files" if backend == "onnxruntime" else "torch models"
        raise UsageError(f"--backend {backend} runs {wants}; {model} is not one (sr-train export MODEL "
                         "--format onnx makes an .onnx file)")
    options = UpscaleOptions(mode=mode, passes=passes, denoise=denoise, tile=tile, overlap=overlap)
    try:
        options.check()
        dev = inference_device(device)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if half and dev.type != "cuda":
        console.print("[yellow]note:[/yellow] --half needs CUDA; running in fp32 on the CPU")
        half = False
    missing = [p for p in inputs if not p.exists()]
    if missing:
        raise UsageError(f"input not found: {missing[0]}")
    found = list_inputs(inputs, skip=out)
    if not found:
        raise UsageError("no image files found in the inputs (PNG, JPEG, WebP, TIFF, BMP)")
    files = [path for path, _ in found]
    try:
        targets = output_paths(found, out)
        check_outputs(targets, [*files, model])
    except (OutputClash, ValueError) as err:
        raise UsageError(str(err)) from None
    try:
        loaded = load_model(model, dev)
    except ModelFileError as err:
        raise UsageError(str(err)) from None
    if half:
        loaded.use_half()
    console.print(f"model {model} ({loaded.config.get('arch')}, x{loaded.scale}, "
                  f"{loaded.in_channels}-channel) on {dev}; {options.mode}, {options.passes} pass(es)"
                  + (f", then {options.denoise}" if options.denoise else ""))
    planned = [tiles_needed(loaded, *image_size(src), options) for src in files]
    errors: list[str] = []
    out.mkdir(parents=True, exist_ok=True)
    with make_progress("tiles") as progress:
        task = progress.add_task("upscale", total=sum(planned))
        done = 0
        for src, dst, n_tiles in zip(files, targets, planned, strict=True):
            try:
                w, h = _upscale_one(loaded, src, dst, options, lambda: progress.advance(task))
                progress.console.print(f"{src} -> {dst} ({w} x {h})")
            except ImageError as err:
                errors.append(str(err))
                progress.console.print(f"[red]skipped[/red] {err}")
            done += n_tiles  # a header that misjudged the size must not leave the bar off
            progress.update(task, completed=done)
    console.print(f"upscaled {len(files) - len(errors)} of {len(files)} images into {out}")
    if errors:
        raise typer.Exit(EXIT_SKIPPED)


def _upscale_one(loaded, src: Path, dst: Path, options, on_tile) -> tuple[int, int]:  # noqa: ANN001
    """One file; running out of memory (numpy's or torch's) becomes one line and exit 3."""
    from srkit.train.tiled import OutOfMemory
    from srkit.train.upscale import upscale_file

    try:
        return upscale_file(loaded, src, dst, options, on_tile=on_tile)
    except OutOfMemory as err:
        raise StageError(f"{src}: {err}: use a machine with more memory, or split the image") from None
    except MemoryError:
        raise StageError(f"{src}: not enough memory to upscale it: try a smaller --tile") from None
    except RuntimeError as err:
        if not any(m in str(err).lower() for m in ("out of memory", "can't allocate memory")):
            raise
        raise StageError(f"{src}: the model ran out of memory on a tile: use a smaller --tile") from None
