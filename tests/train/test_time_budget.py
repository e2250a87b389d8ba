"""``--time-budget``: the schedule spans the budget, the run ends validated and exported when it is spent,
and a resumed run continues the same budget (a test clock makes it exact)."""

from __future__ import annotations

import json
import time

import pytest
import torch

from srkit.core.manifest import read_jsonl
from srkit.train.config import ConfigError, parse_duration, resolve
from srkit.train.loop import train
from srkit.train.schedule import RunClock

TINY = {"model": {"arch": "compact", "options": {"num_feat": 8, "num_conv": 1}},
        "data": {"gt_size": 32, "batch_size": 4, "workers": 0, "val_max": 2},
        "optim": {"lr": 1e-3, "schedule": "cosine", "min_lr_ratio": 0.0},
        "train": {"log_every": 1, "val_every": 1000, "ckpt_every": 1000, "time_budget": "10s"}}


def tiny(out, **train_options):
    over = json.loads(json.dumps(TINY))
    over["train"].update(out=str(out), **train_options)
    return resolve(overrides=over)


def ticking(start: float = 0.0, step: float = 1.0):
    """A clock that advances ``step`` seconds each time it is read: once when the run starts and once
    per iteration, so a budget of N s is N iterations."""
    now = [start - step]

    def read() -> float:
        now[0] += step
        return now[0]

    return read


def test_the_run_ends_when_the_budget_is_spent_validated_and_exported(manga_store, tmp_path):
    cfg = tiny(tmp_path / "run")
    result = train(cfg, manga_store, quiet=True, clock=RunClock.for_config(cfg, now=ticking()))
    assert result.iterations == 10  # 1 s per iteration, 10 s of budget
    records = list(read_jsonl(tmp_path / "run" / "metrics.jsonl"))
    rates = [r["lr"] for r in records if r["kind"] == "train"]
    assert len(rates) == 10 and rates == sorted(rates, reverse=True)
    assert rates[0] == pytest.approx(1e-3) and rates[-1] < 0.03 * 1e-3  # the cosine spans the budget
    assert [r["iter"] for r in records if r["kind"] == "val"] == [10]
    from srkit.train.export import load_exported

    model = load_exported(result.model_path)
    assert model(torch.rand(1, 1, 8, 8)).shape == (1, 1, 32, 32)


def test_a_resumed_run_spends_the_rest_of_the_budget_and_ends_the_same(manga_store, tmp_path):
    whole = tiny(tmp_path / "whole")
    expected = train(whole, manga_store, quiet=True, clock=RunClock.for_config(whole, now=ticking()))
    cut = tiny(tmp_path / "cut")
    first = train(cut, manga_store, quiet=True, stop_at=4, clock=RunClock.for_config(cut, now=ticking()))
    assert first.model_path is None and first.iterations == 4
    # Another session, another clock origin: only the training seconds already spent count.
    again = train(cut, manga_store, quiet=True, clock=RunClock.for_config(cut, now=ticking(5000.0)))
    assert again.iterations == 10 and again.model_path is not None
    for key, value in expected.generator_state.items():
        assert torch.equal(value, again.generator_state[key]), key


def test_a_real_budget_stops_on_time(manga_store, tmp_path):
    cfg = tiny(tmp_path / "real", time_budget="3s")
    started = time.monotonic()
    result = train(cfg, manga_store, quiet=True)
    took = time.monotonic() - started
    assert result.iterations >= 1 and result.model_path is not None
    assert took < 3 + 60, took  # the budget, then one iteration, validation and the export


def test_durations_and_what_a_budget_does_not_combine_with():
    assert parse_duration("20m") == 1200 and parse_duration("1h30m") == 5400
    assert parse_duration("90s") == 90 and parse_duration("1.5m") == 90
    for bad in ("20", "m", "20x", "5s1m", "0m", "1m1m", ""):
        with pytest.raises(ConfigError):
            parse_duration(bad)
    with pytest.raises(ConfigError, match="multistep"):
        resolve(overrides={"optim": {"schedule": "multistep"}, "train": {"time_budget": "5m"}})
    with pytest.raises(ConfigError, match="duration"):
        resolve(overrides={"train": {"time_budget": "soon"}})


def test_the_option_is_on_the_command_line():
    from typer.testing import CliRunner

    from srkit.cli.train import app

    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert "--time-budget" in result.output
