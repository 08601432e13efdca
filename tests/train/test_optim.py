"""Optimizers and schedulers from the recipe."""

from __future__ import annotations

import pytest
import torch

from model_trainer.train.optim import as_scheduler, build_optimizer, build_scheduler
from tests.files import rows
from tests.train.tiny import TinyWrapper, load


def params():
    return [torch.nn.Parameter(torch.zeros(2))]


@pytest.mark.parametrize("name,cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam),
                                      ("adamw", torch.optim.AdamW),
                                      ("torch.optim.RMSprop", torch.optim.RMSprop)])
def test_optimizer_names_and_dotted_paths(tmp_path, name, cls):
    recipe = load(tmp_path, f"train.optimizer.name={name}", "train.optimizer.lr=0.5").recipe
    optimizer = build_optimizer(recipe, params())
    assert type(optimizer) is cls and optimizer.param_groups[0]["lr"] == 0.5


def test_optimizer_args_are_extra_keyword_arguments(tmp_path):
    recipe = load(tmp_path, "train.optimizer.name=sgd", "train.optimizer.momentum=0.9",
                  "train.optimizer.args={nesterov: true}").recipe
    group = build_optimizer(recipe, params()).param_groups[0]
    assert group["momentum"] == 0.9 and group["nesterov"] is True


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_scheduler_defaults_and_intervals(tmp_path):
    def make(*overrides):
        recipe = load(tmp_path, "train.epochs=4", *overrides).recipe
        return build_scheduler(recipe, torch.optim.SGD(params(), lr=1.0), steps_per_epoch=10)

    assert make() is None
    cosine = make("train.scheduler.name=cosine")
    assert cosine.interval == "step" and cosine.scheduler.T_max == 40
    assert make("train.scheduler.name=cosine", "train.scheduler.interval=epoch").scheduler.T_max == 4
    onecycle = make("train.scheduler.name=onecycle")
    assert onecycle.interval == "step" and onecycle.scheduler.total_steps == 40
    plateau = make("train.scheduler.name=plateau")
    assert plateau.on_metric and plateau.interval == "epoch"
    dotted = make("train.scheduler.name=torch.optim.lr_scheduler.ExponentialLR",
                  "train.scheduler.args={gamma: 0.5}")
    assert dotted.interval == "epoch"
    dotted.after_step()
    dotted.after_epoch(None)
    assert dotted.scheduler.get_last_lr() == [0.5]


def test_a_raw_torch_scheduler_is_wrapped():
    optimizer = torch.optim.SGD(params(), lr=1.0)
    assert as_scheduler(torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer), None).on_metric
    assert as_scheduler(torch.optim.lr_scheduler.StepLR(optimizer, 1), "step").interval == "step"


@pytest.mark.parametrize(("name", "length"), [("cosine", "T_max: 6"),
                                            ("onecycle", "total_steps: 12"),
                                            ("step", "step_size: 2")])
def test_a_schedule_sized_from_epochs_makes_them_part_of_the_identity(tmp_path, name, length):
    """A 2-epoch and a 4-epoch cosine schedule differ from the first step: another trial."""
    from model_trainer.trial.experiment import run_experiment

    short = load(tmp_path, f"train.scheduler.name={name}", "train.epochs=2")
    longer = load(tmp_path, f"train.scheduler.name={name}", "train.epochs=4")
    assert short.trial_id != longer.trial_id
    fixed = [f"train.scheduler.name={name}", f"train.scheduler.args={{{length}}}"]
    assert load(tmp_path, *fixed, "train.epochs=2").trial_id == \
        load(tmp_path, *fixed, "train.epochs=4").trial_id
    none = load(tmp_path, "train.epochs=2").trial_id
    assert none == load(tmp_path, "train.epochs=4").trial_id  # no schedule: extends in place
    result = run_experiment(short, threads=1)
    assert result.trial_id == short.trial_id


@pytest.mark.parametrize(("name", "length"), [("cosine", "T_max: 4"),
                                            ("onecycle", "total_steps: 8")])
def test_extending_past_a_fixed_schedule_keeps_its_final_lr(tmp_path, name, length):
    """A schedule of fixed length (4 steps) in a run extended to 4 epochs of 2 steps:
    past its end cosine must not climb again and onecycle must not raise."""
    from model_trainer.trial.experiment import run_experiment

    fixed = [f"train.scheduler.name={name}", f"train.scheduler.args={{{length}}}"]
    first = run_experiment(load(tmp_path, *fixed, "train.epochs=2"), threads=1)
    longer = run_experiment(load(tmp_path, *fixed, "train.epochs=4"), threads=1)
    assert longer.trial_id == first.trial_id and longer.epochs_done == 4
    train = [r for r in rows(longer, "train") if "lr" in r["metrics"]]
    lrs = [r["metrics"]["lr"] for r in train]
    end_of_first = [r["metrics"]["lr"] for r in train if r["epoch"] == 2]
    extension = [r["metrics"]["lr"] for r in train if r["epoch"] > 2]
    assert extension and max(extension) <= end_of_first[-1] + 1e-12
    assert min(lrs) >= 0


class WarmupWrapper(TinyWrapper):
    """A hook-made scheduler: a 4-step linear warmup (torch's LambdaLR)."""

    def make_scheduler(self, optimizer, steps_per_epoch):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 4))


def test_a_hook_made_scheduler_must_say_how_often_it_steps(tmp_path):
    from model_trainer.errors import ContractError
    from model_trainer.trial.experiment import run_experiment
    from tests.files import metrics

    wrapper = "wrapper=tests.train.test_optim.WarmupWrapper"
    with pytest.raises(ContractError, match=r"train.scheduler.interval: .*LambdaLR.*step.*epoch"):
        run_experiment(load(tmp_path / "a", wrapper, "train.epochs=1"), threads=1)
    result = run_experiment(load(tmp_path / "b", wrapper, "train.scheduler.interval=step",
                                 "train.log_every=1", "train.epochs=1"), threads=1)
    lrs = [m["lr"] for m in metrics(result, "train")]
    assert lrs[:4] == pytest.approx([0.01 * k / 4 for k in (2, 3, 4, 4)])  # per step
