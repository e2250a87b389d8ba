"""Checkpoints: atomic saves, keep the last K and the best, and every RNG state for exact resumes.

A checkpoint holds tensors and plain Python values only, so it loads with
``torch.load(weights_only=True)``; RNG states are stored as tensors and lists, never as pickled objects.
"""

from __future__ import annotations

import io
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from srkit.core.files import atomic_write_bytes, remove_stale_temps
from srkit.train.errors import TrainError

CKPT_PATTERN = re.compile(r"^iter_(\d{8})\.pt$")
BEST_NAME = "best.pt"


class CheckpointError(Exception):
    """A checkpoint cannot be found or read; the message names the file."""


def rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Every random state that shapes the run, as tensors and plain values."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python_version": int(version),
        "python_state": torch.tensor(mt, dtype=torch.int64),
        "python_gauss": gauss,
        "numpy_state": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": int(pos),
        "numpy_has_gauss": int(has_gauss),
        "numpy_cached": float(cached),
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    for key, gen in (generators or {}).items():
        state[f"gen_{key}"] = gen.get_state()
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator] | None = None) -> None:
    random.setstate((state["python_version"], tuple(int(v) for v in state["python_state"].tolist()),
                     state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy_state"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_cached"]))
    torch.set_rng_state(state["torch_cpu"])
    if state["torch_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
    for key, gen in (generators or {}).items():
        gen.set_state(state[f"gen_{key}"])


def torch_bytes(payload: Any) -> bytes:
    """Serialise in memory: on a full disk torch.save raises RuntimeError, a plain write OSError."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def save(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, torch_bytes(payload))


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means the file is not a usable checkpoint
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first})") from None


def iteration_checkpoints(folder: Path) -> list[Path]:
    """``iter_NNNNNNNN.pt`` files in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CKPT_PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def latest(folder: Path) -> Path | None:
    found = iteration_checkpoints(folder)
    return found[-1] if found else None


def save_iteration(folder: Path, iteration: int, payload: dict[str, Any], keep_last: int) -> Path:
    """Save ``iter_{iteration}.pt``, then delete all but the ``keep_last`` newest."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)
    path = folder / f"iter_{iteration:08d}.pt"
    save(path, payload)
    for old in iteration_checkpoints(folder)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


def resolve_resume(resume: str, run_dir: Path) -> Path | None:
    """``auto`` -> the latest checkpoint of the run folder (None when there is none), else the path."""
    if not resume or resume == "no":
        return None
    if resume == "auto":
        return latest(run_dir / "checkpoints")
    path = Path(resume)
    if path.is_dir():
        found = latest(path) or latest(path / "checkpoints")
        if found is None:
            raise CheckpointError(f"{path}: no iter_*.pt checkpoint in this folder")
        return found
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found (give a .pt file, a run folder or 'auto')")
    return path


def check_same_model(state: dict[str, Any], model: dict[str, Any], stage: str, path: Path) -> None:
    """Refuse to continue a checkpoint of another model (``config["model"]``) or stage, with a clear
    message (a TrainError: the run is what does not fit, not the file)."""
    old = state.get("config") or {}
    then = (old.get("model"), old.get("train", {}).get("stage"))
    if then != (model, stage):
        raise TrainError(f"{path} is a checkpoint of {then[0]} ({then[1]} stage), not of this config's "
                         f"{model} ({stage} stage): pass --out runs/NEW_NAME to start another run, or the "
                         "first run's settings to continue it")


def generator_weights(path: str | Path, keys: tuple[str, ...] = ("ema", "generator", "params_ema", "params")
                      ) -> dict[str, torch.Tensor]:
    """Weights for ``--init``: from a checkpoint the first of ``keys`` it holds (the generator's EMA
    by default; ``("disc",)`` for ``--init-disc``), else a model file or a run folder's model."""
    path = Path(path)
    if path.is_dir():
        for candidate in (path / "model.safetensors", path / "model.pth"):
            if candidate.is_file():
                path = candidate
                break
        else:
            found = latest(path / "checkpoints")
            if found is None:
                raise CheckpointError(f"{path}: no model.safetensors, model.pth or checkpoint in this folder")
            path = found
    if not path.exists():
        raise CheckpointError(f"{path}: not found (give a model file, a checkpoint or a run folder)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as err:  # noqa: BLE001
            raise CheckpointError(f"{path}: not a readable .safetensors file ({err})") from None
    state = load(path)
    for key in keys:
        if isinstance(state.get(key), dict) and state[key]:
            return state[key]
    if state and all(isinstance(v, torch.Tensor) for v in state.values()):
        return state
    raise CheckpointError(f"{path}: holds no generator weights")
