"""Fixtures for the trainer tests: a small real x4 store (see ``train_stores``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_stores import build_store


@pytest.fixture(scope="session")
def manga_store(manga_dev_pages, tmp_path_factory) -> Path:
    """x4 gray LMDB store: 24 tiles of 192 px (several shards) from the dev pages, rawkuma_like LR."""
    return build_store(tmp_path_factory.mktemp("store") / "data.lmdb", manga_dev_pages)
