"""The documented record layout (shards/__init__.py), read without srkit; the LMDB write path."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import h5py
import lmdb
import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import make_pairs

import srkit.shards.lmdb_writer as lmdb_writer
from srkit.shards.lmdb_writer import LmdbEnvWriter
from srkit.shards.reader import StoreError, open_store
from srkit.shards.writer import write_store


@pytest.mark.parametrize("codec", ["raw", "png"])
def test_lmdb_records_follow_the_documented_header(tmp_path: Path, codec: str):
    pairs = make_pairs(6, seed=21, rgb=True)
    write_store(tmp_path / "s", pairs, fmt="lmdb", scale=2, codec=codec)
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert index["version"] == 2 and index["checksum"] == "xxh3_64"
    header = struct.Struct("<4sBB2x8I2Q")  # as written in the docstring
    env = lmdb.open(str(tmp_path / "s" / "shard-00000.lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        for key, hr, lr in pairs:
            value = txn.get(key.encode("ascii"))
            magic, version, codec_id, *dims, hlen, llen, hsum, lsum = header.unpack_from(value)
            assert (magic, version, codec_id) == (b"SRP2", 2, {"raw": 0, "png": 1}[codec])
            assert tuple(dims) == hr.shape + lr.shape
            hr_bytes = value[header.size:header.size + hlen]
            lr_bytes = value[header.size + hlen:]
            assert len(lr_bytes) == llen
            assert xxhash.xxh3_64_intdigest(hr_bytes) == hsum
            assert xxhash.xxh3_64_intdigest(lr_bytes) == lsum
            if codec == "raw":
                got = np.frombuffer(hr_bytes, np.uint8).reshape(hr.shape)
            else:
                got = cv2.cvtColor(cv2.imdecode(np.frombuffer(hr_bytes, np.uint8), cv2.IMREAD_COLOR),
                                   cv2.COLOR_BGR2RGB)
            assert np.array_equal(got, hr)
    env.close()


def test_hdf5_checksum_datasets_are_xxh3_of_the_unpadded_bytes(tmp_path: Path):
    pairs = make_pairs(5, seed=22)
    write_store(tmp_path / "s", pairs, fmt="hdf5", scale=2)
    with h5py.File(tmp_path / "s" / "shard-00000.h5", "r") as f:
        assert f["hr_xxh3_64"].dtype == np.uint64
        for i, (_, hr, lr) in enumerate(pairs):
            assert int(f["hr_xxh3_64"][i]) == xxhash.xxh3_64_intdigest(np.ascontiguousarray(hr))
            h, w, _ = f["lr_shape"][i]
            stored = np.ascontiguousarray(f["lr"][i, :h, :w])
            assert int(f["lr_xxh3_64"][i]) == xxhash.xxh3_64_intdigest(stored)
            assert np.array_equal(stored.reshape(lr.shape), lr)


def test_a_store_of_another_format_version_is_refused_with_the_fix(tmp_path: Path):
    write_store(tmp_path / "s", make_pairs(2), fmt="lmdb", scale=2)
    path = tmp_path / "s" / "index.json"
    index = json.loads(path.read_text())
    index["version"] = 1
    path.write_text(json.dumps(index))
    with pytest.raises(StoreError, match="version 1.*repack"):
        open_store(tmp_path / "s")


@pytest.mark.parametrize("fmt", ["lmdb", "hdf5"])
def test_the_caller_may_reuse_its_arrays_while_the_writer_batches(tmp_path: Path, fmt: str):
    pairs = make_pairs(8, seed=23)
    hr_buf = np.empty_like(pairs[0][1])
    lr_buf = np.empty_like(pairs[0][2])

    def reused():
        for key, hr, lr in pairs:
            hr_buf[...] = hr  # one buffer for every sample, as a loader with a pool would do
            lr_buf[...] = lr
            yield key, hr_buf, lr_buf

    write_store(tmp_path / "s", reused(), fmt=fmt, scale=2)
    with open_store(tmp_path / "s") as store:
        for i, (key, hr, lr) in enumerate(pairs):
            got = store.read(i)
            assert got.key == key and np.array_equal(got.hr, hr) and np.array_equal(got.lr, lr)


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.lists(st.integers(0, 9000), min_size=1, max_size=3), min_size=1, max_size=12),
       batch=st.integers(1, 30000))
def test_lmdb_writer_stores_each_value_as_its_joined_parts(tmp_path_factory, sizes, batch):
    # Parts of different sizes through one reused join buffer, across many small transactions.
    path = tmp_path_factory.mktemp("w") / "env"
    rng = np.random.default_rng(len(sizes) * 7919 + batch)
    values = {}
    old = lmdb_writer.BATCH_BYTES
    lmdb_writer.BATCH_BYTES = batch
    try:
        w = LmdbEnvWriter(path, map_size=1 << 20)
        for i, part_sizes in enumerate(sizes):
            parts = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in part_sizes]
            key = f"k{i:03d}".encode()
            w.put_value(key, *parts)
            values[key] = b"".join(parts)
        w.close()
    finally:
        lmdb_writer.BATCH_BYTES = old
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        assert {bytes(k): bytes(v) for k, v in txn.cursor()} == values
    env.close()


def test_pairs_come_back_exactly_after_many_transactions(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(lmdb_writer, "BATCH_BYTES", 3000)  # a commit every one or two records
    pairs = make_pairs(30, seed=24, size=48, rgb=True)
    write_store(tmp_path / "s", pairs, fmt="lmdb", scale=2)
    with open_store(tmp_path / "s") as store:
        for i, (key, hr, lr) in enumerate(pairs):
            got = store.read(i)
            assert got.key == key and np.array_equal(got.hr, hr) and np.array_equal(got.lr, lr)
