"""The deterministic train/validation split, by whole pages when keys have a page part.

Tiles of one page look alike, so a page whose tiles sit on both sides of the split leaks training
data into validation. Samples are therefore grouped by page (the part of a tile key before
``_{y}_{x}``, see ``srkit.core.keys``); groups are ordered by the sha256 of their name and taken in that
order until the validation set holds at least ``val_fraction`` of the samples. The choice depends
only on the keys, never on the order they were packed in.

When whole pages cannot give a validation set close to the fraction asked for (fewer than two
pages, or one page alone would be more than twice the target, as with a handful of pages), the
split falls back to single keys in the same hash order: ``method`` in the index says so and ``why``
says why, with the fraction that would hold out whole pages. Validation tiles then come from pages
that training sees too, so their PSNR is optimistic; ``sr-data pack`` and ``sr-train`` say so.
"""

from __future__ import annotations

import hashlib
import math
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
    """The split recorded in ``index.json``: method, fraction asked, the validation groups, counts, and
    for a split by single keys, ``why`` whole pages could not be used."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    n = len(keys)
    target = val_fraction * n
    method = "key"
    why = None
    val: list[str] = []
    if target > 0 and n >= 2:
        pages = [page_of(k) for k in keys]
        sizes = Counter(pages)
        if None in sizes:
            why = "some keys have no page part ({page}_{y}_{x}), so samples cannot be grouped by page"
        elif len(sizes) < 2:
            why = "all samples come from one page; holding out whole pages needs two or more"
        else:
            chosen = _take(dict(sizes), target)
            count = sum(sizes[p] for p in chosen)
            if count <= 2 * target:
                method, val = "page", sorted(chosen)
            else:
                # The first page in hash order alone is within twice any target from half its size up.
                need = math.ceil(100 * sizes[_hash_order(list(sizes))[0]] / (2 * n)) / 100
                why = (f"{len(sizes)} pages: whole pages would put {count} samples in validation, more than "
                       f"twice the {target:.1f} asked (val_fraction {val_fraction}); val_fraction {need:.2f} "
                       "or more holds out a whole page")
        if method == "key":
            val = sorted(_take(dict.fromkeys(keys, 1), target))
    split: dict[str, Any] = {"method": method, "val_fraction": val_fraction, "val_groups": val}
    if why:
        split["why"] = why
    mask = validation_mask(keys, split)
    split["val_count"] = int(mask.sum())
    split["train_count"] = n - split["val_count"]
    return split


def shared_pages(keys: list[str], split: dict[str, Any]) -> int:
    """How many pages have samples on both sides of the split (0 for a split by pages)."""
    mask = validation_mask(keys, split)
    val = {page_of(k) for k, m in zip(keys, mask, strict=True) if m} - {None}
    train = {page_of(k) for k, m in zip(keys, mask, strict=True) if not m}
    return len(val & train)


def validation_mask(keys: list[str], split: dict[str, Any]) -> np.ndarray:
    """Boolean array over ``keys``: True where the sample belongs to the validation set."""
    groups = set(split.get("val_groups", []))
    if split.get("method") == "page":
        return np.fromiter((page_of(k) in groups for k in keys), dtype=bool, count=len(keys))
    return np.fromiter((k in groups for k in keys), dtype=bool, count=len(keys))
