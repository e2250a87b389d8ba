"""Fixtures for the store tests (helpers live in store_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import make_pairs, make_workspace


@pytest.fixture
def workspace(tmp_path: Path):
    pairs = make_pairs(24, seed=3, size=32, scale=2)
    tiles, lr_dir = make_workspace(tmp_path, pairs, scale=2)
    return tmp_path, tiles, lr_dir, pairs
