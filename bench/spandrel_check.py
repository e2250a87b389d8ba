"""Do the models we export load in spandrel (chaiNNer, ComfyUI) as the same network?

spandrel is not a dependency of this project (it needs torchvision), so the check runs in two Python
environments:

1. here (srkit installed): for every case (architecture, channels, scale) build the model with
   randomised weights, export it as a run does (``model.safetensors`` + ``model.pth`` + ``model.json``),
   write a test image and upscale it the way ``sr-train upscale`` does;
2. in a second environment with spandrel 0.4.2 (``--spandrel-python``): load each ``model.safetensors``
   with spandrel's ``ModelLoader``, check the architecture it names, the scale and channels, run it on
   the same image and compare with our output (8-bit images: at most 1 level apart, from rounding).

Setup of the second environment (x86_64; ~5.5 GB, a CUDA build of torch that also runs on the CPU):
    python3 -m venv /tmp/spandrel-venv
    /tmp/spandrel-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 spandrel==0.4.2 safetensors pillow
Run: python bench/spandrel_check.py --spandrel-python /tmp/spandrel-venv/bin/python [--out DIR]
Prints one line per case and exits non-zero when any case fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# (case name, arch as sr-train takes it, options, the architecture name spandrel must report and tags
# it must give; it names RealPLKSR "PLKSR" with the tag "Real")
MODELS = [
    ("span", "span", {}, "SPAN", ["52nf"]),
    ("span_s", "span_s", {}, "SPAN", ["48nf"]),
    ("span_norm", "span", {"norm": True}, "SPAN", ["52nf"]),
    ("realplksr", "realplksr", {}, "PLKSR", ["64dim", "28nb", "17ks", "Real", "LayerNorm"]),
    ("realplksr_groupnorm", "realplksr", {"layer_norm": False, "num_block": 4}, "PLKSR", ["Real"]),
    ("realplksr_dysample", "realplksr", {"dysample": True, "num_block": 4}, "PLKSR", ["Real", "DySample"]),
    ("ultracompact", "ultracompact", {}, "RealESRGAN Compact", ["64nf", "8nc"]),
    ("superultracompact", "superultracompact", {}, "RealESRGAN Compact", ["24nf", "8nc"]),
    ("rrdbnet", "rrdbnet", {"num_block": 2}, "ESRGAN", ["64nf", "2nb"]),
]
SCALES = {"rrdbnet": (2, 4, 8), "span": (2, 4, 8), "superultracompact": (2, 4, 8)}
CHANNELS = {"span_norm": (3,)}  # the published normalisation subtracts an RGB mean


def test_image(channels: int) -> np.ndarray:
    """A 72 x 88 image with edges, gradients and fine texture (no files needed)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:72, 0:88]
    base = 128 + 90 * np.sin(x / 5.0) * np.cos(y / 7.0) + rng.normal(0, 12, (72, 88))
    base[20:40, 30:60] = 30
    planes = [np.clip(base + 25 * c * np.sin((x + y) / 9.0), 0, 255) for c in range(channels)]
    img = np.stack(planes, axis=2).astype(np.uint8)
    return img[:, :, 0] if channels == 1 else img


def export_cases(out: Path, only: str = "") -> list[dict]:
    """Stage 1 (srkit): models, their exports, the test inputs and our upscaled outputs."""
    import torch

    from srkit.core.images import write_png
    from srkit.train.export import export_model
    from srkit.train.inference import load_model
    from srkit.train.models import build_model
    from srkit.train.upscale import upscale_file

    cases = []
    for name, arch, options, expected, tags in MODELS:
        if only and not name.startswith(only):
            continue
        for channels in CHANNELS.get(name, (1, 3)):
            for scale in SCALES.get(name, (2, 4)):
                torch.manual_seed(len(cases))
                model = build_model(arch, channels, channels, scale, **options)
                with torch.no_grad():  # away from any init that hides a wrong wiring (zeros, ones)
                    for p in model.parameters():
                        p.add_(0.02 * torch.randn_like(p))
                folder = out / f"{name}_c{channels}_x{scale}"
                export_model(model.eval(), folder)
                write_png(folder / "input.png", test_image(channels))
                upscale_file(load_model(folder / "model.safetensors"), folder / "input.png",
                             folder / "ours.png")
                cases.append({"folder": str(folder), "arch": expected, "tags": tags, "channels": channels,
                              "scale": scale})
    return cases


def check_in_spandrel(cases: list[dict]) -> int:
    """Stage 2 (spandrel): load, name, run, compare. Returns the number of failed cases."""
    import spandrel
    import torch
    from PIL import Image

    failed = 0
    for case in cases:
        folder = Path(case["folder"])
        try:
            desc = spandrel.ModelLoader().load_from_file(str(folder / "model.safetensors")).eval()
            img = np.asarray(Image.open(folder / "input.png"))
            img = img[:, :, None] if img.ndim == 2 else img
            if desc.input_channels == 3 and img.shape[2] == 1:
                img = np.repeat(img, 3, axis=2)  # as chaiNNer feeds a gray image to an RGB model
            x = torch.from_numpy(img.transpose(2, 0, 1).copy()).float().div(255)[None]
            with torch.no_grad():
                y = desc.model(x).clamp(0, 1)[0].permute(1, 2, 0).double().numpy()
            theirs = np.clip(np.rint(y * 255), 0, 255).astype(np.int16)
            ours = np.asarray(Image.open(folder / "ours.png")).astype(np.int16)
            ours = ours[:, :, None] if ours.ndim == 2 else ours
            spread = int(np.ptp(theirs, axis=2).max()) if case["channels"] == 1 else 0  # gray stays gray
            diff = np.abs(theirs - ours).max() if theirs.shape == ours.shape else \
                np.abs(theirs[:, :, :1] - ours).max() if theirs.shape[:2] == ours.shape[:2] else 999
            ok = (desc.architecture.name == case["arch"] and set(case["tags"]) <= set(desc.tags)
                  and desc.scale == case["scale"] and diff <= 1 and spread <= 1)
            print(f"{'ok  ' if ok else 'FAIL'} {folder.name:34s} spandrel: {desc.architecture.name} "
                  f"x{desc.scale} {desc.input_channels}->{desc.output_channels} ch; max |diff| {diff} "
                  f"levels; channel spread {spread}; tags {','.join(desc.tags)}")
        except Exception as err:  # noqa: BLE001 - report every case, whatever breaks
            ok = False
            print(f"FAIL {folder.name:34s} {type(err).__name__}: {err}")
        failed += not ok
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spandrel-python", help="python of the environment that has spandrel")
    parser.add_argument("--out", type=Path, help="keep the exported cases here (default: a temp folder)")
    parser.add_argument("--only", default="", help="only the cases whose name starts with this")
    parser.add_argument("--stage2", type=Path, help=argparse.SUPPRESS)  # cases.json, in the spandrel env
    args = parser.parse_args()
    if args.stage2:
        sys.exit(1 if check_in_spandrel(json.loads(args.stage2.read_text())) else 0)
    if not args.spandrel_python:
        parser.error("--spandrel-python is required (see the docstring for the setup)")
    with tempfile.TemporaryDirectory(prefix="spandrel_check_") as tmp:
        out = args.out or Path(tmp)
        cases = export_cases(out, args.only)
        (out / "cases.json").write_text(json.dumps(cases, indent=1))
        stage2 = [args.spandrel_python, __file__, "--stage2", str(out / "cases.json")]
        code = subprocess.run(stage2).returncode
    print(f"{len(cases)} cases: {'all load in spandrel and match' if code == 0 else 'FAILURES above'}")
    sys.exit(code)


if __name__ == "__main__":
    main()
