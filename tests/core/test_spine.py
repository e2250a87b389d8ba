from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from srkit.core.files import atomic_write_bytes, inside, remove_stale_temps, temp_name
from srkit.core.images import ImageError, decode_png, encode_png, is_gray_content, read_image
from srkit.core.keys import check_key, page_key, parse_tile_key, tile_key
from srkit.core.manifest import JsonlAppender, read_jsonl, write_jsonl_sorted
from srkit.core.seeding import sample_rng, sample_seed


@given(st.text(min_size=1, max_size=80))
def test_page_keys_are_ascii_without_dots(rel):
    key = page_key(rel)
    check_key(key)
    assert "." not in key and "_" not in key


def test_page_keys_do_not_collide():
    names = ["a/b.png", "a-b.png", "a/b.jpg", "a b.png", "ä b.png", "-leading.png"]
    assert len({page_key(n) for n in names}) == len(names)


@given(st.integers(0, 99_998), st.integers(0, 99_999))
def test_tile_key_round_trip_and_sorting(y, x):
    key = tile_key(page_key("p.png"), y, x)
    assert parse_tile_key(key)[1:] == (y, x)
    assert tile_key("p", y, x) < tile_key("p", y + 1, 0)


def test_sample_seed_is_stable_and_key_dependent():
    assert sample_seed(0, "a") == sample_seed(0, "a")
    assert sample_seed(0, "a") != sample_seed(0, "b") != sample_seed(1, "a")
    assert sample_rng(5).random() == sample_rng(5).random()
    # the value must not depend on the Python process (no hash randomisation)
    assert sample_seed(1, "k") == 10529499862748225909


def test_atomic_write_leaves_no_temp_on_error(tmp_path):
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"abc")
    assert target.read_bytes() == b"abc"
    temp_name(target).write_bytes(b"half")
    assert remove_stale_temps(tmp_path) == 1
    assert sorted(os.listdir(tmp_path)) == ["x.bin"]


def test_inside_refuses_escapes(tmp_path):
    assert inside(tmp_path, "a/b.png") == (tmp_path / "a/b.png").resolve()
    for bad in ["../x", "/etc/passwd", "a/../../x"]:
        with pytest.raises(ValueError):
            inside(tmp_path, bad)


def test_jsonl_ignores_torn_last_line_and_repairs_it(tmp_path):
    path = tmp_path / "m.jsonl"
    with JsonlAppender(path) as w:
        w.write({"key": "a"})
        w.write({"key": "b"})
    with open(path, "ab") as f:
        f.write(b'{"key": "c", "tor')
    assert [r["key"] for r in read_jsonl(path)] == ["a", "b"]
    with JsonlAppender(path) as w:
        w.write({"key": "d"})
    assert [r["key"] for r in read_jsonl(path)] == ["a", "b", "d"]
    write_jsonl_sorted(path, [{"key": "z"}, {"key": "a"}], sort_key=lambda r: r["key"])
    assert path.read_text() == '{"key":"a"}\n{"key":"z"}\n'
    json.loads(path.read_text().splitlines()[0])


def test_read_image_conversions(tmp_path):
    gray = (np.arange(64 * 48) % 256).astype(np.uint8).reshape(48, 64)
    # 16-bit gray scales with rounding
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    arr, info = read_image(tmp_path / "g16.png")
    assert info.bit_depth == 16 and np.array_equal(arr, gray)
    # RGBA composited on white
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 3] = 0
    Image.fromarray(rgba).save(tmp_path / "t.png")
    arr, info = read_image(tmp_path / "t.png")
    assert info.alpha_composited and arr.min() == 255
    # gray content in an RGB JPEG comes back 1-channel with color=auto
    Image.fromarray(np.stack([gray] * 3, 2)).save(tmp_path / "g.jpg", quality=95)
    arr, _ = read_image(tmp_path / "g.jpg", color="auto")
    assert arr.ndim == 2
    # EXIF orientation is applied
    im = Image.fromarray(gray)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "r.jpg", exif=exif, quality=95)
    arr, info = read_image(tmp_path / "r.jpg")
    assert arr.shape == (64, 48) and info.exif_transposed


@pytest.mark.parametrize("content,problem", [(b"", "empty"), (b"hello", "not an image")])
def test_read_image_errors_name_the_problem(tmp_path, content, problem):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(ImageError, match=problem) as err:
        read_image(p)
    assert str(p) in str(err.value)


def test_read_image_pixel_limit(tmp_path):
    Image.fromarray(np.zeros((100, 100), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(ImageError, match="above the limit"):
        read_image(tmp_path / "a.png", max_pixels=100)


def test_png_round_trip_and_gray_detection():
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(decode_png(encode_png(rgb)), rgb)
    assert not is_gray_content(rgb)
    assert is_gray_content(np.stack([rgb[..., 0]] * 3, 2))


def test_16bit_rgba_png_records_alpha_composited(tmp_path):
    import cv2

    bgra = np.zeros((8, 8, 4), np.uint16)
    bgra[..., :3] = 30000
    bgra[:4, :, 3] = 65535  # top half opaque, bottom half transparent
    cv2.imwrite(str(tmp_path / "a16.png"), bgra)
    arr, info = read_image(tmp_path / "a16.png")
    assert info.bit_depth == 16 and info.alpha_composited
    assert arr[6, 0].tolist() == [255, 255, 255] and arr[0, 0, 0] == round(30000 * 255 / 65535)


def _sigint_ignored(_):
    import signal

    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_parallel_workers_ignore_sigint_and_the_parent_handler_is_restored():
    import signal

    from srkit.core.parallel import parallel_map

    before = signal.getsignal(signal.SIGINT)
    assert all(parallel_map(_sigint_ignored, range(8), jobs=2, backend="loky"))
    assert signal.getsignal(signal.SIGINT) is before
    assert list(parallel_map(_sigint_ignored, range(2), jobs=1)) == [False, False]


def test_deferred_interrupt_waits_for_check_and_a_second_press_is_immediate():
    import os
    import signal

    from srkit.core.console import DeferredInterrupt

    before = signal.getsignal(signal.SIGINT)
    with DeferredInterrupt("deferred") as stop:
        os.kill(os.getpid(), signal.SIGINT)  # handled before os.kill returns: no exception here
        assert stop.requested and not stop.forced
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
        assert stop.forced
        with pytest.raises(KeyboardInterrupt):
            stop.check()
    assert signal.getsignal(signal.SIGINT) is before
    quiet = DeferredInterrupt()
    quiet.check(False)
    with pytest.raises(KeyboardInterrupt):
        quiet.check(True)  # e.g. another rank asked to stop


def test_deferred_interrupt_leaves_an_ignored_sigint_and_other_threads_alone():
    import signal
    import threading

    from srkit.core.console import DeferredInterrupt

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with DeferredInterrupt():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    seen = []

    def in_thread():
        with DeferredInterrupt():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen == [previous]


def test_an_unreachable_dask_scheduler_is_one_clear_error(monkeypatch):
    pytest.importorskip("distributed")
    import dask

    from srkit.core.console import StageError
    from srkit.core.parallel import parallel_map

    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")  # the discard port: nobody listens
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(StageError, match="127.0.0.1:9.*DASK_SCHEDULER_ADDRESS"):
            list(parallel_map(abs, [1, 2], jobs=2, backend="dask"))


def test_write_png_streamed_round_trips_and_leaves_the_array_as_it_was(tmp_path):
    from srkit.core.streamed_png import write_png_streamed

    rng = np.random.default_rng(0)
    for shape in ((30, 20), (30, 20, 3), (30, 20, 4)):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        before = img.copy()
        write_png_streamed(tmp_path / "x.png", img, level=3)
        assert np.array_equal(img, before), "channels restored after the in-place swap"
        back = np.asarray(Image.open(tmp_path / "x.png"))
        assert np.array_equal(back, img), shape
        assert [p.name for p in tmp_path.iterdir()] == ["x.png"], "no temporary file left"
