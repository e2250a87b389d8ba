from __future__ import annotations

import subprocess
import sys

from srkit.train.evaluate import BASELINES


def test_demo_runs_end_to_end_and_beats_bicubic(tmp_path):
    out = tmp_path / "demo"
    cmd = [sys.executable, "-c", "from srkit.cli.data import main; main()", "demo", "--out", str(out),
           "--pages", "5"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for made in ["tiles/tiles.jsonl", "lr/rawkuma_like/degradations.jsonl", "data.lmdb/index.json",
                 "runs/smoke/model.safetensors", "runs/smoke/config.toml", "eval/table.md"]:
        assert (out / made).is_file(), made
    advice = " ".join(proc.stderr.split())  # this machine has no GPU: no preset that needs days on it
    assert "--preset compact_x4" not in advice and ("--preset smoke" in advice or "--preset cpu_x4" in advice)
    header = (out / "eval" / "table.md").read_text().splitlines()[0]
    assert all(f"{m} PSNR" in header for m in (*BASELINES, "model"))
    # a rerun finishes nothing new and says the model is already trained
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "already trained" in again.stderr
