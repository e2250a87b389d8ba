"""The model files: a run's ``model.safetensors``, ``model.pth`` and ``model.json``, and ``sr-train
export``'s conversions (ONNX, safetensors or pth, fp32 or fp16).

Both weight files hold the same plain state dict of contiguous CPU tensors (no wrapper, nothing
pickled but tensors), so spandrel loads RRDBNet, Compact, SPAN and RealPLKSR from either;
``model.json`` is the ``arch_config`` our loader (``train.models.model_from_state_dict``) rebuilds any
architecture from, with the tensors a runtime feeds and gets (NCHW, values in [0, 1]).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srkit.core.files import atomic_write_bytes, atomic_write_text
from srkit.train.checkpoint import torch_bytes

FORMATS = ("onnx", "safetensors", "pth")
# What every exported model.json says besides the architecture: the tensors a runtime feeds and gets.
IO_CONVENTION = {"layout": "NCHW", "value_range": [0.0, 1.0]}


def export_model(model: nn.Module, out_dir: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the three model files into ``out_dir``; returns the ``.safetensors`` path."""
    from safetensors.torch import save

    from srkit.train.models import export_state_dict

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = export_state_dict(model)
    config = {**model.arch_config, **IO_CONVENTION, **(extra or {})}
    target = out / "model.safetensors"
    atomic_write_bytes(target, save(state, metadata={"arch_config": json.dumps(config, sort_keys=True)}))
    atomic_write_bytes(out / "model.pth", torch_bytes(state))
    atomic_write_text(out / "model.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    return target


def load_exported(path: str | Path) -> nn.Module:
    """Rebuild an exported model from its weights file and the ``model.json`` beside it."""
    from safetensors.torch import load_file

    from srkit.train.models import model_from_state_dict

    path = Path(path)
    state = load_file(str(path)) if path.suffix == ".safetensors" else torch.load(
        path, map_location="cpu", weights_only=True)
    config_file = path.parent / "model.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else None
    return model_from_state_dict(state, config).eval()



class ExportError(ValueError):
    """An export that cannot be made or that failed its check; the message says which and why."""


def export_file(model_path: str | Path, fmt: str, out: str | Path | None = None, half: bool = False,
                opset: int | None = None) -> tuple[Path, float | None]:
    """Export the model at ``model_path`` (ours or a community file spandrel's layouts describe) as
    ``fmt`` (onnx, safetensors or pth), with the ``.json`` beside it; returns the file and, for ONNX,
    the max |onnxruntime - torch| on the check tiles (the file is removed when it is over the
    tolerance). Default output: beside the model, ``model.onnx`` (``model_fp16.onnx`` with ``half``)."""
    from safetensors.torch import save

    from srkit.train.inference import load_model
    from srkit.train.models import export_state_dict
    from srkit.train.onnx_export import (
        DEFAULT_OPSET,
        FP16_TOLERANCE,
        FP32_TOLERANCE,
        compare_with_torch,
        export_onnx,
    )

    if fmt not in FORMATS:
        raise ExportError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    source = Path(model_path)
    loaded = load_model(source)
    target = Path(out) if out else source.with_name(f"{source.stem}{'_fp16' if half else ''}.{fmt}")
    if target.resolve() == source.resolve():
        raise ExportError(f"{target} is the model being exported: pass --out with another name")
    target.parent.mkdir(parents=True, exist_ok=True)
    info = {**loaded.config, **IO_CONVENTION, "dtype": "float16" if half else "float32"}
    diff = None
    if fmt == "onnx":
        export_onnx(loaded.model, target, loaded.in_channels, opset or DEFAULT_OPSET, half)
        diff = compare_with_torch(loaded.model, target, loaded.in_channels, half)
        tolerance = FP16_TOLERANCE if half else FP32_TOLERANCE
        if diff > tolerance:
            target.unlink()
            raise ExportError(f"{target}: onnxruntime differs from torch by {diff:.2e} (over {tolerance:g}); "
                              "removed. Try another --opset")
    else:
        state = export_state_dict(loaded.model)
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        data = save(state, metadata={"arch_config": json.dumps(info, sort_keys=True)}) \
            if fmt == "safetensors" else torch_bytes(state)
        atomic_write_bytes(target, data)
    atomic_write_text(target.with_suffix(".json"), json.dumps(info, indent=2, sort_keys=True) + "\n")
    return target, diff
