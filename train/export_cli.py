"""``sr-train export``: a model as ONNX, safetensors or pth (the command; the work is in ``export``)."""

from __future__ import annotations

from pathlib import Path

import typer

from srkit.core.console import EXIT_CODES_HELP, StageError, UsageError, console, friendly_errors

EXPORT_HELP = (
    "Export a model for other runtimes: ONNX (dynamic batch, height and width; checked with onnxruntime "
    "against torch on test tiles, the max difference printed, the file removed above 1e-4 in fp32), "
    "safetensors or pth (plain state dicts that chaiNNer / ComfyUI load for RRDBNet, Compact, SPAN and "
    "RealPLKSR). A .json beside the file says the architecture, scale, channels and value range "
    "(NCHW, [0, 1]). ONNX needs the extra: pip install -e \".[onnx]\".\n\n"
    "Example: sr-train export runs/cpu_x4/model.safetensors --format onnx\n\n" + EXIT_CODES_HELP
)


def register(app: typer.Typer) -> None:
    """Add ``export`` to the ``sr-train`` app."""
    app.command("export", help=EXPORT_HELP)(export_command)


@friendly_errors
def export_command(
    model: Path = typer.Argument(..., help="Model file (.safetensors or .pth; ours or a community one)."),
    fmt: str = typer.Option("onnx", "--format", help="onnx, safetensors or pth."),
    out: Path = typer.Option(None, "--out", help="Output file (default: beside MODEL, model.onnx etc.)."),
    half: bool = typer.Option(False, "--half", help="fp16 weights (and fp16 input for ONNX)."),
    opset: int = typer.Option(None, "--opset", help="ONNX opset (default 17)."),
) -> None:
    from srkit.train.export import ExportError, export_file
    from srkit.train.inference import ModelFileError
    from srkit.train.onnx_export import OnnxUnavailable

    try:
        path, diff = export_file(model, fmt, out, half, opset)
    except (ModelFileError, OnnxUnavailable) as err:
        raise UsageError(str(err)) from None
    except ExportError as err:
        raise StageError(str(err)) from None
    check = "" if diff is None else f"; onnxruntime vs torch on the check tiles: max |diff| {diff:.2e}"
    console.print(f"wrote {path} and {path.with_suffix('.json')}{check}", soft_wrap=True)
