"""The training loop: one function, ``train(cfg, store_path)``, for both stages and any device.

Stage ``psnr``: pixel loss only. Stage ``gan``: pixel (+ perceptual) + adversarial loss for the
generator, then a discriminator step on the same batch (generator output detached). Everything that
shapes the run (weights, EMA, optimizers, loss scaler, every RNG, the data position) goes into the
checkpoints, so an interrupted run resumed with ``--resume`` ends with the same weights. A Ctrl-C
takes effect between iterations (``srkit.core.console.DeferredInterrupt``), so the checkpoint it leaves is
a whole iteration.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from srkit.core.console import DeferredInterrupt, console, warn
from srkit.core.files import atomic_write_text
from srkit.core.manifest import JsonlAppender, read_jsonl, write_jsonl_sorted
from srkit.train import checkpoint as ckpt
from srkit.train import dist
from srkit.train.config import Config, config_toml, to_dict
from srkit.train.data import StreamSpec, make_loader, to_device
from srkit.train.parts import Parts, TrainError, TrainStopped, d_loss, ema_update, g_losses, lr_factor, step

__all__ = ["RunResult", "TrainError", "TrainStopped", "train"]


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


def open_training_store(path: str | Path):
    from srkit.shards.reader import StoreError, open_store

    path = Path(path)
    if path.is_dir() and not (path / "index.json").exists():
        raise TrainError(f"{path}: no index.json, so this is not a finished store (the pack was interrupted "
                         "or this is another kind of folder); run `sr-data pack lmdb` to build or finish it")
    try:
        return open_store(path)
    except StoreError as err:
        raise TrainError(str(err)) from None


def check_same_model(state: dict, cfg: Config, path: Path) -> None:
    """Refuse to continue a checkpoint of another model or stage with a clear message."""
    old = state.get("config") or {}
    then = (old.get("model"), old.get("train", {}).get("stage"))
    now = (to_dict(cfg)["model"], cfg.train.stage)
    if then != now:
        raise TrainError(f"{path} is a checkpoint of {then[0]} ({then[1]} stage), not of this config's "
                         f"{now[0]} ({now[1]} stage): pass --out runs/NEW_NAME to start another run, or the "
                         "first run's settings to continue it")


def check_data(store: Any, cfg: Config, world_size: int) -> None:
    """Refuse what the store cannot give before any worker starts (clear message, no traceback)."""
    scale, size = int(store.scale), cfg.data.gt_size
    if size % scale:
        raise TrainError(f"--gt-size {size} is not a multiple of the store's scale {scale}")
    readers = world_size * max(1, cfg.data.workers)
    if len(store.train_indices) < readers:
        raise TrainError(f"{store.path}: {len(store.train_indices)} training samples for {readers} readers "
                         f"({world_size} processes x {max(1, cfg.data.workers)} workers): use fewer "
                         "--workers or a larger store")
    lr = store.read(int(store.train_indices[0])).lr
    if min(lr.shape[:2]) < size // scale:
        raise TrainError(f"--gt-size {size} needs LR tiles of at least {size // scale} px, the store's are "
                         f"{lr.shape[1]}x{lr.shape[0]}: lower --gt-size")


def train(cfg: Config, store_path: str | Path, record_indices: bool = False, quiet: bool = False,
          stop_at: int | None = None) -> RunResult:
    """Train on the store at ``store_path`` as ``cfg`` says; returns where the results are.

    ``stop_at`` ends this session after that iteration (checkpoint saved, no export), as an
    interruption would; ``--resume`` continues it. ``record_indices`` keeps the sample indices seen.
    """
    from srkit.train.plot import plot_metrics
    from srkit.train.usm import usm_sharpen
    from srkit.train.validate import evaluate, load_valset, save_grid

    info = dist.env_info()
    device = dist.resolve_device(cfg.train.device, info)
    dist.setup(info, device)
    main = info.is_main
    store = open_training_store(store_path)
    run_dir = Path(cfg.train.out or f"runs/{cfg.preset or cfg.model.arch}")
    resume = ckpt.resolve_resume(cfg.train.resume, run_dir)
    if resume is None and ckpt.latest(run_dir / "checkpoints") is not None:
        raise TrainError(f"{run_dir} already holds checkpoints of a run: continue it (leave out --resume "
                         "no), or pass --out runs/NEW_NAME to start a new one")
    if main and cfg.train.stage == "gan" and not cfg.train.init and resume is None:
        warn("GAN stage without --init: the generator starts from scratch (the usual path is "
             "--init runs/<the psnr-stage run>)")
    if cfg.train.amp != "none" and device.type != "cuda":
        warn(f"--amp {cfg.train.amp} works on CUDA only; training in float32 on {device}")
    amp = torch.autocast("cuda", dtype=torch.bfloat16 if cfg.train.amp == "bf16" else torch.float16) \
        if cfg.train.amp != "none" and device.type == "cuda" else nullcontext()
    torch.manual_seed(cfg.train.seed)
    p = Parts(cfg, store, device, info)
    aug = torch.Generator().manual_seed(cfg.train.seed * 1000 + 3 + info.rank)
    gens = {"aug": aug, "noise": p.noise}
    start, best = 0, (None, None)
    if resume is not None:
        state = ckpt.load(resume)
        check_same_model(state, cfg, resume)
        p.load(state)
        ckpt.set_rng_state(state["rng"], gens)
        start = int(state["iteration"])
        best = (state.get("best_psnr"), state.get("best_iter"))
        data = state["data"]
        if (data["workers"], data["world_size"]) != (cfg.data.workers, info.world_size):
            warn(f"resuming with {cfg.data.workers} workers x {info.world_size} processes instead of "
                 f"{data['workers']} x {data['world_size']}: the data order differs from the first run")
        if main:
            console.print(f"resuming {resume} at iteration {start}")
    if main:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.toml", config_toml(cfg))
        metrics_path = run_dir / "metrics.jsonl"
        if metrics_path.exists():  # drop what an interrupted run logged after its last checkpoint
            kept = [r for r in read_jsonl(metrics_path) if r.get("iter", 0) <= start]
            write_jsonl_sorted(metrics_path, kept, sort_key=lambda r: (r.get("iter", 0), r.get("kind", "")))
        log = JsonlAppender(metrics_path)
    accum, bs = cfg.train.grad_accum, cfg.data.batch_size
    spec = StreamSpec(str(store_path), tuple(int(i) for i in store.train_indices),
                      tuple(store.shard_ranges), int(store.scale), cfg.data.gt_size, bs, cfg.train.seed,
                      cfg.data.shuffle_buffer, info.rank, info.world_size, skip_batches=start * accum)
    loader = make_loader(spec, cfg.data.workers, pin_memory=device.type == "cuda",
                         generator=torch.Generator().manual_seed(cfg.train.seed))
    check_data(store, cfg, info.world_size)
    valset = load_valset(store, cfg.data.val_max) if main else None
    store.close()  # the stream opens its own handles (LMDB refuses a second open in one process)
    result = RunResult(run_dir=run_dir, iterations=start, best_psnr=best[0], best_iter=best[1])
    if valset is not None:
        result.bicubic_psnr, result.bicubic_ssim = valset.bicubic_psnr, valset.bicubic_ssim

    def epoch_of(it: int) -> float:
        return it * accum * bs * info.world_size / len(spec.indices)

    def save(it: int) -> None:
        position = {"batches": it * accum, "workers": cfg.data.workers, "world_size": info.world_size}
        payload = {"iteration": it, **p.state(), "rng": ckpt.rng_state(gens), "config": to_dict(cfg),
                   "data": position, "best_psnr": result.best_psnr, "best_iter": result.best_iter}
        ckpt.save_iteration(run_dir / "checkpoints", it, payload, cfg.train.keep_last)

    def validate(it: int) -> None:
        if valset is None:
            return
        psnr, ssim, outputs = evaluate(p.final_model(), valset, device)
        result.last_psnr, result.last_ssim = psnr, ssim
        log.write({"kind": "val", "iter": it, "psnr": psnr, "ssim": ssim, "bicubic_psnr": valset.bicubic_psnr,
                   "bicubic_ssim": valset.bicubic_ssim})
        save_grid(run_dir / "samples" / f"iter_{it:08d}.png", valset, outputs, cfg.train.samples)
        if result.best_psnr is None or psnr > result.best_psnr:
            result.best_psnr, result.best_iter = psnr, it
            ckpt.save(run_dir / "checkpoints" / ckpt.BEST_NAME, {"iteration": it, "psnr": psnr, **p.state()})

    progress = None
    if main and not quiet:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=console)
        task = progress.add_task(f"{cfg.train.stage} {cfg.model.arch}", total=cfg.train.iters,
                                 completed=start, info="")
        progress.start()
    data_iter = iter(loader)
    sums: dict[str, float] = {}
    wait = busy = 0.0
    bad_in_row = 0
    saved_at = start
    stop = DeferredInterrupt("Ctrl-C: finishing this iteration, then saving a checkpoint "
                             "(Ctrl-C again to stop at once, without saving)").install()
    try:
        for it in range(start + 1, min(cfg.train.iters, stop_at or cfg.train.iters) + 1):
            t_start = time.perf_counter()
            for group in p.opt_g.param_groups:
                group["lr"] = cfg.optim.lr * lr_factor(cfg, it)
            if p.opt_d is not None:
                for group in p.opt_d.param_groups:
                    group["lr"] = cfg.gan.lr * lr_factor(cfg, it)
            terms_sum: dict[str, torch.Tensor] = {}
            for micro in range(accum):
                t0 = time.perf_counter()
                lr_u8, hr_u8, idx = next(data_iter)
                wait += time.perf_counter() - t0
                if record_indices:
                    result.seen.extend(int(i) for i in idx)
                lr, hr = to_device(lr_u8, hr_u8, device, aug, cfg.data.flips, cfg.data.rot90,
                                   cfg.train.channels_last)
                hr_sharp = usm_sharpen(hr) if cfg.loss.usm_gt else hr
                last = micro == accum - 1
                with nullcontext() if last else p.gen_sync():
                    with amp:
                        sr = p.gen(lr)
                        loss, terms = g_losses(p, cfg, sr.float(), hr, hr_sharp)
                    p.scaler.scale(loss / accum).backward()
                if p.disc is not None:
                    with nullcontext() if last else p.disc_sync():
                        with amp:
                            terms["l_d"] = d_loss(p, cfg, sr.float(), hr)
                        p.scaler_d.scale(terms["l_d"] / accum).backward()
                for key, value in terms.items():
                    terms_sum[key] = terms_sum.get(key, 0) + value.detach() / accum
            ok = step(p.opt_g, p.scaler, p.gen_module.parameters(), cfg.train.grad_clip)
            if p.opt_d is not None:
                ok = step(p.opt_d, p.scaler_d, p.disc_module.parameters(), cfg.train.grad_clip) and ok
            if ok:
                bad_in_row = 0
                if p.ema is not None:
                    ema_update(p.ema, p.gen_module, cfg.train.ema, it)
            else:
                bad_in_row += 1
                warn(f"iteration {it}: non-finite loss or gradients, step skipped ({bad_in_row} in a row)")
                if bad_in_row >= cfg.train.nan_patience:
                    raise TrainStopped(f"{bad_in_row} non-finite steps in a row at iteration {it}: lower the "
                                       f"learning rate or set --grad-clip (last good: {run_dir}/checkpoints)")
            for key, value in terms_sum.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            busy += time.perf_counter() - t_start
            result.iterations = it
            if it % cfg.train.log_every == 0 or it == cfg.train.iters:
                n = (it - 1) % cfg.train.log_every + 1
                rate = n * accum * bs * info.world_size / max(busy, 1e-9)
                stall = wait / max(busy, 1e-9)
                record = {k: v / n for k, v in sums.items() if math.isfinite(v)}
                record.update(kind="train", iter=it, lr=p.opt_g.param_groups[0]["lr"],
                              epoch=round(epoch_of(it), 3), data_stall=round(stall, 4),
                              samples_per_s=round(rate, 2))
                if main:
                    log.write(record)
                if progress is not None:
                    text = " ".join(f"{k} {v / n:.4g}" for k, v in sums.items())
                    progress.update(task, completed=it,
                                    info=f"{rate:.1f} samples/s  {text}  stall {stall:.0%}")
                sums, wait, busy = {}, 0.0, 0.0
            if main and (it % cfg.train.val_every == 0 or it == cfg.train.iters):
                validate(it)
            if main and (it % cfg.train.ckpt_every == 0 or it in (cfg.train.iters, stop_at)):
                save(it)
                saved_at = it
            # The one place a Ctrl-C takes effect: iteration ``it`` is complete on every rank (they stop
            # together), so the checkpoint saved below is exactly ``it`` and a resume replays nothing.
            stop.check(not dist.all_true(not stop.requested, info, device))
    except KeyboardInterrupt:
        if main and stop.forced:
            console.print(f"stopped at once, without saving; rerun the same command to continue from the "
                          f"last checkpoint (iteration {saved_at})")
        elif main and result.iterations > saved_at:
            save(result.iterations)
            console.print(f"saved a checkpoint at iteration {result.iterations}; rerun the same command to "
                          "continue")
        elif main and result.iterations > start:
            console.print(f"checkpoint at iteration {saved_at} saved; rerun the same command to continue")
        raise
    finally:
        stop.restore()
        if progress is not None:
            progress.stop()
        del data_iter
    result.generator_state = {k: v.detach().cpu().clone() for k, v in p.final_model().state_dict().items()}
    if main and result.iterations >= cfg.train.iters:
        from srkit.train.export import export_model

        recipe = store.index.get("recipe") or {}
        extra = {"trained_on": {"recipe": recipe.get("name"), "store_scale": int(store.scale)}}
        if store.scale == 1 and int(recipe.get("nominal_scale") or 1) > 1:
            extra["pre_upsample"] = int(recipe["nominal_scale"])  # a down-up (SRCNN) model: upscale first
        result.model_path = export_model(p.final_model(), run_dir, extra)
        plot_metrics(run_dir / "metrics.jsonl", run_dir / "plot.png")
    if main:
        log.close()
    dist.teardown(info)
    return result
