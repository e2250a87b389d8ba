"""Degrade a tiles folder with a recipe: LR PNGs + one log record per sample, resumable and parallel.

Output folder ``lr/NAME/``:
- ``run.json``, written first: the recipe (name, content hash, text), seed, scale, and the tiles
  folder, relative to ``lr/NAME/`` (``tiles_dir``, so a moved workspace still finds it) and absolute
  (``tiles_dir_absolute``, the fallback; see ``recorded_tiles_dir``). A rerun into a folder made with
  another recipe hash or seed is refused.
- ``{key}.png``: the LR tile, written atomically; then its record is appended to
- ``degradations.jsonl``: the sample's plan and hashes; rewritten sorted by key at the end, so the
  finished file is byte-identical for any job count and interruption history.
- ``errors.jsonl``: the samples that could not be made in the last run (one line each).

A sample counts as done only when its record exists, its LR file is in place and its logged HR
sha256 is the tile's; everything else is redone on rerun (the work is a pure function of the HR
bytes, the recipe, the seed and the key).
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srkit.core.console import UsageError, make_progress, warn
from srkit.core.files import atomic_write_text, inside, remove_stale_temps
from srkit.core.hashing import sha256_bytes
from srkit.core.images import channels, decode_png, write_png
from srkit.core.keys import check_key
from srkit.core.manifest import JsonlAppender, canonical_json, read_jsonl, write_jsonl_sorted
from srkit.core.parallel import parallel_map, resolve_jobs
from srkit.core.png_decode import decode_verified_png
from srkit.core.seeding import sample_seed
from srkit.core.versions import library_versions
from srkit.core.workspace import DEGRADATIONS_LOG, ERRORS_LOG, RUN_RECORD
from srkit.degrade.plan import ENGINE_VERSION
from srkit.degrade.recipe import Recipe, load_recipe

MAX_CHUNK = 64


@dataclass
class DegradeSummary:
    """What a degrade run did; ``exit_code`` is 1 when some samples could not be made."""

    out_dir: Path
    recipe: str
    recipe_hash: str
    seed: int
    total: int = 0
    made: int = 0
    already_done: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    op_counts: dict[str, int] = field(default_factory=dict)
    op_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


def logged_shape(img_shape: tuple[int, ...]) -> list[int]:
    """The ``[h, w, c]`` list a log record holds for an image shape, gray counting as one channel."""
    return [int(img_shape[0]), int(img_shape[1]), 1 if len(img_shape) == 2 else int(img_shape[2])]


def recorded_tiles_dir(lr_dir: str | os.PathLike, info: dict[str, Any]) -> Path | None:
    """The tiles folder ``run.json`` (``info``) of ``lr_dir`` names: its path relative to ``lr_dir`` when
    that folder exists (a moved or copied workspace), else the absolute path recorded beside it; None
    when run.json names none. Older run.json files hold only the absolute path."""
    candidates = []
    for key in ("tiles_dir", "tiles_dir_absolute"):
        value = info.get(key)
        if isinstance(value, str) and value:
            # absolute, as worker processes may have another working folder than this one
            candidates.append(Path(os.path.abspath(Path(lr_dir) / value)))
    return next((c for c in candidates if c.is_dir()), candidates[0] if candidates else None)


def default_out_dir(tiles_dir: str | os.PathLike, recipe: Recipe) -> Path:
    """``lr/NAME/`` beside the tiles folder (the workspace convention)."""
    return Path(tiles_dir).resolve().parent / "lr" / recipe.name


def degrade_tiles(
    tiles_dir: str | os.PathLike,
    recipe: Recipe | str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    seed: int | None = None,
    jobs: int | None = 1,
    backend: str = "loky",
    png_level: int = 1,
    progress: bool = False,
    chunk_size: int | None = None,
) -> DegradeSummary:
    """Degrade every kept tile of ``tiles_dir`` with ``recipe`` into ``out_dir``; resumable.

    Raises UsageError for a missing tiles manifest or an output folder made with another recipe or
    seed; bad tiles are listed in the summary (and ``errors.jsonl``) and do not stop the run.
    """
    from srkit.tiling.manifest import kept_tiles, manifest_path

    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    seed = recipe.seed if seed is None else int(seed)
    if seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, not {seed}")
    if not 0 <= png_level <= 9:
        raise UsageError(f"--png-level must be 0..9, not {png_level}")
    tiles_dir = Path(tiles_dir)
    if not manifest_path(tiles_dir).is_file():
        raise UsageError(f"no tiles manifest {manifest_path(tiles_dir)}: run `sr-data tile PAGES/` first "
                         "or point --tiles at a tiles folder")
    tiles = kept_tiles(tiles_dir)
    if not tiles:
        raise UsageError(f"{manifest_path(tiles_dir)} lists no kept tiles of complete pages: "
                         "rerun `sr-data tile` to finish the tiling")
    out = Path(out_dir) if out_dir is not None else default_out_dir(tiles_dir, recipe)
    out.mkdir(parents=True, exist_ok=True)
    _claim_out_dir(out, recipe, seed, tiles_dir, png_level)
    remove_stale_temps(out)

    summary = DegradeSummary(out_dir=out, recipe=recipe.name, recipe_hash=recipe.hash, seed=seed,
                             total=len(tiles))
    done = _done_keys(out)
    # A sample made from another HR (tiles remade, or another tiles folder such as a cleaned one)
    # is not done: its record's HR sha256 must be the tile's.
    todo = [(t["key"], t.get("file") or f"{t['key']}.png", t.get("sha256")) for t in tiles
            if t["key"] not in done or (t.get("sha256") and done[t["key"]] != t["sha256"])]
    summary.already_done = len(tiles) - len(todo)
    n_jobs = resolve_jobs(jobs)
    size = chunk_size or max(1, min(MAX_CHUNK, math.ceil(len(todo) / (n_jobs * 4)) if todo else 1))
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    task = _ChunkTask(str(tiles_dir), str(out), recipe, seed, png_level)

    start = time.perf_counter()
    bar = make_progress("tiles") if progress else None
    appender = JsonlAppender(out / DEGRADATIONS_LOG)
    try:
        if bar is not None:
            bar.start()
            bar_task = bar.add_task(f"degrade {recipe.name}", total=len(tiles),
                                    completed=summary.already_done)
        for result in parallel_map(task, chunks, jobs=n_jobs, backend=backend):
            for record in result["records"]:
                appender.write(record)
            summary.made += len(result["records"])
            summary.errors.extend(result["errors"])
            for name, (count, seconds) in result["timings"].items():
                summary.op_counts[name] = summary.op_counts.get(name, 0) + count
                summary.op_seconds[name] = summary.op_seconds.get(name, 0.0) + seconds
            if bar is not None:
                bar.advance(bar_task, len(result["records"]) + len(result["errors"]))
    finally:
        appender.close()
        if bar is not None:
            bar.stop()
    summary.seconds = time.perf_counter() - start
    _finish_log(out)
    _write_errors(out, summary.errors)
    return summary


def _claim_out_dir(out: Path, recipe: Recipe, seed: int, tiles_dir: Path, png_level: int) -> None:
    """Write run.json, or check that the folder was made by this recipe and seed."""
    run_path = out / RUN_RECORD
    absolute = tiles_dir.resolve()
    try:
        relative = os.path.relpath(absolute, out.resolve())
    except ValueError:  # another drive (Windows): only the absolute path can name it
        relative = str(absolute)
    info = {
        **recipe.run_json(),
        "seed": seed,
        "tiles_dir": Path(relative).as_posix(),
        "tiles_dir_absolute": str(absolute),
        "png_level": png_level,
        "versions": library_versions(),
    }
    if not run_path.exists():
        if out.resolve() == absolute or any(out.iterdir()):
            # run.json is written before any sample: a folder with files but no run.json is not ours.
            raise UsageError(f"{out} already holds files that no degradation made (no {RUN_RECORD}): use "
                             "an empty or new --out (nothing there was changed)")
        atomic_write_text(run_path, json.dumps(info, indent=2, sort_keys=True) + "\n")
        return
    try:
        old = json.loads(run_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UsageError(f"{run_path} is unreadable ({err}); use another --out or delete {out}") from None
    if "recipe_hash" not in old:  # another stage's folder (sr-data tile writes a run.json too)
        made_by = f"sr-data {old['stage']}" if isinstance(old.get("stage"), str) else "something else"
        raise UsageError(f"{out} holds the output of {made_by}, not of a degradation or clean-up: use "
                         "another --out (nothing there was changed)")
    if old.get("recipe_hash") != recipe.hash or old.get("seed") != seed:
        raise UsageError(
            f"{out} was made with recipe {old.get('recipe')!r} (hash {str(old.get('recipe_hash'))[:12]}) "
            f"and seed {old.get('seed')}, this run uses recipe {recipe.name!r} (hash {recipe.hash[:12]}) "
            f"and seed {seed}: use another --out or delete {out}"
        )
    if old.get("png_level") != png_level:
        raise UsageError(f"{out} was written with --png-level {old.get('png_level')}, not {png_level}: "
                         f"rerun with --png-level {old.get('png_level')}, use another --out or delete {out}")
    then = recorded_tiles_dir(out, old)
    if then is None or then.resolve() != absolute:
        warn(f"{out} was made from tiles in {then}, this run reads {absolute}; samples whose HR tile is "
             "the same are kept, the others are made again")


def _valid_key(key: object) -> bool:
    try:
        return isinstance(key, str) and check_key(key) == key
    except ValueError:
        return False


def _lr_files(out: Path) -> set[str]:
    """Names of the LR files in place: one directory scan rather than one stat per key."""
    with os.scandir(out) as entries:
        return {e.name for e in entries if e.name.endswith(".png") and e.is_file()}


def _done_keys(out: Path) -> dict[str, str | None]:
    """Keys with a complete record whose LR file is in place, with the HR sha256 they were made from."""
    present = _lr_files(out)
    return {
        r["key"]: r.get("hr_sha256")
        for r in read_jsonl(out / DEGRADATIONS_LOG)
        if _valid_key(r.get("key")) and f"{r['key']}.png" in present
    }


def _finish_log(out: Path) -> None:
    """Rewrite the log sorted by key, one record per key (the last one), only with LR files present."""
    present = _lr_files(out)
    latest: dict[str, dict[str, Any]] = {}
    for r in read_jsonl(out / DEGRADATIONS_LOG):
        key = r.get("key")
        if _valid_key(key) and f"{key}.png" in present:
            latest[key] = r
    # The bytes write_jsonl_sorted would write (keys are unique), each record serialised once.
    text = "".join(canonical_json(latest[key]) + "\n" for key in sorted(latest))
    atomic_write_text(out / DEGRADATIONS_LOG, text)


def _write_errors(out: Path, errors: list[dict[str, Any]]) -> None:
    path = out / ERRORS_LOG
    if errors:
        write_jsonl_sorted(path, errors, sort_key=lambda r: r["key"])
    elif path.exists():
        path.unlink()


class _ChunkTask:
    """Degrade a chunk of tiles in a worker; returns records, errors and op timings (picklable)."""

    def __init__(self, tiles_dir: str, out_dir: str, recipe: Recipe, seed: int, png_level: int):
        self.tiles_dir = tiles_dir
        self.out_dir = out_dir
        self.recipe = recipe
        self.seed = seed
        self.png_level = png_level

    def __call__(self, chunk: list[tuple[str, str, str | None]]) -> dict[str, Any]:
        records: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        timings: dict[str, list[float]] = {}
        for key, file, sha256 in chunk:
            try:
                records.append(degrade_one(self.tiles_dir, self.out_dir, self.recipe, self.seed,
                                           self.png_level, key, file, timings, sha256))
            except OSError as err:
                if err.errno == errno.ENOSPC:
                    raise
                errors.append({"key": key, "file": file, "error": str(err)})
            except (MemoryError, KeyboardInterrupt):
                raise
            except Exception as err:  # noqa: BLE001 - one bad tile must not stop a long run
                errors.append({"key": key, "file": file, "error": f"{type(err).__name__}: {err}"})
        return {"records": records, "errors": errors, "timings": timings}


@functools.lru_cache(maxsize=16)
def _resolved(folder: str) -> str:
    return str(Path(folder).resolve())


def tile_path(tiles_dir: str | os.PathLike, file: str) -> Path:
    """``inside(tiles_dir, file)``: the tile's path, refusing one outside the tiles folder.

    A plain file name that is not a link is inside by construction, so it skips resolving every
    component of its path (one lstat instead of one per component, on every tile).
    """
    if file and file not in (".", "..") and os.path.basename(file) == file and not os.path.isabs(file):
        candidate = os.path.join(_resolved(os.fspath(tiles_dir)), file)
        try:
            if not stat.S_ISLNK(os.lstat(candidate).st_mode):
                return Path(candidate)
        except OSError:
            pass  # missing or unreadable: the full check below, then reading, says what is wrong
    return inside(tiles_dir, file)


def degrade_one(
    tiles_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    recipe: Recipe,
    seed: int,
    png_level: int,
    key: str,
    file: str,
    timings: dict[str, list[float]] | None = None,
    expected_sha256: str | None = None,
) -> dict[str, Any]:
    """Read one HR tile, degrade it, write its LR PNG atomically and return its log record.

    ``expected_sha256`` (from tiles.jsonl) refuses a tile file that changed since it was tiled.
    """
    check_key(key)  # the key names the LR file: no path separators, no dots
    try:
        hr_path = tile_path(tiles_dir, file)
    except ValueError as err:
        raise ValueError(f"tile {key}: {err}") from None
    data = hr_path.read_bytes()
    hr_sha256 = sha256_bytes(data)
    if expected_sha256 and hr_sha256 != expected_sha256:
        raise ValueError(f"tile {key}: {hr_path} changed since it was tiled (its sha256 differs from "
                         "tiles.jsonl); restore it or rerun sr-data tile into a new folder")
    # Bytes that match the tiler's checksum are a PNG of ours: the faster decoder may read them.
    hr = decode_verified_png(data, str(hr_path)) if expected_sha256 else decode_png(data, str(hr_path))
    lr, plan = recipe.plan_and_apply(hr, key, seed, timings)
    lr_bytes = write_png(Path(out_dir) / f"{key}.png", lr, png_level)
    record = {
        "key": key,
        "hr_file": file,
        "hr_sha256": hr_sha256,
        "lr_sha256": sha256_bytes(lr_bytes),
        "recipe": recipe.name,
        "recipe_hash": recipe.hash,
        "seed": seed,
        "sample_seed": sample_seed(seed, key),
        "scale": recipe.scale,
        "nominal_scale": recipe.nominal_scale,
        "hr_shape": logged_shape(hr.shape),
        "lr_shape": logged_shape(lr.shape),
        "channels": channels(hr),
        "png_level": png_level,
        "steps": plan,
        "engine_version": ENGINE_VERSION,
        "versions": library_versions(),
    }
    canonical_json(record)  # refuse a record that cannot be logged before it is counted as done
    return record
