"""Per-sample randomness from (base seed, sample key): independent of workers, order and count."""

from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same on every machine and Python run."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def sample_seed(base_seed: int, key: str) -> int:
    """The seed of one sample; logged so the sample can be replayed on its own."""
    return stable_hash(f"{int(base_seed)}:{key}")


def sample_rng(seed: int) -> np.random.Generator:
    """The generator a sample draws its parameters from (PCG64, NumPy's stable bit generator)."""
    return np.random.Generator(np.random.PCG64(int(seed)))
