"""``sr-train score``: pairs an upscaler's outputs with the originals, scores them, skips what it cannot."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from srkit.cli.train import app
from srkit.core.images import write_png
from srkit.demo.pages import manga_page
from srkit.train.manga_scores import manga_scores
from srkit.train.metrics import psnr_ssim_y
from srkit.train.score_pairs import COLUMNS, pair_files, score_folders

runner = CliRunner()


def save(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, img)


def write_jpeg(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95])


def folders(tmp_path: Path) -> tuple[Path, Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """HR pages (PNG and JPEG, nested, one RGB) and their upscaled versions (PNG), as two folders."""
    hr_dir, sr_dir = tmp_path / "hr", tmp_path / "sr"
    pages = {}
    for i, name in enumerate(["001.png", "ch2/002.jpg", "ch2/003.png"]):
        hr = manga_page(320, 240, seed=i)
        if name.endswith(".jpg"):
            write_jpeg(hr_dir / name, hr)
            hr = cv2.imread(str(hr_dir / name), cv2.IMREAD_GRAYSCALE)
        else:
            save(hr_dir / name, hr)
        sr = cv2.GaussianBlur(hr, (0, 0), 0.8 + 0.3 * i)
        if name == "ch2/003.png":  # an RGB upscaler's output of a gray page
            sr = np.repeat(sr[:, :, None], 3, axis=2)
            sr[:20, :20, 0] = 255
        save((sr_dir / name).with_suffix(".png"), sr)
        pages[name] = (hr, sr)
    return hr_dir, sr_dir, pages


def test_scores_every_pair_as_the_functions_do(tmp_path):
    hr_dir, sr_dir, pages = folders(tmp_path)
    report = score_folders(hr_dir, sr_dir, border=2, out_dir=tmp_path / "scores")
    assert report.skipped == [] and sorted(report.rows) == sorted(pages)
    for name, (hr, sr) in pages.items():
        row = report.rows[name]
        gray_sr = cv2.cvtColor(sr, cv2.COLOR_RGB2GRAY) if sr.ndim == 3 else sr
        assert (row["psnr"], row["ssim"]) == psnr_ssim_y(gray_sr, hr, crop_border=2)
        expected = manga_scores(gray_sr, hr, border=2)
        assert all(row[k] == v or (math.isnan(row[k]) and math.isnan(v)) for k, v in expected.items())
    table = list(csv.DictReader(open(tmp_path / "scores" / "scores.csv")))
    assert [r["image"] for r in table] == [*report.rows, "mean"] and list(table[0]) == ["image", *COLUMNS]
    mean_psnr = np.mean([row["psnr"] for row in report.rows.values()])
    assert abs(float(table[-1]["psnr"]) - mean_psnr) < 1e-4
    assert "| image | psnr | ssim | tone_kept |" in (tmp_path / "scores" / "scores.md").read_text()


def test_pairs_by_relative_path_and_skips_with_a_reason(tmp_path):
    hr_dir, sr_dir, pages = folders(tmp_path)
    save(hr_dir / "orphan.png", manga_page(100, 100))
    save(hr_dir / "big.png", manga_page(100, 100))
    save(sr_dir / "big.png", manga_page(400, 400))  # the HR upscaled, not its LR
    (hr_dir / "broken.png").write_bytes(b"not a png")
    (sr_dir / "broken.png").write_bytes(b"not a png")
    save(hr_dir / "twice.png", manga_page(100, 100))
    save(sr_dir / "twice.webp.png", manga_page(100, 100))  # not a match: another name
    cv2.imwrite(str(sr_dir / "twice.jpg"), manga_page(100, 100))
    cv2.imwrite(str(sr_dir / "twice.bmp"), manga_page(100, 100))
    pairs, skipped = pair_files(hr_dir, sr_dir)
    assert (hr_dir / "ch2/002.jpg", sr_dir / "ch2/002.png") in pairs
    assert any("orphan.png: no image orphan.*" in s for s in skipped)
    assert any("twice.png: several images" in s and "twice.bmp, twice.jpg" in s for s in skipped)
    report = score_folders(hr_dir, sr_dir, out_dir=None)
    assert sorted(report.rows) == sorted(pages)
    reasons = "\n".join(report.skipped)
    assert "400 x 400 px, its HR" in reasons and "broken.png" in reasons and len(report.skipped) == 4


def test_means_leave_out_what_was_not_measured(tmp_path):
    hr_dir, sr_dir = tmp_path / "hr", tmp_path / "sr"
    page = manga_page(800, 568, seed=0)  # holds screentone windows
    save(hr_dir / "same.png", page)
    save(sr_dir / "same.png", page)  # PSNR inf
    save(hr_dir / "paper.png", np.full((200, 200), 255, np.uint8))  # no tone, no lines
    save(sr_dir / "paper.png", np.full((200, 200), 250, np.uint8))
    report = score_folders(hr_dir, sr_dir, out_dir=None)
    means = report.means()
    assert report.rows["same.png"]["psnr"] == math.inf
    assert means["psnr"] == report.rows["paper.png"]["psnr"] and means["tone_kept"] == 1.0
    table = {row["image"]: row for row in report.table()}
    assert table["same.png"]["psnr"] == "inf" and table["paper.png"]["line_f1"] == "n/a"


def test_the_command_prints_writes_and_exits_by_the_rules(tmp_path):
    hr_dir, sr_dir, _ = folders(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(app, ["score", "--hr", str(hr_dir), "--sr", str(sr_dir), "--scale", "2",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "tone" in result.output and "mean" in result.output and (out / "scores.csv").exists()
    save(hr_dir / "orphan.png", manga_page(100, 100))
    result = runner.invoke(app, ["score", "--hr", str(hr_dir), "--sr", str(sr_dir), "--out", str(out)])
    assert result.exit_code == 1 and "skipped" in result.output and "orphan.png" in result.output
    result = runner.invoke(app, ["score", "--hr", str(tmp_path / "nowhere"), "--sr", str(sr_dir)])
    assert result.exit_code == 2 and "not a folder" in " ".join(result.output.split())
    help_text = runner.invoke(app, ["score", "--help"]).output
    assert "--hr" in help_text and "--scale" in help_text
