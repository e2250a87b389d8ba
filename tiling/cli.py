"""Commands of the `tiling` stage for `sr-data`."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape

from srkit.core.console import EXIT_CODES_HELP, EXIT_OK, EXIT_SKIPPED, console, friendly_errors, make_progress
from srkit.core.images import DEFAULT_MAX_PIXELS, GRAY_TOLERANCE
from srkit.tiling.scores import DEFAULT_FLAT_STD, DEFAULT_MIN_LAP

TILE_HELP = (
    "Cut pages (files or folders, searched recursively; PNG, JPEG, WebP, TIFF, BMP) into lossless PNG "
    "tiles in OUT/{key}.png, with scores (std, lap, white, black, tone) and a reason for every rejected "
    "tile in OUT/tiles.jsonl. Every other file found (GIF, AVIF, HEIC, text, ...) is listed as skipped, "
    "with the reason. Embedded colour profiles are converted to sRGB; files with several frames (animated "
    "PNG/WebP, multi-page TIFF) give their first frame, and the summary names them.\n\n"
    "Gray pages stay 1-channel (--color auto: R=G=B within "
    f"{GRAY_TOLERANCE} levels). Alpha is composited on white. Flat tiles (blank paper, solid black) "
    "and low-detail tiles are rejected; exact duplicates are kept once. Files that cannot be used are "
    "listed with the reason in the summary and OUT/errors.jsonl, and the run goes on.\n\n"
    "Safe to interrupt: rerun the same command to finish; the result is the same bytes. Pages already "
    "in OUT that are not among the sources keep their tiles and are reported (--prune drops them). Gray "
    "and colour pages side by side are named in the summary: a store holds one channel count.\n\n"
    "Example: sr-data tile pages/ --size 400 ; names starting with '-' go after --: "
    "sr-data tile -- -page.png\n\n" + EXIT_CODES_HELP
)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `sr-data` app."""

    @app.command("tile", help=TILE_HELP)
    @friendly_errors
    def tile(
        sources: list[str] = typer.Argument(..., metavar="SRC...", help="Page files and/or folders."),
        size: int = typer.Option(400, "--size", help="Tile side in pixels."),
        step: int = typer.Option(None, "--step", help="Grid step in pixels (default: SIZE); "
                                 "smaller than SIZE overlaps tiles.", show_default=False),
        out: Path = typer.Option(Path("tiles"), "--out", help="Output folder."),
        edge: str = typer.Option("shift", "--edge", help="Border remainder: shift (one extra tile "
                                 "aligned to the border), drop, or pad (white; true size recorded)."),
        color: str = typer.Option("auto", "--color", help="auto (gray content -> 1 channel), gray, rgb."),
        flat_std: float = typer.Option(DEFAULT_FLAT_STD, "--flat-std",
                                       help="Reject a tile as 'flat' when its pixel std is below this."),
        min_lap: float = typer.Option(DEFAULT_MIN_LAP, "--min-lap", help="Reject a tile as 'low_detail' "
                                      "when its mean absolute Laplacian is below this."),
        select: str = typer.Option("grid", "--select", help="grid: every tile that passes; best: the "
                                   "--max-per-page most detailed tiles of each page."),
        max_per_page: int = typer.Option(None, "--max-per-page", help="Most tiles kept per page (grid: "
                                         "the first N in reading order; best: the N most detailed)."),
        png_level: int = typer.Option(1, "--png-level", help="PNG zlib level 0-9 (lossless either way; "
                                      "higher is smaller and slower)."),
        max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels",
                                       help="Refuse pages above this many pixels (decompression bombs)."),
        jobs: int = typer.Option(0, "--jobs", "-j", help="Parallel workers; 0 = all cores (processes "
                                 "here, see --backend)."),
        backend: str = typer.Option("loky", "--backend", help="loky (processes), threading, or dask "
                                    "(needs the 'distributed' package)."),
        prune: bool = typer.Option(False, "--prune", help="Drop the tiles of pages in OUT that are not among "
                                   "the sources (a page removed from the source folder), manifest included."),
    ) -> None:
        from srkit.tiling.run import NEXT_COMMAND, TileOptions, tile_pages

        options = TileOptions(
            size=size, step=step, edge=edge, color=color, flat_std=flat_std, min_lap=min_lap,
            select=select, max_per_page=max_per_page, png_level=png_level, max_pixels=max_pixels,
            jobs=jobs, backend=backend, prune=prune,
        )
        progress = make_progress("pages")
        state: dict[str, float] = {"t0": time.perf_counter()}

        def on_start(todo: int, resumed: int) -> None:
            named = ", ".join(sources)
            console.print(escape(f"tiling {todo} page(s) from {named} into {out}/"), soft_wrap=True)
            if resumed:
                console.print(escape(f"resuming: {resumed} page(s) already done in {out}"), soft_wrap=True)
            state["task"] = progress.add_task("tiling", total=todo)
            progress.start()

        def on_progress(done: int, total: int, tiles: int) -> None:
            rate = tiles / max(1e-9, time.perf_counter() - state["t0"])
            progress.update(state["task"], completed=done,  # type: ignore[arg-type]
                            description=f"tiling ({tiles:,} tiles, {rate:,.0f} tiles/s)")

        try:
            summary = tile_pages(sources, out, options, on_progress=on_progress, on_start=on_start)
        finally:
            progress.stop()
        print_summary(summary)
        print_notes(summary, out)
        earlier = summary.tiles_kept - summary.tiles_kept_now
        console.print(escape(f"{out}/ holds {_count(summary.tiles_kept, 'tile')}: {summary.tiles_kept_now:,} "
                             f"from the {_count(summary.pages_read, 'page')} tiled now, {earlier:,} from "
                             f"earlier runs ({out}/tiles.jsonl, {out}/errors.jsonl)"), soft_wrap=True)
        if summary.tiles_kept:
            console.print(f"next: [bold]{NEXT_COMMAND}[/bold]")
        else:
            console.print(escape(f"no tile in {out}/: nothing for sr-data degrade yet (see the skipped "
                                 "files above)"), soft_wrap=True)
        raise typer.Exit(EXIT_OK if summary.exit_ok else EXIT_SKIPPED)


def print_summary(summary) -> None:  # noqa: ANN001 - a tiling.run.TileSummary
    from rich.table import Table

    table = Table(title="sr-data tile", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("pages found", f"{summary.pages_found:,}")
    table.add_row("pages read now", f"{summary.pages_read:,}")
    if summary.pages_resumed:
        table.add_row("pages done before (resumed)", f"{summary.pages_resumed:,}")
    table.add_row("tiles written now", f"{summary.tiles_written:,}")
    table.add_row("tiles kept (whole folder)", f"{summary.tiles_kept:,} of {summary.candidates:,}")
    if summary.stale_pages:
        table.add_row("pages kept, not among the sources", f"{len(summary.stale_pages):,}")
    if summary.pruned_pages:
        table.add_row("pages dropped (--prune)", f"{len(summary.pruned_pages):,}")
    for reason, count in summary.rejected.items():
        table.add_row(f"rejected: {reason}", f"{count:,}")
    table.add_row("files skipped", f"{len(summary.skipped):,}")
    table.add_row("seconds", f"{summary.seconds:,.1f}")
    console.print(table)
    for err in summary.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(err.path)}: {escape(err.problem)}", soft_wrap=True)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _names(items: list[str], limit: int = 10) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def print_notes(summary, out: Path) -> None:  # noqa: ANN001 - a tiling.run.TileSummary
    """What the next stages should know about the folder, one line each."""
    if summary.stale_pages:
        console.print("[yellow]note:[/yellow] " + escape(
            f"{len(summary.stale_pages)} page(s) in {out}/ are not among this run's sources and keep their "
            f"{summary.stale_tiles:,} tile(s), which degrade and pack will use: "
            f"{_names(summary.stale_pages)}; rerun with --prune to drop them"), soft_wrap=True)
    if summary.pruned_pages:
        console.print(escape(f"dropped {len(summary.pruned_pages)} page(s) no longer among the sources: "
                             f"{_names(summary.pruned_pages)}"), soft_wrap=True)
    if summary.mixed_channels:
        console.print("[yellow]note:[/yellow] " + escape(
            f"{summary.gray_pages} gray page(s) and {len(summary.colour_pages)} colour page(s) "
            f"({_names(summary.colour_pages)}): a store holds one channel count, so pack them with "
            "`sr-data pack lmdb --channels 1` (colour to luma) or `--channels 3` (gray to RGB), or tile "
            "them into separate folders, or retile with --color gray or --color rgb"), soft_wrap=True)
    if summary.first_frame_only:
        console.print("[yellow]note:[/yellow] " + escape(
            f"only the first frame was tiled of {len(summary.first_frame_only)} file(s) with several: "
            f"{_names(summary.first_frame_only)} (save the other frames as pages to use them)"),
            soft_wrap=True)
    if summary.profiles_converted:
        console.print(escape(f"colour profiles: {_names(summary.profiles_converted)}"), soft_wrap=True)
