"""Recipes: validation errors, content hash, the step grammar, and every shipped recipe end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from degrade_fixtures import manga_like_tile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srkit import recipes
from srkit.core.images import encode_png
from srkit.core.manifest import canonical_json
from srkit.degrade.ops import OPS
from srkit.degrade.plan import apply_plan
from srkit.degrade.recipe import RecipeError, load_recipe, parse_recipe

HEAD = 'name = "t"\ndescription = "test"\nscale = 2\nseed = 3\n'
HEAD1 = HEAD.replace("scale = 2", "scale = 1")  # steps that keep the size


def recipe_file(tmp_path: Path, body: str, head: str = HEAD) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(head + body, encoding="utf-8")
    return path


def error_of(tmp_path: Path, body: str, head: str = HEAD) -> RecipeError:
    path = recipe_file(tmp_path, body, head)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(path) in str(info.value)
    return info.value


# ------------------------------------------------------------------------------------------ validation

def test_unknown_op_names_the_file_the_key_and_lists_the_ops(tmp_path):
    err = error_of(tmp_path, '[[steps]]\nop = "resize"\nto = "final"\n[[steps]]\nop = "blurr"\n')
    assert err.path == "steps[1].op"
    assert "blurr" in err.message
    for name in ("jpeg", "gaussian_blur", "resize"):
        assert name in err.message


def test_unknown_key_in_an_op_spec_names_its_path(tmp_path):
    err = error_of(tmp_path, '[[steps]]\nop = "jpeg"\nqualiti = 80\n')
    assert err.path == "steps[0].qualiti"
    assert "quality" in err.message  # the allowed keys are listed


def test_bad_range_names_the_nested_key(tmp_path):
    body = ('[[steps]]\np = 0.5\n[[steps.one_of]]\nop = "jpeg"\nquality = 80\n'
            '[[steps.one_of]]\nop = "gaussian_blur"\nsigma = [3.0, 1.0]\n')
    err = error_of(tmp_path, body)
    assert err.path == "steps[0].one_of[1].sigma"


def test_out_of_bounds_value_says_what_is_allowed(tmp_path):
    err = error_of(tmp_path, '[[steps]]\nop = "jpeg"\nquality = [10, 200]\n')
    assert err.path == "steps[0].quality"
    assert "100" in err.message


@pytest.mark.parametrize(("body", "path", "fragment"), [
    ('[[steps]]\nop = "jpeg"\np = 1.5\n', "steps[0].p", "probability"),
    ('[[steps]]\nweights = [1]\n[[steps.one_of]]\nop = "jpeg"\n[[steps.one_of]]\nop = "jpeg"\n',
     "steps[0].weights", "2 non-negative"),
    ('[[steps]]\nrepeat = 0\n[[steps.sequence]]\nop = "jpeg"\n', "steps[0].repeat", "from 1"),
    ('[[steps]]\nop = "jpeg"\none_of = []\n', "steps[0]", "exactly one of"),
    ('[[steps]]\nquality = 3\n', "steps[0]", "exactly one of"),
    ('[[steps]]\nrandom_order = []\n', "steps[0].random_order", "non-empty"),
    ('[[steps]]\nsequence = [{ op = "jpeg" }]\nweights = [1]\n', "steps[0].weights", "allowed: "),
    ('colour = 1\n[[steps]]\nop = "jpeg"\n', "colour", "allowed top-level keys"),
    ('lr_size = "big"\n[[steps]]\nop = "jpeg"\n', "lr_size", "'scaled', 'hr'"),
    ('dtype = "float64"\n[[steps]]\nop = "jpeg"\n', "dtype", "'uint8', 'float32'"),
    ('steps = []\n', "steps", "non-empty"),
    ('[[steps]]\nop = "jpeg"\nname = 3\n', "steps[0].name", "string"),
])
def test_structural_errors(tmp_path, body, path, fragment):
    err = error_of(tmp_path, body)
    assert err.path == path
    assert fragment in err.message


def test_bad_top_level_values(tmp_path):
    assert error_of(tmp_path, '[[steps]]\nop = "jpeg"\n', head='name = "t"\ndescription = ""\nscale = 0\n'
                    ).path == "scale"
    assert error_of(tmp_path, '[[steps]]\nop = "jpeg"\n', head='name = "a.b"\ndescription = ""\nscale = 2\n'
                    ).path == "name"
    assert error_of(tmp_path, '[[steps]]\nop = "jpeg"\n', head='description = ""\nscale = 2\n').path == "name"
    assert error_of(tmp_path, '[[steps]]\nop = "jpeg"\n', head=HEAD.replace("seed = 3", "seed = -1")
                    ).path == "seed"


def test_toml_syntax_error_names_the_file(tmp_path):
    err = error_of(tmp_path, "[[steps]\nop = jpeg\n")
    assert "not valid TOML" in err.message


def test_unknown_recipe_name_lists_the_shipped_ones():
    with pytest.raises(RecipeError) as info:
        load_recipe("no_such_recipe")
    assert "rawkuma_like" in str(info.value) and "realesrgan_x4" in str(info.value)
    with pytest.raises(RecipeError, match="file not found"):
        load_recipe("missing/dir/r.toml")


# ------------------------------------------------------------------------------------------ hash

def test_hash_ignores_comments_and_layout_but_not_values(tmp_path):
    body = '[[steps]]\nop = "jpeg"\nquality = [60, 95]\n'
    a = parse_recipe(HEAD + body)
    b = parse_recipe("# a comment\n" + HEAD.replace("scale = 2", "scale   =   2  # x2") + "\n\n" + body)
    c = parse_recipe(HEAD + body.replace("60", "61"))
    assert a.hash == b.hash
    assert a.hash != c.hash
    assert len(a.hash) == 64


# ------------------------------------------------------------------------------------------ grammar

def plan_of(text: str, key: str = "k", size: int = 32, seed: int | None = None):
    recipe = parse_recipe(text)
    return recipe.plan_and_apply(manga_like_tile(size, 1), key, seed)


def test_probability_zero_and_one():
    _, plan = plan_of(HEAD1 + '[[steps]]\nop = "jpeg"\np = 0.0\n'
                      '[[steps]]\nop = "jpeg"\np = 1.0\nname = "q"\n')
    assert plan[0] == {"op": "jpeg", "at": "steps[0]", "skipped": True}
    assert plan[1]["op"] == "jpeg" and plan[1]["name"] == "q" and "params" in plan[1]


def test_skipped_group_is_marked_with_its_kind():
    _, plan = plan_of(HEAD1 + '[[steps]]\np = 0.0\n[[steps.sequence]]\nop = "jpeg"\n')
    assert plan == [{"op": "sequence", "at": "steps[0]", "skipped": True}]


def test_one_of_follows_its_weights():
    text = HEAD1 + ('[[steps]]\nweights = [3, 1, 0]\n[[steps.one_of]]\nop = "jpeg"\n'
                   '[[steps.one_of]]\nop = "gaussian_blur"\n[[steps.one_of]]\nop = "quantize"\n')
    recipe = parse_recipe(text)
    hr = manga_like_tile(16, 2)
    ops = [recipe.plan_and_apply(hr, f"k{i}")[1][0]["op"] for i in range(400)]
    assert "quantize" not in ops
    assert 0.65 < ops.count("jpeg") / len(ops) < 0.85


def test_random_order_draws_both_orders():
    text = HEAD1 + ('[[steps]]\n[[steps.random_order]]\nop = "jpeg"\n'
                    '[[steps.random_order]]\nop = "gaussian_blur"\n')
    recipe = parse_recipe(text)
    hr = manga_like_tile(16, 2)
    firsts = [recipe.plan_and_apply(hr, f"k{i}")[1][0]["op"] for i in range(400)]
    assert 0.4 < firsts.count("jpeg") / len(firsts) < 0.6
    _, plan = recipe.plan_and_apply(hr, "k0")
    assert sorted(e["at"] for e in plan) == ["steps[0].random_order[0]", "steps[0].random_order[1]"]


def test_repeated_stage_applies_its_steps_each_time():
    text = HEAD1 + ('[[steps]]\nrepeat = 3\n[[steps.sequence]]\nop = "jpeg"\n'
                    '[[steps.sequence]]\nop = "quantize"\n')
    _, plan = plan_of(text)
    assert [e["op"] for e in plan] == ["jpeg", "quantize"] * 3
    assert plan[2]["at"] == "steps[0].repeat[1].sequence[0]"


def test_plan_depends_on_seed_and_key_only():
    text = HEAD1 + '[[steps]]\nop = "jpeg"\n[[steps]]\nop = "gaussian_noise"\n'
    assert plan_of(text, "a")[1] == plan_of(text, "a")[1]
    assert plan_of(text, "a")[1] != plan_of(text, "b")[1]
    assert plan_of(text, "a", seed=3)[1] == plan_of(text, "a")[1]  # the recipe's seed is 3
    assert plan_of(text, "a", seed=4)[1] != plan_of(text, "a")[1]


def test_float_chain_is_recorded_and_replayed():
    text = HEAD + ('dtype = "float32"\n[[steps]]\nop = "gaussian_noise"\n'
                   '[[steps]]\nop = "resize"\nto = "final"\n')
    hr = manga_like_tile(32, 3)
    lr, plan = parse_recipe(text).plan_and_apply(hr, "k")
    assert plan[0]["op"] == "to_float32"
    assert lr.dtype == np.uint8 and lr.shape == (16, 16)
    assert np.array_equal(apply_plan(hr, json.loads(json.dumps(plan))), lr)


def test_hr_not_a_multiple_of_the_scale_is_refused():
    from srkit.degrade.recipe import PairError

    with pytest.raises(PairError, match="sample odd"):
        parse_recipe(HEAD + '[[steps]]\nop = "resize"\nto = "final"\n').plan_and_apply(
            manga_like_tile(33, 1), "odd")


def test_crop_hr_makes_any_image_usable():
    recipe = load_recipe("bicubic_x4")
    hr = manga_like_tile(67, 1)[:, :66]
    cropped = recipe.crop_hr(hr)
    assert cropped.shape == (64, 64) and np.array_equal(cropped, hr[:64, :64])
    assert recipe.plan_and_apply(cropped, "k")[0].shape == (16, 16)


def test_a_step_that_breaks_the_pair_is_an_error_naming_the_sample():
    from srkit.degrade.recipe import PairError

    with pytest.raises(PairError, match="sample k7"):
        parse_recipe(HEAD + '[[steps]]\nop = "jpeg"\n').plan_and_apply(manga_like_tile(32, 1), "k7")


# ------------------------------------------------------------------------------------------ shipped

SHIPPED = recipes.shipped_names()


def test_the_promised_recipes_are_shipped_and_documented():
    for name in ("rawkuma_like", "realesrgan_x4", "realesrgan_x2", "bicubic_x2", "bicubic_x4",
                 "srcnn_bilinear_x2", "srcnn_bicubic_x2", "manga_print_x2", "bicubic_x3", "bilinear_x2",
                 "bilinear_x3", "bilinear_x4", "msrcnn_clean"):
        assert name in SHIPPED
    for name, description in recipes.shipped_recipes():
        recipe = load_recipe(name)
        assert recipe.name == name
        assert description and "\n" not in description
        assert recipe.text.lstrip().startswith("#"), f"{name} must explain itself in comments"


def test_down_then_up_recipes_declare_pair_scale_one():
    for name in ("srcnn_bilinear_x2", "srcnn_bicubic_x2"):
        recipe = load_recipe(name)
        assert (recipe.scale, recipe.nominal_scale, recipe.lr_size) == (1, 2, "hr")


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("rgb", [False, True])
def test_shipped_recipe_shapes_and_replay(name, rgb):
    recipe = load_recipe(name)
    size = 64 if 64 % recipe.nominal_scale == 0 else 48  # a tile size the scale divides (x3: 48)
    hr = manga_like_tile(size, 5, rgb=rgb)
    for key in ("a", "b", "c"):
        lr, plan = recipe.plan_and_apply(hr, key)
        assert lr.dtype == np.uint8
        assert lr.shape == recipe.lr_shape(hr.shape)
        assert lr.shape[:2] == ((size, size) if recipe.lr_size == "hr" else (size // recipe.scale,) * 2)
        logged = json.loads(canonical_json({"steps": plan}))["steps"]
        assert encode_png(apply_plan(hr, logged)) == encode_png(lr)


def test_gray_stays_gray_in_every_shipped_recipe():
    for name in SHIPPED:
        hr = manga_like_tile(64 if 64 % load_recipe(name).nominal_scale == 0 else 48, 4)
        lr, _ = load_recipe(name).plan_and_apply(hr, "g")
        assert lr.ndim == 2, name


# ------------------------------------------------------------------------------------------ properties

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(SHIPPED),
    cells=st.integers(2, 12),
    rgb=st.booleans(),
    seed=st.integers(0, 2**32),
    key=st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True),
    content_seed=st.integers(0, 1000),
)
def test_any_tile_gives_a_valid_replayable_pair(name, cells, rgb, seed, key, content_seed):
    recipe = load_recipe(name)
    size = cells * 4 * recipe.nominal_scale // 2
    size -= size % recipe.nominal_scale
    rng = np.random.default_rng(content_seed)
    shape = (size, size + recipe.nominal_scale, 3) if rgb else (size, size + recipe.nominal_scale)
    hr = rng.integers(0, 256, shape, dtype=np.uint8)
    lr, plan = recipe.plan_and_apply(hr, key, seed)
    assert lr.dtype == np.uint8 and lr.flags.c_contiguous
    assert lr.shape == recipe.lr_shape(hr.shape)
    assert all(set(e) <= {"op", "at", "params", "skipped", "name"} for e in plan)
    assert all(e["op"] in OPS or e.get("skipped") or e["op"] == "to_float32" for e in plan)
    assert np.array_equal(apply_plan(hr, json.loads(json.dumps(plan))), lr)


# A recipe tree of size-keeping ops, groups and probabilities, as TOML inline tables.
LEAVES = ['{ op = "jpeg", quality = [40, 95] }', '{ op = "quantize", levels = [4, 32] }',
          '{ op = "gaussian_blur", sigma = [0.3, 1.5] }', '{ op = "gaussian_noise", sigma = [1.0, 9.0] }']


def step_trees(depth: int = 2):
    leaf = st.tuples(st.sampled_from(LEAVES), st.sampled_from([None, 0.0, 0.5, 1.0]))
    leaf_text = leaf.map(lambda t: t[0] if t[1] is None else t[0][:-1] + f", p = {t[1]} }}")
    if depth == 0:
        return leaf_text
    child = step_trees(depth - 1)

    def group(kind_children):
        kind, children, p, repeat = kind_children
        body = f"{kind} = [{', '.join(children)}]"
        if kind == "one_of":
            body += f", weights = [{', '.join(str(i + 1) for i in range(len(children)))}]"
        if kind == "sequence":
            body += f", repeat = {repeat}"
        return "{ " + body + (f", p = {p}" if p is not None else "") + " }"

    groups = st.tuples(st.sampled_from(["one_of", "sequence", "random_order"]),
                       st.lists(child, min_size=1, max_size=3), st.sampled_from([None, 0.5]),
                       st.integers(1, 2)).map(group)
    return st.one_of(leaf_text, groups)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step_trees(), min_size=1, max_size=4), key=st.text("abc019_-", min_size=1, max_size=8),
       float_chain=st.booleans(), rgb=st.booleans())
def test_any_step_tree_gives_a_replayable_plan(steps, key, float_chain, rgb):
    text = HEAD1 + ('dtype = "float32"\n' if float_chain else "") + f"steps = [{', '.join(steps)}]\n"
    recipe = parse_recipe(text)
    hr = manga_like_tile(24, 7, rgb=rgb)
    lr, plan = recipe.plan_and_apply(hr, key)
    assert lr.shape == hr.shape and lr.dtype == np.uint8
    assert (plan[0]["op"] == "to_float32") == float_chain
    assert all(e["at"].startswith("steps[") or e["at"] == "dtype" for e in plan)
    assert np.array_equal(apply_plan(hr, json.loads(json.dumps(plan))), lr)
    lr2, plan2 = recipe.plan_and_apply(hr, key)
    assert plan2 == plan and np.array_equal(lr2, lr)


def test_the_format_example_in_the_readme_is_a_valid_recipe():
    text = (recipes.RECIPES_DIR / "README.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    recipe = parse_recipe(example, "recipes/README.md")
    lr, plan = recipe.plan_and_apply(manga_like_tile(64, 2), "k")
    assert lr.shape == (16, 16) and [e["op"] for e in plan][0] == "resize"
