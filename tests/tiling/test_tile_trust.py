"""sr-data tile at the edges, through its command: files found and not used, pages gone from the
sources (--prune), gray and colour pages side by side, files with several frames."""

from __future__ import annotations

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from srkit.cli.data import app
from srkit.core.console import EXIT_OK, EXIT_SKIPPED, EXIT_USAGE
from srkit.core.manifest import read_jsonl
from srkit.tiling.manifest import kept_tiles

runner = CliRunner(env={"COLUMNS": "400"})


def tile(*args: str):
    return runner.invoke(app, ["tile", *map(str, args), "--size", "64", "--jobs", "1"])


def test_files_found_and_not_used_are_listed_and_a_folder_of_them_is_not_a_success(tmp_path):
    src = tmp_path / "odd"
    src.mkdir()
    Image.new("P", (80, 80)).save(src / "cover.gif")
    Image.new("RGB", (80, 80)).save(src / "photo.avif")
    (src / "phone.heic").write_bytes(b"\0\0\0\x18ftypheic")  # the head of a HEIC file
    (src / "notes.txt").write_text("not a page")
    result = tile(src, "--out", tmp_path / "tiles")
    assert result.exit_code == EXIT_SKIPPED, result.output
    lines = {name: [ln for ln in result.output.splitlines() if name in ln] for name in
             ("cover.gif", "photo.avif", "phone.heic", "notes.txt")}
    assert "GIF files are not read" in lines["cover.gif"][0]
    assert "AVIF files are not read" in lines["photo.avif"][0]
    assert "HEIC files are not read" in lines["phone.heic"][0]
    assert "not an image file (.txt" in lines["notes.txt"][0]
    assert "next: sr-data degrade" not in result.output and "nothing for sr-data degrade" in result.output
    logged = {r["source"]: r["problem"] for r in read_jsonl(tmp_path / "tiles" / "errors.jsonl")}
    assert sorted(logged) == ["odd/cover.gif", "odd/notes.txt", "odd/phone.heic", "odd/photo.avif"]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = tile(empty, "--out", tmp_path / "tiles2")
    assert result.exit_code == EXIT_USAGE and "no files found" in result.output


def test_a_removed_page_is_reported_and_pruned_on_request(pages_dir, tmp_path):
    out = tmp_path / "tiles"
    assert tile(pages_dir, "--out", out).exit_code == EXIT_OK
    gone = pages_dir / "ch1" / "002.jpg"
    gone_tiles = [r for r in kept_tiles(out) if r["source"] == "pages/ch1/002.jpg"]
    assert gone_tiles
    gone.unlink()
    result = tile(pages_dir, "--out", out)
    assert result.exit_code == EXIT_OK, result.output
    flat = " ".join(result.output.split())
    total = len(kept_tiles(out))
    assert f"{out}/ holds {total} tiles: 0 from the 0 pages tiled now, {total} from earlier runs" in flat
    kept = len(gone_tiles)
    assert f"1 page(s) in {out}/ are not among this run's sources and keep their {kept} tile(s)" in flat
    assert "pages/ch1/002.jpg" in flat and "--prune" in flat
    assert all((out / r["file"]).is_file() for r in gone_tiles)  # kept until asked
    result = tile(pages_dir, "--out", out, "--prune")
    assert result.exit_code == EXIT_OK and "dropped 1 page(s)" in result.output
    records = list(read_jsonl(out / "tiles.jsonl"))
    assert not [r for r in records if r.get("source") == "pages/ch1/002.jpg"]
    assert not any((out / r["file"]).exists() for r in gone_tiles)
    assert len(kept_tiles(out)) == total - len(gone_tiles)


def test_gray_and_colour_pages_are_named_for_the_pack(pages_dir, tmp_path):
    result = tile(pages_dir, "--out", tmp_path / "tiles")
    assert result.exit_code == EXIT_OK
    flat = " ".join(result.output.split())
    assert "4 gray page(s) and 1 colour page(s) (pages/ch2/003.png)" in flat
    assert "--channels 1" in flat and "--channels 3" in flat


def test_a_file_with_several_frames_is_tiled_from_its_first_and_said_so(tmp_path, make_page):
    src = tmp_path / "anim"
    frames = [Image.fromarray(make_page(seed=s)) for s in (1, 2, 3)]
    src.mkdir()
    frames[0].save(src / "moving.png", save_all=True, append_images=frames[1:])
    result = tile(src, "--out", tmp_path / "tiles")
    assert result.exit_code == EXIT_OK, result.output
    assert "only the first frame was tiled" in result.output and "anim/moving.png (3 frames)" in result.output
    page = next(r for r in read_jsonl(tmp_path / "tiles" / "tiles.jsonl") if r.get("type") == "page")
    assert page["image"]["frames"] == 3
    first = np.asarray(frames[0])
    tile_rec = kept_tiles(tmp_path / "tiles")[0]
    x, y = tile_rec["x"], tile_rec["y"]
    got = np.asarray(Image.open(tmp_path / "tiles" / tile_rec["file"]))
    assert np.array_equal(got, first[y:y + 64, x:x + 64])
