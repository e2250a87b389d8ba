"""The final model files of a run: ``model.safetensors``, ``model.pth`` and ``model.json``.

Both weight files hold the same plain state dict of contiguous CPU tensors (no wrapper, nothing
pickled but tensors), so spandrel loads RRDBNet and Compact from either; ``model.json`` is the
``arch_config`` our loader (``train.models.model_from_state_dict``) rebuilds any architecture from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srkit.core.files import atomic_write_bytes, atomic_write_text
from srkit.train.checkpoint import torch_bytes


def export_model(model: nn.Module, out_dir: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the three model files into ``out_dir``; returns the ``.safetensors`` path."""
    from safetensors.torch import save

    from srkit.train.models import export_state_dict

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = export_state_dict(model)
    config = dict(model.arch_config)
    config.update(extra or {})
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
