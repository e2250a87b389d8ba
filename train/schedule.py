"""The learning-rate schedule: a multiplier of the configured rate at each iteration."""

from __future__ import annotations

import math

from srkit.train.config import Config


def lr_factor(cfg: Config, it: int) -> float:
    """Learning-rate multiplier at iteration ``it`` (1-based): warm-up, then the schedule."""
    o, total = cfg.optim, cfg.train.iters
    if o.warmup and it <= o.warmup:
        return it / o.warmup
    if o.schedule == "cosine":
        progress = min(1.0, (it - o.warmup) / max(1, total - o.warmup))
        return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if o.schedule == "multistep":
        return o.gamma ** sum(1 for m in o.milestones if it > m)
    return 1.0
