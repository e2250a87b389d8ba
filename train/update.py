"""How one update changes the weights: an optimizer step through its loss scaler (unscaled, clipped,
skipped when the gradients are not finite) and the EMA of the generator."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def optimizer_step(opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, params: Any,
                   clip: float) -> bool:
    """Unscale, clip, step; False (and no update) when the gradients are not finite."""
    scaler.unscale_(opt)
    norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
    finite = bool(torch.isfinite(norm))
    if finite or scaler.is_enabled():
        scaler.step(opt)  # a scaler skips non-finite steps itself and lowers its scale
    scaler.update()
    opt.zero_grad(set_to_none=True)
    return finite


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """EMA with a warm-up (decay grows as (1 + step) / (10 + step) up to ``decay``) so short runs
    are not dominated by the initial weights."""
    d = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1 - d)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)
