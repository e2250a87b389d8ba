"""degrade_tiles: outputs, log records, determinism across jobs/reruns/interruptions, refusals, bad tiles."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from degrade_fixtures import manga_like_tile, write_tiles

import srkit.degrade.run as run_module
from srkit.core.console import UsageError
from srkit.core.hashing import sha256_bytes, sha256_file
from srkit.core.images import encode_png, read_png
from srkit.core.manifest import read_jsonl
from srkit.core.seeding import sample_seed
from srkit.core.versions import library_versions
from srkit.core.workspace import DEGRADATIONS_LOG, ERRORS_LOG, RUN_RECORD
from srkit.degrade.plan import apply_plan
from srkit.degrade.recipe import load_recipe
from srkit.degrade.replay import replay_log
from srkit.degrade.run import degrade_tiles, logged_shape
from srkit.tiling.manifest import kept_tiles


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file of an output folder except run.json (it names the tiles folder), by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != RUN_RECORD}


def test_writes_lr_tiles_and_one_record_per_kept_tile(tiles_dir, tmp_path):
    out = tmp_path / "lr"
    summary = degrade_tiles(tiles_dir, "rawkuma_like", out)
    kept = kept_tiles(tiles_dir)
    assert len(kept) == 12 and summary.made == 12 and summary.exit_code == 0
    records = list(read_jsonl(out / DEGRADATIONS_LOG))
    assert [r["key"] for r in records] == [t["key"] for t in kept]  # sorted, incomplete page left out
    recipe = load_recipe("rawkuma_like")
    for tile, r in zip(kept, records, strict=True):
        hr = read_png(tiles_dir / tile["file"])
        lr = read_png(out / f"{tile['key']}.png")
        assert r["hr_sha256"] == sha256_file(tiles_dir / tile["file"])
        assert r["lr_sha256"] == sha256_file(out / f"{tile['key']}.png")
        assert (r["recipe"], r["recipe_hash"], r["seed"]) == ("rawkuma_like", recipe.hash, recipe.seed)
        assert r["sample_seed"] == sample_seed(recipe.seed, tile["key"])
        assert r["scale"] == 4 and r["nominal_scale"] == 4
        assert r["hr_shape"] == [64, 64, tile["channels"]] and r["lr_shape"] == [16, 16, tile["channels"]]
        assert lr.ndim == hr.ndim  # gray stays gray
        assert r["versions"] == library_versions()
        assert [s["op"] for s in r["steps"]] == ["resize", "gaussian_blur", "jpeg"]
        assert encode_png(apply_plan(hr, r["steps"])) == (out / f"{tile['key']}.png").read_bytes()
        assert "seconds" not in json.dumps(r)
    info = json.loads((out / RUN_RECORD).read_text())
    assert info["recipe"] == "rawkuma_like" and info["recipe_hash"] == recipe.hash
    assert info["recipe_text"] == recipe.text and info["seed"] == 0 and info["nominal_scale"] == 4
    # the tiles folder relative to the LR folder (a moved workspace still finds it), and absolute
    assert (out / info["tiles_dir"]).resolve() == tiles_dir.resolve()
    assert Path(info["tiles_dir_absolute"]) == tiles_dir.resolve()
    assert summary.op_counts["resize"] == 12 and summary.op_counts["jpeg"] == 12
    assert 0 < summary.op_counts.get("gaussian_blur", 0) < 12
    assert not (out / ERRORS_LOG).exists()


def test_default_output_is_lr_name_beside_the_tiles(tiles_dir):
    summary = degrade_tiles(tiles_dir, "bicubic_x2")
    assert summary.out_dir == tiles_dir.parent / "lr" / "bicubic_x2"
    assert len(list(summary.out_dir.glob("*.png"))) == 12


def test_same_bytes_for_one_and_two_jobs_and_reruns(tiles_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    degrade_tiles(tiles_dir, "realesrgan_x2", a, jobs=1)
    degrade_tiles(tiles_dir, "realesrgan_x2", b, jobs=2, chunk_size=3)
    assert folder_bytes(a) == folder_bytes(b)
    rerun = degrade_tiles(tiles_dir, "realesrgan_x2", a, jobs=1)
    assert rerun.made == 0 and rerun.already_done == 12
    assert folder_bytes(a) == folder_bytes(b)


def test_dask_backend_gives_the_same_bytes(tiles_dir, tmp_path):
    pytest.importorskip("distributed")
    a, b = tmp_path / "a", tmp_path / "b"
    degrade_tiles(tiles_dir, "realesrgan_x2", a, jobs=1)
    degrade_tiles(tiles_dir, "realesrgan_x2", b, jobs=2, backend="dask", chunk_size=3)
    assert folder_bytes(a) == folder_bytes(b)


def test_interrupted_run_resumes_to_the_same_bytes(tiles_dir, tmp_path, monkeypatch):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    degrade_tiles(tiles_dir, "rawkuma_like", whole)

    real = run_module.degrade_one
    calls = {"n": 0}

    def dies_after_five(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "degrade_one", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        degrade_tiles(tiles_dir, "rawkuma_like", cut, chunk_size=2)
    monkeypatch.setattr(run_module, "degrade_one", real)
    # What a crash can also leave: a torn last log line, a stale temp file, an LR without a record.
    with open(cut / DEGRADATIONS_LOG, "ab") as f:
        f.write(b'{"key":"torn')
    (cut / ".x.png.tmp-999").write_bytes(b"partial")
    lost = sorted(cut.glob("*.png"))[0]
    lines = (cut / DEGRADATIONS_LOG).read_bytes().split(b"\n")
    kept_lines = [ln for ln in lines if lost.stem.encode() not in ln]
    (cut / DEGRADATIONS_LOG).write_bytes(b"\n".join(kept_lines))
    assert len(list(read_jsonl(cut / DEGRADATIONS_LOG))) == 3

    summary = degrade_tiles(tiles_dir, "rawkuma_like", cut)
    assert summary.already_done == 3 and summary.made == 9
    assert folder_bytes(cut) == folder_bytes(whole)


def test_killed_process_then_rerun_equals_uninterrupted(tmp_path):
    tiles = write_tiles(tmp_path / "tiles", {"p-00000000": [manga_like_tile(128, s, rgb=s % 2 == 1)
                                                            for s in range(60)]})
    whole = tmp_path / "whole"
    degrade_tiles(tiles, "realesrgan_x4", whole)
    cut = tmp_path / "cut"
    code = ("import sys; from srkit.degrade.run import degrade_tiles;"
            "degrade_tiles(sys.argv[1], 'realesrgan_x4', sys.argv[2], jobs=1, chunk_size=2)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tiles), str(cut)], cwd=str(tmp_path))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        log = cut / DEGRADATIONS_LOG
        if log.exists() and log.stat().st_size > 0:
            break
        time.sleep(0.005)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    killed = proc.wait(timeout=60) == -signal.SIGKILL
    before = len(list(read_jsonl(cut / DEGRADATIONS_LOG)))
    print(f"killed={killed} samples logged before the kill={before}")
    resumed = degrade_tiles(tiles, "realesrgan_x4", cut)
    assert resumed.already_done == before and resumed.made == 60 - before
    assert folder_bytes(cut) == folder_bytes(whole)


def test_refuses_a_folder_made_with_another_recipe_or_seed(tiles_dir, tmp_path):
    out = tmp_path / "lr"
    degrade_tiles(tiles_dir, "bicubic_x2", out)
    with pytest.raises(UsageError, match="use another --out or delete"):
        degrade_tiles(tiles_dir, "bicubic_x4", out)
    with pytest.raises(UsageError, match="seed 7"):
        degrade_tiles(tiles_dir, "bicubic_x2", out, seed=7)
    edited = tmp_path / "edited.toml"
    edited.write_text(load_recipe("bicubic_x2").text.replace('"bicubic_aa"', '"area"'))
    with pytest.raises(UsageError, match="hash"):
        degrade_tiles(tiles_dir, edited, out)
    commented = tmp_path / "commented.toml"
    commented.write_text("# only a comment added\n" + load_recipe("bicubic_x2").text)
    assert degrade_tiles(tiles_dir, commented, out).already_done == 12


def test_seed_option_changes_the_draws(tiles_dir, tmp_path):
    degrade_tiles(tiles_dir, "rawkuma_like", tmp_path / "s0")
    degrade_tiles(tiles_dir, "rawkuma_like", tmp_path / "s1", seed=1)
    r0 = list(read_jsonl(tmp_path / "s0" / DEGRADATIONS_LOG))
    r1 = list(read_jsonl(tmp_path / "s1" / DEGRADATIONS_LOG))
    assert [r["seed"] for r in r1] == [1] * 12
    assert [r["steps"] for r in r0] != [r["steps"] for r in r1]


def test_a_bad_tile_is_listed_and_the_run_goes_on(tiles_dir, tmp_path):
    bad = kept_tiles(tiles_dir)[2]
    (tiles_dir / bad["file"]).write_bytes(b"not a png")
    out = tmp_path / "lr"
    summary = degrade_tiles(tiles_dir, "bicubic_x4", out)
    assert summary.made == 11 and summary.exit_code == 1
    assert [e["key"] for e in summary.errors] == [bad["key"]]
    errors = list(read_jsonl(out / ERRORS_LOG))
    assert errors[0]["key"] == bad["key"] and "PNG" in errors[0]["error"]
    assert not (out / f"{bad['key']}.png").exists()


def test_a_tile_the_recipe_cannot_pair_is_an_error_naming_it(tmp_path):
    tiles = write_tiles(tmp_path / "tiles", {"p-00000000": [manga_like_tile(64, 1), manga_like_tile(66, 2)]})
    summary = degrade_tiles(tiles, "bicubic_x4", tmp_path / "lr")
    assert summary.made == 1 and len(summary.errors) == 1
    assert "not a multiple of the recipe scale 4" in summary.errors[0]["error"]
    assert summary.errors[0]["key"] in summary.errors[0]["error"]


def test_a_manifest_path_escaping_the_tiles_folder_is_refused(tiles_dir, tmp_path):
    lines = (tiles_dir / "tiles.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["file"] = "../outside.png"
    (tmp_path / "outside.png").write_bytes((tiles_dir / f"{first['key']}.png").read_bytes())
    (tiles_dir / "tiles.jsonl").write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    summary = degrade_tiles(tiles_dir, "bicubic_x4", tmp_path / "lr")
    assert [e["key"] for e in summary.errors] == [first["key"]]
    assert "escapes" in summary.errors[0]["error"]


def test_a_key_that_is_not_a_safe_file_name_is_refused(tiles_dir, tmp_path):
    lines = (tiles_dir / "tiles.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["key"] = "../escape"
    (tiles_dir / "tiles.jsonl").write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")
    summary = degrade_tiles(tiles_dir, "bicubic_x4", tmp_path / "lr" / "x")
    assert [e["key"] for e in summary.errors] == ["../escape"]
    assert not (tmp_path / "lr" / "escape.png").exists()


def test_missing_manifest_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="sr-data tile"):
        degrade_tiles(tmp_path, "bicubic_x4", tmp_path / "lr")


def test_down_then_up_recipe_keeps_the_hr_size(tiles_dir, tmp_path):
    out = tmp_path / "srcnn"
    degrade_tiles(tiles_dir, "srcnn_bicubic_x2", out)
    for r in read_jsonl(out / DEGRADATIONS_LOG):
        assert r["scale"] == 1 and r["nominal_scale"] == 2
        assert r["lr_shape"] == r["hr_shape"]
    assert json.loads((out / RUN_RECORD).read_text())["scale"] == 1


def test_logged_shape_is_the_json_list_h_w_c():
    assert logged_shape((40, 30)) == [40, 30, 1]  # gray counts as one channel
    assert logged_shape(np.zeros((4, 5, 3), np.uint8).shape) == [4, 5, 3]
    assert json.loads(json.dumps(logged_shape((2, 3)))) == [2, 3, 1]


def test_replay_reports_identical_then_detects_changes(tiles_dir, tmp_path):
    out = tmp_path / "lr"
    degrade_tiles(tiles_dir, "realesrgan_x4", out)
    summary = replay_log(out)
    assert summary.all_identical and summary.identical == 12
    records = list(read_jsonl(out / DEGRADATIONS_LOG))
    # A changed HR tile is caught by its hash before anything is rebuilt.
    hr_file = tiles_dir / records[0]["hr_file"]
    hr = read_png(hr_file)
    hr[0, 0] ^= 1
    hr_file.write_bytes(encode_png(hr))
    # A logged LR hash that no longer matches (e.g. other library versions) names the versions.
    records[1]["lr_sha256"] = sha256_bytes(b"other")
    records[1]["versions"] = {**records[1]["versions"], "opencv": "0.0.0"}
    (out / DEGRADATIONS_LOG).write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = replay_log(out, keys=[records[0]["key"], records[1]["key"], records[2]["key"]])
    status = {r.key: r for r in summary.results}
    assert status[records[0]["key"]].status == "hr_changed"
    assert status[records[1]["key"]].status == "lr_differs"
    assert "same pixels" in status[records[1]["key"]].detail
    assert status[records[1]["key"]].versions_differ["opencv"][0] == "0.0.0"
    assert status[records[2]["key"]].ok
    assert not summary.all_identical


def test_replay_rebuilds_the_same_pixels_as_written(tiles_dir, tmp_path):
    out = tmp_path / "lr"
    degrade_tiles(tiles_dir, "manga_print_x2", out)
    for r in read_jsonl(out / DEGRADATIONS_LOG):
        lr = apply_plan(read_png(tiles_dir / r["hr_file"]), r["steps"])
        assert np.array_equal(lr, read_png(out / f"{r['key']}.png"))


def test_a_tile_changed_since_tiling_is_refused_with_its_name(tmp_path):
    from srkit.core.images import read_png, write_png
    from srkit.demo.pages import write_manga_pages
    from srkit.tiling.run import TileOptions, tile_pages

    write_manga_pages(tmp_path / "pages", count=1, height=400, width=300)
    tile_pages([tmp_path / "pages"], tmp_path / "tiles", TileOptions(size=96, jobs=1))
    tiles = sorted((tmp_path / "tiles").glob("*.png"))
    changed = tiles[0]
    write_png(changed, 255 - read_png(changed))  # still a valid PNG of the right size
    summary = degrade_tiles(tmp_path / "tiles", "bicubic_x2", tmp_path / "lr", jobs=1)
    assert summary.made == len(tiles) - 1 and len(summary.errors) == 1
    error = summary.errors[0]
    assert error["key"] == changed.stem and "changed since it was tiled" in error["error"]


def test_replay_of_a_log_from_engine_version_1_says_so(tmp_path, monkeypatch):
    import srkit.degrade.ops.blur as blur
    from srkit.degrade.plan import ENGINE_VERSION

    # Engine 1 blurred float images with filter2D at every kernel size and logged no engine version.
    # The two formulations differ only by float rounding, which seldom moves an 8-bit level: find a
    # seed whose sample moves (deterministic), then make that sample's log with engine 1. With the DFT
    # path off and engine_version dropped, the log is byte for byte the one the engine-1 code writes
    # (checked against the engine-1 commit: same records, same LR sha256, for the seeds found here).
    tiles = write_tiles(tmp_path / "tiles", {"noise-4444eeee": [
        np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)]})
    (record,) = kept_tiles(tiles)
    hr = read_png(tiles / record["file"])
    recipe = load_recipe("realesrgan_x4")

    def lr_of(seed: int, dft_min: int) -> np.ndarray:
        with monkeypatch.context() as patch:
            patch.setattr(blur, "DFT_MIN_SIZE", dft_min)
            return recipe.plan_and_apply(hr, record["key"], seed)[0]

    seed = next((s for s in range(400) if not np.array_equal(lr_of(s, 10**9), lr_of(s, blur.DFT_MIN_SIZE))),
                None)
    assert seed is not None
    out = tmp_path / "old"
    with monkeypatch.context() as patch:
        patch.setattr(blur, "DFT_MIN_SIZE", 10**9)
        degrade_tiles(tiles, recipe, out, seed=seed)
    (logged,) = read_jsonl(out / DEGRADATIONS_LOG)
    assert logged["engine_version"] == ENGINE_VERSION == 2
    del logged["engine_version"]
    (out / DEGRADATIONS_LOG).write_text(json.dumps(logged) + "\n")
    (result,) = replay_log(out).results
    assert result.status == "lr_differs"
    assert "degradation engine version 1, this is version 2" in result.detail
    assert result.versions_differ["engine"] == ["1", "2"]
    # the same log made by this engine replays byte for byte
    degrade_tiles(tiles, recipe, tmp_path / "new", seed=seed)
    assert replay_log(tmp_path / "new").all_identical


def test_a_uint8_recipe_log_without_engine_version_still_replays(tiles_dir, tmp_path):
    out = tmp_path / "lr"
    degrade_tiles(tiles_dir, "manga_print_x2", out)
    records = list(read_jsonl(out / DEGRADATIONS_LOG))
    for r in records:
        del r["engine_version"]
    (out / DEGRADATIONS_LOG).write_text("".join(json.dumps(r) + "\n" for r in records))
    assert replay_log(out).all_identical
