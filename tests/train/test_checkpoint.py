"""Checkpoint files: atomic, weights-only loadable, pruned to the last K, RNG states restored exactly."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from srkit.train import checkpoint as ckpt


def test_keeps_the_last_k_and_finds_the_latest(tmp_path):
    folder = tmp_path / "checkpoints"
    for it in (2, 4, 6, 8, 10):
        ckpt.save_iteration(folder, it, {"iteration": it, "w": torch.full((2,), float(it))}, keep_last=2)
    assert [p.name for p in ckpt.iteration_checkpoints(folder)] == ["iter_00000008.pt", "iter_00000010.pt"]
    assert ckpt.latest(folder).name == "iter_00000010.pt"
    assert ckpt.resolve_resume("auto", tmp_path) == folder / "iter_00000010.pt"
    assert ckpt.resolve_resume("auto", tmp_path / "empty_run") is None
    assert ckpt.load(folder / "iter_00000010.pt")["iteration"] == 10
    assert not [p for p in folder.iterdir() if ".tmp-" in p.name]


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    gen = torch.Generator().manual_seed(5)
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    state = ckpt.rng_state({"aug": gen})
    ckpt.save(tmp_path / "rng.pt", {"rng": state})
    expected = (random.random(), np.random.rand(), torch.rand(2), torch.rand(2, generator=gen))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    gen.manual_seed(9)
    ckpt.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"], {"aug": gen})
    again = (random.random(), np.random.rand(), torch.rand(2), torch.rand(2, generator=gen))
    assert expected[:2] == again[:2]
    assert torch.equal(expected[2], again[2]) and torch.equal(expected[3], again[3])


def test_init_weights_from_checkpoint_model_file_or_folder(tmp_path):
    weights = {"a.weight": torch.ones(2)}
    ckpt.save(tmp_path / "c.pt", {"ema": weights, "generator": {"a.weight": torch.zeros(2)},
                                  "disc": {"d.weight": torch.ones(3)}})
    assert torch.equal(ckpt.generator_weights(tmp_path / "c.pt")["a.weight"], torch.ones(2))
    assert set(ckpt.generator_weights(tmp_path / "c.pt", keys=("disc",))) == {"d.weight"}
    torch.save(weights, tmp_path / "model.pth")
    assert set(ckpt.generator_weights(tmp_path)) == {"a.weight"}
    with pytest.raises(ckpt.CheckpointError, match="not found"):
        ckpt.generator_weights(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ckpt.CheckpointError, match="junk.pt: not a readable checkpoint"):
        ckpt.load(tmp_path / "junk.pt")
