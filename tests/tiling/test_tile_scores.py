from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from srkit.core.images import read_image
from srkit.tiling.grid import grid
from srkit.tiling.scores import (
    BLACK_LEVEL,
    DEFAULT_FLAT_STD,
    DEFAULT_MIN_LAP,
    TONE_PATCH,
    TONE_PEAKS,
    WHITE_LEVEL,
    page_laplacian,
    rejection_reason,
    score_boxes,
    score_tile,
    tone_score,
)


def _scores(tile: np.ndarray) -> dict[str, float]:
    return score_tile(tile, page_laplacian(tile))


def _reason(tile: np.ndarray) -> str | None:
    return rejection_reason(_scores(tile), DEFAULT_FLAT_STD, DEFAULT_MIN_LAP)


def test_blank_paper_and_solid_black_are_flat():
    rng = np.random.default_rng(0)
    paper = np.full((128, 128), 255, np.uint8)
    noisy_black = np.clip(rng.normal(8, 1.5, (128, 128)), 0, 255).astype(np.uint8)
    assert _reason(paper) == "flat"
    assert _reason(noisy_black) == "flat"
    assert _scores(paper)["white"] == 1.0 and _scores(noisy_black)["black"] == 1.0


def test_smooth_gradient_and_a_lone_border_line_are_low_detail(make_page):
    gradient = np.tile(np.linspace(0, 255, 128).astype(np.uint8), (128, 1))
    assert _scores(gradient)["std"] > 50
    assert _reason(gradient) == "low_detail"
    border = np.full((400, 400), 255, np.uint8)
    border[:, 200:203] = 0  # a panel border crossing blank paper, at the default tile size
    assert _reason(border) == "low_detail"
    drawn = make_page(128, 128, seed=3)
    assert _reason(drawn) is None


@settings(max_examples=25, deadline=None)
@given(h=st.integers(40, 260), w=st.integers(40, 260), size=st.integers(8, 100), data=st.data())
def test_scores_match_direct_computation_on_the_crop(make_page, h, w, size, data):
    page = make_page(h, w, seed=7)
    step = data.draw(st.integers(1, size))
    edge = data.draw(st.sampled_from(["shift", "drop"]))
    boxes = grid(h, w, size, step, edge)
    lap = cv2.Laplacian(page, cv2.CV_16S, ksize=1).astype(np.float64)
    for box, sc in zip(boxes, score_boxes(page, boxes), strict=True):
        crop = page[box.y:box.y + box.h, box.x:box.x + box.w]
        assert np.isclose(sc["std"], crop.std(), rtol=1e-3, atol=1e-3)
        assert np.isclose(sc["white"], np.mean(crop >= WHITE_LEVEL), rtol=1e-3, atol=1e-4)
        assert np.isclose(sc["black"], np.mean(crop <= BLACK_LEVEL), rtol=1e-3, atol=1e-4)
        lap_crop = np.abs(lap[box.y:box.y + box.h, box.x:box.x + box.w]).mean()
        assert np.isclose(sc["lap"], lap_crop, rtol=1e-3, atol=1e-3)
        assert 0.0 <= sc["tone"] <= 1.0


def test_screentone_scores_above_line_art_and_noise():
    yy, xx = np.mgrid[0:128, 0:128]
    dots = np.where(((yy % 7) - 3) ** 2 + ((xx % 7) - 3) ** 2 < 5, 0, 255).astype(np.uint8)
    lines = np.full((128, 128), 255, np.uint8)
    rng = np.random.default_rng(1)
    for _ in range(12):
        a, b, c, d = (int(v) for v in rng.integers(0, 128, 4))
        cv2.line(lines, (a, b), (c, d), 0, 2, cv2.LINE_AA)
    noise = rng.integers(0, 256, (128, 128)).astype(np.uint8)
    tone, line, rand = tone_score(dots), tone_score(lines), tone_score(noise)
    assert tone > 0.3 > max(line, rand)
    assert tone_score(np.full((128, 128), 255, np.uint8)) == 0.0


def test_blank_margins_of_a_real_page_are_rejected(manga_dev_pages):
    page, _ = read_image(manga_dev_pages[0], color="gray")
    boxes = grid(*page.shape, 64, 64, "shift")
    blank, drawn = 0, 0
    for box, sc in zip(boxes, score_boxes(page, boxes), strict=True):
        crop = page[box.y:box.y + box.h, box.x:box.x + box.w]
        reason = rejection_reason(sc, DEFAULT_FLAT_STD, DEFAULT_MIN_LAP)
        if int(crop.min()) >= WHITE_LEVEL:  # nothing but paper
            blank += 1
            assert reason in ("flat", "low_detail"), (box, sc)
        elif np.mean(crop < 128) > 0.2:  # plenty of ink
            drawn += 1
            assert reason is None, (box, sc)
    assert blank >= 10 and drawn >= 100  # the page has margins and drawn areas at this tile size


def _tone_reference(tile: np.ndarray) -> float:
    """The screentone score by its definition, on the full complex spectrum (slow, obvious)."""
    h, w = tile.shape
    n = min(TONE_PATCH, h, w) // 2 * 2
    y0, x0 = (h - n) // 2, (w - n) // 2
    patch = tile[y0:y0 + n, x0:x0 + n].astype(np.float64)
    patch -= patch.mean()
    power = np.abs(np.fft.fft2(patch * cv2.createHanningWindow((n, n), cv2.CV_64F))) ** 2
    power[0, 0] = 0
    f = np.fft.fftfreq(n)
    radius = np.hypot(f[:, None], f[None, :])
    pairs: dict[tuple[int, int], float] = {}  # a frequency and its mirror image count as one
    for u, v in zip(*np.nonzero((radius >= 1 / 16) & (radius <= 0.5)), strict=True):
        mirror = ((n - u) % n, (n - v) % n)
        pairs[min((u, v), mirror)] = power[u, v] + (power[mirror] if mirror != (u, v) else 0.0)
    return sum(sorted(pairs.values())[-TONE_PEAKS:]) / power.sum()


@settings(max_examples=40, deadline=None)
@given(h=st.integers(16, 160), w=st.integers(16, 160), pitch=st.integers(2, 12), seed=st.integers(0, 99))
def test_fast_tone_score_matches_its_definition(h, w, pitch, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    tile = np.where((yy + seed) % pitch < pitch / 2, 20, 235) + rng.integers(-15, 15, (h, w))
    tile = np.clip(tile, 0, 255).astype(np.uint8)
    assert np.isclose(tone_score(tile), _tone_reference(tile), rtol=1e-3, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 99))
def test_page_laplacian_is_the_4_neighbour_laplacian(h, w, seed):
    img = np.random.default_rng(seed).integers(0, 256, (h, w)).astype(np.uint8)
    assert np.array_equal(page_laplacian(img), cv2.Laplacian(img, cv2.CV_16S, ksize=1))
