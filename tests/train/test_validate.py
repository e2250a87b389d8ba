"""Validation logs the manga scores tone_kept and line_f1 beside PSNR / SSIM, and the plot draws them."""

from __future__ import annotations

import json

import cv2
import numpy as np

from srkit.core.manifest import read_jsonl
from srkit.shards.reader import open_store
from srkit.train.config import resolve
from srkit.train.loop import train
from srkit.train.manga_scores import reference, score_against
from srkit.train.plot import plot_metrics
from srkit.train.validate import VAL_MANGA_SCORES, load_valset, manga_record, mean_manga_scores


def test_valset_scores_the_manga_measures_against_each_hr(manga_store):
    with open_store(manga_store) as store:
        valset = load_valset(store, 4)
    assert len(valset.references) == len(valset.hrs) > 0
    # the HR itself is perfect; the bicubic baseline is what load_valset measured
    assert mean_manga_scores(valset, valset.hrs) == {"tone_kept": 1.0, "line_f1": 1.0}
    assert mean_manga_scores(valset, valset.baselines) == valset.bicubic_manga
    pairs = zip(valset.references, valset.baselines, strict=True)
    bicubic = [score_against(ref, base) for ref, base in pairs]
    assert valset.bicubic_manga["line_f1"] == np.mean([s["line_f1"] for s in bicubic])
    assert 0.0 < valset.bicubic_manga["tone_kept"] < 0.5  # x4 bicubic smears most dots
    record = manga_record(valset, [cv2.GaussianBlur(hr, (0, 0), 2.0) for hr in valset.hrs])
    assert set(record) == {*VAL_MANGA_SCORES, *(f"bicubic_{n}" for n in VAL_MANGA_SCORES)}
    assert record["tone_kept"] < 0.5 and record["line_f1"] < 1.0
    json.dumps(record, allow_nan=False)


def test_nothing_to_measure_is_logged_as_none(manga_store):
    with open_store(manga_store) as store:
        valset = load_valset(store, 4)
    blank = np.full_like(valset.hrs[0], 255)
    valset.references = [reference(blank, valset.border) for _ in valset.hrs]
    assert mean_manga_scores(valset, [blank] * len(valset.hrs)) == {"tone_kept": None, "line_f1": None}


def test_training_logs_them_and_the_plot_draws_them(manga_store, tmp_path):
    cfg = resolve(overrides={
        "model": {"arch": "compact", "options": {"num_feat": 8, "num_conv": 1}},
        "data": {"gt_size": 32, "batch_size": 4, "workers": 0, "val_max": 2, "shuffle_buffer": 4},
        "train": {"iters": 2, "log_every": 1, "val_every": 1, "ckpt_every": 1000,
                  "out": str(tmp_path / "run")}})
    train(cfg, manga_store, quiet=True)
    vals = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "val"]
    assert len(vals) == 2
    for rec in vals:
        for name in VAL_MANGA_SCORES:
            assert rec[name] is None or 0.0 <= rec[name] <= 1.0
            assert rec[f"bicubic_{name}"] == vals[0][f"bicubic_{name}"]
    plot = cv2.imread(str(tmp_path / "run" / "plot.png"))
    assert plot.shape[0] == 900  # losses, PSNR, manga scores
    # a run logged before these scores still plots (its third panel is empty)
    old = tmp_path / "old.jsonl"
    old.write_text('{"kind":"val","iter":1,"psnr":13.0,"bicubic_psnr":12.0}\n')
    assert cv2.imread(str(plot_metrics(old, tmp_path / "old.png"))).shape[0] == 900
