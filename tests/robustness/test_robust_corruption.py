"""Damaged stores: a flipped byte in a shard, a truncated shard, a missing index.json, an index that
points outside the store. ``sr-data verify`` and the reader name the problem; ``sr-train --shards BAD``
refuses with a clear message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from robust_helpers import assert_no_traceback, run_cli

from srkit.core.console import EXIT_OK
from srkit.shards.reader import StoreError, open_store

TRAIN_ARGS = ["--preset", "smoke", "--iters", "16", "--batch-size", "4", "--device", "cpu",
              "--val-every", "8", "--ckpt-every", "8"]


def _copy_store(packed: Path, tmp_path: Path, name: str = "data.lmdb") -> Path:
    store = tmp_path / name
    shutil.copytree(packed / name, store)
    return store


def _data_file(shard: Path) -> Path:
    """The file holding a shard's records: LMDB's data.mdb, or the HDF5 file itself."""
    return shard / "data.mdb" if shard.is_dir() else shard


def _flip_a_payload_byte(store: Path, split: str = "train") -> tuple[str, str]:
    """Flip one byte inside the HR pixels of a record of the train or val split (found by content, so
    the damage is never in free space); returns (shard folder name, key)."""
    with open_store(store) as opened:
        indices = opened.train_indices if split == "train" else opened.val_indices
        i = int(indices[len(indices) // 2])
        pair = opened.read(i)
        shard = opened.shard_path(opened.shard_of(i))
    data_file = _data_file(shard)
    data = bytearray(data_file.read_bytes())
    needle = pair.hr.tobytes()[:256]
    at = data.find(needle)
    assert at >= 0 and data.find(needle, at + 1) < 0
    data[at + 100] ^= 0xFF
    data_file.write_bytes(bytes(data))
    return shard.name, pair.key


def _truncate_a_shard(store: Path) -> tuple[str, str | None]:
    shard = sorted(store.glob("shard-*"))[1]
    data_file = _data_file(shard)
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    return shard.name, None


def _remove_the_index(store: Path) -> tuple[str, str | None]:
    (store / "index.json").unlink()
    return "index.json", None


def _index_points_outside(store: Path) -> tuple[str, str | None]:
    first = sorted(store.glob("shard-*"))[0]
    outside = store.parent / f"elsewhere{first.suffix}"
    if first.is_dir():  # a real shard: only the path may refuse it
        shutil.copytree(first, outside)
    else:
        shutil.copy(first, outside)
    index = json.loads((store / "index.json").read_text())
    index["shards"][0]["file"] = f"../{outside.name}"
    (store / "index.json").write_text(json.dumps(index))
    return f"../{outside.name}", None


def _index_absolute_path(store: Path) -> tuple[str, str | None]:
    index = json.loads((store / "index.json").read_text())
    index["keys"]["file"] = str((store / "keys.txt").resolve())
    (store / "index.json").write_text(json.dumps(index))
    return "absolute", None


def _index_not_json(store: Path) -> tuple[str, str | None]:
    text = (store / "index.json").read_text()
    (store / "index.json").write_text(text[: len(text) // 2])
    return "index.json", None


DAMAGE = {
    "flipped byte in a training record": _flip_a_payload_byte,
    "flipped byte in a validation record": lambda store: _flip_a_payload_byte(store, "val"),
    "truncated shard": _truncate_a_shard,
    "missing index": _remove_the_index,
    "index path outside": _index_points_outside,
    "index absolute path": _index_absolute_path,
    "torn index": _index_not_json,
}


@pytest.fixture(scope="module")
def packed_both(packed, tmp_path_factory) -> Path:
    """``packed`` (data.lmdb) beside the same pairs packed as HDF5 (data.h5)."""
    from robust_helpers import RECIPE

    from srkit.shards.pack import pack_store

    root = tmp_path_factory.mktemp("both")
    shutil.copytree(packed / "data.lmdb", root / "data.lmdb")
    pack_store(packed / "tiles", packed / "lr" / RECIPE, root / "data.h5", fmt="hdf5", shard_size="40KiB",
               val_fraction=0.2)
    return root


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("store_name", ["data.lmdb", "data.h5"])
def test_verify_and_the_reader_name_the_problem(packed_both, tmp_path, damage, store_name):
    store = _copy_store(packed_both, tmp_path, store_name)
    where, key = DAMAGE[damage](store)
    run = run_cli("data", ["verify", store], tmp_path)
    assert run.returncode != EXIT_OK, run.describe()
    assert_no_traceback(run)
    assert where in run.output, run.describe()
    if key:
        assert [ln for ln in run.output.splitlines() if key in ln and where in ln], run.describe()
    with pytest.raises(StoreError) as caught:
        with open_store(store) as opened:
            for i in range(len(opened)):
                opened.read(i)
    message = str(caught.value)
    assert where in message and (key is None or key in message), message
    assert "\n" not in message


@pytest.mark.parametrize(("damage", "workers"), [(d, "0") for d in DAMAGE]
                         + [("flipped byte in a training record", "1")])
def test_the_trainer_refuses_a_damaged_store_without_traceback(packed, tmp_path, damage, workers):
    store = _copy_store(packed, tmp_path)
    where, key = DAMAGE[damage](store)
    run = run_cli("train", ["--shards", store, "--out", tmp_path / "run", *TRAIN_ARGS, "--workers", workers],
                  tmp_path, timeout=300)
    assert run.returncode not in (0, 1), run.describe()
    assert_no_traceback(run)
    assert where in run.stderr and (key is None or key in run.stderr), run.describe()
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_inspect_refuses_a_damaged_store_without_traceback(packed, tmp_path):
    store = _copy_store(packed, tmp_path)
    _truncate_a_shard(store)
    run = run_cli("data", ["inspect", store, "--out", tmp_path / "sheet.png"], tmp_path)
    assert run.returncode != EXIT_OK, run.describe()
    assert_no_traceback(run)
    assert not (tmp_path / "sheet.png").exists()
