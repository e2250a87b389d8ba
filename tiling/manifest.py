"""Reading a tiles folder: what later stages need from ``tiles/tiles.jsonl``.

Record kinds (one JSON object per line, keys sorted):
- ``{"type": "tile", "key", "page", "source", "source_sha256", "x", "y", "w", "h", "channels",
  "scores": {...}, "status": "kept" | "rejected", "reason": null | str, "file": "KEY.png" | null}``
- ``{"type": "page", "page", "source", "source_sha256", "width", "height", "channels",
  "alpha_composited", "status": "complete", ...counts}``: written after all tiles of the page,
  so a page without it is incomplete and is redone on rerun.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from srio.manifest import read_jsonl

MANIFEST_NAME = "tiles.jsonl"
ERRORS_NAME = "errors.jsonl"


def manifest_path(tiles_dir: str | os.PathLike) -> Path:
    return Path(tiles_dir) / MANIFEST_NAME


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
