"""`extends`: bases merge first (mappings key by key, lists and scalars replace), chains
and diamonds, cycles, and errors located in the file that wrote the value."""

from __future__ import annotations

import pytest

from model_trainer.errors import RecipeError
from model_trainer.recipe import load_recipe, load_recipe_text
from tests.recipe.samples import BASE


@pytest.fixture
def files(tmp_path):
    """Write {name: text} under tmp_path; return tmp_path."""

    def _files(**texts: str):
        for name, text in texts.items():
            path = tmp_path / f"{name}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return tmp_path

    return _files


def issues_of(path, *overrides) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, list(overrides))
    return [str(i) for i in info.value.issues]


def test_child_merges_mappings_and_replaces_lists_and_scalars(files):
    folder = files(base=BASE + "  metrics: [accuracy, mse]\n",
                   child="extends: base.yaml\nmodel:\n  args: {hidden: 16}\n"
                         "train:\n  metrics: [mse]\n  optimizer: {lr: 0.5}\n")
    r = load_recipe(folder / "child.yaml").recipe
    assert r.model.args.hidden == 16 and r.model.args.act == "relu"  # merged
    assert r.train.metrics == ["mse"]  # a list replaces, it is not appended to
    assert (r.train.optimizer.name, r.train.optimizer.lr) == ("adamw", 0.5)


def test_chain_of_bases_in_order_and_relative_to_the_file_that_names_them(files):
    folder = files(**{"deep/base": BASE, "deep/mid": "extends: base.yaml\nseed: 1\nname: mid\n",
                      "child": "extends: deep/mid.yaml\nseed: 2\n"})
    r = load_recipe(folder / "child.yaml").recipe
    assert (r.seed, r.name) == (2, "mid")


def test_a_list_of_bases_merges_left_to_right_then_the_file(files):
    folder = files(base=BASE, a="seed: 1\nname: a\n", b="seed: 2\n",
                   child="extends: [base.yaml, a.yaml, b.yaml]\n")
    r = load_recipe(folder / "child.yaml").recipe
    assert (r.seed, r.name) == (2, "a")


def test_a_base_reached_twice_is_merged_once_at_its_first_place(files):
    folder = files(base=BASE, a="extends: base.yaml\nseed: 1\n", b="extends: base.yaml\nname: b\n",
                   child="extends: [a.yaml, b.yaml]\n")
    loaded = load_recipe(folder / "child.yaml")
    assert (loaded.recipe.seed, loaded.recipe.name) == (1, "b")  # b did not bring base's seed back
    assert [p.rsplit("/", 1)[-1] for p in loaded.source.files] == \
        ["base.yaml", "a.yaml", "b.yaml", "child.yaml"]


def test_a_cycle_is_an_error_at_the_extends_line_that_closes_it(files):
    folder = files(a="seed: 1\nextends: b.yaml\n", b="extends: [c.yaml]\n", c="extends: a.yaml\n")
    found = issues_of(folder / "a.yaml")
    assert found == [f"{folder / 'c.yaml'}:1: extends: forms a cycle: a.yaml -> b.yaml -> "
                     "c.yaml -> a.yaml"]


def test_a_file_extending_itself_is_a_cycle(files):
    folder = files(a=BASE + "extends: a.yaml\n")
    assert "forms a cycle: a.yaml -> a.yaml" in issues_of(folder / "a.yaml")[0]


@pytest.mark.parametrize(("extends", "message"), [
    ("nope.yaml", "cannot read base recipe 'nope.yaml': recipe file not found"),
    ("5", "expected a path or a list of paths, got 5"),
    ("[base.yaml, 3]", "expected a path or a list of paths"),
])
def test_bad_extends_is_located(files, extends, message):
    folder = files(base=BASE, child=f"seed: 1\nextends: {extends}\n")
    found = issues_of(folder / "child.yaml")
    assert len(found) == 1 and found[0].startswith(f"{folder / 'child.yaml'}:2: extends: ")
    assert message in found[0]


def test_errors_name_the_file_and_line_that_wrote_the_value(files):
    folder = files(base=BASE.replace("batch_size: 4", "batch_size: four"),
                   child="extends: base.yaml\ntrain:\n  optimizer: {lr: fast}\n")
    found = issues_of(folder / "child.yaml")
    assert f"{folder / 'base.yaml'}:14: train.batch_size: expected int, got str 'four'" in found
    assert f"{folder / 'child.yaml'}:3: train.optimizer.lr: expected float, got str 'fast'" in found


def test_a_child_fixes_a_base_value_and_an_override_fixes_both(files):
    folder = files(base=BASE.replace("batch_size: 4", "batch_size: four"),
                   child="extends: base.yaml\ntrain: {batch_size: 8, epochs: x}\n")
    assert [i.split(": ")[1] for i in issues_of(folder / "child.yaml")] == ["train.epochs"]
    assert load_recipe(folder / "child.yaml", ["train.epochs=3"]).recipe.train.batch_size == 8


def test_syntax_errors_of_a_base_are_located_in_the_base(files):
    folder = files(base="seed: [1\n", child="extends: base.yaml\n")
    found = issues_of(folder / "child.yaml")
    assert found and all(line.startswith(f"{folder / 'base.yaml'}:") for line in found)


def test_a_duplicate_key_or_a_bad_tag_hides_no_other_error(files):
    """Problems in a file that could still be read are reported with every other one."""
    folder = files(base=BASE.replace("seed: 0\n", "seed: 0\nseed: 1\n")
                   .replace("batch_size: 4", "batch_size: fast"),
                   child="extends: base.yaml\ndevice: !!binary aGk=\ntrain: {epochs: x}\n")
    base, child = folder / "base.yaml", folder / "child.yaml"
    assert issues_of(child) == [
        f"{base}:3: seed: duplicate key (first at line 2)",
        f"{base}:15: train.batch_size: expected int, got str 'fast'",
        f"{child}:2: device: unsupported YAML tag !!binary (a recipe holds null, booleans, "
        "numbers, strings, lists and mappings)",
        f"{child}:3: train.epochs: expected int, got str 'x'",
    ]


def test_extends_is_not_an_attribute_and_not_in_the_identity(files):
    folder = files(base=BASE, child="extends: base.yaml\n")
    loaded = load_recipe(folder / "child.yaml")
    assert loaded.trial_id == load_recipe_text(BASE).trial_id
    assert "extends" not in {k.split(".")[0] for k in loaded.merged.origins}


def test_extends_cannot_be_an_override(files):
    folder = files(base=BASE)
    assert issues_of(folder / "base.yaml", "extends=other.yaml") == [
        "override 'extends=other.yaml': extends: extends is read from recipe files only; "
        "write it in the recipe"]


def test_a_search_space_entry_in_a_child_replaces_the_base_entry(files):
    study = "study:\n  sampler: random\n  trials: 2\n  space:\n    model.args.hidden: {int: [1, 4]}\n"
    folder = files(base=BASE + study, child="extends: base.yaml\nstudy:\n  space:\n"
                   "    model.args.hidden: {choice: [8, 16]}\n")
    space = load_recipe(folder / "child.yaml").recipe.study.space
    assert space == {"model.args.hidden": {"choice": [8, 16]}}


def test_a_mapping_may_replace_a_list_and_the_other_way_round(files):
    folder = files(base=BASE.replace("    act: relu\n", "    act: relu\n    table: [1]\n"),
                   child="extends: base.yaml\nmodel:\n  args:\n    table: {a: 1}\n")
    assert load_recipe(folder / "child.yaml").recipe.model.args.table == {"a": 1}


def test_status_sources_are_the_files_bases_first(files):
    folder = files(base=BASE, child="extends: base.yaml\n")
    assert load_recipe(folder / "child.yaml").source.files == \
        [str(folder / "base.yaml"), str(folder / "child.yaml")]


def test_an_extends_chain_is_bounded(files):
    chain = {f"r{i}": f"extends: r{i + 1}.yaml\n" for i in range(40)}
    folder = files(**chain, r40=BASE)
    found = issues_of(folder / "r0.yaml")
    assert len(found) == 1 and "more than 32 files in the extends chain" in found[0]
