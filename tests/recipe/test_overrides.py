"""Overrides go through the same validation as the file and errors name the override."""

from __future__ import annotations

import pytest

from model_trainer.errors import RecipeError
from model_trainer.recipe import load_recipe_text


def load(text, *overrides):
    return load_recipe_text(text, list(overrides), name="r.yaml").recipe


def issues(text, *overrides):
    with pytest.raises(RecipeError) as info:
        load_recipe_text(text, list(overrides), name="r.yaml")
    return [str(i) for i in info.value.issues]


def test_good_overrides_are_typed(base):
    r = load(base, "train.optimizer.lr=3e-4", "model.args.hidden=16", "name='5'",
             "train.metrics=[accuracy,mse]", "train.grad_clip=null", "train.epochs=7")
    assert r.train.optimizer.lr == pytest.approx(3e-4)
    assert r.model.args.hidden == 16
    assert r.name == "5"
    assert r.train.metrics == ["accuracy", "mse"]
    assert r.train.grad_clip is None
    assert r.train.epochs == 7


def test_override_can_add_a_whole_section(base):
    r = load(base, "study={space: {model.args.hidden: {choice: [4, 8]}}, seeds: [0, 1]}")
    assert r.study is not None and r.study.seeds == [0, 1]


@pytest.mark.parametrize(("override", "expected"), [
    ("train.optimizer.lr=fast", "override 'train.optimizer.lr=fast': train.optimizer.lr: "
                                "expected float, got str 'fast'"),
    ("train.batch_size='8'", "override 'train.batch_size='8'': train.batch_size: expected int"),
    ("train.epocs=3", "override 'train.epocs=3': train.epocs: unknown key (did you mean 'epochs'?)"),
    ("seed.x=1", "override 'seed.x=1': seed: expected int, got dict {'x': 1}"),
    ("nonsense", "override 'nonsense': expected KEY=VALUE"),
    ("model.args.num_classes=3", "override 'model.args.num_classes=3': model.args.num_classes: "
                                 "is Derived"),
    ("train.deterministic=yes", "train.deterministic: expected bool, got str 'yes'"),
    ("train.tensorboard=true", "train.tensorboard: was replaced by train.loggers: [tensorboard]"),
])
def test_bad_override_names_the_override(base, override, expected):
    found = issues(base, override)
    assert any(expected in line for line in found), found


def test_file_errors_keep_their_lines_next_to_override_errors(base):
    found = issues(base.replace("lr: 1.0e-3", "lr: x"), "seed=1.5")
    assert "r.yaml:15: train.optimizer.lr: expected float, got str 'x'" in found
    assert "override 'seed=1.5': seed: expected int, got float 1.5" in found


def test_override_fixes_a_file_error(base):
    assert load(base.replace("lr: 1.0e-3", "lr: x"), "train.optimizer.lr=0.1") \
        .train.optimizer.lr == 0.1


def test_a_nested_interpolation_on_the_command_line_says_to_quote_it(base, monkeypatch):
    """Hydra's override grammar ends an unquoted `${...}` at its first `}`: a nested one
    cannot parse there (the same text in a file can); the error says what works."""
    monkeypatch.setenv("MT_NESTED", "{a: 1}")
    found = issues(base, "++data.args.cred=${oc.decode:${oc.env:MT_NESTED}}")
    assert any("override '++data.args.cred=${oc.decode:${oc.env:MT_NESTED}}'" in line
               and """'++data.args.cred="${oc.decode:${oc.env:MT_NESTED}}"'""" in line
               for line in found), found
    later = issues(base, "++data.args.y=${x}_${oc.env:A,${b}}")  # the second one nests
    assert any("must be quoted" in line for line in later), later
    side_by_side = issues(base, "++data.args.x=${a}${b}}")  # two, not nested: no such hint
    assert not any("nested" in line for line in side_by_side), side_by_side
    # what the hint says to type is one shell word that reads back as Hydra's quoted text
    import shlex

    text = "++data.args.z=${oc.decode:${oc.env:A,'b'}}"
    hint = next(line for line in issues(base, text) if "must be quoted" in line)
    typed = hint.rsplit("command line: ", 1)[1].removesuffix(")")
    assert shlex.split(typed) == ['++data.args.z="' + text.partition("=")[2] + '"'], typed
    quoted = load(base, '++data.args.cred="${oc.decode:${oc.env:MT_NESTED}}"')
    assert quoted.data.args["cred"] == {"a": 1}
