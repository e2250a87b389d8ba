"""write_store -> open_store round trips, map growth, corruption and incomplete stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from store_helpers import make_pairs

from srkit.shards.lmdb_writer import lmdb_map_size
from srkit.shards.reader import StoreError, open_store
from srkit.shards.writer import write_store


def _assert_same(store, pairs):
    assert len(store) == len(pairs)
    assert store.keys == [k for k, _, _ in pairs]
    for i, (key, hr, lr) in enumerate(pairs):
        pair = store.read(i)
        assert pair.key == key
        assert pair.hr.dtype == np.uint8 and pair.hr.shape == hr.shape
        assert np.array_equal(pair.hr, hr) and np.array_equal(pair.lr, lr)


@pytest.mark.parametrize("fmt", ["lmdb", "hdf5"])
@pytest.mark.parametrize("codec", ["raw", "png"])
@pytest.mark.parametrize("rgb", [False, True])
def test_round_trip(tmp_path: Path, fmt: str, codec: str, rgb: bool):
    pairs = make_pairs(20, seed=1, rgb=rgb, scale=2)
    write_store(tmp_path / "s", pairs, fmt=fmt, scale=2, codec=codec, shard_size=12_000, val_fraction=0.25)
    with open_store(tmp_path / "s") as store:
        _assert_same(store, pairs)
        assert store.scale == 2 and store.channels == (3 if rgb else 1)
        assert len(store.shard_ranges) > 1
        assert store.shard_ranges[0][0] == 0 and store.shard_ranges[-1][1] == len(pairs)
        # iteration by shard visits every pair once, in index order
        seen = [p.key for s in range(len(store.shard_ranges)) for p in store.iter_shard(s)]
        assert seen == store.keys
        # the split: disjoint, covering, by whole pages when the keys have one
        train, val = set(store.train_indices.tolist()), set(store.val_indices.tolist())
        assert not train & val and train | val == set(range(len(pairs)))
        assert len(val) > 0
        pages_val = {store.keys[i].rsplit("_", 2)[0] for i in val}
        pages_train = {store.keys[i].rsplit("_", 2)[0] for i in train}
        assert not pages_val & pages_train
        assert store.index["split"]["method"] == "page"


def test_variable_sizes_hdf5_padding(tmp_path: Path):
    rng = np.random.default_rng(0)
    pairs = []
    for i, size in enumerate([16, 24, 8, 32]):
        hr = rng.integers(0, 256, (size, size + 4), dtype=np.uint8)
        pairs.append((f"k{i}", hr, hr[::2, ::2].copy()))
    for fmt in ("hdf5", "lmdb"):
        write_store(tmp_path / fmt, pairs, fmt=fmt, scale=2, val_fraction=0.0)
        with open_store(tmp_path / fmt) as store:
            _assert_same(store, pairs)
            assert len(store.val_indices) == 0


def test_blank_first_tile_then_noise_never_map_full(tmp_path: Path):
    # BasicSR sizes its map from the first image; a blank (tiny when compressed) first tile then fails.
    pairs = make_pairs(40, seed=2, size=64, blank_first=True)
    write_store(tmp_path / "s", pairs, fmt="lmdb", codec="png", scale=2, map_size=1)
    with open_store(tmp_path / "s") as store:
        _assert_same(store, pairs)


def test_store_bigger_than_initial_map(tmp_path: Path, monkeypatch):
    pairs = make_pairs(60, seed=4, size=128)  # ~1.2 MB of raw payload against a 16 MiB floor... so:
    import srkit.shards.lmdb_writer as lmdb_writer

    # Make the proactive estimate useless so the MapFullError path must grow the map and retry.
    monkeypatch.setattr(lmdb_writer, "_MIB", 1 << 12)
    monkeypatch.setattr(lmdb_writer.LmdbEnvWriter, "_estimate_batch", lambda self: 0)
    index = write_store(tmp_path / "s", pairs, fmt="lmdb", scale=2, map_size=1 << 14)
    assert index["payload_bytes"] > 1 << 20
    with open_store(tmp_path / "s") as store:
        _assert_same(store, pairs)
    # data.mdb ends near its real size, not at a huge map size
    data = (tmp_path / "s" / "shard-00000.lmdb" / "data.mdb").stat().st_size
    assert data < 2 * index["payload_bytes"] + (1 << 20)


def test_map_size_from_totals_covers_data():
    lengths = [160_000] * 100 + [100] * 100
    assert lmdb_map_size(lengths) > sum(lengths)


def test_missing_index_means_interrupted(tmp_path: Path):
    write_store(tmp_path / "s", make_pairs(4), fmt="lmdb", scale=2)
    (tmp_path / "s" / "index.json").unlink()
    with pytest.raises(StoreError, match="interrupted"):
        open_store(tmp_path / "s")


def test_index_path_escaping_store_is_refused(tmp_path: Path):
    write_store(tmp_path / "s", make_pairs(4), fmt="hdf5", scale=2)
    index_path = tmp_path / "s" / "index.json"
    index = json.loads(index_path.read_text())
    index["shards"][0]["file"] = "../elsewhere.h5"
    index_path.write_text(json.dumps(index))
    with pytest.raises(StoreError, match="escapes"):
        open_store(tmp_path / "s")


@pytest.mark.parametrize("fmt", ["lmdb", "hdf5"])
def test_truncated_and_missing_shard(tmp_path: Path, fmt: str):
    write_store(tmp_path / "s", make_pairs(8), fmt=fmt, scale=2, shard_size=5000)
    shard = tmp_path / "s" / ("shard-00001.lmdb/data.mdb" if fmt == "lmdb" else "shard-00001.h5")
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="shard-00001.*truncated"):
        open_store(tmp_path / "s")
    shard.unlink()
    with pytest.raises(StoreError, match="shard-00001"):
        open_store(tmp_path / "s")


def flip_payload_byte(store_dir: Path, fmt: str, hr: np.ndarray) -> None:
    """Flip one byte inside the stored raw HR pixels of ``hr`` (found by content)."""
    if fmt == "lmdb":
        shard = next(store_dir.glob("shard-*.lmdb")) / "data.mdb"
    else:
        shard = next(store_dir.glob("shard-*.h5"))
    data = bytearray(shard.read_bytes())
    needle = hr.tobytes()
    pos = data.find(needle)
    assert pos >= 0
    while pos >= 0:  # LMDB may keep a stale copy of a page: change every copy
        data[pos + 10] ^= 0xFF
        pos = data.find(needle, pos + 1)
    shard.write_bytes(bytes(data))


@pytest.mark.parametrize("fmt", ["lmdb", "hdf5"])
def test_flipped_byte_names_key_and_shard(tmp_path: Path, fmt: str):
    pairs = make_pairs(6, seed=5)
    write_store(tmp_path / "s", pairs, fmt=fmt, scale=2)
    flip_payload_byte(tmp_path / "s", fmt, pairs[3][1])
    with open_store(tmp_path / "s") as store:
        store.read(2)
        with pytest.raises(StoreError, match=f"shard-00000.*{pairs[3][0]}.*checksum"):
            store.read(3)


def test_bad_inputs_are_refused(tmp_path: Path):
    hr = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="does not match"):
        write_store(tmp_path / "a", [("k", hr, np.zeros((3, 3), np.uint8))], scale=2)
    with pytest.raises(ValueError, match="no dots"):
        write_store(tmp_path / "b", [("k.png", hr, hr[::2, ::2].copy())], scale=2)
    with pytest.raises(ValueError, match="duplicate"):
        write_store(tmp_path / "c", [("k", hr, hr[::2, ::2].copy())] * 2, scale=2)
    with pytest.raises(StoreError):
        open_store(tmp_path / "a")


@pytest.mark.parametrize("codec", ["raw", "png"])
def test_hdf5_readable_with_plain_h5py(tmp_path: Path, codec: str):
    import cv2
    import h5py

    pairs = make_pairs(5, seed=8, rgb=True)
    write_store(tmp_path / "s", pairs, fmt="hdf5", scale=2, codec=codec, hdf5_compression="gzip")
    with h5py.File(tmp_path / "s" / "shard-00000.h5", "r") as f:
        assert f.attrs["codec"] == codec
        for i, (key, hr, _) in enumerate(pairs):
            assert f["keys"][i].decode() == key
            h, w, c = f["hr_shape"][i]
            if codec == "raw":
                got = f["hr"][i, :h, :w]
            else:
                got = cv2.cvtColor(cv2.imdecode(f["hr"][i], cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
            assert np.array_equal(got.reshape(h, w, c), hr)


@pytest.mark.parametrize("compression", ["gzip", "lzf"])
def test_hdf5_compression_and_scale_one(tmp_path: Path, compression: str):
    rng = np.random.default_rng(12)
    pairs = []
    for i in range(6):
        hr = np.full((24, 24), 255, np.uint8)
        hr[: 4 * i + 2] = rng.integers(0, 256, (4 * i + 2, 24), dtype=np.uint8)
        pairs.append((f"p-{i}", hr, np.ascontiguousarray(hr[::-1])))  # scale 1: LR has the HR size
    index = write_store(tmp_path / "s", pairs, fmt="hdf5", scale=1, hdf5_compression=compression)
    assert index["file_bytes"] < index["payload_bytes"] + 20_000
    with open_store(tmp_path / "s") as store:
        _assert_same(store, pairs)
        assert store.scale == 1


def test_refuses_to_pack_into_a_foreign_folder(tmp_path: Path):
    (tmp_path / "tiles").mkdir()
    (tmp_path / "tiles" / "mine.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="not a store"):
        write_store(tmp_path / "tiles", make_pairs(2), scale=2)
    assert (tmp_path / "tiles" / "mine.png").exists()


def test_malformed_index_is_a_store_error(tmp_path: Path):
    write_store(tmp_path / "s", make_pairs(3), fmt="lmdb", scale=2)
    index_path = tmp_path / "s" / "index.json"
    index = json.loads(index_path.read_text())
    del index["shards"][0]["start"]
    index_path.write_text(json.dumps(index))
    with pytest.raises(StoreError, match="malformed"):
        open_store(tmp_path / "s")
    index_path.write_text("{not json")
    with pytest.raises(StoreError, match="cannot read the index"):
        open_store(tmp_path / "s")
