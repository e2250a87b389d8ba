"""The training loop: ``train`` sets a run up (store, networks, a resumed checkpoint, the data stream),
repeats ``train_step`` (forward, losses and backward over ``grad_accum`` batches, optimizer steps,
EMA) with logging, validation and checkpoints at their intervals, and exports the model. Every
function works on one ``Run``, the state of the session. Stage ``psnr``: pixel loss only; ``gan``:
pixel (+ perceptual) + adversarial loss for the generator, then a discriminator step on the same batch.
Everything that shapes the run (weights, EMA, optimizers, scalers, every RNG, the data position) is
checkpointed, so a resumed run ends with the same weights; a Ctrl-C takes effect between iterations.
Under a time budget the run's progress is its training time, not its iterations (the schedule spans it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from srkit.core.console import DeferredInterrupt, console, warn
from srkit.core.files import atomic_write_text
from srkit.core.manifest import JsonlAppender, read_jsonl, write_jsonl_sorted
from srkit.core.workspace import METRICS_LOG
from srkit.train import checkpoint as ckpt
from srkit.train import dist
from srkit.train.build import Losses, Networks, autocast, build_losses, build_networks
from srkit.train.config import Config, config_toml, to_dict
from srkit.train.data import StreamSpec, check_store, make_loader, open_training_store, to_device
from srkit.train.errors import TrainError, TrainStopped
from srkit.train.losses import gradient_penalty
from srkit.train.progress import TrainBar
from srkit.train.run_guard import check_same_data, comparable_best, lock_run_folder, run_identity
from srkit.train.schedule import RunClock, lr_factor
from srkit.train.update import ema_update, optimizer_step
from srkit.train.usm import usm_sharpen
from srkit.train.validate import ValSet, load_valset, manga_record, save_grid, score_on_valset, split_warnings


@dataclass
class RunResult:
    run_dir: Path
    iterations: int
    model_path: Path | None = None
    best_psnr: float | None = None
    best_iter: int | None = None
    last_psnr: float | None = None
    last_ssim: float | None = None
    bicubic_psnr: float | None = None
    bicubic_ssim: float | None = None
    seen: list[int] = field(default_factory=list)   # sample indices this rank trained on (if recorded)
    generator_state: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Run:
    """What one training session holds; the functions below read and update it, nothing else."""

    cfg: Config
    info: dist.DistInfo
    device: torch.device
    run_dir: Path
    nets: Networks
    losses: Losses
    rngs: dict[str, torch.Generator]   # checkpointed with the global ones: augmentation, GAN label noise
    amp: AbstractContextManager        # autocast on CUDA when asked, else nothing
    scale: int                         # the store's scale and recipe, which the export records
    recipe: dict[str, Any]
    samples_per_epoch: int
    identity: dict[str, Any]           # the store and data settings, recorded in every checkpoint
    clock: RunClock                    # how far the run is: iterations, or time under a budget
    held: ExitStack = field(default_factory=ExitStack)  # the run folder's lock, until the run ends
    valset: ValSet | None = None       # rank 0 only
    log: JsonlAppender | None = None   # rank 0 only
    batches: Iterator | None = None
    start: int = 0                     # the iteration this session started after
    iteration: int = 0                 # the last finished one
    progress: float = 0.0              # the share of the run done after it (1 or more: complete)
    elapsed: float = 0.0               # training seconds at its end (measured under a time budget)
    saved_at: int = 0
    bad_in_row: int = 0                # non-finite steps in a row
    best_psnr: float | None = None
    best_iter: int | None = None
    last_psnr: float | None = None
    last_ssim: float | None = None
    sums: dict[str, float] = field(default_factory=dict)  # loss sums since the last log line ...
    wait: float = 0.0                  # ... seconds waiting for batches and seconds busy since then
    busy: float = 0.0
    seen: list[int] | None = None      # sample indices trained on, when recorded


def train(cfg: Config, store_path: str | Path, record_indices: bool = False, quiet: bool = False,
          stop_at: int | None = None, clock: RunClock | None = None) -> RunResult:
    """Train on the store at ``store_path`` as ``cfg`` says; returns where the results are. ``stop_at``
    ends this session after that iteration (checkpoint saved, no export), as an interruption would;
    ``--resume`` continues it. ``record_indices`` keeps the sample indices seen. ``clock`` measures a
    time budget (wall-clock by default)."""
    run = setup(cfg, store_path, clock or RunClock.for_config(cfg))
    with run.held:  # the run folder stays locked until the model is exported (or an error ends the run)
        run.seen = [] if record_indices else None
        progress = TrainBar(cfg, run.start, run.info.world_size, run.clock) \
            if run.info.is_main and not quiet else None
        stop = DeferredInterrupt("Ctrl-C: finishing this iteration, then saving a checkpoint "
                                 "(Ctrl-C again to stop at once, without saving)").install()
        try:
            it = run.start
            while run.progress < 1 and it != stop_at:  # progress: iterations, or time under a budget
                it += 1
                train_step(run, it)
                complete = run.progress >= 1
                if it % cfg.train.log_every == 0 or complete:
                    log_training(run, it, progress)
                if progress is not None:
                    progress.step(it)
                if run.info.is_main and (it % cfg.train.val_every == 0 or complete):
                    validate(run, it)
                if run.info.is_main and (it % cfg.train.ckpt_every == 0 or complete or it == stop_at):
                    save_checkpoint(run, it)
                # The one place a Ctrl-C takes effect: iteration ``it`` is complete on every rank (they stop
                # together), so the checkpoint saved then is exactly ``it`` and a resume replays nothing.
                stop.check(not dist.all_true(not stop.requested, run.info, run.device))
        except KeyboardInterrupt:
            save_on_interrupt(run, forced=stop.forced)
            raise
        finally:
            stop.restore()
            if progress is not None:
                progress.stop()
            run.batches = None  # ends the loader's worker processes
            if run.log is not None:
                run.log.close()
        return finish(run)


def setup(cfg: Config, store_path: str | Path, clock: RunClock) -> Run:
    """Open the store, build the networks, resume the run folder's checkpoint, open the data stream."""
    info = dist.env_info()
    device = dist.resolve_device(cfg.train.device, info)
    dist.setup(info, device)
    run_dir = Path(cfg.train.out or f"runs/{cfg.preset or cfg.model.arch}")
    with open_training_store(store_path) as store, lock_run_folder(run_dir, info, device) as held:
        check_store(store, cfg.data.gt_size, cfg.data.workers, info.world_size)
        run = setup_locked(cfg, store, store_path, run_dir, info, device, clock)
        run.held = held.pop_all()  # the run keeps the lock; an error before this line unlocks it
        return run


def setup_locked(cfg: Config, store: Any, store_path: str | Path, run_dir: Path, info: dist.DistInfo,
                 device: torch.device, clock: RunClock) -> Run:
    """The rest of ``setup``, once the run folder is this run's."""
    resume_from = ckpt.resolve_resume(cfg.train.resume, run_dir)
    if resume_from is None and ckpt.latest(run_dir / "checkpoints") is not None:
        raise TrainError(f"{run_dir} already holds checkpoints of a run: continue it (leave out --resume "
                         "no), or pass --out runs/NEW_NAME to start a new one")
    if info.is_main and cfg.train.stage == "gan" and not cfg.train.init and resume_from is None:
        warn("GAN stage without --init: the generator starts from scratch (the usual path is "
             "--init runs/<the psnr-stage run>)")
    torch.manual_seed(cfg.train.seed)  # before the networks: their initial weights are its first draws
    nets = build_networks(cfg, int(store.channels or 1), int(store.scale), device, info.enabled)
    rngs = {"aug": torch.Generator().manual_seed(cfg.train.seed * 1000 + 3 + info.rank),
            "noise": torch.Generator().manual_seed(cfg.train.seed * 1000 + 7 + info.rank)}
    run = Run(cfg=cfg, info=info, device=device, run_dir=run_dir, nets=nets,
              losses=build_losses(cfg, device, rngs["noise"]), rngs=rngs, amp=autocast(cfg, device),
              scale=int(store.scale), recipe=store.index.get("recipe") or {},
              samples_per_epoch=len(store.train_indices), identity=run_identity(store, cfg), clock=clock)
    spent_before = resume(run, resume_from, store_path) if resume_from is not None else 0.0
    if info.is_main:
        for message in split_warnings(store, cfg.data.val_max):
            warn(message)
        run.log = open_run_folder(run)
        run.valset = load_valset(store, cfg.data.val_max)
    spec = StreamSpec(str(store_path), tuple(int(i) for i in store.train_indices),
                      tuple(store.shard_ranges), run.scale, cfg.data.gt_size, cfg.data.batch_size,
                      cfg.train.seed, cfg.data.shuffle_buffer, info.rank, info.world_size,
                      skip_batches=run.start * cfg.train.grad_accum, order=cfg.data.order)
    store.close()  # before the stream starts: it opens its own handles (LMDB refuses a second open)
    loader = make_loader(spec, cfg.data.workers, pin_memory=device.type == "cuda",
                         generator=torch.Generator().manual_seed(cfg.train.seed))
    run.batches = iter(loader)
    clock.start(spent_before)
    run.elapsed, run.progress = spent_before, clock.progress(run.start, spent_before)
    return run


def resume(run: Run, path: Path, store_path: str | Path) -> float:
    """Load a checkpoint into the run: weights, optimizers, scalers, every RNG, the counters; returns
    the training seconds spent before it."""
    state = ckpt.load(path)
    ckpt.check_same_model(state, to_dict(run.cfg)["model"], run.cfg.train.stage, path)
    check_same_data(state, run.identity, path, store_path)
    run.nets.load_state_dict(state)
    ckpt.set_rng_state(state["rng"], run.rngs)
    run.start = run.iteration = run.saved_at = int(state["iteration"])
    run.best_psnr, run.best_iter = comparable_best(state, run.identity)
    then = state["data"]
    if (then["workers"], then["world_size"]) != (run.cfg.data.workers, run.info.world_size):
        warn(f"resuming with {run.cfg.data.workers} workers x {run.info.world_size} processes instead of "
             f"{then['workers']} x {then['world_size']}: the data order differs from the first run")
    if run.info.is_main:
        console.print(f"resuming {path} at iteration {run.start}")
    return float(state.get("elapsed", 0.0))


def open_run_folder(run: Run) -> JsonlAppender:
    """Write config.toml, drop what an interrupted session logged after its last checkpoint, open the log."""
    (run.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    atomic_write_text(run.run_dir / "config.toml", config_toml(run.cfg))
    metrics = run.run_dir / METRICS_LOG
    if metrics.exists():
        kept = [r for r in read_jsonl(metrics) if r.get("iter", 0) <= run.start]
        write_jsonl_sorted(metrics, kept, sort_key=lambda r: (r.get("iter", 0), r.get("kind", "")))
    return JsonlAppender(metrics)


def train_step(run: Run, it: int) -> None:
    """Iteration ``it``: forward, losses and backward on ``grad_accum`` batches, the update, the progress."""
    started = time.perf_counter()
    factor = lr_factor(run.cfg, it, run.progress if run.clock.budget_s else None)
    for opt, base_lr in ((run.nets.opt_g, run.cfg.optim.lr), (run.nets.opt_d, run.cfg.gan.lr)):
        for group in opt.param_groups if opt is not None else []:
            group["lr"] = base_lr * factor
    accum = run.cfg.train.grad_accum
    terms_sum: dict[str, torch.Tensor] = {}
    for micro in range(accum):
        terms = forward_backward(run, last=micro == accum - 1)
        for key, value in terms.items():
            terms_sum[key] = terms_sum.get(key, 0) + value.detach() / accum
    update_weights(run, it)
    for key, value in terms_sum.items():
        run.sums[key] = run.sums.get(key, 0.0) + float(value)
    run.busy += time.perf_counter() - started
    run.iteration = it
    # Under a budget every rank takes the slowest one's time: they follow one schedule and stop together.
    run.elapsed = dist.max_value(run.clock.elapsed(), run.info, run.device) if run.clock.budget_s else 0.0
    run.progress = run.clock.progress(it, run.elapsed)


def forward_backward(run: Run, last: bool) -> dict[str, torch.Tensor]:
    """One batch: generator (and discriminator) losses, gradients accumulated; the gradient all-reduce
    of a multi-process run waits for the ``last`` batch of the step."""
    cfg, nets = run.cfg, run.nets
    waited = time.perf_counter()
    lr_u8, hr_u8, indices = next(run.batches)
    run.wait += time.perf_counter() - waited
    if run.seen is not None:
        run.seen.extend(int(i) for i in indices)
    lr, hr = to_device(lr_u8, hr_u8, run.device, run.rngs["aug"], cfg.data.flips, cfg.data.rot90,
                       cfg.train.channels_last)
    hr_sharp = usm_sharpen(hr) if cfg.loss.usm_gt else hr
    accum = cfg.train.grad_accum  # each batch's loss is its share of the step's
    with nullcontext() if last else nets.gen_no_sync():
        with run.amp:
            sr = nets.gen(lr)
            loss, terms = generator_loss(run, sr.float(), hr, hr_sharp)
        nets.scaler.scale(loss / accum).backward()
    if nets.disc is not None:
        with nullcontext() if last else nets.disc_no_sync():
            with run.amp:
                terms["l_d"] = discriminator_loss(run, sr.float(), hr)
            nets.scaler_d.scale(terms["l_d"] / accum).backward()
    return terms


def generator_loss(run: Run, sr: torch.Tensor, hr: torch.Tensor, hr_sharp: torch.Tensor
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The weighted generator loss terms (pixel, perceptual, adversarial) and their sum."""
    cfg, losses, disc = run.cfg, run.losses, run.nets.disc_module
    terms = {"l_pix": cfg.loss.pixel_weight * losses.pixel(sr, hr_sharp)}
    if losses.perceptual is not None:
        terms["l_percep"] = cfg.loss.perceptual_weight * losses.perceptual(sr, hr_sharp)
    if disc is not None:
        disc.requires_grad_(False)  # no D gradients from the G loss (and no DDP sync for it)
        real, fake = disc(torch.cat([hr, sr])).split(hr.shape[0])
        terms["l_gan"] = cfg.gan.weight * losses.gan.generator_loss(fake, real)
        disc.requires_grad_(True)
    return sum(terms.values()), terms


def discriminator_loss(run: Run, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss on the real batch and the detached generator output."""
    fake = sr.detach()
    real_logits, fake_logits = run.nets.disc(torch.cat([hr, fake])).split(hr.shape[0])
    loss = run.losses.gan.discriminator_loss(real_logits, fake_logits)
    if run.cfg.gan.loss == "wgan_gp":
        loss = loss + gradient_penalty(run.nets.disc_module, hr, fake, run.cfg.gan.gp_weight,
                                       generator=run.rngs["noise"])
    return loss


def update_weights(run: Run, it: int) -> None:
    """Optimizer steps, then the EMA; a step with non-finite gradients is skipped, too many in a row stop."""
    nets, clip = run.nets, run.cfg.train.grad_clip
    ok = optimizer_step(nets.opt_g, nets.scaler, nets.gen_module.parameters(), clip)
    if nets.opt_d is not None:
        ok = optimizer_step(nets.opt_d, nets.scaler_d, nets.disc_module.parameters(), clip) and ok
    if ok:
        run.bad_in_row = 0
        if nets.ema is not None:
            ema_update(nets.ema, nets.gen_module, run.cfg.train.ema, it)
        return
    run.bad_in_row += 1
    warn(f"iteration {it}: non-finite loss or gradients, step skipped ({run.bad_in_row} in a row)")
    if run.bad_in_row >= run.cfg.train.nan_patience:
        raise TrainStopped(f"{run.bad_in_row} non-finite steps in a row at iteration {it}: lower the "
                           f"learning rate or set --grad-clip (last good: {run.run_dir}/checkpoints)")


def log_training(run: Run, it: int, progress: Any) -> None:
    """Mean losses, learning rate, epoch, data stall and speed since the last log line."""
    cfg = run.cfg
    n = (it - 1) % cfg.train.log_every + 1
    samples = cfg.train.grad_accum * cfg.data.batch_size * run.info.world_size
    rate = n * samples / max(run.busy, 1e-9)
    stall = run.wait / max(run.busy, 1e-9)
    record = {k: v / n for k, v in run.sums.items() if math.isfinite(v)}
    record.update(kind="train", iter=it, lr=run.nets.opt_g.param_groups[0]["lr"],
                  epoch=round(it * samples / run.samples_per_epoch, 3), data_stall=round(stall, 4),
                  samples_per_s=round(rate, 2))
    if run.log is not None:
        run.log.write(record)
    if progress is not None:
        progress.note(" ".join(f"{k} {v / n:.4g}" for k, v in run.sums.items()) + f"  stall {stall:.0%}")
    run.sums, run.wait, run.busy = {}, 0.0, 0.0


def validate(run: Run, it: int) -> None:
    """Score the model on the validation pairs, draw the sample grid, keep the best checkpoint."""
    if run.valset is None:
        return
    psnr, ssim, outputs = score_on_valset(run.nets.final_model(), run.valset, run.device)
    run.last_psnr, run.last_ssim = psnr, ssim
    run.log.write({"kind": "val", "iter": it, "psnr": psnr, "ssim": ssim,
                   "bicubic_psnr": run.valset.bicubic_psnr, "bicubic_ssim": run.valset.bicubic_ssim,
                   **manga_record(run.valset, outputs)})
    save_grid(run.run_dir / "samples" / f"iter_{it:08d}.png", run.valset, outputs, run.cfg.train.samples)
    if run.best_psnr is None or psnr > run.best_psnr:
        run.best_psnr, run.best_iter = psnr, it
        ckpt.save(run.run_dir / "checkpoints" / ckpt.BEST_NAME,
                  {"iteration": it, "psnr": psnr, "identity": run.identity, **run.nets.state_dict()})


def save_checkpoint(run: Run, it: int) -> None:
    """Everything a resume needs to continue exactly after iteration ``it``."""
    position = {"batches": it * run.cfg.train.grad_accum, "workers": run.cfg.data.workers,
                "world_size": run.info.world_size}
    payload = {"iteration": it, **run.nets.state_dict(), "rng": ckpt.rng_state(run.rngs),
               "config": to_dict(run.cfg), "data": position, "best_psnr": run.best_psnr,
               "best_iter": run.best_iter, "identity": run.identity, "elapsed": run.elapsed}
    ckpt.save_iteration(run.run_dir / "checkpoints", it, payload, run.cfg.train.keep_last)
    run.saved_at = it


def save_on_interrupt(run: Run, forced: bool) -> None:
    """After a Ctrl-C: save the finished iteration (not after a second Ctrl-C) and say how to go on."""
    if not run.info.is_main:
        return
    if forced:
        console.print(f"stopped at once, without saving; rerun the same command to continue from the "
                      f"last checkpoint (iteration {run.saved_at})")
    elif run.iteration > run.saved_at:
        save_checkpoint(run, run.iteration)
        console.print(f"saved a checkpoint at iteration {run.iteration}; rerun the same command to continue")
    elif run.iteration > run.start:
        console.print(f"checkpoint at iteration {run.saved_at} saved; rerun the same command to continue")


def finish(run: Run) -> RunResult:
    """Export the model when the run is complete (rank 0), and say where everything is."""
    from srkit.train.export import export_model
    from srkit.train.plot import plot_metrics

    final = run.nets.final_model()
    result = RunResult(run_dir=run.run_dir, iterations=run.iteration, best_psnr=run.best_psnr,
                       best_iter=run.best_iter, last_psnr=run.last_psnr, last_ssim=run.last_ssim,
                       seen=run.seen or [],
                       generator_state={k: v.detach().cpu().clone() for k, v in final.state_dict().items()})
    if run.valset is not None:
        result.bicubic_psnr, result.bicubic_ssim = run.valset.bicubic_psnr, run.valset.bicubic_ssim
    if run.info.is_main and run.progress >= 1:
        extra: dict[str, Any] = {"trained_on": {"recipe": run.recipe.get("name"), "store_scale": run.scale}}
        if run.scale == 1 and int(run.recipe.get("nominal_scale") or 1) > 1:
            extra["pre_upsample"] = int(run.recipe["nominal_scale"])  # a down-up (SRCNN) model: upscale first
        result.model_path = export_model(final, run.run_dir, extra)
        plot_metrics(run.run_dir / METRICS_LOG, run.run_dir / "plot.png")
    dist.teardown(run.info)
    return result
