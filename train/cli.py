"""The training command of ``sr-train``: ``sr-train --shards STORE [--preset P] [options]``.

Training is the app's own command (its callback), so ``sr-train --shards data.lmdb --preset smoke``
trains while ``sr-train upscale ...`` and ``sr-train eval ...`` reach their subcommands. The options
that set a config key are not written here: each comes from a field of ``train.config`` marked with
``option(...)`` (flag and help), so adding one is one edit there. Options only override what they are
given: defaults < preset < --config file < options < --set.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import typer

from srkit.core.console import EXIT_CODES_HELP, StageError, UsageError, console, friendly_errors
from srkit.core.workspace import HDF5_STORE, LMDB_STORE
from srkit.train.config import (
    CliOption,
    Config,
    ConfigError,
    cli_options,
    deep_update,
    parse_assignment,
    preset_names,
    preset_path,
    resolve,
)

TRAIN_HELP = (
    "Train a super-resolution model on a packed store (sr-data pack), or use one (upscale, eval).\n\n"
    "Training: sr-train --shards data.lmdb --preset smoke (seconds on a CPU) ; on a laptop: --preset cpu_x4 "
    "--time-budget 20m ; presets: smoke, cpu_x4, compact_x4, ultracompact, superultracompact, span_x4 then "
    "span_x4_gan, realplksr_x4 then realplksr_x4_gan, esrgan_x4_psnr then esrgan_x4_gan --init "
    "runs/esrgan_x4_psnr, manga_x4 then manga_x4_gan, srcnn_x2, msrcnn_x2, srresnet8_wgangp_x4 (each file "
    "in train/presets says its source and needs; --list-presets). Scale and "
    "channels come from the store. Every setting can come from a TOML --config (see the config.toml a run "
    "writes); precedence: defaults < --preset < --config < options. A run folder (runs/NAME) gets "
    "config.toml, metrics.jsonl, checkpoints/, samples/, plot.png and the model (model.safetensors, "
    "model.pth, model.json). Interrupted? rerun the same command: it continues from the last checkpoint "
    "(--resume no starts afresh). A run folder is locked while a run writes to it: a second run into it "
    "is refused and told who holds it. A checkpoint continues only on the store and data settings it was "
    "trained with. Several processes: torchrun --nproc_per_node N -m srkit.cli.train --shards ...\n\n"
    "The progress bar moves every iteration: samples/s, the mean losses of the last log line and "
    "'stall', the share of the time the trainer waited for data (above about 10 %: raise --workers), "
    "elapsed time and ETA.\n\n" + EXIT_CODES_HELP
)


def _option(name: str, kind: Any, default: Any, flag: str, help: str) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind,
                             default=typer.Option(default, flag, help=help))


# The options that choose where settings come from, rather than setting a config key.
SOURCE_OPTIONS = [
    _option("shards", Path, None, "--shards",
            "The store to train on (default: ./data.lmdb, else ./data.h5)."),
    _option("preset", str, None, "--preset", "Named settings from train/presets (see --list-presets)."),
    _option("config", Path, None, "--config", "A TOML config file (same layout as a run's config.toml)."),
]
LAST_OPTIONS = [
    _option("settings", list[str], None, "--set", "Any config key, e.g. --set optim.schedule=multistep "
            "(repeatable; applied after the other options)."),
    _option("list_presets", bool, False, "--list-presets", "List the presets and exit."),
]


def config_parameter(option: CliOption) -> inspect.Parameter:
    """The command parameter of a config option; None (its default) means "not given"."""
    flag = f"{option.flag}/--no-{option.flag[2:]}" if option.type is bool else option.flag
    return _option(option.name, option.type, None, flag, option.help)


def register(app: typer.Typer, config_type: type = Config) -> None:
    """Make training the app's own command, with one option for each field of ``config_type`` marked
    as one."""
    options = cli_options(config_type)

    def train_command(ctx: typer.Context, **values: Any) -> None:
        if ctx.invoked_subcommand is None:
            given = {option.path: values.pop(option.name) for option in options}
            train_from_command_line(overrides=nested(given), **values)

    context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    train_command.__signature__ = inspect.Signature(  # typer reads the parameters from here
        [context, *SOURCE_OPTIONS, *(config_parameter(o) for o in options), *LAST_OPTIONS])
    app.callback(invoke_without_command=True, help=TRAIN_HELP)(friendly_errors(train_command))


def nested(given: dict[tuple[str, ...], Any]) -> dict:
    """``{("train", "iters"): 5}`` -> ``{"train": {"iters": 5}}``, leaving out what was not given (None)."""
    out: dict = {}
    for path, value in given.items():
        if value is not None:
            node = out
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
    return out


def train_from_command_line(shards: Path | None, preset: str | None, config: Path | None,
                            settings: list[str] | None, list_presets: bool, overrides: dict) -> None:
    if list_presets:
        for name in preset_names():
            first = preset_path(name).read_text().splitlines()[0].lstrip("# ")
            typer.echo(f"{name:24s} {first}")
        return
    store = shards or next((p for p in (Path(LMDB_STORE), Path(HDF5_STORE)) if p.exists()), None)
    if store is None:
        raise UsageError("no store: pass --shards STORE (a folder written by `sr-data pack lmdb|hdf5`), "
                         "or run in a working folder that holds data.lmdb")
    try:
        for text in settings or []:
            deep_update(overrides, parse_assignment(text))
        cfg = resolve(preset=preset, config_file=config, overrides=overrides)
    except ConfigError as err:
        raise UsageError(str(err)) from None
    train_and_report(cfg, store)


def versus_bicubic(gain: float) -> str:
    """The verdict as a plain sentence: ``0.26 dB below bicubic`` (rich markup)."""
    if round(gain, 2) == 0:
        return "[yellow]level with bicubic[/yellow]"
    if gain > 0:
        return f"[green]{gain:.2f} dB above bicubic[/green]"
    return f"[red]{-gain:.2f} dB below bicubic[/red]"


def train_and_report(cfg: Config, store: Path) -> None:
    """Train and print the summary (rank 0 only under torchrun)."""
    from srkit.shards.reader import StoreError
    from srkit.train import dist
    from srkit.train.checkpoint import CheckpointError
    from srkit.train.errors import TrainError, TrainStopped
    from srkit.train.loop import train

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
        last = "" if result.last_psnr is None or math.isclose(result.last_psnr, result.best_psnr) else \
            f" (last {result.last_psnr:.2f} dB)"
        console.print(f"validation PSNR (Y): best {result.best_psnr:.2f} dB at iteration {result.best_iter}"
                      f"{last} vs bicubic {result.bicubic_psnr:.2f} dB: "
                      f"{versus_bicubic(result.best_psnr - result.bicubic_psnr)}")
    if result.model_path is not None:
        console.print(f"model: {result.model_path} (+ model.pth, model.json); "
                      f"plot: {result.run_dir / 'plot.png'}")
        console.print(f"next: sr-train upscale {result.model_path} PAGE.png", soft_wrap=True)
        if cfg.next_preset:
            console.print(f"next stage: sr-train --shards {store} --preset {cfg.next_preset} --init "
                          f"{result.run_dir} --vgg-weights VGG19.pth", soft_wrap=True)
