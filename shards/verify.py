"""``sr-data verify``: re-read every record of a store and name every bad one."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srkit.shards.format import StoreError
from srkit.shards.reader import Store, open_store


@dataclass
class Problem:
    shard: str
    key: str | None
    problem: str


@dataclass
class VerifyReport:
    store: str
    records: int = 0
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_shard_meta(store: Store, shard: int, report: VerifyReport) -> None:
    name = store.shard_path(shard).name
    start, stop = store.shard_ranges[shard]
    try:
        meta = store.shard_meta(shard)
    except StoreError as err:
        report.problems.append(Problem(name, None, str(err)))
        return
    expected = {"count": stop - start, "start": start,
                "first_key": store.keys[start] if stop > start else None,
                "last_key": store.keys[stop - 1] if stop > start else None}
    for field_name, value in expected.items():
        found = meta.get(field_name)
        if value is None and found in ("", None):
            continue
        if found != value:
            report.problems.append(Problem(name, None, f"shard metadata {field_name} is {found!r}, "
                                                       f"the index says {value!r}"))


def _check_lineage(store: Store, report: VerifyReport) -> None:
    spec = store.index.get("lineage")
    if not spec:
        return
    try:
        from srkit.core.files import inside

        path = inside(store.path, spec["file"])
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except (OSError, ValueError, KeyError) as err:
        report.problems.append(Problem("lineage", None, f"cannot read the lineage file: {err}"))
        return
    if digest != spec.get("sha256"):
        report.problems.append(Problem("lineage", None,
                                       f"{spec['file']} does not match its sha256 in index.json"))


def verify_store(path: str | os.PathLike,
                 on_progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Read every record (checksums, shapes, LR x scale == HR); collect every problem found."""
    report = VerifyReport(str(path))
    try:
        store = open_store(path)
    except StoreError as err:
        report.problems.append(Problem(Path(path).name, None, str(err)))
        return report
    with store:
        report.records = len(store)
        _check_lineage(store, report)
        done = 0
        for shard, (start, stop) in enumerate(store.shard_ranges):
            name = store.shard_path(shard).name
            _check_shard_meta(store, shard, report)
            for i in range(start, stop):
                key = store.keys[i]
                try:
                    pair = store.read(i)
                except StoreError as err:
                    report.problems.append(Problem(name, key, str(err)))
                else:
                    report.problems.extend(Problem(name, key, p) for p in _pair_problems(store, pair))
                report.checked += 1
                done += 1
                if on_progress and (done % 64 == 0 or done == len(store)):
                    on_progress(done, len(store))
    return report


def _pair_problems(store: Store, pair: Any) -> list[str]:
    problems = []
    hr, lr, scale = pair.hr, pair.lr, store.scale
    hc = 1 if hr.ndim == 2 else hr.shape[2]
    lc = 1 if lr.ndim == 2 else lr.shape[2]
    if (lr.shape[0] * scale, lr.shape[1] * scale, lc) != (hr.shape[0], hr.shape[1], hc):
        problems.append(f"LR {lr.shape} x scale {scale} does not match HR {hr.shape}")
    if store.channels is not None and hc != store.channels:
        problems.append(f"HR has {hc} channels, the store {store.channels}")
    return problems
