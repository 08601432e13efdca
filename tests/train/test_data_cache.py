"""Datasets kept between the trials of one process: the factory runs once per data
section, seed and split; the trials train exactly as they would with fresh data."""

from __future__ import annotations

import pytest

from model_trainer.train import data_cache
from model_trainer.trial.experiment import run_experiment
from tests.files import rows
from tests.train import tiny
from tests.train.tiny import load

CALLS: list[str] = []


def counted_loader(config, flag):
    CALLS.append(flag)
    return tiny.make_loader(config, flag)


def custom_loader(config, flag):
    """A loader with an option of the factory's own (drop_last): never kept."""
    CALLS.append(flag)
    if flag == "test":
        return None
    x, y = tiny.tensors(96, seed=123 if flag == "train" else 456)
    return tiny.recipe_loader(tiny.DictDataset(x=x, labels=y), config, flag, drop_last=True)


@pytest.fixture(autouse=True)
def fresh_cache():
    data_cache._kept.clear()
    CALLS.clear()
    yield
    data_cache._kept.clear()


COUNTED = "data.target=tests.train.test_data_cache.counted_loader"


def test_a_second_trial_with_the_same_data_reuses_the_dataset_and_trains_alike(tmp_path):
    first = run_experiment(load(tmp_path / "a", COUNTED, "model.args.hidden=8"), threads=1)
    second = run_experiment(load(tmp_path / "a", COUNTED, "model.args.hidden=16"), threads=1)
    assert CALLS == ["train", "val", "test"]  # the second trial called the factory no more
    assert first.trial_id != second.trial_id
    data_cache._kept.clear()  # the same trial on fresh data: the same numbers
    alone = run_experiment(load(tmp_path / "b", COUNTED, "model.args.hidden=16"), threads=1)
    assert alone.final_metrics == second.final_metrics and alone.best == second.best


@pytest.mark.parametrize("change", ["seed=1", "data.args.n=64", "train.batch_size=8"])
def test_other_data_or_another_seed_calls_the_factory_again(tmp_path, change):
    run_experiment(load(tmp_path, COUNTED), threads=1)
    CALLS.clear()
    result = run_experiment(load(tmp_path, COUNTED, change), threads=1)
    if change == "train.batch_size=8":  # the same dataset, in batches of the new size
        assert CALLS == [] and result.state == "completed"
        assert rows(result.trial_dir, "train")[-1]["step"] == 3 * 96 // 8
    else:
        assert CALLS == ["train", "val", "test"]


def test_cache_off_and_custom_loaders_call_the_factory_every_time(tmp_path):
    run_experiment(load(tmp_path, COUNTED, "data.cache=false"), threads=1)
    run_experiment(load(tmp_path, COUNTED, "data.cache=false", "seed=3"), threads=1)
    run_experiment(load(tmp_path, COUNTED, "data.cache=false", "model.args.hidden=4"), threads=1)
    assert CALLS.count("train") == 3
    CALLS.clear()
    custom = "data.target=tests.train.test_data_cache.custom_loader"
    run_experiment(load(tmp_path, custom), threads=1)
    run_experiment(load(tmp_path, custom, "model.args.hidden=4"), threads=1)
    assert CALLS.count("train") == 2
