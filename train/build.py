"""Build what a run trains with: the networks (generator, its EMA copy, the discriminator), their
optimizers and loss scalers, the loss functions and the mixed-precision context.

Everything comes from the config and two integers the store gives: its channels and its scale. The
generator is built first after the trainer seeds torch, so its initial weights are the first draw of
the seed (then the discriminator's, then the perceptual loss's VGG19 before its weights are loaded).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from srkit.core.console import warn
from srkit.train import checkpoint as ckpt
from srkit.train import losses
from srkit.train.config import Config
from srkit.train.errors import TrainError
from srkit.train.models import build_discriminator, build_model


@dataclass
class Networks:
    """The networks of a run with their optimizers and loss scalers, and their checkpoint form."""

    gen: nn.Module                  # what the forward pass calls: wrapped in DDP and/or compiled
    gen_module: nn.Module           # the plain generator: its weights, the EMA's source, the export
    ema: nn.Module | None
    disc: nn.Module | None          # wrapped in DDP in a multi-process run
    disc_module: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    scaler: torch.amp.GradScaler
    scaler_d: torch.amp.GradScaler
    # Entered on every accumulation batch but the last: no gradient all-reduce until the last one.
    gen_no_sync: Callable[[], AbstractContextManager] = nullcontext
    disc_no_sync: Callable[[], AbstractContextManager] = nullcontext

    def final_model(self) -> nn.Module:
        """What validation scores and the export writes: the EMA when there is one."""
        return self.ema if self.ema is not None else self.gen_module

    def state_dict(self) -> dict[str, Any]:
        state = {"generator": self.gen_module.state_dict(), "opt_g": self.opt_g.state_dict(),
                 "scaler": self.scaler.state_dict(), "ema": {} if self.ema is None else self.ema.state_dict()}
        if self.disc_module is not None:
            state.update(disc=self.disc_module.state_dict(), opt_d=self.opt_d.state_dict(),
                         scaler_d=self.scaler_d.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen_module.load_state_dict(state["generator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        if self.disc_module is not None:
            if "disc" not in state:
                raise TrainError("the checkpoint is from a psnr-stage run; start the GAN stage with --init")
            self.disc_module.load_state_dict(state["disc"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.scaler_d.load_state_dict(state["scaler_d"])


@dataclass
class Losses:
    """The loss functions of a run; the trainer weighs and sums them."""

    pixel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    perceptual: nn.Module | None = None
    gan: losses.GANLoss | None = None


def build_networks(cfg: Config, channels: int, scale: int, device: torch.device,
                   distributed: bool) -> Networks:
    """Generator (from ``--init`` weights when given), EMA copy, discriminator for the GAN stage,
    wrapped for DDP when ``distributed``, and an optimizer and a loss scaler for each trained net."""
    gen = _generator(cfg, channels, scale).to(device)
    disc = _discriminator(cfg, channels).to(device) if cfg.train.stage == "gan" else None
    ema = copy.deepcopy(gen).requires_grad_(False) if cfg.train.ema > 0 else None
    if cfg.train.channels_last:
        for net in (gen, ema, disc):
            if net is not None:
                net.to(memory_format=torch.channels_last)
    fp16 = cfg.train.amp == "fp16" and device.type == "cuda"
    opt_d = None if disc is None else _optimizer(cfg, disc.parameters(), cfg.gan.lr, cfg.gan.betas)
    nets = Networks(gen=gen, gen_module=gen, ema=ema, disc=disc, disc_module=disc, opt_d=opt_d,
                    opt_g=_optimizer(cfg, gen.parameters(), cfg.optim.lr, cfg.optim.betas),
                    scaler=torch.amp.GradScaler("cuda", enabled=fp16),
                    scaler_d=torch.amp.GradScaler("cuda", enabled=fp16))
    if distributed:
        ids = [device.index] if device.type == "cuda" else None
        nets.gen = nn.parallel.DistributedDataParallel(gen, device_ids=ids)
        nets.gen_no_sync = nets.gen.no_sync
        if disc is not None:
            nets.disc = nn.parallel.DistributedDataParallel(disc, device_ids=ids)
            nets.disc_no_sync = nets.disc.no_sync
    if cfg.train.compile:
        nets.gen = torch.compile(nets.gen)
    return nets


def build_losses(cfg: Config, device: torch.device, noise: torch.Generator) -> Losses:
    """Pixel loss, the perceptual loss when weighted, and the GAN objective of the GAN stage; ``noise``
    draws the noisy labels of label smoothing."""
    found = Losses(pixel=losses.pixel_loss(cfg.loss.pixel))
    if cfg.loss.perceptual_weight > 0:
        if not cfg.loss.vgg_weights:
            raise TrainError("this config uses a perceptual loss (loss.perceptual_weight > 0) and needs "
                             "VGG19 weights: pass --vgg-weights FILE (a torchvision vgg19 state dict)")
        try:
            layers = cfg.loss.perceptual_layers or None
            found.perceptual = losses.PerceptualLoss(cfg.loss.vgg_weights, layer_weights=layers).to(device)
        except (OSError, ValueError) as err:
            raise TrainError(f"--vgg-weights {cfg.loss.vgg_weights}: {err}") from None
    if cfg.train.stage == "gan":
        options = {}
        if cfg.gan.loss == "vanilla" and cfg.gan.label_smoothing:
            options = {"label_smoothing": True, "real_range": tuple(cfg.gan.real_range),
                       "fake_range": tuple(cfg.gan.fake_range), "flip_prob": cfg.gan.flip_prob,
                       "generator": noise}
        found.gan = losses.gan_loss(cfg.gan.loss, **options)
    return found


def _generator(cfg: Config, channels: int, scale: int) -> nn.Module:
    try:
        gen = build_model(cfg.model.arch, channels, channels, scale, **cfg.model.options)
    except ValueError as err:  # unknown arch / option, or a scale the arch cannot do
        raise TrainError(f"model: {err}") from None
    if cfg.train.init:
        try:
            gen.load_state_dict(ckpt.generator_weights(cfg.train.init))
        except RuntimeError as err:
            raise TrainError(f"--init {cfg.train.init}: weights do not fit {cfg.model.arch} "
                             f"{cfg.model.options}: {str(err).splitlines()[0]}") from None
    return gen


def _discriminator(cfg: Config, channels: int) -> nn.Module:
    try:
        disc = build_discriminator(cfg.gan.discriminator, channels, **cfg.gan.options)
    except ValueError as err:
        raise TrainError(f"model: {err}") from None
    if cfg.gan.init_disc:
        try:
            disc.load_state_dict(ckpt.generator_weights(cfg.gan.init_disc, keys=("disc",)))
        except RuntimeError as err:
            raise TrainError(f"--init-disc {cfg.gan.init_disc}: weights do not fit "
                             f"{cfg.gan.discriminator}: {str(err).splitlines()[0]}") from None
    return disc


def _optimizer(cfg: Config, params: Any, lr: float, betas: list) -> torch.optim.Optimizer:
    kind = torch.optim.AdamW if cfg.optim.name == "adamw" else torch.optim.Adam
    return kind(params, lr=lr, betas=tuple(betas), weight_decay=cfg.optim.weight_decay)


def autocast(cfg: Config, device: torch.device) -> AbstractContextManager:
    """The mixed-precision context of the forward passes: autocast on CUDA when asked, else nothing."""
    if cfg.train.amp != "none" and device.type != "cuda":
        warn(f"--amp {cfg.train.amp} works on CUDA only; training in float32 on {device}")
    if cfg.train.amp == "none" or device.type != "cuda":
        return nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if cfg.train.amp == "bf16" else torch.float16)
