"""Degradation op library: each op samples JSON-able params from a spec, then applies them deterministically.

Each op declares its spec once (schema.py: keys, forms, defaults, bounds); value_specs.py holds the
value-spec forms. See SPECS.md in this folder for the interface and every op's spec and params keys.
"""

from __future__ import annotations

from srkit.degrade.ops import blur, compress, denoise, manga, noise, resize, scan, sharpen
from srkit.degrade.ops.base import Context, Op, to_float, to_uint8
from srkit.degrade.ops.schema import ENGINE_KEYS, OpSchema, Param
from srkit.degrade.ops.value_specs import SpecError

OPS: dict[str, Op] = {
    **resize.OPS,
    **blur.OPS,
    **noise.OPS,
    **compress.OPS,
    **sharpen.OPS,
    **denoise.OPS,
    **manga.OPS,
    **scan.OPS,
}

__all__ = ["ENGINE_KEYS", "OPS", "Context", "Op", "OpSchema", "Param", "SpecError", "to_float", "to_uint8"]
