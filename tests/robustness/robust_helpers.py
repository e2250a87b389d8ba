"""Fixtures of the robustness suite: the bad-input corpus, small workspaces, CLI runners, kill helpers.

Nothing binary is checked in: every file is made here, in pytest's tmp folders. See README.md in
this folder for what the suite covers and how to run its full form.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

PROJECT = Path(__file__).resolve().parents[2]
DATA_CLI = "from srkit.cli.data import main; main()"
TRAIN_CLI = "from srkit.cli.train import main; main()"
# Reduced form in CI; SRKIT_ROBUST_SEEDS=10 is the full form (see README.md).
SEEDS = list(range(int(os.environ.get("SRKIT_ROBUST_SEEDS", "2") or 2)))
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ---------------------------------------------------------------------------------- running CLIs


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI child: wide lines (one error = one line), one thread."""
    env = dict(os.environ)
    env.update(COLUMNS="400", NO_COLOR="1", TERM="dumb",
               OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


@dataclass
class Run:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def lines_naming(self, name: str) -> list[str]:
        return [ln for ln in self.output.splitlines() if name in ln]

    def describe(self) -> str:
        return (f"$ {' '.join(self.args)}\nexit {self.returncode}\n"
                f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}")


def run_cli(program: str, args: Iterable[str], cwd: Path, timeout: float = 120, **popen: object) -> Run:
    """Run ``sr-data`` (program="data") or ``sr-train`` ("train") in a child process."""
    code = DATA_CLI if program == "data" else TRAIN_CLI
    argv = [str(a) for a in args]
    env = popen.pop("env", None) or cli_env()
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, **popen)  # type: ignore[call-overload]
    return Run([f"sr-{program}", *argv], done.returncode, done.stdout, done.stderr)


def assert_no_traceback(run: Run) -> None:
    assert "Traceback" not in run.output, run.describe()


def start_cli(program: str, args: Iterable[str], cwd: Path, env: dict[str, str] | None = None
              ) -> subprocess.Popen:
    """Start a CLI in its own process group (so a kill takes its workers too, as a crash would)."""
    import tempfile

    code = DATA_CLI if program == "data" else TRAIN_CLI
    err = tempfile.TemporaryFile()  # not a pipe: nobody reads while waiting, a full pipe would block it
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=env or cli_env(),
                            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    proc.err_file = err  # type: ignore[attr-defined]
    return proc


def stderr_of(proc: subprocess.Popen) -> str:
    """What a process started by ``start_cli`` wrote to stderr (call after it ended)."""
    err = proc.err_file  # type: ignore[attr-defined]
    err.seek(0)
    text = err.read().decode("utf-8", "replace")
    err.close()
    return text


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], extra_delay: float,
              timeout: float = 120) -> bool:
    """SIGKILL ``proc``'s group once ``ready()`` holds, after ``extra_delay`` s. True if it was killed."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            break
        time.sleep(0.002)
    if extra_delay > 0 and proc.poll() is None:
        time.sleep(extra_delay)
    killed = False
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
        except ProcessLookupError:
            pass
    proc.wait(timeout=60)
    proc.err_file.close()  # type: ignore[attr-defined]
    return killed and proc.returncode == -signal.SIGKILL


def count_files(folder: Path, pattern: str = "*.png") -> int:
    try:
        return sum(1 for _ in folder.glob(pattern))
    except OSError:
        return 0


# ---------------------------------------------------------------------------------- snapshots


def snapshot(folder: Path, skip: Iterable[str] = ()) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path -> bytes (the output a user gets)."""
    skipped = set(skip)
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in skipped and path.name not in skipped:
            out[rel] = path.read_bytes()
    return out


def temp_leftovers(folder: Path) -> list[str]:
    """Temporary files a stage could leave behind (``.NAME.tmp-PID``, ``*.tmp``, ``*.part``)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if ".tmp-" in p.name or p.suffix in (".tmp", ".part"))


def store_contents(path: Path) -> dict[str, tuple[bytes, tuple, bytes, tuple]]:
    """A store's pairs by key: HR/LR bytes and shapes (independent of the shard layout)."""
    from srkit.shards.reader import open_store

    with open_store(path) as store:
        out = {}
        for i, key in enumerate(store.keys):
            pair = store.read(i)
            out[key] = (pair.hr.tobytes(), pair.hr.shape, pair.lr.tobytes(), pair.lr.shape)
        return out


# ---------------------------------------------------------------------------------- images


def manga_like(height: int = 192, width: int = 160, seed: int = 0) -> np.ndarray:
    """A small gray page that tiles into detailed tiles: strokes over a dot screentone."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 255, np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    pitch = 4 + seed % 4
    img[(((yy % pitch) - pitch // 2) ** 2 + ((xx % pitch) - pitch // 2) ** 2) < pitch] = 0
    for _ in range(25):
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(img, p1, p2, int(rng.integers(0, 120)), int(rng.integers(1, 4)), cv2.LINE_AA)
    noise = rng.integers(0, 12, img.shape, dtype=np.uint8)
    return np.ascontiguousarray(np.where(img > 128, img - noise, img + noise).astype(np.uint8))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming a huge image (right CRCs) with a tiny IDAT: a decompression bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\xff" * 16)
    chunks = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def write_cv(path: Path, img: np.ndarray, params: list[int] | None = None) -> Path:
    bgr = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(path.suffix, bgr, params or [])
    assert ok
    path.write_bytes(buf.tobytes())
    return path


@dataclass
class Corpus:
    """Pages in ``root/pages``: ``good`` must be processed, ``bad`` each named by one error line."""

    root: Path
    pages: Path
    good: list[str] = field(default_factory=list)  # file names (relative to pages)
    bad: list[str] = field(default_factory=list)
    tiny: str = "tiny.png"  # 1 x 1: too small to tile or evaluate, fine to upscale
    notes: list[str] = field(default_factory=list)


def build_corpus(root: Path) -> Corpus:
    from PIL import Image

    pages = root / "pages"
    pages.mkdir(parents=True)
    c = Corpus(root, pages)

    def good(name: str) -> Path:
        c.good.append(name)
        return pages / name

    def bad(name: str) -> Path:
        c.bad.append(name)
        return pages / name

    # Good files, each with other content (so no tile is a duplicate of another page's tile).
    write_cv(good("plain.png"), manga_like(seed=1))
    write_cv(good("good one.png"), manga_like(seed=2))  # a space in the name
    write_cv(good("ページ 2.png"), manga_like(seed=3))  # unicode
    write_cv(good("-rf.png"), manga_like(seed=4))  # would be an option if taken as an argument
    write_cv(good("scan.jpg"), manga_like(seed=5), [cv2.IMWRITE_JPEG_QUALITY, 95])
    write_cv(good("deep16.png"), manga_like(seed=6).astype(np.uint16) * 257)  # 16-bit gray
    rgb = np.dstack([manga_like(seed=7), manga_like(seed=8), manga_like(seed=9)])
    Image.fromarray(rgb).convert("CMYK").save(good("cmyk.jpg"), "JPEG", quality=95)
    pal = Image.fromarray(manga_like(seed=10)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.save(good("palette.png"), transparency=0)
    gray = manga_like(seed=11)
    alpha = np.full_like(gray, 255)
    alpha[:20, :20] = 0
    Image.fromarray(np.dstack([gray, alpha]), "LA").save(good("gray-alpha.png"))
    Image.fromarray(np.dstack([rgb[:, :, ::-1], alpha]), "RGBA").save(good("rgba.png"))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(manga_like(160, 192, seed=12)).save(good("rotated.jpg"), "JPEG", quality=95, exif=exif)
    sub = pages / "nested dir"
    sub.mkdir()
    write_cv(sub / "inner.png", manga_like(seed=13))
    c.good.append("nested dir/inner.png")

    # Bad files.
    bad("empty.png").write_bytes(b"")
    whole = write_cv(root / "whole.png", manga_like(seed=14)).read_bytes()
    bad("truncated.png").write_bytes(whole[: len(whole) // 2])
    whole_jpg = write_cv(root / "whole.jpg", manga_like(seed=15), [cv2.IMWRITE_JPEG_QUALITY, 90]).read_bytes()
    bad("truncated.jpg").write_bytes(whole_jpg[: len(whole_jpg) // 3])
    bad("notes.png").write_text("this is a text file, not an image\n")
    bad("bomb.png").write_bytes(bomb_png())
    os.symlink(root / "does-not-exist.png", bad("dangling.png"))
    os.mkfifo(bad("fifo.png"))  # opening it would block: it must be refused before any open
    write_cv(pages / c.tiny, np.zeros((1, 1), np.uint8))
    os.symlink(pages, pages / "loop")  # a directory symlink loop: pages/loop/loop/...
    if IS_ROOT:
        c.notes.append("unreadable file (chmod 000) not tried: running as root, which reads anything; "
                       "the FIFO and the dangling link stand for files whose open fails")
    else:
        locked = bad("locked.png")
        write_cv(locked, manga_like(seed=16))
        locked.chmod(0)
    return c


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return build_corpus(tmp_path_factory.mktemp("corpus"))


# ---------------------------------------------------------------------------------- workspaces


def write_pages(folder: Path, count: int, height: int = 192, width: int = 160, seed: int = 100) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        write_cv(folder / f"p{i:02d}.png", manga_like(height, width, seed=seed + i))
    return folder


@pytest.fixture(scope="session")
def small_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small gray pages: 9 tiles of 64 px each."""
    return write_pages(tmp_path_factory.mktemp("pages") / "pages", 6)


TILE_ARGS = ["--size", "64"]
RECIPE = "bicubic_x2"


@pytest.fixture(scope="session")
def tiled(small_pages: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference workspace: tiles/ (via the library, one job) of ``small_pages``."""
    from srkit.tiling.run import TileOptions, tile_pages

    ws = tmp_path_factory.mktemp("ws")
    tile_pages([small_pages], ws / "tiles", TileOptions(size=64, jobs=1))
    return ws


@pytest.fixture(scope="session")
def degraded(tiled: Path) -> Path:
    """``tiled`` plus lr/bicubic_x2/ (library, one job)."""
    from srkit.degrade.run import degrade_tiles

    degrade_tiles(tiled / "tiles", RECIPE, tiled / "lr" / RECIPE, jobs=1)
    return tiled


@pytest.fixture(scope="session")
def packed(degraded: Path) -> Path:
    """``degraded`` plus data.lmdb/ in several shards (library)."""
    from srkit.shards.pack import pack_store

    pack_store(degraded / "tiles", degraded / "lr" / RECIPE, degraded / "data.lmdb", shard_size="40KiB",
               val_fraction=0.2)
    return degraded


def copy_workspace(src: Path, dst: Path, parts: Iterable[str]) -> Path:
    import shutil

    dst.mkdir(parents=True, exist_ok=True)
    for part in parts:
        if (src / part).is_dir():
            shutil.copytree(src / part, dst / part, symlinks=True)
    return dst


def fsize_limit_preexec(limit: int) -> Callable[[], None]:
    """For Popen's preexec_fn: writes past ``limit`` bytes fail with EFBIG instead of killing the child."""
    import resource

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply
