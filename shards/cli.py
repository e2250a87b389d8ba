"""Commands of the `shards` stage for `sr-data`: pack, verify, inspect."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from srkit.core.console import (
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_SKIPPED,
    StageError,
    UsageError,
    console,
    friendly_errors,
    make_progress,
)


class StoreFormat(StrEnum):
    lmdb = "lmdb"
    hdf5 = "hdf5"


class Codec(StrEnum):
    raw = "raw"
    png = "png"


class Layout(StrEnum):
    ours = "ours"
    basicsr = "basicsr"


class Compression(StrEnum):
    none = "none"
    gzip = "gzip"
    lzf = "lzf"


DEFAULT_OUT = {"lmdb": "data.lmdb", "hdf5": "data.h5"}


def _print_missing(missing: dict[str, list[str]]) -> int:
    labels = {"no_lr_record": "HR tiles without an LR record (not degraded yet?)",
              "no_hr_tile": "LR records without a kept HR tile",
              "lr_file_missing": "LR records whose LR file is missing",
              "hr_file_missing": "HR tiles whose file is missing"}
    total = 0
    for kind, keys in missing.items():
        total += len(keys)
        shown = ", ".join(keys[:8]) + (f", ... ({len(keys) - 8} more)" if len(keys) > 8 else "")
        console.print(f"[yellow]skipped[/yellow] {len(keys)} {labels.get(kind, kind)}: {shown}")
    return total


def _refuse_basicsr_layout(store: Path) -> None:
    """verify and inspect read our layout; a BasicSR-layout folder is named as such (exit 2)."""
    from srkit.shards.store_folder import layout_of, missing_index_problem

    if layout_of(store) == "basicsr":
        raise UsageError(missing_index_problem(store))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `sr-data` app."""

    @app.command("pack", help=(
        "Pack HR tiles and their LR versions into a store for training: numbered shards plus an "
        "index.json written last. Run it in the working folder after `sr-data tile` and `sr-data degrade`: "
        "the defaults find tiles/ and the single lr/RECIPE/ set. An interrupted pack resumes when rerun; "
        "a store without index.json is never used. --layout basicsr writes hr.lmdb + lr.lmdb for "
        "BasicSR / traiNNer-redux / neosr.\n\n"
        "A rerun with the same inputs resumes or does nothing; a store made from other inputs (recipe, "
        "tiles, codec, layout, ...) is never replaced unless --overwrite is given. A store holds one "
        "channel count: tiles of gray and colour pages are refused unless --channels 1|3 says how to "
        "convert them. The train/validation split is by whole pages when the pages allow it; the "
        "summary says when it is not, and why.\n\n" + EXIT_CODES_HELP))
    @friendly_errors
    def pack(
        fmt: StoreFormat = typer.Argument(..., metavar="lmdb|hdf5", help="Store format."),
        hr: Path = typer.Option(Path("tiles"), "--hr", help="HR tiles folder (from `sr-data tile`)."),
        lr: Path | None = typer.Option(None, "--lr", help="LR folder lr/RECIPE/ (default: the only one)."),
        out: Path | None = typer.Option(None, "--out", help="Store folder (default data.lmdb / data.h5; "
                                        "basicsr layout: basicsr_lmdb)."),
        shard_size: str = typer.Option("1GiB", "--shard-size", help="Payload per shard, e.g. 1GiB, 256MiB."),
        codec: Codec = typer.Option(Codec.raw, "--codec", help="raw: pixels, no decode on read (fastest "
                                    "reads); png: the tile files' PNG bytes as they are (smaller)."),
        val_fraction: float = typer.Option(0.02, "--val-fraction", min=0.0, max=0.99,
                                           help="Validation share, split by whole pages when possible."),
        layout: Layout = typer.Option(Layout.ours, "--layout", help="ours, or basicsr (hr.lmdb + lr.lmdb)."),
        hdf5_compression: Compression = typer.Option(Compression.none, "--hdf5-compression",
                                                     help="HDF5 chunk compression."),
        jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Parallel workers; 0 = all cores (threads "
                                 "here: reading and decoding release the GIL)."),
        channels: int = typer.Option(None, "--channels", help="1 or 3: convert tiles of the other channel "
                                     "count (colour to BT.601 luma, or gray to RGB); recorded in the index. "
                                     "\\[default: refuse a mix]", show_default=False),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace a store in --out made from other "
                                       "inputs (without it, such a store is kept and the pack refused)."),
    ) -> None:
        from srkit.shards.inputs import find_lr_dir
        from srkit.shards.pack import pack_store

        lr_dir = lr if lr is not None else find_lr_dir(Path("."))
        if out is None:
            out = Path("basicsr_lmdb" if layout is Layout.basicsr else DEFAULT_OUT[fmt.value])
        console.print(f"pack: HR {hr}  LR {lr_dir}  ->  {out} ({fmt.value}, "
                      f"{'png' if layout is Layout.basicsr else codec.value}, layout {layout.value})")
        with make_progress("pairs") as progress:
            task = progress.add_task("packing", total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = pack_store(hr, lr_dir, out, fmt=fmt.value, codec=codec.value, shard_size=shard_size,
                                 val_fraction=val_fraction, layout=layout.value,
                                 hdf5_compression=None if hdf5_compression is Compression.none
                                 else hdf5_compression.value, jobs=jobs, channels=channels,
                                 overwrite=overwrite, on_progress=on_progress)
        skipped = _print_missing(summary["missing"])
        if summary.get("shards_written") == 0 and summary.get("layout") != "basicsr":
            console.print(f"{out} is already up to date ({summary['samples']:,} samples)")
        else:
            console.print(
                f"packed {summary['samples']:,} pairs into {summary['shards']} shard(s) "
                f"({summary.get('shards_reused', 0)} kept from an earlier run): "
                f"{summary['file_bytes'] / 1e6:,.1f} MB on disk, {summary['seconds']:.1f} s, "
                f"{summary['mb_per_s']:,.1f} MB/s, {summary['tiles_per_s']:,.0f} pairs/s")
        if summary.get("channels_converted"):
            done = summary["channels_converted"]
            console.print(f"--channels {done['to']}: converted "
                          + ", ".join(f"{n:,} pair(s) of {c} channel(s)" for c, n in done["from"].items()))
        if "train" in summary:
            by = "whole pages" if summary["split_method"] == "page" else "single tiles"
            console.print(f"split: train {summary['train']:,} / val {summary['val']:,} (by {by})")
            if summary.get("split_why"):
                console.print(f"[yellow]note:[/yellow] validation tiles come from pages training sees too, "
                              f"so validation PSNR is optimistic: {summary['split_why']}", soft_wrap=True)
        console.print(f"next: {summary['next']}")
        if skipped:
            raise typer.Exit(EXIT_SKIPPED)

    @app.command("verify", help="Re-read every record of a store: checksums, shapes (LR x scale = HR), "
                 "shard metadata, lineage hash. Names every bad record; exit code 3 if any.\n\n"
                 + EXIT_CODES_HELP)
    @friendly_errors
    def verify(store: Path = typer.Argument(..., help="Store folder (data.lmdb / data.h5).")) -> None:
        from rich.table import Table

        from srkit.shards.verify import verify_store

        _refuse_basicsr_layout(store)
        with make_progress("records") as progress:
            task = progress.add_task("verifying", total=None)
            report = verify_store(store, on_progress=lambda d, t: progress.update(task, completed=d, total=t))
        if report.ok:
            console.print(f"{store}: all {report.checked:,} records good")
            return
        table = Table(title=f"{len(report.problems)} problem(s) in {store}")
        for col in ("shard", "key", "problem"):
            table.add_column(col, overflow="fold")
        for p in report.problems:
            table.add_row(p.shard, p.key or "-", p.problem)
        console.print(table)
        console.print(f"[red]{len(report.problems)} problem(s)[/red] in {report.checked:,} records read: "
                      "repack the store (`sr-data pack ...`)")
        raise typer.Exit(EXIT_FAILED)

    @app.command("inspect", help="Print a store's summary and write a contact sheet of random pairs "
                 "(HR | LR nearest-upscaled).\n\n" + EXIT_CODES_HELP)
    @friendly_errors
    def inspect(
        store: Path = typer.Argument(..., help="Store folder (data.lmdb / data.h5)."),
        n: int = typer.Option(16, "--n", min=0, help="Number of random pairs on the sheet."),
        out: Path = typer.Option(Path("sheet.png"), "--out", help="Contact sheet PNG to write."),
        seed: int = typer.Option(0, "--seed", help="Which random pairs."),
    ) -> None:
        from rich.table import Table

        from srkit.shards.reader import StoreError, open_store
        from srkit.shards.sheet import summary_rows, write_sheet

        _refuse_basicsr_layout(store)
        try:
            opened = open_store(store)
        except StoreError as err:
            raise StageError(str(err)) from None
        with opened:
            table = Table(title=f"store {store}", show_header=False)
            table.add_column("field", style="bold")
            table.add_column("value")
            for name, value in summary_rows(opened):
                table.add_row(name, value)
            console.print(table)
            if n > 0:
                try:
                    result = write_sheet(opened, out, n=n, seed=seed)
                except StoreError as err:
                    raise StageError(f"{err} (run `sr-data verify {store}`)") from None
                console.print(f"wrote {out}: {result['pairs']} pairs (HR | LR nearest-upscaled)")


__all__ = ["register"]
