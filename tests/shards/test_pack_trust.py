"""sr-data pack at the edges, through its command: a store made from other inputs is never replaced
silently, --channels packs gray and colour tiles together, the split says why it is not by pages,
--jobs 0 means all cores, and a BasicSR-layout folder is named as one."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from store_helpers import make_pairs, make_workspace
from typer.testing import CliRunner

from srkit.cli.data import app
from srkit.core.console import EXIT_OK, EXIT_USAGE
from srkit.shards.reader import open_store
from srkit.shards.split import choose_split, shared_pages

runner = CliRunner(env={"COLUMNS": "400"})


def pack(*args: object):
    return runner.invoke(app, ["pack", *map(str, args)])


def contents(store: Path) -> dict[str, bytes]:
    with open_store(store) as opened:
        return {p.key: p.hr.tobytes() + p.lr.tobytes() for p in opened}


@pytest.fixture
def two_workspaces(tmp_path):
    a = make_workspace(tmp_path / "a", make_pairs(12, seed=1), scale=2, recipe="recipe_a")
    b = make_workspace(tmp_path / "b", make_pairs(12, seed=2), scale=2, recipe="recipe_b")
    return a, b


@pytest.mark.parametrize("fmt", ["lmdb", "hdf5"])
def test_a_store_from_other_inputs_is_kept_unless_overwrite(two_workspaces, tmp_path, fmt):
    (tiles_a, lr_a), (tiles_b, lr_b) = two_workspaces
    out = tmp_path / ("x.h5" if fmt == "hdf5" else "x.lmdb")
    assert pack(fmt, "--hr", tiles_a, "--lr", lr_a, "--out", out).exit_code == EXIT_OK
    before = contents(out)
    result = pack(fmt, "--hr", tiles_b, "--lr", lr_b, "--out", out)
    assert result.exit_code == EXIT_USAGE, result.output
    flat = " ".join(result.output.split())
    assert f"{out} holds a store made from other inputs" in flat and "--overwrite" in flat
    assert "recipe recipe_a -> recipe_b" in flat and "HR tiles" in flat
    assert contents(out) == before  # untouched
    again = pack(fmt, "--hr", tiles_a, "--lr", lr_a, "--out", out)
    assert again.exit_code == EXIT_OK and "already up to date" in again.output
    other_codec = pack(fmt, "--hr", tiles_a, "--lr", lr_a, "--out", out, "--codec", "png")
    assert other_codec.exit_code == EXIT_USAGE
    assert "--codec raw -> png" in " ".join(other_codec.output.split())
    replaced = pack(fmt, "--hr", tiles_b, "--lr", lr_b, "--out", out, "--overwrite")
    assert replaced.exit_code == EXIT_OK, replaced.output
    with open_store(out) as store:
        assert store.index["recipe"]["name"] == store.index["made_from"]["recipe"] == "recipe_b"
    assert contents(out) != before


def test_the_basicsr_layout_is_kept_too_and_named_by_verify_and_inspect(two_workspaces, tmp_path):
    (tiles_a, lr_a), (tiles_b, lr_b) = two_workspaces
    out = tmp_path / "bs"
    assert pack("lmdb", "--layout", "basicsr", "--hr", tiles_a, "--lr", lr_a, "--out", out).exit_code == 0
    data = (out / "hr.lmdb" / "data.mdb").read_bytes()
    refused = pack("lmdb", "--layout", "basicsr", "--hr", tiles_b, "--lr", lr_b, "--out", out)
    assert refused.exit_code == EXIT_USAGE and "--overwrite" in refused.output
    assert (out / "hr.lmdb" / "data.mdb").read_bytes() == data
    native = pack("lmdb", "--hr", tiles_a, "--lr", lr_a, "--out", out)  # another layout into it
    assert native.exit_code == EXIT_USAGE and "BasicSR (hr.lmdb + lr.lmdb)" in " ".join(native.output.split())
    for command in (["verify", out], ["inspect", out, "--out", tmp_path / "sheet.png"]):
        result = runner.invoke(app, list(map(str, command)))
        flat = " ".join(result.output.split())
        assert result.exit_code == EXIT_USAGE, result.output
        assert "is a BasicSR-layout store" in flat and "traiNNer-redux" in flat and "interrupted" not in flat
    assert pack("lmdb", "--layout", "basicsr", "--hr", tiles_b, "--lr", lr_b, "--out", out,
                "--overwrite").exit_code == EXIT_OK
    assert (out / "hr.lmdb" / "data.mdb").read_bytes() != data


def mixed_workspace(root: Path) -> tuple[Path, Path, list]:
    gray = make_pairs(6, seed=3, pages=2)
    colour = [(key.replace("page", "colour"), hr, lr)
              for key, hr, lr in make_pairs(4, seed=4, rgb=True, pages=2)]
    pairs = sorted(gray + colour, key=lambda p: p[0])
    tiles, lr_dir = make_workspace(root, pairs, scale=2)
    return tiles, lr_dir, pairs


@pytest.mark.parametrize("codec", ["raw", "png"])
def test_channels_packs_gray_and_colour_tiles_into_one_store(tmp_path, codec):
    tiles, lr_dir, pairs = mixed_workspace(tmp_path)
    refused = pack("lmdb", "--hr", tiles, "--lr", lr_dir, "--out", tmp_path / "s")
    assert refused.exit_code == EXIT_USAGE
    assert "--channels 1" in refused.output and "--channels 3" in refused.output
    for channels in (3, 1):
        out = tmp_path / f"s{channels}"
        result = pack("lmdb", "--hr", tiles, "--lr", lr_dir, "--out", out, "--codec", codec,
                      "--channels", channels)
        assert result.exit_code == EXIT_OK, result.output
        assert f"--channels {channels}: converted" in result.output
        with open_store(out) as store:
            assert store.channels == channels
            converted = {"3": {"1": 6}, "1": {"3": 4}}[str(channels)]  # the gray pairs, or the colour ones
            assert store.index["channels_converted"] == {"to": channels, "from": converted}
            code = cv2.COLOR_GRAY2RGB if channels == 3 else cv2.COLOR_RGB2GRAY
            for key, hr, lr in pairs:
                got = store.read(store.keys.index(key))
                if (hr.ndim == 3) != (channels == 3):
                    hr, lr = cv2.cvtColor(hr, code), cv2.cvtColor(lr, code)
                assert np.array_equal(got.hr, hr) and np.array_equal(got.lr, lr), key
    basicsr = pack("lmdb", "--layout", "basicsr", "--hr", tiles, "--lr", lr_dir, "--out", tmp_path / "bs",
                   "--channels", 3)
    assert basicsr.exit_code == EXIT_OK, basicsr.output
    meta = (tmp_path / "bs" / "hr.lmdb" / "meta_info.txt").read_text().splitlines()
    assert meta and all(",3) " in line for line in meta)


def test_the_split_says_why_it_is_not_by_pages_and_jobs_0_is_all_cores(tmp_path):
    tiles, lr_dir = make_workspace(tmp_path, make_pairs(30, seed=5, pages=3), scale=2)
    result = pack("lmdb", "--hr", tiles, "--lr", lr_dir, "--out", tmp_path / "s", "--jobs", "0")
    assert result.exit_code == EXIT_OK, result.output
    flat = " ".join(result.output.split())
    assert "(by single tiles)" in flat and "validation PSNR is optimistic" in flat
    assert "3 pages: whole pages would put 10 samples in validation" in flat and "val_fraction 0.17" in flat
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert index["split"]["method"] == "key" and "why" in index["split"]
    by_pages = pack("lmdb", "--hr", tiles, "--lr", lr_dir, "--out", tmp_path / "p", "--val-fraction", "0.17")
    assert by_pages.exit_code == EXIT_OK and "(by whole pages)" in by_pages.output
    assert "pack" in runner.invoke(app, ["pack", "--help"]).output and \
        "0 = all cores" in " ".join(runner.invoke(app, ["pack", "--help"]).output.split())


def test_split_reasons():
    one_page = [f"only-0a1b2c3d_{i:05d}_00000" for i in range(10)]
    assert "one page" in choose_split(one_page, 0.2)["why"]
    assert "no page part" in choose_split([f"k{i}" for i in range(10)], 0.2)["why"]
    keys = [f"p{p}-0a1b2c3d_{i:05d}_00000" for p in range(3) for i in range(20)]
    split = choose_split(keys, 0.02)
    assert split["method"] == "key" and shared_pages(keys, split) >= 1
    need = float(split["why"].split("val_fraction ")[-1].split()[0])
    assert choose_split(keys, need)["method"] == "page" and shared_pages(keys, choose_split(keys, need)) == 0
