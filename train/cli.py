"""``sr-train``: train on a packed store (``sr-train --shards STORE``), plus ``upscale`` and ``eval``.

The training command is the app's callback, so ``sr-train --shards data.lmdb --preset smoke`` trains
while ``sr-train upscale ...`` and ``sr-train eval ...`` reach their subcommands. Options only override
what they are given: defaults < preset < --config file < options.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer

from srkit.core.console import EXIT_CODES_HELP, StageError, UsageError, console, friendly_errors

TRAIN_HELP = (
    "Train a super-resolution model on a packed store (sr-data pack), or use one (upscale, eval).\n\n"
    "Training: sr-train --shards data.lmdb --preset smoke (seconds on a CPU) ; presets: smoke, compact_x4, "
    "esrgan_x4_psnr then esrgan_x4_gan --init runs/esrgan_x4_psnr, manga_x4 then manga_x4_gan, srcnn_x2, "
    "msrcnn_x2, srresnet8_wgangp_x4 (each file in train/presets says its source and needs). Scale and "
    "channels come from the store. Every setting can come from a TOML --config (see the config.toml a run "
    "writes); precedence: defaults < --preset < --config < options. A run folder (runs/NAME) gets "
    "config.toml, metrics.jsonl, checkpoints/, samples/, plot.png and the model (model.safetensors, "
    "model.pth, model.json). Interrupted? rerun the same command: it continues from the last checkpoint "
    "(--resume no starts afresh). Several processes: torchrun "
    "--nproc_per_node N -m srkit.cli.train --shards ...\n\n" + EXIT_CODES_HELP
)

app = typer.Typer(name="sr-train", add_completion=False, pretty_exceptions_enable=False,
                  help="Train super-resolution models on packed stores.", rich_markup_mode=None)


def _overrides(**given: object) -> dict:
    """Nested config dict from the options the user gave (None = not given)."""
    where = {
        "arch": ("model", "arch"), "iters": ("train", "iters"), "batch_size": ("data", "batch_size"),
        "gt_size": ("data", "gt_size"), "lr": ("optim", "lr"), "stage": ("train", "stage"),
        "init": ("train", "init"), "init_disc": ("gan", "init_disc"), "resume": ("train", "resume"),
        "seed": ("train", "seed"), "workers": ("data", "workers"), "device": ("train", "device"),
        "out": ("train", "out"), "vgg_weights": ("loss", "vgg_weights"), "amp": ("train", "amp"),
        "compile": ("train", "compile"), "channels_last": ("train", "channels_last"),
        "grad_accum": ("train", "grad_accum"), "grad_clip": ("train", "grad_clip"), "ema": ("train", "ema"),
        "gan_loss": ("gan", "loss"), "val_every": ("train", "val_every"),
        "ckpt_every": ("train", "ckpt_every"), "log_every": ("train", "log_every"),
    }
    out: dict = {}
    for name, value in given.items():
        if value is not None:
            section, key = where[name]
            out.setdefault(section, {})[key] = str(value) if isinstance(value, Path) else value
    return out


@app.callback(invoke_without_command=True, help=TRAIN_HELP)
@friendly_errors
def main(
    ctx: typer.Context,
    shards: Path = typer.Option(None, "--shards", help="The store to train on (default: ./data.lmdb, "
                                "else ./data.h5)."),
    preset: str = typer.Option(None, "--preset",
                               help="Named settings from train/presets (see --list-presets)."),
    config: Path = typer.Option(None, "--config",
                                help="A TOML config file (same layout as a run's config.toml)."),
    arch: str = typer.Option(None, "--arch", help="Generator: compact, rrdbnet, srresnet, srcnn, msrcnn."),
    stage: str = typer.Option(None, "--stage", help="psnr (pixel loss) or gan (pixel + perceptual + GAN)."),
    init: str = typer.Option(None, "--init", help="Start the generator from a model file, checkpoint or run "
                             "folder (e.g. the psnr stage's runs/NAME)."),
    init_disc: str = typer.Option(None, "--init-disc", help="Start the discriminator from a weights file."),
    resume: str = typer.Option(None, "--resume",
                               help="auto (default): continue the run folder's latest checkpoint if any; "
                               "a checkpoint file; no: start afresh."),
    out: Path = typer.Option(None, "--out", help="Run folder (default runs/<preset or arch>)."),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda."),
    iters: int = typer.Option(None, "--iters", help="Total training iterations."),
    batch_size: int = typer.Option(None, "--batch-size", help="Samples per step (per process)."),
    gt_size: int = typer.Option(None, "--gt-size",
                                help="HR crop size in pixels (LR crop = gt_size / scale)."),
    lr: float = typer.Option(None, "--lr", help="Generator learning rate."),
    seed: int = typer.Option(None, "--seed", help="Seed of every random draw of the run."),
    workers: int = typer.Option(None, "--workers",
                                help="Data loader processes (0 = in the training process)."),
    vgg_weights: str = typer.Option(None, "--vgg-weights", help="VGG19 state dict (torchvision layout) for "
                                    "the perceptual loss; the GAN presets need it."),
    gan_loss: str = typer.Option(None, "--gan-loss", help="vanilla, ragan, wgan_gp or hinge."),
    amp: str = typer.Option(None, "--amp", help="none, bf16 or fp16 mixed precision (CUDA only)."),
    compile: bool = typer.Option(None, "--compile/--no-compile", help="torch.compile the generator."),
    channels_last: bool = typer.Option(None, "--channels-last/--no-channels-last",
                                       help="NHWC memory layout."),
    grad_accum: int = typer.Option(None, "--grad-accum", help="Batches accumulated per optimizer step."),
    grad_clip: float = typer.Option(None, "--grad-clip", help="Max gradient norm (0 = off)."),
    ema: float = typer.Option(None, "--ema", help="EMA decay of the generator (0 = off)."),
    val_every: int = typer.Option(None, "--val-every", help="Validate every N iterations."),
    ckpt_every: int = typer.Option(None, "--ckpt-every", help="Checkpoint every N iterations."),
    log_every: int = typer.Option(None, "--log-every", help="Log every N iterations."),
    settings: list[str] = typer.Option(None, "--set",
                                       help="Any config key, e.g. --set optim.schedule=multistep "
                                       "(repeatable; applied after the other options)."),
    list_presets: bool = typer.Option(False, "--list-presets", help="List the presets and exit."),
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from srkit.train.config import (
        ConfigError,
        deep_update,
        parse_assignment,
        preset_names,
        preset_path,
        resolve,
    )

    if list_presets:
        for name in preset_names():
            first = preset_path(name).read_text().splitlines()[0].lstrip("# ")
            typer.echo(f"{name:24s} {first}")
        return
    store = shards or next((p for p in (Path("data.lmdb"), Path("data.h5")) if p.exists()), None)
    if store is None:
        raise UsageError("no store: pass --shards STORE (a folder written by `sr-data pack lmdb|hdf5`), "
                         "or run in a working folder that holds data.lmdb")
    given = _overrides(arch=arch, iters=iters, batch_size=batch_size, gt_size=gt_size, lr=lr, stage=stage,
                       init=init, init_disc=init_disc, resume=resume, seed=seed, workers=workers,
                       device=device, out=out, vgg_weights=vgg_weights, amp=amp, compile=compile,
                       channels_last=channels_last, grad_accum=grad_accum, grad_clip=grad_clip, ema=ema,
                       gan_loss=gan_loss, val_every=val_every, ckpt_every=ckpt_every, log_every=log_every)
    try:
        for text in settings or []:
            deep_update(given, parse_assignment(text))
        cfg = resolve(preset=preset, config_file=config, overrides=given)
    except ConfigError as err:
        raise UsageError(str(err)) from None
    run(cfg, store)


def run(cfg, store: Path) -> None:
    """Train and print the summary (rank 0 only under torchrun)."""
    from srkit.shards.reader import StoreError
    from srkit.train import dist
    from srkit.train.checkpoint import CheckpointError
    from srkit.train.loop import TrainError, TrainStopped, train

    info = dist.env_info()
    if info.is_main:
        console.print(f"training {cfg.model.arch} ({cfg.train.stage} stage) on {store} "
                      f"-> {cfg.train.out or f'runs/{cfg.preset or cfg.model.arch}'}")
    try:
        result = train(cfg, store)
    except TrainStopped as err:
        raise StageError(str(err)) from None
    except StoreError as err:  # a bad record met while training (a worker's error keeps its last line)
        raise StageError(str(err).strip().splitlines()[-1] + " (run `sr-data verify` on the store)") from None
    except (TrainError, CheckpointError) as err:
        raise UsageError(str(err)) from None
    if not info.is_main:
        return
    console.print(f"[bold]done[/bold]: {result.iterations} iterations in {result.run_dir}")
    if result.best_psnr is not None and result.bicubic_psnr is not None:
        gain = result.best_psnr - result.bicubic_psnr
        verdict = "[green]beats[/green]" if gain > 0 else "[red]does not beat[/red]"
        last = "" if result.last_psnr is None or math.isclose(result.last_psnr, result.best_psnr) else \
            f" (last {result.last_psnr:.2f} dB)"
        console.print(f"validation PSNR (Y): best {result.best_psnr:.2f} dB at iteration {result.best_iter}"
                      f"{last} vs bicubic {result.bicubic_psnr:.2f} dB: {verdict} bicubic by {gain:+.2f} dB")
    if result.model_path is not None:
        console.print(f"model: {result.model_path} (+ model.pth, model.json); "
                      f"plot: {result.run_dir / 'plot.png'}")
        console.print(f"next: sr-train upscale {result.model_path} PAGE.png", soft_wrap=True)
        if cfg.next_preset:
            console.print(f"next stage: sr-train --shards {store} --preset {cfg.next_preset} --init "
                          f"{result.run_dir} --vgg-weights VGG19.pth", soft_wrap=True)


from srkit.train import use_cli  # noqa: E402  (the coordinator's upscale / eval commands attach to this app)

use_cli.register(app)
