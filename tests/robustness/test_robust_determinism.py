"""Determinism matrix through the CLIs: --jobs 1 vs --jobs 2 vs a rerun give byte-identical outputs.

The references (``tiled``, ``degraded``, ``packed`` in conftest.py) are one-job library runs; here the
CLI runs with two workers into fresh folders, then reruns with one job into the same folders, which
must find everything done and change no byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from robust_helpers import (
    RECIPE,
    TILE_ARGS,
    assert_no_traceback,
    copy_workspace,
    run_cli,
    snapshot,
    store_contents,
)

from srkit.core.console import EXIT_OK


def test_tile_two_jobs_and_a_rerun_give_the_one_job_bytes(small_pages, tiled, tmp_path):
    out = tmp_path / "tiles"
    for jobs in ("2", "1"):
        run = run_cli("data", ["tile", small_pages, "--out", out, "--jobs", jobs, *TILE_ARGS], tmp_path)
        assert run.returncode == EXIT_OK, run.describe()
        assert_no_traceback(run)
        assert snapshot(out, skip=[".lock"]) == snapshot(tiled / "tiles", skip=[".lock"]), f"--jobs {jobs}"
    assert "already done" in run.stderr


def test_degrade_two_jobs_and_a_rerun_give_the_one_job_bytes(degraded, tmp_path):
    ws = copy_workspace(degraded, tmp_path / "ws", ["tiles"])
    out = ws / "lr" / RECIPE
    for jobs in ("2", "1"):
        run = run_cli("data", ["degrade", "--recipe", RECIPE, "--jobs", jobs], ws)
        assert run.returncode == EXIT_OK, run.describe()
        assert_no_traceback(run)
        assert snapshot(out, skip=["run.json"]) == snapshot(degraded / "lr" / RECIPE, skip=["run.json"])
    assert "already done" in run.stderr


@pytest.mark.parametrize("fmt", ["lmdb", "hdf5"])
def test_pack_two_jobs_and_a_rerun_give_the_same_store(packed, tmp_path, fmt):
    from srkit.shards.pack import pack_store

    ws = copy_workspace(packed, tmp_path / "ws", ["tiles", "lr"])
    name = {"lmdb": "data.lmdb", "hdf5": "data.h5"}[fmt]
    reference_store = ws / f"reference_{name}"
    pack_store(ws / "tiles", ws / "lr" / RECIPE, reference_store, fmt=fmt, shard_size="40KiB",
               val_fraction=0.2)
    reference = json.loads((reference_store / "index.json").read_text())
    reference.pop("sources")  # where the inputs are, relative to the store: the store folders differ
    store = ws / name
    for jobs in ("2", "1"):
        run = run_cli("data", ["pack", fmt, "--shard-size", "40KiB", "--val-fraction", "0.2", "--jobs", jobs],
                      ws)
        assert run.returncode == EXIT_OK, run.describe()
        assert_no_traceback(run)
        assert store_contents(store) == store_contents(reference_store)
        index = json.loads((store / "index.json").read_text())
        index.pop("sources")
        # Every other field is deterministic: keys, split, shard entries (counts, sizes, ranges), lineage.
        assert index == reference, {k for k in reference if index.get(k) != reference[k]}
        for meta in ("keys.txt", "lineage.jsonl"):
            assert (store / meta).read_bytes() == (reference_store / meta).read_bytes()
        for shard in reference["shards"]:  # the shard files, byte for byte (LMDB's lock.mdb holds a pid)
            data = Path(shard["file"]) / "data.mdb" if fmt == "lmdb" else Path(shard["file"])
            assert (store / data).read_bytes() == (reference_store / data).read_bytes(), data
    assert "up to date" in run.stderr
