"""A recipe is untrusted input: alias bombs, deep nesting, huge files, numbers torch or
numpy would refuse or wrap, and output folders that cannot be written are all located
exit-2 errors at validate time, before `run` writes anything."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from model_trainer.recipe.yaml_source import MAX_BYTES

runner = CliRunner()


def validate(path, *overrides):
    result = runner.invoke(app, ["validate", str(path), *overrides])
    assert "Traceback" not in result.output and result.exception in (None,) or \
        isinstance(result.exception, SystemExit), result.output
    return result


def alias_bomb() -> str:
    """The classic 'billion laughs': 9 aliases per level, 9 levels, about 340 bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(30)  # unbounded, this took minutes and 3.7 GB
def test_alias_bomb_is_a_located_error(write):
    text = alias_bomb()
    assert len(text) < 400
    result = validate(write(text))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error ")]
    assert len(errors) == 1 and "recipe.yaml:" in errors[0]
    assert "holds more than the limit of 10000 values (YAML aliases expanded" in errors[0]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_a_located_error(write, style):
    if style == "flow":
        text = "seed: " + "[" * 5000 + "]" * 5000 + "\n"
    else:  # deeper than Python's recursion limit allows PyYAML to compose
        text = "".join(" " * i + "a:\n" for i in range(500)) + " " * 500 + "b: 1\n"
    result = validate(write(text))
    assert result.exit_code == 2, result.output
    assert "nests deeper than the limit of 64 levels" in result.output
    line = 1 if style == "flow" else 64
    assert f"recipe.yaml:{line}: " in result.output


@pytest.mark.timeout(30)
def test_a_huge_recipe_is_refused_without_parsing_it(write):
    path = write("train:\n  metrics: [" + ",".join(["accuracy"] * 5_000_000) + "]\n")
    assert path.stat().st_size > 40_000_000
    result = validate(path)
    assert result.exit_code == 2, result.output
    assert f"a recipe may be at most {MAX_BYTES // 1024} KiB" in result.output


@pytest.mark.timeout(30)
def test_a_device_is_refused_without_reading_it():
    result = validate("/dev/zero")
    assert result.exit_code == 2
    assert "recipe /dev/zero is a device, not a file" in result.output


@pytest.mark.timeout(30)
def test_a_named_pipe_is_refused_at_once(tmp_path):
    """(It was opened and read: a pipe nobody writes to blocked `validate` forever.)"""
    pipe = tmp_path / "recipe.yaml"
    os.mkfifo(pipe)
    result = validate(pipe)
    assert result.exit_code == 2
    assert f"recipe {pipe} is a named pipe, not a file" in result.output


@pytest.mark.timeout(30)
def test_a_named_pipe_as_a_base_is_refused_at_its_line(tmp_path, base):
    os.mkfifo(tmp_path / "base.yaml")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\n")
    result = validate(tmp_path / "child.yaml")
    assert result.exit_code == 2
    assert "child.yaml:1: extends: cannot read base recipe 'base.yaml'" in result.output
    assert "is a named pipe, not a file" in result.output


def test_override_values_are_bounded_too(write, base):
    result = validate(write(base), "model.args.layers=" + "[" * 100 + "]" * 100)
    assert result.exit_code == 2
    assert "override 'model.args.layers=[[[" in result.output and "nests deeper" in result.output


@pytest.mark.parametrize(("override", "key", "fragment"), [
    ("seed=4294967296", "seed", "must be in [0, 4294967295] (numpy's seed range), got 4294967296"),
    ("seed=-1", "seed", "must be in [0, 4294967295]"),
    ("study={seeds: [0, 4294967296]}", "study.seeds.1", "must be in [0, 4294967295]"),
    ("train.batch_size=9223372036854775808", "train.batch_size",
     "expected a 64-bit integer (what torch and numpy take), got 9223372036854775808"),
    ("model.args.hidden=-9223372036854775809", "model.args.hidden", "expected a 64-bit integer"),
    ("train.optimizer.weight_decay=inf", "train.optimizer.weight_decay",
     "must be a finite number >= 0, got inf"),
    ("train.grad_clip=nan", "train.grad_clip", "must be a finite number > 0, or null"),
    ("train.early_stopping.min_delta=nan", "train.early_stopping.min_delta",
     "must be a finite number"),
    ("data.num_workers=-1", "data.num_workers", "must be >= 0"),
    ("study={sampler: random, trials: 2, space: {train.optimizer.lr: {uniform: [0, inf]}}}",
     "study.space.train.optimizer.lr", "uniform needs finite bounds"),
    ("study={space: {model.args.hidden: {int: [1, 10000000000]}}}", "study.space",
     "the grid has 10,000,000,000 points"),
])
def test_numbers_torch_or_numpy_would_refuse_are_caught_at_validate(write, base, override, key,
                                                                     fragment):
    result = validate(write(base), override)
    assert result.exit_code == 2, result.output
    assert f"override '{override}': {key}: " in result.output
    assert fragment in result.output


def test_the_largest_seed_numpy_takes_is_valid(write, base):
    assert validate(write(base), "seed=4294967295").exit_code == 0


@pytest.fixture
def run_in(tmp_path, base):
    """`mtrain validate` and `mtrain run` of the base recipe with a given output_dir."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(base)

    def _run(command, output_dir):
        return runner.invoke(app, [command, str(recipe), f"output_dir={output_dir}"])

    return _run


@pytest.mark.parametrize("command", ["validate", "run"])
def test_output_dir_that_is_a_file_is_exit_2_and_nothing_is_written(tmp_path, run_in, command):
    (tmp_path / "runs").write_text("a file")
    before = sorted(tmp_path.rglob("*"))
    result = run_in(command, tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert f"output_dir: runs cannot be written here: '{tmp_path / 'runs'}' is a file" \
        in result.output
    assert sorted(tmp_path.rglob("*")) == before


def test_output_dir_in_a_symlink_loop_is_exit_2(tmp_path, run_in):
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    result = run_in("validate", tmp_path / "loop" / "runs")
    assert result.exit_code == 2, result.output
    assert f"'{tmp_path / 'loop'}' is a symlink loop" in result.output


@pytest.mark.parametrize("place", ["/proc/self/runs", "/sys/runs"])
def test_output_dir_under_a_kernel_file_system_is_exit_2(run_in, place):
    result = run_in("validate", place)
    assert result.exit_code == 2, result.output
    assert f"is under /{place.split('/')[1]}, a virtual file system" in result.output


def test_output_dir_on_a_read_only_file_system_is_exit_2(tmpfs, run_in):
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    result = run_in("validate", tmpfs / "runs")
    assert result.exit_code == 2, result.output
    assert f"'{tmpfs}' is on a read-only file system" in result.output
