"""Training configuration: a tree of dataclasses, loaded from TOML layers and written back as TOML.

Precedence, lowest first: the defaults below < a preset (``train/presets/NAME.toml``) < a user's
``--config FILE.toml`` < command-line options. Config files are plain data; a key that is not a field
here is an error naming the key and the file, so a typo never silently trains the wrong model.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

PRESETS_DIR = Path(__file__).resolve().parent / "presets"


class ConfigError(ValueError):
    """A config file or option is invalid; the message names the file and the key."""


def option(default: Any, flag: str, help: str) -> Any:
    """A field that is also an ``sr-train`` option: ``flag`` (a bool gets ``--flag/--no-flag``) and its help.

    The command line is built from these marks (``cli_options``), so adding an option is this one edit.
    """
    return field(default=default, metadata={"flag": flag, "help": help})


@dataclass
class ModelConfig:
    arch: str = option("compact", "--arch", "Generator: compact (or ultracompact, superultracompact), span "
                       "(or span_s), realplksr (or realplksr_tiny), rrdbnet, srresnet, srcnn, msrcnn.")
    options: dict = field(default_factory=dict)  # passed to build_model(arch, ..., **options)


@dataclass
class DataConfig:
    gt_size: int = option(128, "--gt-size", "HR crop size in pixels (LR crop = gt_size / scale).")
    batch_size: int = option(16, "--batch-size", "Samples per step (per process).")
    workers: int = option(2, "--workers", "Data loader processes (0 = in the training process).")
    order: str = "global"        # global: a permutation of the whole split per epoch; shards: shard blocks
    shuffle_buffer: int = 256    # samples mixed across neighbouring shard blocks (order = shards)
    flips: bool = True           # random h/v flips of the whole batch, on the device
    rot90: bool = True           # random 90 degree rotation of the whole batch, on the device
    val_max: int = 64            # validation pairs used (0 = the whole validation split)


@dataclass
class OptimConfig:
    name: str = "adam"           # adam | adamw
    lr: float = option(2e-4, "--lr", "Generator learning rate.")
    betas: list = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 0.0
    schedule: str = "cosine"     # constant | cosine | multistep
    milestones: list = field(default_factory=list)  # iterations, for multistep
    gamma: float = 0.5           # multistep factor
    min_lr_ratio: float = 0.01   # cosine floor, as a fraction of lr
    warmup: int = 0              # linear warm-up iterations


@dataclass
class LossConfig:
    pixel: str = "l1"            # l1 | mse | charbonnier
    pixel_weight: float = 1.0
    perceptual_weight: float = 0.0
    vgg_weights: str = option("", "--vgg-weights", "VGG19 state dict (torchvision layout) for the perceptual "
                              "loss; the GAN presets need it.")
    perceptual_layers: dict = field(default_factory=dict)  # {"conv3_4": 1.0, ...}; empty = Real-ESRGAN's
    usm_gt: bool = False         # Real-ESRGAN: pixel/perceptual losses against the USM-sharpened GT


@dataclass
class GanConfig:
    loss: str = option("vanilla", "--gan-loss", "vanilla, ragan, wgan_gp or hinge.")
    weight: float = 0.1          # adversarial weight in the generator loss
    discriminator: str = "unet_sn"
    options: dict = field(default_factory=dict)
    lr: float = 1e-4
    betas: list = field(default_factory=lambda: [0.9, 0.99])
    gp_weight: float = 10.0      # wgan_gp only
    # vanilla only: soft, noisy D targets as the SRGAN of Jin Huang's "Anime Super Resolution Using GANs"
    label_smoothing: bool = False
    real_range: list = field(default_factory=lambda: [0.85, 1.10])  # soft REAL targets
    fake_range: list = field(default_factory=lambda: [0.0, 0.15])   # soft FAKE targets
    flip_prob: float = 0.05      # probability of swapping a REAL/FAKE target (noisy labels)
    init_disc: str = option("", "--init-disc", "Start the discriminator from a weights file.")


@dataclass
class TrainConfig:
    stage: str = option("psnr", "--stage", "psnr (pixel loss) or gan (pixel + perceptual + GAN).")
    iters: int = option(1000, "--iters", "Total training iterations.")
    time_budget: str = option("", "--time-budget", "Train for this long instead of --iters (e.g. 20m, 1h30m, "
                              "90s): the learning-rate schedule spans the budget and the run ends, "
                              "validated and exported, when it is spent.")
    seed: int = option(0, "--seed", "Seed of every random draw of the run.")
    device: str = option("auto", "--device", "auto, cpu or cuda.")
    amp: str = option("none", "--amp", "none, bf16 or fp16 mixed precision (CUDA only).")
    channels_last: bool = option(False, "--channels-last", "NHWC memory layout.")
    compile: bool = option(False, "--compile", "torch.compile the generator.")
    grad_accum: int = option(1, "--grad-accum", "Batches accumulated per optimizer step.")
    grad_clip: float = option(0.0, "--grad-clip", "Max gradient norm (0 = off).")
    ema: float = option(0.999, "--ema", "EMA decay of the generator (0 = off).")
    nan_patience: int = 5        # stop after this many non-finite steps in a row
    init: str = option("", "--init", "Start the generator from a model file, checkpoint or run folder (e.g. "
                       "the psnr stage's runs/NAME).")
    # auto by default, so that rerunning an interrupted command finishes the job
    resume: str = option("auto", "--resume", "auto (default): continue the run folder's latest checkpoint if "
                         "any; a checkpoint file; no: start afresh.")
    log_every: int = option(10, "--log-every", "Log the mean losses, speed and stall every N iterations "
                            "(the progress bar moves every iteration).")
    val_every: int = option(500, "--val-every", "Validate every N iterations.")
    ckpt_every: int = option(500, "--ckpt-every", "Checkpoint every N iterations.")
    keep_last: int = 3
    samples: int = 4             # validation pairs drawn into samples/*.png
    out: str = option("", "--out", "Run folder (default runs/<preset or arch>).")


@dataclass
class Config:
    preset: str = ""
    next_preset: str = ""        # the preset of the stage that follows this one (shown at the end)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class CliOption:
    """A config field that is an ``sr-train`` option."""

    path: tuple[str, ...]        # where it lives in the config, e.g. ("train", "iters")
    flag: str                    # e.g. "--iters"
    help: str
    type: type

    @property
    def name(self) -> str:
        """The Python name of the command's parameter (``--batch-size`` -> ``batch_size``)."""
        return self.flag.lstrip("-").replace("-", "_")


def cli_options(config_type: type = Config, path: tuple[str, ...] = ()) -> list[CliOption]:
    """Every field of the config tree marked with :func:`option`, in declaration order."""
    types = typing.get_type_hints(config_type)
    found = []
    for f in dataclasses.fields(config_type):
        kind = types[f.name]
        if dataclasses.is_dataclass(kind):
            found += cli_options(kind, (*path, f.name))
        elif "flag" in f.metadata:
            found.append(CliOption((*path, f.name), f.metadata["flag"], f.metadata["help"], kind))
    return found


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(data: dict) -> Config:
    cfg = Config()
    merge(cfg, data, "<dict>")
    return cfg


def merge(cfg: Any, data: dict, source: str, prefix: str = "") -> None:
    """Apply the nested mapping ``data`` onto the dataclass tree ``cfg`` in place, checking keys and types."""
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown key '{name}' (known here: {known})")
        current = getattr(cfg, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{name}' must be a table [{name}]")
            merge(current, value, source, prefix=f"{name}.")
        elif isinstance(current, dict) and isinstance(value, dict):
            current.update(value)  # option tables merge key by key across layers
        else:
            setattr(cfg, key, _coerce(current, value, name, source))


def _coerce(current: Any, value: Any, name: str, source: str) -> Any:
    kind = type(current)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{name}' must be true or false, got {value!r}")
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{source}: '{name}' must be {kind.__name__}, got {value!r}")
    return value


def load_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset '{name}'; presets: {', '.join(preset_names())}")
    return path


def resolve(preset: str | None = None, config_file: str | Path | None = None,
            overrides: dict | None = None) -> Config:
    """Build the config from its layers: defaults < preset < config file < overrides (nested dict)."""
    cfg = Config()
    layers = []
    if preset:
        path = preset_path(preset)
        layers.append((load_toml(path), str(path)))
    if config_file:
        layers.append((load_toml(config_file), str(config_file)))
    if overrides:
        layers.append((overrides, "command line"))
    for data, source in layers:
        model = data.get("model", {})
        if isinstance(model, dict) and model.get("arch", cfg.model.arch) != cfg.model.arch \
                and "options" not in model:
            cfg.model.options = {}  # options of another architecture would not fit the new one
        merge(cfg, data, source)
    if preset:
        cfg.preset = preset
    validate(cfg)
    return cfg


def parse_assignment(text: str) -> dict:
    """``optim.lr=1e-4`` -> ``{"optim": {"lr": 1e-4}}``; the value is read as TOML (strings may be bare)."""
    if "=" not in text:
        raise ConfigError(f"--set '{text}': expected KEY=VALUE, e.g. optim.lr=1e-4")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    out: dict = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def deep_update(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


CHOICES = {
    ("train", "stage"): ("psnr", "gan"),
    ("data", "order"): ("global", "shards"),
    ("train", "device"): ("auto", "cpu", "cuda"),
    ("train", "amp"): ("none", "bf16", "fp16"),
    ("optim", "name"): ("adam", "adamw"),
    ("optim", "schedule"): ("constant", "cosine", "multistep"),
    ("loss", "pixel"): ("l1", "mse", "charbonnier"),
    ("gan", "loss"): ("vanilla", "ragan", "wgan_gp", "hinge"),
}


def validate(cfg: Config) -> None:
    for (section, key), allowed in CHOICES.items():
        value = getattr(getattr(cfg, section), key)
        if value not in allowed:
            raise ConfigError(f"{section}.{key} = {value!r}: choose one of {', '.join(allowed)}")
    positive = {"data.gt_size": cfg.data.gt_size, "data.batch_size": cfg.data.batch_size,
                "train.iters": cfg.train.iters, "train.grad_accum": cfg.train.grad_accum,
                "train.log_every": cfg.train.log_every, "train.val_every": cfg.train.val_every,
                "train.ckpt_every": cfg.train.ckpt_every, "train.keep_last": cfg.train.keep_last}
    for name, value in positive.items():
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    if cfg.data.workers < 0:
        raise ConfigError(f"data.workers must be 0 or more, got {cfg.data.workers}")
    if not 0.0 <= cfg.train.ema < 1.0:
        raise ConfigError(f"train.ema must be in [0, 1), got {cfg.train.ema}")
    if len(cfg.optim.betas) != 2 or len(cfg.gan.betas) != 2:
        raise ConfigError("optim.betas and gan.betas take two numbers, e.g. [0.9, 0.99]")
    for name in ("real_range", "fake_range"):
        if len(getattr(cfg.gan, name)) != 2:
            raise ConfigError(f"gan.{name} takes a range of two numbers, e.g. [0.85, 1.1]")
    if not math.isfinite(cfg.optim.lr) or cfg.optim.lr <= 0:
        raise ConfigError(f"optim.lr must be a positive number, got {cfg.optim.lr}")
    if cfg.train.time_budget:
        parse_duration(cfg.train.time_budget)
        if cfg.optim.schedule == "multistep":
            raise ConfigError("optim.schedule = multistep counts iterations, which a time budget does not "
                              "fix: use cosine or constant with --time-budget")


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def parse_duration(text: str) -> float:
    """``"20m"`` -> 1200.0 seconds; ``h``, ``m``, ``s`` parts in that order (``1h30m``, ``90s``)."""
    parts = _DURATION.findall(text.strip().lower())
    units = [unit for _, unit in parts]
    if not parts or "".join(f"{v}{u}" for v, u in parts) != text.strip().lower() or \
            units != sorted(set(units), key="hms".index):
        raise ConfigError(f"train.time_budget = {text!r}: give a duration such as 20m, 1h30m or 90s")
    seconds = sum(float(value) * {"h": 3600, "m": 60, "s": 1}[unit] for value, unit in parts)
    if seconds <= 0:
        raise ConfigError(f"train.time_budget = {text!r} must be longer than zero")
    return seconds


def to_toml(data: dict, header: str = "") -> str:
    """``data`` as TOML, under ``header`` as comment lines."""
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + tomli_w.dumps(data)


def config_toml(cfg: Config) -> str:
    return to_toml(to_dict(cfg), header="Resolved training config (defaults < preset < --config < options).\n"
                   "Rerun with: sr-train --shards STORE --config THIS_FILE")
