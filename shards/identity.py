"""What a store was made from, recorded so that nothing mistakes one store for another.

``pack_identity`` is what ``sr-data pack`` records in ``index.json`` (``made_from``): the recipe, the
digests of the HR tiles and LR files it read, and the settings that decide its bytes. A rerun into
the same folder compares it with the new one (``differences``): the same inputs resume or do
nothing, other inputs are refused unless ``--overwrite`` is given.

``store_identity`` is what a training checkpoint records about the store it trained on, so a resume
onto a re-packed store (other data, other validation set) is refused instead of mixing two runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from srkit.core.console import UsageError
from srkit.core.manifest import canonical_json
from srkit.core.workspace import STORE_INDEX
from srkit.shards.store_folder import clear_store, layout_of

# The BasicSR layout has no index.json: what it was made from is in this hidden file (its readers
# open hr.lmdb and lr.lmdb only).
BASICSR_RECORD = ".srkit-pack.json"
LAYOUTS = {"ours": "native (index.json + shards)", "basicsr": "BasicSR (hr.lmdb + lr.lmdb)"}

# How each field of an identity is named when it differs (and in what order they are listed).
FIELD_NAMES = {
    "layout": "layout",
    "backend": "format",
    "recipe": "recipe",
    "recipe_hash": "recipe content",
    "tiles_digest": "HR tiles",
    "lr_digest": "LR files",
    "samples": "sample count",
    "codec": "--codec",
    "channels": "--channels",
    "shard_size": "--shard-size",
    "val_fraction": "--val-fraction",
    "hdf5_compression": "--hdf5-compression",
    "data": "store contents",
    "scale": "scale",
    "count": "sample count",
    "split": "validation split",
}


def digest_lines(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()


def pack_identity(*, layout: str, backend: str, recipe: dict[str, Any] | None, samples: list[Any],
                  settings: dict[str, Any]) -> dict[str, Any]:
    """The record of what a pack reads and how it writes (``samples``: ``shards.inputs.Sample``)."""
    recipe = recipe or {}
    return {
        "layout": layout,
        "backend": backend,
        "recipe": recipe.get("name"),
        "recipe_hash": recipe.get("hash"),
        "tiles_digest": digest_lines(f"{s.key} {s.hr_sha256}" for s in samples),
        "lr_digest": digest_lines(f"{s.key} {s.lr_sha256}" for s in samples),
        "samples": len(samples),
        **settings,
    }


def _show(field: str, value: Any) -> str:
    if isinstance(value, str) and field.endswith(("digest", "hash")) or field in ("data", "split"):
        return str(value)[:12] if value else "unknown"
    return "unknown" if value is None else str(value)


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``what: old -> new`` for every field that differs, in a readable order."""
    fields = [f for f in FIELD_NAMES if f in old or f in new]
    fields += sorted(f for f in set(old) | set(new) if f not in FIELD_NAMES)
    out = []
    for field in fields:
        if old.get(field) != new.get(field):
            name = FIELD_NAMES.get(field, field)
            out.append(f"{name} {_show(field, old.get(field))} -> {_show(field, new.get(field))}")
    return out


def recorded(out: Path) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """(layout, ``made_from`` record, ``inputs_digest``) of the store in ``out``, as far as it says."""
    layout = layout_of(out)
    path = out / (BASICSR_RECORD if layout == "basicsr" else STORE_INDEX)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return layout, None, None
    if not isinstance(data, dict):
        return layout, None, None
    return layout, data.get("made_from") if layout == "ours" else data, data.get("inputs_digest")


def check_replace(out: Path, identity: dict[str, Any], inputs_digest: str | None, overwrite: bool) -> None:
    """Refuse to write over a store in ``out`` made from other inputs (UsageError naming what differs,
    and ``--overwrite``); with ``overwrite``, clear a store of the other layout out of the way."""
    layout, made_from, digest = recorded(out)
    if layout is None:
        return
    finished = layout == "basicsr" or (out / STORE_INDEX).is_file()
    same = (digest is not None and digest == inputs_digest) or made_from == identity
    if layout == identity["layout"] and (same or not finished):
        return  # the same inputs (resume, or nothing to do), or an unfinished pack to finish or redo
    if not overwrite:
        if layout != identity["layout"]:
            what = f"it has the {LAYOUTS[layout]} layout, this pack writes the {LAYOUTS[identity['layout']]}"
        elif made_from is not None:
            what = "; ".join(differences(made_from, identity)) or "other inputs"
        else:
            what = f"a {layout} layout store whose record does not say what it was made from"
        raise UsageError(f"{out} holds a store made from other inputs ({what}): pass --overwrite to "
                         "replace it, or --out NEW to keep it")
    if layout != identity["layout"]:
        clear_store(out)


def store_identity(index: dict[str, Any]) -> dict[str, Any]:
    """What identifies a finished store's data for training: its inputs (``inputs_digest`` of a pack,
    else its keys, shard and lineage digests), recipe, scale, channels, count and validation split."""
    data = index.get("inputs_digest")
    if not data:
        parts = [str((index.get(name) or {}).get("sha256")) for name in ("keys", "lineage")]
        parts += [str(entry.get("digest")) for entry in index.get("shards", [])]
        data = digest_lines(parts)
    recipe = index.get("recipe") or {}
    split = index.get("split") or {}
    return {
        "data": data,
        "recipe": recipe.get("name"),
        "recipe_hash": recipe.get("hash"),
        "scale": index.get("scale"),
        "channels": index.get("channels"),
        "count": index.get("count"),
        "split": hashlib.sha256(canonical_json({"method": split.get("method"),
                                                "val": split.get("val_groups")}).encode("ascii")).hexdigest(),
    }


__all__ = ["BASICSR_RECORD", "check_replace", "differences", "pack_identity", "recorded",
           "store_identity"]
