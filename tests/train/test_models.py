"""Generators and discriminators: shapes, key layouts spandrel relies on, config detection, export."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from srkit.train.models import (
    ARCHS,
    DISCRIMINATORS,
    ModelLoadError,
    build_discriminator,
    build_model,
    detect_arch_config,
    export_state_dict,
    model_from_state_dict,
    normalize_state_dict,
)

TINY = {
    "rrdbnet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4},
    "compact": {"num_feat": 8, "num_conv": 2},
    "srresnet": {"num_feat": 8, "num_block": 1},
    "srcnn": {},
    "msrcnn": {},
    "span": {"num_feat": 8},
    "realplksr": {"num_feat": 8, "num_block": 1, "kernel_size": 5},
}
SCALE1_ONLY = {"srcnn", "msrcnn"}


def _cases():
    for arch in ARCHS:
        for channels in (1, 3):
            for scale in ((1,) if arch in SCALE1_ONLY else (1, 2, 4, 8)):
                yield arch, channels, scale


@pytest.mark.parametrize(("arch", "channels", "scale"), list(_cases()))
def test_output_shape_and_config(arch, channels, scale):
    torch.manual_seed(0)
    model = build_model(arch, channels, channels, scale, **TINY[arch]).eval()
    x = torch.rand(2, channels, 12, 16)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, channels, 12 * scale, 16 * scale)
    assert torch.isfinite(y).all()
    cfg = model.arch_config
    assert (cfg["arch"], cfg["in_channels"], cfg["out_channels"], cfg["scale"]) == (arch, channels, channels,
                                                                                    scale)
    assert TINY[arch].items() <= cfg["options"].items()


def test_aliases_and_bad_arguments():
    assert build_model("ESRGAN", 1, 1, 4, num_feat=8, num_block=1).arch_config["arch"] == "rrdbnet"
    assert build_model("srvgg", 1, 1, 2, num_feat=8, num_conv=1).arch_config["arch"] == "compact"
    with pytest.raises(ValueError, match="unknown arch 'edsr'"):
        build_model("edsr", 3, 3, 4)
    with pytest.raises(ValueError, match="num_blocks"):
        build_model("rrdbnet", 3, 3, 4, num_blocks=2)
    with pytest.raises(ValueError, match="scale-1 model"):
        build_model("srcnn", 1, 1, 2)
    with pytest.raises(ValueError, match="scale-1 model"):
        build_model("msrcnn", 3, 3, 4)
    with pytest.raises(ValueError, match="as many channels"):
        build_model("srcnn", 1, 3, 1)
    with pytest.raises(ValueError, match="scales"):
        build_model("rrdbnet", 3, 3, 3, num_feat=8, num_block=1)
    with pytest.raises(ValueError, match="scales"):
        build_model("rrdbnet", 3, 3, 16, num_feat=8, num_block=1)
    with pytest.raises(ValueError, match="scales"):
        build_model("srresnet", 3, 3, 3, num_feat=8, num_block=1)


def test_srcnn_layers_follow_the_paper_tables():
    srcnn = build_model("srcnn", 1, 1, 1)
    convs = [(m.out_channels, m.kernel_size) for m in srcnn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [(128, (9, 9)), (64, (3, 3)), (1, (5, 5))]
    msrcnn = build_model("msrcnn", 3, 3, 1)
    layers = [(type(m).__name__, m.out_channels, m.kernel_size) for m in msrcnn.modules()
              if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert layers == [("Conv2d", 64, (5, 5)), ("Conv2d", 64, (5, 5)), ("Conv2d", 16, (3, 3)),
                      ("ConvTranspose2d", 32, (3, 3)), ("ConvTranspose2d", 32, (3, 3)), ("Conv2d", 3, (1, 1))]
    out = msrcnn(torch.randn(1, 3, 10, 10) * 10)
    assert out.min() >= 0 and out.max() <= 1  # Sigmoid output


def test_rrdbnet_keys_match_the_spandrel_layout():
    model = build_model("rrdbnet", 3, 3, 4, num_feat=8, num_block=2)
    keys = set(model.state_dict())
    for key in ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_last.weight",
                "conv_up1.weight", "conv_up2.weight", "conv_hr.weight"):
        assert key in keys
    pattern = re.compile(r"^(conv_first|conv_body|conv_up1|conv_up2|conv_hr|conv_last|"
                         r"body\.[01]\.rdb[123]\.conv[1-5])\.(weight|bias)$")
    assert all(pattern.match(k) for k in keys), sorted(k for k in keys if not pattern.match(k))
    assert len(keys) == 2 * (6 + 2 * 3 * 5)  # 6 outer convs + 2 blocks x 3 dense blocks x 5 convs
    assert model.state_dict()["body.0.rdb1.conv1.weight"].shape[0] == 32  # growth channels default


@pytest.mark.parametrize(("scale", "factor"), [(1, 16), (2, 4), (4, 1)])
def test_rrdbnet_pixel_unshuffle_widens_conv_first(scale, factor):
    model = build_model("rrdbnet", 1, 1, scale, num_feat=8, num_block=1)
    assert model.state_dict()["conv_first.weight"].shape[1] == factor


def test_compact_keys_match_the_spandrel_layout():
    model = build_model("compact", 3, 3, 2, num_feat=8, num_conv=3)
    sd = model.state_dict()
    # conv, PReLU, (conv, PReLU) x 3, conv: body.0 .. body.8, PReLU with one slope per feature.
    assert sorted(sd) == sorted([f"body.{i}.weight" for i in range(9)] +
                                [f"body.{i}.bias" for i in range(0, 9, 2)])
    assert sd["body.1.weight"].shape == (8,)
    assert sd["body.8.weight"].shape[0] == 3 * 2 * 2


def test_compact_adds_the_nearest_upsampled_input():
    model = build_model("compact", 1, 1, 2, num_feat=8, num_conv=1)
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()
        x = torch.rand(1, 1, 5, 7)
        assert torch.equal(model(x), x.repeat_interleave(2, 2).repeat_interleave(2, 3))


def test_compact_init_keeps_activations_alive_through_depth():
    """PyTorch's default init lets the signal fade ~13x over 16 convs (ratio 0.08 measured): the
    'nearest + zero residual' trap. Ours keeps it within a factor of 5."""
    torch.manual_seed(0)
    model = build_model("compact", 3, 3, 4, num_feat=64, num_conv=16)
    x = torch.rand(1, 3, 24, 24)
    acts = []
    out = x
    for layer in model.body:
        out = layer(out)
        if isinstance(layer, torch.nn.PReLU):
            acts.append(out.std().item())
    assert 0.2 < acts[-1] / acts[0] < 5
    residual = model(x) - torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")
    assert 1e-3 < residual.abs().mean().item() < 0.5  # small but not dead


@pytest.mark.parametrize("arch", ["srresnet", "srcnn", "msrcnn"])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_own_loader_archs_never_look_like_compact(arch, batch_norm):
    options = {**TINY[arch], **({"batch_norm": batch_norm} if arch == "srresnet" else {})}
    model = build_model(arch, 3, 3, 1, **options)
    assert not any(k.startswith(("body.0", "body.1", "body.")) for k in model.state_dict())
    with pytest.raises(ModelLoadError, match="cannot detect"):
        detect_arch_config(model.state_dict())


def test_srresnet_batch_norm_option():
    with_bn = build_model("srresnet", 3, 3, 4, num_feat=8, num_block=2)
    without = build_model("srresnet", 3, 3, 4, num_feat=8, num_block=2, batch_norm=False)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in without.modules())
    assert len(with_bn.blocks) == 2
    assert sum(isinstance(m, torch.nn.PixelShuffle) for m in with_bn.modules()) == 2


@settings(max_examples=12, deadline=None)
@given(arch=st.sampled_from(["rrdbnet", "compact"]), channels=st.sampled_from([1, 3]),
       scale=st.sampled_from([1, 2, 4]), feat=st.sampled_from([4, 8, 12]), blocks=st.integers(1, 3),
       grow=st.sampled_from([4, 32]))
def test_detect_arch_config_recovers_the_config(arch, channels, scale, feat, blocks, grow):
    if arch == "rrdbnet":
        options = {"num_feat": feat, "num_block": blocks, "num_grow_ch": grow}
    else:
        options = {"num_feat": feat, "num_conv": blocks}
    model = build_model(arch, channels, channels, scale, **options)
    assert detect_arch_config(model.state_dict()) == model.arch_config


def test_rebuild_unwraps_params_ema_and_loads_without_config():
    torch.manual_seed(1)
    model = build_model("rrdbnet", 1, 1, 2, num_feat=8, num_block=1).eval()
    wrapped = {"params": {}, "params_ema": export_state_dict(model)}
    loaded = model_from_state_dict(wrapped).eval()
    x = torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod."])
def test_wrapper_prefixes_are_dropped(prefix):
    model = build_model("compact", 1, 1, 2, num_feat=8, num_conv=1)
    wrapped = {prefix + k: v for k, v in model.state_dict().items()}
    assert normalize_state_dict(wrapped).keys() == model.state_dict().keys()
    assert detect_arch_config(wrapped) == model.arch_config


def test_old_esrgan_layout_converts():
    """Community x4 models in the original ESRGAN layout (model.N keys) rename onto RRDBNet."""
    model = build_model("rrdbnet", 3, 3, 4, num_feat=8, num_block=2)
    rename = {"conv_first": "model.0", "conv_body": "model.1.sub.2", "conv_up1": "model.3",
              "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}
    old = {}
    for key, value in model.state_dict().items():
        stem, _, kind = key.rpartition(".")
        if m := re.match(r"body\.(\d)\.rdb(\d)\.conv(\d)$", stem):
            old[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{kind}"] = value
        else:
            old[f"{rename[stem]}.{kind}"] = value
    assert normalize_state_dict(old).keys() == model.state_dict().keys()
    assert detect_arch_config(old) == model.arch_config


def test_model_from_state_dict_mismatch_is_clear():
    model = build_model("compact", 3, 3, 4, num_feat=8, num_conv=2)
    config = {**model.arch_config, "options": {"num_feat": 8, "num_conv": 3}}
    with pytest.raises(ModelLoadError, match="missing"):
        model_from_state_dict(model.state_dict(), config)
    with pytest.raises(ModelLoadError, match="not tensors"):
        model_from_state_dict({"body.0.weight": [1, 2]})


@pytest.mark.parametrize(("arch", "scale"), [("rrdbnet", 2), ("compact", 4), ("srresnet", 2),
                                              ("srresnet", 4), ("srcnn", 1), ("msrcnn", 1)])
def test_export_safetensors_roundtrip_is_identical(tmp_path, arch, scale):
    torch.manual_seed(2)
    options = {**TINY[arch], **({"num_feat": 8} if arch == "srresnet" else {})}
    model = build_model(arch, 1, 1, scale, **options)
    if arch == "srresnet":  # give BatchNorm non-trivial running stats before exporting
        model.train()
        model(torch.rand(4, 1, 8, 8))
    model.eval()
    path = tmp_path / "model.safetensors"
    save_file(export_state_dict(model), str(path))
    loaded = model_from_state_dict(load_file(str(path)), model.arch_config).eval()
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [32, 48])
def test_discriminator_output_shapes(name, channels, size):
    disc = build_discriminator(name, channels, num_feat=8)
    out = disc(torch.rand(2, channels, size, size))
    expected = (2, 1, size, size) if name == "unet_sn" else (2, 1)
    assert out.shape == expected
    assert torch.isfinite(out).all()


def test_unet_discriminator_has_spectral_norm_and_handles_odd_sizes():
    disc = build_discriminator("unet_sn", 1, num_feat=8)
    keys = set(disc.state_dict())
    for i in range(1, 9):
        assert {f"conv{i}.weight_orig", f"conv{i}.weight_u", f"conv{i}.weight_v"} <= keys
    assert "conv0.weight" in keys and "conv9.weight" in keys  # first and last convs stay plain
    assert disc(torch.rand(1, 1, 37, 50)).shape == (1, 1, 37, 50)


def test_vgg_discriminator_options():
    critic = build_discriminator("vgg", 3, num_feat=8, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in critic.modules())
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in critic.modules())
    disc = build_discriminator("vgg", 3, num_feat=8)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in disc.modules())
    assert critic(torch.rand(1, 3, 128, 128)).shape == (1, 1)
    with pytest.raises(ValueError, match="at least 32"):
        critic(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="unknown discriminator"):
        build_discriminator("patchgan", 3)
    assert disc.arch_config == {"arch": "vgg", "in_channels": 3,
                                "options": {"num_feat": 8, "batch_norm": True}}
