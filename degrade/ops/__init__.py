"""Degradation op library: each op samples JSON-able params from a spec, then applies them deterministically.

See SPECS.md in this folder for the interface, the value-spec forms and every op's spec and params keys.
"""

from __future__ import annotations

from srkit.degrade.ops import blur, compress, manga, noise, resize, sharpen
from srkit.degrade.ops.base import ENGINE_KEYS, Context, Op, SpecError, to_float, to_uint8

OPS: dict[str, Op] = {
    **resize.OPS,
    **blur.OPS,
    **noise.OPS,
    **compress.OPS,
    **sharpen.OPS,
    **manga.OPS,
}

__all__ = ["ENGINE_KEYS", "OPS", "Context", "Op", "SpecError", "to_float", "to_uint8"]
