"""Config layers (defaults < preset < file < options), unknown keys, TOML round trips, presets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srkit.train.config import (
    Config,
    ConfigError,
    config_toml,
    from_dict,
    parse_assignment,
    preset_names,
    resolve,
    to_dict,
    to_toml,
)

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

EXPECTED_PRESETS = {"smoke", "compact_x4", "esrgan_x4_psnr", "esrgan_x4_gan", "manga_x4", "manga_x4_gan",
                    "srcnn_x2", "msrcnn_x2", "srresnet8_wgangp_x4", "cpu_x4", "span_x4", "span_x4_gan",
                    "realplksr_x4", "realplksr_x4_gan", "ultracompact", "superultracompact"}


def test_precedence_defaults_preset_file_options(tmp_path):
    assert Config().optim.lr == 2e-4
    smoke = resolve(preset="smoke")
    assert smoke.optim.lr == 1e-3 and smoke.train.iters == 200 and smoke.preset == "smoke"
    user = tmp_path / "mine.toml"
    user.write_text("[optim]\nlr = 3e-4\n[train]\niters = 50\n[model.options]\nnum_feat = 8\n")
    layered = resolve(preset="smoke", config_file=user)
    assert (layered.optim.lr, layered.train.iters) == (3e-4, 50)
    assert layered.model.options == {"num_feat": 8, "num_conv": 4}  # option tables merge key by key
    assert layered.data.gt_size == 64  # untouched keys keep the preset's value
    final = resolve(preset="smoke", config_file=user, overrides={"train": {"iters": 7}})
    assert final.train.iters == 7 and final.optim.lr == 3e-4


def test_changing_arch_drops_the_other_archs_options():
    cfg = resolve(preset="smoke", overrides={"model": {"arch": "rrdbnet"}})
    assert cfg.model.arch == "rrdbnet" and cfg.model.options == {}


def test_unknown_key_names_key_and_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlearning_rate = 1e-3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml.*unknown key 'optim\.learning_rate'"):
        resolve(config_file=bad)
    top = tmp_path / "top.toml"
    top.write_text("iters = 5\n")
    with pytest.raises(ConfigError, match=r"top\.toml.*unknown key 'iters'"):
        resolve(config_file=top)
    with pytest.raises(ConfigError, match="command line.*unknown key 'train.itres'"):
        resolve(overrides=parse_assignment("train.itres=5"))


def test_bad_values_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="train.iters.*int"):
        resolve(overrides={"train": {"iters": "many"}})
    with pytest.raises(ConfigError, match="gan.loss"):
        resolve(overrides={"gan": {"loss": "lsgan"}})
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        resolve(preset="nope")
    broken = tmp_path / "broken.toml"
    broken.write_text("[optim\n")
    with pytest.raises(ConfigError, match="broken.toml: not valid TOML"):
        resolve(config_file=broken)


def test_parse_assignment_reads_toml_values():
    assert parse_assignment("optim.lr=1e-4") == {"optim": {"lr": 1e-4}}
    assert parse_assignment("model.arch=rrdbnet") == {"model": {"arch": "rrdbnet"}}
    assert parse_assignment("optim.milestones=[10, 20]") == {"optim": {"milestones": [10, 20]}}
    with pytest.raises(ConfigError):
        parse_assignment("no_equals_sign")


def test_written_config_reads_back_identically(tmp_path):
    for name in preset_names():
        cfg = resolve(preset=name)
        path = tmp_path / f"{name}.toml"
        path.write_text(config_toml(cfg))
        again = from_dict(tomllib.loads(path.read_text()))
        assert to_dict(again) == to_dict(cfg)


def test_every_documented_preset_exists_and_says_where_it_comes_from():
    assert EXPECTED_PRESETS <= set(preset_names())
    from srkit.train.config import preset_path

    for name in EXPECTED_PRESETS:
        text = preset_path(name).read_text()
        assert "Source" in text and "Stage" in text and "Needs" in text, name
        resolve(preset=name)


scalars = st.one_of(st.booleans(), st.integers(-10**9, 10**9),
                    st.floats(allow_nan=False, allow_infinity=True, width=64),
                    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12))
keys = st.text("abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=8)
tables = st.recursive(st.dictionaries(keys, st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=4),
                      lambda inner: st.dictionaries(keys, inner, min_size=1, max_size=3), max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(tables)
def test_toml_writer_round_trips(data):
    assert tomllib.loads(to_toml(data)) == data


def test_every_preset_builds_its_model():
    from srkit.train.models import build_model

    for name in preset_names():
        cfg = resolve(preset=name)
        scale = 1 if cfg.model.arch in ("srcnn", "msrcnn") else 4
        build_model(cfg.model.arch, 1, 1, scale, **cfg.model.options)
        if cfg.next_preset:
            assert cfg.next_preset in preset_names(), name


def test_the_cpu_preset_trains_for_a_time_budget():
    cfg = resolve(preset="cpu_x4")
    assert cfg.train.time_budget == "20m" and cfg.optim.schedule == "cosine"
    assert resolve(preset="cpu_x4", overrides={"train": {"time_budget": "5m"}}).train.time_budget == "5m"
