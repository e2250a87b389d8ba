"""Degrade at the edges, through `sr-data`: a recipe that cannot make pairs is refused when loaded,
sizes are bounded relative to the HR, and a moved workspace still replays and previews."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from srkit.cli.data import app
from srkit.core.console import EXIT_OK, EXIT_USAGE
from srkit.degrade.plan import MAX_GROWTH

runner = CliRunner(env={"COLUMNS": "400"})

HEAD = 'name = "{name}"\ndescription = "test"\nscale = 4\n'


def said(result) -> str:
    return " ".join(result.output.split())


def test_a_recipe_that_does_not_reach_hr_over_scale_is_refused_by_name(tiles_dir, tmp_path):
    bad = tmp_path / "half.toml"
    bad.write_text(HEAD.format(name="half_only") + '[[steps]]\nop = "resize"\nfactor = 0.5\n')
    for command in (["recipes", "show", bad], ["degrade", "--recipe", bad, "--tiles", tiles_dir, "-j", "1"]):
        result = runner.invoke(app, list(map(str, command)))
        assert result.exit_code == EXIT_USAGE, result.output
        text = said(result)
        assert "recipe 'half_only', dry run on a 256x256 synthetic tile" in text
        assert "its output is 128x128, not HR / 4 = 64x64" in text and "bad tile" not in text
    assert not (tmp_path / "lr").exists()


@pytest.mark.parametrize("step", ['op = "resize"\nsize = [100000, 100000]',
                                  'op = "resize"\nfactor = 16\n[[steps]]\nop = "resize"\nfactor = 16'])
def test_sizes_are_bounded_relative_to_the_hr(tmp_path, step):
    recipe = tmp_path / "huge.toml"
    final = '[[steps]]\nop = "resize"\nto = "final"\n'
    recipe.write_text(HEAD.format(name="huge") + f"[[steps]]\n{step}\n" + final)
    result = runner.invoke(app, ["recipes", "show", str(recipe)])
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"is more than {MAX_GROWTH} x the HR tile (256x256)" in said(result)
    assert "MemoryError" not in result.output and "Traceback" not in result.output


def test_a_moved_workspace_still_replays_and_previews(tiles_dir, tmp_path, monkeypatch):
    work = tmp_path / "ws"
    shutil.copytree(tiles_dir, work / "tiles")
    monkeypatch.chdir(work)
    assert runner.invoke(app, ["degrade", "--recipe", "bicubic_x2", "-j", "1"]).exit_code == EXIT_OK
    info = json.loads((work / "lr" / "bicubic_x2" / "run.json").read_text())
    assert info["tiles_dir"] == "../../tiles"
    assert info["tiles_dir_absolute"] == str((work / "tiles").resolve())
    moved = tmp_path / "moved"
    shutil.move(str(work), moved)
    monkeypatch.chdir(moved)
    replay = runner.invoke(app, ["replay", "lr/bicubic_x2", "-j", "1"])
    assert replay.exit_code == EXIT_OK, replay.output
    assert f"against HR tiles in {(moved / 'tiles').resolve()}: 12 identical, 0 not" in said(replay)
    preview = runner.invoke(app, ["preview", "--lr", "lr/bicubic_x2", "--n", "2"])
    assert preview.exit_code == EXIT_OK, preview.output
    # an LR set copied alone falls back to the tiles where run.json recorded them
    shutil.copytree(moved / "lr", tmp_path / "elsewhere" / "lr")
    (work / "tiles").parent.mkdir()
    shutil.move(str(moved / "tiles"), work / "tiles")
    replay = runner.invoke(app, ["replay", str(tmp_path / "elsewhere" / "lr" / "bicubic_x2"), "-j", "1"])
    assert replay.exit_code == EXIT_OK, replay.output
    assert f"against HR tiles in {(work / 'tiles').resolve()}: 12 identical" in said(replay)
