from __future__ import annotations

import csv
import json

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from srkit.core.images import write_png
from srkit.train.evaluate import evaluate
from srkit.train.models import build_model


def test_eval_table_matches_a_hand_computed_psnr(tmp_path):
    rng = np.random.default_rng(3)
    hr = rng.integers(0, 256, (34, 30), dtype=np.uint8)  # modcrop to 34 x 30 at x2 keeps it whole
    write_png(tmp_path / "img.png", hr)
    result = evaluate(None, [tmp_path / "img.png"], "bicubic_x2", out_dir=tmp_path / "eval")
    # by hand: Pillow bicubic down by 2, nearest up by 2 (pixel repeat), Y = gray, shave 2, PSNR
    lr = np.asarray(Image.fromarray(hr).resize((15, 17), Image.Resampling.BICUBIC))
    up = np.repeat(np.repeat(lr, 2, axis=0), 2, axis=1).astype(np.float64)
    mse = np.mean((up[2:-2, 2:-2] - hr[2:-2, 2:-2].astype(np.float64)) ** 2)
    expected = 10 * np.log10(255.0**2 / mse)
    psnr, _ = result.mean(2, "nearest")
    assert abs(psnr - expected) < 1e-9
    rows = list(csv.DictReader(open(tmp_path / "eval" / "table.csv")))
    assert rows[0]["scale"] == "2x" and abs(float(rows[0]["nearest PSNR"]) - expected) < 1e-3
    assert "| scale |" in (tmp_path / "eval" / "table.md").read_text()
    plans = [json.loads(line) for line in open(tmp_path / "eval" / "degradations.jsonl")]
    assert plans[0]["recipe"] == "bicubic_x2" and plans[0]["steps"]  # named as in sr-data degrade logs


def test_eval_runs_the_model_and_baselines(tmp_path):
    torch.manual_seed(0)
    model = build_model("compact", 1, 1, 2, num_feat=8, num_conv=2)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    (tmp_path / "m.json").write_text(json.dumps(model.arch_config))
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        write_png(images / f"{i}.png", np.random.default_rng(i).integers(0, 256, (40, 36), dtype=np.uint8))
    result = evaluate(tmp_path / "m.safetensors", sorted(images.iterdir()), "bicubic_x2",
                      out_dir=tmp_path / "eval", save_images=True)
    assert result.methods == ["nearest", "bilinear", "bicubic", "model"]
    assert all(len(result.scores[(2, m)]) == 2 for m in result.methods)
    assert len(list((tmp_path / "eval" / "images").iterdir())) == 2


def test_eval_of_a_scale1_model_on_a_down_up_recipe(tmp_path):
    torch.manual_seed(0)
    model = build_model("srcnn", 1, 1, 1)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    config = dict(model.arch_config, pre_upsample=2)  # what the trainer writes for a scale-1 store
    (tmp_path / "m.json").write_text(json.dumps(config))
    write_png(tmp_path / "img.png", np.random.default_rng(0).integers(0, 256, (40, 36), dtype=np.uint8))
    result = evaluate(tmp_path / "m.safetensors", [tmp_path / "img.png"], "srcnn_bicubic_x2",
                      out_dir=tmp_path / "eval")
    assert result.scales == [2] and len(result.scores[(2, "model")]) == 1


def test_eval_skips_a_tiny_image_and_names_its_real_size(tmp_path):
    write_png(tmp_path / "tiny.png", np.zeros((1, 1), np.uint8))
    result = evaluate(None, [tmp_path / "tiny.png"], "bicubic_x2", out_dir=tmp_path / "eval")
    assert len(result.skipped) == 1 and "1 x 1 pixels" in result.skipped[0]


# ------------------------------------------------------------------ through the command


def _sr_train(args, cwd, monkeypatch):
    from typer.testing import CliRunner

    from srkit.cli.train import app

    monkeypatch.chdir(cwd)
    monkeypatch.setenv("COLUMNS", "300")
    return CliRunner().invoke(app, [str(a) for a in args])


def _model(folder, arch="compact", scale=2, pre_upsample=None, **options):
    torch.manual_seed(0)
    model = build_model(arch, 1, 1, scale, **options)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    config = dict(model.arch_config, **({"pre_upsample": pre_upsample} if pre_upsample else {}))
    (folder / "model.json").write_text(json.dumps(config))
    return folder / "model.safetensors"


def _pages(folder, n=2, h=48, w=40):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_png(folder / f"p{i}.png", np.random.default_rng(i).integers(0, 256, (h, w), dtype=np.uint8))
    return folder


def test_a_blank_page_is_left_out_of_the_means_never_inf(tmp_path, monkeypatch):
    images = _pages(tmp_path / "images")
    write_png(images / "blank.png", np.full((48, 40), 255, np.uint8))
    run = _sr_train(["eval", "--images", images, "--recipe", "bicubic_x2", "--out", "ev"], tmp_path,
                    monkeypatch)
    assert run.exit_code == 1, run.output
    assert "inf" not in (tmp_path / "ev" / "table.csv").read_text()
    rows = list(csv.DictReader(open(tmp_path / "ev" / "table.csv")))
    assert rows[0]["images"] == "2" and rows[0]["excluded"] == "1"
    assert "left out of the means" in run.output and "blank.png" in run.output and "undefined" in run.output
    assert "inf" not in run.output.replace("info", "")


def test_a_tiny_image_is_skipped_by_name_and_the_others_are_scored(tmp_path, monkeypatch):
    images = _pages(tmp_path / "images")
    write_png(images / "small.png", np.zeros((17, 17), np.uint8))
    model = _model(tmp_path / "m", scale=4, num_feat=4, num_conv=1)
    run = _sr_train(["eval", model, "--images", images, "--recipe", "bicubic_x4", "--out", "ev",
                     "--device", "cpu"], tmp_path, monkeypatch)
    assert run.exit_code == 1, run.output
    skipped = [ln for ln in run.output.splitlines() if ln.startswith("skipped")]
    assert len(skipped) == 1 and "small.png" in skipped[0] and "17 x 17" in skipped[0]
    rows = list(csv.DictReader(open(tmp_path / "ev" / "table.csv")))
    assert rows[0]["images"] == "2" and rows[0]["model PSNR"]


def test_scale_problems_are_usage_errors_before_any_work(tmp_path, monkeypatch):
    images = _pages(tmp_path / "images")
    x4 = _model(tmp_path / "m4", scale=4, num_feat=4, num_conv=1)
    x2 = _model(tmp_path / "m2", scale=2, num_feat=4, num_conv=1)
    for args, words in [
        ([x4, "--recipe", "bicubic_x2"], ["x4", "x2"]),
        ([x2, "--recipe", "srcnn_bicubic_x2"], ["keeps the HR size"]),
        ([x2, "--recipe", "bicubic_x{scale}", "--scales", "2,3,5"], ["bicubic_x5", "no shipped recipe"]),
        ([x2, "--recipe", "bicubic_x4", "--scales", "4,2"], ["bicubic_x4", "not x2"]),
        ([x2, "--recipe", "bicubic_x{scale}"], ["--scales"]),
    ]:
        run = _sr_train(["eval", *args, "--images", images, "--out", "ev", "--device", "cpu"], tmp_path,
                        monkeypatch)
        assert run.exit_code == 2, (args, run.output)
        assert all(w in run.output for w in words), (args, run.output)
        assert not (tmp_path / "ev").exists(), "refused before any work"


def test_nothing_evaluated_writes_nothing_and_says_so(tmp_path, monkeypatch):
    images = tmp_path / "images"
    images.mkdir()
    write_png(images / "small.png", np.zeros((9, 9), np.uint8))
    run = _sr_train(["eval", "--images", images, "--recipe", "bicubic_x2", "--out", "ev"], tmp_path,
                    monkeypatch)
    assert run.exit_code == 1, run.output
    assert "wrote" not in run.output and "no table written" in run.output
    assert not (tmp_path / "ev" / "table.csv").exists() and not (tmp_path / "ev" / "table.md").exists()
    assert not (tmp_path / "ev" / "scores.csv").exists() and not (tmp_path / "ev" / "scores.md").exists()


def test_table_iii_protocol_scale1_and_x2_models_at_2_3_and_4(tmp_path, monkeypatch):
    images = _pages(tmp_path / "images", h=60, w=52)
    srcnn = _model(tmp_path / "srcnn", arch="srcnn", scale=1, pre_upsample=2)
    x2 = _model(tmp_path / "compact", scale=2, num_feat=4, num_conv=1)
    run = _sr_train(["eval", srcnn, x2, "--images", images, "--recipe", "bilinear_x{scale}", "--scales",
                     "2,3,4", "--out", "ev", "--device", "cpu"], tmp_path, monkeypatch)
    assert run.exit_code == 0, run.output
    rows = list(csv.DictReader(open(tmp_path / "ev" / "table.csv")))
    assert [r["scale"] for r in rows] == ["2x", "3x", "4x"]
    for r in rows:
        for method in ("nearest", "bilinear", "bicubic", "srcnn", "compact"):
            assert float(r[f"{method} PSNR"]) > 0 and 0 < float(r[f"{method} SSIM"]) <= 1, (method, r)
    # the scale-1 model at 3x sees the LR bicubic-upscaled to the HR size, as the paper's protocol
    from srkit.degrade.recipe import load_recipe
    from srkit.train.inference import load_model
    from srkit.train.metrics import bicubic_upscale
    from srkit.train.upscale import UpscaleOptions, upscale_image

    hr = np.random.default_rng(0).integers(0, 256, (60, 52), dtype=np.uint8)[:60, :51]
    lr, _ = load_recipe("bilinear_x3").plan_and_apply(np.ascontiguousarray(hr), "p0")
    loaded = load_model(srcnn)
    expected = upscale_image(loaded, bicubic_upscale(lr, (51, 60)), UpscaleOptions(mode="enhance"))
    result = evaluate(srcnn, [images / "p0.png"], "bilinear_x3", out_dir=tmp_path / "one")
    from srkit.train.eval_metrics import score_image

    assert abs(result.mean(3, "model")[0] - score_image(hr, {"model": expected}, 3)["model"]["PSNR"]) < 1e-9


def test_eval_plans_replay_byte_for_byte(tmp_path, monkeypatch):
    images = _pages(tmp_path / "images")
    rgb = np.random.default_rng(5).integers(0, 256, (44, 50, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(images / "photo.jpg", quality=90)
    run = _sr_train(["eval", "--images", images, "--recipe", "rawkuma_like", "--out", "ev"], tmp_path,
                    monkeypatch)
    assert run.exit_code == 0, run.output
    from typer.testing import CliRunner

    from srkit.cli.data import app as data_app

    replay = CliRunner().invoke(data_app, ["replay", "ev", "--jobs", "1"])
    assert replay.exit_code == 0, replay.output
    assert "3 identical, 0 not" in " ".join(replay.output.split())
