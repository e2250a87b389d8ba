"""assign(): disjoint, covering, deterministic, balanced, shard-contiguous; readers in forked workers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import make_pairs

from srkit.shards.partition import assign
from srkit.shards.reader import open_store
from srkit.shards.writer import write_store


@st.composite
def layouts(draw):
    sizes = draw(st.lists(st.integers(0, 30), min_size=1, max_size=6))
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    ranges = [(int(starts[i]), int(starts[i + 1])) for i in range(len(sizes))]
    n = int(starts[-1])
    seed = draw(st.integers(0, 2**31 - 1))
    subset = draw(st.booleans())
    indices = np.random.default_rng(seed).permutation(n)
    if subset:
        indices = indices[: n // 2]
    return ranges, indices, draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(layouts())
def test_assign_disjoint_covering_deterministic(layout):
    ranges, indices, world, workers, use_ranges = layout
    sr = ranges if use_ranges else None
    ids = [(r, w) for r in range(world) for w in range(workers)]
    parts = [assign(indices, r, world, w, workers, shard_ranges=sr) for r, w in ids]
    merged = np.concatenate(parts) if parts else np.array([], int)
    assert Counter(merged.tolist()) == Counter(indices.tolist())  # disjoint and covering
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    again = [assign(indices, r, world, w, workers, shard_ranges=sr) for r, w in ids]
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    if use_ranges:
        starts = np.array([s for s, _ in ranges])
        shard_seq = np.searchsorted(starts, merged, side="right") - 1
        assert np.all(np.diff(shard_seq) >= 0)  # shard-contiguous
        for shard in np.unique(shard_seq):  # caller's order (a shuffle) kept inside each shard
            mine = merged[shard_seq == shard]
            theirs = indices[np.isin(indices, mine)]
            assert np.array_equal(mine, theirs)


def test_assign_rejects_bad_ids():
    with pytest.raises(ValueError):
        assign(np.arange(4), 2, 2, 0, 1)
    with pytest.raises(ValueError):
        assign(np.arange(4), 0, 1, 3, 2)


def test_reader_in_forked_dataloader_workers(tmp_path: Path):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, Dataset, get_worker_info

    pairs = make_pairs(12, seed=7)
    write_store(tmp_path / "s", pairs, fmt="lmdb", scale=2, shard_size=4000)
    store = open_store(tmp_path / "s")
    store.read(0)  # the parent opens handles before forking: workers must not reuse them

    class Pairs(Dataset):
        def __len__(self):
            return len(store)

        def __getitem__(self, i):
            p = store.read(i)
            return p.key, torch.from_numpy(p.hr.copy()), get_worker_info().id

    loader = DataLoader(Pairs(), batch_size=None, num_workers=2, multiprocessing_context="fork")
    got = {key: (hr, worker) for key, hr, worker in loader}
    assert sorted(got) == store.keys
    assert {w for _, w in got.values()} == {0, 1}
    for key, hr, _ in pairs:
        assert np.array_equal(got[key][0].numpy(), hr)
    store.close()
