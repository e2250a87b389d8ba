"""Commands `sr-data fit` and `sr-data compare`: make the synthetic LR look like the user's raws."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from srkit.core.console import EXIT_CODES_HELP, EXIT_OK, EXIT_SKIPPED, console, friendly_errors, make_progress

FIT_HELP = (
    "Measure a folder of real low-quality images (the kind the model will be used on: web raws, scans) "
    "and write a degradation recipe whose JPEG quality, blur, noise, enlargement and levels reproduce "
    "what they show, with comments naming the measurements behind every number. Every image's "
    "measurements and their distributions go to NAME.fit.json beside the recipe.\n\n"
    "With HR tiles (--tiles, default tiles/ when it exists), what a plain downscale of them already "
    "shows (their own softness, grain, midtones) is taken off, so the recipe adds only the rest. "
    "--base keeps a recipe's structure and replaces only the fitted parameters. Unreadable files are "
    "listed and skipped.\n\n"
    "Example: sr-data fit raws/ --scale 4 --out recipes/myraws.toml ; then sr-data degrade --recipe "
    "recipes/myraws.toml ; sr-data compare lr/myraws raws/\n\n" + EXIT_CODES_HELP
)
COMPARE_HELP = (
    "Measure an LR folder (from sr-data degrade) and a folder of real raws with the same estimators, "
    "and say how far apart they are: per feature the quantiles of both and a distance (Wasserstein-1 "
    "divided by the feature's tolerance: 1 = one tolerance unit), and an overall distance. Writes "
    "OUT/compare.json and OUT/compare.png (the two distributions of each feature overlaid). The number "
    "to watch while editing a recipe.\n\n" + EXIT_CODES_HELP
)


def _progress_callbacks(label: str):  # noqa: ANN202 - (progress, on_start, on_progress)
    progress = make_progress("images")
    state: dict[str, object] = {}

    def on_start(total: int) -> None:
        state["task"] = progress.add_task(label, total=total)
        progress.start()

    def on_progress(done: int, total: int) -> None:
        progress.update(state["task"], completed=done)  # type: ignore[arg-type]

    return progress, on_start, on_progress


def _print_errors(errors: list[dict[str, str]]) -> None:
    for err in errors[:20]:
        console.print(f"[yellow]skipped[/yellow] {escape(err['file'])}: {escape(err['error'])}",
                      soft_wrap=True)
    if len(errors) > 20:
        console.print(f"... and {len(errors) - 20} more (listed in the JSON file)")


def register(app: typer.Typer) -> None:
    """Add `fit` and `compare` to the `sr-data` app."""

    @app.command("fit", help=FIT_HELP)
    @friendly_errors
    def fit(
        raws: list[str] = typer.Argument(..., metavar="RAWS...", help="Image files and/or folders."),
        scale: int = typer.Option(..., "--scale", "-s", help="The recipe's scale (HR size / LR size)."),
        out: Path = typer.Option(Path("recipes/fitted.toml"), "--out", help="Recipe file to write."),
        base: str = typer.Option(None, "--base", metavar="NAME|FILE", show_default=False,
                                 help="Keep this recipe's structure; replace only the fitted parameters."),
        tiles: Path = typer.Option(Path("tiles"), "--tiles", help="HR tiles for the baseline (skipped "
                                   "when the folder does not exist)."),
        name: str = typer.Option(None, "--name", help="Recipe name \\[default: the file's stem].",
                                 show_default=False),
        limit: int = typer.Option(2000, "--limit", help="Most images measured (evenly spread); 0 = all."),
        jobs: int = typer.Option(0, "--jobs", "-j", help="Parallel workers; 0 = all cores."),
        backend: str = typer.Option("loky", "--backend", help="loky (processes), threading, or dask."),
    ) -> None:
        from rich.table import Table

        from srkit.degrade.fit import fit_folder

        progress, on_start, on_progress = _progress_callbacks("measuring")
        try:
            result = fit_folder(raws, scale, out, base=base, tiles=tiles, name=name, jobs=jobs,
                                backend=backend, limit=limit or None, on_start=on_start,
                                on_progress=on_progress)
        finally:
            progress.stop()
        table = Table(title=f"sr-data fit: {len(result.records)} image(s)")
        for column in ("feature", "measured", "null", "q10", "median", "q90"):
            table.add_column(column, justify="left" if column == "feature" else "right")
        for key, entry in result.summary.items():
            if isinstance(entry, dict) and "n" in entry:
                cells = [f"{entry[q]:.3g}" if q in entry else "-" for q in ("q10", "q50", "q90")]
                table.add_row(key, str(entry["n"]), str(entry["null"]), *cells)
        console.print(table)
        _print_errors(result.errors)
        for note in result.notes:
            console.print(escape(f"note: {note}"))
        console.print(escape(result.recipe_text.rstrip()), highlight=False, soft_wrap=True)
        console.print(escape(f"wrote {result.recipe_path} and {result.json_path} in {result.seconds:.1f} s"))
        console.print(f"next: [bold]sr-data degrade --recipe {escape(str(result.recipe_path))}[/bold], then "
                      f"[bold]sr-data compare lr/{escape(result.recipe_path.stem)} "
                      f"{escape(' '.join(map(str, raws)))}[/bold]")
        raise typer.Exit(EXIT_SKIPPED if result.errors else EXIT_OK)

    @app.command("compare", help=COMPARE_HELP)
    @friendly_errors
    def compare(
        lr: Path = typer.Argument(..., metavar="LR_DIR", help="Degraded LR folder (e.g. lr/myraws)."),
        raws: Path = typer.Argument(..., metavar="RAWS_DIR", help="Folder of real raws."),
        out: Path = typer.Option(Path("compare"), "--out", help="Folder for compare.json and compare.png."),
        limit: int = typer.Option(2000, "--limit", help="Most images measured per side (evenly spread); "
                                  "0 = all."),
        jobs: int = typer.Option(0, "--jobs", "-j", help="Parallel workers; 0 = all cores."),
        backend: str = typer.Option("loky", "--backend", help="loky (processes), threading, or dask."),
    ) -> None:
        from rich.table import Table

        from srkit.degrade.compare import compare_folders

        progress, on_start, on_progress = _progress_callbacks("measuring")
        try:
            result = compare_folders(lr, raws, out, jobs=jobs, backend=backend, limit=limit or None,
                                     on_start=on_start, on_progress=on_progress)
        finally:
            progress.stop()
        table = Table(title=f"sr-data compare: {result.counts['lr']} LR vs {result.counts['raws']} raws")
        for column in ("feature", "LR q10 / median / q90", "raws q10 / median / q90", "W1", "distance"):
            table.add_column(column, justify="left" if column == "feature" else "right")
        for key, entry in result.features.items():
            sides = ["-" if entry[s] is None
                     else f"{entry[s]['q10']:.3g} / {entry[s]['q50']:.3g} / {entry[s]['q90']:.3g}"
                     for s in ("a", "b")]
            w1 = "-" if entry["w1"] is None else f"{entry['w1']:.3g}"
            dist = "-" if entry["distance"] is None else f"{entry['distance']:.2f}"
            table.add_row(key, *sides, w1, dist)
        console.print(table)
        overall = "n/a" if result.overall is None else f"{result.overall:.2f}"
        console.print(escape(f"overall distance {overall} (1 = one tolerance unit per feature); wrote "
                             f"{result.json_path} and {result.png_path}"))
        _print_errors(result.errors)
        raise typer.Exit(EXIT_SKIPPED if result.errors else EXIT_OK)
