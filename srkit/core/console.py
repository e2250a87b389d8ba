"""Terminal output shared by the CLIs: one console, progress bars, one-line errors, exit codes.

Exit codes (documented in every ``--help``):
  0  everything asked for was done
  1  the run finished, but some inputs were skipped or bad (each listed, with its reason)
  2  usage error: a bad option, a missing input folder, an invalid recipe or config
  3  the run stopped on an error it cannot work around (disk full, corrupt store, ...)
  130 interrupted (Ctrl-C); rerun the same command to finish the job
"""

from __future__ import annotations

import errno
import functools
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

EXIT_OK = 0
EXIT_SKIPPED = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 all done; 1 finished but some inputs were skipped (see the summary and "
    "errors.jsonl); 2 usage error; 3 stopped on an error (disk full, corrupt data); "
    "130 interrupted (rerun to finish)."
)

console = Console(stderr=True, highlight=False)


class UsageError(Exception):
    """Bad options or inputs the user must fix; printed as one line, exit code 2."""


class StageError(Exception):
    """The stage cannot go on (corrupt store, disk full); printed as one line, exit code 3."""


class RateColumn(ProgressColumn):
    """Items per second, e.g. ``312.4 tiles/s``."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.1f} {self.unit}/s", style="cyan")


def make_progress(unit: str = "items") -> Progress:
    """A progress bar: description, bar, done/total, %, rate in ``unit``/s, elapsed, ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """Turn known errors into one clear line and an exit code instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import typer

        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except UsageError as err:
            console.print(f"[red]error:[/red] {escape(str(err))}")
            raise typer.Exit(EXIT_USAGE) from None
        except StageError as err:
            console.print(f"[red]error:[/red] {escape(str(err))}")
            raise typer.Exit(EXIT_FAILED) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]: rerun the same command to finish the job")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except OSError as err:
            if err.errno == errno.ENOSPC:
                console.print(f"[red]error:[/red] disk full while writing {escape(str(err.filename or ''))}; "
                              "free some space and rerun the same command to finish")
            else:
                console.print(f"[red]error:[/red] {escape(str(err))}")
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper  # type: ignore[return-value]


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {escape(message)}")


def is_interactive() -> bool:
    return sys.stderr.isatty()


class DeferredInterrupt:
    """Ctrl-C that waits for a safe point: ``with DeferredInterrupt() as stop:`` ... ``stop.check()``
    (or ``install()`` ... ``restore()`` around a loop).

    The first SIGINT only sets ``requested``; ``check()`` then raises KeyboardInterrupt where the
    caller's state is whole (a trainer: between iterations, so the checkpoint it saves is exactly
    iteration N, not weights already stepped to N + 1). A second SIGINT raises at once and sets
    ``forced``: the state may be half-updated and must not be saved. Outside the main thread, or when
    SIGINT is ignored (``nohup``), nothing changes.
    """

    def __init__(self, message: str = "stopping at the next safe point (Ctrl-C again to stop at once)"):
        self.message = message
        self.requested = False
        self.forced = False
        self._previous: Any = None
        self._installed = False

    def install(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def __enter__(self) -> DeferredInterrupt:
        return self.install()

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.requested:
            self.forced = True
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write(f"\n{self.message}\n")

    def check(self, requested: bool | None = None) -> None:
        """Raise KeyboardInterrupt if a stop was asked (``requested`` overrides: e.g. any rank asked)."""
        asked = self.requested if requested is None else requested
        if asked:
            self.requested = True
            raise KeyboardInterrupt

    def __exit__(self, *exc: Any) -> None:
        self.restore()
