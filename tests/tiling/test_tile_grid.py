from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srkit.tiling.grid import grid, positions, too_small_reason

dims = st.integers(min_value=1, max_value=300)


@settings(max_examples=150, deadline=None)
@given(height=dims, width=dims, size=st.integers(1, 120), data=st.data())
def test_shift_covers_every_pixel_with_whole_tiles_inside(height, width, size, data):
    step = data.draw(st.integers(1, size))
    boxes = grid(height, width, size, step, "shift")
    if height < size or width < size:
        assert boxes == [] and too_small_reason(height, width, size, "shift")
        return
    covered = np.zeros((height, width), bool)
    for b in boxes:
        assert (b.h, b.w) == (size, size) and not b.padded
        assert 0 <= b.y and b.y + b.h <= height and 0 <= b.x and b.x + b.w <= width
        covered[b.y:b.y + b.h, b.x:b.x + b.w] = True
    assert covered.all()
    assert len(set(boxes)) == len(boxes)
    assert boxes == sorted(boxes)  # row by row: the key order


@settings(max_examples=150, deadline=None)
@given(height=dims, width=dims, size=st.integers(1, 120), data=st.data())
def test_pad_covers_every_pixel_and_records_the_true_size(height, width, size, data):
    step = data.draw(st.integers(1, size))
    boxes = grid(height, width, size, step, "pad")
    assert boxes and too_small_reason(height, width, size, "pad") is None
    covered = np.zeros((height, width), bool)
    for b in boxes:
        assert (b.h, b.w) == (size, size)
        assert 0 <= b.y < height and 0 <= b.x < width  # every tile starts on the page
        assert b.true_h == min(size, height - b.y) and b.true_w == min(size, width - b.x)
        covered[b.y:b.y + b.true_h, b.x:b.x + b.true_w] = True
    assert covered.all()


@settings(max_examples=150, deadline=None)
@given(length=st.integers(0, 500), size=st.integers(1, 120), step=st.integers(1, 200))
def test_drop_keeps_the_regular_grid_inside(length, size, step):
    pos = positions(length, size, step, "drop")
    assert pos == [p for p in range(0, max(0, length), step) if p + size <= length]


def test_shift_adds_one_tile_aligned_to_the_border():
    assert positions(1000, 400, 400, "shift") == [0, 400, 600]
    assert positions(800, 400, 400, "shift") == [0, 400]
    assert positions(1000, 400, 300, "shift") == [0, 300, 600]
    assert positions(1000, 400, 400, "drop") == [0, 400]
    assert positions(1000, 400, 400, "pad") == [0, 400, 800]


def test_bad_grid_arguments_are_refused():
    with pytest.raises(ValueError):
        positions(100, 0, 10)
    with pytest.raises(ValueError):
        positions(100, 10, 10, "wrap")  # type: ignore[arg-type]
