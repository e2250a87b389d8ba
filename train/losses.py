"""Training losses: pixel (L1, MSE, Charbonnier), VGG19 perceptual, and GAN objectives.

Pixel losses take ``(pred, target)`` NCHW tensors in [0, 1] and return a scalar mean.

Perceptual loss: Real-ESRGAN's setting (VGG19 conv1_2 0.1, conv2_2 0.1, conv3_4 1, conv4_4 1,
conv5_4 1, features taken BEFORE the ReLU, ImageNet normalisation, L1 between features, weight 1.0).
The VGG19 weights come from a file the user passes (torchvision layout ``features.N.weight/bias``,
``.pth`` or ``.safetensors``); nothing is ever downloaded.

GAN losses (``gan_loss(kind, ...)``) all take raw discriminator logits and expose
``.generator_loss(fake_logits, real_logits=None)`` and ``.discriminator_loss(real_logits, fake_logits)``:
``vanilla`` (BCE with logits; optional label smoothing / noisy labels as in Jin Huang's "Anime
Super Resolution Using GANs", Stanford report), ``ragan`` (ESRGAN's relativistic average), ``wgan_gp``
(that report's SRWGAN-GP; add :func:`gradient_penalty` to the critic loss) and ``hinge``. The
adversarial weight (lambda) is the trainer's business.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

# --- pixel losses -----------------------------------------------------------------------------------

CHARBONNIER_EPS = 1e-3  # as LapSRN / EDVR; the loss of a perfect prediction is eps, not 0.


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred, target)


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target)


def charbonnier_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = CHARBONNIER_EPS) -> torch.Tensor:
    """mean(sqrt((pred - target)^2 + eps^2)): L1 with a smooth minimum, eps = 1e-3 by default."""
    return torch.sqrt((pred - target) ** 2 + eps * eps).mean()


PIXEL_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": l1_loss,
    "mse": mse_loss,
    "charbonnier": charbonnier_loss,
}


def pixel_loss(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The pixel loss called ``kind`` (l1, mse, charbonnier)."""
    try:
        return PIXEL_LOSSES[kind.lower()]
    except KeyError:
        raise ValueError(f"unknown pixel loss {kind!r}: choose one of {sorted(PIXEL_LOSSES)}") from None


# --- VGG19 perceptual loss --------------------------------------------------------------------------

# VGG19 "features": conv widths with "M" for max-pooling (torchvision's configuration E).
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512, "M"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
REAL_ESRGAN_LAYER_WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}


def vgg19_layer_names() -> list[str]:
    """Names of the modules of torchvision's ``vgg19().features`` in index order (conv1_1, relu1_1, ...)."""
    names, block, conv = [], 1, 1
    for item in VGG19_CFG:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


def vgg19_features(upto: int | None = None) -> nn.Sequential:
    """Untrained VGG19 ``features`` with torchvision's indices (so ``features.N`` keys line up),
    truncated after module ``upto`` when given."""
    layers: list[nn.Module] = []
    prev = 3
    for item in VGG19_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(prev, int(item), 3, 1, 1), nn.ReLU(inplace=False)]
            prev = int(item)
    return nn.Sequential(*layers[: None if upto is None else upto + 1])


class VGGWeightsError(ValueError):
    """The VGG19 weights file is missing, unreadable or not a torchvision VGG19 state dict."""


def load_vgg19_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a torchvision-layout VGG19 state dict from ``.pth`` (weights_only) or ``.safetensors``."""
    path = Path(path)
    if not path.is_file():
        raise VGGWeightsError(f"VGG19 weights file {path} does not exist: pass the path of a torchvision "
                              "VGG19 state dict (vgg19-dcbb9e9d.pth or a .safetensors with features.N.weight/"
                              "bias keys); nothing is downloaded")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any decode failure is the same problem for the user: a bad file
        raise VGGWeightsError(f"cannot read VGG19 weights {path}: {type(exc).__name__}: {exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise VGGWeightsError(f"VGG19 weights {path} hold a {type(state).__name__}, not a state dict")
    return state


class PerceptualLoss(nn.Module):
    """Weighted L1 distance between VGG19 features (taken before the ReLU) of prediction and target.

    Args:
        vgg_weights: path of a torchvision VGG19 state dict (``.pth`` or ``.safetensors``); required.
        layer_weights: {layer name: weight}, names like ``conv3_4``; Real-ESRGAN's by default.
        perceptual_weight: overall factor (1.0).
        use_input_norm: normalise [0, 1] inputs with the ImageNet mean / std (True).
        criterion: ``l1`` (default) or ``mse`` between feature maps.

    1-channel inputs are repeated to 3 channels. The VGG parameters are frozen; gradients flow to the
    prediction only.
    """

    def __init__(self, vgg_weights: str | Path, layer_weights: dict[str, float] | None = None,
                 perceptual_weight: float = 1.0, use_input_norm: bool = True, criterion: str = "l1") -> None:
        super().__init__()
        self.layer_weights = dict(layer_weights or REAL_ESRGAN_LAYER_WEIGHTS)
        names = vgg19_layer_names()
        unknown = sorted(set(self.layer_weights) - set(names))
        if unknown:
            raise ValueError(f"unknown VGG19 layer(s) {unknown}: use names like conv3_4 or relu3_4")
        if criterion not in ("l1", "mse"):
            raise ValueError(f"perceptual criterion must be 'l1' or 'mse', got {criterion!r}")
        self.criterion = F.l1_loss if criterion == "l1" else F.mse_loss
        self.perceptual_weight = perceptual_weight
        self.use_input_norm = use_input_norm
        self._index = {name: names.index(name) for name in self.layer_weights}
        self.vgg = vgg19_features(upto=max(self._index.values()))
        self._load(Path(vgg_weights))
        self.vgg.requires_grad_(False)
        self.vgg.eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _load(self, path: Path) -> None:
        state = load_vgg19_state(path)
        wanted = {f"features.{k}": v for k, v in self.vgg.state_dict().items()}
        missing = [k for k in wanted if k not in state]
        if missing:
            found = sorted(state)[:4]
            raise VGGWeightsError(f"VGG19 weights {path} do not have the torchvision layout: "
                                  f"missing {missing[:4]} "
                                  f"(expected keys features.N.weight / features.N.bias for the convs of "
                                  f"vgg19().features; the file starts with {found})")
        bad = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})" for k, v in wanted.items()
               if tuple(state[k].shape) != tuple(v.shape)]
        if bad:
            raise VGGWeightsError(f"VGG19 weights {path} have wrong shapes: {bad[:3]}; is it a VGG19 (not "
                                  "VGG16 or a batch-norm variant)?")
        self.vgg.load_state_dict({k[len("features."):]: state[k].float() for k in wanted})

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.vgg.eval()  # frozen feature extractor, whatever the trainer's mode
        return self

    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        elif x.shape[1] != 3:
            raise ValueError(f"PerceptualLoss takes 1- or 3-channel images, got {x.shape[1]} channels")
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        wanted = {i: name for name, i in self._index.items()}
        out = {}
        for i, layer in enumerate(self.vgg):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred_feats = self._features(pred)
        with torch.no_grad():
            target_feats = self._features(target.detach())
        loss = pred.new_zeros(())
        for name, weight in self.layer_weights.items():
            loss = loss + weight * self.criterion(pred_feats[name], target_feats[name])
        return loss * self.perceptual_weight


# --- GAN losses -------------------------------------------------------------------------------------

class GANLoss(Protocol):
    """What every GAN objective offers (all arguments are raw discriminator logits)."""

    def generator_loss(self, fake_logits: torch.Tensor,
                       real_logits: torch.Tensor | None = None) -> torch.Tensor: ...

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor: ...


# Label smoothing and noisy labels of the SRGAN in Jin Huang, "Anime Super Resolution Using GANs".
SOFT_REAL_RANGE = (0.85, 1.10)
SOFT_FAKE_RANGE = (0.0, 0.15)
LABEL_FLIP_PROB = 0.05


def noisy_labels(shape: torch.Size | tuple[int, ...], real: bool, real_range: tuple[float, float],
                 fake_range: tuple[float, float], flip_prob: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Soft targets for BCE: uniform in ``real_range`` (or ``fake_range``), each swapped for the other
    side's value with probability ``flip_prob`` (noisy labels). Drawn on the CPU from ``generator``."""
    u = torch.rand(shape, generator=generator)
    flip = torch.rand(shape, generator=generator) < flip_prob
    lo_r, hi_r = real_range
    lo_f, hi_f = fake_range
    as_real = lo_r + (hi_r - lo_r) * u
    as_fake = lo_f + (hi_f - lo_f) * u
    is_real = flip.logical_not() if real else flip
    return torch.where(is_real, as_real, as_fake)


class VanillaGANLoss:
    """Standard GAN with BCE on logits. With ``label_smoothing`` the discriminator's targets are drawn
    as Jin Huang's "Anime Super Resolution Using GANs" does: REAL uniform in (0.85, 1.10), FAKE in
    (0, 0.15), each flipped with probability 0.05; the generator always aims at the hard label 1.
    Targets above 1 make the real-side loss unbounded below; that is the report's recipe, kept as
    published."""

    def __init__(self, label_smoothing: bool = False, real_range: tuple[float, float] = SOFT_REAL_RANGE,
                 fake_range: tuple[float, float] = SOFT_FAKE_RANGE, flip_prob: float = LABEL_FLIP_PROB,
                 generator: torch.Generator | None = None) -> None:
        self.label_smoothing = label_smoothing
        self.real_range = tuple(real_range)
        self.fake_range = tuple(fake_range)
        self.flip_prob = flip_prob if label_smoothing else 0.0
        self.generator = generator

    def targets(self, logits: torch.Tensor, real: bool,
                generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.label_smoothing:
            return torch.full_like(logits, 1.0 if real else 0.0)
        labels = noisy_labels(logits.shape, real, self.real_range, self.fake_range, self.flip_prob,
                              generator if generator is not None else self.generator)
        return labels.to(device=logits.device, dtype=logits.dtype)

    def generator_loss(self, fake_logits: torch.Tensor,
                       real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return _bce(fake_logits, 1.0)

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                           generator: torch.Generator | None = None) -> torch.Tensor:
        real = F.binary_cross_entropy_with_logits(real_logits, self.targets(real_logits, True, generator))
        fake = F.binary_cross_entropy_with_logits(fake_logits, self.targets(fake_logits, False, generator))
        return real + fake


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class RelativisticAverageGANLoss:
    """ESRGAN's RaGAN: D judges whether real is more realistic than the average fake and vice versa;
    both terms are averaged. The generator loss needs the real logits too."""

    def generator_loss(self, fake_logits: torch.Tensor,
                       real_logits: torch.Tensor | None = None) -> torch.Tensor:
        if real_logits is None:
            raise ValueError("the relativistic (ragan) generator loss needs real_logits: pass D(hr) too")
        real_logits = real_logits.detach()
        return (_bce(real_logits - fake_logits.mean(), 0.0) + _bce(fake_logits - real_logits.mean(), 1.0)) / 2

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return (_bce(real_logits - fake_logits.mean(), 1.0) + _bce(fake_logits - real_logits.mean(), 0.0)) / 2


class WassersteinGANLoss:
    """WGAN critic objective (the SRWGAN-GP of Jin Huang's "Anime Super Resolution Using GANs"): the
    critic minimises E[D(fake)] - E[D(real)], the generator -E[D(fake)]. Add
    ``gradient_penalty(critic, real, fake)`` to the critic loss and use a critic without BatchNorm and
    without Sigmoid (``build_discriminator('vgg', c, batch_norm=False)``)."""

    def generator_loss(self, fake_logits: torch.Tensor,
                       real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_logits.mean()

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.mean() - real_logits.mean()


class HingeGANLoss:
    """Hinge loss: D minimises E[relu(1 - D(real))] + E[relu(1 + D(fake))]; G minimises -E[D(fake)]."""

    def generator_loss(self, fake_logits: torch.Tensor,
                       real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return -fake_logits.mean()

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     weight: float = 10.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP penalty ``weight * E[(||grad_x D(x)||_2 - 1)^2]`` at random points between real and
    fake images (one mixing factor per sample, drawn on the CPU from ``generator``). The graph is kept
    so the penalty trains the critic. The critic should output one value per sample."""
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must have the same shape")
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator)
    alpha = alpha.to(device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = critic(mixed)
    (grad,) = torch.autograd.grad(out, mixed, grad_outputs=torch.ones_like(out), create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return weight * ((norms - 1) ** 2).mean()


GAN_LOSSES: dict[str, Callable[..., GANLoss]] = {
    "vanilla": VanillaGANLoss,
    "ragan": RelativisticAverageGANLoss,
    "wgan_gp": WassersteinGANLoss,
    "hinge": HingeGANLoss,
}


def gan_loss(kind: str, **options: object) -> GANLoss:
    """The GAN objective called ``kind`` (vanilla, ragan, wgan_gp, hinge). Only ``vanilla`` takes
    options (label_smoothing, real_range, fake_range, flip_prob, generator)."""
    key = kind.lower()
    if key not in GAN_LOSSES:
        raise ValueError(f"unknown GAN loss {kind!r}: choose one of {sorted(GAN_LOSSES)}")
    try:
        return GAN_LOSSES[key](**options)
    except TypeError as exc:
        raise ValueError(f"GAN loss {key} does not take options {sorted(options)}: {exc}") from None
