"""The training progress bar: it moves every iteration, with samples/s, elapsed time and ETA.

A CPU run of a large preset can take minutes per ``log_every`` iterations, so the bar never waits for
a log line: ``step`` is called after every iteration. The losses and ``stall`` (the share of the time
the trainer waited for data: above about 10 %, add ``--workers``) shown beside it are the means of
the last log line.
"""

from __future__ import annotations

import time
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from srkit.core.console import console
from srkit.train.schedule import RunClock


class TrainBar:
    """``step(it)`` after each iteration, ``note(text)`` at each log line, ``stop()`` at the end."""

    def __init__(self, cfg: Any, start: int, world_size: int, clock: RunClock | None = None):
        # Under a time budget the bar counts the budget's seconds, not iterations.
        self.budget = clock if clock is not None and clock.budget_s else None
        self.start = start
        self.samples_per_iteration = cfg.train.grad_accum * cfg.data.batch_size * world_size
        self.started = time.perf_counter()
        self.text = ""
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"),
                                 TimeRemainingColumn(), console=console)
        name = f"{cfg.train.stage} {cfg.model.arch}" + (f" ({cfg.train.time_budget})" if self.budget else "")
        total = int(self.budget.budget_s) if self.budget else cfg.train.iters
        done = int(self.budget.spent_before) if self.budget else start
        self.task = self.progress.add_task(name, total=total, completed=done, info="starting")
        self.progress.start()

    def rate(self, it: int) -> float:
        """Samples per second over this session so far (validation and checkpoints included)."""
        return (it - self.start) * self.samples_per_iteration / max(time.perf_counter() - self.started, 1e-9)

    def step(self, it: int) -> None:
        info = f"{self.rate(it):,.1f} samples/s" + (f"  {self.text}" if self.text else "")
        done = int(self.budget.elapsed()) if self.budget else it
        self.progress.update(self.task, completed=done, info=info)

    def note(self, text: str) -> None:
        self.text = text

    def stop(self) -> None:
        self.progress.stop()
