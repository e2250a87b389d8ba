"""``sr-data``: prepare super-resolution training data (tile, degrade, pack, verify, inspect).

Each stage package registers its own commands; this module only assembles them so that data keeps
flowing one way (the stage packages never import the CLI).
"""

from __future__ import annotations

import typer

from srkit.core.console import EXIT_CODES_HELP

app = typer.Typer(
    name="sr-data",
    help="Prepare super-resolution training data: pages -> tiles -> degraded LR -> packed stores.\n\n"
    "Typical run in a working folder: sr-data tile PAGES/ ; sr-data degrade --recipe rawkuma_like ; "
    "sr-data pack lmdb ; sr-train --shards data.lmdb --preset smoke\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _register_all() -> None:
    from srkit.degrade import cli as degrade_cli
    from srkit.degrade import fit_cli
    from srkit.demo import cli as demo_cli
    from srkit.shards import cli as shards_cli
    from srkit.tiling import cli as tiling_cli

    tiling_cli.register(app)
    degrade_cli.register(app)
    fit_cli.register(app)
    shards_cli.register(app)
    demo_cli.register(app)


@app.callback()
def _root() -> None:
    """Prepare super-resolution training data."""


@app.command("version")
def version() -> None:
    """Print the versions of the toolkit and of the libraries that decide output bytes."""
    from srkit.core.versions import library_versions

    for name, value in library_versions().items():
        typer.echo(f"{name} {value}")


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
