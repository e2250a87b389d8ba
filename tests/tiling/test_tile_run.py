from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srkit.core.console import UsageError
from srkit.core.files import temp_name
from srkit.core.images import read_png
from srkit.core.manifest import read_jsonl
from srkit.tiling.manifest import complete_pages, kept_tiles
from srkit.tiling.run import TileOptions, tile_pages
from srkit.tiling.scores import SCORE_NAMES


def small(**kw) -> TileOptions:
    kw.setdefault("size", 64)
    kw.setdefault("jobs", 1)
    return TileOptions(**kw)


def records(out: Path) -> list[dict]:
    return list(read_jsonl(out / "tiles.jsonl"))


def snapshot(out: Path) -> dict[str, bytes]:
    """Every visible file of a tiles folder, by name (the bytes a user gets)."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if not p.name.startswith(".")}


def test_gray_page_tiles_are_one_channel_crops_of_the_page(tmp_path, make_page, save_image):
    page = make_page(300, 260, seed=1)
    save_image(tmp_path / "in" / "page.png", page)
    out = tmp_path / "tiles"
    summary = tile_pages([tmp_path / "in"], out, small(step=48))
    kept = kept_tiles(out)
    assert kept and summary.tiles_kept == len(kept) and summary.exit_ok
    for rec in kept:
        tile = read_png(out / rec["file"])
        assert tile.ndim == 2 and rec["channels"] == 1
        assert np.array_equal(tile, page[rec["y"]:rec["y"] + rec["h"], rec["x"]:rec["x"] + rec["w"]])
        assert rec["source"] == "in/page.png"
    tiles = [r for r in records(out) if r["type"] == "tile"]
    assert {r["status"] for r in tiles} <= {"kept", "rejected"}
    for r in tiles:
        assert set(r["scores"]) == set(SCORE_NAMES)
        assert (r["status"] == "kept") == (r["reason"] is None) == (r["file"] is not None)
    on_disk = {p.name for p in out.glob("*.png")}
    assert on_disk == {r["file"] for r in kept}


def test_color_modes_and_alpha(tmp_path, make_page, save_image):
    gray = make_page(128, 128, seed=2)
    save_image(tmp_path / "in" / "color.png", make_page(128, 128, seed=2, rgb=True))
    save_image(tmp_path / "in" / "gray_as_rgb.png", np.stack([gray] * 3, axis=2))
    rgba = np.dstack([np.stack([gray] * 3, axis=2), np.full_like(gray, 255)])
    rgba[:, :64, 3] = 0  # left half transparent: must become white paper
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in" / "alpha.png")
    out = tmp_path / "auto"
    tile_pages([tmp_path / "in"], out, small())
    pages = {r["source"]: r for r in complete_pages(out).values()}
    assert pages["in/color.png"]["channels"] == 3
    assert pages["in/gray_as_rgb.png"]["channels"] == 1
    assert pages["in/alpha.png"]["alpha_composited"] is True
    assert pages["in/color.png"]["alpha_composited"] is False
    alpha_tiles = [r for r in records(out) if r["type"] == "tile" and r["source"] == "in/alpha.png"]
    left = [r for r in alpha_tiles if r["x"] == 0]
    assert left and all(r["reason"] == "flat" and r["scores"]["white"] == 1.0 for r in left)
    forced = tmp_path / "rgb"
    tile_pages([tmp_path / "in"], forced, small(color="rgb"))
    assert {r["channels"] for r in kept_tiles(forced)} == {3}
    assert all(read_png(forced / r["file"]).shape[2] == 3 for r in kept_tiles(forced))
    grayed = tmp_path / "gray"
    tile_pages([tmp_path / "in"], grayed, small(color="gray"))
    assert {r["channels"] for r in kept_tiles(grayed)} == {1}
    assert all(read_png(grayed / r["file"]).ndim == 2 for r in kept_tiles(grayed))


def test_bad_inputs_are_listed_and_the_run_goes_on(tmp_path, make_page, save_image):
    root = tmp_path / "in"
    good = save_image(root / "ページ 1 good.png", make_page(seed=3))
    save_image(root / "-dash.png", make_page(seed=4))
    (root / "zero.png").write_bytes(b"")
    full = save_image(root / "trunc_src.jpg", make_page(seed=5)).read_bytes()
    (root / "trunc_src.jpg").unlink()
    (root / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (root / "text.png").write_text("this is not an image\n")
    save_image(root / "bomb.png", make_page(400, 400, seed=6))
    save_image(root / "tiny.png", make_page(40, 40, seed=7))
    (root / "notes.txt").write_text("not an image name: listed as found and not used")
    # A header claiming 100,000 x 100,000 pixels in a few bytes: refused before any decoding.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    (root / "huge header.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + b"\x00\x00\x00\x00IEND\xaeB`\x82")
    out = tmp_path / "tiles"
    summary = tile_pages([root], out, small(max_pixels=300 * 300))
    problems = {Path(e.path).name: e.problem for e in summary.skipped}
    assert set(problems) == {
        "zero.png", "truncated.jpg", "text.png", "bomb.png", "tiny.png", "huge header.png", "notes.txt"}
    assert "not an image file (.txt" in problems["notes.txt"]
    assert "10,000,000,000 pixels" in problems["huge header.png"]
    assert "empty" in problems["zero.png"]
    assert "truncated" in problems["truncated.jpg"]
    assert "not an image" in problems["text.png"]
    assert "--max-pixels" in problems["bomb.png"]
    assert "smaller than one 64 x 64 tile" in problems["tiny.png"]
    assert not summary.exit_ok and summary.pages_complete == 2
    logged = list(read_jsonl(out / "errors.jsonl"))
    assert sorted(Path(e["path"]).name for e in logged) == sorted(problems)
    assert all("\n" not in e["problem"] for e in logged)
    sources = {r["source"] for r in kept_tiles(out)}
    assert sources == {f"in/{good.name}", "in/-dash.png"}


def test_unreadable_file_is_reported(tmp_path, make_page, save_image, monkeypatch):
    root = tmp_path / "in"
    save_image(root / "ok.png", make_page(seed=8))
    locked = save_image(root / "locked.png", make_page(seed=9))
    locked.chmod(0o000)
    if os.geteuid() == 0:  # root reads any file: make the read fail as it would for a user
        import builtins

        import srkit.core.images as core_images

        def guarded_open(file, *args, **kwargs):
            if Path(file) == locked:
                raise PermissionError(13, "Permission denied", str(file))
            return builtins.open(file, *args, **kwargs)

        monkeypatch.setattr(core_images, "open", guarded_open, raising=False)
    summary = tile_pages([root], tmp_path / "out", small())
    locked.chmod(0o644)
    assert [Path(e.path).name for e in summary.skipped] == ["locked.png"]
    assert "permission denied" in summary.skipped[0].problem
    assert summary.pages_complete == 1


def test_symlink_loops_do_not_hang(tmp_path, make_page, save_image):
    root = tmp_path / "in"
    save_image(root / "sub" / "a.png", make_page(seed=10))
    os.symlink("..", root / "sub" / "up")  # loop back to the root
    os.symlink(".", root / "self")
    os.symlink("missing.png", root / "broken.png")
    out = tmp_path / "tiles"
    summary = tile_pages([root], out, small())
    assert summary.pages_complete == 1
    assert [Path(e.path).name for e in summary.skipped] == ["broken.png"]
    assert "broken symbolic link" in summary.skipped[0].problem


def test_duplicates_are_kept_once_smallest_key_wins(tmp_path, make_page, save_image):
    page = make_page(128, 256, seed=11)
    page[:, 128:] = page[:, :128]  # two identical tiles on the same page
    save_image(tmp_path / "in" / "a.png", page)
    save_image(tmp_path / "in" / "b.png", page)  # the same page again under another name
    out = tmp_path / "tiles"
    summary = tile_pages([tmp_path / "in"], out, small(size=128))
    tiles = {r["key"]: r for r in records(out) if r["type"] == "tile"}
    kept = kept_tiles(out)
    assert len(kept) == 1 and summary.rejected == {"duplicate": 3}
    winner = min(tiles)
    assert kept[0]["key"] == winner
    for key, rec in tiles.items():
        if key != winner:
            assert rec["reason"] == "duplicate" and rec["duplicate_of"] == winner and rec["file"] is None
            assert not (out / f"{key}.png").exists()
    pages = complete_pages(out)
    assert sum(p["kept"] for p in pages.values()) == 1


def test_same_result_with_one_and_two_jobs(pages_dir, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    tile_pages([pages_dir], one, small(step=48, jobs=1))
    tile_pages([pages_dir], two, small(step=48, jobs=2))
    assert snapshot(one) == snapshot(two)
    threads = tmp_path / "threads"
    tile_pages([pages_dir], threads, small(step=48, jobs=2, backend="threading"))
    assert snapshot(threads) == snapshot(one)
    assert len(snapshot(one)) > 20


def test_dask_backend_gives_the_same_bytes(pages_dir, tmp_path):
    pytest.importorskip("distributed")
    one, cluster = tmp_path / "one", tmp_path / "dask"
    tile_pages([pages_dir], one, small(step=48, jobs=1))
    tile_pages([pages_dir], cluster, small(step=48, jobs=2, backend="dask"))  # a local 2-process cluster
    assert snapshot(cluster) == snapshot(one)


def test_interrupted_run_finishes_to_the_same_bytes(pages_dir, tmp_path):
    ref = tmp_path / "ref"
    tile_pages([pages_dir], ref, small())
    out = tmp_path / "out"

    def stop_after_two(done, total, tiles):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tile_pages([pages_dir], out, small(), on_progress=stop_after_two)
    assert len(complete_pages(out)) == 2
    for rec in kept_tiles(out):  # every recorded tile is on disk, whole
        assert read_png(out / rec["file"]).shape[:2] == (rec["h"], rec["w"])
    # What a kill -9 in the middle of the next page leaves: a temp file, a tile without a record,
    # and a torn manifest line.
    some_tile = next(out.glob("*.png"))
    temp_name(out / "x.png").write_bytes(b"partial")
    shutil.copy(some_tile, out / "zzz-deadbeef_00000_00000.png")
    with open(out / "tiles.jsonl", "ab") as f:
        f.write(b'{"type":"tile","key":"half')
    resumed = tile_pages([pages_dir], out, small())
    assert resumed.pages_resumed == 2 and resumed.pages_read == 3
    assert snapshot(out) == snapshot(ref)


def test_killed_subprocess_then_rerun_equals_uninterrupted(tmp_path, make_page, save_image):
    root = tmp_path / "in"
    for i in range(8):
        save_image(root / f"p{i}.png", make_page(300, 300, seed=20 + i))
    ref = tmp_path / "ref"
    tile_pages([root], ref, small(size=32))
    out = tmp_path / "out"
    code = ("import sys; from srkit.tiling.run import TileOptions, tile_pages;"
            "tile_pages([sys.argv[1]], sys.argv[2], TileOptions(size=32, jobs=1))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(root), str(out)], cwd=str(tmp_path))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        manifest = out / "tiles.jsonl"
        if manifest.exists() and manifest.stat().st_size > 0:
            break
        time.sleep(0.005)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    killed = proc.wait(timeout=30) == -signal.SIGKILL
    partial = len(complete_pages(out))
    resumed = tile_pages([root], out, small(size=32))
    print(f"killed={killed} complete_before={partial} read_after={resumed.pages_read}")
    assert resumed.pages_resumed == partial
    assert snapshot(out) == snapshot(ref)


def test_pad_keeps_the_border_and_records_the_true_size(tmp_path, make_page, save_image):
    page = make_page(100, 90, seed=12)
    save_image(tmp_path / "in" / "p.png", page)
    out = tmp_path / "pad"
    summary = tile_pages([tmp_path / "in"], out, small(edge="pad", min_lap=0, flat_std=0))
    tiles = [r for r in records(out) if r["type"] == "tile"]
    assert len(tiles) == 4 and summary.tiles_kept == 4
    corner = next(r for r in tiles if r["x"] == 64 and r["y"] == 64)
    assert (corner["true_w"], corner["true_h"]) == (26, 36) and (corner["w"], corner["h"]) == (64, 64)
    img = read_png(out / corner["file"])
    assert np.array_equal(img[:36, :26], page[64:, 64:])
    assert (img[36:] == 255).all() and (img[:, 26:] == 255).all()
    assert "true_w" not in next(r for r in tiles if r["x"] == 0 and r["y"] == 0)


def test_select_best_keeps_the_most_detailed_tiles(tmp_path, make_page, save_image):
    rng = np.random.default_rng(0)
    for i in range(2):  # noise makes every tile unique, so no tile is lost as a duplicate
        page = make_page(160, 160, seed=30 + i).astype(np.int16) + rng.integers(-20, 20, (160, 160))
        save_image(tmp_path / "in" / f"{i}.png", np.clip(page, 0, 255).astype(np.uint8))
    out = tmp_path / "best"
    tile_pages([tmp_path / "in"], out, small(size=32, select="best", max_per_page=3))
    tiles = [r for r in records(out) if r["type"] == "tile"]
    by_page: dict[str, list[dict]] = {}
    for r in tiles:
        by_page.setdefault(r["page"], []).append(r)
    for page_tiles in by_page.values():
        kept = [r for r in page_tiles if r["status"] == "kept"]
        passed = [r for r in page_tiles if r["reason"] in (None, "not_selected")]
        assert len(kept) == 3 and len(passed) > 3
        assert min(r["scores"]["lap"] for r in kept) >= max(
            r["scores"]["lap"] for r in passed if r["status"] != "kept")


def test_rerun_with_other_options_is_refused_and_output_folder_is_not_an_input(pages_dir, tmp_path):
    out = pages_dir / "tiles"  # inside the input folder: must not be tiled itself
    first = tile_pages([pages_dir], out, small())
    again = tile_pages([pages_dir], out, small())
    assert again.pages_found == first.pages_found == 5 and again.pages_read == 0
    with pytest.raises(UsageError, match="size=64"):
        tile_pages([pages_dir], out, small(size=32))
    with pytest.raises(UsageError, match="does not exist"):
        tile_pages([tmp_path / "nope"], tmp_path / "o", small())
    with pytest.raises(UsageError, match="max-per-page"):
        tile_pages([pages_dir], tmp_path / "o", small(select="best"))


def test_every_input_format_and_mode_is_tiled(tmp_path, make_page):
    gray = make_page(128, 192, seed=40)
    rgb = make_page(128, 192, seed=40, rgb=True)
    root = tmp_path / "in"
    root.mkdir()
    Image.fromarray(gray).save(root / "gray.webp", lossless=True)
    Image.fromarray(rgb).save(root / "rgb.tiff")
    Image.fromarray(gray).convert("P").save(root / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(root / "cmyk.jpg", quality=95)
    Image.fromarray(np.dstack([gray, np.full_like(gray, 255)]), "LA").save(root / "la.png")
    Image.fromarray(gray).save(root / "gray.bmp")
    # 16-bit samples a little off the 8-bit grid: must round to the same 8-bit page
    sixteen = gray.astype(np.uint16) * 257 + np.where(gray < 255, 100, 0).astype(np.uint16)
    Image.fromarray(sixteen).save(root / "gray16.png")
    rotated = Image.fromarray(np.ascontiguousarray(np.rot90(gray, 1)))  # stored sideways ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... with "rotate 90 degrees clockwise to display"
    rotated.save(root / "exif.jpg", exif=exif, quality=100)
    out = tmp_path / "tiles"
    summary = tile_pages([root], out, small())
    assert summary.exit_ok and summary.pages_complete == 8, summary.skipped
    pages = {r["source"].split("/")[-1]: r for r in complete_pages(out).values()}
    assert pages["rgb.tiff"]["channels"] == 3 and pages["cmyk.jpg"]["channels"] == 3
    for name in ("gray.webp", "palette.png", "la.png", "gray.bmp", "gray16.png"):
        assert pages[name]["channels"] == 1, name
    assert (pages["exif.jpg"]["height"], pages["exif.jpg"]["width"]) == gray.shape
    assert pages["exif.jpg"]["image"]["exif_transposed"] is True
    corner = {r["source"].split("/")[-1]: r for r in records(out)
              if r["type"] == "tile" and r["x"] == r["y"] == 0}
    for name in ("gray.webp", "palette.png", "la.png", "gray.bmp", "gray16.png"):
        # The same pixels from five files: one is kept, the others point to it as duplicates.
        rec = corner[name]
        key = rec["key"] if rec["status"] == "kept" else rec["duplicate_of"]
        assert np.array_equal(read_png(out / f"{key}.png"), gray[:64, :64]), name
    assert sum(corner[n]["status"] == "kept" for n in ("gray.webp", "palette.png", "la.png", "gray.bmp")) == 1
