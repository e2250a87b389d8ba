"""Find the pages to tile: files and folders (recursive), safe against symlink loops.

A page's ``source`` is its path relative to the input root: for a folder argument the root is the
folder's parent (so ``sr-data tile vol1/ vol2/`` gives ``vol1/001.png`` and ``vol2/001.png``, which
never collide); for a file argument the root is the file's folder (``source`` is its name).
In folders, files with an image suffix srkit reads are taken; every other file found (GIF, AVIF,
HEIC, a text file, ...) is listed as skipped with the reason, so nothing is passed over in silence.
Hidden entries (``.name``) are not looked at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from srkit.core.image_profiles import unread_format_problem
from srkit.core.images import SUPPORTED_SUFFIXES
from srkit.core.keys import page_key


@dataclass(frozen=True)
class Source:
    path: str  # the path to open (as found, symlinks not resolved)
    source: str  # POSIX path relative to the input root (recorded in the manifest)
    page: str  # page key


@dataclass(frozen=True)
class SkippedSource:
    path: str
    source: str
    problem: str


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in SUPPORTED_SUFFIXES


def _walk(folder: Path, exclude: set[tuple[int, int]]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Image files under ``folder`` (sorted), following directory symlinks once each, and the files
    that are not used, with the reason."""
    files: list[Path] = []
    problems: list[tuple[Path, str]] = []
    seen: set[tuple[int, int]] = set(exclude)
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            st = current.stat()
        except OSError as err:
            problems.append((current, f"cannot open folder: {err.strerror or err}"))
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in seen:
            continue  # a symlink loop or a folder reached twice: walk it once
        seen.add(ident)
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            problems.append((current, f"cannot list folder: {err.strerror or err}"))
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files, and our own temporary files
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(path)
                continue
            if not _is_image_name(entry.name):
                problems.append((path, unread_format_problem(entry.name)))
                continue
            if entry.is_symlink() and not os.path.exists(entry.path):
                problems.append((path, "broken symbolic link"))
                continue
            files.append(path)
        stack.extend(reversed(subdirs))
    return files, problems


def _posix_rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def find_sources(
    inputs: list[str | os.PathLike], exclude: list[str | os.PathLike] = ()
) -> tuple[list[Source], list[SkippedSource]]:
    """The pages named by ``inputs`` (sorted by source) and the entries that cannot be used.

    Raises FileNotFoundError naming an input that does not exist. Folders in ``exclude`` (the
    output folder) are not walked.
    """
    excluded: set[tuple[int, int]] = set()
    for folder in exclude:
        try:
            st = os.stat(folder)
            excluded.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    found: dict[str, Source] = {}
    skipped: list[SkippedSource] = []
    for raw in inputs:
        given = Path(os.path.abspath(os.fspath(raw)))
        if not os.path.lexists(given):
            raise FileNotFoundError(f"input {os.fspath(raw)!r} does not exist")
        if given.is_dir():
            root = given.parent
            files, problems = _walk(given, excluded)
            for path, problem in problems:
                skipped.append(SkippedSource(str(path), _posix_rel(path, root), problem))
        else:
            root = given.parent
            files = [given]
        for path in files:
            rel = _posix_rel(path, root)
            src = Source(str(path), rel, page_key(rel))
            other = found.get(rel)
            if other is not None and other.path != src.path:
                skipped.append(SkippedSource(
                    src.path, rel, f"another input has the same relative path ({other.path}); "
                    "tile them in separate runs (separate --out) or rename one"
                ))
                continue
            found[rel] = src
    return sorted(found.values(), key=lambda s: s.source), sorted(skipped, key=lambda s: s.source)
