"""The README's architecture table: parameters and CPU training speed of every architecture and size.

Each row trains the generator alone (forward, L1 loss, backward, Adam step) on random 1-channel x4
batches of 48 px LR crops (192 px HR), the crops of the cpu_x4 preset, after one warm-up step; batch
16, or 4 for the heavy nets. Printed: parameters, samples per second of wall clock and per CPU-second
of this process (the second is steadier when the machine is shared), and the x4 inference time of a
256 x 256 LR tile. Which tools load each architecture is stated beside it (checked by
bench/spandrel_check.py and tests/use/test_export.py).

Run: python bench/archs.py [--steps 3] [--only NAME] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

# (row, arch, options, batch)
ROWS = [
    ("compact 32 x 8", "compact", {"num_feat": 32, "num_conv": 8}, 16),
    ("compact 48 x 8 (cpu_x4)", "compact", {"num_feat": 48, "num_conv": 8}, 16),
    ("superultracompact 24 x 8", "superultracompact", {}, 16),
    ("ultracompact 64 x 8", "ultracompact", {}, 16),
    ("compact 64 x 16", "compact", {}, 16),
    ("span_s (48)", "span_s", {}, 16),
    ("span (52)", "span", {}, 16),
    ("realplksr_tiny (64 x 12, k13)", "realplksr_tiny", {}, 4),
    ("realplksr (64 x 28, k17)", "realplksr", {}, 4),
    ("realplksr + DySample", "realplksr", {"dysample": True}, 4),
    ("rrdbnet (64 x 23)", "rrdbnet", {}, 4),
    ("srresnet (64 x 16)", "srresnet", {}, 4),
]
SPANDREL = ("compact", "superultracompact", "ultracompact", "span", "span_s", "realplksr", "realplksr_tiny",
            "rrdbnet")
LOADERS = {arch: "spandrel, ONNX" for arch in SPANDREL}
LOADERS["srresnet"] = "ours (model.json), ONNX"


def parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trained, deployed) parameters: SPAN trains expanded branches that fold into one 3x3 conv each."""
    from srkit.train.models.span import RepConv3x3

    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    branches = sum(p.numel() for m in model.modules() if isinstance(m, RepConv3x3)
                   for name, p in m.named_parameters() if not name.startswith("eval_conv."))
    return trained, sum(p.numel() for p in model.parameters()) - branches


def measure(arch: str, options: dict, batch: int, steps: int) -> tuple[tuple[int, int], float, float, float]:
    from srkit.train.models import build_model

    torch.manual_seed(0)
    model = build_model(arch, 1, 1, 4, **options)
    params = parameters(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    lr, hr = torch.rand(batch, 1, 48, 48), torch.rand(batch, 1, 192, 192)

    def step() -> None:
        loss = torch.nn.functional.l1_loss(model(lr), hr)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up: allocations, oneDNN kernel choice
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model.eval()
    tile = torch.rand(1, 1, 256, 256)
    with torch.no_grad():
        model(tile)
        started = time.perf_counter()
        model(tile)
        infer = time.perf_counter() - started
    return params, steps * batch / wall, steps * batch / cpu, infer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; 1-channel x4, 48 px LR crops")
    print("| architecture | params (trained / deployed) | train samples/s (wall) | per CPU-s | "
          "256 px tile x4 (s) | loads in |")
    print("|---|---:|---:|---:|---:|---|")
    for row, arch, options, batch in ROWS:
        if args.only and args.only not in row:
            continue
        params, wall_rate, cpu_rate, infer = measure(arch, options, batch, args.steps)
        trained, deployed = params
        print(f"| {row} | {trained / 1e6:.3f} M / {deployed / 1e6:.3f} M | {wall_rate:.1f} | "
              f"{cpu_rate:.1f} | {infer:.2f} | {LOADERS[arch]} |", flush=True)


if __name__ == "__main__":
    main()
