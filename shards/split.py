"""The deterministic train/validation split, by whole pages when keys have a page part.

Tiles of one page look alike, so a page whose tiles sit on both sides of the split leaks training
data into validation. Samples are therefore grouped by page (the part of a tile key before
``_{y}_{x}``, see ``srkit.core.keys``); groups are ordered by the sha256 of their name and taken in that
order until the validation set holds at least ``val_fraction`` of the samples. The choice depends
only on the keys, never on the order they were packed in.

When whole pages cannot give a validation set close to the fraction asked for (fewer than two
pages, or one page alone would be more than twice the target, as with a handful of pages), the
split falls back to single keys in the same hash order, and ``method`` in the index says so.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import numpy as np

from srkit.core.keys import parse_tile_key


def page_of(key: str) -> str | None:
    """The page part of a tile key, or None when the key is not ``{page}_{y}_{x}``."""
    try:
        page, _, _ = parse_tile_key(key)
    except ValueError:
        return None
    return page or None


def _hash_order(names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: (hashlib.sha256(n.encode("utf-8")).hexdigest(), n))


def _take(sizes: dict[str, int], target: float) -> list[str]:
    chosen: list[str] = []
    total = 0
    order = _hash_order(list(sizes))
    for name in order[:-1]:  # never every group: training keeps at least one
        if total >= target:
            break
        chosen.append(name)
        total += sizes[name]
    return chosen


def choose_split(keys: list[str], val_fraction: float) -> dict[str, Any]:
    """The split recorded in ``index.json``: method, fraction asked, the validation groups, counts."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    n = len(keys)
    target = val_fraction * n
    method = "key"
    val: list[str] = []
    if target > 0 and n >= 2:
        pages = [page_of(k) for k in keys]
        sizes = Counter(pages)
        if None not in sizes and len(sizes) >= 2:
            chosen = _take(dict(sizes), target)
            count = sum(sizes[p] for p in chosen)
            if count <= 2 * target:
                method, val = "page", sorted(chosen)
        if method == "key":
            val = sorted(_take(dict.fromkeys(keys, 1), target))
    split = {"method": method, "val_fraction": val_fraction, "val_groups": val}
    mask = validation_mask(keys, split)
    split["val_count"] = int(mask.sum())
    split["train_count"] = n - split["val_count"]
    return split


def validation_mask(keys: list[str], split: dict[str, Any]) -> np.ndarray:
    """Boolean array over ``keys``: True where the sample belongs to the validation set."""
    groups = set(split.get("val_groups", []))
    if split.get("method") == "page":
        return np.fromiter((page_of(k) in groups for k in keys), dtype=bool, count=len(keys))
    return np.fromiter((k in groups for k in keys), dtype=bool, count=len(keys))
