"""``sr-train``: train super-resolution models on packed stores, use and evaluate them.

The train room defines each command with a ``register(app)``; this module only assembles them, as
``sr-data`` does, so ``python -m srkit.cli.train`` (what torchrun runs) and the console script share
one app.
"""

from __future__ import annotations

import typer

app = typer.Typer(name="sr-train", add_completion=False, pretty_exceptions_enable=False,
                  help="Train super-resolution models on packed stores.", rich_markup_mode="rich")


def _register_all() -> None:
    from srkit.train import cli as train_cli
    from srkit.train import eval_cli, export_cli, score_cli, upscale_cli

    train_cli.register(app)
    upscale_cli.register(app)
    eval_cli.register(app)
    score_cli.register(app)
    export_cli.register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
