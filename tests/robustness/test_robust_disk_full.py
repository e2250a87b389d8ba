"""Disk full during tile, degrade and pack: a clear one-line error (non-zero exit, no traceback), and
once space is freed the rerun completes to the output of an uninterrupted run.

Two ways to run out of space:
- a real small tmpfs (``mount -t tmpfs -o size=...``; needs root and a kernel that allows it, else
  those cases are skipped with the reason): writes fail with ENOSPC, exactly as on a full disk;
  "freeing space" is a remount with a larger size, which keeps the files;
- RLIMIT_FSIZE in the child (SIGXFSZ ignored, so a write past the limit fails with EFBIG instead of
  killing): works everywhere; "freeing space" is rerunning without the limit.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from robust_helpers import (
    RECIPE,
    TILE_ARGS,
    assert_no_traceback,
    cli_env,
    copy_workspace,
    fsize_limit_preexec,
    run_cli,
    snapshot,
    store_contents,
    temp_leftovers,
)

from srkit.core.console import EXIT_OK

PACK_ARGS = ["pack", "lmdb", "--shard-size", "40KiB", "--val-fraction", "0.2"]


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@contextlib.contextmanager
def small_disk(folder: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes (rounded up to 4 KiB pages) mounted on ``folder``; skips if impossible."""
    folder.mkdir(parents=True, exist_ok=True)
    size = max(4096, (size + 4095) // 4096 * 4096)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        pytest.skip(f"cannot mount a small tmpfs to fill up ({err}); the RLIMIT_FSIZE cases still run")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up ({done.stderr.strip() or done.returncode}; "
                    "needs root and mount rights); the RLIMIT_FSIZE cases still run")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


def grow(folder: Path, size: int) -> None:
    """Free space: remount the tmpfs larger, keeping its files."""
    done = subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def _assert_disk_full_message(run) -> None:
    assert run.returncode not in (0, 1), run.describe()  # 1 would mean "finished, some inputs were bad"
    assert_no_traceback(run)
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error")]
    assert len(errors) == 1, run.describe()
    assert any(w in errors[0].lower() for w in ("disk full", "no space", "too large")), run.describe()


# ---------------------------------------------------------------------------------- real ENOSPC


def test_tile_on_a_full_disk_stops_clearly_and_finishes_after_space_is_freed(small_pages, tiled, tmp_path):
    need = _folder_bytes(tiled / "tiles")
    with small_disk(tmp_path / "disk", need // 2) as disk:
        out = disk / "tiles"
        args = ["tile", small_pages, "--out", out, "--jobs", "2", *TILE_ARGS]
        full = run_cli("data", args, tmp_path)
        _assert_disk_full_message(full)
        grow(disk, 4 * need + (1 << 20))
        done = run_cli("data", args, tmp_path)
        assert done.returncode == EXIT_OK, done.describe()
        assert snapshot(out, skip=[".lock"]) == snapshot(tiled / "tiles", skip=[".lock"])
        assert temp_leftovers(out) == []


def test_degrade_on_a_full_disk_stops_clearly_and_finishes_after_space_is_freed(degraded, tmp_path):
    reference = degraded / "lr" / RECIPE
    need = _folder_bytes(reference)
    ws = copy_workspace(degraded, tmp_path / "ws", ["tiles"])
    with small_disk(tmp_path / "disk", need // 2) as disk:
        out = disk / "lr"
        args = ["degrade", "--recipe", RECIPE, "--out", out, "--jobs", "2"]
        full = run_cli("data", args, ws)
        _assert_disk_full_message(full)
        grow(disk, 4 * need + (1 << 20))
        done = run_cli("data", args, ws)
        assert done.returncode == EXIT_OK, done.describe()
        assert snapshot(out, skip=["run.json"]) == snapshot(reference, skip=["run.json"])
        assert temp_leftovers(out) == []


def test_pack_on_a_full_disk_stops_clearly_and_finishes_after_space_is_freed(packed, tmp_path):
    need = _folder_bytes(packed / "data.lmdb")
    ws = copy_workspace(packed, tmp_path / "ws", ["tiles", "lr"])
    with small_disk(tmp_path / "disk", need // 2) as disk:
        store = disk / "data.lmdb"
        args = [*PACK_ARGS, "--out", store]
        full = run_cli("data", args, ws)
        _assert_disk_full_message(full)
        assert not (store / "index.json").exists()
        grow(disk, 64 << 20)  # an LMDB shard reserves its whole map (16 MiB at least) while it is written
        done = run_cli("data", args, ws)
        assert done.returncode == EXIT_OK, done.describe()
        assert store_contents(store) == store_contents(packed / "data.lmdb")
        assert temp_leftovers(store) == []


# ---------------------------------------------------------------------------------- RLIMIT_FSIZE


def _limited(limit: int) -> dict:
    return {"preexec_fn": fsize_limit_preexec(limit), "env": cli_env()}


def test_tile_with_a_file_size_limit_stops_clearly_and_a_rerun_finishes(small_pages, tiled, tmp_path):
    out = tmp_path / "tiles"
    args = ["tile", small_pages, "--out", out, "--jobs", "1", *TILE_ARGS]
    # Tiles are about 3 KB; tiles.jsonl passes the limit after a few pages.
    full = run_cli("data", args, tmp_path, **_limited(8_000))
    _assert_disk_full_message(full)
    done = run_cli("data", args, tmp_path)
    assert done.returncode == EXIT_OK, done.describe()
    assert snapshot(out, skip=[".lock"]) == snapshot(tiled / "tiles", skip=[".lock"])


def test_degrade_with_a_file_size_limit_stops_clearly_and_a_rerun_finishes(degraded, tmp_path):
    ws = copy_workspace(degraded, tmp_path / "ws", ["tiles"])
    out = ws / "lr" / RECIPE
    args = ["degrade", "--recipe", RECIPE, "--jobs", "1"]
    full = run_cli("data", args, ws, **_limited(8_000))
    _assert_disk_full_message(full)
    done = run_cli("data", args, ws)
    assert done.returncode == EXIT_OK, done.describe()
    reference = degraded / "lr" / RECIPE
    assert snapshot(out, skip=["run.json"]) == snapshot(reference, skip=["run.json"])


def test_pack_with_a_file_size_limit_stops_clearly_and_a_rerun_finishes(packed, tmp_path):
    ws = copy_workspace(packed, tmp_path / "ws", ["tiles", "lr"])
    full = run_cli("data", PACK_ARGS, ws, **_limited(20_000))
    _assert_disk_full_message(full)
    assert not (ws / "data.lmdb" / "index.json").exists()
    done = run_cli("data", PACK_ARGS, ws)
    assert done.returncode == EXIT_OK, done.describe()
    assert store_contents(ws / "data.lmdb") == store_contents(packed / "data.lmdb")


# ---------------------------------------------------------------------------------- sr-train

TRAIN_ARGS = ["--preset", "smoke", "--iters", "8", "--ckpt-every", "4", "--val-every", "8",
              "--log-every", "2", "--batch-size", "4", "--device", "cpu", "--workers", "0", "--seed", "3",
              "--resume", "auto"]


def _metrics(run_dir: Path) -> list[tuple]:
    from srkit.core.manifest import read_jsonl

    return [tuple(sorted((k, v) for k, v in r.items() if k not in ("samples_per_s", "data_stall")))
            for r in read_jsonl(run_dir / "metrics.jsonl")]


def test_training_on_a_full_disk_stops_clearly_and_resumes_after_space_is_freed(packed, tmp_path):
    from safetensors.torch import load_file

    store = packed / "data.lmdb"
    reference = tmp_path / "reference"
    done = run_cli("train", ["--shards", store, "--out", reference, *TRAIN_ARGS], tmp_path, timeout=300)
    assert done.returncode == EXIT_OK, done.describe()
    # Room for config.toml and the logs, not for the first checkpoint (about 50 KB).
    with small_disk(tmp_path / "disk", 40_000) as disk:
        run_dir = disk / "run"
        args = ["--shards", store, "--out", run_dir, *TRAIN_ARGS]
        full = run_cli("train", args, tmp_path, timeout=300)
        _assert_disk_full_message(full)
        assert temp_leftovers(run_dir) == []
        grow(disk, 64 << 20)
        again = run_cli("train", args, tmp_path, timeout=300)
        assert again.returncode == EXIT_OK, again.describe()
        got = load_file(str(run_dir / "model.safetensors"))
        ref = load_file(str(reference / "model.safetensors"))
        assert sorted(got) == sorted(ref) and all(got[k].equal(ref[k]) for k in ref)
        assert _metrics(run_dir) == _metrics(reference)
