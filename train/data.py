"""The training stream: a torch ``IterableDataset`` over a packed store (opened and checked first).

Two orders (``data.order``). ``global`` (the default): every epoch the whole training split is
permuted from (seed, epoch), the same on every rank and worker, and each (rank, worker) reads its own
slice of that permutation (``shards.partition.assign``): disjoint, covering, and a batch is as mixed
as a global shuffle makes it, since LMDB and HDF5 stores on a local disk read any sample cheaply.
``shards``, for stores on slow storage: each (rank, worker) reads its own disjoint, shard-contiguous
part of the split, visits its shard blocks in an order drawn from (seed, epoch, rank, worker) and
mixes neighbouring samples with a shuffle buffer (batches then come from few pages). The random crop
of a sample derives from (seed, epoch, sample index) only. The order of indices is computed without
reading any pixels, so resuming skips the samples already consumed in microseconds and continues
with exactly the batches an uninterrupted run would have seen.

Workers yield uint8 crops (fewer bytes to move); flips, rot90 and the conversion to float happen on
the training device, on the whole batch (``to_device``).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from srkit.core.images import hwc
from srkit.core.workspace import STORE_INDEX
from srkit.train.errors import TrainError


def open_training_store(path: str | Path) -> Any:
    """The store at ``path``; a TrainError that says what to do when it is not a finished store."""
    from srkit.shards.reader import StoreError, open_store
    from srkit.shards.store_folder import missing_index_problem

    path = Path(path)
    if path.is_dir() and not (path / STORE_INDEX).exists():
        raise TrainError(missing_index_problem(path))
    try:
        return open_store(path)
    except StoreError as err:
        raise TrainError(str(err)) from None


def check_store(store: Any, gt_size: int, workers: int, world_size: int) -> None:
    """Refuse what the store cannot give before any worker starts (clear message, no traceback)."""
    scale = int(store.scale)
    if gt_size % scale:
        raise TrainError(f"--gt-size {gt_size} is not a multiple of the store's scale {scale}")
    readers = world_size * max(1, workers)
    if len(store.train_indices) < readers:
        raise TrainError(f"{store.path}: {len(store.train_indices)} training samples for {readers} readers "
                         f"({world_size} processes x {max(1, workers)} workers): use fewer "
                         "--workers or a larger store")
    lr = store.read(int(store.train_indices[0])).lr
    if min(lr.shape[:2]) < gt_size // scale:
        raise TrainError(f"--gt-size {gt_size} needs LR tiles of at least {gt_size // scale} px, the store's "
                         f"are {lr.shape[1]}x{lr.shape[0]}: lower --gt-size")


@dataclass(frozen=True)
class StreamSpec:
    """Everything a worker needs to rebuild its part of the stream (picklable, no open handles)."""

    store_path: str
    indices: tuple[int, ...]        # the training split, global indices
    shard_ranges: tuple[tuple[int, int], ...]
    scale: int
    gt_size: int
    batch_size: int
    seed: int
    shuffle_buffer: int
    rank: int = 0
    world_size: int = 1
    skip_batches: int = 0           # batches this rank consumed before a resume
    order: str = "global"           # global: a permutation of the split per epoch; shards: shard blocks


def part_indices(spec: StreamSpec, worker: int, num_workers: int) -> np.ndarray:
    """This (rank, worker)'s share of the training split: disjoint from every other share."""
    from srkit.shards.partition import assign

    return np.asarray(assign(np.asarray(spec.indices, dtype=np.int64), spec.rank, spec.world_size,
                             worker, num_workers, shard_ranges=list(spec.shard_ranges)), dtype=np.int64)


def epoch_indices(spec: StreamSpec, epoch: int, worker: int, num_workers: int) -> np.ndarray:
    """This (rank, worker)'s indices of one epoch in the order it reads them; the same number every
    epoch, disjoint from every other reader's."""
    if spec.order == "shards":
        return epoch_order(part_indices(spec, worker, num_workers), spec, epoch, worker)
    from srkit.shards.partition import assign

    permuted = np.random.default_rng([spec.seed, epoch, 0x61C8]).permutation(np.asarray(spec.indices))
    return np.asarray(assign(permuted, spec.rank, spec.world_size, worker, num_workers), dtype=np.int64)


def epoch_order(part: np.ndarray, spec: StreamSpec, epoch: int, worker: int) -> np.ndarray:
    """The order a worker visits its indices in one epoch: shuffled shard blocks + a shuffle buffer."""
    if len(part) == 0:
        return part
    rng = np.random.default_rng([spec.seed, epoch, spec.rank, worker, 0x5EED])
    starts = np.array([start for start, _ in spec.shard_ranges], dtype=np.int64)
    block_of = np.searchsorted(starts, part, side="right") - 1
    blocks = [part[block_of == b] for b in np.unique(block_of)]
    ordered = np.concatenate([blocks[i] for i in rng.permutation(len(blocks))])
    size = max(1, spec.shuffle_buffer)
    if size == 1:
        return ordered
    out = np.empty_like(ordered)
    buffer: list[int] = []
    n = 0
    for index in ordered:
        buffer.append(int(index))
        if len(buffer) >= size:
            pick = int(rng.integers(len(buffer)))
            buffer[pick], buffer[-1] = buffer[-1], buffer[pick]
            out[n] = buffer.pop()
            n += 1
    while buffer:
        pick = int(rng.integers(len(buffer)))
        buffer[pick], buffer[-1] = buffer[-1], buffer[pick]
        out[n] = buffer.pop()
        n += 1
    return out


def index_stream(spec: StreamSpec, worker: int, num_workers: int, skip: int = 0) -> Iterator[tuple[int, int]]:
    """Endless ``(epoch, index)`` pairs for one worker, starting after ``skip`` samples."""
    part = epoch_indices(spec, 0, worker, num_workers)
    if len(part) == 0:
        raise ValueError(f"rank {spec.rank} worker {worker} got no training samples: the split has "
                         f"{len(spec.indices)} samples for {spec.world_size * num_workers} readers; "
                         "use fewer workers/processes or a larger store")
    epoch, offset = divmod(skip, len(part))
    while True:
        for index in epoch_indices(spec, epoch, worker, num_workers)[offset:]:
            yield epoch, int(index)
        epoch, offset = epoch + 1, 0


def random_crop(hr: np.ndarray, lr: np.ndarray, scale: int, gt_size: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops: ``gt_size`` on the HR, ``gt_size // scale`` at the same place on the LR."""
    hr, lr = hwc(hr), hwc(lr)
    lr_size = gt_size // scale
    h, w = lr.shape[:2]
    if h < lr_size or w < lr_size:
        raise ValueError(f"LR tile {h}x{w} is smaller than the crop {lr_size} (gt_size {gt_size} / scale "
                         f"{scale}): lower --gt-size")
    y = int(rng.integers(h - lr_size + 1))
    x = int(rng.integers(w - lr_size + 1))
    lr_crop = lr[y:y + lr_size, x:x + lr_size]
    hr_crop = hr[y * scale:y * scale + gt_size, x * scale:x * scale + gt_size]
    return hr_crop, lr_crop


def chw_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, C) -> contiguous uint8 (C, H, W) tensor."""
    return torch.from_numpy(np.ascontiguousarray(hwc(img).transpose(2, 0, 1)))


class PairStream(IterableDataset):
    """Endless uint8 ``(lr, hr, index)`` crops; one worker's share of the training split."""

    def __init__(self, spec: StreamSpec):
        super().__init__()
        self.spec = spec

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        from srkit.shards.reader import open_store

        info = get_worker_info()
        loader_worker, num_workers = (info.id, info.num_workers) if info else (0, 1)
        spec = self.spec
        # The loader takes whole batches from its workers in turn, starting with its worker 0. After B
        # batches the next one is due from logical worker B % W, so loader worker i plays logical worker
        # (i + B) % W; logical worker w has produced B // W batches, plus one when w < B % W.
        worker = (loader_worker + spec.skip_batches) % num_workers
        batches = spec.skip_batches // num_workers + (1 if worker < spec.skip_batches % num_workers else 0)
        with open_store(spec.store_path) as store:
            for epoch, index in index_stream(spec, worker, num_workers, skip=batches * spec.batch_size):
                pair = store.read(index)
                rng = np.random.default_rng([spec.seed, epoch, index])
                hr, lr = random_crop(pair.hr, pair.lr, spec.scale, spec.gt_size, rng)
                yield chw_tensor(lr), chw_tensor(hr), index


def make_loader(spec: StreamSpec, workers: int, pin_memory: bool,
                generator: torch.Generator | None = None) -> DataLoader:
    """Batches of ``spec.batch_size`` crops; each batch comes whole from one worker, workers in turn.

    ``generator`` seeds the workers' base seed, so creating the loader leaves the global torch RNG
    untouched (the worker seeds do not matter: every random draw in a worker derives from the spec).
    """
    return DataLoader(PairStream(spec), batch_size=spec.batch_size, num_workers=workers,
                      pin_memory=pin_memory, persistent_workers=False, generator=generator,
                      prefetch_factor=4 if workers > 0 else None,
                      worker_init_fn=_ignore_ctrl_c if workers > 0 else None)


def _ignore_ctrl_c(worker_id: int) -> None:
    # A terminal's Ctrl-C reaches the workers too; the trainer finishes its iteration (which may need
    # more batches) before it stops, then shuts the workers down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def to_device(lr: torch.Tensor, hr: torch.Tensor, device: torch.device, generator: torch.Generator,
              flips: bool, rot90: bool, channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Move a uint8 batch to the device, augment the whole batch there, convert to float in [0, 1].

    The augmentation draws from ``generator`` (a CPU generator the trainer owns and checkpoints), so it
    does not depend on the device or on the worker count.
    """
    draws = torch.randint(0, 4, (3,), generator=generator).tolist()
    lr = lr.to(device, non_blocking=True)
    hr = hr.to(device, non_blocking=True)
    if flips and draws[0] % 2:
        lr, hr = lr.flip(-1), hr.flip(-1)
    if flips and draws[1] % 2:
        lr, hr = lr.flip(-2), hr.flip(-2)
    if rot90 and draws[2]:
        lr, hr = torch.rot90(lr, draws[2], (-2, -1)), torch.rot90(hr, draws[2], (-2, -1))
    memory = torch.channels_last if channels_last else torch.contiguous_format
    lr = lr.float().div_(255).contiguous(memory_format=memory)
    hr = hr.float().div_(255).contiguous(memory_format=memory)
    return lr, hr
