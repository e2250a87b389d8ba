"""``write_store``: a complete store from in-memory ``(key, hr, lr)`` arrays (tests and Python users).

``shards.pack`` writes stores from tile and LR folders, with resume; both go through
``builder.NativeStoreBuilder``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from srkit.core.keys import check_key
from srkit.shards.builder import NativeStoreBuilder
from srkit.shards.format import encode_record
from srkit.shards.shard_writer import ShardOptions
from srkit.shards.sizes import DEFAULT_SHARD_SIZE, parse_size


def check_pair_shapes(key: str, hr_shape, lr_shape, scale: int) -> None:
    h, w, c = hr_shape
    lh, lw, lc = lr_shape
    if (lh * scale, lw * scale, lc) != (h, w, c):
        raise ValueError(f"{key}: LR {lh}x{lw}x{lc} x scale {scale} does not match HR {h}x{w}x{c}")


def write_store(out: str | os.PathLike, pairs: Iterable[tuple[str, np.ndarray, np.ndarray]],
                fmt: str = "lmdb", scale: int = 1, codec: str = "raw",
                shard_size: int | str = DEFAULT_SHARD_SIZE, val_fraction: float = 0.02,
                recipe: dict[str, Any] | None = None, hdf5_compression: str | None = None,
                lineage: Iterable[dict[str, Any]] | None = None, map_size: int | None = None,
                png_level: int = 1) -> dict[str, Any]:
    """Write a complete store from ``(key, hr, lr)`` uint8 arrays; returns the parsed index.

    Shards are cut when the next record would push a shard's payload past ``shard_size``.
    ``map_size`` is the initial LMDB map of each shard (grown as needed; mainly for tests).
    """
    options = ShardOptions(fmt, codec, hdf5_compression, lmdb_map_size=map_size)
    shard_bytes = parse_size(shard_size)
    keys: list[str] = []
    seen: set[str] = set()
    hr_shapes: list = []
    lr_shapes: list = []
    channels: int | None = None
    with NativeStoreBuilder(out, options) as builder:
        for key, hr, lr in pairs:
            check_key(key)
            if key in seen:
                raise ValueError(f"duplicate sample key {key!r}")
            seen.add(key)
            rec = encode_record(key, hr, lr, codec, png_level)
            check_pair_shapes(key, rec.hr_shape, rec.lr_shape, scale)
            if channels is None:
                channels = rec.hr_shape[2]
            elif rec.hr_shape[2] != channels:
                raise ValueError(f"{key}: {rec.hr_shape[2]} channels, earlier samples have {channels}; "
                                 "a store holds one channel count")
            shard = builder.writer
            if shard is not None and shard.count and shard.payload_bytes + rec.payload_bytes > shard_bytes:
                builder.commit()
            if builder.writer is None:
                builder.open_shard(start=len(keys))
            builder.put(rec)
            keys.append(key)
            hr_shapes.append(rec.hr_shape)
            lr_shapes.append(rec.lr_shape)
        if builder.writer is not None:
            builder.commit()
    return builder.finish(scale=scale, keys=keys, hr_shapes=hr_shapes, lr_shapes=lr_shapes,
                          val_fraction=val_fraction, recipe=recipe, lineage=lineage)


__all__ = ["write_store"]
