"""Byte sizes as users write them (``--shard-size 1GiB``)."""

from __future__ import annotations

DEFAULT_SHARD_SIZE = 1 << 30


def parse_size(text: str | int) -> int:
    """``1GiB``, ``512MiB``, ``200MB``, ``1e9`` or an int -> bytes."""
    if isinstance(text, int):
        return text
    s = str(text).strip().replace(" ", "")
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "kb": 10**3, "mb": 10**6,
             "gb": 10**9, "tb": 10**12, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "b": 1}
    lower = s.lower()
    for unit in sorted(units, key=len, reverse=True):
        if lower.endswith(unit):
            number = lower[: -len(unit)]
            try:
                value = float(number) * units[unit]
            except ValueError:
                break
            if value <= 0:
                break
            return int(value)
    try:
        value = float(s)
    except ValueError:
        raise ValueError(f"cannot read size {text!r}: use e.g. 1GiB, 512MiB, 200MB") from None
    if value <= 0:
        raise ValueError(f"size must be positive, not {text!r}")
    return int(value)


__all__ = ["parse_size", "DEFAULT_SHARD_SIZE"]
