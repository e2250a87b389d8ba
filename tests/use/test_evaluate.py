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
    assert plans[0]["recipe"] == "bicubic_x2" and plans[0]["plan"]


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
