"""read_image at the edges (colour profiles, frames, samples past 16 bits) and the folder lock (who holds
it, and that it dies with its process even when a forked child lives on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from image_files import ADOBE_RGB, gray_profile, rgb_profile, tiff_bytes
from PIL import Image, ImageCms

from srkit.core.console import UsageError
from srkit.core.images import ImageError, read_image
from srkit.core.locks import folder_lock


def colourful(h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[:16] = (30, 200, 40)  # a saturated green, where Adobe RGB and sRGB differ most
    img[16:32] = (128, 128, 128)  # neutral gray (whole JPEG blocks, away from the green's chroma)
    return img


def test_an_adobe_rgb_jpeg_reads_as_srgb(tmp_path):
    icc = rgb_profile("Adobe RGB (1998)", **ADOBE_RGB)
    path = tmp_path / "adobe.jpg"
    Image.fromarray(colourful()).save(path, quality=100, icc_profile=icc)
    arr, info = read_image(path)
    assert info.icc == "Adobe RGB (1998) -> sRGB" and info.as_dict()["icc"] == info.icc
    with Image.open(path) as im:
        raw = np.asarray(im.convert("RGB"))
        expected = np.asarray(ImageCms.profileToProfile(
            im, ImageCms.ImageCmsProfile(__import__("io").BytesIO(icc)), ImageCms.createProfile("sRGB"),
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB"))
    assert np.array_equal(arr, expected)
    assert int(np.abs(arr.astype(int) - raw).max()) > 20  # read as sRGB, the green would be far off
    gray = arr[20:28].astype(int)
    assert int(np.abs(gray - gray[:, :, :1]).max()) <= 2  # neutral stays neutral


def test_a_gray_profile_is_converted_and_the_page_stays_gray(tmp_path):
    path = tmp_path / "dotgain.png"
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1))
    Image.fromarray(ramp).save(path, icc_profile=gray_profile("Gray gamma 1.8", 1.8))
    arr, info = read_image(path)
    assert arr.ndim == 2 and info.icc == "Gray gamma 1.8 -> sRGB"
    assert not np.array_equal(arr, ramp) and arr[0, 0] == 0 and arr[0, -1] >= 250


def test_an_srgb_profile_changes_nothing(tmp_path):
    path = tmp_path / "srgb.png"
    img = colourful()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(img).save(path, icc_profile=srgb)
    arr, info = read_image(path)
    assert info.icc is None and "icc" not in info.as_dict() and np.array_equal(arr, img)


def test_files_with_several_frames_say_so(tmp_path):
    frames = [np.full((40, 50), v, np.uint8) for v in (20, 120, 220)]
    animated = tmp_path / "anim.png"
    rest = [Image.fromarray(f) for f in frames[1:]]
    Image.fromarray(frames[0]).save(animated, save_all=True, append_images=rest)
    pages = tmp_path / "pages.tif"
    Image.fromarray(frames[1]).save(pages, save_all=True, append_images=[Image.fromarray(frames[2])])
    arr, info = read_image(animated)
    assert info.frames == 3 and info.as_dict()["frames"] == 3 and np.array_equal(arr, frames[0])
    arr, info = read_image(pages)
    assert info.frames == 2 and np.array_equal(arr, frames[1])
    single = tmp_path / "one.png"
    Image.fromarray(frames[0]).save(single)
    assert "frames" not in read_image(single)[1].as_dict()  # plain files keep their record as it was


def test_samples_past_16_bits_are_refused_with_the_real_reason(tmp_path):
    wide = (np.arange(20 * 30, dtype=np.int32).reshape(20, 30) * 1000)  # up to 599,000
    (tmp_path / "int32.tif").write_bytes(tiff_bytes(wide, 2))
    with pytest.raises(ImageError, match="32-bit integer samples from 0 to 599000, beyond 16 bits"):
        read_image(tmp_path / "int32.tif")
    narrow = (np.arange(20 * 30, dtype=np.int32).reshape(20, 30) * 100)  # fits 16 bits: read, not clipped
    (tmp_path / "int32_16.tif").write_bytes(tiff_bytes(narrow, 2))
    arr, info = read_image(tmp_path / "int32_16.tif")
    assert info.bit_depth == 16 and arr.max() == round(59_900 * 255 / 65535)
    (tmp_path / "half.tif").write_bytes(tiff_bytes(np.random.rand(20, 30).astype(np.float16), 3))
    with pytest.raises(ImageError, match="1 channel.s. of 16-bit floating-point samples"):
        read_image(tmp_path / "half.tif")
    (tmp_path / "rgbf.tif").write_bytes(tiff_bytes(np.random.rand(20, 30, 3).astype(np.float32), 3))
    with pytest.raises(ImageError, match="3 channel.s. of 32-bit floating-point samples"):
        read_image(tmp_path / "rgbf.tif")
    (tmp_path / "f32.tif").write_bytes(tiff_bytes(np.random.rand(20, 30).astype(np.float32), 3))
    with pytest.raises(ImageError, match="32-bit floating-point samples"):
        read_image(tmp_path / "f32.tif")


HOLDER = """
import os, sys, time
from srkit.core.locks import folder_lock
with folder_lock(sys.argv[1], "busy"):
    if sys.argv[2] == "fork":
        child = os.fork()
        if child == 0:  # a worker that outlives its parent (as a DataLoader worker can, briefly)
            time.sleep(60)
            os._exit(0)
        print(child, flush=True)
        os._exit(0)  # the parent dies holding the lock
    print("ready", flush=True)
    time.sleep(60)
"""


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "hold"], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(UsageError) as refused:
            with folder_lock(tmp_path, "another run is writing here"):
                pass
        message = str(refused.value)
        assert message.startswith("another run is writing here")
        assert f"held by process {proc.pid}" in message and "since" in message
    finally:
        proc.kill()
        proc.wait()
    with folder_lock(tmp_path, "busy"):  # a killed holder leaves a stale file, never a held lock
        pass


def test_a_forked_child_does_not_keep_its_parents_lock(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "fork"], stdout=subprocess.PIPE,
                            text=True)
    child = int(proc.stdout.readline().strip())
    assert proc.wait(timeout=60) == 0  # the parent is gone; its child (holding the pipe too) is not
    try:
        os.kill(child, 0)  # the child still lives
        deadline = time.monotonic() + 5
        while True:
            try:
                with folder_lock(tmp_path, "busy"):
                    break
            except UsageError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        os.kill(child, signal.SIGKILL)
