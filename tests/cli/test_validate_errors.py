"""Every kind of recipe mistake gives one located line, exit code 2 and no traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from model_trainer.cli.app import app
from tests.recipe.samples import BASE

runner = CliRunner()


def sub(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def add(text: str) -> str:
    return BASE + text  # appended lines start at line 16


STUDY = "study:\n  space:\n"  # lines 16-17; the first space entry is line 18
ADAPTIVE = "study:\n  space:\n    model.args.hidden: {{choice: [8, 16]}}\n  seeds: {}\n"  # 19

# (id, recipe text, dotted key, line, fragment of the message)
CASES = [
    ("args-not-a-mapping", sub("  args:\n    hidden: 8\n    act: relu\n", "  args: false\n"),
     "model.args", 7,
     "expected a mapping (TinyConfig), got bool False"),
    ("float-into-int", sub("batch_size: 4", "batch_size: 4.5"), "train.batch_size", 14,
     "expected int, got float 4.5"),
    ("quoted-int", sub("batch_size: 4", "batch_size: '4'"), "train.batch_size", 14,
     "expected int, got str '4'"),
    ("yes-into-bool", add("  deterministic: yes\n"), "train.deterministic", 16,
     "expected bool, got str 'yes'"),
    ("str-into-float", sub("lr: 1.0e-3", "lr: fast"), "train.optimizer.lr", 15,
     "expected float, got str 'fast'"),
    ("unknown-top-key", add("sed: 1\n"), "sed", 16, "did you mean 'seed'"),
    ("unknown-nested-key", sub("epochs: 2", "epoch: 2"), "train.epoch", 13,
     "did you mean 'epochs'"),
    ("bad-literal", add("  precision: fp64\n"), "train.precision", 16,
     "expected one of 'fp32', 'bf16', 'fp16'"),
    ("yaml-syntax", sub("  batch_size: 4\n", "  batch_size: [4\n"), "", 15, "invalid YAML"),
    ("duplicate-key", sub("device: auto\n", "device: auto\nseed: 1\n"), "seed", 4,
     "duplicate key (first at line 2)"),
    ("missing-required", sub("  target: tests.recipe.userconf.make_loader\n", "  args: {}\n"),
     "data.target", 10, "missing required key"),
    ("derived-set", sub("    act: relu\n", "    act: relu\n    num_classes: 10\n"),
     "model.args.num_classes", 10, "is Derived"),
    ("unknown-model-arg", sub("    hidden: 8", "    hiden: 8"), "model.args.hiden", 8,
     "did you mean 'hidden'"),
    ("module-missing", sub("userconf.TinyModel", "nosuch.TinyModel"), "model.target", 5,
     "no module named 'tests.recipe.nosuch'"),
    ("attribute-missing", sub("userconf.TinyModel", "userconf.TinyModl"), "model.target", 5,
     "has no attribute 'TinyModl' (did you mean 'TinyModel'?)"),
    ("config-not-dataclass", sub("userconf.TinyConfig", "userconf.make_loader"), "model.config",
     6, "is not a dataclass"),
    ("data-not-callable", sub("userconf.make_loader", "userconf.CONSTANT"), "data.target", 11,
     "is not callable"),
    ("wrapper-wrong-kind", add("wrapper: tests.recipe.userconf.TinyModel\n"), "wrapper", 16,
     "not a subclass of model_trainer.ModelWrapper"),
    ("unknown-optimizer", sub("name: adamw", "name: adamx"), "train.optimizer.name", 15,
     "did you mean 'adam"),
    ("unknown-metric", add("  metrics: [accurcy]\n"), "train.metrics.0", 16,
     "did you mean 'accuracy'"),
    ("negative-lr", sub("lr: 1.0e-3", "lr: -0.1"), "train.optimizer.lr", 15,
     "must be a finite number > 0"),
    ("zero-batch", sub("batch_size: 4", "batch_size: 0"), "train.batch_size", 14,
     "must be >= 1"),
    ("fp16-on-cpu", sub("device: auto", "device: cpu") + "  precision: fp16\n",
     "train.precision", 16, "fp16 needs CUDA"),
    ("bad-device", sub("device: auto", "device: gpu"), "device", 3, "expected auto, cpu"),
    ("unsafe-name", sub("name: tiny", "name: ../../etc"), "name", 1, "not a safe folder name"),
    ("nested-literal", sub("act: relu", "act: tanh"), "model.args.act", 9,
     "expected one of 'relu', 'gelu'"),
    ("enum-value", add("").replace("    act: relu\n", "    act: relu\n    color: purple\n"),
     "model.args.color", 10, "expected one of 'red', 'blue'"),
    ("list-item-type", sub("    act: relu\n", "    act: relu\n    layers: [4, x]\n"),
     "model.args.layers.1", 10, "expected int, got str 'x'"),
    ("unknown-scheduler", add("  scheduler: {name: cosin}\n"), "train.scheduler.name", 16,
     "did you mean 'cosine'"),
    ("monitor-format", add("  monitor: {metric: accuracy}\n"), "train.monitor.metric", 16,
     "expected <split>_<metric>"),
    ("patience-zero", add("  early_stopping: {patience: 0}\n"), "train.early_stopping.patience",
     16, "must be >= 1"),
    ("momentum-not-sgd", sub("lr: 1.0e-3}", "lr: 1.0e-3, momentum: 0.9}"),
     "train.optimizer.momentum", 15, "applies to sgd only"),
    ("space-stateless-key", add(STUDY + "    train.epochs: {choice: [1, 2]}\n"),
     "study.space.train.epochs", 18, "is stateless"),
    ("space-unknown-key", add(STUDY + "    model.args.hiddn: {choice: [1, 2]}\n"),
     "study.space.model.args.hiddn", 18, "did you mean 'hidden'"),
    ("space-grid-continuous", add(STUDY + "    train.optimizer.lr: {uniform: [0.1, 0.2]}\n"),
     "study.space.train.optimizer.lr", 18, "grid sampler needs discrete values"),
    ("space-choice-type", add(STUDY + "    model.args.hidden: {choice: [8, big]}\n"),
     "study.space.model.args.hidden.choice.1", 18, "expected int, got str 'big'"),
    ("space-seed", add(STUDY + "    seed: {choice: [1, 2]}\n"), "study.space.seed", 18,
     "vary seeds with study.seeds"),
    ("space-spec-kind", add(STUDY + "    model.args.hidden: {choise: [1, 2]}\n"),
     "study.space.model.args.hidden", 18, "did you mean 'choice'"),
    ("space-loguniform-low", add("study:\n  sampler: random\n  trials: 2\n  space:\n"
                                 "    train.optimizer.lr: {loguniform: [0, 1]}\n"),
     "study.space.train.optimizer.lr", 20, "loguniform needs low > 0"),
    ("space-int-for-float", add("study:\n  sampler: random\n  trials: 2\n  space:\n"
                                "    model.args.hidden: {uniform: [1, 9]}\n"),
     "study.space.model.args.hidden", 20, "is an int"),
    ("study-concurrency", add("study:\n  concurrency: 0\n"), "study.concurrency", 17,
     "must be >= 1"),
    ("slurm-and-ray-address", add("study:\n  executor: slurm\n  address: h:6379\n"),
     "study.address", 18, "names a Ray cluster, but study.executor is slurm"),
    ("slurm-cpus", add("study:\n  executor: slurm\n  slurm: {cpus_per_trial: 0}\n"),
     "study.slurm.cpus_per_trial", 18, "must be >= 1"),
    ("slurm-fractional-gpus", add("study:\n  executor: slurm\n  resources: {cpus: 1, gpus: 0.5}\n"),
     "study.resources.gpus", 18, "SLURM gives whole gpus: 0.5 is not one"),
    ("slurm-fractional-cpus", add("study:\n  executor: slurm\n  resources: {cpus: 1.5}\n"),
     "study.resources.cpus", 18, "SLURM gives whole cpus: 1.5 is not one"),
    ("slurm-nan-gpus", add("study:\n  executor: slurm\n  resources: {gpus: .nan}\n"),
     "study.resources.gpus", 18, "must be a finite number >= 0, got nan"),
    ("slurm-infinite-cpus", add("study:\n  executor: slurm\n  resources: {cpus: .inf}\n"),
     "study.resources.cpus", 18, "must be a finite number > 0, got inf"),
    ("slurm-infinite-poll", add("study:\n  executor: slurm\n  slurm: {poll_s: .inf}\n"),
     "study.slurm.poll_s", 18, "must be a finite number > 0, got inf"),
    ("slurm-gpus", add("study:\n  executor: slurm\n  slurm: {gpus_per_trial: -1}\n"),
     "study.slurm.gpus_per_trial", 18, "must be >= 0"),
    ("max-steps-zero", add("  max_steps: 0\n"), "train.max_steps", 16, "must be >= 1"),
    ("ema-decay", add("  ema: {decay: 1.5}\n"), "train.ema.decay", 16, "must be between 0 and 1"),
    ("swa-start", add("  swa: {start_epoch: 0}\n"), "train.swa.start_epoch", 16, "must be >= 1"),
    ("study-random-no-trials", add("study:\n  sampler: random\n"), "study.trials", 16,
     "is required by sampler 'random'"),
    ("study-unknown-key", add("study:\n  sampel: grid\n"), "study.sampel", 17,
     "did you mean 'sampler'"),
    ("seeds-neither-list-nor-mapping", add("study:\n  seeds: 3\n"), "study.seeds", 17,
     "expected a list of int or a mapping (AdaptiveSeedsConfig), got int 3"),
    ("adaptive-decide-missing", add(ADAPTIVE.format("{min: 3, max: 6}")), "study.seeds.decide",
     19, "missing required key (expected float)"),
    ("adaptive-unknown-key", add(ADAPTIVE.format("{min: 3, max: 6, decid: 0.1}")),
     "study.seeds.decid", 19, "did you mean 'decide'"),
    ("adaptive-min-below-2", add(ADAPTIVE.format("{min: 1, max: 6, decide: 0.1}")),
     "study.seeds.min", 19, "must be >= 2"),
    ("adaptive-max-below-min", add(ADAPTIVE.format("{min: 4, max: 3, decide: 0.1}")),
     "study.seeds.max", 19, "must be >= study.seeds.min (4), got 3"),
    ("adaptive-decide-negative", add(ADAPTIVE.format("{min: 3, max: 6, decide: -0.1}")),
     "study.seeds.decide", 19, "must be a finite number >= 0 (in the units of val_loss)"),
    ("adaptive-alpha", add(ADAPTIVE.format("{min: 3, max: 6, decide: 0.1, alpha: 1.5}")),
     "study.seeds.alpha", 19, "must be between 0 and 1"),
    ("adaptive-random-sampler", add(ADAPTIVE.format("{min: 3, max: 6, decide: 0.1}")
                                    + "  sampler: random\n  trials: 2\n"),
     "study.seeds", 19, "adaptive seeds need sampler grid, not random"),
    ("adaptive-no-baseline", add(ADAPTIVE.format("{min: 3, max: 6, decide: 0.1}").replace(
        "[8, 16]", "[16, 32]")), "study.space.model.args.hidden", 18,
     "the recipe has model.args.hidden=8, which is not among these values"),
    ("adaptive-only-the-baseline", add(ADAPTIVE.format("{min: 3, max: 6, decide: 0.1}").replace(
        "[8, 16]", "[8]")), "study.space", 17, "the grid holds only the baseline"),
    ("pruner-unknown-kind", add("study:\n  pruner: medain\n"), "study.pruner", 17,
     "did you mean 'median'"),
    ("pruner-unknown-kind-in-mapping", add("study:\n  pruner: {kind: hyperbnd}\n"),
     "study.pruner.kind", 17, "did you mean 'hyperband'"),
    ("pruner-unknown-parameter", add("study:\n  pruner: {kind: median, warmup: 2}\n"),
     "study.pruner.warmup", 17, "did you mean 'warmup_epochs'"),
    ("pruner-parameter-of-another-kind",
     add("study:\n  pruner: {kind: median, reduction_factor: 3}\n"),
     "study.pruner.reduction_factor", 17,
     "applies to pruner kind successive_halving and hyperband only (kind is 'median')"),
    ("pruner-reduction-factor-1", add("study:\n  pruner: {kind: hyperband, reduction_factor: 1}\n"),
     "study.pruner.reduction_factor", 17, "must be >= 2"),
    ("pruner-min-epochs-0",
     add("study:\n  pruner: {kind: successive_halving, min_epochs: 0}\n"),
     "study.pruner.min_epochs", 17, "must be >= 1"),
]


@pytest.mark.parametrize(("text", "key", "line", "fragment"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_recipe_is_one_located_line(write, text, key, line, fragment):
    path = write(text)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    location = f"{path}:{line}: {key}: " if key else f"{path}:{line}: "
    matching = [ln for ln in result.output.splitlines() if location in ln]
    assert len(matching) == 1, f"expected one line at {location!r}:\n{result.output}"
    assert fragment in matching[0]


def test_all_errors_are_reported_at_once(write):
    text = sub("lr: 1.0e-3", "lr: fast").replace("batch_size: 4", "batch_size: 0")
    text = text.replace("userconf.make_loader", "userconf.nothing") + "  precision: fp64\n"
    result = runner.invoke(app, ["validate", str(write(text))])
    assert result.exit_code == 2
    for key in ("train.optimizer.lr", "train.batch_size", "data.target", "train.precision"):
        assert f": {key}: " in result.output
    assert "4 errors in the recipe" in result.output


def test_recipe_that_is_not_a_mapping(write):
    result = runner.invoke(app, ["validate", str(write("- a\n- b\n"))])
    assert result.exit_code == 2
    assert "must be a YAML mapping" in result.output


def test_missing_file_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "recipe file not found" in result.output
    assert "Traceback" not in result.output


def test_full_error_env_shows_the_traceback(write, monkeypatch):
    monkeypatch.setenv("MTRAIN_FULL_ERROR", "1")
    result = runner.invoke(app, ["validate", str(write(sub("lr: 1.0e-3", "lr: fast")))])
    assert result.exit_code == 2
    assert "Traceback" in result.output


def test_a_metric_that_cannot_be_made_is_exit_2_at_validate_and_at_run(tmp_path):
    from tests.train.tiny import RECIPE

    metric = "torchmetrics.classification.MulticlassF1Score"  # needs num_classes
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE.replace("metrics: [accuracy]", f"metrics: [accuracy, {metric}]")
                    + f"output_dir: {tmp_path / 'runs'}\n")
    for command in ("validate", "run"):
        result = runner.invoke(app, [command, str(path)])
        assert result.exit_code == 2, result.output
        assert f"train.metrics: '{metric}' cannot be made" in result.output
        assert "num_classes" in result.output and "Traceback" not in result.output
