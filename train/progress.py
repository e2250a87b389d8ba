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


class TrainBar:
    """``step(it)`` after each iteration, ``note(text)`` at each log line, ``stop()`` at the end."""

    def __init__(self, cfg: Any, start: int, world_size: int):
        self.start = start
        self.samples_per_iteration = cfg.train.grad_accum * cfg.data.batch_size * world_size
        self.started = time.perf_counter()
        self.text = ""
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"),
                                 TimeRemainingColumn(), console=console)
        self.task = self.progress.add_task(f"{cfg.train.stage} {cfg.model.arch}", total=cfg.train.iters,
                                           completed=start, info="starting")
        self.progress.start()

    def rate(self, it: int) -> float:
        """Samples per second over this session so far (validation and checkpoints included)."""
        return (it - self.start) * self.samples_per_iteration / max(time.perf_counter() - self.started, 1e-9)

    def step(self, it: int) -> None:
        info = f"{self.rate(it):,.1f} samples/s" + (f"  {self.text}" if self.text else "")
        self.progress.update(self.task, completed=it, info=info)

    def note(self, text: str) -> None:
        self.text = text

    def stop(self) -> None:
        self.progress.stop()
