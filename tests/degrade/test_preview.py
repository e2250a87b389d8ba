"""The contact sheet: panel geometry, step descriptions, and sheets for every kind of recipe."""

from __future__ import annotations

import numpy as np
import pytest
from degrade_fixtures import manga_like_tile

from srkit.core.console import UsageError
from srkit.core.images import read_png
from srkit.degrade.preview import (
    describe_plan,
    describe_step,
    detailed_window,
    find_lr_dir,
    make_preview,
    sample_panels,
)
from srkit.degrade.run import degrade_tiles


def test_describe_step_is_short_and_hides_seeds():
    line = describe_step({"op": "resize", "at": "steps[0]", "name": "downscale",
                          "params": {"mode": "bicubic_aa", "out_h": 100, "out_w": 80}})
    assert line == "downscale: resize to 80x100 mode=bicubic_aa"
    line = describe_step({"op": "gaussian_noise", "at": "steps[1]",
                          "params": {"sigma": 12.3456789, "gray": False, "noise_seed": 123456}})
    assert line == "gaussian_noise gray=False sigma=12.3"
    applied, skipped = describe_plan([
        {"op": "to_float32", "at": "dtype"},
        {"op": "jpeg", "at": "steps[0]", "params": {"quality": 70}},
        {"op": "sinc", "at": "steps[1]", "name": "final sinc", "skipped": True},
    ])
    assert applied == ["jpeg quality=70"] and skipped == ["final sinc"]


def test_panels_show_the_same_region_at_the_same_size():
    hr = manga_like_tile(256, 3)
    lr = hr[::4, ::4].copy()
    strip = sample_panels(hr, lr, crop=128)
    assert strip.shape == (128, 3 * 128 + 2 * 4, 3)
    y, x = detailed_window(hr, 128, 4)
    assert y % 4 == 0 and x % 4 == 0
    near = strip[:, 132:260]
    assert np.array_equal(near[::4, ::4, 0], lr[y // 4:y // 4 + 32, x // 4:x // 4 + 32])
    assert np.array_equal(strip[:, :128, 0], hr[y:y + 128, x:x + 128])


@pytest.mark.parametrize("name", ["realesrgan_x4", "srcnn_bilinear_x2"])
def test_sheet_for_rgb_and_same_size_recipes(tiles_dir, tmp_path, name):
    out = tmp_path / "lr"
    degrade_tiles(tiles_dir, name, out)
    path, shown = make_preview(out, n=3, out=tmp_path / "sheet.png")
    sheet = read_png(path)
    assert shown == 3 and sheet.ndim == 3
    assert sheet.shape[1] >= 2 * (3 * 64)
    assert (sheet < 128).any()  # text and content were drawn


def test_find_lr_dir_needs_exactly_one(tiles_dir, tmp_path):
    with pytest.raises(UsageError, match="no degraded folder"):
        find_lr_dir(tmp_path / "lr")
    degrade_tiles(tiles_dir, "bicubic_x2", tmp_path / "lr" / "a")
    assert find_lr_dir(tmp_path / "lr") == tmp_path / "lr" / "a"
    degrade_tiles(tiles_dir, "bicubic_x4", tmp_path / "lr" / "b")
    with pytest.raises(UsageError, match="choose one with --lr"):
        find_lr_dir(tmp_path / "lr")
