"""Peak memory of `sr-train upscale` on a large page, measured with /usr/bin/time -v.

Makes a 6000 x 8000 gray manga-like page (strokes over a dot screentone) and an untrained model of the
`smoke` preset's size (SRVGGNetCompact, 32 features, 4 convolutions, x4, 1 channel; weights do not
change the memory), runs `sr-train upscale MODEL page.png --tile 512` under `/usr/bin/time -v` and
reports its maximum resident set size against the output's uint8 size. The target (issue 12): at most
1.5 x the output's uint8 size + 300 MB.

Run: python bench/upscale_memory.py [--work DIR] [--width 6000 --height 8000 --scale 4 --tile 512]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np


def make_inputs(work: Path, width: int, height: int, scale: int) -> tuple[Path, Path]:
    import torch
    from safetensors.torch import save_file

    from srkit.train.models import build_model

    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = build_model("compact", 1, 1, scale, num_feat=32, num_conv=4)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(work / "model.safetensors"))
    (work / "model.json").write_text(json.dumps(model.arch_config))
    rng = np.random.default_rng(0)
    page = np.full((height, width), 245, np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    tone = ((np.sin(xx * 0.9) + np.sin(yy * 0.9)) > 0.3).astype(np.uint8) * 80
    y0, y1, x0, x1 = height // 8, height // 2, width // 12, width - width // 12
    page[y0:y1, x0:x1] -= tone[y0:y1, x0:x1]
    for _ in range(400):
        xs, ys = rng.integers(0, width, 2), rng.integers(0, height, 2)
        cv2.line(page, (int(xs[0]), int(ys[0])), (int(xs[1]), int(ys[1])), 0, int(rng.integers(1, 6)))
    cv2.imwrite(str(work / "page.png"), page)
    return work / "model.safetensors", work / "page.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/srkit_upscale_memory"))
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=8000)
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--tile", type=int, default=512)
    args = parser.parse_args()
    model, page = make_inputs(args.work, args.width, args.height, args.scale)
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", "from srkit.cli.train import main; main()",
           "upscale", str(model), str(page), "--out", str(args.work / "up"), "--tile", str(args.tile),
           "--device", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    cpu = sum(float(re.search(rf"{k} time \(seconds\): ([\d.]+)", done.stderr).group(1))
              for k in ("User", "System"))
    out_bytes = args.width * args.height * args.scale ** 2
    peak = peak_kb * 1024
    target = 1.5 * out_bytes + 300e6
    print(f"{args.width} x {args.height} gray at x{args.scale}, --tile {args.tile}: output "
          f"{out_bytes / 1e6:.0f} MB (uint8); peak RSS {peak / 1e6:.0f} MB ({peak_kb} kB) = "
          f"{peak / out_bytes:.2f} x the output; target {target / 1e6:.0f} MB: "
          f"{'met' if peak <= target else 'NOT met'}; CPU {cpu:.0f} s (user + system)")


if __name__ == "__main__":
    main()
