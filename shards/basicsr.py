"""``--layout basicsr``: paired LMDBs as BasicSR, traiNNer-redux and neosr read them.

``OUT/hr.lmdb`` and ``OUT/lr.lmdb`` each hold ``data.mdb``, ``lock.mdb`` and ``meta_info.txt``.
Keys are the sample keys (no dots, the same on both sides); values are the tile files' own PNG
bytes, stored as they are; ``meta_info.txt`` has one line ``{key}.png ({h},{w},{c}) {level}`` per
key, with c = 1 for gray. Their readers ignore the level field; we write the PNG level recorded by
tile / degrade (``png_level`` in the records), 1 (our default) when none is recorded; a pair converted
by ``--channels`` is encoded again at level 1. Each environment is written under a temporary name and
renamed when complete (``builder.StoreBuilder``); what the folder was made from goes last into a hidden
``.srkit-pack.json`` (``shards.identity``), which those readers never open.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from srkit.core.console import UsageError
from srkit.core.files import atomic_write_text, remove_stale_temps
from srkit.core.images import decode_png, encode_png, to_gray, to_rgb
from srkit.core.manifest import canonical_json
from srkit.shards.builder import StoreBuilder
from srkit.shards.identity import BASICSR_RECORD
from srkit.shards.inputs import Inputs, png_shape, read_input
from srkit.shards.lmdb_writer import LmdbEnvWriter, lmdb_map_size

META_INFO = "meta_info.txt"
DEFAULT_PNG_LEVEL = 1
SIDES = ("hr", "lr")


class PngEntry(NamedTuple):
    """One tile file for one side: its key, its PNG bytes, (h, w, c) and the PNG level it was saved with."""

    key: str
    data: bytes
    shape: tuple[int, int, int]
    level: int


class BasicsrSideWriter:
    """``hr.lmdb`` or ``lr.lmdb``: the PNG bytes under their keys, then ``meta_info.txt``."""

    def __init__(self, path: Path, map_size: int):
        self.path = path
        self._env = LmdbEnvWriter(path, map_size=map_size)
        self._lines: list[str] = []

    def put(self, entry: PngEntry) -> None:
        self._env.put_value(entry.key.encode("ascii"), entry.data)
        h, w, c = entry.shape
        self._lines.append(f"{entry.key}.png ({h},{w},{c}) {entry.level}\n")

    def finish(self) -> dict[str, Any]:
        file_bytes = self._env.close()
        (self.path / META_INFO).write_text("".join(self._lines), encoding="ascii")
        return {"file_bytes": file_bytes}

    def abort(self) -> None:
        self._env.abort()


def _check_out(out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise UsageError(f"{out} is a file; the BasicSR layout is a folder: choose another --out")
        foreign = sorted(p.name for p in out.iterdir()
                         if p.name not in ("hr.lmdb", "lr.lmdb") and not p.name.startswith("."))
        if foreign:
            raise UsageError(f"{out} holds {', '.join(foreign[:3])}: not a BasicSR layout folder; "
                             "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)


def _converted(data: bytes, path: str, channels: int) -> bytes:
    img = decode_png(data, path)
    return encode_png(to_rgb(img) if channels == 3 else to_gray(img), DEFAULT_PNG_LEVEL)


def pack_basicsr(inputs: Inputs, out: str | os.PathLike, identity: dict[str, Any],
                 on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write ``OUT/hr.lmdb`` and ``OUT/lr.lmdb`` from collected inputs (see ``shards.inputs``), then
    ``identity`` (what they were made from) into ``OUT/.srkit-pack.json``."""
    started = time.perf_counter()
    out = Path(out)
    _check_out(out)
    (out / BASICSR_RECORD).unlink(missing_ok=True)  # first: a pack cut short never looks finished
    samples = inputs.samples
    lineage = {r["key"]: r for r in inputs.lineage}
    total = 2 * len(samples)
    done = 0
    written = 0
    file_bytes = 0
    with StoreBuilder(out) as builder:
        for side in SIDES:
            sizes = [s.hr_file_bytes if side == "hr" else s.lr_file_bytes for s in samples]
            builder.open(f"{side}.lmdb", partial(BasicsrSideWriter, map_size=lmdb_map_size(sizes)))
            for s in samples:
                path = s.hr_path if side == "hr" else s.lr_path
                data = read_input(path, s.hr_sha256 if side == "hr" else s.lr_sha256)
                source = (lineage.get(s.key) or {}).get("tile" if side == "hr" else "degradation") or {}
                level = source.get("png_level", DEFAULT_PNG_LEVEL)
                if s.convert:
                    data, level = _converted(data, path, s.convert), DEFAULT_PNG_LEVEL
                builder.put(PngEntry(s.key, data, png_shape(data, path), level))
                written += len(data)
                done += 1
                if on_progress and (done % 32 == 0 or done == total):
                    on_progress(done, total)
            file_bytes += builder.commit()["file_bytes"]
    atomic_write_text(out / BASICSR_RECORD, canonical_json(identity) + "\n")
    seconds = time.perf_counter() - started
    return {
        "out": str(out), "format": "lmdb", "layout": "basicsr", "codec": "png", "samples": len(samples),
        "shards": 2, "shards_written": 2, "shards_reused": 0, "payload_bytes": written,
        "file_bytes": file_bytes, "scale": inputs.scale,
        "channels": samples[0].stored_shape(samples[0].hr_shape)[2] if samples else None,
        "channels_converted": inputs.converted,
        "seconds": seconds, "records_written": len(samples),
        "mb_per_s": written / 1e6 / seconds if seconds > 0 else 0.0,
        "tiles_per_s": len(samples) / seconds if seconds > 0 else 0.0,
        "missing": {k: v for k, v in inputs.missing.items() if v},
        "next": (f"BasicSR / traiNNer-redux / neosr: dataroot_gt: {out / 'hr.lmdb'}, dataroot_lq: "
                 f"{out / 'lr.lmdb'}, io_backend: {{type: lmdb}}, scale: {inputs.scale}"),
    }
