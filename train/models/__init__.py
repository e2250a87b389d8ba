"""Generators and discriminators, one file per architecture, built by name from plain dicts.

Which tools can load an exported state dict:

* ``rrdbnet`` (ESRGAN / Real-ESRGAN), ``compact`` (SRVGGNetCompact), ``span`` (SPAN) and
  ``realplksr`` (RealPLKSR): spandrel (chaiNNer, ComfyUI) loads them directly, and
  :func:`detect_arch_config` detects them here from the key layout, so community weights of these
  load without any config. The community's names for sizes of them (``ultracompact``,
  ``superultracompact``, ``span_s``, ``realplksr_tiny``: :data:`VARIANTS`) build the same classes.
* ``srresnet``, ``srcnn`` and ``msrcnn`` (m-SRCNN): spandrel cannot load them; keep the state dict
  together with ``model.arch_config`` and rebuild with :func:`model_from_state_dict`.

Every generator maps float NCHW in [0, 1] at LR size to NCHW at ``scale`` x the size (scale 1 keeps the
size) and carries ``model.arch_config``: ``{"arch", "in_channels", "out_channels", "scale",
"options"}`` with every option resolved, so ``model_from_state_dict(state_dict, model.arch_config)``
rebuilds it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from srkit.train.models.realplksr import RealPLKSR
from srkit.train.models.rrdbnet import RRDBNet
from srkit.train.models.span import SPAN
from srkit.train.models.srcnn import MSRCNN, SRCNN
from srkit.train.models.srresnet import SRResNet
from srkit.train.models.srvgg import SRVGGNetCompact, compact_scale
from srkit.train.models.unet_disc import UNetDiscriminatorSN
from srkit.train.models.vgg_disc import VGGDiscriminator

ARCHS: dict[str, Callable[..., nn.Module]] = {
    "rrdbnet": RRDBNet,
    "compact": SRVGGNetCompact,
    "srresnet": SRResNet,
    "srcnn": SRCNN,
    "msrcnn": MSRCNN,
    "span": SPAN,
    "realplksr": RealPLKSR,
}
# The community's names for sizes of these (traiNNer-redux's arch names), built as the architecture
# with these options, so their weights load as that architecture (spandrel names them so too).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "ultracompact": ("compact", {"num_feat": 64, "num_conv": 8}),
    "superultracompact": ("compact", {"num_feat": 24, "num_conv": 8}),
    "span_s": ("span", {"num_feat": 48}),
    "realplksr_tiny": ("realplksr", {"num_block": 12, "kernel_size": 13, "use_ea": False}),
}
# Other spellings users type; arch_config always records the canonical name.
ARCH_ALIASES = {"esrgan": "rrdbnet", "realesrgan": "rrdbnet", "srvgg": "compact",
                "srvggnetcompact": "compact", "m-srcnn": "msrcnn", "m_srcnn": "msrcnn", "resnet": "srresnet",
                "span-s": "span_s"}

DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {
    "unet_sn": UNetDiscriminatorSN,
    "vgg": VGGDiscriminator,
}

_FIXED = ("self", "in_channels", "out_channels", "scale")


class ModelLoadError(ValueError):
    """A state dict that does not fit the requested or detected architecture."""


def _resolve_options(name: str, cls: Callable[..., nn.Module], options: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(cls).parameters
    accepted = {k: p.default for k, p in params.items() if k not in _FIXED}
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{name} does not take option(s) {unknown}; it accepts {sorted(accepted)}")
    return {**accepted, **options}


def resolve_arch(arch: str) -> tuple[str, dict[str, Any]]:
    """The ARCHS key for ``arch`` (case-insensitive, aliases and VARIANTS allowed) and the options the
    name implies; ValueError listing the choices."""
    key = arch.strip().lower()
    key = ARCH_ALIASES.get(key, key)
    if key in VARIANTS:
        name, options = VARIANTS[key]
        return name, dict(options)
    if key not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}: choose one of {sorted(ARCHS)} or {sorted(VARIANTS)}")
    return key, {}


def canonical_arch(arch: str) -> str:
    """The ARCHS key for ``arch`` (case-insensitive, aliases and variants allowed)."""
    return resolve_arch(arch)[0]


def build_model(arch: str, in_channels: int, out_channels: int, scale: int, **options: Any) -> nn.Module:
    """Build generator ``arch`` (a key of ARCHS or VARIANTS; ``options`` override a variant's); the
    result has ``arch_config`` to rebuild it."""
    name, implied = resolve_arch(arch)
    if in_channels < 1 or out_channels < 1:
        raise ValueError(f"{name}: channels must be positive, got in {in_channels}, out {out_channels}")
    resolved = _resolve_options(name, ARCHS[name], {**implied, **options})
    model = ARCHS[name](in_channels=in_channels, out_channels=out_channels, scale=scale, **resolved)
    model.arch_config = {"arch": name, "in_channels": int(in_channels), "out_channels": int(out_channels),
                         "scale": int(scale), "options": resolved}
    return model


def build_discriminator(name: str, in_channels: int, **options: Any) -> nn.Module:
    """Build discriminator ``name`` (``unet_sn`` or ``vgg``); it carries ``arch_config`` too."""
    key = name.strip().lower()
    if key not in DISCRIMINATORS:
        raise ValueError(f"unknown discriminator {name!r}: choose one of {sorted(DISCRIMINATORS)}")
    params = inspect.signature(DISCRIMINATORS[key]).parameters
    accepted = {k: p.default for k, p in params.items() if k not in ("self", "in_channels")}
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"discriminator {key} does not take option(s) {unknown}; "
                         f"it accepts {sorted(accepted)}")
    resolved = {**accepted, **options}
    disc = DISCRIMINATORS[key](in_channels=in_channels, **resolved)
    disc.arch_config = {"arch": key, "in_channels": int(in_channels), "options": resolved}
    return disc


# --- state dicts -------------------------------------------------------------------------------------

def export_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU state dict of contiguous tensors, what safetensors and spandrel's loader require; taken in
    eval mode, where re-parameterised convs (SPAN's) hold their folded weights."""
    was_training = model.training
    model.eval()
    try:
        return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    finally:
        model.train(was_training)


_OLD_RDB = re.compile(r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$")
_OLD_CONV = re.compile(r"^model\.(\d+)\.weight$")


def _from_old_esrgan(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # The original ESRGAN repo's Sequential: model.0 conv, model.1 the trunk, then (upsample, conv,
    # LeakyReLU) per x2 step (convs at model.3, model.6, model.9), the HR conv, a LeakyReLU, the last conv.
    *ups, hr, last = sorted({int(m.group(1)) for k in sd if (m := _OLD_CONV.match(k))} - {0})
    if ups not in ([3, 6], [3, 6, 9]) or (hr, last) != (ups[-1] + 2, ups[-1] + 4):
        raise ModelLoadError("old-format ESRGAN state dict (model.N keys) with an upscale other than x4 or "
                             "x8: only those layouts convert; load it with spandrel")
    names = {"model.0": "conv_first", f"model.{hr}": "conv_hr", f"model.{last}": "conv_last",
             **{f"model.{u}": f"conv_up{n}" for n, u in enumerate(ups, 1)}}
    trunk_index = max(int(m.group(1)) for k in sd if (m := _OLD_RDB.match(k))) + 1
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if m := _OLD_RDB.match(key):
            out[f"body.{m.group(1)}.rdb{m.group(2)}.conv{m.group(3)}.{m.group(4)}"] = value
            continue
        stem, _, kind = key.rpartition(".")
        if stem == f"model.1.sub.{trunk_index}":
            out[f"conv_body.{kind}"] = value
        elif stem in names:
            out[f"{names[stem]}.{kind}"] = value
        else:
            raise ModelLoadError(f"old-format ESRGAN state dict has an unexpected key {key!r}")
    return out


def normalize_state_dict(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Unwrap ``params_ema`` (preferred) / ``params``, drop a ``module.`` / ``_orig_mod.`` prefix and
    convert the old ESRGAN ``model.N`` layout (x4) to the RRDBNet names: community files come in all
    these forms."""
    sd: Any = state_dict
    for wrapper in ("params_ema", "params"):
        if isinstance(sd, Mapping) and isinstance(sd.get(wrapper), Mapping):
            sd = sd[wrapper]
            break
    if not isinstance(sd, Mapping):
        raise ModelLoadError(f"expected a state dict (name -> tensor), got {type(sd).__name__}")
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelLoadError(f"state dict entries that are not tensors: {bad[:5]}")
    for prefix in ("module.", "_orig_mod."):  # DataParallel / DDP and torch.compile wrappers
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    if "model.0.weight" in sd and any(_OLD_RDB.match(k) for k in sd):
        sd = _from_old_esrgan(sd)
    return dict(sd)


def _rrdbnet_config(sd: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    if any(re.match(r"conv_up[4-9]\.", k) for k in sd):
        raise ModelLoadError("RRDBNet with more than three upsampling convs (x16 or more) is not supported")
    for key in ("conv_body.weight", "conv_up1.weight", "conv_up2.weight", "conv_hr.weight",
                "conv_last.weight"):
        if key not in sd:
            raise ModelLoadError(f"RRDBNet layout detected (conv_first, body.0.rdb1) but {key!r} is missing")
    first_in = sd["conv_first.weight"].shape[1]
    num_feat = sd["conv_first.weight"].shape[0]
    out_channels = sd["conv_last.weight"].shape[0]
    num_block = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.rdb1\.", k)))
    num_grow_ch = sd["body.0.rdb1.conv1.weight"].shape[0]
    # As spandrel does: the input has as many channels as the output; a conv_first that sees 4x or 16x
    # that many is a pixel-unshuffled scale-2 or scale-1 model.
    unshuffle = {out_channels: 1, out_channels * 4: 2, out_channels * 16: 4}.get(first_in)
    if unshuffle is None:
        raise ModelLoadError(f"RRDBNet conv_first reads {first_in} channels, which is not 1, 4 or 16 x the "
                             f"{out_channels} output channels: cannot tell the scale")
    x8 = "conv_up3.weight" in sd
    if x8 and unshuffle > 1:
        raise ModelLoadError("RRDBNet with a third upsampling conv (x8) and a pixel-unshuffled input is not "
                             "a layout we build")
    return {"arch": "rrdbnet", "in_channels": out_channels, "out_channels": out_channels,
            "scale": 8 if x8 else 4 // unshuffle,
            "options": {"num_feat": num_feat, "num_block": num_block, "num_grow_ch": num_grow_ch}}


def _compact_config(sd: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    indices = sorted(int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.weight$", k)))
    last = indices[-1]
    if last % 2 or last < 2 or sd["body.1.weight"].ndim != 1:
        raise ModelLoadError("body.0 / body.1 keys look like SRVGGNetCompact but the body list is not "
                             "conv, PReLU, (conv, PReLU) x N, conv")
    in_channels = sd["body.0.weight"].shape[1]
    num_feat = sd["body.0.weight"].shape[0]
    try:
        scale = compact_scale(sd[f"body.{last}.weight"].shape[0], in_channels)
    except ValueError as exc:
        raise ModelLoadError(f"SRVGGNetCompact: {exc}") from None
    return {"arch": "compact", "in_channels": in_channels, "out_channels": in_channels, "scale": scale,
            "options": {"num_feat": num_feat, "num_conv": (last - 2) // 2}}


def _span_config(sd: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    in_channels, num_feat = sd["conv_1.sk.weight"].shape[1], sd["conv_1.sk.weight"].shape[0]
    try:
        scale = compact_scale(sd["upsampler.0.weight"].shape[0], in_channels)
    except ValueError as exc:
        raise ModelLoadError(f"SPAN: {exc}") from None
    return {"arch": "span", "in_channels": in_channels, "out_channels": in_channels, "scale": scale,
            "options": {"num_feat": num_feat, "norm": "no_norm" not in sd}}


def _realplksr_config(sd: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    # As spandrel reads it: always three channels (a gray model of ours is stored in that layout), the
    # blocks between the first conv and the dropout + last conv, norm_groups not stored (4).
    last = max(int(m.group(1)) for k in sd if (m := re.match(r"feats\.(\d+)\.", k)))
    num_feat, large = sd["feats.0.weight"].shape[0], sd["feats.1.lk.conv.weight"]
    try:
        scale = compact_scale(sd[f"feats.{last}.weight"].shape[0], 3)
    except ValueError as exc:
        raise ModelLoadError(f"RealPLKSR: {exc}") from None
    return {"arch": "realplksr", "in_channels": 3, "out_channels": 3, "scale": scale,
            "options": {"num_feat": num_feat, "num_block": last - 2, "kernel_size": large.shape[2],
                        "split_ratio": large.shape[0] / num_feat, "use_ea": "feats.1.attn.f.0.weight" in sd,
                        "norm_groups": 4, "layer_norm": "feats.1.layer_norm.weight" in sd,
                        "dysample": "to_img.init_pos" in sd}}


def detect_arch_config(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Detect RRDBNet, SRVGGNetCompact, SPAN or RealPLKSR from the key layout (as spandrel does) and
    return the ``arch_config`` that rebuilds it: blocks, features, channels and scale all come from
    the tensors.

    Our other archs (srresnet, srcnn, msrcnn) are not detected: load them with their saved config.
    """
    sd = normalize_state_dict(state_dict)
    if "conv_first.weight" in sd and "body.0.rdb1.conv1.weight" in sd:
        return _rrdbnet_config(sd)
    if "conv_1.sk.weight" in sd and "block_1.c1_r.sk.weight" in sd and "upsampler.0.weight" in sd:
        return _span_config(sd)
    if "feats.0.weight" in sd and "feats.1.lk.conv.weight" in sd and "feats.1.channel_mixer.0.weight" in sd:
        return _realplksr_config(sd)
    if "body.0.weight" in sd and "body.1.weight" in sd:
        return _compact_config(sd)
    sample = sorted(sd)[:4]
    raise ModelLoadError(f"cannot detect the architecture from the keys (first: {sample}); only RRDBNet "
                         "(conv_first, body.N.rdbK...), SRVGGNetCompact (body.0, body.1, ...), SPAN "
                         "(conv_1.sk, block_N...) and RealPLKSR (feats.N.lk...) are detected. "
                         "For srresnet / srcnn / msrcnn pass the arch_config saved with the model")


def model_from_state_dict(state_dict: Mapping[str, Any],
                          arch_config: Mapping[str, Any] | None = None) -> nn.Module:
    """Rebuild a generator from a state dict and its ``arch_config`` (detected when None) and load
    the weights strictly; a mismatch raises ModelLoadError naming the missing / unexpected keys."""
    sd = normalize_state_dict(state_dict)
    config = dict(arch_config) if arch_config is not None else detect_arch_config(sd)
    try:
        model = build_model(config["arch"], config["in_channels"], config["out_channels"], config["scale"],
                            **dict(config.get("options", {})))
    except KeyError as exc:
        raise ModelLoadError(f"arch_config lacks {exc}; it needs arch, in_channels, out_channels, scale, "
                             "options") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    shapes = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in sorted(set(sd) & set(expected)) if sd[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        raise ModelLoadError(f"state dict does not fit {config['arch']} {config}: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}, shape mismatches {shapes[:3]}")
    model.load_state_dict(sd, strict=True)
    return model


__all__ = [
    "ARCHS", "ARCH_ALIASES", "DISCRIMINATORS", "MSRCNN", "SPAN", "SRCNN", "VARIANTS", "ModelLoadError",
    "RRDBNet", "RealPLKSR", "SRResNet", "SRVGGNetCompact", "UNetDiscriminatorSN", "VGGDiscriminator",
    "build_discriminator", "build_model", "canonical_arch", "detect_arch_config", "export_state_dict",
    "model_from_state_dict", "normalize_state_dict", "resolve_arch",
]
