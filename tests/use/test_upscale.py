from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from srkit.train.models import build_model
from srkit.train.upscale import ModelFileError, adapt_and_upscale, load_model, upscale_array, upscale_file


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
    assert adapt_and_upscale(gray_model, gray).shape == (40, 48)
    assert adapt_and_upscale(rgb_model, gray).shape == (40, 48)  # gray stays gray
    assert adapt_and_upscale(gray_model, rgb).shape == (40, 48, 3)  # luma + bicubic chroma
    gray_rgb = np.repeat(gray[:, :, None], 3, 2)
    assert np.array_equal(adapt_and_upscale(gray_model, gray_rgb), adapt_and_upscale(gray_model, gray))


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

    from srkit.train.upscale import output_paths

    found = [(Path("in/ch1/001.png"), Path("ch1/001.png")), (Path("in/ch2/001.png"), Path("ch2/001.png")),
             (Path("in/a.png"), Path("a.png")), (Path("in/a.jpg"), Path("a.jpg"))]
    targets = output_paths(found, tmp_path)
    assert targets == [tmp_path / "ch1/001.png", tmp_path / "ch2/001.png", tmp_path / "a.png.png",
                       tmp_path / "a.jpg.png"]
    with pytest.raises(ValueError, match="several inputs"):
        output_paths([(Path("x/a.png"), Path("a.png")), (Path("y/a.png"), Path("a.png"))], tmp_path)
