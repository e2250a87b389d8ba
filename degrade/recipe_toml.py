"""Write a recipe (the dict `tomllib` reads from a recipe file) back as TOML, with comments.

Comments ride in the data under the key `#` (a list of lines) of the recipe or of any step; they are
written above the recipe's keys or the step's table header and never reach the parsed recipe. Steps
nest as recipe files nest them (`[[steps]]`, `[[steps.one_of]]`, `[[steps.one_of.sequence]]`, ...).
tomli_w writes the scalar values; tables, arrays and comments are laid out here (one line each).
"""

from __future__ import annotations

from typing import Any

import tomli_w

from srkit.degrade.recipe import GROUP_KINDS

COMMENT = "#"


def _value(value: Any) -> str:
    """One TOML value on one line: scalars as tomli_w writes them, arrays and inline tables laid out here."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).strip()[len("v = "):]


def _comment_lines(lines: list[str]) -> list[str]:
    return [f"# {line}".rstrip() for line in lines]


def _table(step: dict[str, Any], header: str) -> list[str]:
    out = _comment_lines(step.get(COMMENT, []))
    out.append(f"[[{header}]]")
    children = []
    for key, value in step.items():
        if key == COMMENT:
            continue
        if key in GROUP_KINDS and isinstance(value, list):
            children.append((key, value))
            continue
        out.append(f"{key} = {_value(value)}")
    for kind, steps in children:
        for child in steps:
            out.append("")
            out.extend(_table(child, f"{header}.{kind}"))
    return out


def dump_recipe(data: dict[str, Any]) -> str:
    """TOML text of a recipe dict; `tomllib.loads` of it gives `data` without its `#` comments."""
    out = _comment_lines(data.get(COMMENT, []))
    for key, value in data.items():
        if key not in (COMMENT, "steps"):
            out.append(f"{key} = {_value(value)}")
    for step in data.get("steps", []):
        out.append("")
        out.extend(_table(step, "steps"))
    return "\n".join(out) + "\n"


def strip_comments(data: Any) -> Any:
    """The data without its `#` comment entries (what the written file parses back to)."""
    if isinstance(data, dict):
        return {k: strip_comments(v) for k, v in data.items() if k != COMMENT}
    if isinstance(data, list):
        return [strip_comments(v) for v in data]
    return data
