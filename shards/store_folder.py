"""The native store's folder: made ready for a pack, cleared of an earlier store's extra shards, and
given its files beside the shards (keys.txt, lineage.jsonl, and last, atomically, index.json)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from srkit.core.files import atomic_write_text, remove_stale_temps
from srkit.core.manifest import canonical_json
from srkit.core.workspace import STORE_INDEX
from srkit.shards.format import (
    CHECKSUM_NAME,
    FORMAT_NAME,
    FORMAT_VERSION,
    KEYS_NAME,
    LINEAGE_NAME,
    PROGRESS_NAME,
    SHARD_SUFFIX,
)
from srkit.shards.split import choose_split

STORE_FILES = {STORE_INDEX, KEYS_NAME, LINEAGE_NAME, PROGRESS_NAME}


def remove_path(path: Path) -> None:
    """Delete a file, a link or a folder (an LMDB shard is a folder), if there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def foreign_entries(out: Path) -> list[str]:
    """Names in ``out`` that a store never holds (so ``out`` is some other folder)."""
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir()
                  if p.name not in STORE_FILES and not p.name.startswith(("shard-", ".")))


def layout_of(out: Path) -> str | None:
    """``"ours"`` or ``"basicsr"`` when ``out`` holds a store of that layout (finished or not), else None."""
    if not out.is_dir():
        return None
    if (out / "hr.lmdb").is_dir() or (out / "lr.lmdb").is_dir():
        return "basicsr"
    if (out / STORE_INDEX).is_file() or any(out.glob("shard-*")) or (out / PROGRESS_NAME).exists():
        return "ours"
    return None


def clear_store(out: Path) -> None:
    """Delete what a store of either layout holds in ``out`` (``--overwrite`` of another layout), and
    nothing else: the index first, so a crash in between leaves an unfinished store, never a mixed one."""
    (out / STORE_INDEX).unlink(missing_ok=True)
    for path in sorted(out.iterdir()):
        if path.name in STORE_FILES or path.name in ("hr.lmdb", "lr.lmdb", ".srkit-pack.json") \
                or path.name.startswith(("shard-", ".shard-")):
            remove_path(path)


def missing_index_problem(out: Path) -> str:
    """Why a folder without index.json is not a store to read, and what to run instead."""
    if layout_of(out) == "basicsr":
        return (f"{out} is a BasicSR-layout store (hr.lmdb + lr.lmdb, written by `sr-data pack lmdb --layout "
                f"basicsr`): BasicSR, traiNNer-redux and neosr read it (dataroot_gt: {out / 'hr.lmdb'}, "
                f"dataroot_lq: {out / 'lr.lmdb'}, io_backend: lmdb); srkit's verify, inspect and sr-train "
                "read the native layout: `sr-data pack lmdb --out data.lmdb` packs one")
    if any(out.glob(f"*shard-*{SHARD_SUFFIX['hdf5']}*")) or out.suffix == SHARD_SUFFIX["hdf5"]:
        fmt = "hdf5"
    elif any(out.glob(f"*shard-*{SHARD_SUFFIX['lmdb']}*")) or out.suffix == SHARD_SUFFIX["lmdb"]:
        fmt = "lmdb"
    else:
        fmt = "lmdb|hdf5"
    return (f"{out}: no {STORE_INDEX}, so the store is incomplete: the pack was interrupted (or this is not "
            f"a store); rerun the same `sr-data pack {fmt}` command to finish it")


def prepare_out(out: Path) -> None:
    """Make ``out`` an incomplete store: its index.json goes first, stale temporaries too.

    Refuses (ValueError) a folder holding anything a store does not: packing into ``tiles/`` by
    mistake must not mix shards with the user's files.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; a store is a folder: choose another --out")
    foreign = foreign_entries(out)
    if foreign:
        raise ValueError(f"{out} is not a store (it holds {', '.join(foreign[:3])}"
                         f"{', ...' if len(foreign) > 3 else ''}): choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / STORE_INDEX).unlink(missing_ok=True)
    remove_stale_temps(out)


def remove_extra_shards(out: Path, backend: str, keep: int) -> None:
    """Delete shards numbered ``keep`` and above, and any of the other backend, left by an earlier store."""
    for shard_backend, suffix in SHARD_SUFFIX.items():
        for path in out.glob(f"shard-*{suffix}"):
            try:
                number = int(path.name.split("-", 1)[1].split(".", 1)[0])
            except ValueError:
                continue
            if shard_backend != backend or number >= keep:
                remove_path(path)


def _shape_counts(shapes: Iterable[tuple[int, int, int]]) -> dict[str, int]:
    counts = Counter(f"{h}x{w}x{c}" for h, w, c in shapes)
    return dict(sorted(counts.items()))


def write_index(out: Path, *, backend: str, codec: str, scale: int, shards: list[dict[str, Any]],
                keys: list[str], hr_shapes: list, lr_shapes: list, val_fraction: float,
                recipe: dict[str, Any] | None = None, lineage: Iterable[dict[str, Any]] | None = None,
                hdf5_compression: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write keys.txt, lineage.jsonl and, last and atomically, index.json; return the index."""
    channels = sorted({s[2] for s in hr_shapes})
    keys_text = "".join(k + "\n" for k in keys)
    atomic_write_text(out / KEYS_NAME, keys_text)
    index: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "backend": backend,
        "codec": codec,
        "checksum": CHECKSUM_NAME,
        "hdf5_compression": hdf5_compression if backend == "hdf5" else None,
        "count": len(keys),
        "scale": int(scale),
        "channels": channels[0] if len(channels) == 1 else None,
        "hr_shapes": _shape_counts(hr_shapes),
        "lr_shapes": _shape_counts(lr_shapes),
        "payload_bytes": int(sum(s["payload_bytes"] for s in shards)),
        "file_bytes": int(sum(s["file_bytes"] for s in shards)),
        "shards": shards,
        "keys": {"file": KEYS_NAME, "sha256": hashlib.sha256(keys_text.encode("ascii")).hexdigest()},
        "recipe": recipe,
        "split": choose_split(keys, val_fraction),
        "lineage": None,
    }
    if lineage is not None:
        lineage_text = "".join(canonical_json(r) + "\n" for r in lineage)
        atomic_write_text(out / LINEAGE_NAME, lineage_text)
        index["lineage"] = {"file": LINEAGE_NAME,
                            "sha256": hashlib.sha256(lineage_text.encode("utf-8")).hexdigest()}
    if extra:
        index.update(extra)
    atomic_write_text(out / STORE_INDEX, json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index


__all__ = ["clear_store", "layout_of", "missing_index_problem", "prepare_out", "remove_extra_shards",
           "remove_path", "write_index"]
