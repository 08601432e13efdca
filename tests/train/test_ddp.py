"""Data parallelism inside one trial (gloo, 2 CPU processes): same results as one process,
synced custom updates, bounded failure, interchangeable checkpoints, clear errors."""

from __future__ import annotations

import socket

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from model_trainer.errors import BatchError, DistributedError, RecipeError, TrainingError
from model_trainer.recipe import load_recipe
from model_trainer.train.shard import ShardSampler, shard_loader
from model_trainer.trial import launch
from model_trainer.trial.experiment import _error, run_experiment
from model_trainer.trial.launch import RankOutcome
from model_trainer.trial.status_record import ErrorRecord
from tests.files import metrics, rows, status
from tests.train.tiny import load

EXACT = ("model.args.dropout=0.0", "train.optimizer={name: sgd, lr: 0.1}")  # no momentum
DDP = ("train.strategy=ddp", "train.devices=2")


def run(loaded, **kwargs):
    return run_experiment(loaded, threads=2, **kwargs)


# ---- sharding (no processes) ------------------------------------------------------------


def test_train_shards_cover_each_global_batch_and_eval_shards_count_each_sample_once():
    data = TensorDataset(torch.arange(20))
    gen = torch.Generator().manual_seed(3)
    single = [b[0].tolist() for b in DataLoader(data, batch_size=4, shuffle=True, generator=gen)]
    shards = []
    for rank in range(2):
        gen = torch.Generator().manual_seed(3)
        loader = DataLoader(data, batch_size=4, shuffle=True, generator=gen)
        shards.append([b[0].tolist() for b in shard_loader(loader, "train", rank, 2)])
    assert [sorted(a + b) for a, b in zip(*shards, strict=True)] == [sorted(b) for b in single]
    evals = [list(ShardSampler(range(7), rank, 2, pad=False)) for rank in range(2)]
    assert sorted(evals[0] + evals[1]) == list(range(7))  # 7 samples, 2 ranks: none twice
    assert [len(ShardSampler(range(7), r, 2, pad=True)) for r in range(2)] == [4, 4]


def test_ddp_recipe_errors_and_device_limits(tmp_path, monkeypatch):
    with pytest.raises(RecipeError, match="not divisible by train.devices=3"):
        load(tmp_path, *DDP[:1], "train.devices=3")  # batch_size 16
    with pytest.raises(RecipeError, match="use cuda"):
        load(tmp_path, *DDP, "device=cuda:1")
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    with pytest.raises(DistributedError, match="train.devices=4 but this machine has 2"):
        launch.check_devices(4, "cpu")
    with pytest.raises(DistributedError) as info:
        run(load(tmp_path, *DDP[:1], "train.devices=4"))
    assert info.value.exit_code == 2


def test_busy_master_port_is_a_clear_error(monkeypatch):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("MASTER_PORT", str(busy.getsockname()[1]))
        with pytest.raises(DistributedError, match="is in use"):
            launch.master_port()
    monkeypatch.delenv("MASTER_PORT")
    assert launch.master_port() > 0


# ---- training across processes ------------------------------------------------------------


@pytest.mark.slow
def test_ddp_equals_single_process_on_the_same_global_batch(tmp_path):
    """Every metric too: built-ins summed over ranks, a torchmetrics Metric synced by
    torchmetrics, train_accuracy over the epoch's global batches."""
    measured = ("train.metrics=[accuracy, top2_accuracy, tests.train.test_metrics.macro_f1]",)
    single = run(load(tmp_path / "single", *EXACT, *measured))
    ddp = run(load(tmp_path / "ddp", *EXACT, *DDP, *measured))
    assert {"val_macro_f1", "val_top2_accuracy"} <= set(single.final_metrics)
    epoch_rows = [[r["metrics"] for r in rows(result, "train") if "accuracy" in r["metrics"]]
                  for result in (single, ddp)]
    assert len(epoch_rows[0]) == 3
    for a, b in zip(*epoch_rows, strict=True):
        assert b == pytest.approx(a, rel=1e-5)
    assert ddp.trial_id == single.trial_id  # strategy and devices are stateless
    assert ddp.state == "completed" and ddp.epochs_done == 3
    assert ddp.final_metrics.keys() == single.final_metrics.keys()
    for key, value in single.final_metrics.items():
        assert ddp.final_metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    for a, b in zip(metrics(single, "val"), metrics(ddp, "val"), strict=True):
        assert b == pytest.approx(a, rel=1e-5)  # every evaluation, not only the last
    assert ddp.best == pytest.approx(single.best)


@pytest.mark.slow
def test_eval_on_a_split_not_divisible_by_the_ranks_counts_each_sample_once(tmp_path):
    frozen = ("train.optimizer={name: sgd, lr: 1.0e-12}", "train.epochs=1", "data.args.n=95",
              "wrapper=tests.train.ddp_user.GatherWrapper")
    single = run(load(tmp_path / "a", *frozen, "train.batch_size=32"))
    ddp = run(load(tmp_path / "b", *frozen, "train.batch_size=32", *DDP))
    assert ddp.final_metrics["val_accuracy"] == single.final_metrics["val_accuracy"]
    assert ddp.final_metrics["val_loss"] == pytest.approx(single.final_metrics["val_loss"])
    # custom_evaluation's documented way to see every rank's values: wrapper.gather
    assert (single.final_metrics["val_ranks"], single.final_metrics["val_rank_sum"]) == (1, 0)
    assert (ddp.final_metrics["val_ranks"], ddp.final_metrics["val_rank_sum"]) == (2, 1)


@pytest.mark.slow
def test_manual_updates_under_ddp_keep_ranks_identical(tmp_path):
    """The GAN's train_step calls submodules and two optimizers (loss=None)."""
    loaded = load_recipe("recipes/gan_points.yaml", [
        f"output_dir={tmp_path}", "device=cpu", "train.epochs=2", "data.args.size=256",
        "train.batch_size=64", "train.progress=off",
        "wrapper=tests.train.ddp_user.SyncCheckGAN", *DDP])
    result = run(loaded)
    metrics = result.final_metrics
    assert metrics["val_world"] == 2.0
    assert metrics["val_rank_spread"] == 0.0  # the same weights on both ranks
    assert metrics["val_change"] > 1e-3  # and they did train


@pytest.mark.slow
@pytest.mark.timeout(120)  # rank 0 would otherwise wait in a collective for 600 s
def test_a_crashing_rank_fails_the_trial_with_its_traceback_instead_of_hanging(tmp_path):
    loaded = load(tmp_path, *DDP, "wrapper=tests.train.ddp_user.CrashOnRank1", "train.epochs=50")
    with pytest.raises(TrainingError, match="rank 1 failed: RuntimeError: boom on rank 1"):
        run(loaded)
    (folder,) = (tmp_path / "tiny").iterdir()
    record = status(folder)
    assert record["state"] == "failed"
    assert record["error"]["type"] == "RuntimeError"
    assert "boom on rank 1" in record["error"]["traceback"]
    assert "ddp_user.py" in record["error"]["traceback"]  # the rank's own frames


@pytest.mark.slow
def test_checkpoints_move_between_ddp_and_a_single_process(tmp_path):
    reference = run(load(tmp_path / "ref", *EXACT, "train.epochs=3"))
    for first, then in ((DDP, ()), ((), DDP)):
        out = tmp_path / ("ddp-then-single" if first else "single-then-ddp")
        part = run(load(out, *EXACT, *first, "train.epochs=2"))
        assert part.epochs_done == 2
        resumed = run(load(out, *EXACT, *then, "train.epochs=3"))
        assert resumed.trial_dir == part.trial_dir and resumed.epochs_done == 3
        for key, value in reference.final_metrics.items():
            assert resumed.final_metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
        record = status(resumed)
        assert record["attempts"] == 2
        changed = record["stateless_changes"][-1]["changes"]
        assert set(changed) >= {"train.strategy", "train.devices", "train.epochs"}


def test_a_user_mistake_on_one_rank_stays_that_mistake_with_exit_code_2(tmp_path):
    mistake = ErrorRecord("BatchError", "forward must return (output, loss)", "tb", 2)
    ok = RankOutcome(0, {"epoch": 1})
    combined = launch._combine({0: ok, 1: RankOutcome(1, None, error=mistake)}, None, False)
    assert combined.error.rank == 1 and combined.state == {"epoch": 1}
    error = _error(combined.error, tmp_path)
    assert isinstance(error, BatchError) and error.exit_code == 2
    assert str(error) == "rank 1 failed: BatchError: forward must return (output, loss)"
    crash = _error(ErrorRecord("RuntimeError", "boom", "Traceback ..."), tmp_path)
    assert isinstance(crash, TrainingError) and crash.exit_code == 1
    assert crash.traceback == "Traceback ..." and "status.json" in str(crash)


@pytest.mark.slow
def test_ranks_draw_their_own_dropout_masks_and_worker_streams(tmp_path, monkeypatch):
    """Rank 1 must not repeat rank 0's dropout mask or its loader worker's draws; rank 0's
    streams are a single process's (so ddp with one rank changes nothing)."""
    streams = {}
    for label, extra in (("single", ()), ("ddp", DDP)):
        out = tmp_path / label
        out.mkdir()
        monkeypatch.setenv("MTRAIN_TEST_OUT", str(out))
        run(load(tmp_path / f"runs-{label}", "wrapper=tests.train.ddp_user.StreamRecorder",
                 "train.epochs=1", "data.num_workers=1", *extra))
        streams[label] = {p.name.split("-")[0]: torch.load(p) for p in out.iterdir()}
    single, ddp = streams["single"]["rank0"], streams["ddp"]
    assert not torch.equal(ddp["rank0"]["mask"], ddp["rank1"]["mask"])
    assert torch.equal(ddp["rank0"]["mask"], single["mask"])
    first0, first1 = ddp["rank0"]["noise"], ddp["rank1"]["noise"]
    assert first0 != first1[:len(first0)]
    assert first0 == single["noise"][:len(first0)]  # the k-th draw of the same worker stream


@pytest.mark.slow
def test_the_digits_ddp_recipe_trains(tmp_path):
    loaded = load_recipe("recipes/digits_ddp.yaml", [f"output_dir={tmp_path}", "device=cpu",
                                                     "train.epochs=3", "train.progress=off"])
    result = run(loaded)
    assert result.state == "completed" and result.final_metrics["val_accuracy"] > 0.8
    assert "num_classes: 10" in (result.trial_dir / "recipe.yaml").read_text()
