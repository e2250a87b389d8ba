"""What keeps a run folder one run's: a lock for the life of the run, and a resume only onto the data
the run was trained on.

The lock (``srkit.core.locks.folder_lock`` on ``runs/NAME/.lock``) is taken by rank 0; every rank
learns whether it got it, so a refused multi-process run stops on every rank at once. A checkpoint
records the store's identity (``shards.identity.store_identity``) and the settings that shape the
data stream; resuming onto another store, or with other such settings, is refused: the losses,
the best PSNR and the data position of the checkpoint belong to that data.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch

from srkit.core.console import UsageError, warn
from srkit.core.locks import folder_lock
from srkit.shards.identity import differences, store_identity
from srkit.train import dist
from srkit.train.config import Config
from srkit.train.errors import TrainError

# The settings that decide which crops, in which order, a run trains on (besides the store).
DATA_SHAPING = (("data", "gt_size"), ("data", "batch_size"), ("data", "order"), ("data", "shuffle_buffer"),
                ("data", "flips"), ("data", "rot90"), ("train", "grad_accum"), ("train", "seed"))


def lock_run_folder(run_dir: Path, info: dist.DistInfo, device: torch.device) -> contextlib.ExitStack:
    """Hold ``run_dir``'s lock (rank 0) until the returned stack is closed; TrainError on every rank
    when another run holds it."""
    held = contextlib.ExitStack()
    problem = None
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            held.enter_context(folder_lock(
                run_dir, f"another sr-train is writing to {run_dir}: wait for it to finish, or pass "
                         "--out runs/NEW_NAME"))
        except UsageError as err:
            problem = str(err)
    if not dist.all_true(problem is None, info, device):
        held.close()
        raise TrainError(problem or f"rank 0 could not lock the run folder {run_dir}")
    return held


def data_settings(cfg: Config | dict[str, Any]) -> dict[str, Any]:
    """``{"data.gt_size": 128, ...}``: the data-shaping settings of a config (object or dict)."""
    out = {}
    for section, key in DATA_SHAPING:
        part = cfg.get(section, {}) if isinstance(cfg, dict) else getattr(cfg, section)
        out[f"{section}.{key}"] = part.get(key) if isinstance(part, dict) else getattr(part, key)
    return out


def run_identity(store: Any, cfg: Config) -> dict[str, Any]:
    """What a checkpoint records about the data it was trained on (and the validation pairs' count)."""
    return {"store": store_identity(store.index), "settings": data_settings(cfg), "val_max": cfg.data.val_max}


def comparable_best(state: dict[str, Any], now: dict[str, Any]) -> tuple[float | None, int | None]:
    """The checkpoint's best PSNR and its iteration, or (None, None) with a warning when it was measured
    on other validation pairs than this run's (``data.val_max`` changed), so a summary never compares
    figures of two validation sets."""
    best, at = state.get("best_psnr"), state.get("best_iter")
    then = (state.get("identity") or {}).get("val_max", now["val_max"])
    if best is not None and then != now["val_max"]:
        warn(f"the resumed checkpoint's best PSNR ({best:.2f} dB at iteration {at}) was measured on "
             f"{then or 'all'} validation pairs, this run uses {now['val_max'] or 'all'}: the best restarts "
             "from this run's validations")
        return None, None
    return best, at


def check_same_data(state: dict[str, Any], now: dict[str, Any], path: Path, store_path: str | Path) -> None:
    """Refuse to resume the checkpoint ``state`` onto other data than it was trained on."""
    then = state.get("identity")
    if then is None:
        return  # a checkpoint from before identities were recorded: nothing to compare
    store_diff = differences(then.get("store") or {}, now["store"])
    settings_then = then.get("settings") or data_settings(state.get("config") or {})
    setting_diff = [f"{k} {settings_then.get(k)} -> {v}" for k, v in now["settings"].items()
                    if settings_then.get(k) != v]
    if not store_diff and not setting_diff:
        return
    best = state.get("best_psnr")
    figures = f" (its best {best:.2f} dB was measured on that data)" if isinstance(best, float) else ""
    raise TrainError(f"{path} was trained on other data than {store_path} with these settings gives: "
                     f"{'; '.join(store_diff + setting_diff)}{figures}. This run cannot continue it: pass "
                     "--out runs/NEW_NAME to start a new run on this data, or rerun with the store and "
                     "settings it was trained with to continue it")


__all__ = ["lock_run_folder", "run_identity", "check_same_data", "comparable_best", "data_settings"]
