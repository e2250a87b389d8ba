"""``sr-data inspect``: a store's summary and a contact sheet of random pairs (HR | LR, nearest-upscaled)."""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np

from srkit.core.images import hwc
from srkit.shards.reader import Store

GAP = 6
LABEL = 18
BACKGROUND = 128


def summary_rows(store: Store) -> list[tuple[str, str]]:
    """(field, value) rows describing a store, for a table."""
    idx = store.index
    split = idx.get("split") or {}
    recipe = idx.get("recipe") or {}
    rows = [
        ("store", str(store.path)),
        ("format", f"{idx['backend']} (version {idx['version']}), codec {idx['codec']}"
                   + (f", {idx['hdf5_compression']}" if idx.get("hdf5_compression") else "")
                   + f", checksums {idx.get('checksum', '?')}"),
        ("samples", f"{len(store):,}"),
        ("shards", f"{len(store.shard_ranges)}"),
        ("payload", f"{idx['payload_bytes'] / 1e6:,.1f} MB (files {idx['file_bytes'] / 1e6:,.1f} MB)"),
        ("scale", str(store.scale)),
        ("channels", str(store.channels)),
        ("HR shapes", ", ".join(f"{k} x{v}" for k, v in idx["hr_shapes"].items())),
        ("LR shapes", ", ".join(f"{k} x{v}" for k, v in idx["lr_shapes"].items())),
        ("recipe", f"{recipe.get('name')} ({str(recipe.get('hash'))[:12]})" if recipe else "-"),
        ("split", f"train {len(store.train_indices):,} / val {len(store.val_indices):,} "
                  f"(by {split.get('method')}, asked {split.get('val_fraction')})"),
        ("lineage", idx["lineage"]["file"] if idx.get("lineage") else "-"),
    ]
    return rows


def _label(width: int, text: str, channels: int) -> np.ndarray:
    strip = np.full((LABEL, width), 255, np.uint8)
    cv2.putText(strip, text[: max(1, width // 7)], (3, LABEL - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 0, 1,
                cv2.LINE_AA)
    return np.repeat(strip[:, :, None], channels, axis=2)


def contact_sheet(store: Store, n: int = 16, seed: int = 0, columns: int = 2) -> tuple[np.ndarray, list[str]]:
    """A sheet of ``n`` random pairs: each cell is HR beside LR nearest-upscaled to the HR size."""
    rng = np.random.default_rng(seed)
    count = min(n, len(store))
    picks = np.sort(rng.choice(len(store), size=count, replace=False)) if count else np.array([], int)
    cells = []
    keys = []
    for i in picks:
        pair = store.read(int(i))
        hr, lr = hwc(pair.hr), hwc(pair.lr)
        up = cv2.resize(pair.lr, (hr.shape[1], hr.shape[0]), interpolation=cv2.INTER_NEAREST)
        up = hwc(up)
        c = hr.shape[2]
        gap = np.full((hr.shape[0], GAP, c), BACKGROUND, np.uint8)
        body = np.concatenate([hr, gap, up], axis=1)
        text = f"{pair.key}  HR {pair.hr.shape[:2]} | LR {lr.shape[:2]} x{store.scale}"
        label = _label(body.shape[1], text, c)
        cells.append(np.concatenate([label, body], axis=0))
        keys.append(pair.key)
    if not cells:
        return np.full((16, 16), BACKGROUND, np.uint8), keys
    c = cells[0].shape[2]
    cell_h = max(x.shape[0] for x in cells)
    cell_w = max(x.shape[1] for x in cells)
    columns = max(1, min(columns, len(cells)))
    rows = -(-len(cells) // columns)
    sheet = np.full((rows * (cell_h + GAP) + GAP, columns * (cell_w + GAP) + GAP, c), BACKGROUND, np.uint8)
    for k, cell in enumerate(cells):
        r, col = divmod(k, columns)
        y, x = GAP + r * (cell_h + GAP), GAP + col * (cell_w + GAP)
        sheet[y:y + cell.shape[0], x:x + cell.shape[1]] = cell
    return (sheet[:, :, 0] if c == 1 else sheet), keys


def write_sheet(store: Store, out: str | os.PathLike, n: int = 16, seed: int = 0) -> dict[str, Any]:
    from srkit.core.images import write_png

    sheet, keys = contact_sheet(store, n=n, seed=seed)
    write_png(out, np.ascontiguousarray(sheet), 3)
    return {"out": str(out), "pairs": len(keys), "keys": keys, "shape": list(sheet.shape)}
