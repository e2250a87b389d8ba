"""Reading a tiles folder: what later stages need from ``tiles/tiles.jsonl``.

Record kinds (one JSON object per line, keys sorted):
- ``{"type": "tile", "key", "page", "source", "source_sha256", "x", "y", "w", "h", "channels",
  "scores": {"std", "lap", "white", "black", "tone"}, "status": "kept" | "rejected",
  "reason": null | "flat" | "low_detail" | "duplicate" | "not_selected", "file": "KEY.png" | null,
  "sha256": sha256 of the PNG file | null}``; a duplicate also has ``duplicate_of`` (the kept key),
  a tile padded past the border (``--edge pad``) has ``true_w``/``true_h`` (its part on the page).
  ``w``/``h`` are always the size of the tile file.
- ``{"type": "page", "page", "source", "source_sha256", "width", "height", "channels",
  "alpha_composited", "image": {format, mode, bit_depth, exif_transposed, converted, ...},
  "status": "complete" | "skipped", "reason": null | str, "candidates", "kept",
  "rejected": {reason: count}}``: written after all tiles of the page, so a page without it is
  incomplete and is redone on rerun. ``skipped``: the page yields no tile (smaller than one tile).

``tiles/errors.jsonl`` lists the files that could not be used: ``{"source", "path", "problem"}``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from srkit.core.manifest import read_jsonl
from srkit.core.workspace import TILES_MANIFEST


def manifest_path(tiles_dir: str | os.PathLike) -> Path:
    return Path(tiles_dir) / TILES_MANIFEST


def complete_pages(tiles_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Page records of the pages whose tiles are all written, by page key."""
    return {
        r["page"]: r
        for r in read_jsonl(manifest_path(tiles_dir))
        if r.get("type") == "page" and r.get("status") == "complete"
    }


def kept_tiles(tiles_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Tile records of the kept tiles of complete pages, sorted by key (the order every stage uses)."""
    records = list(read_jsonl(manifest_path(tiles_dir)))
    done = {r["page"] for r in records if r.get("type") == "page" and r.get("status") == "complete"}
    kept = {
        r["key"]: r
        for r in records
        if r.get("type") == "tile" and r.get("status") == "kept" and r.get("page") in done
    }
    return [kept[k] for k in sorted(kept)]
