"""Run one function over many items with joblib, results in completion order.

``jobs=1`` runs in this process (no pickling, easy to debug). The backend is a joblib backend
name: ``loky`` (processes, the default), ``threading``, or ``dask`` (a Dask cluster; needs the
``distributed`` package and uses the scheduler in ``DASK_SCHEDULER_ADDRESS`` when set, else a
local cluster). Callers must not depend on completion order: results carry their own keys.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from srkit.core.console import StageError

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("loky", "threading", "dask")


class BackendUnavailable(RuntimeError):
    pass


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_jobs(jobs: int | None) -> int:
    """``None`` or 0 means all cores; negative counts from the core count as joblib does."""
    if not jobs:
        return default_jobs()
    if jobs < 0:
        return max(1, default_jobs() + 1 + jobs)
    return jobs


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise BackendUnavailable(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise BackendUnavailable(
                "--backend dask needs the 'distributed' package: pip install 'srkit[dask]' "
                "(or pip install distributed), then set DASK_SCHEDULER_ADDRESS to use a cluster"
            ) from None


def parallel_map(
    fn: Callable[..., R],
    items: Iterable[Any],
    jobs: int | None = None,
    backend: str = "loky",
) -> Iterator[R]:
    """Yield ``fn(item)`` for every item, in completion order, on ``jobs`` workers."""
    check_backend(backend)
    n = resolve_jobs(jobs)
    if n == 1 and backend != "dask":
        for item in items:
            yield fn(item)
        return
    from joblib import Parallel, delayed, parallel_config

    if backend == "dask":
        import distributed

        address = os.environ.get("DASK_SCHEDULER_ADDRESS")
        try:
            client = distributed.Client(address) if address else distributed.Client(
                n_workers=n, threads_per_worker=1, processes=True
            )
        except OSError as err:
            raise StageError(f"cannot reach the Dask scheduler at {address or 'a new local cluster'} "
                             f"({err}); start the scheduler, or unset DASK_SCHEDULER_ADDRESS to run a "
                             "local cluster") from None
        try:
            with parallel_config(backend="dask"):
                yield from Parallel(return_as="generator_unordered")(delayed(fn)(i) for i in items)
        finally:
            client.close()
        return
    with parallel_config(backend=backend, n_jobs=n):
        with _workers_ignore_sigint(backend):
            results = Parallel(return_as="generator_unordered")(delayed(fn)(i) for i in items)
        if backend == "loky":
            _stop_workers_at_exit()
        yield from results


_STOP_REGISTERED = False


def _stop_workers_at_exit() -> None:
    """Workers ignore Ctrl-C, so after an interrupt or an error they would sit idle and keep
    multiprocessing's exit hook waiting for them forever; kill them first (atexit runs this hook
    before multiprocessing's, which was registered earlier)."""
    global _STOP_REGISTERED
    if not _STOP_REGISTERED:
        atexit.register(stop_workers)
        _STOP_REGISTERED = True


def stop_workers() -> None:
    """Kill this process's worker processes (used at exit; the results are not needed any more)."""
    import multiprocessing

    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError):
            child.kill()


@contextlib.contextmanager
def _workers_ignore_sigint(backend: str) -> Iterator[None]:
    """Start worker processes with SIGINT ignored (inherited through exec), so a Ctrl-C in the
    terminal interrupts only this process, which stops the pool and says how to resume, instead of
    every worker printing its own traceback."""
    if backend == "threading" or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
