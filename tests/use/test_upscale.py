from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from srkit.train.inference import ModelFileError, load_model
from srkit.train.models import build_model
from srkit.train.upscale import upscale_array, upscale_file, upscale_image


def _export(tmp_path, arch="compact", channels=1, scale=2, name="model", **options):
    torch.manual_seed(0)
    model = build_model(arch, channels, channels, scale, **options)
    with torch.no_grad():  # weights away from the identity-like init so every pixel matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = tmp_path / f"{name}.safetensors"
    save_file(state, str(path))
    (tmp_path / f"{name}.json").write_text(json.dumps(model.arch_config))
    return path


def _page(h=70, w=90, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def test_tiled_equals_untiled_when_overlap_covers_receptive_field(tmp_path):
    loaded = load_model(_export(tmp_path, num_feat=8, num_conv=2))
    img = _page()[:, :, None]
    whole = upscale_array(loaded, img, tile=0)
    tiled = upscale_array(loaded, img, tile=16, overlap=8)
    assert whole.shape == (140, 180, 1)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_tiled_rrdbnet_is_close_to_untiled(tmp_path):
    loaded = load_model(_export(tmp_path, arch="rrdbnet", scale=4, num_feat=8, num_block=1, num_grow_ch=32))
    img = _page(40, 44)[:, :, None]
    whole = upscale_array(loaded, img, tile=0).astype(int)
    tiled = upscale_array(loaded, img, tile=20, overlap=12).astype(int)
    assert np.abs(whole - tiled).mean() < 0.5


def test_community_rrdbnet_without_config_is_detected(tmp_path):
    path = _export(tmp_path, arch="rrdbnet", channels=3, scale=4, num_feat=8, num_block=1)
    path.with_suffix(".json").unlink()  # a community file comes without our model.json
    pth = tmp_path / "community.pth"
    from safetensors.torch import load_file

    torch.save({"params_ema": load_file(str(path))}, pth)
    loaded = load_model(pth)
    assert loaded.scale == 4 and loaded.in_channels == 3


def test_channel_adaptation(tmp_path):
    gray_model = load_model(_export(tmp_path, channels=1, name="g", num_feat=8, num_conv=2))
    rgb_model = load_model(_export(tmp_path, channels=3, name="c", num_feat=8, num_conv=2))
    gray = _page(20, 24)
    rgb = np.random.default_rng(1).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    assert upscale_image(gray_model, gray).shape == (40, 48)
    assert upscale_image(rgb_model, gray).shape == (40, 48)  # gray stays gray
    assert upscale_image(gray_model, rgb).shape == (40, 48, 3)  # luma + bicubic chroma
    gray_rgb = np.repeat(gray[:, :, None], 3, 2)
    assert np.array_equal(upscale_image(gray_model, gray_rgb), upscale_image(gray_model, gray))


def test_alpha_is_kept(tmp_path):
    loaded = load_model(_export(tmp_path, channels=3, num_feat=8, num_conv=2))
    rgba = np.zeros((16, 20, 4), np.uint8)
    rgba[..., :3] = 120
    rgba[:, :10, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    upscale_file(loaded, tmp_path / "a.png", tmp_path / "out" / "a.png")
    out = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    assert out.shape == (32, 40, 4) and out[:, :16, 3].min() > 200 and out[:, 24:, 3].max() < 50


def test_bad_model_files_are_refused_clearly(tmp_path):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    text = tmp_path / "text.pth"
    text.write_text("not a model")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"x": Evil()}))
    for path, message in [(empty, "empty"), (text, "not a model"), (evil, "not a model"),
                          (tmp_path / "missing.pth", "not found")]:
        with pytest.raises(ModelFileError, match=message) as err:
            load_model(path)
        assert str(path) in str(err.value)
    weird = tmp_path / "weird.safetensors"
    save_file({"a.weight": torch.zeros(2)}, str(weird))
    with pytest.raises(ModelFileError, match="architecture"):
        load_model(weird)


def test_output_paths_mirror_folders_and_never_collide(tmp_path):
    from pathlib import Path

    from srkit.train.upscale_paths import output_paths

    found = [(Path("in/ch1/001.png"), Path("ch1/001.png")), (Path("in/ch2/001.png"), Path("ch2/001.png")),
             (Path("in/a.png"), Path("a.png")), (Path("in/a.jpg"), Path("a.jpg"))]
    targets = output_paths(found, tmp_path)
    assert targets == [tmp_path / "ch1/001.png", tmp_path / "ch2/001.png", tmp_path / "a.png.png",
                       tmp_path / "a.jpg.png"]
    with pytest.raises(ValueError, match="several inputs"):
        output_paths([(Path("x/a.png"), Path("a.png")), (Path("y/a.png"), Path("a.png"))], tmp_path)


# ------------------------------------------------------------------ modes, passes, denoise, alpha


def _rgba(h=36, w=44, seed=4):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = np.full((h, w), 255, np.uint8)
    alpha[:, : w // 3] = 0
    alpha[h // 2:, :] = 128
    return img, alpha


class BoxModel:
    """A stand-in model (any backend offers these members): a 3 x 3 mean in integers, then pixel
    repeat, so every tile shape gives exactly the same values and any difference is a seam."""

    def __init__(self, channels: int, scale: int, pre_upsample: int = 1):
        self.config = {"scale": scale, "in_channels": channels, "pre_upsample": pre_upsample}
        self.path = None
        self.scale, self.in_channels, self.pre_upsample = scale, channels, pre_upsample

    def run_tile(self, tile: np.ndarray) -> np.ndarray:
        padded = np.pad(tile.astype(np.int32), ((1, 1), (1, 1), (0, 0)), mode="edge")
        h, w = tile.shape[:2]
        total = sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
        out = (total.astype(np.float32) / np.float32(9 * 255))
        return np.repeat(np.repeat(out, self.scale, axis=0), self.scale, axis=1)


@pytest.mark.parametrize("mode", ["enlarge", "enhance"])
@pytest.mark.parametrize("passes", [1, 2])
@pytest.mark.parametrize("denoise", [None, "nlmeans", "bilateral"])
def test_every_mode_tiles_without_seams_on_gray_rgb_and_rgba(mode, passes, denoise):
    from srkit.train.upscale import UpscaleOptions

    rgb, alpha = _rgba()
    gray = _page(36, 44)
    whole = UpscaleOptions(mode=mode, passes=passes, denoise=denoise, tile=0)
    tiled = UpscaleOptions(mode=mode, passes=passes, denoise=denoise, tile=16, overlap=16)
    for model in (BoxModel(1, 2), BoxModel(3, 2), BoxModel(1, 1, pre_upsample=2)):
        factor = (2 if mode == "enlarge" else 1) ** passes
        for img, a, channels in ((gray, None, None), (rgb, None, 3), (rgb, alpha, 4), (gray, alpha, 4)):
            expected = upscale_image(model, img, whole, alpha=a)
            got = upscale_image(model, img, tiled, alpha=a)
            assert got.shape[:2] == (36 * factor, 44 * factor)
            assert (got.ndim == 2) if channels is None else got.shape[2] == channels
            assert np.array_equal(got, expected), (model.config, img.shape, a is not None)


def test_a_real_model_tiles_within_float_rounding_in_every_mode(tmp_path):
    from srkit.train.upscale import UpscaleOptions

    loaded = load_model(_export(tmp_path, channels=1, num_feat=8, num_conv=2))
    rgb, alpha = _rgba()
    for mode in ("enlarge", "enhance"):
        whole = upscale_image(loaded, rgb, UpscaleOptions(mode, passes=2, tile=0), alpha=alpha)
        tiled = upscale_image(loaded, rgb, UpscaleOptions(mode, passes=2, tile=16, overlap=20), alpha=alpha)
        # convolutions on other tile shapes may round a value lying on a half level the other way
        diff = np.abs(whole.astype(int) - tiled)
        assert diff.max() <= 1 and np.count_nonzero(diff) <= 1e-3 * diff.size


def test_enhance_keeps_the_size_and_averages_a_scaled_model_back(tmp_path):
    from srkit.train.upscale import UpscaleOptions

    loaded = load_model(_export(tmp_path, num_feat=8, num_conv=2))
    img = _page(20, 24)
    out = upscale_image(loaded, img, UpscaleOptions(mode="enhance", tile=0))
    raw = loaded.run_tile(img[:, :, None])[:, :, 0].astype(np.float64)
    blocks = raw.reshape(20, 2, 24, 2).mean(axis=(1, 3))
    assert out.shape == img.shape
    assert np.abs(out.astype(float) - blocks * 255).max() <= 0.5 + 1e-6


def test_a_scale1_model_enlarges_by_its_pre_upsample_and_enhances_at_the_input_size(tmp_path):
    from srkit.train.metrics import bicubic_upscale
    from srkit.train.upscale import UpscaleOptions

    torch.manual_seed(0)
    model = build_model("srcnn", 1, 1, 1)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    (tmp_path / "m.json").write_text(json.dumps(dict(model.arch_config, pre_upsample=2)))
    loaded = load_model(tmp_path / "m.safetensors")
    img = _page(20, 24)
    enhanced = upscale_image(loaded, img, UpscaleOptions(mode="enhance", tile=0))
    assert np.array_equal(enhanced, upscale_array(loaded, img[:, :, None], tile=0)[:, :, 0])
    enlarged = upscale_image(loaded, img, UpscaleOptions(tile=0))
    pre = bicubic_upscale(img, (48, 40))
    assert np.array_equal(enlarged, upscale_array(loaded, pre[:, :, None], tile=0)[:, :, 0])
    twice = upscale_image(loaded, img, UpscaleOptions(passes=2, tile=0))
    assert np.array_equal(twice, upscale_image(loaded, enlarged, UpscaleOptions(tile=0)))


def test_denoise_runs_once_on_the_final_result(tmp_path):
    from srkit.train.upscale import UpscaleOptions, denoise

    loaded = load_model(_export(tmp_path, num_feat=8, num_conv=2))
    img = _page(24, 20)
    plain = upscale_image(loaded, img, UpscaleOptions(passes=2, tile=0))
    cleaned = upscale_image(loaded, img, UpscaleOptions(passes=2, denoise="bilateral", tile=0))
    assert np.array_equal(cleaned, denoise(plain, "bilateral"))


def test_the_result_is_assembled_in_uint8(tmp_path):
    """Peak numpy memory stays near the output's uint8 size (a float32 canvas alone would be 4 x)."""
    import tracemalloc

    from srkit.train.upscale import UpscaleOptions

    loaded = load_model(_export(tmp_path, arch="compact", scale=4, num_feat=4, num_conv=1))
    img = _page(600, 500)
    out_bytes = 2400 * 2000
    tracemalloc.start()
    out = upscale_image(loaded, img, UpscaleOptions(tile=64, overlap=8))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.shape == (2400, 2000)
    tile_work = 40 * (64 + 16) ** 2 * 16  # a tile's float64 result and copies, generously
    assert peak < 1.2 * out_bytes + tile_work, f"peak {peak / 1e6:.1f} MB, result {out_bytes / 1e6:.1f} MB"


def test_progress_advances_once_per_tile(tmp_path):
    from srkit.train.upscale import UpscaleOptions, tiles_needed

    loaded = load_model(_export(tmp_path, num_feat=8, num_conv=2))
    options = UpscaleOptions(tile=16, overlap=4, passes=2)
    ticks = []
    upscale_image(loaded, _page(40, 33), options, on_tile=lambda: ticks.append(1))
    assert len(ticks) == tiles_needed(loaded, 40, 33, options) == 3 * 3 + 5 * 5


# ------------------------------------------------------------------ never over an input


def _cli(args, cwd, monkeypatch):
    """sr-train in this process, in ``cwd``; the result has .returncode and .stderr (all its output)."""
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from srkit.cli.train import app

    monkeypatch.chdir(cwd)
    monkeypatch.setenv("COLUMNS", "300")
    done = CliRunner().invoke(app, [str(a) for a in args])
    return SimpleNamespace(returncode=done.exit_code, stderr=done.output)


def test_upscale_refuses_to_write_over_its_inputs_by_any_path(tmp_path, monkeypatch):
    import os

    model = _export(tmp_path, num_feat=4, num_conv=1)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    Image.fromarray(_page(20, 24)).save(imgs / "bird.png")
    original = (imgs / "bird.png").read_bytes()
    (tmp_path / "alias").symlink_to(imgs)
    (tmp_path / "other").mkdir()
    os.link(imgs / "bird.png", tmp_path / "other" / "bird.png")
    for args in (["imgs/bird.png", "--out", "imgs"],
                 ["imgs/bird.png", "--out", "./imgs/../imgs"],
                 ["imgs", "--out", "alias"],
                 ["alias/bird.png", "--out", "imgs"],
                 ["imgs/bird.png", "--out", "other"]):
        run = _cli(["upscale", model, *args, "--device", "cpu"], tmp_path, monkeypatch)
        assert run.returncode == 2, (args, run.stderr)
        assert "would overwrite" in run.stderr and "bird.png" in run.stderr, run.stderr
        assert (imgs / "bird.png").read_bytes() == original
        assert "Traceback" not in run.stderr


def test_an_out_folder_inside_the_inputs_is_not_read_back(tmp_path, monkeypatch):
    model = _export(tmp_path, num_feat=4, num_conv=1)
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    Image.fromarray(_page(20, 24)).save(imgs / "bird.png")
    for _ in range(2):
        run = _cli(["upscale", model, "imgs", "--out", "imgs/up", "--device", "cpu"], tmp_path, monkeypatch)
        assert run.returncode == 0, run.stderr
        assert "upscaled 1 of 1" in run.stderr
    assert sorted(p.relative_to(imgs).as_posix() for p in imgs.rglob("*.png")) == ["bird.png", "up/bird.png"]
    assert np.asarray(Image.open(imgs / "up" / "bird.png")).shape == (40, 48)


def test_enhance_twice_and_denoise_on_a_real_page_and_an_rgba_picture(tmp_path, monkeypatch, manga_dev_pages,
                                                                      real_root):
    """The m-SRCNN post-processing chain through the command on real images: a gray manga page and an
    RGBA anime picture keep their size and channels, the alpha survives, the denoiser smooths."""
    import shutil

    page = manga_dev_pages[0]
    rgba = real_root / "anime" / "anime_chibi_720_rgba.png"  # transparent background
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(page, inputs / page.name)
    shutil.copy(rgba, inputs / rgba.name)
    model = _export(tmp_path, num_feat=8, num_conv=2)
    for out, extra in (("plain", []), ("clean", ["--denoise", "nlmeans"])):
        run = _cli(["upscale", model, "in", "--out", out, "--mode", "enhance", "--passes", "2",
                    "--device", "cpu", *extra], tmp_path, monkeypatch)
        assert run.returncode == 0, run.stderr
    src_page, src_rgba = np.asarray(Image.open(page)), np.asarray(Image.open(rgba))
    for out in ("plain", "clean"):
        got_page = np.asarray(Image.open(tmp_path / out / page.with_suffix(".png").name))
        got_rgba = np.asarray(Image.open(tmp_path / out / rgba.name))
        assert got_page.shape == src_page.shape and got_page.ndim == 2
        assert got_rgba.shape == src_rgba.shape and got_rgba.shape[2] == 4
        assert np.array_equal(got_rgba[:, :, 3], src_rgba[:, :, 3])  # enhance keeps the alpha as it was
    plain = np.asarray(Image.open(tmp_path / "plain" / page.with_suffix(".png").name)).astype(float)
    clean = np.asarray(Image.open(tmp_path / "clean" / page.with_suffix(".png").name)).astype(float)
    roughness = [np.abs(np.diff(img, axis=1)).mean() for img in (plain, clean)]
    assert roughness[1] < roughness[0]
