"""Batch conventions: device copies, calling the model, targets, sizes."""

from __future__ import annotations

import pytest
import torch

from model_trainer.errors import BatchError
from model_trainer.train.data import (
    batch_size,
    batch_targets,
    call_model,
    check_batch_keys,
    to_device,
)


class Model(torch.nn.Module):
    def forward(self, x, labels=None):
        return x * 2, None if labels is None else labels.sum()


def test_dict_tuple_and_tensor_batches():
    x, y = torch.ones(3, 2), torch.tensor([0, 1, 1])
    assert batch_targets({"x": x, "labels": y}) is y and batch_targets((x, y)) is y
    assert batch_targets(x) is None
    assert batch_size({"x": x}) == 3 and batch_size((x, y)) == 3 and batch_size(x) == 3
    out, loss = call_model(Model(), {"x": x, "labels": y})
    assert torch.equal(out, x * 2) and loss == 2
    out, loss = call_model(Model(), (x, y))  # positionally: forward(x, y)
    assert loss == 2
    moved = to_device({"x": x, "meta": "keep", "pair": (x, y)}, torch.device("cpu"))
    assert moved["meta"] == "keep" and isinstance(moved["pair"], tuple)


def test_key_check_names_both_sets():
    check_batch_keys(Model(), {"x": 1, "labels": 2})
    check_batch_keys(Model(), {"x": 1})  # labels has a default
    with pytest.raises(BatchError, match=r"\(inputs\).*\(x, labels\).*'x'"):
        check_batch_keys(Model(), {"inputs": 1})


def empty_val_loader(config, flag):
    from tests.train.tiny import DictDataset, make_loader, recipe_loader, tensors

    if flag != "val":
        return make_loader(config, flag)
    x, y = tensors(0)
    return recipe_loader(DictDataset(x=x, labels=y), config, flag)


def test_a_split_without_rows_is_exit_2_naming_it_not_a_completed_run(tmp_path):
    from model_trainer.errors import ContractError
    from model_trainer.trial.experiment import run_experiment
    from tests.train.tiny import load

    with pytest.raises(ContractError, match=r"the val loader .* no batches"):
        run_experiment(load(tmp_path, "data.target=tests.train.test_data.empty_val_loader"),
                       threads=1)


def test_a_study_trial_without_val_rows_fails_with_that_message(tmp_path):
    from typer.testing import CliRunner

    from model_trainer.cli.app import app
    from tests.files import study_trials
    from tests.study.tinytask import RECIPE

    path = tmp_path / "study.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs").replace(
        "tests.study.tinytask.make_loader", "tests.train.test_data.empty_val_tiny"))
    result = CliRunner().invoke(app, ["run", str(path), "study.seeds=[0]"])
    assert result.exit_code == 1, result.output  # every trial failed
    trials = study_trials(tmp_path / "runs" / "tiny-study")
    assert {t["state"] for t in trials} == {"failed"}
    assert all("the val loader" in t["error"] for t in trials)


def empty_val_tiny(config, flag):
    from torch.utils.data import DataLoader

    from tests.study.tinytask import make_loader

    return DataLoader([], batch_size=4) if flag == "val" else make_loader(config, flag)
