from __future__ import annotations

import errno
import subprocess
import sys

from typer.testing import CliRunner

from srkit.cli.data import app
from srkit.core.console import EXIT_FAILED, EXIT_OK, EXIT_SKIPPED, EXIT_USAGE
from srkit.tiling.manifest import kept_tiles

runner = CliRunner()


def test_tile_command_writes_tiles_and_names_the_next_step(pages_dir, tmp_path):
    out = tmp_path / "tiles"
    result = runner.invoke(app, ["tile", str(pages_dir), "--out", str(out), "--size", "64", "--jobs", "1"])
    assert result.exit_code == EXIT_OK, result.output
    kept = kept_tiles(out)
    assert kept and f"{len(kept)} tiles" in result.output
    assert "rejected: " in result.output and "pages read now" in result.output
    assert "sr-data degrade --recipe rawkuma_like" in result.output
    again = runner.invoke(app, ["tile", str(pages_dir), "--out", str(out), "--size", "64", "--jobs", "1"])
    assert again.exit_code == EXIT_OK and "already done" in again.output


def test_skipped_inputs_give_exit_code_1_and_one_line_each(tmp_path, make_page, save_image):
    save_image(tmp_path / "in" / "good.png", make_page(seed=1))
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    result = runner.invoke(app, ["tile", str(tmp_path / "in"), "--out", str(tmp_path / "t"), "--size", "64",
                                 "--jobs", "1"])
    assert result.exit_code == EXIT_SKIPPED, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("skipped")]
    assert len(lines) == 1 and "broken.png" in lines[0]
    assert "Traceback" not in result.output


def test_usage_errors_exit_2_without_traceback(pages_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: import fails
    for args, words in [
        (["--edge", "wrap"], "--edge"),
        (["--backend", "dask"], "distributed"),
        (["--select", "best"], "--max-per-page"),
        (["--png-level", "12"], "--png-level"),
    ]:
        result = runner.invoke(app, ["tile", str(pages_dir), "--out", str(tmp_path / "t"), *args])
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert words in result.output and "Traceback" not in result.output
    missing = runner.invoke(app, ["tile", str(tmp_path / "nope"), "--out", str(tmp_path / "t")])
    assert missing.exit_code == EXIT_USAGE and "does not exist" in " ".join(missing.output.split())


def test_help_documents_exit_codes():
    result = runner.invoke(app, ["tile", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Exit codes" in result.output and "--edge" in result.output and "--max-pixels" in result.output


def test_leading_dash_name_through_the_real_command(tmp_path, make_page, save_image):
    save_image(tmp_path / "-page one.png", make_page(seed=2))
    result = subprocess.run(
        [sys.executable, "-m", "srkit.cli.data", "tile", "--size", "64", "--jobs", "1", "--",
         "-page one.png"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert {r["source"] for r in kept_tiles(tmp_path / "tiles")} == {"-page one.png"}


def test_disk_full_stops_with_exit_3_and_a_rerun_finishes(pages_dir, tmp_path, monkeypatch):
    import srkit.tiling.page as tiling_page
    from srkit.core.files import atomic_write_bytes

    calls = {"n": 0}

    def fill_up(path, data, fsync=False):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        atomic_write_bytes(path, data, fsync)

    out = tmp_path / "tiles"
    args = ["tile", str(pages_dir), "--out", str(out), "--size", "64", "--jobs", "1"]
    monkeypatch.setattr(tiling_page, "atomic_write_bytes", fill_up)
    full = runner.invoke(app, args)
    assert full.exit_code == EXIT_FAILED, full.output
    assert "disk full" in " ".join(full.output.split()) and "Traceback" not in full.output
    monkeypatch.undo()
    done = runner.invoke(app, args)
    assert done.exit_code == EXIT_OK, done.output
    ref = tmp_path / "ref"
    runner.invoke(app, ["tile", str(pages_dir), "--out", str(ref), "--size", "64", "--jobs", "1"])
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in ref.glob("*.png"))
    assert (out / "tiles.jsonl").read_bytes() == (ref / "tiles.jsonl").read_bytes()
