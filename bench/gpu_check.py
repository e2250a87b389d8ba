"""GPU readiness: every architecture trains, upscales and exports on CUDA, and agrees with the CPU.

On a CUDA machine, for each architecture (1-channel x4 store of 400 px tiles, the real `dev` manga pages
when the project's test images are beside the checkout, else procedural pages from
``srkit.demo.pages``):

1. ``sr-train`` for ``--iters`` iterations with ``--amp bf16 --channels-last --compile`` (batch 16,
   256 px crops, 4 loader workers): samples/s and data stall (the mean of the log records after the
   first, from metrics.jsonl) and the peak CUDA memory;
2. ``sr-train upscale``'s code on a 300 x 420 test page on the GPU (fp32 and ``--half``) and on the
   CPU: max difference in gray levels (fp32 must be within 1 level, fp16 within 3);
3. ``sr-train export --format onnx``, then onnxruntime (its CUDA provider when installed) against
   torch: max difference.

Prints one table row per architecture and exits non-zero when a check fails.
Run: python bench/gpu_check.py [--iters 300] [--only ARCH] [--no-compile]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
ARCHS = {  # arch -> options: the published / community default sizes
    "compact": {}, "ultracompact": {}, "superultracompact": {}, "span": {}, "span_s": {},
    "realplksr": {}, "realplksr_dysample": {"dysample": True}, "rrdbnet": {}, "srresnet": {},
}


def build_store(folder: Path) -> Path:
    """400 px tiles of the dev pages (or procedural ones) -> rawkuma_like x4 -> LMDB, raw codec."""
    from srkit.core.images import read_image
    from srkit.core.keys import tile_key
    from srkit.degrade.recipe import load_recipe
    from srkit.shards.writer import write_store

    real = ROOT.parent / "shared" / "data" / "real" / "manga"
    if real.is_dir():
        pages = [read_image(p, color="gray")[0] for p in sorted(real.glob("*.jpg"))
                 if p.name.endswith(("p007.jpg", "p041.jpg", "p145.jpg"))]  # the dev pages only
    else:
        from srkit.demo.pages import manga_page

        pages = [manga_page(seed=s) for s in range(3)]
    recipe = load_recipe("rawkuma_like")
    pairs = []
    for n, page in enumerate(pages):
        for y in range(0, page.shape[0] - 399, 200):
            for x in range(0, page.shape[1] - 399, 200):
                key = tile_key(f"page{n}", y, x)
                hr = np.ascontiguousarray(page[y:y + 400, x:x + 400])
                pairs.append((key, hr, recipe.plan_and_apply(hr, key, None)[0]))
    write_store(folder / "data.lmdb", pairs, fmt="lmdb", scale=4, codec="raw", val_fraction=0.05,
                shard_size="64MB")
    return folder / "data.lmdb"


def train_row(name: str, options: dict, store: Path, out: Path, iters: int, compile_: bool) -> dict:
    from srkit.core.manifest import read_jsonl
    from srkit.train.config import resolve
    from srkit.train.loop import train

    arch = "realplksr" if name.startswith("realplksr") else name
    cfg = resolve(overrides={
        "model": {"arch": arch, "options": options},
        "data": {"gt_size": 256, "batch_size": 16, "workers": 4, "val_max": 8},
        "optim": {"lr": 2e-4, "schedule": "cosine"},
        "train": {"iters": iters, "device": "cuda", "amp": "bf16", "channels_last": True, "compile": compile_,
                  "log_every": max(1, iters // 6), "val_every": iters, "ckpt_every": iters, "out": str(out)}})
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    train(cfg, store, quiet=True)
    records = [r for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "train"][1:]
    return {"train_s": round(time.perf_counter() - started, 1),
            "samples_per_s": round(float(np.mean([r["samples_per_s"] for r in records])), 1),
            "data_stall": round(float(np.mean([r["data_stall"] for r in records])), 3),
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)}


def use_row(model_path: Path) -> dict:
    from srkit.train.export import export_file
    from srkit.train.inference import load_model
    from srkit.train.upscale import upscale_array

    page = np.random.default_rng(0).integers(0, 256, (300, 420, 1), dtype=np.uint8)
    page[100:200, 50:300] = 20
    cpu = upscale_array(load_model(model_path, "cpu"), page, tile=128, overlap=16).astype(int)
    gpu = upscale_array(load_model(model_path, "cuda"), page, tile=128, overlap=16).astype(int)
    half = load_model(model_path, "cuda")
    half.use_half()
    fp16 = upscale_array(half, page, tile=128, overlap=16).astype(int)
    row = {"cuda_vs_cpu": int(np.abs(gpu - cpu).max()), "fp16_vs_cpu": int(np.abs(fp16 - cpu).max())}
    try:
        _, diff = export_file(model_path, "onnx")
        row["onnx_vs_torch"] = float(f"{diff:.2e}")
    except Exception as err:  # noqa: BLE001 - a row says what failed, the others still run
        row["onnx_vs_torch"] = f"{type(err).__name__}: {str(err)[:80]}"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--only", default="")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this check is for a GPU machine")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    failed = False
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        store = build_store(Path(tmp))
        for name, options in ARCHS.items():
            if args.only and name != args.only:
                continue
            out = Path(tmp) / name
            row = {"arch": name}
            try:
                row.update(train_row(name, options, store, out, args.iters, not args.no_compile))
                row.update(use_row(out / "model.safetensors"))
                ok = row["cuda_vs_cpu"] <= 1 and row["fp16_vs_cpu"] <= 3 and \
                    isinstance(row["onnx_vs_torch"], float) and row["onnx_vs_torch"] <= 1e-4
            except Exception as err:  # noqa: BLE001
                row["error"] = f"{type(err).__name__}: {str(err)[:200]}"
                ok = False
            failed |= not ok
            print(("ok   " if ok else "FAIL ") + json.dumps(row), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
