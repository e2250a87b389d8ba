"""Security: no pickle in the shipped code, config files are data only, paths that escape are refused.

- Every .py file of the shipped packages is parsed: no ``pickle``-family import, no ``torch.load``
  without ``weights_only=True``, no ``numpy.load(allow_pickle=True)``, no ``eval``/``exec``, no
  ``yaml.load``, no ``shell=True``.
- Recipe and training-config TOML files with an unknown key or a Python-looking value are refused
  with a usage error (exit 2) and the value is never run.
- A tiles.jsonl ``file`` field or an index.json path that leaves its folder (``../``, absolute) is
  refused by degrade, pack, the reader, verify and the trainer.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from robust_helpers import PROJECT, RECIPE, assert_no_traceback, copy_workspace, manga_like, run_cli, write_cv

from srkit.core.console import EXIT_OK, EXIT_SKIPPED, EXIT_USAGE
from srkit.core.manifest import read_jsonl
from srkit.tiling.manifest import kept_tiles

SHIPPED = ("srkit", "tiling", "degrade", "shards", "train", "recipes")
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "jsonpickle"}


def _shipped_files() -> list[Path]:
    files = [p for package in SHIPPED for p in sorted((PROJECT / package).rglob("*.py"))]
    assert len(files) > 20, "the shipped packages were not found"
    return files


def _call_name(node: ast.Call) -> str:
    parts = []
    func = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    parts.append(func.id if isinstance(func, ast.Name) else "<expr>")  # model.eval() is no eval()
    return ".".join(reversed(parts))


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _unsafe_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        shown = path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path.name
        where = f"{shown}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] in PICKLE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLE_MODULES:
            found.append(f"{where}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            if name == "torch.load" or name.endswith(".torch.load"):
                value = _keyword(node, "weights_only")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    found.append(f"{where}: torch.load without weights_only=True")
            elif name in ("np.load", "numpy.load"):
                value = _keyword(node, "allow_pickle")
                if isinstance(value, ast.Constant) and value.value:
                    found.append(f"{where}: {name}(allow_pickle=True)")
            elif name in ("eval", "exec", "yaml.load", "yaml.unsafe_load", "pickle.loads", "pickle.load"):
                found.append(f"{where}: {name}(...)")
            elif name.startswith("subprocess.") or name in ("os.system", "os.popen"):
                shell = _keyword(node, "shell")
                if name in ("os.system", "os.popen") or (isinstance(shell, ast.Constant) and shell.value):
                    found.append(f"{where}: {name} through a shell")
    return found


def test_no_pickle_and_no_unsafe_loading_in_the_shipped_code():
    problems = [p for path in _shipped_files() for p in _unsafe_uses(path)]
    assert problems == []


def test_the_scanner_finds_what_it_looks_for(tmp_path):
    """The scan above would catch each pattern (a scanner that finds nothing proves nothing)."""
    bad = tmp_path / "probe.py"
    bad.write_text("import pickle\nimport torch\nimport numpy as np\n"
                   "torch.load('x')\ntorch.load('x', weights_only=False)\nnp.load('x', allow_pickle=True)\n"
                   "eval('1')\nmodel.eval()\n")
    found = _unsafe_uses(bad)
    assert len(found) == 5, found


# ---------------------------------------------------------------------------------- data-only files


RECIPE_HEAD = 'name = "evil"\ndescription = "a test"\nscale = 2\nseed = 0\n'
TOUCHED = "pwned-by-recipe"
PAYLOAD = f"__import__('pathlib').Path('{TOUCHED}').touch()"


@pytest.mark.parametrize("body", [
    RECIPE_HEAD + 'exec = "1"\n[[steps]]\nop = "resize"\nto = "final"\nmode = "bicubic_aa"\n',
    RECIPE_HEAD + '[[steps]]\nop = "resize"\nto = "final"\nmode = "bicubic_aa"\nhook = "x"\n',
    RECIPE_HEAD + f'[[steps]]\nop = "resize"\nto = "final"\nmode = "{PAYLOAD}"\n',
    RECIPE_HEAD.replace("scale = 2", f'scale = "{PAYLOAD}"')
    + '[[steps]]\nop = "resize"\nto = "final"\nmode = "bicubic_aa"\n',
    RECIPE_HEAD + f'[[steps]]\nop = "{PAYLOAD}"\n',
    RECIPE_HEAD + '[[steps]]\nop = "blur"\nsigma = "lambda: 1"\n',
], ids=["unknown top key", "unknown step key", "python mode", "python scale", "python op", "lambda param"])
def test_a_recipe_is_data_only(degraded, tmp_path, body):
    ws = copy_workspace(degraded, tmp_path / "ws", ["tiles"])
    (ws / "evil.toml").write_text(body)
    for args in (["recipes", "show", "evil.toml"], ["degrade", "--recipe", "evil.toml", "--jobs", "1"]):
        run = run_cli("data", args, ws)
        assert run.returncode == EXIT_USAGE, run.describe()
        assert_no_traceback(run)
        assert "evil.toml" in run.stderr, run.describe()
    assert not (ws / TOUCHED).exists()
    assert not list((ws / "lr").glob("*/*.png"))


@pytest.mark.parametrize("body", [
    '[train]\niters = 2\nsurprise = 1\n',
    '[nonsense]\nx = 1\n',
    f'[model]\narch = "{PAYLOAD}"\n',
    f'[train]\niters = "{PAYLOAD}"\n',
], ids=["unknown key", "unknown section", "python arch", "python iters"])
def test_a_training_config_is_data_only(packed, tmp_path, body):
    (tmp_path / "evil.toml").write_text(body)
    run = run_cli("train", ["--shards", packed / "data.lmdb", "--config", "evil.toml",
                            "--out", tmp_path / "run", "--device", "cpu"], tmp_path, timeout=300)
    assert run.returncode == EXIT_USAGE, run.describe()
    assert_no_traceback(run)
    assert not (tmp_path / TOUCHED).exists()
    assert not (tmp_path / "run" / "model.safetensors").exists()


# ---------------------------------------------------------------------------------- escaping paths


def _point_a_tile_at(tiles: Path, target: str) -> str:
    """Rewrite the first kept tile's ``file`` field; returns its key."""
    records = list(read_jsonl(tiles / "tiles.jsonl"))
    first = kept_tiles(tiles)[0]["key"]
    for rec in records:
        if rec.get("key") == first:
            rec["file"] = target
    (tiles / "tiles.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    return first


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_degrade_refuses_a_tile_file_outside_the_tiles_folder(degraded, tmp_path, kind):
    ws = copy_workspace(degraded, tmp_path / "ws", ["tiles"])
    # A real PNG: only its path may refuse it.
    secret = write_cv(tmp_path / "secret.png", manga_like(64, 64, seed=99))
    target = "../../secret.png" if kind == "dotdot" else str(secret)
    key = _point_a_tile_at(ws / "tiles", target)
    run = run_cli("data", ["degrade", "--recipe", RECIPE, "--jobs", "1"], ws)
    assert run.returncode == EXIT_SKIPPED, run.describe()
    assert_no_traceback(run)
    lines = run.lines_naming(key)
    assert len(lines) == 1 and ("escapes" in lines[0] or "absolute" in lines[0]), run.describe()
    assert not (ws / "lr" / RECIPE / f"{key}.png").exists()
    assert key not in {r["key"] for r in read_jsonl(ws / "lr" / RECIPE / "degradations.jsonl")}


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_pack_refuses_a_tile_file_outside_the_tiles_folder(degraded, tmp_path, kind):
    ws = copy_workspace(degraded, tmp_path / "ws", ["tiles", "lr"])
    secret = write_cv(tmp_path / "secret.png", manga_like(64, 64, seed=99))
    key = _point_a_tile_at(ws / "tiles", "../../secret.png" if kind == "dotdot" else str(secret))
    run = run_cli("data", ["pack", "lmdb"], ws)
    assert run.returncode == EXIT_USAGE, run.describe()
    assert_no_traceback(run)
    assert key in run.stderr and ("escapes" in run.stderr or "absolute" in run.stderr), run.describe()
    assert not (ws / "data.lmdb" / "index.json").exists()


@pytest.mark.parametrize("field", ["shard", "keys", "lineage"])
@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_an_index_path_outside_the_store_is_refused(packed, tmp_path, field, kind):
    store = tmp_path / "data.lmdb"
    shutil.copytree(packed / "data.lmdb", store)
    index = json.loads((store / "index.json").read_text())
    outside = tmp_path / "outside"
    outside.mkdir()
    if field == "shard":
        name = index["shards"][0]["file"]
        shutil.copytree(store / name, outside / name)
        rel = f"../outside/{name}"
        index["shards"][0]["file"] = rel if kind == "dotdot" else str(outside / name)
    else:
        name = index[field]["file"]
        shutil.copy(store / name, outside / name)
        index[field]["file"] = f"../outside/{name}" if kind == "dotdot" else str(outside / name)
    (store / "index.json").write_text(json.dumps(index))
    verify = run_cli("data", ["verify", store], tmp_path)
    assert verify.returncode != EXIT_OK, verify.describe()
    assert_no_traceback(verify)
    assert "escapes" in verify.output or "absolute" in verify.output, verify.describe()
    if field != "lineage":  # the lineage file is only read by verify
        from srkit.shards.reader import StoreError, open_store

        with pytest.raises(StoreError, match="escapes|absolute"):
            open_store(store)
        run = run_cli("train", ["--shards", store, "--preset", "smoke", "--iters", "2", "--device", "cpu",
                                "--out", tmp_path / "run"], tmp_path, timeout=300)
        assert run.returncode not in (EXIT_OK, EXIT_SKIPPED), run.describe()
        assert_no_traceback(run)
        assert "escapes" in run.stderr or "absolute" in run.stderr, run.describe()
