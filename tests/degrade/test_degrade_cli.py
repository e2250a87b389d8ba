"""The degrade-stage commands through the real `sr-data` app: recipes, degrade, replay, preview."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from typer.testing import CliRunner

from srkit import recipes
from srkit.cli.data import app
from srkit.core.images import read_png
from srkit.core.manifest import read_jsonl
from srkit.core.workspace import DEGRADATIONS_LOG

runner = CliRunner()


def said(result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_recipes_lists_every_shipped_recipe_with_its_description():
    result = runner.invoke(app, ["recipes"])
    assert result.exit_code == 0, result.output
    for name, description in recipes.shipped_recipes():
        assert name in result.stdout and description in result.stdout


def test_recipes_show_prints_the_file_and_rejects_unknown_names(tmp_path):
    result = runner.invoke(app, ["recipes", "show", "realesrgan_x4"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (recipes.RECIPES_DIR / "realesrgan_x4.toml").read_text()
    assert "content hash" in result.stderr
    result = runner.invoke(app, ["recipes", "show", "nope"])
    assert result.exit_code == 2
    assert "rawkuma_like" in said(result)
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\ndescription = ""\nscale = 2\n[[steps]]\nop = "jpeg"\nquality = [1, 500]\n')
    result = runner.invoke(app, ["recipes", "show", str(bad)])
    assert result.exit_code == 2
    assert "steps[0].quality" in said(result) and "bad.toml" in said(result)


def test_degrade_replay_preview_in_a_working_folder(tiles_dir, monkeypatch):
    work = tiles_dir.parent
    monkeypatch.chdir(work)
    result = runner.invoke(app, ["degrade", "--recipe", "rawkuma_like", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    out = work / "lr" / "rawkuma_like"
    assert len(list(read_jsonl(out / DEGRADATIONS_LOG))) == 12
    assert "12 sample(s) made" in said(result) and "jpeg" in said(result) and "ms each" in said(result)
    assert "sr-data replay" in said(result)  # names the next command

    again = runner.invoke(app, ["degrade", "--recipe", "rawkuma_like", "--jobs", "1"])
    assert again.exit_code == 0 and "12 already done" in said(again)

    result = runner.invoke(app, ["replay", "lr/rawkuma_like"])
    assert result.exit_code == 0, result.output
    assert "12 identical, 0 not" in said(result)

    result = runner.invoke(app, ["preview", "--n", "5"])
    assert result.exit_code == 0, result.output
    sheet = read_png(work / "preview.png")
    assert sheet.ndim == 3 and sheet.shape[1] > 300 and sheet.shape[0] > 3 * 64

    refused = runner.invoke(app, ["degrade", "--recipe", "rawkuma_like", "--seed", "5"])
    assert refused.exit_code == 2 and "use another --out or delete" in said(refused)


def test_replay_exit_code_is_one_on_a_mismatch_and_names_the_sample(tiles_dir, tmp_path):
    out = tmp_path / "lr"
    assert runner.invoke(app, ["degrade", "-r", "bicubic_x4", "--tiles", str(tiles_dir), "--out", str(out),
                               "--jobs", "1"]).exit_code == 0
    records = list(read_jsonl(out / DEGRADATIONS_LOG))
    records[4]["lr_sha256"] = "0" * 64
    records[4]["versions"]["numpy"] = "1.0.0"
    (out / DEGRADATIONS_LOG).write_text("".join(json.dumps(r) + "\n" for r in records))
    result = runner.invoke(app, ["replay", str(out / DEGRADATIONS_LOG)])
    assert result.exit_code == 1
    assert records[4]["key"] in said(result) and "numpy 1.0.0" in said(result)
    assert "11 identical, 1 not" in said(result)
    only = runner.invoke(app, ["replay", str(out), "--keys", f"{records[0]['key']},{records[1]['key']}"])
    assert only.exit_code == 0 and "2 identical" in said(only)
    unknown = runner.invoke(app, ["replay", str(out), "--keys", "nope"])
    assert unknown.exit_code == 2


def test_replay_with_moved_tiles_needs_tiles_option(tiles_dir, tmp_path):
    out = tmp_path / "lr"
    runner.invoke(app, ["degrade", "-r", "bicubic_x2", "--tiles", str(tiles_dir), "--out", str(out),
                        "-j", "1"])
    moved = tmp_path / "moved"
    shutil.move(str(tiles_dir), str(moved))
    assert runner.invoke(app, ["replay", str(out)]).exit_code == 2
    assert runner.invoke(app, ["replay", str(out), "--tiles", str(moved)]).exit_code == 0


def test_degrade_with_a_bad_tile_exits_one(tiles_dir, tmp_path):
    first = next(tiles_dir.glob("*.png"))
    first.write_bytes(b"")
    result = runner.invoke(app, ["degrade", "-r", "bicubic_x2", "--tiles", str(tiles_dir),
                                 "--out", str(tmp_path / "lr"), "-j", "1"])
    assert result.exit_code == 1
    assert "[bad tile]" in said(result) and first.stem in said(result)


def test_usage_errors_exit_two(tmp_path):
    result = runner.invoke(app, ["degrade", "-r", "rawkuma_like", "--tiles", str(tmp_path)])
    assert result.exit_code == 2 and "sr-data tile" in said(result)
    result = runner.invoke(app, ["preview"], catch_exceptions=False)
    assert result.exit_code == 2


def test_help_explains_exit_codes():
    result = subprocess.run([sys.executable, "-m", "srkit.cli.data", "degrade", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "Exit codes" in result.stdout and "--recipe" in result.stdout
