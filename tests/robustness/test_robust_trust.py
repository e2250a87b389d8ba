"""Never overwrite, never mix up runs, through the real CLIs: a store made from other inputs is not
replaced without --overwrite, a run does not resume on a re-packed store, two runs into one folder are
not both let through, and a killed run's lock never blocks the rerun."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from robust_helpers import (
    RECIPE,
    assert_no_traceback,
    copy_workspace,
    run_cli,
    start_cli,
    stderr_of,
    store_contents,
)

from srkit.core.console import EXIT_OK, EXIT_USAGE

OTHER = "bicubic_x4"
TRAIN = ["--preset", "smoke", "--batch-size", "4", "--device", "cpu", "--workers", "0", "--log-every", "2",
         "--val-every", "1000", "--set", "data.val_max=2"]


def sr_train(ws: Path, out: str, iters: int, *extra: str):
    args = ["--shards", "data.lmdb", "--out", out, "--iters", str(iters), *extra, *TRAIN]
    return run_cli("train", args, ws, timeout=300)


def one_line_naming(run, *words: str) -> None:
    """Exactly one error line, holding every word, and no traceback."""
    assert_no_traceback(run)
    errors = [line for line in run.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.describe()
    for word in words:
        assert word in errors[0], (word, run.describe())


@pytest.fixture
def two_lr_sets(degraded: Path, tmp_path: Path) -> Path:
    """A copy of the degraded workspace with a second LR set, made by the real command."""
    ws = copy_workspace(degraded, tmp_path / "ws", ["tiles", "lr"])
    run = run_cli("data", ["degrade", "--recipe", OTHER, "--jobs", "1"], ws)
    assert run.returncode == EXIT_OK, run.describe()
    return ws


@pytest.mark.parametrize("fmt, out", [("lmdb", "data.lmdb"), ("hdf5", "x.h5")])
def test_pack_never_replaces_a_store_made_from_other_inputs(two_lr_sets: Path, fmt: str, out: str):
    ws = two_lr_sets
    first = run_cli("data", ["pack", fmt, "--lr", f"lr/{RECIPE}", "--out", out], ws)
    assert first.returncode == EXIT_OK, first.describe()
    before = store_contents(ws / out)
    refused = run_cli("data", ["pack", fmt, "--lr", f"lr/{OTHER}", "--out", out], ws)
    assert refused.returncode == EXIT_USAGE
    one_line_naming(refused, "made from other inputs", f"recipe {RECIPE} -> {OTHER}", "--overwrite")
    assert store_contents(ws / out) == before
    same = run_cli("data", ["pack", fmt, "--lr", f"lr/{RECIPE}", "--out", out], ws)
    assert same.returncode == EXIT_OK and "already up to date" in same.output
    replaced = run_cli("data", ["pack", fmt, "--lr", f"lr/{OTHER}", "--out", out, "--overwrite"], ws)
    assert replaced.returncode == EXIT_OK, replaced.describe()
    after = store_contents(ws / out)
    assert after.keys() == before.keys() and after != before


def test_a_run_does_not_resume_on_a_store_packed_from_other_data(two_lr_sets: Path):
    ws = two_lr_sets
    assert run_cli("data", ["pack", "lmdb", "--lr", f"lr/{RECIPE}"], ws).returncode == EXIT_OK
    first = sr_train(ws, "runs/r", 4)
    assert first.returncode == EXIT_OK, first.describe()
    checkpoints = {p.name: p.read_bytes() for p in (ws / "runs" / "r" / "checkpoints").iterdir()}
    repacked = run_cli("data", ["pack", "lmdb", "--lr", f"lr/{OTHER}", "--overwrite"], ws)
    assert repacked.returncode == EXIT_OK, repacked.describe()
    again = sr_train(ws, "runs/r", 8)
    assert again.returncode == EXIT_USAGE
    one_line_naming(again, "was trained on other data than data.lmdb", f"recipe {RECIPE} -> {OTHER}",
                    "--out runs/NEW_NAME")
    assert {p.name: p.read_bytes() for p in (ws / "runs" / "r" / "checkpoints").iterdir()} == checkpoints
    fresh = sr_train(ws, "runs/r2", 4)
    assert fresh.returncode == EXIT_OK, fresh.describe()


def test_two_runs_into_one_folder_the_second_is_refused_and_a_killed_lock_is_no_obstacle(packed: Path,
                                                                                        tmp_path: Path):
    ws = copy_workspace(packed, tmp_path / "ws", ["data.lmdb"])
    run_dir = ws / "runs" / "shared"
    first = start_cli("train", ["--shards", "data.lmdb", "--out", "runs/shared", "--iters", "100000",
                                "--ckpt-every", "100000", "--lr", "0.0001", *TRAIN], ws)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "metrics.jsonl").exists() or not (run_dir / "metrics.jsonl").stat().st_size:
            assert first.poll() is None and time.monotonic() < deadline, stderr_of(first)
            time.sleep(0.1)
        config = (run_dir / "config.toml").read_text()
        second = sr_train(ws, "runs/shared", 4, "--lr", "0.0003")
        assert second.returncode == EXIT_USAGE
        one_line_naming(second, "another sr-train is writing to runs/shared", f"held by process {first.pid}")
        assert (run_dir / "config.toml").read_text() == config and "0.0001" in config
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # a crash: the lock file stays, its lock does not
        first.wait(timeout=60)
        first.err_file.close()
    assert (run_dir / ".lock").exists()
    rerun = sr_train(ws, "runs/shared", 4, "--lr", "0.0003")
    assert rerun.returncode == EXIT_OK, rerun.describe()
    assert "0.0003" in (run_dir / "config.toml").read_text() and (run_dir / "model.safetensors").is_file()
