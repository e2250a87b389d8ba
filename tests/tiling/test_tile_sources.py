from __future__ import annotations

import pytest

from srkit.core.keys import check_key
from srkit.tiling.run import TileOptions, tile_pages
from srkit.tiling.sources import find_sources


def test_sources_are_relative_to_the_input_root_and_sorted(pages_dir, tmp_path):
    (pages_dir / ".hidden.png").write_bytes(b"not looked at")
    (pages_dir / "readme.txt").write_text("not an image name")
    sources, skipped = find_sources([pages_dir, pages_dir / "ch1" / "001.png"])
    names = [s.source for s in sources]
    assert names == sorted(names)
    assert "pages/ch1/001.png" in names and "001.png" in names  # a file argument: its own name
    assert not any(".hidden" in n or n.endswith(".txt") for n in names)
    # a file found and not used is listed with the reason; a hidden one is not looked at
    listed = [(k.source, k.problem.split(" (")[0]) for k in skipped]
    assert listed == [("pages/readme.txt", "not an image file")]
    for s in sources:
        check_key(s.page)


def test_same_relative_path_from_two_inputs_is_skipped_with_a_reason(tmp_path, make_page, save_image):
    a = save_image(tmp_path / "a" / "page.png", make_page(seed=1))
    b = save_image(tmp_path / "b" / "page.png", make_page(seed=2))
    sources, skipped = find_sources([a, b])
    assert [s.path for s in sources] == [str(a)]
    assert [s.path for s in skipped] == [str(b)] and "same relative path" in skipped[0].problem


def test_missing_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        find_sources([tmp_path / "nope"])


def test_page_too_long_for_tile_keys_is_a_clear_skip(tmp_path, save_image):
    import numpy as np

    strip = np.full((100_050, 2), 0, np.uint8)  # a 2 px wide strip: cheap, but past the key range
    save_image(tmp_path / "in" / "strip.png", strip)
    summary = tile_pages([tmp_path / "in"], tmp_path / "out", TileOptions(size=2, jobs=1))
    assert len(summary.skipped) == 1 and "do not fit in tile keys" in summary.skipped[0].problem
