"""Shipped degradation recipes (TOML files beside this module): listing and finding them.

A recipe is data only (parsed with ``tomllib``, never executed); ``degrade.recipe.load_recipe``
validates it. This module only knows where the files are and reads their one-line description.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parent


def shipped_names() -> list[str]:
    """Names of the shipped recipes (file stems), sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def shipped_path(name: str) -> Path | None:
    """Path of the shipped recipe ``name``, or None when no such recipe is shipped."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = RECIPES_DIR / f"{name}.toml"
    return path if path.is_file() else None


def shipped_recipes() -> list[tuple[str, str]]:
    """``(name, one-line description)`` of every shipped recipe, sorted by name."""
    out = []
    for name in shipped_names():
        path = RECIPES_DIR / f"{name}.toml"
        try:
            with open(path, "rb") as f:
                description = str(tomllib.load(f).get("description", ""))
        except (OSError, tomllib.TOMLDecodeError) as err:
            description = f"(unreadable: {err})"
        out.append((name, description.strip().splitlines()[0] if description.strip() else ""))
    return out
