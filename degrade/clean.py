"""``sr-data clean``: an HR clean-up before pairing, as a tiles folder of its own.

The m-SRCNN paper (Intaniyom, Thananporn and Woraratpanya, "Enhancement of Anime Imaging
Enlargement using Modified Super-Resolution CNN", section III-B) sharpened and denoised every image
before making its LR/HR pairs. Here that is a recipe that keeps the size (``scale = 1``, e.g. the
shipped ``msrcnn_clean``) run over the kept tiles by the degradation engine itself, so it has the
same ops, TOML format, per-sample plan log, resume and ``sr-data replay``.

It is a stage of its own rather than an option of ``sr-data tile`` because the ops live in the
degrade package, which tiling must not import (data flows one way), and because the original tiles
stay as they are: cleaned and uncleaned pairs can be made and compared side by side.

Output folder (default ``TILES_RECIPE/`` beside the tiles, e.g. ``tiles_msrcnn_clean/``):
- ``{key}.png``, ``degradations.jsonl`` (one plan per tile), ``run.json``, ``errors.jsonl``: what
  ``sr-data degrade`` writes, so ``sr-data replay tiles_msrcnn_clean`` checks every cleaned tile;
- ``tiles.jsonl``, written last: the source's manifest with each kept tile pointing at its cleaned
  file (``sha256`` of the cleaned PNG, ``cleaned`` = recipe, its hash and the source tile's sha256),
  so ``sr-data degrade --tiles`` and ``sr-data pack --hr`` take the folder as any tiles folder. A
  tile that could not be cleaned is listed as rejected with reason ``clean_failed``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from srkit.core.console import UsageError
from srkit.core.manifest import read_jsonl, write_jsonl_sorted
from srkit.core.workspace import DEGRADATIONS_LOG, TILES_MANIFEST
from srkit.degrade.recipe import Recipe, load_recipe
from srkit.degrade.run import DegradeSummary, degrade_tiles


def default_clean_dir(tiles_dir: str | os.PathLike, recipe: Recipe) -> Path:
    """``TILES_RECIPE`` beside the tiles folder (``tiles`` + ``msrcnn_clean`` -> ``tiles_msrcnn_clean``)."""
    tiles = Path(tiles_dir)
    return tiles.parent / f"{tiles.name}_{recipe.name}"


def clean_tiles(
    tiles_dir: str | os.PathLike,
    recipe: Recipe | str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    seed: int | None = None,
    jobs: int | None = 1,
    backend: str = "loky",
    progress: bool = False,
) -> DegradeSummary:
    """Clean every kept tile of ``tiles_dir`` with a size-keeping ``recipe`` into a new tiles folder."""
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    if recipe.nominal_scale != 1:
        raise UsageError(f"recipe {recipe.name} changes the size (scale {recipe.nominal_scale}): a clean-up "
                         "recipe keeps it (scale = 1), e.g. msrcnn_clean")
    tiles = Path(tiles_dir)
    out = Path(out_dir) if out_dir is not None else default_clean_dir(tiles, recipe)
    if out.resolve() == tiles.resolve():
        raise UsageError(f"--out {out} is the tiles folder itself: the cleaned tiles go to a new folder")
    summary = degrade_tiles(tiles, recipe, out, seed=seed, jobs=jobs, backend=backend, png_level=1,
                            progress=progress)
    _write_manifest(tiles, out, recipe)
    return summary


def _write_manifest(tiles: Path, out: Path, recipe: Recipe) -> None:
    """The source manifest, each kept tile pointing at its cleaned file (or rejected as clean_failed)."""
    cleaned = {r["key"]: r for r in read_jsonl(out / DEGRADATIONS_LOG) if isinstance(r.get("key"), str)}
    records: list[dict[str, Any]] = []
    for rec in read_jsonl(tiles / TILES_MANIFEST):
        if rec.get("type") == "tile" and rec.get("status") == "kept":
            done = cleaned.get(rec.get("key"))
            rec = dict(rec)
            if done is None:
                rec.update(status="rejected", reason="clean_failed", file=None, sha256=None)
            else:
                rec.update(file=f"{rec['key']}.png", sha256=done["lr_sha256"],
                           cleaned={"recipe": recipe.name, "recipe_hash": recipe.hash,
                                    "source_sha256": rec.get("sha256")})
        records.append(rec)
    order = {"tile": 0, "page": 1}
    write_jsonl_sorted(out / TILES_MANIFEST, records,
                       sort_key=lambda r: (str(r.get("page")), order.get(r.get("type"), 2), r.get("key", "")))
