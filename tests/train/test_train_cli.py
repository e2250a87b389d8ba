"""``sr-train``: the train command and the coordinator's subcommands share one app; end to end run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import typer
from typer.testing import CliRunner

from srkit.cli.train import app
from srkit.train import cli as train_cli
from srkit.train.config import Config, TrainConfig, cli_options, option

runner = CliRunner()

# The flags sr-train has always had: each must stay, set from its config field.
FLAGS = {"--arch", "--stage", "--init", "--init-disc", "--resume", "--out", "--device", "--iters",
         "--batch-size", "--gt-size", "--lr", "--seed", "--workers", "--vgg-weights", "--gan-loss", "--amp",
         "--compile", "--channels-last", "--grad-accum", "--grad-clip", "--ema", "--val-every",
         "--ckpt-every", "--log-every", "--time-budget"}


def flat(text: str) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(text.split())


def test_help_of_train_and_subcommands():
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for word in ("--shards", "--preset", "--config", "--resume", "--vgg-weights", "upscale", "eval",
                 "Exit codes"):
        assert word in top.output, word
    sub = runner.invoke(app, ["upscale", "--help"])
    assert sub.exit_code == 0 and "--tile" in sub.output


def overrides_given(monkeypatch) -> list[dict]:
    """The overrides each invocation hands to the config layers (nothing trains)."""
    given: list[dict] = []

    def resolve(preset, config_file, overrides):
        given.append(overrides)
        return Config()

    monkeypatch.setattr(train_cli, "resolve", resolve)
    monkeypatch.setattr(train_cli, "train_and_report", lambda cfg, store: None)
    return given


def test_every_option_field_is_a_flag_that_sets_its_key(monkeypatch):
    options = cli_options()
    assert {o.flag for o in options} == FLAGS
    shown = flat(runner.invoke(app, ["--help"]).output)
    given = overrides_given(monkeypatch)
    sample = {str: "x", int: 7, float: 0.5}
    for o in options:
        assert o.flag in shown, o.flag
        section, key = o.path
        runs = [([o.flag], True), ([f"--no-{o.flag[2:]}"], False)] if o.type is bool else \
            [([o.flag, str(sample[o.type])], sample[o.type])]
        for args, value in runs:
            result = runner.invoke(app, ["--shards", "data.lmdb", *args])
            assert result.exit_code == 0, result.output
            assert given[-1] == {section: {key: value}}, args
    runner.invoke(app, ["--shards", "data.lmdb", "--iters", "5", "--set", "train.iters=9", "--lr", "0.1"])
    assert given[-1] == {"train": {"iters": 9}, "optim": {"lr": 0.1}}  # --set comes after the options


@dataclass
class TrainWithRestarts(TrainConfig):
    restarts: int = option(0, "--restarts", "Warm restarts of the cosine schedule.")


@dataclass
class ConfigWithRestarts(Config):
    train: TrainWithRestarts = field(default_factory=TrainWithRestarts)


def test_a_new_field_marked_as_an_option_becomes_one(monkeypatch):
    extended = typer.Typer(add_completion=False, rich_markup_mode=None)
    train_cli.register(extended, ConfigWithRestarts)
    shown = flat(runner.invoke(extended, ["--help"]).output)
    assert "--restarts" in shown and "Warm restarts of the cosine schedule." in shown
    given = overrides_given(monkeypatch)
    result = runner.invoke(extended, ["--shards", "data.lmdb", "--restarts", "3", "--iters", "5"])
    assert result.exit_code == 0, result.output
    assert given == [{"train": {"restarts": 3, "iters": 5}}]


def test_list_presets():
    result = runner.invoke(app, ["--list-presets"])
    assert result.exit_code == 0 and "smoke" in result.output and "esrgan_x4_gan" in result.output


def test_usage_errors_exit_2_with_a_clear_line(manga_store, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nitres = 3\n")
    result = runner.invoke(app, ["--shards", str(manga_store), "--config", str(bad)])
    assert result.exit_code == 2 and "unknown key 'train.itres'" in flat(result.output)
    broken = tmp_path / "broken.lmdb"
    shutil.copytree(manga_store, broken)
    (broken / "index.json").unlink()
    result = runner.invoke(app, ["--shards", str(broken), "--preset", "smoke", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "no index.json" in flat(result.output)
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["--shards", str(manga_store), "--preset", "smoke", "--arch", "nope",
                                 "--out", str(tmp_path / "r2")])
    assert result.exit_code == 2 and "unknown arch" in flat(result.output)


def test_end_to_end_subprocess(manga_store, tmp_path):
    cmd = [sys.executable, "-m", "srkit.cli.train", "--shards", str(manga_store), "--preset", "smoke",
           "--iters", "20", "--out", str(tmp_path / "runs" / "smoke"), "--set", "data.val_max=2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "smoke"
    assert (run / "model.safetensors").is_file() and (run / "config.toml").is_file()
    assert "validation PSNR" in flat(done.stderr) and "bicubic" in done.stderr
    assert f"sr-train upscale {run / 'model.safetensors'} PAGE.png" in flat(done.stderr)


def test_ctrl_c_to_the_whole_group_with_loader_workers(manga_store, tmp_path):
    # A terminal's Ctrl-C reaches the DataLoader workers too: they must live until the trainer has
    # finished its iteration and saved, and nobody prints a traceback.
    import os
    import signal
    import time

    from srkit.train.checkpoint import latest

    run = tmp_path / "runs" / "grp"
    cmd = [sys.executable, "-m", "srkit.cli.train", "--shards", str(manga_store), "--preset", "smoke",
           "--out", str(run), "--set", "data.val_max=1", "--set", "data.workers=2", "--ckpt-every", "100000",
           "--log-every", "1", "--set", "train.grad_accum=32"]  # more batches per iteration than in flight
    proc = subprocess.Popen([*cmd, "--iters", "100000"], stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            start_new_session=True)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.exists() and metrics.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "finishing this iteration" in flat(err), err[-2000:]
    saved = latest(run / "checkpoints")
    assert saved is not None
    assert f"saved a checkpoint at iteration {int(saved.stem.split('_')[1])}" in flat(err)


def test_ctrl_c_saves_a_checkpoint_and_a_rerun_continues(manga_store, tmp_path):
    import signal
    import time

    from srkit.train.checkpoint import latest

    run = tmp_path / "runs" / "int"
    cmd = [sys.executable, "-m", "srkit.cli.train", "--shards", str(manga_store), "--preset", "smoke",
           "--out", str(run), "--set", "data.val_max=1", "--ckpt-every", "100000", "--log-every", "1"]
    proc = subprocess.Popen([*cmd, "--iters", "100000"], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.exists() and metrics.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err[-2000:]
    saved = latest(run / "checkpoints")
    assert saved is not None and "rerun the same command" in flat(err)
    done_at = int(saved.stem.split("_")[1])
    rerun = subprocess.run([*cmd, "--iters", str(done_at + 2)], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"at iteration {done_at}" in flat(rerun.stderr) and (run / "model.safetensors").is_file()
