"""``sr-train`` commands."""

from __future__ import annotations

import typer

app = typer.Typer(name="sr-train", add_completion=False, pretty_exceptions_enable=False,
                  help="Train super-resolution models on packed stores.")
