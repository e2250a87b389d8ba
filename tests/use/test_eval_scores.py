"""``sr-train eval`` reports the manga scores per scale and method, and --save-images shows where the
model loses the most screentone and lines."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from srkit.cli.train import app
from srkit.core.images import write_png
from srkit.demo.pages import manga_page
from srkit.train.evaluate import evaluate, modcrop
from srkit.train.manga_scores import manga_scores
from srkit.train.models import build_model
from srkit.train.score_pairs import COLUMNS


@pytest.fixture
def model_and_pages(tmp_path):
    torch.manual_seed(0)
    model = build_model("compact", 1, 1, 2, num_feat=8, num_conv=2)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    (tmp_path / "m.json").write_text(json.dumps(model.arch_config))
    pages = tmp_path / "pages"
    pages.mkdir()
    for seed in (0, 1):
        write_png(pages / f"{seed}.png", manga_page(400, 300, seed=seed))
    return tmp_path / "m.safetensors", pages


def test_eval_tabulates_the_manga_scores_per_scale_and_method(model_and_pages, tmp_path):
    model, pages = model_and_pages
    files = sorted(pages.iterdir())
    result = evaluate(model, files, "bicubic_x2", out_dir=tmp_path / "eval", save_images=True)
    rows = list(csv.DictReader(open(tmp_path / "eval" / "scores.csv")))
    methods = ("nearest", "bilinear", "bicubic", "model")
    assert [(r["scale"], r["method"]) for r in rows] == [("2x", m) for m in methods]
    assert list(rows[0]) == ["scale", "method", *COLUMNS]
    # the bicubic row is the mean of the scores of each page's bicubic upscale of its LR
    bicubic = []
    for path in files:
        hr = modcrop(np.asarray(Image.open(path)), 2)
        h, w = hr.shape
        lr = np.asarray(Image.fromarray(hr).resize((w // 2, h // 2), Image.Resampling.BICUBIC))
        bicubic.append(manga_scores(np.asarray(Image.fromarray(lr).resize((w, h), Image.Resampling.BICUBIC)),
                                    hr, border=2))
    row = next(r for r in rows if r["method"] == "bicubic")
    for name in ("tone_kept", "line_f1", "paper_noise"):
        assert float(row[name]) == pytest.approx(np.mean([s[name] for s in bicubic]), abs=1e-4)
    psnr, _ = result.mean(2, "bicubic")
    assert float(row["psnr"]) == pytest.approx(psnr, abs=1e-4)
    assert "| scale | method | psnr |" in (tmp_path / "eval" / "scores.md").read_text()
    images = sorted(p.name for p in (tmp_path / "eval" / "images").iterdir())
    assert any(n.endswith("_x2_tone.png") for n in images)
    assert any(n.endswith("_x2_lines.png") for n in images)


def test_eval_command_prints_the_manga_table(model_and_pages, tmp_path):
    model, pages = model_and_pages
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, ["eval", str(model), "--images", str(pages), "--recipe", "bicubic_x2",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "tone" in result.output and "paper" in result.output and (out / "scores.csv").exists()


def test_several_models_each_get_manga_rows_and_the_first_is_judged_in_the_crops(model_and_pages, tmp_path):
    model, pages = model_and_pages
    other = tmp_path / "other" / "model.safetensors"
    other.parent.mkdir()
    other.write_bytes(model.read_bytes())
    (other.parent / "model.json").write_bytes(model.with_suffix(".json").read_bytes())
    out = tmp_path / "eval"
    result = evaluate([model, other], sorted(pages.iterdir()), "bicubic_x2", out_dir=out, save_images=True)
    labels = result.methods[3:]
    assert labels == ["m", "other"]
    rows = list(csv.DictReader(open(out / "scores.csv")))
    assert [r["method"] for r in rows] == ["nearest", "bilinear", "bicubic", *labels]
    assert out / "scores.csv" in result.written and out / "scores.md" in result.written
    crops = sorted((out / "images").glob("*_x2_tone.png"))
    assert crops, "the windows where the first model keeps the least screentone"
