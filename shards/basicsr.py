"""``--layout basicsr``: paired LMDBs as BasicSR, traiNNer-redux and neosr read them.

``OUT/hr.lmdb`` and ``OUT/lr.lmdb`` each hold ``data.mdb``, ``lock.mdb`` and ``meta_info.txt``.
Keys are the sample keys (no dots, the same on both sides); values are the tile files' own PNG
bytes, stored as they are; ``meta_info.txt`` has one line ``{key}.png ({h},{w},{c}) {level}`` per
key, with c = 1 for gray. Their readers ignore the level field; we write the PNG level recorded by
tile / degrade (``png_level`` in the records), 1 (our default) when none is recorded. Each environment
is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from srkit.core.console import StageError, UsageError
from srkit.core.files import remove_stale_temps, temp_name
from srkit.shards.writer import LmdbShardWriter, lmdb_map_size, remove_path

META_INFO = "meta_info.txt"
DEFAULT_PNG_LEVEL = 1


def _png_hwc(data: bytes, path: str) -> tuple[int, int, int]:
    from srkit.shards.pack import _png_shape

    return _png_shape(data, path)


def pack_basicsr(inputs: Any, out: str | os.PathLike,
                 on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write ``OUT/hr.lmdb`` and ``OUT/lr.lmdb`` from collected inputs (see ``shards.pack``)."""
    started = time.perf_counter()
    out = Path(out)
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
    samples = inputs.samples
    lineage = {r["key"]: r for r in inputs.lineage}
    total = 2 * len(samples)
    done = 0
    written = 0
    for side in ("hr", "lr"):
        final = out / f"{side}.lmdb"
        tmp = temp_name(final)
        remove_path(tmp)
        sizes = [s.hr_file_bytes if side == "hr" else s.lr_file_bytes for s in samples]
        writer = LmdbShardWriter(tmp, map_size=lmdb_map_size(sizes))
        lines = []
        try:
            for s in samples:
                path = s.hr_path if side == "hr" else s.lr_path
                expected = s.hr_sha256 if side == "hr" else s.lr_sha256
                with open(path, "rb") as f:
                    data = f.read()
                if hashlib.sha256(data).hexdigest() != expected:
                    raise StageError(f"{path}: its sha256 differs from degradations.jsonl (changed after "
                                     "`sr-data degrade`); rerun `sr-data degrade` for this recipe")
                h, w, c = _png_hwc(data, path)
                writer.put_value(s.key.encode("ascii"), data)
                source = (lineage.get(s.key) or {}).get("tile" if side == "hr" else "degradation") or {}
                level = source.get("png_level", DEFAULT_PNG_LEVEL)
                lines.append(f"{s.key}.png ({h},{w},{c}) {level}\n")
                written += len(data)
                done += 1
                if on_progress and (done % 32 == 0 or done == total):
                    on_progress(done, total)
            writer.close()
        except BaseException:
            writer.abort()
            remove_path(tmp)
            raise
        (tmp / META_INFO).write_text("".join(lines), encoding="ascii")
        remove_path(final)
        os.replace(tmp, final)
    seconds = time.perf_counter() - started
    file_bytes = sum((out / f"{side}.lmdb" / "data.mdb").stat().st_size for side in ("hr", "lr"))
    return {
        "out": str(out), "format": "lmdb", "layout": "basicsr", "codec": "png", "samples": len(samples),
        "shards": 2, "shards_written": 2, "shards_reused": 0, "payload_bytes": written,
        "file_bytes": file_bytes, "scale": inputs.scale,
        "channels": samples[0].hr_shape[2] if samples else None,
        "seconds": seconds, "records_written": len(samples),
        "mb_per_s": written / 1e6 / seconds if seconds > 0 else 0.0,
        "tiles_per_s": len(samples) / seconds if seconds > 0 else 0.0,
        "missing": {k: v for k, v in inputs.missing.items() if v},
        "next": (f"BasicSR / traiNNer-redux / neosr: dataroot_gt: {out / 'hr.lmdb'}, dataroot_lq: "
                 f"{out / 'lr.lmdb'}, io_backend: {{type: lmdb}}, scale: {inputs.scale}"),
    }
