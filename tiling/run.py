"""Cut pages into lossless PNG tiles with scores and rejection reasons: ``sr-data tile``.

``tile_pages(inputs, out_dir, options)`` is the whole stage; the CLI only parses options and prints.

Grid: tiles of ``size`` px every ``step`` px (overlap when ``step < size``); the right/bottom
remainder follows ``edge``: ``shift`` (default, one extra tile aligned to the border, nothing lost),
``drop``, or ``pad`` (white padding; the record keeps the true size in ``true_w``/``true_h``).
Pages smaller than one tile are skipped with a reason (except with ``pad``).

Color: ``auto`` (default) stores a page as 1 channel when it is gray in content (R = G = B within
``srkit.core.images.GRAY_TOLERANCE`` levels at all but ``GRAY_OUTLIER_FRACTION`` of the pixels), so
grayscale manga stays 1-channel end to end; ``gray`` and ``rgb`` force 1 or 3 channels. Alpha is
composited on white (manga paper) and the page record says so (``alpha_composited``).

Scores of every candidate tile, kept or rejected (gray luma, 0..255 levels; see tiling/scores.py):
``std`` (pixel standard deviation), ``lap`` (mean absolute 4-neighbour Laplacian: fine detail),
``white``/``black`` (fraction of pixels >= 240 / <= 16) and ``tone`` (0..1, share of the spectral
power of the tile's central 128 px patch held by its 4 strongest frequency pairs of period 2-16 px:
regular screentone scores 0.3 and above, line art and noise below about 0.1).

Rejection (defaults tuned on the three `dev` manga pages, 1414 x 2000 scans, for the default
400 px tiles):
- ``flat``: ``std < 4``. Blank paper is exactly 255 on these scans (std 0) and solid black is
  within a few levels; every tile holding some drawing had std 8 or more.
- ``low_detail``: ``lap < 3``. A 400 px tile holding only a panel border or a stray stroke
  scores 0.5-2.6 (a crisp 3 px line: 2.55); the sparsest tiles worth keeping on those pages (a
  few characters of text, light hatching) score 10 and above; screentone and drawn areas 20-120.
  A lone line's score falls as the tile grows (about 3.7 at 200 px), so with a much smaller
  ``--size`` raise ``--min-lap``.
- ``duplicate``: the same pixels as another tile (any page): the smallest key is kept.
- ``not_selected``: beyond ``max_per_page`` kept tiles of the page: with ``select="best"`` the
  most detailed are kept (ranked by ``lap``, ties by key), with ``grid`` the first in key order.
  Duplicates across pages are settled after this choice, so a page can end with fewer.

Output in ``out_dir``: ``{key}.png`` per kept tile (written atomically), ``tiles.jsonl`` (tile
records of a page appended once its tiles are on disk, its page record last; rewritten sorted at
the end), ``errors.jsonl`` (one line per file that could not be used), ``run.json`` (the options;
a rerun with other options is refused). A rerun skips complete pages and finishes the rest; the
final files are byte-identical whatever the interruptions or the number of workers.

Pages already in the folder that are not among this run's sources (a page removed from the source
folder, or another folder tiled into the same ``out_dir``) keep their tiles and are reported;
``prune`` drops them, manifest first (atomically), then their files. The summary also names what
the next stages should know: gray and colour pages side by side (a store holds one channel count),
files with several frames (the first is tiled) and colour profiles converted to sRGB.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from srkit.core.console import UsageError
from srkit.core.files import atomic_write_text, remove_stale_temps
from srkit.core.keys import parse_tile_key
from srkit.core.locks import folder_lock
from srkit.core.manifest import JsonlAppender, canonical_json, read_jsonl, write_jsonl_sorted
from srkit.core.parallel import parallel_map, resolve_jobs
from srkit.core.workspace import ERRORS_LOG, RUN_RECORD, TILES_MANIFEST
from srkit.tiling.options import TileOptions
from srkit.tiling.page import PageTask, page_counts, tile_one_page
from srkit.tiling.sources import find_sources

NEXT_COMMAND = "sr-data degrade --recipe rawkuma_like"


@dataclass
class FileError:
    source: str
    path: str
    problem: str

    def record(self) -> dict[str, Any]:
        return {"source": self.source, "path": self.path, "problem": self.problem}


@dataclass
class TileSummary:
    out_dir: str
    pages_found: int = 0
    pages_resumed: int = 0  # complete before this run
    pages_read: int = 0  # tiled in this run
    pages_complete: int = 0  # in the finished manifest
    tiles_written: int = 0  # files written in this run (duplicates across pages are removed at the end)
    tiles_kept: int = 0  # in the finished manifest
    tiles_kept_now: int = 0  # ... of the pages tiled in this run
    candidates: int = 0  # in the finished manifest
    rejected: dict[str, int] = field(default_factory=dict)  # by reason, finished manifest
    skipped: list[FileError] = field(default_factory=list)  # files not tiled, with the reason
    stale_pages: list[str] = field(default_factory=list)  # sources of pages kept though not among the inputs
    stale_tiles: int = 0  # their kept tiles
    pruned_pages: list[str] = field(default_factory=list)  # ... or dropped with --prune
    colour_pages: list[str] = field(default_factory=list)  # sources of 3-channel pages ...
    gray_pages: int = 0  # ... and the count of 1-channel ones, in the finished manifest
    first_frame_only: list[str] = field(default_factory=list)  # "source (N frames)"
    profiles_converted: list[str] = field(default_factory=list)  # "source: what was done"
    seconds: float = 0.0

    @property
    def mixed_channels(self) -> bool:
        return bool(self.colour_pages) and self.gray_pages > 0

    @property
    def exit_ok(self) -> bool:
        return not self.skipped


# ---------------------------------------------------------------------------------- the stage


def _check_run_options(out_dir: Path, opts: TileOptions) -> None:
    path = out_dir / RUN_RECORD
    wanted = {"stage": "tile", "options": opts.output_options()}
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except (OSError, ValueError):
            previous = None
        if previous is not None and previous != wanted:
            before = previous.get("options", {}) if isinstance(previous, dict) else {}
            diff = [f"{k}={before.get(k)!r} (now {v!r})" for k, v in wanted["options"].items()
                    if before.get(k) != v]
            raise UsageError(
                f"{out_dir} was made with other options: {', '.join(diff) or 'unknown'}; "
                "rerun with the same options, or use another --out (or delete the folder)"
            )
    atomic_write_text(path, canonical_json(wanted) + "\n")


def _latest_records(out_dir: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Tile records by key and page records by page; a record written later replaces an earlier one."""
    tiles: dict[str, dict[str, Any]] = {}
    pages: dict[str, dict[str, Any]] = {}
    for rec in read_jsonl(out_dir / TILES_MANIFEST):
        if rec.get("type") == "tile" and isinstance(rec.get("key"), str):
            tiles[rec["key"]] = rec
        elif rec.get("type") == "page" and isinstance(rec.get("page"), str):
            pages[rec["page"]] = rec
    return tiles, pages


def tile_pages(
    inputs: list[str | os.PathLike],
    out_dir: str | os.PathLike = "tiles",
    options: TileOptions | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> TileSummary:
    """Run the tile stage; resumable. See the module docstring for what is written.

    ``on_start(pages_to_do, pages_resumed)`` is called once, ``on_progress(pages_done, pages_to_do,
    tiles_written)`` after each page. Raises UsageError for bad options or missing inputs.
    """
    opts = options or TileOptions()
    opts.check()
    if not inputs:
        raise UsageError("no input given: name page files or folders, e.g. sr-data tile pages/")
    out = Path(out_dir)
    start = time.perf_counter()
    try:
        sources, unusable = find_sources(list(inputs), exclude=[out])
    except FileNotFoundError as err:
        raise UsageError(f"{err}; check the path (names starting with '-' need ./ or --)") from None
    if not sources and not unusable:
        raise UsageError(f"no files found in {', '.join(map(str, inputs))}: name page files or folders "
                         "holding PNG, JPEG, WebP, TIFF or BMP pages")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder; name a folder for the tiles")
    out.mkdir(parents=True, exist_ok=True)
    summary = TileSummary(out_dir=str(out), pages_found=len(sources))
    errors = [FileError(s.source, s.path, s.problem) for s in unusable]
    with folder_lock(out, f"another sr-data tile is writing to {out}; wait for it or use another --out"):
        _check_run_options(out, opts)
        remove_stale_temps(out)
        _, pages = _latest_records(out)
        done = {p for p, r in pages.items() if r.get("status") in ("complete", "skipped")}
        todo = [s for s in sources if s.page not in done]
        summary.pages_resumed = len(sources) - len(todo)
        jobs = min(resolve_jobs(opts.jobs), max(1, len(todo)))
        tasks = [PageTask(s, str(out), opts, single_thread=jobs > 1) for s in todo]
        if on_start:
            on_start(len(todo), summary.pages_resumed)
        (out / ERRORS_LOG).write_bytes(b"")  # this run's errors only: unreadable files are retried
        read_now: set[str] = set()
        with JsonlAppender(out / TILES_MANIFEST) as log, JsonlAppender(out / ERRORS_LOG) as err_log:
            for err in errors:
                err_log.write(err.record())
            for n, result in enumerate(parallel_map(tile_one_page, tasks, jobs, opts.backend), 1):
                if "error" in result:
                    src = result["source"]
                    error = FileError(src.source, src.path, result["error"])
                    errors.append(error)
                    err_log.write(error.record())
                else:
                    for rec in result["tiles"]:
                        log.write(rec)
                    log.write(result["page"])  # last: the page is complete only once this is written
                    read_now.add(result["page"]["page"])
                    summary.pages_read += 1
                    summary.tiles_written += result["written"]
                if on_progress:
                    on_progress(n, len(tasks), summary.tiles_written)
        finish(out, errors, summary, {s.page: s.path for s in sources}, prune=opts.prune, read_now=read_now)
    summary.seconds = time.perf_counter() - start
    return summary


def finish(out: Path, errors: list[FileError], summary: TileSummary, paths: dict[str, str],
           prune: bool = False, read_now: set[str] = frozenset()) -> None:
    """Settle duplicates across pages, rewrite the manifests sorted, remove unkept tile files; report
    (or with ``prune`` drop) the pages that are not among the sources ``paths``."""
    tiles, pages = _latest_records(out)
    tiles = {k: r for k, r in tiles.items() if r["page"] in pages}  # drop tiles of unfinished pages
    stale = sorted((p for p in pages if p not in paths), key=lambda p: pages[p].get("source", p))
    stale_sources = [pages[p].get("source", p) for p in stale]
    if prune:
        summary.pruned_pages = stale_sources
        pages = {p: r for p, r in pages.items() if p not in stale}
        tiles = {k: r for k, r in tiles.items() if r["page"] in pages}
    else:
        summary.stale_pages = stale_sources
        summary.stale_tiles = sum(1 for r in tiles.values() if r["page"] in stale and r["status"] == "kept")
    groups: dict[str, list[str]] = {}
    for key, rec in tiles.items():
        if rec["status"] == "kept" or rec.get("reason") == "duplicate":
            groups.setdefault(rec["sha256"], []).append(key)
    for keys in groups.values():
        keys.sort()
        winner = tiles[keys[0]]
        winner.update(status="kept", reason=None, file=f"{keys[0]}.png")
        winner.pop("duplicate_of", None)
        for key in keys[1:]:
            tiles[key].update(status="rejected", reason="duplicate", file=None, duplicate_of=keys[0])
    per_page: dict[str, list[dict[str, Any]]] = {}
    for rec in tiles.values():
        per_page.setdefault(rec["page"], []).append(rec)
    for page, rec in pages.items():
        if rec.get("status") == "complete":
            rec.update(page_counts(per_page.get(page, [])))
    order = {"tile": 0, "page": 1}
    write_jsonl_sorted(
        out / TILES_MANIFEST, [*tiles.values(), *pages.values()],
        sort_key=lambda r: (r["page"], order[r["type"]], r.get("key", "")),
    )
    kept_files = {rec["file"] for rec in tiles.values() if rec["status"] == "kept"}
    _remove_unkept(out, kept_files)
    # Pages skipped for a reason (too small) are listed with the unreadable files.
    for rec in pages.values():
        if rec.get("status") == "skipped" and rec["page"] in paths:
            path = paths.get(rec["page"], rec["source"])
            errors.append(FileError(rec["source"], path, rec.get("reason") or "skipped"))
    errors.sort(key=lambda e: (e.source, e.path))
    write_jsonl_sorted(out / ERRORS_LOG, [e.record() for e in errors],
                       sort_key=lambda r: (r["source"], r["path"]))
    summary.skipped = errors
    complete = [r for r in pages.values() if r.get("status") == "complete"]
    summary.pages_complete = len(complete)
    summary.colour_pages = sorted(r["source"] for r in complete if r.get("channels") == 3)
    summary.gray_pages = sum(1 for r in complete if r.get("channels") == 1)
    summary.first_frame_only = sorted(f"{r['source']} ({r['image']['frames']} frames)" for r in complete
                                      if (r.get("image") or {}).get("frames", 1) > 1)
    summary.profiles_converted = sorted(f"{r['source']}: {r['image']['icc']}" for r in complete
                                        if (r.get("image") or {}).get("icc"))
    summary.candidates = len(tiles)
    summary.tiles_kept = len(kept_files)
    summary.tiles_kept_now = sum(1 for r in tiles.values() if r["status"] == "kept" and r["page"] in read_now)
    summary.rejected = dict(sorted(Counter(
        r["reason"] for r in tiles.values() if r["status"] != "kept").items()))


def _remove_unkept(out: Path, kept_files: set[str]) -> None:
    """Delete tile PNGs no kept record names (duplicates, leftovers of a page that was redone)."""
    with os.scandir(out) as entries:
        for entry in entries:
            name = entry.name
            if not name.endswith(".png") or name in kept_files or name.startswith("."):
                continue
            try:
                parse_tile_key(name[:-4])
            except ValueError:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def summary_dict(summary: TileSummary) -> dict[str, Any]:
    d = asdict(summary)
    d["skipped"] = [e.record() for e in summary.skipped]
    return d
