"""Real training runs on a small real store (CPU): loss goes down, resume is exact, the GAN stage runs
with every GAN loss, exports reload to identical outputs, bad inputs give clear errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from srkit.core.manifest import read_jsonl
from srkit.train.config import resolve
from srkit.train.errors import TrainError, TrainStopped
from srkit.train.loop import train

TINY = {"model": {"arch": "compact", "options": {"num_feat": 8, "num_conv": 1}},
        "data": {"gt_size": 32, "batch_size": 4, "workers": 0, "val_max": 2, "shuffle_buffer": 4},
        "train": {"log_every": 2, "val_every": 1000, "ckpt_every": 1000}}


def tiny(out, **sections) -> object:
    over = json.loads(json.dumps(TINY))
    over["train"]["out"] = str(out)
    for section, values in sections.items():
        over.setdefault(section, {}).update(values)
    return resolve(overrides=over)


def test_loss_decreases_and_run_folder_is_complete(manga_store, tmp_path):
    cfg = resolve(preset="smoke", overrides={
        "data": {"val_max": 4},
        "train": {"iters": 40, "log_every": 10, "val_every": 20, "ckpt_every": 20,
                  "out": str(tmp_path / "run")}})
    result = train(cfg, manga_store, quiet=True)
    records = list(read_jsonl(tmp_path / "run" / "metrics.jsonl"))
    losses = [r["l_pix"] for r in records if r["kind"] == "train"]
    assert len(losses) == 4 and sum(losses[-2:]) < sum(losses[:2]), losses
    # on the same validation tiles, the trained model is clearly better than the one it started from
    from srkit.shards.reader import open_store
    from srkit.train.models import build_model, model_from_state_dict
    from srkit.train.validate import load_valset, score_on_valset

    with open_store(manga_store) as store:
        valset = load_valset(store, 4)
    torch.manual_seed(cfg.train.seed)
    start = build_model("compact", 1, 1, 4, **cfg.model.options)
    trained = model_from_state_dict(result.generator_state, start.arch_config)
    cpu = torch.device("cpu")
    before, after = score_on_valset(start, valset, cpu)[0], score_on_valset(trained, valset, cpu)[0]
    assert after > before + 0.2, (before, after)
    vals = [r for r in records if r["kind"] == "val"]
    assert [v["iter"] for v in vals] == [20, 40]
    assert all(0 <= r["data_stall"] <= 1 and r["samples_per_s"] > 0 for r in records if r["kind"] == "train")
    run = tmp_path / "run"
    for name in ("config.toml", "metrics.jsonl", "plot.png", "model.safetensors", "model.pth", "model.json",
                 "checkpoints/best.pt", "checkpoints/iter_00000040.pt", "samples/iter_00000040.png"):
        assert (run / name).is_file(), name
    assert result.model_path == run / "model.safetensors"
    assert resolve(config_file=run / "config.toml").train.iters == 40
    assert result.bicubic_psnr == pytest.approx(vals[0]["bicubic_psnr"])


@pytest.mark.parametrize("workers", [0, 2])
def test_interrupted_and_resumed_run_ends_with_the_same_weights(manga_store, tmp_path, workers):
    # with workers, also accumulate 2 batches per step: the data position is then 2 batches per iteration
    accum = 1 + workers // 2
    extra = {"data": {"workers": workers}, "train": {"iters": 6, "ckpt_every": 2, "grad_accum": accum}}
    straight = train(tiny(tmp_path / "a", **extra), manga_store, quiet=True, record_indices=True)
    first = train(tiny(tmp_path / "b", **extra), manga_store, quiet=True, record_indices=True, stop_at=3)
    resume = json.loads(json.dumps(extra))
    resume["train"]["resume"] = "auto"
    rest = train(tiny(tmp_path / "b", **resume), manga_store, quiet=True, record_indices=True)
    assert first.iterations == 3 and rest.iterations == 6
    assert len(straight.seen) == 6 * 4 * accum
    assert straight.seen == first.seen + rest.seen
    assert straight.generator_state.keys() == rest.generator_state.keys()
    for key, value in straight.generator_state.items():
        assert torch.equal(value, rest.generator_state[key]), key
    a = torch.load(tmp_path / "a" / "checkpoints" / "iter_00000006.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoints" / "iter_00000006.pt", weights_only=True)
    for part in ("generator", "ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part])
    assert torch.equal(a["opt_g"]["state"][0]["exp_avg"], b["opt_g"]["state"][0]["exp_avg"])
    # the resumed session's metrics continue the first one's without duplicates
    iters = [r["iter"] for r in read_jsonl(tmp_path / "b" / "metrics.jsonl") if r["kind"] == "train"]
    assert iters == [2, 4, 6]


def test_rerun_continues_and_another_model_is_refused(manga_store, tmp_path):
    train(tiny(tmp_path / "r", train={"iters": 2}), manga_store, quiet=True)
    again = train(tiny(tmp_path / "r", train={"iters": 4}), manga_store, quiet=True)  # same command, longer
    assert again.iterations == 4
    assert [r["iter"] for r in read_jsonl(tmp_path / "r" / "metrics.jsonl") if r["kind"] == "train"] == [2, 4]
    with pytest.raises(TrainError, match="not of this config.*--out"):
        train(tiny(tmp_path / "r", model={"options": {"num_feat": 16, "num_conv": 1}}, train={"iters": 6}),
              manga_store, quiet=True)
    with pytest.raises(TrainError, match="already holds checkpoints"):
        train(tiny(tmp_path / "r", train={"iters": 6, "resume": "no"}), manga_store, quiet=True)


@pytest.fixture(scope="module")
def psnr_run(manga_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("psnr") / "run"
    train(tiny(out, train={"iters": 2}), manga_store, quiet=True)
    return out


@pytest.mark.parametrize("gan_loss", ["vanilla", "ragan", "wgan_gp", "hinge"])
def test_gan_stage_runs_from_the_psnr_stage(manga_store, psnr_run, tmp_path, gan_loss):
    gan = {"loss": gan_loss, "weight": 0.1, "discriminator": "vgg" if gan_loss == "wgan_gp" else "unet_sn",
           "options": {"num_feat": 8, **({"batch_norm": False} if gan_loss == "wgan_gp" else {})},
           "label_smoothing": gan_loss == "vanilla"}
    loss = {"usm_gt": True}
    if gan_loss == "vanilla":  # perceptual loss too, from a VGG19 file of the torchvision layout
        from srkit.train.losses import vgg19_features

        vgg = tmp_path / "vgg19.pth"
        torch.save({f"features.{k}": v for k, v in vgg19_features(upto=2).state_dict().items()}, vgg)
        loss.update(perceptual_weight=1.0, vgg_weights=str(vgg), perceptual_layers={"conv1_2": 1.0})
    cfg = tiny(tmp_path / "gan", gan=gan, loss=loss, train={"stage": "gan", "iters": 2, "log_every": 1,
                                                             "init": str(psnr_run)})
    result = train(cfg, manga_store, quiet=True)
    records = [r for r in read_jsonl(tmp_path / "gan" / "metrics.jsonl") if r["kind"] == "train"]
    assert len(records) == 2 and {"l_pix", "l_gan", "l_d"} <= set(records[-1])
    if gan_loss == "vanilla":
        assert records[-1]["l_percep"] > 0
    ckpt = torch.load(tmp_path / "gan" / "checkpoints" / "iter_00000002.pt", weights_only=True)
    assert ckpt["disc"] and ckpt["opt_d"]["state"]
    assert result.model_path is not None


def test_perceptual_preset_without_vgg_weights_is_refused(manga_store, tmp_path):
    cfg = tiny(tmp_path / "g", loss={"perceptual_weight": 1.0}, train={"stage": "gan", "iters": 1})
    with pytest.raises(TrainError, match="--vgg-weights"):
        train(cfg, manga_store, quiet=True)


def test_export_reloads_to_identical_outputs(manga_store, tmp_path):
    from srkit.train.export import load_exported

    # also channels_last, AMP asked on a CPU (a note, then float32), AdamW, multistep, clipping
    cfg = tiny(tmp_path / "e", train={"iters": 2, "channels_last": True, "amp": "bf16", "grad_clip": 0.5},
               optim={"name": "adamw", "weight_decay": 0.01, "schedule": "multistep", "milestones": [1]})
    result = train(cfg, manga_store, quiet=True)
    x = torch.rand(1, 1, 20, 24)
    reference = load_exported(tmp_path / "e" / "model.safetensors")
    from srkit.train.models import model_from_state_dict

    arch_config = json.loads((tmp_path / "e" / "model.json").read_text())
    model = model_from_state_dict(result.generator_state, arch_config).eval()
    with torch.no_grad():
        expected = model(x)
        assert torch.equal(reference(x), expected)
        assert torch.equal(load_exported(tmp_path / "e" / "model.pth")(x), expected)
    assert set(torch.load(tmp_path / "e" / "model.pth", weights_only=True)) == set(result.generator_state)


def test_store_without_index_is_refused(manga_store, tmp_path):
    broken = tmp_path / "broken.lmdb"
    shutil.copytree(manga_store, broken)
    (broken / "index.json").unlink()
    with pytest.raises(TrainError, match="no index.json.*sr-data pack"):
        train(tiny(tmp_path / "x", train={"iters": 1}), broken, quiet=True)


def test_non_finite_steps_are_skipped_then_the_run_stops(manga_store, tmp_path):
    cfg = tiny(tmp_path / "nan", optim={"lr": 1e30}, train={"iters": 50, "nan_patience": 2})
    with pytest.raises(TrainStopped, match="non-finite steps in a row"):
        train(cfg, manga_store, quiet=True)


def test_trains_from_an_hdf5_store_with_workers(manga_dev_pages, tmp_path):
    from train_stores import build_store

    store = build_store(tmp_path / "data.h5", manga_dev_pages, tile=128, per_page=3, fmt="hdf5")
    result = train(tiny(tmp_path / "h", data={"workers": 2}, train={"iters": 2}), store, quiet=True)
    assert result.iterations == 2 and (tmp_path / "h" / "model.safetensors").is_file()


def test_learning_rate_schedules():
    from srkit.train.schedule import lr_factor

    cos = resolve(overrides={"optim": {"schedule": "cosine", "min_lr_ratio": 0.1, "warmup": 10},
                             "train": {"iters": 110}})
    assert lr_factor(cos, 5) == pytest.approx(0.5)  # linear warm-up
    assert lr_factor(cos, 10) == pytest.approx(1.0)
    assert lr_factor(cos, 60) == pytest.approx(0.55)  # half way down the cosine
    assert lr_factor(cos, 110) == pytest.approx(0.1)
    steps = resolve(overrides={"optim": {"schedule": "multistep", "milestones": [10, 20], "gamma": 0.5},
                               "train": {"iters": 30}})
    assert [lr_factor(steps, i) for i in (1, 10, 11, 20, 21, 30)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    assert lr_factor(resolve(overrides={"optim": {"schedule": "constant"}}), 999) == 1.0


def test_more_readers_than_samples_is_refused(manga_dev_pages, tmp_path):
    from train_stores import build_store

    store = build_store(tmp_path / "few.lmdb", manga_dev_pages, tile=128, per_page=1, val_fraction=0.3)
    with pytest.raises(TrainError, match="training samples for 8 readers"):
        train(tiny(tmp_path / "f", data={"workers": 8}, train={"iters": 1}), store, quiet=True)


def _ctrl_c_after_step(monkeypatch, call: int, presses: int) -> None:
    """``presses`` SIGINTs to this process right after optimizer step number ``call``: the moment a
    Ctrl-C used to leave the weights one step ahead of the iteration count it saved."""
    import os
    import signal

    import srkit.train.loop as loop

    real_step = loop.optimizer_step
    calls = []

    def step_then_sigint(*args, **kwargs):
        ok = real_step(*args, **kwargs)
        calls.append(1)
        if len(calls) == call:
            for _ in range(presses):
                os.kill(os.getpid(), signal.SIGINT)
        return ok

    monkeypatch.setattr(loop, "optimizer_step", step_then_sigint)


@pytest.mark.parametrize("twice", [False, True])
def test_ctrl_c_mid_iteration_resumes_to_the_same_weights(manga_store, tmp_path, monkeypatch, twice):
    extra = {"train": {"iters": 6, "ckpt_every": 2}}
    straight = train(tiny(tmp_path / "a", **extra), manga_store, quiet=True)
    _ctrl_c_after_step(monkeypatch, call=3, presses=2 if twice else 1)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(tmp_path / "b", **extra), manga_store, quiet=True)
    monkeypatch.undo()
    from srkit.train.checkpoint import latest

    # once: iteration 3 is finished, then saved; twice: stopped at once, the last save is iteration 2
    saved = latest(tmp_path / "b" / "checkpoints")
    assert saved.name == ("iter_00000002.pt" if twice else "iter_00000003.pt")
    resume = {"train": {"iters": 6, "ckpt_every": 2, "resume": "auto"}}
    rest = train(tiny(tmp_path / "b", **resume), manga_store, quiet=True)
    assert rest.iterations == 6
    for key, value in straight.generator_state.items():
        assert torch.equal(value, rest.generator_state[key]), key
