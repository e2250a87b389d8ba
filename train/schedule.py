"""The learning-rate schedule, and how far a run is: by iterations, or by time under a time budget."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from srkit.train.config import Config, parse_duration


def lr_factor(cfg: Config, it: int, progress: float | None = None) -> float:
    """Learning-rate multiplier at iteration ``it`` (1-based): warm-up, then the schedule. ``progress``
    is the share of the run done (a time budget's); by default ``it`` out of ``train.iters``."""
    o, total = cfg.optim, cfg.train.iters
    if o.warmup and it <= o.warmup:
        return it / o.warmup
    if progress is None:
        progress = (it - o.warmup) / max(1, total - o.warmup)
    if o.schedule == "cosine":
        progress = min(1.0, progress)
        return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if o.schedule == "multistep":
        return o.gamma ** sum(1 for m in o.milestones if it > m)
    return 1.0


@dataclass
class RunClock:
    """The share of a run that is done. Without a budget: iterations out of ``train.iters``. With
    ``train.time_budget``: seconds spent training (earlier sessions' included) out of the budget, so the
    schedule spans the budget and the run is complete when it is spent. ``now`` is the clock read
    (wall-clock seconds; a test passes its own)."""

    iters: int
    budget_s: float | None = None
    spent_before: float = 0.0          # training seconds of the sessions before a resume
    now: Callable[[], float] = time.monotonic
    started: float = field(default=0.0, init=False)

    @classmethod
    def for_config(cls, cfg: Config, now: Callable[[], float] = time.monotonic) -> RunClock:
        budget = parse_duration(cfg.train.time_budget) if cfg.train.time_budget else None
        return cls(cfg.train.iters, budget, now=now)

    def start(self, spent_before: float = 0.0) -> None:
        self.spent_before = spent_before
        self.started = self.now()

    def elapsed(self) -> float:
        return self.spent_before + self.now() - self.started

    def progress(self, it: int, elapsed: float) -> float:
        """The share done after ``it`` iterations and ``elapsed`` seconds: 1 or more means complete."""
        return elapsed / self.budget_s if self.budget_s else it / self.iters
