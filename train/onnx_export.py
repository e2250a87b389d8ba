"""ONNX: export a model with dynamic batch, height and width, check it with onnxruntime, and run ONNX
files as models (``sr-train upscale --backend onnxruntime``).

The graph takes float NCHW in [0, 1] at LR size (input ``input``) and returns NCHW at ``scale`` x the
size (output ``output``), the convention of every model here; ``model.json`` beside the file says so.
``onnx`` and ``onnxruntime`` are an optional extra: ``pip install -e ".[onnx]"``.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ONNX_EXTRA = 'ONNX needs the optional packages onnx and onnxruntime: pip install -e ".[onnx]"'
FP32_TOLERANCE = 1e-4   # max |onnxruntime - torch| on the check tile, values in [0, 1]
FP16_TOLERANCE = 1e-2   # half precision keeps about three significant digits
DEFAULT_OPSET = 17      # a recent opset that the converters (NCNN, TensorRT) take


class OnnxUnavailable(RuntimeError):
    """onnx / onnxruntime are not installed."""


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise OnnxUnavailable(ONNX_EXTRA) from None
    return onnxruntime


def check_tile(channels: int, height: int = 64, width: int = 48) -> np.ndarray:
    """A deterministic test tile with edges, gradients and texture: float32 (1, C, H, W) in [0, 1]."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(0)
    planes = [0.5 + 0.35 * np.sin(x / (3 + c)) * np.cos(y / 5) + 0.05 * rng.standard_normal((height, width))
              for c in range(channels)]
    tile = np.clip(np.stack(planes), 0, 1).astype(np.float32)
    tile[:, height // 4: height // 2, width // 4: width // 2] = 0.05  # a flat dark block with sharp edges
    return tile[None]


def export_onnx(model: nn.Module, path: str | Path, in_channels: int, opset: int = DEFAULT_OPSET,
                half: bool = False) -> None:
    """Write ``model`` to ``path`` as ONNX with dynamic batch, height and width."""
    try:
        import onnx  # noqa: F401 - the exporter needs it; say so before it fails deep inside
    except ImportError:
        raise OnnxUnavailable(ONNX_EXTRA) from None
    example = torch.from_numpy(check_tile(in_channels, 32, 40))
    model = copy.deepcopy(model).eval()  # a half export converts the copy, never the caller's model
    if half:
        model, example = model.half(), example.half()
    dynamic = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        # The TorchScript exporter is called legacy, but it is the one that takes any opset (the
        # torch.export one starts at 18 and needs onnxscript); its tracer warnings are about shapes we
        # declare dynamic.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["input"],
                          output_names=["output"], opset_version=opset,
                          dynamic_axes={"input": dynamic, "output": dynamic})


def onnx_session(path: str | Path, device: str = "cpu") -> Any:
    """An onnxruntime session on the CPU (or CUDA when asked and available)."""
    ort = _onnxruntime()
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    return ort.InferenceSession(str(path), providers=providers)


def compare_with_torch(model: nn.Module, path: str | Path, in_channels: int, half: bool = False
                       ) -> float:
    """Max |onnxruntime - torch| over two tiles of different sizes (the sizes are dynamic)."""
    session = onnx_session(path)
    model = model.eval()
    worst = 0.0
    for height, width in ((64, 48), (40, 72)):
        tile = check_tile(in_channels, height, width)
        with torch.no_grad():
            expected = model(torch.from_numpy(tile)).numpy()
        got = session.run(None, {"input": tile.astype(np.float16 if half else np.float32)})[0]
        if got.shape != expected.shape:
            raise ValueError(f"{path}: onnxruntime returned {got.shape} for a {height} x {width} tile, "
                             f"torch {expected.shape}")
        worst = max(worst, float(np.abs(got.astype(np.float32) - expected).max()))
    return worst


class OnnxModel(nn.Module):
    """An ONNX file run by onnxruntime, used where a torch model is: tensor in, tensor out."""

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        super().__init__()
        self.session = onnx_session(path, device)
        self.input_type = np.float16 if "float16" in self.session.get_inputs()[0].type else np.float32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"input": x.detach().cpu().numpy().astype(self.input_type)})[0]
        return torch.from_numpy(out.astype(np.float32)).to(x.device)
