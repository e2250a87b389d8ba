"""``sr-train upscale`` and ``sr-train eval``: use and evaluate a trained model."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the upscale and eval commands to the ``sr-train`` app."""
