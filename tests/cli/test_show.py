"""`mtrain show`: each value's kind and origin, a view that stays readable when narrow or
piped, YAML that loads back as the same experiment, and nothing internal or raw."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.recipe import load_recipe
from tests.recipe.samples import BASE

runner = CliRunner()
RAW_MARKUP = re.compile(r"\[/?(?:bold|dim|red|green|yellow|cyan|blue|italic)\b[^\]]*\]|\[/\]")


@pytest.fixture
def composed(tmp_path, monkeypatch):
    """A child recipe on a base, with an interpolation and an environment value."""
    monkeypatch.setenv("MTRAIN_TEST_LR", "0.25")
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "child.yaml").write_text(
        "extends: base.yaml\nmodel:\n  args:\n    hidden: ${train.batch_size}\n"
        "train:\n  optimizer: {lr: '${oc.env:MTRAIN_TEST_LR}'}\n")
    return tmp_path


def show(*args, columns=80):
    result = runner.invoke(app, ["show", *map(str, args)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def test_each_value_says_its_kind_and_where_it_came_from(composed):
    out = show(composed / "child.yaml", "seed=5")
    base, child = composed / "base.yaml", composed / "child.yaml"
    assert "seed = 5  (stateful; override 'seed=5')" in out
    assert f"train.batch_size = 4  (stateful; {base}:14)" in out
    assert (f"model.args.hidden = 4  (stateful; {child}:4 (from ${{train.batch_size}}, "
            f"written at {base}:14))") in out
    # a value read from the environment is shown as the variable, never its value
    assert (f"train.optimizer.lr = ${{oc.env:MTRAIN_TEST_LR}}  (stateful; {child}:6 "
            f"(from ${{oc.env:MTRAIN_TEST_LR}}, "
            "read from the environment))") in out
    assert "train.grad_accum = 1  (stateful; default)" in out
    assert "model.args.num_classes = (filled at run time)  (derived; default)" in out


@pytest.mark.parametrize("columns", [40, 80, 99])
def test_narrow_or_piped_output_is_one_line_per_attribute(composed, columns):
    out = show(composed / "child.yaml", columns=columns)
    keys = re.findall(r"^(\S+) = ", out, re.M)
    loaded = load_recipe(composed / "child.yaml")
    assert len(keys) == len(set(keys)) >= 30
    assert f"model.target = tests.recipe.userconf.TinyModel  (stateful; " \
           f"{composed / 'base.yaml'}:5)" in out  # whole, never folded into short cells
    assert f"trial id: {loaded.trial_id}" in out


def test_wide_output_is_a_table_with_the_same_rows(composed):
    out = show(composed / "child.yaml", columns=200)
    header = next(line for line in out.splitlines() if line.startswith("key"))
    assert header.split()[::2] == ["key", "value", "kind", "from"]
    row = next(line for line in out.splitlines() if line.startswith("train.batch_size "))
    assert [cell.strip() for cell in row.split("│")] == \
        ["train.batch_size", "4", "stateful", f"{composed / 'base.yaml'}:14"]


def test_study_space_rows_show_their_own_values(write, base):
    text = base + "study:\n  space:\n    model.args.hidden: {choice: [4, 8]}\n" \
                  "    model.args.act: {choice: [relu, gelu]}\n"
    out = show(write(text))
    assert "study.space.model.args.hidden.choice = [4, 8]  (stateful; " in out
    assert "study.space.model.args.act.choice = [relu, gelu]  (stateful; " in out


@pytest.mark.parametrize("sweep", [[], ["-m", "model.args.act=relu,gelu", "seed=0,1"]])
def test_yaml_output_loads_back_as_the_same_experiment(composed, tmp_path, sweep):
    text = show(composed / "child.yaml", "name=flat", *sweep, "--format", "yaml")
    assert "extends" not in text and "???" not in text
    # the one interpolation left: the value read from the environment, read again on load
    assert [line.strip() for line in text.splitlines() if "${" in line] == \
        ["lr: ${oc.env:MTRAIN_TEST_LR}"]
    flat = tmp_path / "flat.yaml"
    flat.write_text(text)
    overrides = ["name=flat", *sweep[1:]]
    original = load_recipe(composed / "child.yaml", overrides, multirun=bool(sweep))
    again = load_recipe(flat)
    assert again.trial_id == original.trial_id
    assert again.recipe.study == original.recipe.study
    if sweep:
        assert again.study_id == original.study_id


def test_yaml_output_escapes_a_literal_interpolation(write, base, tmp_path):
    path = write(base.replace("lr: 1.0e-3}", r"lr: 1.0e-3, args: {note: 'a\${b}'}}"))
    text = show(path, "--format", "yaml")
    flat = tmp_path / "flat.yaml"
    flat.write_text(text)
    assert load_recipe(flat).recipe.train.optimizer.args == {"note": "a${b}"}
    assert load_recipe(flat).trial_id == load_recipe(path).trial_id


def test_no_output_holds_internal_fields_or_raw_markup(composed, write, base):
    child = composed / "child.yaml"
    outputs = [show(child, columns=c) for c in (60, 200)] + [show(child, "--format", "yaml")]
    for args in (["validate", str(child)], ["validate", str(child), "train.devices=2"],
                 ["validate", str(child), "-m", "seed=0,1"],
                 ["validate", str(child), "train.epochs=x", "nosuch.key=1"],
                 ["show", str(write(base.replace("name: tiny", "name: '[red]x[/red]'")))],
                 ["run", str(child), "seed=-1"]):
        outputs.append(runner.invoke(app, args, env={"COLUMNS": "80"}).output)
    for out in outputs:
        assert "_frozen" not in out
        assert not RAW_MARKUP.search(out.replace("[red]x[/red]", "")), out


def test_an_unknown_top_level_override_names_the_override(write, base):
    result = runner.invoke(app, ["validate", str(write(base)), "nosuch.key=1"])
    assert result.exit_code == 2
    assert "error override 'nosuch.key=1': nosuch: unknown key" in result.output


def test_a_trial_folder_shows_what_ran_it_then_its_recipe_with_derived_values(tmp_path):
    from model_trainer.trial.experiment import run_experiment
    from tests.train.tiny import load

    result = run_experiment(load(tmp_path, "train.epochs=1"), threads=1,
                            command=["mtrain", "run", "tiny.yaml"])
    record = json.loads((result.trial_dir / "provenance.json").read_text())
    out = show(result.trial_dir, columns=200)
    assert f"trial {result.trial_id}: what ran it" in out
    assert "mtrain run tiny.yaml" in out
    assert f"{record['python']} ({record['python_executable']})" in out
    assert f"packages ({len(record['packages'])})" in out
    flat = re.sub(r"[\s│]+", " ", out)  # the package list wraps inside its table cell
    assert f"torch {record['packages']['torch']}" in flat
    git = record["git"]
    assert (git is None and "not a git repository" in out) or git["commit"] in out
    # the recipe: kinds and origins as for a file, the Derived value the run filled in
    assert re.search(r"model\.args\.num_classes[\s│]+3[\s│]+derived[\s│]+the run", out)
    assert re.search(r"train\.epochs[\s│]+1[\s│]+stateless", out)
    assert re.search(r"\.yaml:\d+", out)  # origins: lines of the trial's recipe.yaml
    loadable = show(result.trial_dir, "--format", "yaml")
    assert "num_classes" not in loadable and load_recipe_from_text(loadable) == result.trial_id


def test_an_old_trial_recipe_with_train_tensorboard_still_shows(tmp_path):
    from model_trainer.trial.experiment import run_experiment
    from tests.train.tiny import load

    result = run_experiment(load(tmp_path, "train.epochs=1"), threads=1)
    recipe = result.trial_dir / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("  loggers: []\n", "  tensorboard: true\n"))
    (result.trial_dir / "provenance.json").unlink()
    out = show(result.trial_dir, columns=200)
    assert "no provenance.json" in out
    assert re.search(r"train\.loggers[\s│]+\[tensorboard\][\s│]+stateless", out)


def test_overrides_do_not_apply_to_a_trial_folder(tmp_path):
    (tmp_path / "trial").mkdir()
    (tmp_path / "trial" / "recipe.yaml").write_text(BASE)
    result = runner.invoke(app, ["show", str(tmp_path / "trial"), "seed=1"])
    assert result.exit_code == 2 and "overrides and -m apply to a recipe file" in result.output


def load_recipe_from_text(text: str) -> str:
    from model_trainer.recipe import load_recipe_text

    return load_recipe_text(text).trial_id
