"""The parts of a run: networks, EMA, optimizers, loss scalers and losses, and one optimizer step.

``Parts`` builds them from the config and the store, and turns them into / from the plain state
stored in checkpoints. The loop (``train.loop``) only sequences them.
"""

from __future__ import annotations

import copy
import math
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from srkit.train import checkpoint as ckpt
from srkit.train import dist
from srkit.train.config import Config


class TrainError(Exception):
    """The run cannot start; the message says what is wrong and what to do."""


class TrainStopped(TrainError):
    """The run stopped on an error it cannot work around (e.g. non-finite losses again and again)."""


def lr_factor(cfg: Config, it: int) -> float:
    """Learning-rate multiplier at iteration ``it`` (1-based): warm-up, then the schedule."""
    o, total = cfg.optim, cfg.train.iters
    if o.warmup and it <= o.warmup:
        return it / o.warmup
    if o.schedule == "cosine":
        progress = min(1.0, (it - o.warmup) / max(1, total - o.warmup))
        return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if o.schedule == "multistep":
        return o.gamma ** sum(1 for m in o.milestones if it > m)
    return 1.0


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """EMA with a warm-up (decay grows as (1 + step) / (10 + step) up to ``decay``) so short runs
    are not dominated by the initial weights."""
    d = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1 - d)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


class Parts:
    """Networks, optimizers and losses of one run (built from the config and the store)."""

    def __init__(self, cfg: Config, store: Any, device: torch.device, info: dist.DistInfo):
        from srkit.train import losses
        from srkit.train.models import build_discriminator, build_model

        ch = int(store.channels or 1)
        try:
            self.gen = build_model(cfg.model.arch, ch, ch, store.scale, **cfg.model.options).to(device)
            self.disc = None
            if cfg.train.stage == "gan":
                self.disc = build_discriminator(cfg.gan.discriminator, ch, **cfg.gan.options).to(device)
        except ValueError as err:  # unknown arch / option, or a scale the arch cannot do
            raise TrainError(f"model: {err}") from None
        if cfg.train.init:
            state = ckpt.generator_weights(cfg.train.init)
            try:
                self.gen.load_state_dict(state)
            except RuntimeError as err:
                raise TrainError(f"--init {cfg.train.init}: weights do not fit {cfg.model.arch} "
                                 f"{cfg.model.options}: {str(err).splitlines()[0]}") from None
        self.ema = copy.deepcopy(self.gen).requires_grad_(False) if cfg.train.ema > 0 else None
        self.pixel = losses.pixel_loss(cfg.loss.pixel)
        self.percep = None
        if cfg.loss.perceptual_weight > 0:
            if not cfg.loss.vgg_weights:
                raise TrainError("this config uses a perceptual loss (loss.perceptual_weight > 0) and needs "
                                 "VGG19 weights: pass --vgg-weights FILE (a torchvision vgg19 state dict)")
            try:
                layers = cfg.loss.perceptual_layers or None
                self.percep = losses.PerceptualLoss(cfg.loss.vgg_weights, layer_weights=layers).to(device)
            except (OSError, ValueError) as err:
                raise TrainError(f"--vgg-weights {cfg.loss.vgg_weights}: {err}") from None
        self.noise = torch.Generator().manual_seed(cfg.train.seed * 1000 + 7 + info.rank)
        self.opt_d = self.gan = None
        if self.disc is not None:
            if cfg.gan.init_disc:
                try:
                    self.disc.load_state_dict(ckpt.generator_weights(cfg.gan.init_disc, keys=("disc",)))
                except RuntimeError as err:
                    raise TrainError(f"--init-disc {cfg.gan.init_disc}: weights do not fit "
                                     f"{cfg.gan.discriminator}: {str(err).splitlines()[0]}") from None
            options = {}
            if cfg.gan.loss == "vanilla" and cfg.gan.label_smoothing:
                options = {"label_smoothing": True, "real_range": tuple(cfg.gan.real_range),
                           "fake_range": tuple(cfg.gan.fake_range), "flip_prob": cfg.gan.flip_prob,
                           "generator": self.noise}
            self.gan = losses.gan_loss(cfg.gan.loss, **options)
        if cfg.train.channels_last:
            for net in (self.gen, self.ema, self.disc):
                if net is not None:
                    net.to(memory_format=torch.channels_last)
        self.gen_module, self.disc_module = self.gen, self.disc
        self.gen_sync = self.disc_sync = nullcontext  # skip the gradient all-reduce of accumulation steps
        if info.enabled:
            ids = [device.index] if device.type == "cuda" else None
            self.gen = nn.parallel.DistributedDataParallel(self.gen, device_ids=ids)
            self.gen_sync = self.gen.no_sync
            if self.disc is not None:
                self.disc = nn.parallel.DistributedDataParallel(self.disc, device_ids=ids)
                self.disc_sync = self.disc.no_sync
        if cfg.train.compile:
            self.gen = torch.compile(self.gen)
        optim = torch.optim.AdamW if cfg.optim.name == "adamw" else torch.optim.Adam
        self.opt_g = optim(self.gen_module.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas),
                           weight_decay=cfg.optim.weight_decay)
        if self.disc is not None:
            self.opt_d = optim(self.disc_module.parameters(), lr=cfg.gan.lr, betas=tuple(cfg.gan.betas),
                               weight_decay=cfg.optim.weight_decay)
        fp16 = cfg.train.amp == "fp16" and device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)

    def final_model(self) -> nn.Module:
        return self.ema if self.ema is not None else self.gen_module

    def state(self) -> dict[str, Any]:
        s = {"generator": self.gen_module.state_dict(), "opt_g": self.opt_g.state_dict(),
             "scaler": self.scaler.state_dict(), "ema": self.ema.state_dict() if self.ema else {}}
        if self.disc is not None:
            s.update(disc=self.disc_module.state_dict(), opt_d=self.opt_d.state_dict(),
                     scaler_d=self.scaler_d.state_dict())
        return s

    def load(self, s: dict[str, Any]) -> None:
        self.gen_module.load_state_dict(s["generator"])
        self.opt_g.load_state_dict(s["opt_g"])
        self.scaler.load_state_dict(s["scaler"])
        if self.ema is not None and s.get("ema"):
            self.ema.load_state_dict(s["ema"])
        if self.disc is not None:
            if "disc" not in s:
                raise TrainError("the checkpoint is from a psnr-stage run; start the GAN stage with --init")
            self.disc_module.load_state_dict(s["disc"])
            self.opt_d.load_state_dict(s["opt_d"])
            self.scaler_d.load_state_dict(s["scaler_d"])


def g_losses(p: Parts, cfg: Config, sr: torch.Tensor, hr: torch.Tensor, hr_sharp: torch.Tensor
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    terms = {"l_pix": cfg.loss.pixel_weight * p.pixel(sr, hr_sharp)}
    if p.percep is not None:
        terms["l_percep"] = cfg.loss.perceptual_weight * p.percep(sr, hr_sharp)
    if p.disc is not None:
        p.disc_module.requires_grad_(False)  # no D gradients from the G loss (and no DDP sync for it)
        logits = p.disc_module(torch.cat([hr, sr]))
        real, fake = logits.split(hr.shape[0])
        terms["l_gan"] = cfg.gan.weight * p.gan.generator_loss(fake, real)
        p.disc_module.requires_grad_(True)
    return sum(terms.values()), terms


def d_loss(p: Parts, cfg: Config, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    from srkit.train.losses import gradient_penalty

    fake = sr.detach()
    real_logits, fake_logits = p.disc(torch.cat([hr, fake])).split(hr.shape[0])
    loss = p.gan.discriminator_loss(real_logits, fake_logits)
    if cfg.gan.loss == "wgan_gp":
        loss = loss + gradient_penalty(p.disc_module, hr, fake, cfg.gan.gp_weight, generator=p.noise)
    return loss


def step(opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, params, clip: float) -> bool:
    """Unscale, clip, step; False (and no update) when the gradients are not finite."""
    scaler.unscale_(opt)
    norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
    finite = bool(torch.isfinite(norm))
    if finite or scaler.is_enabled():
        scaler.step(opt)  # a scaler skips non-finite steps itself and lowers its scale
    scaler.update()
    opt.zero_grad(set_to_none=True)
    return finite
