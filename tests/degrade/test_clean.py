"""`sr-data clean`: an HR clean-up recipe over the tiles, into a tiles folder the next stages take."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from srkit.cli.data import app
from srkit.core.console import UsageError
from srkit.core.hashing import sha256_bytes
from srkit.core.images import read_png
from srkit.core.manifest import read_jsonl
from srkit.degrade.clean import clean_tiles
from srkit.degrade.recipe import load_recipe
from srkit.degrade.run import degrade_tiles
from srkit.tiling.manifest import kept_tiles

runner = CliRunner()


def said(result) -> str:
    return " ".join(result.output.split())


def test_msrcnn_clean_is_the_documented_denoise_then_sharpen():
    recipe = load_recipe("msrcnn_clean")
    assert recipe.scale == 1 and recipe.nominal_scale == 1
    assert [(s.op, s.spec) for s in recipe.steps] == [
        ("nlmeans", {"h": 3.0}),
        ("usm", {"weight": 0.5, "kernel_size": 7, "sigma": 1.0, "threshold": 10.0}),
    ]


def test_clean_writes_a_tiles_folder_of_cleaned_tiles_and_leaves_the_source(tiles_dir):
    before = {p.name: p.read_bytes() for p in tiles_dir.iterdir()}
    summary = clean_tiles(tiles_dir, "msrcnn_clean", jobs=1)
    out = tiles_dir.parent / "tiles_msrcnn_clean"
    assert summary.made == 12 and not summary.errors
    assert {p.name: p.read_bytes() for p in tiles_dir.iterdir()} == before, "the source tiles are untouched"
    source, cleaned = kept_tiles(tiles_dir), kept_tiles(out)
    assert [t["key"] for t in cleaned] == [t["key"] for t in source]
    changed = 0
    for tile in cleaned:
        data = (out / tile["file"]).read_bytes()
        assert sha256_bytes(data) == tile["sha256"]
        assert tile["cleaned"]["recipe"] == "msrcnn_clean"
        original = read_png(tiles_dir / tile["file"])
        changed += not np.array_equal(read_png(out / tile["file"]), original)
        assert read_png(out / tile["file"]).shape == original.shape
    assert changed == 12
    again = clean_tiles(tiles_dir, "msrcnn_clean", jobs=1)
    assert again.made == 0 and again.already_done == 12


def test_clean_refuses_a_recipe_that_changes_the_size_or_its_own_folder(tiles_dir):
    with pytest.raises(UsageError, match="keeps it"):
        clean_tiles(tiles_dir, "bicubic_x2")
    with pytest.raises(UsageError, match="tiles folder itself"):
        clean_tiles(tiles_dir, "msrcnn_clean", out_dir=tiles_dir)


def test_clean_and_degrade_refuse_another_stages_folder_by_name(tiles_dir, tmp_path):
    """A careless --out pointing at another tiles folder: refused, naming the stage, nothing touched."""
    other = tmp_path / "other_tiles"
    other.mkdir()
    for p in tiles_dir.iterdir():
        if p.is_file():
            (other / p.name).write_bytes(p.read_bytes())
    mine = other / "mine"  # a user's folder of files, no run.json
    mine.mkdir()
    (mine / "page.png").write_bytes(b"the user's own file")
    (other / "run.json").write_text('{"options": {}, "stage": "tile"}\n')
    before = {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()}
    with pytest.raises(UsageError, match="output of sr-data tile"):
        clean_tiles(tiles_dir, "msrcnn_clean", out_dir=other)
    with pytest.raises(UsageError, match="output of sr-data tile"):
        degrade_tiles(tiles_dir, "bicubic_x2", other)
    with pytest.raises(UsageError, match="no degradation made"):
        degrade_tiles(tiles_dir, "bicubic_x2", mine)
    with pytest.raises(UsageError, match="no degradation made"):
        degrade_tiles(tiles_dir, "bicubic_x2", tiles_dir)
    assert {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()} == before
    assert [p.name for p in mine.iterdir()] == ["page.png"]


def test_clean_then_replay_degrade_and_pack_through_the_cli(tmp_path, monkeypatch):
    from degrade_fixtures import manga_like_tile, write_tiles

    write_tiles(tmp_path / "tiles", {"pageA-0000aaaa": [manga_like_tile(64, s) for s in range(4)],
                                     "pageB-1111bbbb": [manga_like_tile(64, s) for s in range(4, 8)]})
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["clean", "--recipe", "msrcnn_clean", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "8 tile(s) cleaned" in said(result)
    assert "sr-data degrade --tiles tiles_msrcnn_clean" in said(result)
    result = runner.invoke(app, ["replay", "tiles_msrcnn_clean", "--jobs", "1"])
    assert result.exit_code == 0 and "8 identical, 0 not" in said(result), result.output
    result = runner.invoke(app, ["degrade", "--tiles", "tiles_msrcnn_clean", "--recipe", "srcnn_bilinear_x2",
                                 "--out", "lr/clean", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["pack", "hdf5", "--hr", "tiles_msrcnn_clean", "--lr", "lr/clean",
                                 "--out", "data.h5"])
    assert result.exit_code == 0, result.output
    from srkit.shards.reader import open_store

    store = open_store(tmp_path / "data.h5")
    pair = store.read(0)
    assert np.array_equal(pair.hr, read_png(tmp_path / "tiles_msrcnn_clean" / f"{pair.key}.png"))


def test_a_degrade_rerun_on_other_hr_tiles_remakes_the_samples(tiles_dir):
    out = tiles_dir.parent / "lr" / "x"
    clean_tiles(tiles_dir, "msrcnn_clean", jobs=1)
    cleaned = tiles_dir.parent / "tiles_msrcnn_clean"
    first = degrade_tiles(tiles_dir, "bicubic_x2", out, jobs=1)
    assert first.made == 12
    second = degrade_tiles(cleaned, "bicubic_x2", out, jobs=1)
    assert second.made == 12 and second.already_done == 0, "LR made from the uncleaned HR is not kept"
    logged = {r["key"]: r["hr_sha256"] for r in read_jsonl(out / "degradations.jsonl")}
    assert logged == {t["key"]: t["sha256"] for t in kept_tiles(cleaned)}
