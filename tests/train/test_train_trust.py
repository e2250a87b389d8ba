"""sr-train at the edges: a run folder is one run's (lock), a resume continues only on its own data, the
figures of a summary come from one validation set, the bar moves every iteration, pictures are
labelled, and the messages say what happened."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from train_stores import build_store
from typer.testing import CliRunner

from srkit.cli.train import app
from srkit.core.images import read_png
from srkit.core.locks import folder_lock
from srkit.train.config import resolve
from srkit.train.errors import TrainError
from srkit.train.loop import train

runner = CliRunner(env={"COLUMNS": "400"})
TINY = {"model": {"arch": "compact", "options": {"num_feat": 8, "num_conv": 1}},
        "data": {"gt_size": 32, "batch_size": 4, "workers": 0, "val_max": 2, "shuffle_buffer": 4},
        "train": {"log_every": 2, "val_every": 1000, "ckpt_every": 1000}}


def tiny(out, **sections) -> object:
    over = json.loads(json.dumps(TINY))
    over["train"]["out"] = str(out)
    for section, values in sections.items():
        over.setdefault(section, {}).update(values)
    return resolve(overrides=over)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def bicubic_store(manga_dev_pages, tmp_path_factory) -> Path:
    """The same tiles as ``manga_store``, degraded by another recipe (a re-pack from other LR)."""
    return build_store(tmp_path_factory.mktemp("other") / "data.lmdb", manga_dev_pages, recipe="bicubic_x4")


def test_a_resume_onto_other_data_is_refused(manga_store, bicubic_store, tmp_path):
    run = tmp_path / "r"
    train(tiny(run, train={"iters": 2}), manga_store, quiet=True)
    with pytest.raises(TrainError) as refused:
        train(tiny(run, train={"iters": 4}), bicubic_store, quiet=True)
    message = str(refused.value)
    assert "iter_00000002.pt was trained on other data than" in message
    assert "store contents" in message and "--out runs/NEW_NAME" in message
    with pytest.raises(TrainError, match=r"data.gt_size 32 -> 48"):
        train(tiny(run, data={"gt_size": 48}, train={"iters": 4}), manga_store, quiet=True)
    with pytest.raises(TrainError, match=r"data.order global -> shards"):  # another sample order
        train(tiny(run, data={"order": "shards"}, train={"iters": 4}), manga_store, quiet=True)
    assert train(tiny(run, train={"iters": 4}), manga_store, quiet=True).iterations == 4  # its own data


def test_best_figures_come_from_the_validation_set_of_this_run(manga_store, tmp_path, capsys):
    run = tmp_path / "r"
    first = train(tiny(run, train={"iters": 2, "val_every": 1}), manga_store, quiet=True)
    assert first.best_iter in (1, 2)
    capsys.readouterr()
    more = train(tiny(run, data={"val_max": 3}, train={"iters": 4, "val_every": 1}), manga_store, quiet=True)
    assert "measured on 2 validation pairs, this run uses 3" in flat(capsys.readouterr().err)
    assert more.best_iter in (3, 4) and more.best_psnr >= more.last_psnr - 1e-9


def test_a_run_folder_held_by_another_run_is_refused(manga_store, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    with folder_lock(run, "the other run"):
        with pytest.raises(TrainError, match=r"another sr-train is writing to .*held by process \d+"):
            train(tiny(run, train={"iters": 2}), manga_store, quiet=True)
        assert not (run / "checkpoints").exists()
    assert train(tiny(run, train={"iters": 2}), manga_store, quiet=True).iterations == 2  # free again


def test_the_bar_moves_every_iteration(manga_store, tmp_path, monkeypatch):
    import srkit.train.loop as loop

    steps: list[int] = []

    class Recorder(loop.TrainBar):
        def step(self, it: int) -> None:
            steps.append(it)
            super().step(it)

    monkeypatch.setattr(loop, "TrainBar", Recorder)
    train(tiny(tmp_path / "r", train={"iters": 5, "log_every": 100}), manga_store, quiet=False)
    assert steps == [1, 2, 3, 4, 5]


def test_sample_grids_are_labelled_and_the_plot_puts_one_point_in_its_place(manga_store, tmp_path):
    from srkit.train.plot import COLORS, MARGIN, W, plot_metrics
    from srkit.train.validate import LABEL_H

    run = tmp_path / "r"
    train(tiny(run, data={"val_max": 2}, train={"iters": 6, "val_every": 6}), manga_store, quiet=True)
    grid = read_png(run / "samples" / "iter_00000006.png")
    tile = 192
    assert grid.shape[:2] == (2 * (LABEL_H + tile + 4), 3 * tile)
    for column in range(3):  # a label with dark text over each of bicubic | model | HR
        strip = grid[:LABEL_H, column * tile:(column + 1) * tile]
        assert (strip < 100).sum() > 20, column
    metrics = tmp_path / "m.jsonl"
    metrics.write_text("".join(json.dumps({"kind": "train", "iter": i, "l_pix": 0.1 / i}) + "\n"
                               for i in range(10, 61, 10))
                       + json.dumps({"kind": "val", "iter": 60, "psnr": 20.0, "bicubic_psnr": 19.0}) + "\n")
    plot = read_png(plot_metrics(metrics, tmp_path / "plot.png"))
    panel = plot[300 + 36:600 - 36, MARGIN + 1:W - 21]  # inside the validation panel's frame
    for color in COLORS[:2]:
        ys, xs = np.nonzero((panel == color).all(axis=2))
        assert len(xs) and xs.min() > panel.shape[1] - 8, color  # at iteration 60, the right edge; no legend


def test_messages_say_what_happened(manga_store, tmp_path):
    from srkit.train.cli import versus_bicubic
    from srkit.train.validate import split_warnings

    plain = re.compile(r"\[/?\w+\]")
    assert plain.sub("", versus_bicubic(-0.26)) == "0.26 dB below bicubic"
    assert plain.sub("", versus_bicubic(1.204)) == "1.20 dB above bicubic"
    assert plain.sub("", versus_bicubic(0.001)) == "level with bicubic"
    from srkit.shards.reader import open_store

    with open_store(manga_store) as store:
        warnings = split_warnings(store, 64)
    assert any("validation tiles come from" in w and "optimistic" in w for w in warnings)
    assert any("validation measures 4 sample(s) only" in w for w in warnings)
    shown = flat(runner.invoke(app, ["--help"]).output)
    assert "╭─ Options" in runner.invoke(app, ["--help"]).output  # the rich panels of sr-data
    assert "'stall', the share of the time the trainer waited for data" in shown
    broken = tmp_path / "data.h5"
    from srkit.shards.writer import write_store

    rng = np.random.default_rng(0)
    pairs = [(f"p-0a1b2c3d_{i:05d}_00000", rng.integers(0, 255, (32, 32), np.uint8),
              rng.integers(0, 255, (16, 16), np.uint8)) for i in range(4)]
    write_store(broken, pairs, fmt="hdf5", scale=2)
    (broken / "index.json").unlink()
    result = runner.invoke(app, ["--shards", str(broken), "--preset", "smoke", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "rerun the same `sr-data pack hdf5` command" in flat(result.output)


def test_sr_train_summary_through_the_command(manga_store, tmp_path):
    cmd = [sys.executable, "-m", "srkit.cli.train", "--shards", str(manga_store), "--preset", "smoke",
           "--iters", "8", "--val-every", "8", "--out", str(tmp_path / "run"), "--set", "data.val_max=2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "COLUMNS": "400"})
    assert done.returncode == 0, done.stderr[-3000:]
    text = flat(done.stderr)
    verdict = r"vs bicubic \d+\.\d\d dB: (\d+\.\d\d dB (above|below) bicubic|level with bicubic)"
    assert re.search(verdict, text)
    assert "does not beat" not in text and "by -" not in text
    assert "warning: validation tiles come from" in text
    assert "warning: validation measures 2 sample(s)" in text
    shutil.rmtree(tmp_path / "run")
