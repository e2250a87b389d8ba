"""SPAN, RealPLKSR, RRDBNet at x8 and the community size names: the key layouts spandrel detects, the
configs detected back from them, re-parameterisation, the gray RealPLKSR in the RGB layout, and
``--init`` from exported weights."""

from __future__ import annotations

import re

import pytest
import torch

from srkit.train.models import (
    VARIANTS,
    ModelLoadError,
    build_model,
    detect_arch_config,
    export_state_dict,
    model_from_state_dict,
    normalize_state_dict,
)

SPAN_TINY = {"num_feat": 8}
PLKSR_TINY = {"num_feat": 8, "num_block": 2, "kernel_size": 5}


def perturbed(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Weights away from their init (zeros, ones), so a wrong wiring changes the output."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model


# ------------------------------------------------------------------------------------------ SPAN

def test_span_keys_are_the_layout_spandrel_detects():
    sd = build_model("span", 3, 3, 4, **SPAN_TINY).state_dict()
    for key in ("conv_1.sk.weight", "block_1.c1_r.sk.weight", "block_1.c1_r.eval_conv.weight",
                "block_1.c3_r.eval_conv.weight", "conv_cat.weight", "conv_2.sk.weight",
                "conv_2.eval_conv.weight", "upsampler.0.weight", "no_norm"):
        assert key in sd, key
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"block_(\d+)\.", k))}
    assert blocks == set(range(1, 7))
    rep = re.compile(r"^(conv_1|conv_2|block_[1-6]\.c[123]_r)\.(sk|conv\.[012]|eval_conv)\.(weight|bias)$")
    others = {k for k in sd if not rep.match(k)}
    assert others == {"conv_cat.weight", "conv_cat.bias", "upsampler.0.weight", "upsampler.0.bias", "no_norm"}
    assert sd["upsampler.0.weight"].shape[0] == 3 * 4 * 4
    assert "no_norm" not in build_model("span", 3, 3, 4, num_feat=8, norm=True).state_dict()


@pytest.mark.parametrize("channels", [1, 3])
def test_span_folded_conv_equals_the_training_branches(channels):
    model = perturbed(build_model("span", channels, channels, 2, **SPAN_TINY))
    x = torch.rand(2, channels, 11, 9)
    with torch.no_grad():
        trained = model.train()(x)
        folded = model.eval()(x)
    assert torch.allclose(trained, folded, atol=1e-5)
    # The export carries the folded weights, and loading recomputes them from the branches anyway.
    sd = export_state_dict(model)
    stale = {k: (torch.zeros_like(v) if ".eval_conv." in k else v) for k, v in sd.items()}
    with torch.no_grad():
        assert torch.equal(model_from_state_dict(stale, model.arch_config).eval()(x), folded)


def test_span_norm_is_rgb_only_and_variants_name_sizes():
    with pytest.raises(ValueError, match="norm = false"):
        build_model("span", 1, 1, 4, norm=True)
    assert build_model("span_s", 3, 3, 4).arch_config["options"]["num_feat"] == 48
    assert build_model("span", 3, 3, 4).arch_config["options"]["num_feat"] == 52
    assert build_model("SPAN_S", 3, 3, 4, num_feat=16).arch_config["options"]["num_feat"] == 16


# ------------------------------------------------------------------------------------------ RealPLKSR

@pytest.mark.parametrize(("layer_norm", "dysample"), [(True, False), (False, False), (True, True)])
def test_realplksr_keys_are_the_layout_spandrel_detects(layer_norm, dysample):
    model = build_model("realplksr", 3, 3, 4, **PLKSR_TINY, layer_norm=layer_norm, dysample=dysample)
    sd = model.state_dict()
    for key in ("feats.0.weight", "feats.1.lk.conv.weight", "feats.1.refine.weight",
                "feats.1.channel_mixer.0.weight", "feats.1.channel_mixer.2.weight", "feats.1.attn.f.0.weight",
                "feats.4.weight"):  # 2 blocks, then the dropout's index 3, then the last conv
        assert key in sd, key
    assert ("feats.1.layer_norm.weight" in sd) == layer_norm
    assert ("feats.1.norm.weight" in sd) == (not layer_norm)
    assert ("to_img.init_pos" in sd) == dysample
    assert not any(k.startswith("feats.3.") for k in sd)
    assert sd["feats.1.lk.conv.weight"].shape == (2, 2, 5, 5)  # a quarter of the 8 channels
    assert sd["feats.4.weight"].shape[0] == 3 * 16


def test_realplksr_starts_as_nearest_neighbour():
    model = build_model("realplksr", 3, 3, 2, **PLKSR_TINY)
    with torch.no_grad():
        model.feats[-1].weight.zero_()
        model.feats[-1].bias.zero_()
        x = torch.rand(1, 3, 6, 7)
        assert torch.allclose(model(x), x.repeat_interleave(2, 2).repeat_interleave(2, 3))


@pytest.mark.parametrize("dysample", [False, True])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_gray_realplksr_is_stored_as_the_rgb_model_that_computes_it(dysample, scale):
    """spandrel always builds RealPLKSR with three channels: our gray model's file is that RGB model,
    and on a gray image (R = G = B) it gives our output in three equal channels."""
    gray = perturbed(build_model("realplksr", 1, 1, scale, **PLKSR_TINY, dysample=dysample)).eval()
    sd = export_state_dict(gray)
    assert sd["feats.0.weight"].shape[1] == 3
    config = detect_arch_config(sd)
    assert (config["in_channels"], config["scale"], config["options"]["dysample"]) == (3, scale, dysample)
    rgb = model_from_state_dict(sd).eval()
    x = torch.rand(1, 1, 9, 10)
    with torch.no_grad():
        ours, theirs = gray(x), rgb(x.repeat(1, 3, 1, 1))
    for c in range(3):
        assert torch.allclose(theirs[:, c:c + 1], ours, atol=1e-5)
    back = model_from_state_dict(sd, gray.arch_config).eval()  # and back into the gray model
    with torch.no_grad():
        assert torch.allclose(back(x), ours, atol=1e-5)
    assert all(isinstance(v, torch.nn.Parameter) for v in gray.state_dict(keep_vars=True).values()
               if v.requires_grad)  # the live parameters, unexpanded, for tracing and optimizers


def test_realplksr_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="1 or 3"):
        build_model("realplksr", 4, 4, 2, **PLKSR_TINY)
    with pytest.raises(ValueError, match="DySample"):
        build_model("realplksr", 3, 3, 1, **PLKSR_TINY, dysample=True)
    assert VARIANTS["realplksr_tiny"][1]["num_block"] == 12


# ------------------------------------------------------------------------------------------ x8, variants

def test_rrdbnet_x8_adds_esrgans_third_upsampling_conv():
    sd = build_model("rrdbnet", 3, 3, 8, num_feat=8, num_block=1).state_dict()
    assert "conv_up3.weight" in sd and sd["conv_first.weight"].shape[1] == 3
    assert "conv_up3.weight" not in build_model("rrdbnet", 3, 3, 4, num_feat=8, num_block=1).state_dict()


def test_old_esrgan_layout_converts_at_x8():
    model = build_model("rrdbnet", 1, 1, 8, num_feat=8, num_block=2)
    rename = {"conv_first": "model.0", "conv_body": "model.1.sub.2", "conv_up1": "model.3",
              "conv_up2": "model.6", "conv_up3": "model.9", "conv_hr": "model.11", "conv_last": "model.13"}
    old = {}
    for key, value in model.state_dict().items():
        stem, _, kind = key.rpartition(".")
        if m := re.match(r"body\.(\d)\.rdb(\d)\.conv(\d)$", stem):
            old[f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{kind}"] = value
        else:
            old[f"{rename[stem]}.{kind}"] = value
    assert normalize_state_dict(old).keys() == model.state_dict().keys()
    assert detect_arch_config(old) == model.arch_config
    del old["model.9.weight"], old["model.9.bias"]  # a layout that is neither x4 nor x8
    with pytest.raises(ModelLoadError, match="x4 or x8"):
        normalize_state_dict(old)


@pytest.mark.parametrize(("name", "arch", "options"), [(n, a, o) for n, (a, o) in VARIANTS.items()])
def test_community_size_names_build_and_detect_as_their_architecture(name, arch, options):
    model = build_model(name, 3, 3, 4)
    assert model.arch_config["arch"] == arch
    assert options.items() <= model.arch_config["options"].items()
    assert detect_arch_config(model.state_dict()) == model.arch_config


@pytest.mark.parametrize(("arch", "options", "channels", "scale"), [
    ("span", SPAN_TINY, 1, 2), ("span", SPAN_TINY, 3, 4), ("span", SPAN_TINY, 3, 8),
    ("span", {**SPAN_TINY, "norm": True}, 3, 2), ("realplksr", PLKSR_TINY, 3, 2),
    ("realplksr", {**PLKSR_TINY, "dysample": True, "layer_norm": False}, 3, 4),
    ("compact", {"num_feat": 8, "num_conv": 1}, 1, 8), ("rrdbnet", {"num_feat": 8, "num_block": 1}, 3, 8),
])
def test_detect_arch_config_recovers_the_new_configs(arch, options, channels, scale):
    model = build_model(arch, channels, channels, scale, **options)
    assert detect_arch_config(export_state_dict(model)) == model.arch_config


# ------------------------------------------------------------------------------------------ --init

@pytest.mark.parametrize(("arch", "options", "channels"), [
    ("span_s", {"num_feat": 8}, 1), ("realplksr", PLKSR_TINY, 1), ("realplksr", PLKSR_TINY, 3),
    ("rrdbnet", {"num_feat": 8, "num_block": 1}, 1),
])
def test_init_from_exported_weights_starts_from_them(tmp_path, arch, options, channels):
    from srkit.train.build import build_networks
    from srkit.train.config import resolve
    from srkit.train.export import export_model

    source = perturbed(build_model(arch, channels, channels, 4, **options)).eval()
    export_model(source, tmp_path / "run")
    cfg = resolve(overrides={"model": {"arch": arch, "options": options},
                             "train": {"init": str(tmp_path / "run" / "model.safetensors")}})
    nets = build_networks(cfg, channels, 4, torch.device("cpu"), distributed=False)
    x = torch.rand(1, channels, 8, 8)
    with torch.no_grad():
        assert torch.allclose(nets.gen_module.eval()(x), source(x), atol=1e-5)
