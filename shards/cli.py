"""Commands of the `shards` stage for `sr-data`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `sr-data` app."""
