"""The shape of the house, checked: one installed name, imports that flow one way, no cycles.

ARCHITECTURE.md states these rules; this file is where they are enforced. Imports are read from the
source with ``ast`` (function-level imports included), so a rule holds whether or not a code path
runs in the other tests.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((PROJECT / "pyproject.toml").read_text())
PACKAGE_DIRS = PYPROJECT["tool"]["setuptools"]["package-dir"]

# Lower floors never import higher ones; a package may import itself and anything on a lower floor.
FLOORS = {
    "srkit.core": 0,
    "srkit.recipes": 1,
    "srkit.tiling": 1,
    "srkit.degrade": 2,
    "srkit.shards": 3,
    "srkit.train": 4,
    "srkit.demo": 5,
    "srkit.cli": 6,
}
# Data preparation runs on machines without a GPU stack and in many worker processes: no torch there.
NO_TORCH = ("srkit.core", "srkit.recipes", "srkit.tiling", "srkit.degrade", "srkit.shards")
MAX_LINES = 400


def source_files() -> dict[str, Path]:
    """Every installed module by its dotted name, found through the pyproject package mapping."""
    modules: dict[str, Path] = {}
    for package in PYPROJECT["tool"]["setuptools"]["packages"]:
        top = next(p for p in sorted(PACKAGE_DIRS, key=len, reverse=True)
                   if package == p or package.startswith(p + "."))
        inner = package[len(top):].strip(".")
        folder = PROJECT / PACKAGE_DIRS[top] / Path(*inner.split(".") if inner else ())
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    return modules


MODULES = source_files()


def imports_of(path: Path, module: str) -> set[str]:
    """Dotted names imported anywhere in the file (relative imports resolved)."""
    found: set[str] = set()
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def internal_edges() -> dict[str, set[str]]:
    """module -> the project modules it imports (a ``from pkg import mod`` counts as importing mod)."""
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = {t for t in imports_of(path, name) if t in MODULES and t != name}
        edges[name] = targets
    return edges


def floor_of(module: str) -> tuple[str, int]:
    for package, floor in FLOORS.items():
        if module == package or module.startswith(package + "."):
            return package, floor
    if module == "srkit":
        return "srkit", -1
    raise AssertionError(f"{module} belongs to no floor of FLOORS: add its package there")


def test_pyproject_lists_every_package_folder():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = set()
    for top, folder in PACKAGE_DIRS.items():
        for init in (PROJECT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(PROJECT / folder)
            if "__pycache__" in rel.parts:
                continue
            name = ".".join([top, *rel.parts]) if rel.parts else top
            if any(name == other or name.startswith(other + ".") for other in PACKAGE_DIRS if other != top
                   and len(other) > len(top)):
                continue  # a folder mapped on its own (srkit.tiling lives in tiling/, not srkit/tiling/)
            on_disk.add(name)
    assert on_disk == listed, (f"packages on disk but not in pyproject: {sorted(on_disk - listed)}; "
                               f"listed but missing: {sorted(listed - on_disk)}")


def test_every_module_belongs_to_a_floor():
    for name in MODULES:
        floor_of(name)


def test_imports_flow_one_way():
    wrong = []
    for name, targets in internal_edges().items():
        package, floor = floor_of(name)
        for target in targets:
            other, other_floor = floor_of(target)
            if other != package and other_floor >= floor and other != "srkit":
                wrong.append(f"{name} imports {target} ({other} is not below {package})")
    assert not wrong, "\n".join(sorted(wrong))


def test_nothing_imports_the_command_line():
    wrong = [f"{name} imports {target}" for name, targets in internal_edges().items()
             for target in targets if target.startswith("srkit.cli") and not name.startswith("srkit.cli")]
    assert not wrong, "\n".join(sorted(wrong))


def test_data_preparation_never_imports_torch():
    wrong = []
    for name, path in MODULES.items():
        if floor_of(name)[0] in NO_TORCH:
            wrong += [f"{name} imports {t}" for t in imports_of(path, name) if t.split(".")[0] == "torch"]
    assert not wrong, "\n".join(sorted(wrong))


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    # A package's __init__ importing its own modules is not a cycle of jobs: leave those edges out.
    edges = {name: {t for t in targets if not (MODULES[t].stem == "__init__" and name.startswith(t + "."))}
             for name, targets in internal_edges().items()}
    assert find_cycles(edges) == []


def test_no_product_file_is_too_long():
    long = [f"{path.relative_to(PROJECT)}: {n} lines" for path in MODULES.values()
            if (n := len(path.read_text().splitlines())) > MAX_LINES]
    assert not long, "\n".join(long)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to copy the tracked files")
def test_a_built_wheel_installs_only_the_srkit_name(tmp_path):
    pytest.importorskip("setuptools", minversion="68")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, check=True)
    src = tmp_path / "src"
    for rel in tracked.stdout.decode().split("\0"):
        if rel and (PROJECT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT / rel, src / rel)
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(wheels), str(src)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("srkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"srkit", f"{wheel.name.split('-')[0]}-"
                                                f"{wheel.name.split('-')[1]}.dist-info"}
    for expected in ("srkit/tiling/run.py", "srkit/core/images.py", "srkit/recipes/rawkuma_like.toml",
                     "srkit/train/presets/smoke.toml", "srkit/cli/train.py", "srkit/demo/pages.py"):
        assert expected in names
    # The regular install imports from its own files (the checkout is not on the path there).
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = subprocess.run([sys.executable, "-c", "import srkit.tiling.run, srkit.recipes as r; "
                            "print(srkit.tiling.run.__file__); print(len(r.shipped_names()))"],
                           cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-2000:]
    where, count = probe.stdout.split()
    assert Path(where).is_relative_to(site) and int(count) >= 8
