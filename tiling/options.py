"""The options of ``sr-data tile`` that a run records and every worker receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from srkit.core.console import UsageError
from srkit.core.images import DEFAULT_MAX_PIXELS
from srkit.core.parallel import BackendUnavailable, check_backend
from srkit.tiling.grid import EDGE_MODES
from srkit.tiling.scores import DEFAULT_FLAT_STD, DEFAULT_MIN_LAP

COLOR_MODES = ("auto", "gray", "rgb")
SELECT_MODES = ("grid", "best")


@dataclass
class TileOptions:
    size: int = 400
    step: int | None = None  # None: same as size (no overlap)
    edge: str = "shift"
    color: str = "auto"
    flat_std: float = DEFAULT_FLAT_STD
    min_lap: float = DEFAULT_MIN_LAP
    select: str = "grid"
    max_per_page: int | None = None
    png_level: int = 1
    max_pixels: int = DEFAULT_MAX_PIXELS
    jobs: int | None = None  # None or 0: all cores
    backend: str = "loky"
    prune: bool = False  # drop the pages of the folder that are not among this run's sources

    @property
    def grid_step(self) -> int:
        return self.step or self.size

    def check(self) -> None:
        """Raise UsageError naming the first bad option."""
        if self.size < 1:
            raise UsageError(f"--size must be at least 1, not {self.size}")
        if self.step is not None and self.step < 1:
            raise UsageError(f"--step must be at least 1, not {self.step}")
        if self.edge not in EDGE_MODES:
            raise UsageError(f"--edge must be one of {', '.join(EDGE_MODES)}, not {self.edge!r}")
        if self.color not in COLOR_MODES:
            raise UsageError(f"--color must be one of {', '.join(COLOR_MODES)}, not {self.color!r}")
        if self.select not in SELECT_MODES:
            raise UsageError(f"--select must be one of {', '.join(SELECT_MODES)}, not {self.select!r}")
        if self.select == "best" and not self.max_per_page:
            raise UsageError("--select best needs --max-per-page N (how many tiles to keep per page)")
        if self.max_per_page is not None and self.max_per_page < 1:
            raise UsageError(f"--max-per-page must be at least 1, not {self.max_per_page}")
        if not 0 <= self.png_level <= 9:
            raise UsageError(f"--png-level must be 0..9, not {self.png_level}")
        if self.max_pixels < 1:
            raise UsageError(f"--max-pixels must be at least 1, not {self.max_pixels}")
        try:
            check_backend(self.backend)
        except BackendUnavailable as err:
            raise UsageError(str(err)) from None

    def output_options(self) -> dict[str, Any]:
        """The options that decide the output bytes (recorded in run.json, checked on rerun)."""
        return {
            "size": self.size, "step": self.grid_step, "edge": self.edge, "color": self.color,
            "flat_std": self.flat_std, "min_lap": self.min_lap, "select": self.select,
            "max_per_page": self.max_per_page, "png_level": self.png_level,
        }
