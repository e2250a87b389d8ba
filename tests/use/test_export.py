"""``sr-train export``: ONNX checked against torch with onnxruntime (skipped without the ``onnx`` extra),
safetensors / pth in fp32 and fp16, the .json beside every file, and ONNX files in ``sr-train upscale``."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from srkit.cli.train import app
from srkit.train.export import ExportError, export_file, export_model
from srkit.train.inference import ModelFileError, load_model
from srkit.train.models import build_model
from srkit.train.upscale import upscale_array

TINY = {"compact": {"num_feat": 8, "num_conv": 2}, "span": {"num_feat": 8},
        "realplksr": {"num_feat": 8, "num_block": 1, "kernel_size": 5, "dysample": True},
        "rrdbnet": {"num_feat": 8, "num_block": 1}}


def exported(tmp_path, arch="compact", channels=1, scale=2):
    torch.manual_seed(0)
    model = build_model(arch, channels, channels, scale, **TINY[arch])
    with torch.no_grad():  # away from the init, so every weight shows in the output
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    export_model(model.eval(), tmp_path / "run")
    return tmp_path / "run" / "model.safetensors"


def test_safetensors_and_pth_exports_in_fp16_load_back(tmp_path):
    source = exported(tmp_path, "span", 3, 2)
    img = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    reference = upscale_array(load_model(source), img, tile=0).astype(int)
    for fmt in ("safetensors", "pth"):
        path, diff = export_file(source, fmt, half=True)
        assert diff is None and path.name == f"model_fp16.{fmt}"
        info = json.loads(path.with_suffix(".json").read_text())
        assert (info["arch"], info["scale"], info["in_channels"], info["dtype"]) == ("span", 2, 3, "float16")
        assert info["value_range"] == [0.0, 1.0] and info["layout"] == "NCHW"
        again = upscale_array(load_model(path), img, tile=0).astype(int)
        assert np.abs(again - reference).max() <= 2  # fp16 weights: about three significant digits
    with pytest.raises(ExportError, match="is the model being exported"):
        export_file(source, "safetensors")
    with pytest.raises(ExportError, match="--format"):
        export_file(source, "tflite")


def test_a_run_writes_the_io_convention_into_model_json(tmp_path):
    info = json.loads((exported(tmp_path).parent / "model.json").read_text())
    assert info["value_range"] == [0.0, 1.0] and info["layout"] == "NCHW" and info["scale"] == 2


def test_missing_extra_is_a_clear_message(tmp_path, monkeypatch):
    source = exported(tmp_path)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = CliRunner().invoke(app, ["export", str(source), "--format", "onnx"])
    assert result.exit_code == 2 and 'pip install -e ".[onnx]"' in result.output.replace("\n", "")
    (tmp_path / "run" / "model.onnx").write_bytes(b"not really")
    with pytest.raises(ModelFileError, match=r"\[onnx\]"):
        load_model(tmp_path / "run" / "model.onnx")


onnx_extra = pytest.mark.skipif(any(__import__("importlib").util.find_spec(m) is None
                                    for m in ("onnx", "onnxruntime")),
                                reason='the optional extra is not installed: pip install -e ".[onnx]"')


@onnx_extra
@pytest.mark.parametrize(("arch", "channels", "scale"), [("compact", 1, 4), ("span", 3, 2),
                                                         ("realplksr", 1, 2), ("rrdbnet", 3, 8)])
def test_onnx_export_matches_torch_and_upscales_like_it(tmp_path, arch, channels, scale):
    source = exported(tmp_path, arch, channels, scale)
    result = CliRunner().invoke(app, ["export", str(source), "--format", "onnx", "--opset", "17"])
    assert result.exit_code == 0, result.output
    assert "max |diff|" in result.output
    path = tmp_path / "run" / "model.onnx"
    diff = float(result.output.split("max |diff|")[1].split()[0])
    assert diff <= 1e-4
    onnx_model, torch_model = load_model(path), load_model(source)
    assert type(onnx_model.model).__name__ == "OnnxModel" and onnx_model.scale == scale
    img = np.random.default_rng(1).integers(0, 256, (37, 45, channels), dtype=np.uint8)
    # Tiled: several tile sizes reach the graph, which must take any height and width.
    ours = upscale_array(onnx_model, img, tile=20, overlap=6).astype(int)
    reference = upscale_array(torch_model, img, tile=20, overlap=6).astype(int)
    assert ours.shape == (37 * scale, 45 * scale, channels)
    assert np.abs(ours - reference).max() <= 1


@onnx_extra
def test_onnx_fp16_export_and_the_backend_option(tmp_path):
    source = exported(tmp_path, "compact", 3, 2)
    path, diff = export_file(source, "onnx", half=True)
    assert path.name == "model_fp16.onnx" and diff <= 1e-2
    page = tmp_path / "page.png"
    from srkit.core.images import write_png

    write_png(page, np.random.default_rng(2).integers(0, 256, (30, 26, 3), dtype=np.uint8))
    runner = CliRunner()
    ok = runner.invoke(app, ["upscale", str(path), str(page), "--out", str(tmp_path / "up"),
                             "--backend", "onnxruntime"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "up" / "page.png").is_file()
    wrong = runner.invoke(app, ["upscale", str(source), str(page), "--backend", "onnxruntime"])
    assert wrong.exit_code == 2 and "--format onnx" in wrong.output


@onnx_extra
def test_an_onnx_model_runs_the_modes_and_never_writes_over_an_input(tmp_path):
    source = exported(tmp_path, "compact", 1, 2)
    path, _ = export_file(source, "onnx")
    pages = tmp_path / "pages"
    pages.mkdir()
    from srkit.core.images import read_image, write_png

    write_png(pages / "p.png", np.random.default_rng(3).integers(0, 256, (30, 26), dtype=np.uint8))
    before = (pages / "p.png").read_bytes()
    runner = CliRunner()
    clash = runner.invoke(app, ["upscale", str(path), str(pages / "p.png"), "--out", str(pages),
                                "--backend", "onnxruntime"])
    assert clash.exit_code == 2 and "p.png" in clash.output
    assert (pages / "p.png").read_bytes() == before
    out = tmp_path / "up"
    ok = runner.invoke(app, ["upscale", str(path), str(pages), "--out", str(out), "--mode", "enhance",
                             "--passes", "2", "--denoise", "bilateral", "--tile", "12", "--overlap", "6"])
    assert ok.exit_code == 0, ok.output
    img, _ = read_image(out / "p.png", color="auto")
    assert img.shape[:2] == (30, 26)  # enhance keeps the size, twice
    by_torch = runner.invoke(app, ["upscale", str(source), str(pages), "--out", str(tmp_path / "t"),
                                   "--mode", "enhance", "--passes", "2", "--denoise", "bilateral",
                                   "--tile", "12", "--overlap", "6"])
    assert by_torch.exit_code == 0, by_torch.output
    theirs, _ = read_image(tmp_path / "t" / "p.png", color="auto")
    assert np.abs(img.astype(int) - theirs.astype(int)).max() <= 1
