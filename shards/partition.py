"""Splitting the samples of an epoch over (rank, worker) consumers: disjoint, covering, deterministic.

Consumer ``c = rank * num_workers + worker`` of ``C = world_size * num_workers`` gets one contiguous
slice of the epoch's index list, slices differing in length by at most one. With ``shard_ranges``
the list is first ordered by shard (stable: the caller's order, e.g. a shuffle, is kept inside each
shard), so each consumer reads from as few shards as possible: sequential reads, few open files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def assign(indices: Sequence[int] | np.ndarray, rank: int, world_size: int, worker: int, num_workers: int,
           shard_ranges: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
    """The part of ``indices`` that consumer (``rank``, ``worker``) reads in this epoch.

    Over all ranks and workers the parts are disjoint and together hold every index exactly once
    (duplicates in ``indices`` stay duplicates). The result depends only on the arguments.
    """
    if world_size < 1 or num_workers < 1:
        raise ValueError(f"world_size ({world_size}) and num_workers ({num_workers}) must be >= 1")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    if not 0 <= worker < num_workers:
        raise ValueError(f"worker {worker} is outside 0..{num_workers - 1}")
    order = np.asarray(indices, dtype=np.int64).reshape(-1)
    if shard_ranges is not None and len(shard_ranges) > 1 and order.size:
        starts = np.array([start for start, _ in shard_ranges], dtype=np.int64)
        shard = np.searchsorted(starts, order, side="right") - 1
        order = order[np.argsort(shard, kind="stable")]
    consumers = world_size * num_workers
    consumer = rank * num_workers + worker
    n = order.size
    lo = consumer * n // consumers
    hi = (consumer + 1) * n // consumers
    return order[lo:hi].copy()
