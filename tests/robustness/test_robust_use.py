"""Using a model at the edges, through the real CLI: `sr-train upscale` never writes over what it reads
and fails on a full memory in one line; `sr-train eval` never prints a false table."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from robust_helpers import (
    TRAIN_CLI,
    assert_no_traceback,
    cli_env,
    manga_like,
    run_cli,
    temp_leftovers,
    write_cv,
)

from srkit.core.console import EXIT_FAILED, EXIT_OK, EXIT_SKIPPED, EXIT_USAGE


@pytest.fixture(scope="module")
def model_x2(tmp_path_factory) -> Path:
    return _model(tmp_path_factory.mktemp("m2"), 2)


@pytest.fixture(scope="module")
def model_x4(tmp_path_factory) -> Path:
    return _model(tmp_path_factory.mktemp("m4"), 4)


def _model(folder: Path, scale: int) -> Path:
    import torch
    from safetensors.torch import save_file

    from srkit.train.models import build_model

    torch.manual_seed(0)
    model = build_model("compact", 1, 1, scale, num_feat=4, num_conv=1)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "model.json").write_text(json.dumps(model.arch_config))
    return folder / "model.safetensors"


# ---------------------------------------------------------------------------------- upscale


def test_upscale_never_writes_over_an_input(model_x2, tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    write_cv(imgs / "bird.png", manga_like(40, 32, seed=1))
    write_cv(imgs / "cat.jpg", manga_like(40, 32, seed=2))
    before = {p.name: p.read_bytes() for p in imgs.iterdir()}
    (tmp_path / "link").symlink_to(imgs, target_is_directory=True)
    for args in (["imgs/bird.png", "--out", "imgs"], ["imgs", "--out", "./imgs/../imgs"],
                 ["imgs", "--out", "link"], ["link/bird.png", "--out", "imgs"]):
        run = run_cli("train", ["upscale", model_x2, *args, "--device", "cpu"], tmp_path)
        assert run.returncode == EXIT_USAGE, run.describe()
        assert_no_traceback(run)
        errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error")]
        assert len(errors) == 1 and "would overwrite" in errors[0] and "bird.png" in errors[0], run.describe()
        assert {p.name: p.read_bytes() for p in imgs.iterdir()} == before, "an input was touched"


def test_upscale_out_of_memory_is_one_line_and_exit_3(model_x4, tmp_path):
    """A result larger than the memory left: one line naming the file, exit 3, nothing half-written."""
    page = write_cv(tmp_path / "big.png", manga_like(1000, 1000, seed=3))  # x4 twice: 16000^2 = 256 MB
    code = ("import resource, sys\n"
            "import numpy, torch, cv2\n"
            "from srkit.cli.train import main\n"
            "vm = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024\n"
            "resource.setrlimit(resource.RLIMIT_AS, (vm + 200_000_000, vm + 200_000_000))\n"
            "sys.argv = ['sr-train'] + sys.argv[1:]\n" + TRAIN_CLI)
    import subprocess

    out = tmp_path / "up"
    done = subprocess.run([sys.executable, "-c", code, "upscale", str(model_x4), str(page), "--out", str(out),
                           "--passes", "2", "--device", "cpu", "--tile", "128"],
                          cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == EXIT_FAILED, done.stderr
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr, done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error")]
    assert len(errors) == 1 and "big.png" in errors[0] and "memory" in errors[0], done.stderr
    assert not (out / "big.png").exists() and temp_leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------- eval


def _pages(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_cv(folder / f"page{i}.png", manga_like(64, 56, seed=10 + i))
    return folder


def test_eval_with_a_blank_page_prints_no_inf_and_says_why(model_x2, tmp_path):
    images = _pages(tmp_path / "images")
    write_cv(images / "blank.png", np.full((64, 56), 255, np.uint8))
    run = run_cli("train", ["eval", model_x2, "--images", images, "--recipe", "bicubic_x2", "--out",
                            tmp_path / "ev", "--device", "cpu"], tmp_path)
    assert run.returncode == EXIT_SKIPPED, run.describe()
    assert_no_traceback(run)
    tables = (tmp_path / "ev" / "table.csv").read_text() + (tmp_path / "ev" / "table.md").read_text()
    assert "inf" not in tables
    assert len(run.lines_naming("blank.png")) == 1 and "undefined" in run.lines_naming("blank.png")[0]
    row = next(csv.DictReader(open(tmp_path / "ev" / "table.csv")))
    assert (row["images"], row["excluded"]) == ("2", "1") and float(row["model PSNR"]) > 0


def test_eval_skips_a_tiny_image_and_scores_the_rest(model_x2, tmp_path):
    images = _pages(tmp_path / "images")
    write_cv(images / "tiny17.png", manga_like(17, 17, seed=4))
    run = run_cli("train", ["eval", model_x2, "--images", images, "--recipe", "bicubic_x{scale}", "--scales",
                            "2,4", "--out", tmp_path / "ev", "--device", "cpu"], tmp_path)
    assert run.returncode == EXIT_SKIPPED, run.describe()
    assert_no_traceback(run)
    skipped = [ln for ln in run.output.splitlines() if ln.startswith("skipped")]
    assert len(skipped) == 1 and "tiny17.png" in skipped[0], run.describe()
    assert "too small for x4 " in skipped[0], run.describe()
    rows = list(csv.DictReader(open(tmp_path / "ev" / "table.csv")))
    assert [(r["scale"], r["images"]) for r in rows] == [("2x", "3"), ("4x", "2")]  # 17 px is enough at x2


def test_eval_refuses_scale_problems_before_any_work(model_x2, model_x4, tmp_path):
    images = _pages(tmp_path / "images")
    for args, words in [
        ([model_x4, "--recipe", "bicubic_x2"], ["x4", "x2"]),
        ([model_x2, "--recipe", "bicubic_x{scale}", "--scales", "2,7"], ["bicubic_x7"]),
    ]:
        run = run_cli("train", ["eval", *args, "--images", images, "--out", tmp_path / "ev",
                                "--device", "cpu"], tmp_path)
        assert run.returncode == EXIT_USAGE, run.describe()
        assert_no_traceback(run)
        assert all(w in run.stderr for w in words), run.describe()
        assert not (tmp_path / "ev").exists()


def test_eval_that_scores_nothing_writes_and_claims_nothing(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    write_cv(images / "tiny.png", manga_like(12, 12, seed=5))
    (images / "broken.png").write_bytes(b"not a png")
    run = run_cli("train", ["eval", "--images", images, "--recipe", "bicubic_x2", "--out", tmp_path / "ev"],
                  tmp_path)
    assert run.returncode == EXIT_SKIPPED, run.describe()
    assert_no_traceback(run)
    assert "wrote" not in run.output
    assert not (tmp_path / "ev").exists() or not any((tmp_path / "ev").iterdir())


def test_eval_plans_replay_identically(tmp_path):
    images = _pages(tmp_path / "images")
    run = run_cli("train", ["eval", "--images", images, "--recipe", "rawkuma_like", "--out", tmp_path / "ev"],
                  tmp_path)
    assert run.returncode == EXIT_OK, run.describe()
    replay = run_cli("data", ["replay", tmp_path / "ev", "--jobs", "1"], tmp_path)
    assert replay.returncode == EXIT_OK, replay.describe()
    assert "2 identical, 0 not" in " ".join(replay.output.split())
    moved = tmp_path / "moved"
    os.rename(images, moved)
    replay = run_cli("data", ["replay", tmp_path / "ev", "--tiles", moved, "--jobs", "1"], tmp_path)
    assert replay.returncode == EXIT_OK, replay.describe()
