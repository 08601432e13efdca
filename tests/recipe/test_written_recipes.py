"""The recipe files the tool writes (`show --format yaml`, a trial's recipe.yaml, a study's
study.yaml) load back as the same values and the same ids, whatever strings they hold."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.recipe import load_recipe, load_recipe_text
from model_trainer.recipe.view import recipe_yaml
from tests.recipe.samples import BASE

runner = CliRunner()

# strings that YAML 1.1 writers leave bare but YAML 1.2 reads as numbers or booleans, and
# literal `${` (escaped in the recipe: OmegaConf's `\${`), with backslashes before them
TRICKY = r"""  args:
    tag: '1e3'
    mode: '0o17'
    flag: 'yes'
    code: '017'
    tags: ['1e3', '0x1F', '.5']
    note: 'a\${x}'
    slash: '\\\${x}'
    text: 'plain \ backslash'
"""
EXPECTED = {"tag": "1e3", "mode": "0o17", "flag": "yes", "code": "017",
            "tags": ["1e3", "0x1F", ".5"], "note": "a${x}", "slash": "\\${x}",
            "text": "plain \\ backslash"}


def with_data_args(text: str) -> str:
    target = "  target: tests.recipe.userconf.make_loader\n"
    if target not in text:
        target = "  target: tests.study.tinytask.make_loader\n"
    assert target in text
    return text.replace(target, target + TRICKY, 1)


def test_the_written_recipe_reads_back_the_same_values():
    loaded = load_recipe_text(with_data_args(BASE))
    assert loaded.recipe.data.args == EXPECTED
    again = load_recipe_text(recipe_yaml(loaded.recipe))
    assert again.recipe.data.args == EXPECTED
    assert again.trial_id == loaded.trial_id


@pytest.mark.slow
def test_a_study_and_its_trial_folders_load_back_as_the_same_recipe(tmp_path):
    from tests.files import study_trials
    from tests.study.tinytask import RECIPE

    path = tmp_path / "study.yaml"
    path.write_text(with_data_args(RECIPE.format(out=tmp_path / "runs"))
                    .replace("    model.args.hidden: {choice: [2, 4]}\n",
                             "    model.args.hidden: {choice: [4, 2]}\n")
                    .replace("  seeds: [0, 1]\n", "  seeds: [0]\n  concurrency: 1\n"))
    original = load_recipe(path, ["train.epochs=1"])
    result = runner.invoke(app, ["run", str(path), "train.epochs=1"])
    assert result.exit_code == 0, result.output
    study = tmp_path / "runs" / "tiny-study"
    trial_ids = {t["trial_id"] for t in study_trials(study)}
    assert len(trial_ids) == 2

    written = load_recipe(study / "study.yaml")  # the recipe the study started from
    assert written.recipe.data.args == EXPECTED
    assert written.study_id == original.study_id
    assert {written.variant({"model.args.hidden": h, "seed": 0}).trial_id
            for h in (4, 2)} == trial_ids

    for trial_id in trial_ids:  # each trial's recipe.yaml, as show and eval read it
        shown = runner.invoke(app, ["show", str(study / trial_id), "--format", "yaml"])
        assert shown.exit_code == 0, shown.output
        again = load_recipe_text(shown.output)
        assert again.recipe.data.args == EXPECTED and again.trial_id == trial_id
    evaluated = runner.invoke(app, ["eval", str(study)])
    assert evaluated.exit_code == 0, evaluated.output


def test_the_writer_on_the_c_emitter_writes_what_the_python_one_does_and_reads_back():
    """dump_yaml runs on PyYAML's C emitter (4x faster): the text is the pure-Python
    emitter's, byte for byte, and reads back the same by the strict rules and YAML 1.1."""
    import yaml

    from model_trainer.yaml_rules import QuotingDumper, dump_yaml, load_yaml

    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML without libyaml: the writer runs on the Python emitter")
    assert issubclass(QuotingDumper, yaml.CSafeDumper)  # else it compares the emitter with itself

    class PythonDumper(yaml.SafeDumper):
        pass

    PythonDumper.yaml_implicit_resolvers = QuotingDumper.yaml_implicit_resolvers
    data = {**EXPECTED, "on": "on", "date": "2024-01-01", "empty": "", "colon": "x: y",
            "unicode": "héllo ✓", "lines": "a\nb", "dash": "-", "lead": " x", "null": "null",
            "small": 1e-7, "inf": float("inf"), "mixed": [1, "2", None, True, 0.5],
            "env": "${oc.env:X}", "hash": "#c", "quotes": "'q' \"q\"", "long": "word " * 40,
            "nested": {"deep": [{"x": 1}, []], "empty": {}}, "tilde": "~", "under": "1_000"}
    for flow in (False, True):
        text = dump_yaml(data, flow=flow)
        python = yaml.dump(data, Dumper=PythonDumper, sort_keys=False, allow_unicode=True,
                           default_flow_style=flow, width=2**31 - 1 if flow else None)
        assert text == (python.removesuffix("\n").removesuffix("\n...") if flow else python)
        assert load_yaml(text) == data and yaml.safe_load(text) == data
