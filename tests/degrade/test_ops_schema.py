"""Op specs declared once: the schema's forms, messages and draws, sample reading the declared defaults,
and the sampled params pinned draw for draw (a log written before any change must replay the same)."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from srkit.degrade.ops import OPS, Context, OpSchema, Param, SpecError
from srkit.degrade.ops.schema import NO_DEFAULT

CONTEXTS = [Context((200, 200), (200, 200), 4), Context((97, 131, 3), (400, 300, 3), 2),
            Context((8, 9), (40, 36), 3)]


def plain(value: object) -> object:
    """Tuples as lists: a default as a recipe would write it."""
    return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def written_out_defaults(name: str) -> dict:
    spec = {"to": "final"} if name == "resize" else {}
    for param in OPS[name].schema.params:
        if param.default is not NO_DEFAULT and param.default is not None:
            spec[param.key] = plain(param.default)
    return spec


@pytest.mark.parametrize("name", sorted(OPS))
def test_sample_uses_the_declared_defaults(name):
    """An empty spec samples exactly like one with every declared default written out: sample has no
    default of its own."""
    empty = {"to": "final"} if name == "resize" else {}
    full = written_out_defaults(name)
    OPS[name].check(full)
    assert set(full) - set(empty), name  # every op declares defaults
    for ctx in CONTEXTS:
        for seed in range(25):
            a = OPS[name].sample(np.random.default_rng(seed), empty, ctx)
            b = OPS[name].sample(np.random.default_rng(seed), full, ctx)
            assert a == b, (name, seed)


@pytest.mark.parametrize("name", sorted(OPS))
def test_check_reads_the_declared_bounds(name):
    """A numeric value above a declared upper bound is refused, naming the key."""
    schema = OPS[name].schema
    spec = written_out_defaults(name)
    tried = 0
    for param in schema.params:
        if param.form in ("value", "integer") and param.kind != "str" and param.hi is not None:
            bad = int(param.hi) + 2 if param.form == "integer" or param.kind == "int" else param.hi + 1.0
            with pytest.raises(SpecError) as err:
                schema.check({**spec, param.key: bad})
            assert err.value.key == param.key
            tried += 1
    assert tried or all(p.form not in ("value", "integer") or p.kind == "str" for p in schema.params)


def test_weights_default_belongs_to_the_default_list():
    schema = OpSchema("t", (Param.names("kinds", ("a", "b"), ("a", "b", "c")),
                            Param.weights("kind_weights", (1.0, 3.0), of="kinds")))
    assert schema.value({}, "kind_weights") == (1.0, 3.0)
    assert schema.value({"kinds": ["c", "a", "b"]}, "kind_weights") is None  # equal weights
    schema.check({"kinds": ["c", "a", "b"]})  # the 2 default weights do not apply to 3 names
    with pytest.raises(SpecError, match="list of 3"):
        schema.check({"kinds": ["c", "a", "b"], "kind_weights": [1, 1]})
    picks = [schema.draw(np.random.default_rng(s), {}, "kinds") for s in range(2000)]
    assert set(picks) == {"a", "b"} and abs(picks.count("b") / 2000 - 0.75) < 0.04


def test_forms_refuse_what_they_do_not_hold():
    schema = OpSchema("t", (
        Param.value_spec("q", "int", [30, 95], 1, 100),
        Param.prob("p", 0.5),
        Param.integer("k", 0, 3, 9, odd=True, auto=0),
        Param.float_range("r", [0.5, 1.0], 0.0, 2.0, positive=True),
        Param.int_list("sizes", [3, 5], 3, 9, odd=True),
        Param.flag("f", True),
        Param.option("to", NO_DEFAULT, {"final": "HR / scale", "hr": "the HR size"}),
        Param.option("n", 4, (2, 4, 8)),
        Param.size("size"),
    ))
    schema.check({})  # defaults are valid; keys without a default are simply absent
    schema.check({"k": 0, "to": "hr", "size": [3, 4]})
    cases = [
        ({"q": 101}, "q", "between 1 and 100"),
        ({"p": 1.5}, "p", "between 0.0 and 1.0"),
        ({"k": 4}, "k", "odd integer between 3 and 9"),
        ({"r": [0.0, 1.0]}, "r", "> 0"),
        ({"r": 1.0}, "r", "range [lo, hi]"),
        ({"sizes": [3, 4]}, "sizes", "odd integers between 3 and 9"),
        ({"f": 1}, "f", "true or false"),
        ({"to": "lr"}, "to", 'expected "final" (HR / scale) or "hr" (the HR size)'),
        ({"n": 3}, "n", "one of [2, 4, 8]"),
        ({"n": True}, "n", "one of [2, 4, 8]"),
        ({"size": [0, 4]}, "size", "[h, w]"),
        ({"other": 1}, "other", "unknown key for op 't'; allowed keys: ['f', 'k', 'n', 'p', 'q', 'r',"),
    ]
    for spec, key, words in cases:
        with pytest.raises(SpecError) as err:
            schema.check(spec)
        assert err.value.key == key and words in err.value.message, (spec, err.value.message)


def test_rule_runs_after_the_keys():
    def no_q_with_p(spec: dict) -> None:
        if "q" in spec and "p" in spec:
            raise SpecError("q", "not with p")

    schema = OpSchema("t", (Param.value_spec("q", "int", 5, 1, 9), Param.prob("p", 0.5)), rule=no_q_with_p)
    schema.check({"q": 3})
    with pytest.raises(SpecError, match="between 1 and 9"):
        schema.check({"q": 30, "p": 0.1})  # the key's own error first
    with pytest.raises(SpecError, match="not with p"):
        schema.check({"q": 3, "p": 0.1})


def test_draws_use_the_rng_only_for_random_values():
    schema = OpSchema("t", (Param.value_spec("q", "int", [30, 95], 1, 100), Param.integer("k", 5, 3, 9),
                            Param.float_range("r", [1.0, 1.0], 0.0, 2.0), Param.prob("p", 0.0)))
    rng, ref = np.random.default_rng(3), np.random.default_rng(3)
    assert schema.draw(rng, {}, "q") == int(ref.integers(30, 96))
    assert schema.draw(rng, {}, "k") == 5 and schema.draw(rng, {}, "r") == 1.0  # fixed: no draw
    assert schema.chance(rng, {}, "p") is False  # p = 0 still uses one draw, so later draws stay put
    ref.random()
    assert rng.random() == ref.random()
    assert schema.draw_all(np.random.default_rng(0), {"q": 40}) == {"q": 40, "k": 5, "r": 1.0, "p": 0.0}


def test_describe_writes_defaults_and_bounds_as_the_docs_do():
    lines = OpSchema("t", (
        Param.float_range("omega", [math.pi / 3, math.pi], 0.0, math.pi + 1e-9, positive=True),
        Param.weights("w", of="names"),
        Param.names("names", ("a", "b"), ("a", "b")),
        Param.value_spec("factor", "float", lo=1e-3, hi=16.0),
    )).describe()
    assert lines == [
        "`omega`: float range `[lo, hi]` within 0..pi, lo > 0, default `[pi/3, pi]`",
        "`w`: weights, one per entry of `names`, default equal",
        "`names`: list of names among `a`, `b`, default all of them, in this order",
        "`factor`: value(float, 0.001..16), no default",
    ]


# Specs of every op, defaults included: the sampled params of all of them, over three contexts and 60
# draws each, hash to the digest below. It was computed before the specs became declarations; a change
# to a default, a cast or the order of draws changes it, and logged plans would no longer be what the
# recipe draws. Change it only with a new engine version.
PINNED_SPECS = {
    "resize": [{"factor": [0.3, 1.7]}, {"factor": {"choices": [0.5, 2]}}, {"size": [30, 40]},
               {"to": "final"}, {"to": "hr", "mode": ["area", "lanczos"]}],
    "random_resize": [{}, {"probs": [0.3, 0.4, 0.3], "relative_to": "final"},
                      {"modes": ["lanczos", "area"], "mode_weights": [2, 1], "up": [1.0, 3.0]}],
    "to_final": [{}, {"modes": ["area", "box"], "mode_weights": [1, 5]}],
    "gaussian_blur": [{}, {"sigma": [0.1, 5.0], "kernel_size": 9}, {"sigma": {"choices": [1, 2.5]}}],
    "realesrgan_blur": [{}, {"sigma": [0.2, 1.5]}, {"kernel_list": ["iso", "plateau_aniso"]},
                        {"kernel_list": ["generalized_aniso", "plateau_iso"], "kernel_prob": [3, 1],
                         "beta_split": False, "sinc_prob": 0.4, "sinc_small_below": 17}],
    "sinc": [{}, {"kernel_sizes": [9], "omega": [1.0, 2.0]}],
    "gaussian_noise": [{}, {"sigma": {"choices": [1, 3], "weights": [1, 2]}, "gray_prob": 0.5}],
    "poisson_noise": [{}, {"scale": 1.0, "gray_prob": 0.3}],
    "realesrgan_noise": [{}, {"gaussian_prob": 1.0, "sigma": [2.0, 3.0], "gray_prob": 0.0}],
    "jpeg": [{}, {"quality": {"choices": [10, 90]}, "subsampling": ["444", "422"]}],
    "webp": [{}, {"quality": [1, 100]}],
    "usm": [{}, {"weight": [0.1, 2.0], "sigma": [1.0, 9.0], "threshold": [0.0, 30.0], "kernel_size": 9}],
    "halftone": [{}, {"pitch": 5, "angle": [0.0, 90.0], "shape": ["round", "line", "square"]}],
    "dither": [{}, {"method": ["bayer", "floyd_steinberg"], "levels": [2, 9], "bayer_size": 8}],
    "quantize": [{}, {"levels": {"choices": [3, 7], "weights": [1, 4]}}],
}
PINNED_DIGEST = "55dd40dda3c50f5548e4aa870d8c517cbd36c012841b62314b765b7f816932c8"
# The ops `sr-data fit` writes into recipes, pinned the same way from the day they were added.
PINNED_SPECS_FIT = {
    "levels": [{}, {"black": [5.0, 30.0], "white": {"choices": [220.0, 240.0]}, "gamma": [0.8, 1.5]}],
    "paper": [{}, {"sigma": 3.0, "scale": [0.5, 4.0]}],
    "ink_spread": [{}, {"radius": {"choices": [0.5, 1.5], "weights": [1, 3]}, "gain": [0.0, 2.0]}],
    "sharpen": [{}, {"radius": 2.0, "amount": [0.1, 3.0], "threshold": [0.0, 8.0]}],
}
PINNED_DIGEST_FIT = "653502e710d8a668f9c8a643dc041484f5c117d13da15df71cf482a1fc8273ee"
# The denoisers (HR clean-up, upscale --denoise), pinned the same way from the day they were added.
PINNED_SPECS_DENOISE = {
    "nlmeans": [{}, {"h": [2.0, 9.0], "template": 5, "search": 11}],
    "bilateral": [{}, {"d": 9, "sigma_color": [10.0, 40.0], "sigma_space": {"choices": [2, 7]}}],
}
PINNED_DIGEST_DENOISE = "b5145d555d24d6d6765f8efe6605bb91b8e4d70dc1b163d99ba75f069e593c44"


def pinned_draws(pinned: dict | None = None) -> str:
    draws = {}
    for name, specs in sorted((PINNED_SPECS if pinned is None else pinned).items()):
        for i, spec in enumerate(specs):
            OPS[name].check(spec)
            for j, ctx in enumerate(CONTEXTS):
                rng = np.random.default_rng([i, j, len(name)])
                cell = [OPS[name].sample(rng, spec, ctx) for _ in range(60)]
                draws[f"{name}/{i}/{j}"] = cell + [rng.random()]  # and where the rng stands after
    return hashlib.sha256(json.dumps(draws, sort_keys=True).encode()).hexdigest()


def test_sampled_params_are_pinned():
    later = (PINNED_SPECS_FIT, PINNED_SPECS_DENOISE)
    assert not any(set(PINNED_SPECS) & set(p) for p in later) and not set(later[0]) & set(later[1])
    assert set(PINNED_SPECS).union(*later) == set(OPS)
    assert pinned_draws() == PINNED_DIGEST
    assert pinned_draws(PINNED_SPECS_FIT) == PINNED_DIGEST_FIT
    assert pinned_draws(PINNED_SPECS_DENOISE) == PINNED_DIGEST_DENOISE
