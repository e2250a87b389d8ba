"""Every command that reads images, run through its CLI on the bad-input corpus (see conftest.py).

The standard: each bad file gets one clear line naming it, every good file is processed, no traceback
reaches the user, the exit code says "finished, some inputs skipped" (1), and nothing half-written
remains (no temporary files, no manifest line for a file that is not there).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from robust_helpers import (
    RECIPE,
    TILE_ARGS,
    assert_no_traceback,
    copy_workspace,
    run_cli,
    snapshot,
    store_contents,
    temp_leftovers,
)

from srkit.core.console import EXIT_FAILED, EXIT_OK, EXIT_SKIPPED, EXIT_USAGE
from srkit.core.images import read_image, read_png
from srkit.core.manifest import read_jsonl
from srkit.tiling.manifest import kept_tiles


def _one_line_each(run, names: list[str]) -> None:
    for name in names:
        lines = run.lines_naming(name)
        assert len(lines) == 1, f"{name!r} is named on {len(lines)} lines, not one:\n{run.describe()}"


# ---------------------------------------------------------------------------------- tile


def test_tile_skips_each_bad_file_with_one_line_and_tiles_every_good_one(corpus, tmp_path):
    for note in corpus.notes:
        print(note)
    out = tmp_path / "tiles"
    run = run_cli("data", ["tile", corpus.pages, "--out", out, "--jobs", "1", *TILE_ARGS], tmp_path)
    assert run.returncode == EXIT_SKIPPED, run.describe()
    assert_no_traceback(run)
    _one_line_each(run, [*corpus.bad, corpus.tiny])
    for name in [*corpus.bad, corpus.tiny]:
        assert run.lines_naming(name)[0].startswith("skipped"), run.describe()
    records = list(read_jsonl(out / "tiles.jsonl"))
    pages = {r["source"]: r for r in records if r["type"] == "page"}
    for name in corpus.good:
        page = pages.get(f"pages/{name}")
        assert page is not None and page["status"] == "complete" and page["kept"] > 0, name
    # Pixels as displayed: the EXIF rotation is applied (stored 192 x 160, shown 160 x 192).
    rotated = pages["pages/rotated.jpg"]
    assert (rotated["width"], rotated["height"]) == (160, 192) and rotated["image"]["exif_transposed"]
    assert pages["pages/deep16.png"]["image"]["bit_depth"] == 16
    # The symlink loop is walked once: no page is reached through it.
    assert not [s for s in pages if "/loop/" in s]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    named = sorted(Path(e["path"]).name for e in errors)
    assert named == sorted([*corpus.bad, corpus.tiny])
    bad_sources = {f"pages/{n}" for n in corpus.bad}
    assert not [r for r in records if r["source"] in bad_sources], "a bad file has a manifest record"
    # Every kept record's file is whole; no tile file without a kept record; no temporary file.
    kept = kept_tiles(out)
    assert {r["file"] for r in kept} == {p.name for p in out.glob("*.png")}
    for rec in kept:
        assert read_png(out / rec["file"]).shape[:2] == (rec["h"], rec["w"])
    assert temp_leftovers(out) == []


def test_tile_output_is_the_same_when_the_bad_files_are_absent(corpus, tmp_path):
    """Bad files change nothing in what the good ones give (no shared state, no shifted keys)."""
    mixed = tmp_path / "mixed"
    clean_pages = tmp_path / "clean" / "pages"
    clean_pages.mkdir(parents=True)
    for name in [*corpus.good, corpus.tiny]:
        (clean_pages / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(corpus.pages / name, clean_pages / name)
    run = run_cli("data", ["tile", corpus.pages, "--out", mixed, "--jobs", "2", *TILE_ARGS], tmp_path)
    assert run.returncode == EXIT_SKIPPED, run.describe()
    clean = tmp_path / "clean_tiles"
    run = run_cli("data", ["tile", clean_pages, "--out", clean, "--jobs", "1", *TILE_ARGS], tmp_path)
    assert run.returncode == EXIT_SKIPPED and len(run.lines_naming(corpus.tiny)) == 1, run.describe()
    assert snapshot(mixed, skip=["errors.jsonl", ".lock"]) == snapshot(clean, skip=["errors.jsonl", ".lock"])


# ---------------------------------------------------------------------------------- degrade


def _corrupt_tiles(tiles: Path) -> dict[str, str]:
    """Damage some kept tile files in the ways a disk or a user can; returns key -> what was done."""
    import cv2

    kept = kept_tiles(tiles)
    victims = {}
    damage = ["truncated", "zero bytes", "text", "deleted", "rgba png", "16-bit png"]
    for rec, how in zip(kept[1::3], damage, strict=False):
        path = tiles / rec["file"]
        data = path.read_bytes()
        if how == "truncated":
            path.write_bytes(data[: len(data) // 2])
        elif how == "zero bytes":
            path.write_bytes(b"")
        elif how == "text":
            path.write_text("not a png")
        elif how == "deleted":
            path.unlink()
        elif how == "rgba png":
            img = read_png(path)
            rgba = np.dstack([img, img, img, np.full_like(img, 255)]) if img.ndim == 2 else \
                np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
            path.write_bytes(cv2.imencode(".png", rgba)[1].tobytes())
        elif how == "16-bit png":
            img = read_png(path).astype(np.uint16) * 257
            path.write_bytes(cv2.imencode(".png", img)[1].tobytes())
        victims[rec["key"]] = how
    assert len(victims) == len(damage)
    return victims


def test_degrade_names_each_damaged_tile_and_makes_all_the_others(degraded, tmp_path):
    ws = copy_workspace(degraded, tmp_path / "ws", ["tiles"])
    backup = tmp_path / "tiles_backup"
    shutil.copytree(ws / "tiles", backup)
    victims = _corrupt_tiles(ws / "tiles")
    out = ws / "lr" / RECIPE
    run = run_cli("data", ["degrade", "--recipe", RECIPE, "--jobs", "2"], ws)
    assert run.returncode == EXIT_SKIPPED, run.describe()
    assert_no_traceback(run)
    _one_line_each(run, list(victims))
    all_keys = [r["key"] for r in kept_tiles(ws / "tiles")]
    good = sorted(set(all_keys) - set(victims))
    logged = [r["key"] for r in read_jsonl(out / "degradations.jsonl")]
    assert logged == good
    assert sorted(p.stem for p in out.glob("*.png")) == good
    assert sorted(r["key"] for r in read_jsonl(out / "errors.jsonl")) == sorted(victims)
    assert temp_leftovers(out) == []
    # Repaired tiles: the rerun finishes the job, to the bytes of a run that never saw the damage.
    shutil.rmtree(ws / "tiles")
    shutil.copytree(backup, ws / "tiles")
    again = run_cli("data", ["degrade", "--recipe", RECIPE, "--jobs", "1"], ws)
    assert again.returncode == EXIT_OK, again.describe()
    reference = degraded / "lr" / RECIPE
    assert snapshot(out, skip=["run.json"]) == snapshot(reference, skip=["run.json"])


# ---------------------------------------------------------------------------------- pack


def test_pack_skips_a_missing_lr_file_with_one_line_and_packs_the_rest(degraded, tmp_path):
    ws = copy_workspace(degraded, tmp_path / "ws", ["tiles", "lr"])
    gone = sorted((ws / "lr" / RECIPE).glob("*.png"))[3]
    gone.unlink()
    run = run_cli("data", ["pack", "lmdb"], ws)
    assert run.returncode == EXIT_SKIPPED, run.describe()
    assert_no_traceback(run)
    _one_line_each(run, [gone.stem])
    packed = store_contents(ws / "data.lmdb")
    assert sorted(packed) == sorted(p.stem for p in (ws / "lr" / RECIPE).glob("*.png"))
    assert temp_leftovers(ws / "data.lmdb") == []


@pytest.mark.parametrize("side", ["hr", "lr"])
def test_pack_stops_on_a_damaged_file_naming_it_and_a_repaired_rerun_finishes(packed, tmp_path, side):
    """A file whose bytes no longer match degradations.jsonl stops the pack (the pair would be wrong):
    one line naming it, exit 3, no index.json. Once repaired, a rerun gives the reference store."""
    ws = copy_workspace(packed, tmp_path / "ws", ["tiles", "lr"])
    folder = ws / "tiles" if side == "hr" else ws / "lr" / RECIPE
    victim = sorted(folder.glob("*.png"))[len(list(folder.glob("*.png"))) // 2]
    original = victim.read_bytes()
    victim.write_bytes(original[: len(original) // 2])
    args = ["pack", "lmdb", "--shard-size", "40KiB", "--val-fraction", "0.2"]
    run = run_cli("data", args, ws)
    assert run.returncode == EXIT_FAILED, run.describe()
    assert_no_traceback(run)
    _one_line_each(run, [victim.name])
    assert not (ws / "data.lmdb" / "index.json").exists()
    assert temp_leftovers(ws / "data.lmdb") == []
    victim.write_bytes(original)
    again = run_cli("data", args, ws)
    assert again.returncode == EXIT_OK, again.describe()
    assert store_contents(ws / "data.lmdb") == store_contents(packed / "data.lmdb")


# ---------------------------------------------------------------------------------- upscale, eval


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """An x2 one-channel Compact model file with its model.json, as the trainer exports it."""
    import torch
    from safetensors.torch import save_file

    from srkit.train.models import build_model

    torch.manual_seed(0)
    model = build_model("compact", 1, 1, 2, num_feat=4, num_conv=1)
    folder = tmp_path_factory.mktemp("model")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "model.json").write_text(json.dumps(model.arch_config))
    return folder / "model.safetensors"


def test_upscale_skips_each_bad_file_with_one_line_and_upscales_every_good_one(corpus, tiny_model, tmp_path):
    out = tmp_path / "up"
    run = run_cli("train", ["upscale", tiny_model, corpus.pages, "--out", out, "--device", "cpu"], tmp_path)
    assert run.returncode == EXIT_SKIPPED, run.describe()
    assert_no_traceback(run)
    skipped = [ln for ln in run.output.splitlines() if ln.startswith("skipped")]
    for name in corpus.bad:
        assert len([ln for ln in skipped if name in ln]) == 1, run.describe()
    assert len(skipped) == len(corpus.bad)
    for name in [*corpus.good, corpus.tiny]:
        src = corpus.pages / name
        img, _ = read_image(src, color="keep")
        up, _ = read_image(out / Path(name).with_suffix(".png"), color="keep")  # folders mirrored
        assert up.shape[:2] == (2 * img.shape[0], 2 * img.shape[1]), name
    assert temp_leftovers(out) == []


def test_upscale_gives_each_input_its_own_output_file(tiny_model, tmp_path):
    """Two inputs with the same stem (a.png, a.jpg; or ch1/001.png, ch2/001.png) must not overwrite
    each other's result silently."""
    from robust_helpers import manga_like, write_cv

    pages = tmp_path / "pages"
    for rel, seed in (("ch1/001.png", 1), ("ch2/001.png", 2), ("a.png", 3), ("a.jpg", 4)):
        (pages / rel).parent.mkdir(parents=True, exist_ok=True)
        write_cv(pages / rel, manga_like(64, 48, seed=seed))
    out = tmp_path / "up"
    run = run_cli("train", ["upscale", tiny_model, pages, "--out", out, "--device", "cpu"], tmp_path)
    assert_no_traceback(run)
    outputs = [p for p in out.rglob("*.png")]
    assert len(outputs) == 4 or run.returncode != EXIT_OK, (
        f"4 inputs, {len(outputs)} output files, exit {run.returncode}: results were overwritten\n"
        + run.describe())


def test_upscale_prints_no_python_warning(tiny_model, tmp_path):
    """A user sees our lines only: no library warning text (it reads like an error and says nothing to do)."""
    from robust_helpers import manga_like, write_cv

    page = write_cv(tmp_path / "page.png", manga_like(64, 48, seed=5))
    run = run_cli("train", ["upscale", tiny_model, page, "--out", tmp_path / "up", "--device", "cpu"],
                  tmp_path)
    assert run.returncode == EXIT_OK, run.describe()
    assert "Warning" not in run.stderr, run.describe()


def test_eval_skips_each_bad_file_with_one_line_and_scores_the_good_ones(corpus, tiny_model, tmp_path):
    out = tmp_path / "eval"
    run = run_cli("train", ["eval", tiny_model, "--images", corpus.pages, "--recipe", "bicubic_x2",
                            "--out", out, "--device", "cpu"], tmp_path)
    assert run.returncode == EXIT_SKIPPED, run.describe()
    assert_no_traceback(run)
    skipped = [ln for ln in run.output.splitlines() if ln.startswith("skipped")]
    for name in [*corpus.bad, corpus.tiny]:
        assert len([ln for ln in skipped if name in ln]) == 1, run.describe()
    assert len(skipped) == len(corpus.bad) + 1
    logged = sorted(r["image"] for r in read_jsonl(out / "degradations.jsonl"))
    assert logged == sorted(corpus.good), "every good image, and only those, is scored and logged"
    assert (out / "table.csv").is_file() and (out / "table.md").is_file()
    assert temp_leftovers(out) == []


def test_missing_inputs_are_usage_errors_without_traceback(tiny_model, tmp_path):
    for program, args in [
        ("data", ["tile", tmp_path / "nope", "--out", tmp_path / "t"]),
        ("data", ["degrade", "--recipe", RECIPE, "--tiles", tmp_path / "nope"]),
        ("data", ["pack", "lmdb", "--hr", tmp_path / "nope", "--lr", tmp_path / "nope2"]),
        ("train", ["upscale", tiny_model, tmp_path / "nope.png", "--out", tmp_path / "u"]),
        ("train", ["eval", tiny_model, "--images", tmp_path / "nope"]),
        ("train", ["--shards", tmp_path / "nope.lmdb", "--preset", "smoke"]),
    ]:
        run = run_cli(program, args, tmp_path)
        assert run.returncode == EXIT_USAGE, run.describe()
        assert_no_traceback(run)
        assert "nope" in run.stderr, run.describe()
