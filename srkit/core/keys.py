"""Sample keys: ASCII, no dots, stable and sortable; every later file is named by them.

A page key is a readable slug of the page's path relative to the input root plus a short hash of
that path, so ``a/b.png``, ``a-b.png`` and ``a/b.jpg`` never collide. Tile keys append the
zero-padded tile position: ``{page}_{y:05d}_{x:05d}``. Keys never contain ``.`` because the
BasicSR-family readers cut keys at the first dot, nor ``_`` inside the page part so the position
can always be read back.
"""

from __future__ import annotations

import hashlib
import re

_SLUG_DROP = re.compile(r"[^A-Za-z0-9-]+")
POSITION_DIGITS = 5  # positions up to 99,999 px: far above the default pixel limit's side length
MAX_SLUG = 48


def page_key(relative_path: str) -> str:
    """Key of a page from its path relative to the input root (POSIX separators)."""
    rel = relative_path.replace("\\", "/")
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    slug = _SLUG_DROP.sub("-", stem.replace("/", "-")).strip("-")[:MAX_SLUG].strip("-") or "page"
    digest = hashlib.sha1(rel.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{digest}"


def tile_key(page: str, y: int, x: int) -> str:
    if not (0 <= y < 10**POSITION_DIGITS and 0 <= x < 10**POSITION_DIGITS):
        raise ValueError(f"tile position ({y}, {x}) out of the key range")
    return f"{page}_{y:0{POSITION_DIGITS}d}_{x:0{POSITION_DIGITS}d}"


def parse_tile_key(key: str) -> tuple[str, int, int]:
    page, y, x = key.rsplit("_", 2)
    return page, int(y), int(x)


_KEY_OK = re.compile(r"^[A-Za-z0-9_-]+$")


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid sample key, else raise ValueError naming the problem."""
    if not _KEY_OK.match(key):
        raise ValueError(f"sample key {key!r} must be ASCII letters, digits, '-' and '_' only (no dots)")
    return key
