"""Fixtures for the degrade tests: small tiles folders written with the tiles-manifest contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from degrade_fixtures import manga_like_tile, write_tiles


@pytest.fixture
def tiles_dir(tmp_path: Path) -> Path:
    """12 tiles of 64 px: 8 gray (two pages), 4 RGB, plus an incomplete page that must be skipped."""
    return write_tiles(tmp_path / "tiles", {
        "grayA-0000aaaa": [manga_like_tile(64, s) for s in range(5)],
        "grayB-1111bbbb": [manga_like_tile(64, s) for s in range(5, 8)],
        "colour-2222cccc": [manga_like_tile(64, s, rgb=True) for s in range(8, 12)],
        "partial-3333dddd": [manga_like_tile(64, 99)],
    }, incomplete_page="partial-3333dddd")
