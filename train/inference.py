"""Loading a model file for inference, and the one interface every model runner offers: ``run_tile``.

``load_model`` reads a ``.safetensors`` / ``.pth`` file (never unpickling anything but tensors) and the
``model.json`` our trainer writes beside it, or detects a community architecture from its keys; an
``.onnx`` file ``sr-train export`` wrote runs in onnxruntime behind the same model. The result, a
``LoadedModel``, runs one uint8 tile at a time. Everything that upscales whole images (``tiled``,
``upscale``, ``evaluate``) talks to a model only through ``TileModel``: another backend (TensorRT, or
onnxruntime without torch) is another class with the same few members.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch


class ModelFileError(Exception):
    """A model file that cannot be loaded; the message names the file and the problem."""


class TileModel(Protocol):
    """What the tiler and the evaluation need from a model, whatever runs it."""

    config: dict[str, Any]
    path: Path

    @property
    def scale(self) -> int:
        """The network's own factor (1 for the SRCNN family, which works on an interpolated input)."""

    @property
    def in_channels(self) -> int:
        """1 (gray / luma) or 3 (RGB)."""

    @property
    def pre_upsample(self) -> int:
        """Factor a scale-1 model's input is bicubic-upscaled by before it runs (1: none)."""

    def run_tile(self, tile: np.ndarray) -> np.ndarray:
        """(H, W, in_channels) uint8 -> (H * scale, W * scale, C) float32 in [0, 1]."""


@dataclass
class LoadedModel:
    """A PyTorch model ready for inference on ``device`` (in fp16 when ``half``)."""

    model: torch.nn.Module
    config: dict[str, Any]
    path: Path
    device: torch.device = torch.device("cpu")
    half: bool = False

    @property
    def scale(self) -> int:
        return int(self.config.get("scale", 1))

    @property
    def in_channels(self) -> int:
        return int(self.config.get("in_channels", 3))

    @property
    def pre_upsample(self) -> int:
        """Factor the input is bicubic-upscaled by before a scale-1 model (SRCNN family)."""
        return int(self.config.get("pre_upsample", 1))

    def use_half(self) -> None:
        """Run in fp16 from now on (worth it on CUDA only)."""
        self.model.half()
        self.half = True

    def run_tile(self, tile: np.ndarray) -> np.ndarray:
        """Run the model on one (H, W, C) uint8 tile; returns float32 (H*s, W*s, C) in [0, 1]."""
        x = torch.from_numpy(np.array(tile.transpose(2, 0, 1))).unsqueeze(0).to(self.device)  # own copy
        x = x.float().div_(255.0)
        if self.half:
            x = x.half()
        with torch.inference_mode():
            y = self.model(x).float().clamp_(0, 1)
        return y.squeeze(0).permute(1, 2, 0).cpu().numpy()


def inference_device(name: str) -> torch.device:
    """The device a ``--device`` option names: ``auto`` (CUDA when there is one), ``cpu``, ``cuda[:N]``;
    ValueError for a name that is none of these or a CUDA device this machine lacks."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but no CUDA device is available")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"--device must be auto, cpu or cuda, not {name!r}")
    return torch.device(name)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` or ``.pth`` file, without ever unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: empty file (0 bytes), not a model")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
            raise ModelFileError(f"{path}: not a readable .safetensors file ({err})") from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any failure means "not a safe state dict"
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ModelFileError(
                f"{path}: not a model state dict we can load safely (weights only): {first[:200]}"
            ) from None
    if isinstance(state, dict):
        for wrapper in ("params_ema", "params", "state_dict", "model"):
            if wrapper in state and isinstance(state[wrapper], dict):
                state = state[wrapper]
                break
    if not isinstance(state, dict) or not state or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ModelFileError(f"{path}: holds no state dict of tensors (is it a model file?)")
    return state


def _config_beside(path: Path) -> dict[str, Any] | None:
    for candidate in (path.with_suffix(".json"), path.parent / "model.json"):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text())
            except ValueError as err:
                raise ModelFileError(f"{candidate}: invalid JSON ({err})") from None
    return None


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model our trainer exported, a community RRDBNet / SRVGGNetCompact / SPAN / RealPLKSR file,
    or an ONNX file ``sr-train export`` wrote (run by onnxruntime, with the model.json beside it)."""
    from srkit.train.models import detect_arch_config, model_from_state_dict

    path = Path(path)
    if path.suffix == ".onnx":
        return _load_onnx(path, torch.device(device))
    state = read_state_dict(path)
    config = _config_beside(path)
    if config is None:
        try:
            config = detect_arch_config(state)
        except (ValueError, KeyError) as err:
            raise ModelFileError(
                f"{path}: cannot tell the architecture ({err}); models other than RRDBNet, "
                "SRVGGNetCompact, SPAN and RealPLKSR need the model.json our trainer writes beside them"
            ) from None
    try:
        model = model_from_state_dict(state, config)
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        arch = config.get("arch")
        raise ModelFileError(f"{path}: weights do not fit the architecture {arch}: {err}") from None
    device = torch.device(device)
    model.eval().to(device)
    return LoadedModel(model=model, config=dict(config), path=path, device=device)


def _load_onnx(path: Path, device: torch.device) -> LoadedModel:
    """An ONNX file as a ``LoadedModel``: onnxruntime behind the same tensor-in, tensor-out model."""
    from srkit.train.onnx_export import OnnxModel, OnnxUnavailable

    config = _config_beside(path)
    if not path.is_file() or config is None:
        raise ModelFileError(f"{path}: an ONNX model needs the file and the .json sr-train export writes "
                             "beside it (scale and channels)")
    try:
        model = OnnxModel(path, str(device))
    except OnnxUnavailable as err:
        raise ModelFileError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own error types
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise ModelFileError(f"{path}: onnxruntime cannot load it ({first})") from None
    return LoadedModel(model=model, config=config, path=path, device=device)
