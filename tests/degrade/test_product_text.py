"""The degrade stage's shipped text (code, SPECS.md, recipes) cites only what a user can find."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Names of material that lives beside the project checkout, never in a user's clone.
UNSHIPPED = re.compile(r"seed 0\d\d|seeds? 00\d|\.\./shared|shared/reference|measured_here|reference/\w+\.md",
                       re.IGNORECASE)


def test_shipped_degrade_files_cite_nothing_a_user_lacks():
    files = [p for folder in ("degrade", "recipes") for p in sorted((ROOT / folder).rglob("*"))
             if p.suffix in (".py", ".md", ".toml")]
    assert len(files) > 15
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p in files for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if UNSHIPPED.search(line)]
    assert not found, "\n".join(found)
