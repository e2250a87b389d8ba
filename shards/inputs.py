"""The inputs of a pack: the samples a workspace's tiles and LR set hold in common, read back checked.

``collect_inputs`` pairs the tiles (``tiles.jsonl``, or a plain folder of PNGs) with the LR set's
``degradations.jsonl`` from the manifests and file sizes alone; ``read_input`` reads one file and
refuses it when it changed since `sr-data degrade` logged its sha256; ``png_shape`` reads a PNG's
size from its header without decoding it. Both layouts (``shards.pack``, ``shards.basicsr``) use them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srkit.core.console import StageError, UsageError
from srkit.core.files import inside
from srkit.core.keys import check_key
from srkit.core.manifest import read_jsonl
from srkit.core.png_decode import png_header
from srkit.core.workspace import DEGRADATIONS_LOG, RUN_RECORD, TILES_MANIFEST
from srkit.shards.format import raw_size


@dataclass
class Sample:
    key: str
    hr_path: str  # plain strings: tens of thousands of samples, Path objects cost measurable time
    lr_path: str
    hr_shape: tuple[int, int, int]
    lr_shape: tuple[int, int, int]
    hr_sha256: str
    lr_sha256: str
    hr_file_bytes: int
    lr_file_bytes: int
    convert: int | None = None  # the channel count the pack converts this pair to (``--channels``)

    def stored_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """The shape of ``hr_shape`` or ``lr_shape`` as the store holds it (after ``convert``)."""
        return (shape[0], shape[1], self.convert) if self.convert else shape

    def payload_bytes(self, codec: str) -> int:
        if codec == "png":  # an estimate for a converted pair (its PNGs are encoded again)
            return self.hr_file_bytes + self.lr_file_bytes
        return raw_size(self.stored_shape(self.hr_shape)) + raw_size(self.stored_shape(self.lr_shape))


@dataclass
class Inputs:
    hr_dir: Path
    lr_dir: Path
    samples: list[Sample]
    scale: int
    recipe: dict[str, Any] | None
    lineage: list[dict[str, Any]]
    missing: dict[str, list[str]]
    converted: dict[str, Any] | None = None  # {"to": 3, "from": {"1": N}} when --channels converted pairs


def find_lr_dir(workspace: Path) -> Path:
    """The single LR set under ``workspace/lr``; a UsageError listing them when there are several."""
    found = sorted(p.parent for p in (workspace / "lr").glob(f"*/{DEGRADATIONS_LOG}"))
    if not found:
        raise UsageError(f"no LR set found ({workspace / 'lr'}/*/{DEGRADATIONS_LOG}): run "
                         "`sr-data degrade --recipe NAME` first, or pass --lr FOLDER")
    if len(found) > 1:
        names = ", ".join(str(p) for p in found)
        raise UsageError(f"several LR sets found ({names}); choose one with --lr, e.g. --lr {found[0]}")
    return found[0]


def _tile_records(hr_dir: Path) -> dict[str, dict[str, Any] | None]:
    if (hr_dir / TILES_MANIFEST).exists():
        from srkit.tiling.manifest import kept_tiles

        return {r["key"]: r for r in kept_tiles(hr_dir)}
    # A folder of PNGs without our manifest (e.g. tiles made by another tool): keys are the stems.
    return {p.stem: None for p in sorted(hr_dir.glob("*.png"))}


def _file_size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def collect_inputs(hr_dir: str | os.PathLike, lr_dir: str | os.PathLike,
                   channels: int | None = None) -> Inputs:
    """The samples present in both HR and LR (with their LR record), and what is missing on each side.

    Tiles of one channel count make one store; ``channels`` (1 or 3) converts the others (gray to RGB,
    or colour to BT.601 luma) instead of refusing a mix.
    """
    hr_dir, lr_dir = Path(hr_dir), Path(lr_dir)
    if not hr_dir.is_dir():
        raise UsageError(f"HR tiles folder {hr_dir} not found: run `sr-data tile PAGES/` first, or pass --hr")
    deg_path = lr_dir / DEGRADATIONS_LOG
    if not deg_path.exists():
        raise UsageError(f"{deg_path} not found: --lr must be a folder written by `sr-data degrade`")
    run: dict[str, Any] = {}
    if (lr_dir / RUN_RECORD).exists():
        try:
            run = json.loads((lr_dir / RUN_RECORD).read_text(encoding="utf-8"))
        except ValueError as err:
            raise UsageError(f"{lr_dir / RUN_RECORD}: not valid JSON ({err})") from None
    tiles = _tile_records(hr_dir)
    degradations = {r["key"]: r for r in read_jsonl(deg_path) if isinstance(r.get("key"), str)}
    missing: dict[str, list[str]] = {"no_lr_record": [], "no_hr_tile": [], "lr_file_missing": [],
                                     "hr_file_missing": []}
    samples: list[Sample] = []
    lineage: list[dict[str, Any]] = []
    hr_root, lr_root = str(hr_dir), str(lr_dir)
    scales = set()
    for key in sorted(set(tiles) | set(degradations)):
        if key not in degradations:
            missing["no_lr_record"].append(key)
            continue
        if key not in tiles:
            missing["no_hr_tile"].append(key)
            continue
        try:
            check_key(key)
        except ValueError as err:
            raise UsageError(f"{deg_path}: {err}") from None
        rec = degradations[key]
        tile_file = (tiles[key] or {}).get("file") or f"{key}.png"
        if tile_file == f"{key}.png":
            hr_path = os.path.join(hr_root, tile_file)
        else:
            try:
                hr_path = str(inside(hr_dir, tile_file))
            except ValueError as err:
                raise UsageError(f"{hr_dir / TILES_MANIFEST}: tile {key}: {err}") from None
        lr_path = os.path.join(lr_root, f"{key}.png")
        hr_size, lr_size = _file_size(hr_path), _file_size(lr_path)
        if hr_size is None:
            missing["hr_file_missing"].append(key)
            continue
        if lr_size is None:
            missing["lr_file_missing"].append(key)
            continue
        try:
            hr_shape = tuple(int(v) for v in rec["hr_shape"])
            lr_shape = tuple(int(v) for v in rec["lr_shape"])
            scales.add(int(rec["scale"]))
            sample = Sample(key, hr_path, lr_path, hr_shape, lr_shape, str(rec["hr_sha256"]),
                            str(rec["lr_sha256"]), hr_size, lr_size)
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(f"{deg_path}: record {key} lacks or has a bad field ({err}); "
                             "rerun `sr-data degrade`") from None
        samples.append(sample)
        lineage.append({"key": key, "tile": tiles[key], "degradation": rec})
    scale = int(run["scale"]) if "scale" in run else (min(scales) if len(scales) == 1 else 0)
    if scales - {scale}:
        raise UsageError(f"{deg_path}: records have scales {sorted(scales)} (run.json: {run.get('scale')}); "
                         "one store has one scale")
    if samples and scale < 1:
        raise UsageError(f"{lr_dir}: cannot tell the scale (no run.json and no scale in the records)")
    for s in samples:
        if (s.lr_shape[0] * scale, s.lr_shape[1] * scale, s.lr_shape[2]) != s.hr_shape:
            raise UsageError(f"{deg_path}: {s.key}: LR {s.lr_shape} x {scale} != HR {s.hr_shape}")
    found = sorted({s.hr_shape[2] for s in samples})
    counts = {c: sum(1 for s in samples if s.hr_shape[2] == c) for c in found}
    converted = None
    if channels is None and len(found) > 1:
        raise UsageError(f"tiles mix channel counts {counts} (1 = gray, 3 = colour): a store holds one. "
                         "Pass --channels 1 (colour tiles to luma) or --channels 3 (gray tiles to RGB), or "
                         "tile gray and colour pages into separate folders and pack them separately")
    if channels is not None and any(c != channels for c in found):
        for s in samples:
            if s.hr_shape[2] != channels:
                s.convert = channels
        converted = {"to": channels, "from": {str(c): n for c, n in counts.items() if c != channels}}
    recipe = None
    if run or samples:
        first = degradations[samples[0].key] if samples else {}
        recipe = {"name": run.get("recipe", first.get("recipe")),
                  "hash": run.get("recipe_hash", first.get("recipe_hash"))}
        if "nominal_scale" in run:
            recipe["nominal_scale"] = run["nominal_scale"]
    return Inputs(hr_dir, lr_dir, samples, scale, recipe, lineage, missing, converted)


def read_input(path: str, expected_sha256: str, check_hash: bool = True) -> bytes:
    """The bytes of one input file; StageError if unreadable, or (``check_hash``) changed since degrade."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise StageError(f"{path}: cannot read ({err.strerror or err}); rerun the same command") from None
    if check_hash and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise StageError(f"{path}: its sha256 differs from the one in {DEGRADATIONS_LOG} (the file "
                         "changed after `sr-data degrade`); rerun `sr-data degrade` for this recipe")
    return data


def png_shape(data: bytes, where: str | Path) -> tuple[int, int, int]:
    """(h, w, c) from a PNG's IHDR, refusing what is not 8-bit gray or RGB (our tiles' formats)."""
    header = png_header(data)
    if header is None:
        raise StageError(f"{where}: not a PNG file")
    width, height, depth, color, _ = header
    channels = {0: 1, 2: 3}.get(color)
    if depth != 8 or channels is None:
        raise StageError(f"{where}: PNG is not 8-bit gray or RGB (bit depth {depth}, color type {color}); "
                         "use --codec raw, which decodes and stores pixels")
    return height, width, channels


__all__ = ["Sample", "Inputs", "collect_inputs", "find_lr_dir", "read_input", "png_shape"]
