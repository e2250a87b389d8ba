"""sr-data pack / verify / inspect on workspaces laid out as tile and degrade write them."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest
from store_helpers import make_pairs, make_workspace
from typer.testing import CliRunner

from srkit.cli.data import app
from srkit.shards.pack import pack_store
from srkit.shards.reader import StoreError, open_store
from srkit.shards.verify import verify_store

runner = CliRunner()
KILL_AFTER = Path(__file__).with_name("kill_after.py")  # runs sr-data, SIGKILLs it after N records


def _contents(store_dir: Path) -> dict[str, tuple[bytes, bytes]]:
    with open_store(store_dir) as store:
        return {p.key: (p.hr.tobytes(), p.lr.tobytes()) for p in store}


@pytest.mark.parametrize("fmt", ["lmdb", "hdf5"])
@pytest.mark.parametrize("codec", ["raw", "png"])
def test_pack_round_trip_and_png_bytes_kept(workspace, fmt: str, codec: str):
    root, tiles, lr_dir, pairs = workspace
    out = root / "store"
    summary = pack_store(tiles, lr_dir, out, fmt=fmt, codec=codec, shard_size="3KiB", val_fraction=0.1)
    assert summary["samples"] == len(pairs) and summary["shards"] > 1 and not summary["missing"]
    with open_store(out) as store:
        assert store.keys == [k for k, _, _ in pairs]
        for i, (key, hr, lr) in enumerate(pairs):
            p = store.read(i)
            assert p.key == key and np.array_equal(p.hr, hr) and np.array_equal(p.lr, lr)
        assert store.index["recipe"]["name"] == "test_recipe"
        lineage = [json.loads(line) for line in (out / "lineage.jsonl").read_text().splitlines()]
        assert [r["key"] for r in lineage] == store.keys
        assert lineage[0]["degradation"]["hr_sha256"] == hashlib.sha256(
            (tiles / f"{pairs[0][0]}.png").read_bytes()).hexdigest()
    if codec == "png" and fmt == "lmdb":  # the tile file's bytes, as they are, inside the record
        data = b"".join(p.read_bytes() for p in out.glob("shard-*.lmdb/data.mdb"))
        assert (tiles / f"{pairs[5][0]}.png").read_bytes() in data
    assert verify_store(out).ok


def test_pack_reports_missing_and_cli_defaults(workspace, monkeypatch):
    root, tiles, lr_dir, pairs = workspace
    (lr_dir / f"{pairs[0][0]}.png").unlink()
    monkeypatch.chdir(root)
    result = runner.invoke(app, ["pack", "lmdb"])
    assert result.exit_code == 1, result.output
    assert pairs[0][0] in result.output and "sr-train --shards data.lmdb" in result.output
    with open_store(root / "data.lmdb") as store:
        assert len(store) == len(pairs) - 1
    # a second LR set: the defaults can no longer guess, and say which exist
    (root / "lr" / "other").mkdir()
    (root / "lr" / "other" / "degradations.jsonl").write_text("")
    result = runner.invoke(app, ["pack", "hdf5"])
    assert result.exit_code == 2 and "--lr" in result.output


@pytest.mark.parametrize("fmt", ["lmdb", "hdf5"])
def test_kill_during_pack_then_rerun_gives_same_store(tmp_path: Path, fmt: str):
    pairs = make_pairs(30, seed=9, size=32)
    tiles, lr_dir = make_workspace(tmp_path, pairs, scale=2)
    pack = ["pack", fmt, "--hr", str(tiles), "--lr", str(lr_dir), "--shard-size", "4KiB"]
    args = [sys.executable, "-m", "srkit.cli.data", *pack]
    clean = subprocess.run(args + ["--out", str(tmp_path / "clean")], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    resumed = tmp_path / "resumed"
    killed = subprocess.run([sys.executable, str(KILL_AFTER), "11", *pack, "--out", str(resumed)],
                            capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert not (resumed / "index.json").exists()
    assert list(resumed.glob(".shard-*tmp-*"))  # the kill landed inside a shard, while it was written
    with pytest.raises(StoreError, match="interrupted"):
        open_store(resumed)
    progress = (resumed / "progress.jsonl").read_text().splitlines()
    assert 0 < len(progress)  # completed shards were recorded before the kill
    rerun = subprocess.run(args + ["--out", str(resumed)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"({len(progress)} kept from an earlier run)" in " ".join(rerun.stderr.split())
    assert _contents(resumed) == _contents(tmp_path / "clean")
    # shard files are byte-identical to an uninterrupted pack
    shards = sorted((tmp_path / "clean").glob("shard-*"))
    assert len(shards) > len(progress)
    for shard in shards:
        name = f"{shard.name}/data.mdb" if fmt == "lmdb" else shard.name
        assert (tmp_path / "clean" / name).read_bytes() == (resumed / name).read_bytes()
    assert not list(resumed.glob(".*tmp-*")) and not (resumed / "progress.jsonl").exists()


def test_verify_names_flipped_record(workspace):
    root, tiles, lr_dir, pairs = workspace
    out = root / "data.h5"
    pack_store(tiles, lr_dir, out, fmt="hdf5", codec="raw")
    bad_key, bad_hr = pairs[7][0], pairs[7][1]
    shard = out / "shard-00000.h5"
    data = bytearray(shard.read_bytes())
    pos = data.find(bad_hr.tobytes())
    data[pos + 3] ^= 0x01
    shard.write_bytes(bytes(data))
    result = runner.invoke(app, ["verify", str(out)])
    assert result.exit_code == 3
    report = verify_store(out)
    assert [p.key for p in report.problems] == [bad_key]
    assert "checksum" in report.problems[0].problem and "shard-00000.h5" in report.problems[0].problem


def test_inspect_writes_sheet(workspace, tmp_path: Path):
    root, tiles, lr_dir, pairs = workspace
    pack_store(tiles, lr_dir, root / "data.lmdb", fmt="lmdb", codec="png")
    sheet = tmp_path / "sheet.png"
    result = runner.invoke(app, ["inspect", str(root / "data.lmdb"), "--n", "4", "--out", str(sheet)])
    assert result.exit_code == 0, result.output
    assert "checksums xxh3_64" in " ".join(result.output.split())
    img = cv2.imread(str(sheet), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.ndim == 2 and img.shape[1] > 2 * 2 * 32
    result = runner.invoke(app, ["inspect", str(root / "nothing")])
    assert result.exit_code == 3


def _read_basicsr_side(folder: Path) -> dict[str, np.ndarray]:
    """A reader written from the published format description, not from our code."""
    out = {}
    env = lmdb.open(str(folder), readonly=True, lock=False, readahead=False, meminit=False)
    with env.begin(write=False) as txn:
        for line in (folder / "meta_info.txt").read_text().splitlines():
            name, shape, level = line.split(" ")
            key = name.split(".")[0]
            h, w, c = (int(v) for v in shape.strip("()").split(","))
            img = cv2.imdecode(np.frombuffer(txn.get(key.encode("ascii")), np.uint8), cv2.IMREAD_COLOR)
            assert img.shape == (h, w, 3) and int(level) >= 0
            out[key] = (img, c)
    env.close()
    return out


@pytest.mark.parametrize("rgb", [False, True])
def test_basicsr_layout_read_back(tmp_path: Path, rgb: bool):
    pairs = make_pairs(10, seed=11, size=32, scale=2, rgb=rgb, blank_first=True)
    tiles, lr_dir = make_workspace(tmp_path, pairs, scale=2)
    out = tmp_path / "basicsr"
    pack_store(tiles, lr_dir, out, fmt="lmdb", layout="basicsr")
    hr_side, lr_side = _read_basicsr_side(out / "hr.lmdb"), _read_basicsr_side(out / "lr.lmdb")
    assert sorted(hr_side) == sorted(lr_side) == [k for k, _, _ in pairs]
    for key, hr, lr in pairs:
        for got, want in ((hr_side[key], hr), (lr_side[key], lr)):
            img, c = got
            assert c == (3 if rgb else 1)
            expected = cv2.cvtColor(want, cv2.COLOR_RGB2BGR if rgb else cv2.COLOR_GRAY2BGR)
            assert np.array_equal(img, expected)
    env_file = out / "hr.lmdb" / "data.mdb"
    assert env_file.stat().st_size < 4 * sum((tiles / f"{k}.png").stat().st_size for k, _, _ in pairs) + 65536


@pytest.mark.parametrize("layout", ["ours", "basicsr"])
def test_stale_lr_is_refused(workspace, layout: str):
    root, tiles, lr_dir, pairs = workspace
    hr = pairs[2][1].copy()
    hr[0, 0] ^= 1
    cv2.imwrite(str(tiles / f"{pairs[2][0]}.png"), hr)
    result = runner.invoke(app, ["pack", "lmdb", "--hr", str(tiles), "--lr", str(lr_dir),
                                 "--out", str(root / "s"), "--layout", layout])
    assert result.exit_code == 3 and "sr-data degrade" in result.output
    assert "sha256 differs" in " ".join(result.output.split())
    with pytest.raises(StoreError):
        open_store(root / "s")
    assert not [p.name for p in (root / "s").iterdir() if p.name.startswith(".")]  # no temporary left
    assert not (root / "s" / "hr.lmdb").exists()


def test_threaded_pack_gives_the_same_store(workspace):
    root, tiles, lr_dir, _ = workspace
    pack_store(tiles, lr_dir, root / "one", fmt="lmdb", codec="raw", shard_size="4KiB")
    pack_store(tiles, lr_dir, root / "three", fmt="lmdb", codec="raw", shard_size="4KiB", jobs=3)
    one = sorted((root / "one").glob("shard-*/data.mdb"))
    assert len(one) > 1
    for path in one:
        assert path.read_bytes() == (root / "three" / path.parent.name / "data.mdb").read_bytes()
    assert (root / "one" / "index.json").read_text() == (root / "three" / "index.json").read_text()
