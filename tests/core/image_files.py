"""Image files the tests make byte by byte: ICC v2 profiles (matrix/TRC and gray) and TIFFs with sample
formats Pillow does not write (float16, RGB float32, int32)."""

from __future__ import annotations

import struct

import numpy as np

# Adobe RGB (1998): primaries adapted to D50 as ICC profiles store them, gamma 563/256.
ADOBE_RGB = {"red": (0.6097, 0.3111, 0.0195), "green": (0.2053, 0.6257, 0.0609),
             "blue": (0.1492, 0.0632, 0.7446), "gamma": 2.19921875}
D50 = (0.9642, 1.0, 0.8249)


def _s15f16(x: float) -> bytes:
    return struct.pack(">i", int(round(x * 65536)))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + _s15f16(x) + _s15f16(y) + _s15f16(z)


def _gamma_curve(gamma: float) -> bytes:
    return b"curv" + b"\0" * 4 + struct.pack(">IH", 1, int(round(gamma * 256))) + b"\0\0"


def _description(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_text)) + ascii_text
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67)


def _profile(tags: list[tuple[bytes, bytes]], space: bytes) -> bytes:
    table_size = 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", 128 + table_size + len(data), len(body))
        data += body
    header = (struct.pack(">I", 128 + table_size + len(data)) + b"lcms" + struct.pack(">I", 0x02100000)
              + b"mntr" + space + b"XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + _s15f16(D50[0]) + _s15f16(D50[1]) + _s15f16(D50[2]))
    return header + b"\0" * (128 - len(header)) + table + data


def rgb_profile(name: str, red: tuple, green: tuple, blue: tuple, gamma: float) -> bytes:
    """An ICC v2 matrix/TRC RGB display profile."""
    curve = _gamma_curve(gamma)
    return _profile([(b"desc", _description(name)), (b"wtpt", _xyz(*D50)), (b"rXYZ", _xyz(*red)),
                     (b"gXYZ", _xyz(*green)), (b"bXYZ", _xyz(*blue)), (b"rTRC", curve), (b"gTRC", curve),
                     (b"bTRC", curve), (b"cprt", b"text" + b"\0" * 4 + b"none\0")], b"RGB ")


def gray_profile(name: str, gamma: float) -> bytes:
    """An ICC v2 gray display profile (a gamma curve)."""
    return _profile([(b"desc", _description(name)), (b"wtpt", _xyz(*D50)), (b"kTRC", _gamma_curve(gamma)),
                     (b"cprt", b"text" + b"\0" * 4 + b"none\0")], b"GRAY")


def tiff_bytes(arr: np.ndarray, sample_format: int) -> bytes:
    """An uncompressed little-endian TIFF of ``arr`` (H, W) or (H, W, C) with SampleFormat
    ``sample_format`` (1 unsigned, 2 signed, 3 float)."""
    h, w = arr.shape[:2]
    spp = 1 if arr.ndim == 2 else arr.shape[2]
    bits = arr.dtype.itemsize * 8
    pixels = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
    tags = 10
    extra_at = 8 + 2 + 12 * tags + 4
    extra = b""
    if spp > 1:  # per-channel BitsPerSample and SampleFormat do not fit in their entries
        bits_at, extra = extra_at, struct.pack(f"<{spp}H", *[bits] * spp)
        format_at, extra = extra_at + len(extra), extra + struct.pack(f"<{spp}H", *[sample_format] * spp)
    data_at = extra_at + len(extra)
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, spp, bits if spp == 1 else bits_at), (259, 3, 1, 1),
               (262, 3, 1, 1 if spp == 1 else 2), (273, 4, 1, data_at), (277, 3, 1, spp), (278, 4, 1, h),
               (279, 4, 1, len(pixels)), (339, 3, spp, sample_format if spp == 1 else format_at)]
    out = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, kind, count, value in entries:
        short = kind == 3 and count == 1
        fields = (value, 0) if short else (value,)
        out += struct.pack("<HHIHH" if short else "<HHII", tag, kind, count, *fields)
    return out + struct.pack("<I", 0) + extra + pixels
