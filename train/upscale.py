"""Upscale whole pages with a trained model: safe model loading, seamless tiling, channel adaptation.

Tiling: the LR image is cut into a grid of ``tile`` x ``tile`` cores; each core is run with
``overlap`` pixels of real image context on every side (clamped at the image border) and only the
core's upscaled pixels are kept. When the overlap covers the network's receptive field the result is
the untiled result (to float rounding); for deep networks a 32 px overlap leaves differences far
below one gray level. No feathering is needed, so no seams and no blurred tile borders.

Channels: a 1-channel model on an RGB page runs on the page itself when the page is gray in content,
else on the luma (Y of YCbCr) with the chroma upscaled bicubically (the classic SRCNN treatment).
A 3-channel model on a gray page runs on the page replicated to RGB and returns its luma, so gray
pages stay gray. Alpha is upscaled with Pillow bicubic and re-attached.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps

from srkit.core.images import ImageError, is_gray_content, read_image, to_gray
from srkit.train.metrics import bicubic_upscale, round_to_uint8


class ModelFileError(Exception):
    """A model file that cannot be loaded; the message names the file and the problem."""


@dataclass
class LoadedModel:
    model: torch.nn.Module
    config: dict[str, Any]
    path: Path

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
        return _load_onnx(path, str(device))
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
    model.eval().to(device)
    return LoadedModel(model=model, config=dict(config), path=path)


def _load_onnx(path: Path, device: str) -> LoadedModel:
    from srkit.train.onnx_export import OnnxModel, OnnxUnavailable

    config = _config_beside(path)
    if not path.is_file() or config is None:
        raise ModelFileError(f"{path}: an ONNX model needs the file and the .json sr-train export writes "
                             "beside it (scale and channels)")
    try:
        return LoadedModel(model=OnnxModel(path, device), config=config, path=path)
    except OnnxUnavailable as err:
        raise ModelFileError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own error types
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise ModelFileError(f"{path}: onnxruntime cannot load it ({first})") from None


def _run(model: torch.nn.Module, lr: np.ndarray, device: torch.device, half: bool) -> np.ndarray:
    """Run the model on one (H, W, C) uint8 tile; returns float32 (H*s, W*s, C) in [0, 1]."""
    x = torch.from_numpy(np.array(lr.transpose(2, 0, 1))).unsqueeze(0).to(device)  # own, writable copy
    x = x.float().div_(255.0)
    if half:
        x = x.half()
    with torch.inference_mode():
        y = model(x).float().clamp(0, 1)
    return y.squeeze(0).permute(1, 2, 0).cpu().numpy()


def upscale_array(
    loaded: LoadedModel,
    lr: np.ndarray,
    tile: int = 512,
    overlap: int = 32,
    device: str | torch.device = "cpu",
    half: bool = False,
) -> np.ndarray:
    """Upscale an (H, W, C) uint8 array whose C equals the model's input channels.

    ``tile=0`` runs the whole image at once. Returns uint8 (H*s, W*s, C_out).
    """
    device = torch.device(device)
    h, w = lr.shape[:2]
    s = loaded.scale
    if tile <= 0 or (h <= tile and w <= tile):
        out = _run(loaded.model, lr, device, half)
        return round_to_uint8(out)
    out: np.ndarray | None = None
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            cy0, cx0 = max(0, y0 - overlap), max(0, x0 - overlap)
            cy1, cx1 = min(h, y1 + overlap), min(w, x1 + overlap)
            sr = _run(loaded.model, lr[cy0:cy1, cx0:cx1], device, half)
            if out is None:
                out = np.empty((h * s, w * s, sr.shape[2]), np.float32)
            oy, ox = (y0 - cy0) * s, (x0 - cx0) * s
            out[y0 * s:y1 * s, x0 * s:x1 * s] = sr[oy:oy + (y1 - y0) * s, ox:ox + (x1 - x0) * s]
    assert out is not None
    return round_to_uint8(out)


def adapt_and_upscale(
    loaded: LoadedModel,
    img: np.ndarray,
    tile: int = 512,
    overlap: int = 32,
    device: str | torch.device = "cpu",
    half: bool = False,
    pre_upsample: bool = True,
) -> np.ndarray:
    """Upscale an image in the in-memory convention, adapting its channels to the model's.

    Scale-1 models of the SRCNN family first get the image bicubic-upscaled by the factor they were
    trained for (``pre_upsample`` in model.json); pass ``pre_upsample=False`` for an input that was
    already upscaled (the LR of a down-then-up recipe).
    """
    if pre_upsample and loaded.pre_upsample > 1:
        h, w = img.shape[:2]
        img = bicubic_upscale(img, (w * loaded.pre_upsample, h * loaded.pre_upsample))

    def run(x: np.ndarray) -> np.ndarray:
        return upscale_array(loaded, x, tile, overlap, device, half)

    def run_gray(gray: np.ndarray) -> np.ndarray:
        return run(gray[:, :, None])[:, :, 0]

    want = loaded.in_channels
    if img.ndim == 2:
        return run_gray(img) if want == 1 else to_gray(run(np.repeat(img[:, :, None], 3, axis=2)))
    if want == 3:
        return run(img)
    if is_gray_content(img):
        return run_gray(to_gray(img))
    ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
    y = run_gray(ycc[:, :, 0])
    chroma = bicubic_upscale(ycc[:, :, 1:], (y.shape[1], y.shape[0]))
    return cv2.cvtColor(np.dstack([y, chroma]), cv2.COLOR_YCrCb2RGB)


def read_alpha(path: str | os.PathLike) -> np.ndarray | None:
    """The alpha channel of an image file (EXIF-oriented), or None when it is fully opaque or absent."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode not in ("RGBA", "LA", "PA", "La", "RGBa") and not (
            im.mode == "P" and "transparency" in im.info
        ):
            return None
        alpha = np.asarray(im.convert("RGBA"))[:, :, 3]
    return None if int(alpha.min()) == 255 else np.ascontiguousarray(alpha)


def denoise(img: np.ndarray, method: str) -> np.ndarray:
    """Optional post-processing, as in the m-SRCNN paper (Intaniyom, Thananporn and Woraratpanya,
    "Enhancement of Anime Imaging Enlargement using Modified Super-Resolution CNN"): OpenCV fast
    non-local means or a bilateral filter."""
    if method == "nlmeans":
        if img.ndim == 2:
            return cv2.fastNlMeansDenoising(img, None, h=5, templateWindowSize=7, searchWindowSize=21)
        return cv2.fastNlMeansDenoisingColored(img, None, 5, 5, 7, 21)
    if method == "bilateral":
        return cv2.bilateralFilter(img, d=5, sigmaColor=25, sigmaSpace=5)
    raise ValueError(f"--denoise must be nlmeans or bilateral, not {method!r}")


def upscale_file(
    loaded: LoadedModel,
    src: Path,
    dst: Path,
    tile: int = 512,
    overlap: int = 32,
    device: str | torch.device = "cpu",
    half: bool = False,
    denoise_method: str | None = None,
    max_pixels: int | None = None,
) -> tuple[int, int]:
    """Upscale one image file into ``dst`` (PNG, written atomically). Returns the output (w, h)."""
    from srkit.core.images import DEFAULT_MAX_PIXELS, write_png

    img, info = read_image(src, color="auto", max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    alpha = read_alpha(src) if info.alpha_composited else None
    out = adapt_and_upscale(loaded, img, tile, overlap, device, half)
    if denoise_method:
        out = denoise(out, denoise_method)
    if alpha is not None:
        a = bicubic_upscale(alpha, (out.shape[1], out.shape[0]))
        out = np.dstack([out if out.ndim == 3 else np.repeat(out[:, :, None], 3, 2), a])
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_png(dst, out, level=3)
    return out.shape[1], out.shape[0]


def list_inputs(inputs: list[Path]) -> list[tuple[Path, Path]]:
    """Image files among ``inputs`` (folders searched recursively, no symlink loops), each with its
    path relative to the input it was found under; sorted, without duplicates."""
    from srkit.core.images import SUPPORTED_SUFFIXES

    found: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            for root, dirs, files in os.walk(item, followlinks=False):
                dirs.sort()
                found += [(Path(root) / f, (Path(root) / f).relative_to(item)) for f in sorted(files)
                          if Path(f).suffix.lower() in SUPPORTED_SUFFIXES]
        else:
            found.append((item, Path(item.name)))
    seen: set[Path] = set()
    unique = []
    for path, rel in found:
        if path not in seen:
            seen.add(path)
            unique.append((path, rel))
    return unique


def output_paths(found: list[tuple[Path, Path]], out: Path) -> list[Path]:
    """One PNG per input under ``out``, mirroring the input folders; ``a.png`` and ``a.jpg`` in one
    folder (or two inputs with one name) keep their suffix in the name so nothing is overwritten."""
    plain = [rel.with_suffix(".png") for _, rel in found]
    counts: dict[Path, int] = {}
    for p in plain:
        counts[p] = counts.get(p, 0) + 1
    targets = [out / (p if counts[p] == 1 else rel.with_name(rel.name + ".png"))
               for p, (_, rel) in zip(plain, found, strict=True)]
    clashes = {t for t in targets if targets.count(t) > 1}
    if clashes:
        raise ValueError(f"several inputs would be written to {sorted(clashes)[0]}: upscale them separately "
                         "or into different --out folders")
    return targets


__all__ = [
    "ImageError",
    "LoadedModel",
    "ModelFileError",
    "adapt_and_upscale",
    "denoise",
    "inference_device",
    "list_inputs",
    "output_paths",
    "load_model",
    "read_state_dict",
    "upscale_array",
    "upscale_file",
]
