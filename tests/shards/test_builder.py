"""The store builder (temporary name -> put -> commit, abort on error), the shard options, size parsing,
and the import graph of the shards package."""

from __future__ import annotations

import ast
from pathlib import Path

import h5py
import pytest
from store_helpers import make_pairs

from srkit.shards.builder import WRITERS, NativeStoreBuilder, StoreBuilder
from srkit.shards.format import BACKENDS, encode_record, shard_name
from srkit.shards.shard_writer import ShardOptions
from srkit.shards.sizes import parse_size

SHARDS = Path(__file__).resolve().parents[2] / "shards"


def _records(n: int, seed: int, codec: str = "raw"):
    return [encode_record(key, hr, lr, codec) for key, hr, lr in make_pairs(n, seed=seed)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_error_while_a_shard_is_open_leaves_neither_it_nor_its_temporary(tmp_path: Path, backend: str):
    records = _records(3, seed=31)
    out = tmp_path / "s"
    with pytest.raises(RuntimeError, match="disk on fire"):
        with NativeStoreBuilder(out, ShardOptions(backend)) as builder:
            builder.open_shard(start=0)
            builder.put(records[0])
            builder.commit()
            builder.open_shard(start=1)
            builder.put(records[1])
            assert builder.writer.path.exists() and builder.writer.path.name.startswith(".")
            raise RuntimeError("disk on fire")
    assert sorted(p.name for p in out.iterdir()) == [shard_name(0, backend)]
    assert builder.writer is None and len(builder.entries) == 1


def test_commit_renames_over_an_earlier_stores_shard_and_returns_the_entry(tmp_path: Path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "shard-00000.h5").write_bytes(b"a shard of an earlier, different store")
    records = _records(3, seed=32)
    with NativeStoreBuilder(out, ShardOptions("hdf5")) as builder:
        builder.open_shard(start=0)
        for rec in records:
            builder.put(rec)
        entry = builder.commit()
    assert entry["file"] == "shard-00000.h5" and entry["count"] == 3 and entry["start"] == 0
    assert entry["file_bytes"] == (out / "shard-00000.h5").stat().st_size
    assert entry["payload_bytes"] == sum(r.payload_bytes for r in records)
    assert builder.entries == [entry]
    with h5py.File(out / "shard-00000.h5", "r") as f:
        assert f.attrs["digest"] == entry["digest"] and f.attrs["last_key"] == records[-1].key


def test_a_second_shard_cannot_be_opened_before_the_first_is_committed(tmp_path: Path):
    with NativeStoreBuilder(tmp_path / "s", ShardOptions("lmdb")) as builder:
        builder.open_shard(start=0)
        with pytest.raises(RuntimeError, match="still open"):
            builder.open_shard(start=0)
    assert list((tmp_path / "s").iterdir()) == []  # the open one was aborted on the way out


def test_the_builder_takes_any_writer_with_put_finish_abort(tmp_path: Path):
    class Lines:
        def __init__(self, path: Path):
            self.path = path
            self.lines: list[str] = []

        def put(self, item: str) -> None:
            self.lines.append(item)

        def finish(self) -> dict:
            self.path.write_text("".join(self.lines))
            return {"lines": len(self.lines)}

        def abort(self) -> None:
            pass

    with StoreBuilder(tmp_path) as builder:
        builder.open("a.txt", Lines)
        builder.put("x\n")
        builder.put("y\n")
        assert builder.commit() == {"lines": 2, "file": "a.txt"}
    assert (tmp_path / "a.txt").read_text() == "x\ny\n"


def test_every_backend_has_one_writer_class():
    assert sorted(WRITERS) == sorted(BACKENDS)
    assert len(set(WRITERS.values())) == len(BACKENDS)


def test_lmdb_shard_map_is_sized_from_the_expected_records(tmp_path: Path):
    with NativeStoreBuilder(tmp_path / "s", ShardOptions("lmdb")) as builder:
        small = builder.open_shard(start=0)
        assert small._env.env.info()["map_size"] == 16 << 20  # the floor, when nothing is known
        builder.commit()
        large = builder.open_shard(start=0, expected_sizes=[10_000_000] * 4)  # as if 10 MB records
        assert large._env.env.info()["map_size"] > 44_000_000
        builder.commit()


@pytest.mark.parametrize(("options", "message"), [
    ({"backend": "zarr"}, "format must be one of"),
    ({"codec": "jpeg"}, "codec must be one of"),
    ({"hdf5_compression": "zstd"}, "gzip, lzf or none"),
])
def test_unknown_options_are_refused(options: dict, message: str):
    with pytest.raises(ValueError, match=message):
        ShardOptions(**options)


@pytest.mark.parametrize(("text", "size"), [
    ("1GiB", 1 << 30), ("512MiB", 512 << 20), ("200MB", 200_000_000), ("1e9", 10**9), (4096, 4096),
    ("3 KiB", 3072), ("2k", 2048), ("1.5m", 3 << 19),
])
def test_sizes_as_users_write_them(text, size: int):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["lots", "0MiB", "-1GiB", "0", "GiB"])
def test_sizes_that_mean_nothing_are_refused(text: str):
    with pytest.raises(ValueError):
        parse_size(text)


def _imports(path: Path) -> set[str]:
    """The srkit.shards modules ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("srkit.shards."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith("srkit.shards."))
    return found


def test_the_shards_modules_import_each_other_without_a_cycle():
    graph = {p.stem: _imports(p) for p in SHARDS.glob("*.py")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, f"import cycle: {' -> '.join([*visiting, module])}"
        visiting.append(module)
        for target in sorted(graph.get(module, ())):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
