"""Commands of the `degrade` stage for `sr-data`: recipes, clean, degrade, replay, preview."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from srkit.core.console import EXIT_CODES_HELP, console, friendly_errors

DEGRADE_HELP = (
    "Make the LR half of every training pair: degrade each kept HR tile of TILES/ with a recipe "
    "(a shipped name, see `sr-data recipes`, or a .toml file) into OUT/{key}.png (lossless PNG, same "
    "keys), and log each sample's drawn steps, seeds and sha256 hashes in OUT/degradations.jsonl.\n\n"
    "Per-sample randomness comes from (seed, key) only: the output is byte-identical for any --jobs "
    "and across reruns. Safe to interrupt: rerun the same command to finish. A folder made with "
    "another recipe or seed is refused. Bad tiles are listed in the summary and OUT/errors.jsonl "
    "and the run goes on.\n\n"
    "Example: sr-data degrade --recipe rawkuma_like ; then sr-data replay lr/rawkuma_like ; "
    "sr-data preview\n\n" + EXIT_CODES_HELP
)
CLEAN_HELP = (
    "Optional, before degrade: clean the HR tiles (the m-SRCNN paper sharpened and denoised its "
    "images before pairing) into a new tiles folder.\n\n"
    "Runs a recipe that keeps the size (scale = 1; the shipped msrcnn_clean: non-local means, then "
    "an unsharp mask) over every kept tile of TILES/, into OUT/ (default TILES_RECIPE beside it). "
    "OUT holds the cleaned tiles, their plans (degradations.jsonl: `sr-data replay OUT` checks them) "
    "and a tiles.jsonl, so `sr-data degrade --tiles OUT` and `sr-data pack --hr OUT` use it like any "
    "tiles folder. The original tiles are not touched. Safe to interrupt: "
    "rerun the same command to finish.\n\n"
    "Example: sr-data clean --recipe msrcnn_clean ; sr-data degrade --tiles tiles_msrcnn_clean "
    "--recipe srcnn_bilinear_x2 --out lr/srcnn_bilinear_x2_clean ; sr-data pack hdf5 --hr "
    "tiles_msrcnn_clean --lr lr/srcnn_bilinear_x2_clean\n\n" + EXIT_CODES_HELP
)
REPLAY_HELP = (
    "Check a degradation log (of sr-data degrade, or of sr-train eval): rebuild each sample's LR from "
    "its HR tile or image (whose sha256 is checked first) and the logged steps, and compare the PNG "
    "bytes with the logged LR sha256. A mismatch "
    "names the sample and the library versions that differ from the logged ones. Exit code 0 only "
    "if every sample is identical, else 1.\n\n" + EXIT_CODES_HELP
)
PREVIEW_HELP = (
    "Write a contact sheet to judge a degradation by eye: for N samples, the most detailed HR crop | "
    "the same LR region nearest-upscaled | bicubic-upscaled, with the applied steps and their drawn "
    "parameters printed under it.\n\n" + EXIT_CODES_HELP
)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `sr-data` app."""
    recipes_app = typer.Typer(
        name="recipes",
        help="List the shipped degradation recipes; `sr-data recipes show NAME` prints one.\n\n"
        + EXIT_CODES_HELP,
        invoke_without_command=True,
        add_completion=False,
    )

    @recipes_app.callback()
    def recipes_list(ctx: typer.Context) -> None:
        """List the shipped recipes with their one-line description."""
        if ctx.invoked_subcommand is not None:
            return
        from srkit.recipes import shipped_recipes

        rows = shipped_recipes()
        width = max(len(name) for name, _ in rows)
        for name, description in rows:
            typer.echo(f"{name:<{width}}  {description}")
        console.print("show one: sr-data recipes show NAME ; use one: sr-data degrade --recipe NAME")

    @recipes_app.command("show")
    @friendly_errors
    def recipes_show(
        name: str = typer.Argument(..., metavar="NAME|FILE", help="A shipped recipe name or a .toml file."),
    ) -> None:
        """Print a recipe (validated) with its comments; its content hash goes to stderr."""
        from srkit.degrade.recipe import load_recipe

        recipe = load_recipe(name)
        typer.echo(recipe.text, nl=not recipe.text.endswith("\n"))
        console.print(escape(f"{recipe.source}: valid; scale {recipe.scale} "
                             f"(nominal {recipe.nominal_scale}), {recipe.dtype} chain, "
                             f"content hash {recipe.hash}"))

    app.add_typer(recipes_app, name="recipes")

    @app.command("clean", help=CLEAN_HELP)
    @friendly_errors
    def clean(
        recipe: str = typer.Option(..., "--recipe", "-r", metavar="NAME|FILE",
                                   help="A size-keeping recipe: msrcnn_clean or a .toml file."),
        tiles: Path = typer.Option(Path("tiles"), "--tiles", help="HR tiles folder (from sr-data tile)."),
        out: Path = typer.Option(None, "--out", help="Output tiles folder \\[default: TILES_RECIPE].",
                                 show_default=False),
        seed: int = typer.Option(None, "--seed", help="Base seed \\[default: the recipe's seed].",
                                 show_default=False),
        jobs: int = typer.Option(0, "--jobs", "-j", help="Parallel workers; 0 = all cores (processes "
                                 "here, see --backend)."),
        backend: str = typer.Option("loky", "--backend", help="loky (processes), threading, or dask."),
    ) -> None:
        from srkit.core.console import UsageError
        from srkit.core.parallel import BackendUnavailable, check_backend
        from srkit.degrade.clean import clean_tiles, default_clean_dir
        from srkit.degrade.recipe import load_recipe

        try:
            check_backend(backend)
        except BackendUnavailable as err:
            raise UsageError(str(err)) from None
        loaded = load_recipe(recipe)
        out_dir = out if out is not None else default_clean_dir(tiles, loaded)
        console.print(escape(f"clean-up recipe {loaded.name} ({loaded.source}); reading {tiles}, writing "
                             f"{out_dir}"))
        summary = clean_tiles(tiles, loaded, out_dir, seed=seed, jobs=jobs, backend=backend, progress=True)
        for err in summary.errors[:20]:
            console.print(escape(f"[bad tile] {err['key']} ({err['file']}): {err['error']}"))
        console.print(escape(
            f"{loaded.name}: {summary.made} tile(s) cleaned, {summary.already_done} already done, "
            f"{len(summary.errors)} error(s), of {summary.total} kept tiles; wrote {out_dir}/{{key}}.png, "
            f"{out_dir / 'tiles.jsonl'}; next: sr-data degrade --tiles {out_dir} --recipe RECIPE "
            f"--out lr/RECIPE_{loaded.name}"))
        raise typer.Exit(summary.exit_code)

    @app.command("degrade", help=DEGRADE_HELP)
    @friendly_errors
    def degrade(
        recipe: str = typer.Option(..., "--recipe", "-r", metavar="NAME|FILE",
                                   help="Shipped recipe name (sr-data recipes) or a recipe .toml file."),
        tiles: Path = typer.Option(Path("tiles"), "--tiles", help="HR tiles folder (from sr-data tile)."),
        out: Path = typer.Option(None, "--out", help="Output folder \\[default: lr/RECIPE_NAME].",
                                 show_default=False),
        seed: int = typer.Option(None, "--seed", help="Base seed \\[default: the recipe's seed].",
                                 show_default=False),
        jobs: int = typer.Option(0, "--jobs", "-j", help="Parallel workers; 0 = all cores (processes "
                                 "here, see --backend)."),
        backend: str = typer.Option("loky", "--backend", help="loky (processes), threading, or dask "
                                    "(needs the 'distributed' package)."),
        png_level: int = typer.Option(1, "--png-level", help="PNG zlib level 0-9 of the LR tiles "
                                      "(lossless either way)."),
    ) -> None:
        from srkit.core.parallel import BackendUnavailable, check_backend
        from srkit.degrade.recipe import load_recipe
        from srkit.degrade.run import degrade_tiles

        try:
            check_backend(backend)
        except BackendUnavailable as err:
            from srkit.core.console import UsageError

            raise UsageError(str(err)) from None
        loaded = load_recipe(recipe)
        out_dir = out if out is not None else Path("lr") / loaded.name
        console.print(escape(f"recipe {loaded.name} ({loaded.source}), scale {loaded.scale}; "
                             f"reading {tiles}, writing {out_dir}"))
        summary = degrade_tiles(tiles, loaded, out_dir, seed=seed, jobs=jobs, backend=backend,
                                png_level=png_level, progress=True)
        _print_degrade_summary(summary)
        raise typer.Exit(summary.exit_code)

    @app.command("replay", help=REPLAY_HELP)
    @friendly_errors
    def replay(
        log: Path = typer.Argument(..., metavar="LOG",
                                   help="lr/NAME/, an eval folder, or a degradations.jsonl."),
        keys: list[str] = typer.Option(None, "--keys", help="Only these sample keys (repeat the option "
                                       "or separate with commas) \\[default: all]."),
        tiles: Path = typer.Option(None, "--tiles", help="HR tiles folder \\[default: the one in run.json].",
                                   show_default=False),
        jobs: int = typer.Option(0, "--jobs", "-j", help="Parallel workers; 0 = all cores."),
    ) -> None:
        from srkit.degrade.replay import replay_log

        wanted = [k for item in keys or [] for k in item.split(",") if k]
        summary = replay_log(log, keys=wanted or None, tiles_dir=tiles, jobs=jobs, progress=True)
        for r in summary.results:
            if r.ok:
                continue
            line = f"{r.key}: {r.status}: {r.detail}"
            if r.versions_differ:
                line += "; versions differ from the log: " + ", ".join(
                    f"{k} {old} -> {new}" for k, (old, new) in r.versions_differ.items())
            console.print(escape(line))
        n = len(summary.results)
        console.print(escape(f"replayed {n} sample(s) of {summary.log} against HR tiles in "
                             f"{summary.tiles_dir}: {summary.identical} identical, "
                             f"{n - summary.identical} not"))
        raise typer.Exit(0 if summary.all_identical else 1)

    @app.command("preview", help=PREVIEW_HELP)
    @friendly_errors
    def preview(
        lr: Path = typer.Option(None, "--lr", help="Degraded folder \\[default: the only one under lr/].",
                                show_default=False),
        n: int = typer.Option(16, "--n", help="Number of samples (spread evenly over the keys)."),
        out: Path = typer.Option(Path("preview.png"), "--out", help="Sheet to write (PNG)."),
        tiles: Path = typer.Option(None, "--tiles", help="HR tiles folder \\[default: the one in run.json].",
                                   show_default=False),
    ) -> None:
        from srkit.degrade.preview import find_lr_dir, make_preview

        lr_dir = lr if lr is not None else find_lr_dir("lr")
        path, shown = make_preview(lr_dir, n=n, out=out, tiles_dir=tiles)
        console.print(escape(f"wrote {path}: {shown} sample(s) of {lr_dir} "
                             "(HR crop | LR nearest | LR bicubic)"))


def _print_degrade_summary(summary) -> None:  # noqa: ANN001 - DegradeSummary, imported lazily
    console.print(escape(
        f"{summary.recipe}: {summary.made} sample(s) made, {summary.already_done} already done, "
        f"{len(summary.errors)} error(s), of {summary.total} kept tiles, in {summary.seconds:.1f} s"))
    if summary.op_counts:
        total = sum(summary.op_seconds.values()) or 1.0
        for name in sorted(summary.op_counts, key=lambda k: -summary.op_seconds[k]):
            count, seconds = summary.op_counts[name], summary.op_seconds[name]
            console.print(escape(f"  {name:<16} {count:>8,} applied  {seconds * 1000 / count:8.3f} ms each  "
                                 f"{100 * seconds / total:5.1f} % of op time"))
    for err in summary.errors[:20]:
        console.print(escape(f"[bad tile] {err['key']} ({err['file']}): {err['error']}"))
    if len(summary.errors) > 20:
        more = len(summary.errors) - 20
        console.print(escape(f"... and {more} more in {summary.out_dir / 'errors.jsonl'}"))
    console.print(escape(f"wrote {summary.out_dir}/{{key}}.png and {summary.out_dir / 'degradations.jsonl'}; "
                         f"next: sr-data replay {summary.out_dir} ; sr-data preview --lr {summary.out_dir} ; "
                         "sr-data pack lmdb"))
