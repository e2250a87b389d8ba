"""Which files ``sr-train upscale`` reads and where it writes them: inputs found, outputs named, and
never an output onto a file the run reads.

An output is refused (before any work) when it is, or would replace, an input or the model: same
path, the same file reached through a symlink or ``..``, or a hard link to it. Outputs never get a
silently different name; the user chooses another ``--out``.
"""

from __future__ import annotations

import os
from pathlib import Path


class OutputClash(ValueError):
    """An output path that would overwrite a file the run reads; the message names both."""


def list_inputs(inputs: list[Path], skip: Path | None = None) -> list[tuple[Path, Path]]:
    """Image files among ``inputs`` (folders searched recursively, no symlink loops), each with its
    path relative to the input it was found under; sorted, without duplicates. A folder that is
    ``skip`` (the output folder, when it lies inside an input folder) is not searched: earlier
    results are not inputs."""
    from srkit.core.images import SUPPORTED_SUFFIXES

    skipped = _identity(skip) if skip is not None else None
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            for root, dirs, files in os.walk(item, followlinks=False):
                dirs[:] = sorted(d for d in dirs if skipped is None or _identity(Path(root) / d) != skipped)
                found += [(Path(root) / f, (Path(root) / f).relative_to(item)) for f in sorted(files)
                          if Path(f).suffix.lower() in SUPPORTED_SUFFIXES]
        else:
            found.append((item, Path(item.name)))
    seen: set[Path] = set()
    unique = []
    for path, rel in found:
        if path not in seen:
            seen.add(path)
            unique.append((path, rel))
    return unique


def output_paths(found: list[tuple[Path, Path]], out: Path) -> list[Path]:
    """One PNG per input under ``out``, mirroring the input folders; ``a.png`` and ``a.jpg`` in one
    folder (or two inputs with one name) keep their suffix in the name so nothing is overwritten."""
    plain = [rel.with_suffix(".png") for _, rel in found]
    counts: dict[Path, int] = {}
    for p in plain:
        counts[p] = counts.get(p, 0) + 1
    targets = [out / (p if counts[p] == 1 else rel.with_name(rel.name + ".png"))
               for p, (_, rel) in zip(plain, found, strict=True)]
    clashes = {t for t in targets if targets.count(t) > 1}
    if clashes:
        raise ValueError(f"several inputs would be written to {sorted(clashes)[0]}: upscale them separately "
                         "or into different --out folders")
    return targets


def check_outputs(targets: list[Path], reads: list[Path]) -> None:
    """OutputClash when a target is one of the files the run reads (``reads``: the inputs and the
    model), by path, through symlinks or ``..``, or as a hard link to one of them."""
    read_ids: dict[object, Path] = {}
    for path in reads:
        read_ids[_identity(path)] = path
        read_ids[os.path.realpath(path)] = path
    for target in targets:
        source = read_ids.get(os.path.realpath(target))
        if source is None and target.exists():
            source = read_ids.get(_identity(target))
        if source is not None:
            aliased = os.path.abspath(target) != os.path.abspath(source)
            same = " (the same file)" if aliased else ""
            raise OutputClash(f"output {target} would overwrite {source}{same}, which this run reads: "
                              "choose another --out")


def _identity(path: Path) -> object:
    """(device, inode) of an existing file or folder, following symlinks; its real path otherwise."""
    try:
        st = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return (st.st_dev, st.st_ino)
