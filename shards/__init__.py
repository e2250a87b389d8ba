"""The store format that `sr-data pack` writes and `sr-train` reads: shards, index, reader, verify.

Store layout (format ``srkit-store``, version 2)
================================================

A store is a folder (``data.lmdb/`` or ``data.h5/``)::

    index.json          written last, atomically: a folder without it is an interrupted pack
    keys.txt            sample keys, one per line, in global index order (sha256 in index.json)
    lineage.jsonl       one line per sample: {"key", "tile": tiles.jsonl record,
                        "degradation": degradations.jsonl record} (sha256 in index.json)
    shard-00000.lmdb/   LMDB environment (data.mdb, lock.mdb)      -- or --
    shard-00000.h5      HDF5 file
    progress.jsonl      only while a pack is unfinished: completed shards, for resuming

``index.json`` holds: ``format``, ``version``, ``backend`` (lmdb | hdf5), ``codec`` (raw | png),
``checksum`` ("xxh3_64"), ``hdf5_compression``, ``count``, ``scale`` (HR size / LR size),
``channels`` (1 gray, 3 RGB), ``hr_shapes`` / ``lr_shapes`` ({"HxWxC": count}), ``payload_bytes``,
``file_bytes``, ``recipe`` ({name, hash}), ``split``, ``keys``, ``lineage``, ``sources``,
``inputs_digest`` and ``made_from`` (what the pack read and how it wrote: recipe, digests of the HR
tiles and LR files, codec, channels, shard size, validation fraction; a rerun with other inputs is
refused unless ``--overwrite``), ``channels_converted`` (only when ``--channels`` converted pairs:
{"to", "from": {channels: count}}) and ``shards``: a list of {``file``, ``start``, ``count``,
``first_key``, ``last_key``, ``payload_bytes``, ``file_bytes``, ``digest``}. Shard ``s`` holds the
samples with global indices ``start .. start + count - 1``, whose keys are those lines of
``keys.txt``. All paths are relative to the store folder.

Train / validation split (``split`` in index.json)
--------------------------------------------------
Deterministic and by whole samples. Keys of tiles are ``{page}_{y}_{x}``; samples are grouped by
page, pages ordered by the sha256 of their name and taken in that order until the validation set
holds ``val_fraction`` of the samples, so no page has tiles on both sides. When pages cannot give a
fraction close to the one asked (one page would be more than twice the target, or there is a single
page), single keys are taken in the same hash order instead. ``split`` records ``method`` ("page" or
"key"), ``val_fraction``, ``val_groups`` (the validation pages or keys), ``val_count``,
``train_count``, and for method key ``why`` (why whole pages could not be used, and the fraction
that would). A sample is in validation when its page (method page) or key (method key) is listed.

Records
-------
Every record stores the HR and LR images of one pair and the 64-bit XXH3 checksum of each payload
(``xxhash.xxh3_64_intdigest(payload)``, seed 0; the ``xxhash`` package on PyPI). Codec ``raw``:
payloads are the pixels, uint8, C order, shape (H, W, C) (C = 1 for gray). Codec ``png``: payloads
are PNG files (8-bit gray or RGB), the tile files' own bytes, never re-encoded. Images come back as
(H, W) for gray and (H, W, 3) RGB (never BGR).

LMDB shard: one entry per sample. Key: the sample key (ASCII, no dots). Value: a 56-byte header,
then the HR payload, then the LR payload. Header (little-endian, ``struct`` format ``<4sBB2x8I2Q``):
magic ``b"SRP2"``, version (2), codec (0 raw, 1 png), 2 pad bytes, HR h, w, c, LR h, w, c, HR
payload length, LR payload length (uint32 each), HR xxh3_64, LR xxh3_64 (uint64 each). The entry
``.meta`` (a key no sample can have) is JSON describing the shard (shard number, start, count, first
and last key, digest). Open with ``lmdb.open(path, readonly=True, lock=False)``.

HDF5 shard (readable with plain ``h5py``); N samples::

    keys          (N,) fixed-length ASCII bytes ("S{L}")
    hr_shape      (N, 3) uint32  true (h, w, c) of each HR image
    lr_shape      (N, 3) uint32
    hr_xxh3_64    (N,) uint64    xxh3_64 of each HR payload
    lr_xxh3_64    (N,) uint64
    hr, lr        codec raw: (N, H, W, C) uint8, chunks (1, H, W, C): one chunk per sample,
                  optional gzip / lzf compression. Images smaller than the dataset's H x W are
                  stored top-left, padded with 0: take ``f["hr"][i, :h, :w]`` with ``h, w, c =
                  f["hr_shape"][i]``. The checksum covers the unpadded (h, w, c) bytes.
                  codec png: (N,) variable-length uint8 arrays holding PNG files
                  (``cv2.imdecode(f["hr"][i], cv2.IMREAD_UNCHANGED)``; OpenCV gives BGR for color).
    attributes    format, version, shard, codec, start, count, first_key, last_key, digest

Example, without srkit::

    import h5py
    with h5py.File("data.h5/shard-00000.h5", "r") as f:
        h, w, c = f["hr_shape"][0]
        hr = f["hr"][0, :h, :w]          # (h, w, c) uint8, raw codec
        key = f["keys"][0].decode()

BasicSR layout (``--layout basicsr``): ``OUT/hr.lmdb`` and ``OUT/lr.lmdb``, each an LMDB
environment whose keys are the sample keys and whose values are the tiles' PNG bytes, with
``meta_info.txt`` lines ``{key}.png ({h},{w},{c}) 1``: what BasicSR, traiNNer-redux and neosr read.

Python API: ``shards.reader.open_store``, ``shards.partition.assign``, ``shards.writer.write_store``,
``shards.pack.pack_store``, ``shards.verify.verify_store``.

Modules: ``format`` (record header, codecs, checksums, names); ``shard_writer`` (the interface of a
shard writer) with ``lmdb_writer`` and ``hdf5_writer`` (one class per backend); ``builder`` (shards
written under temporary names and renamed when complete, for every layout); ``store_folder``
(index.json, keys.txt, lineage.jsonl, the folder around the shards); ``writer`` (arrays -> store);
``inputs``, ``identity`` (what a store was made from), ``pack`` and ``basicsr`` (``sr-data pack``);
``reader``; ``verify``; ``sheet``; ``split``;
``partition``; ``sizes``; ``cli``.
"""
