"""Two processes under torchrun on CPU (gloo): identical weights on both ranks, disjoint samples in an
epoch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import torch

SCRIPT = textwrap.dedent("""
    import os, sys, torch
    from srkit.train.config import resolve
    from srkit.train.loop import train

    store, out, dump = sys.argv[1:4]
    cfg = resolve(overrides={
        "model": {"arch": "compact", "options": {"num_feat": 8, "num_conv": 1}},
        "data": {"gt_size": 32, "batch_size": 3, "workers": 0, "val_max": 2, "shuffle_buffer": 4},
        "train": {"iters": 4, "out": out, "log_every": 2}})
    result = train(cfg, store, record_indices=True, quiet=True)
    torch.save({"state": result.generator_state, "seen": result.seen},
               os.path.join(dump, "rank%s.pt" % os.environ["RANK"]))
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_two(script_text: str, store, tmp_path) -> subprocess.CompletedProcess:
    """Run a script on 2 CPU ranks with arguments (store, run folder, dump folder = tmp_path)."""
    script = tmp_path / "ddp_script.py"
    script.write_text(script_text)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           str(script), str(store), str(tmp_path / "run"), str(tmp_path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def test_two_process_ddp_on_cpu(manga_store, tmp_path):
    done = torchrun_two(SCRIPT, manga_store, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key, value in r0["state"].items():
        assert torch.equal(value, r1["state"][key]), key
    assert len(r0["seen"]) == len(r1["seen"]) == 4 * 3
    # Each epoch the ranks read disjoint slices of one permutation that together cover the split (the
    # 12 samples of each rank run into the second epoch, whose slices are drawn anew).
    from srkit.shards.reader import open_store

    with open_store(manga_store) as store:
        split = {int(i) for i in store.train_indices}
    first = (r0["seen"][: len(split) // 2], r1["seen"][: len(split) - len(split) // 2])
    assert not set(first[0]) & set(first[1])
    assert set(first[0]) | set(first[1]) == split
    run = tmp_path / "run"
    assert (run / "model.safetensors").is_file()  # rank 0 wrote the run folder, once
    assert len([r for r in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in r]) == 2


CTRL_C_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    import srkit.train.loop as loop
    from srkit.train.config import resolve

    store, out, dump = sys.argv[1:4]
    rank = int(os.environ["RANK"])
    real_step, calls = loop.optimizer_step, []

    def step(*args, **kwargs):  # only rank 1 gets a Ctrl-C, right after its 3rd optimizer step
        ok = real_step(*args, **kwargs)
        calls.append(1)
        if rank == 1 and len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return ok

    loop.optimizer_step = step
    cfg = resolve(overrides={
        "model": {"arch": "compact", "options": {"num_feat": 8, "num_conv": 1}},
        "data": {"gt_size": 32, "batch_size": 3, "workers": 0, "val_max": 2, "shuffle_buffer": 4},
        "train": {"iters": 1000, "out": out, "log_every": 1, "ckpt_every": 1000}})
    try:
        loop.train(cfg, store, quiet=True)
    except KeyboardInterrupt:
        with open(os.path.join(dump, "rank%d.json" % rank), "w") as f:
            json.dump({"steps": len(calls)}, f)
        sys.exit(130)
""")


def test_ctrl_c_on_one_rank_stops_every_rank_after_the_same_iteration(manga_store, tmp_path):
    import json

    done = torchrun_two(CTRL_C_SCRIPT, manga_store, tmp_path)
    assert done.returncode != 0  # both ranks exit 130; torchrun reports the failure
    steps = [json.loads((tmp_path / f"rank{r}.json").read_text())["steps"] for r in (0, 1)]
    assert steps == [3, 3], done.stderr[-3000:]  # rank 0 did not start iteration 4 alone
    saved = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("iter_*.pt"))
    assert saved == ["iter_00000003.pt"]
