"""The small knobs peers ship: torch threads for one run, channels_last, and the
gradient norm logged at each log point."""

from __future__ import annotations

import json

import pytest
import torch

from model_trainer.errors import RecipeError
from model_trainer.trial.experiment import run_experiment
from tests.train import tiny
from tests.train.tiny import TinyWrapper, load


def rows(trial_dir, split="train"):
    return [json.loads(line) for line in (trial_dir / "metrics.jsonl").read_text().splitlines()
            if json.loads(line)["split"] == split]


class NormWrapper(TinyWrapper):
    """Measures the gradient norm itself, after backward, before the optimizer steps."""

    norms: list[float] = []

    def backward(self, loss):
        super().backward(loss)
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        type(self).norms.append(float(torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(g) for g in grads]))))


def test_the_gradient_norm_is_logged_as_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(tiny, "NormWrapper", NormWrapper, raising=False)
    NormWrapper.norms = []
    loaded = load(tmp_path, "wrapper=tests.train.tiny.NormWrapper", "train.log_grad_norm=true",
                  "train.log_every=1", "train.epochs=1")
    result = run_experiment(loaded)
    logged = [r["metrics"]["grad_norm"] for r in rows(result.trial_dir) if "span" not in r]
    assert logged == pytest.approx(NormWrapper.norms, rel=1e-5)
    epoch = [r for r in rows(result.trial_dir) if r.get("span") == "epoch"][0]
    assert epoch["metrics"]["grad_norm"] == pytest.approx(sum(NormWrapper.norms) / len(logged),
                                                          rel=1e-5)
    plain = run_experiment(load(tmp_path / "plain", "train.epochs=1"))
    assert all("grad_norm" not in r["metrics"] for r in rows(plain.trial_dir))


def test_threads_set_torchs_threads_and_are_recorded(tmp_path):
    before = torch.get_num_threads()
    try:
        result = run_experiment(load(tmp_path, "train.threads=1", "train.epochs=1"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    provenance = json.loads((result.trial_dir / "provenance.json").read_text())
    assert provenance["threads"] == 1
    with pytest.raises(RecipeError, match="train.threads"):
        load(tmp_path, "train.threads=0")


def test_channels_last_changes_the_memory_format_not_the_numbers(tmp_path):
    from model_trainer.train.data import to_device

    images = {"x": torch.randn(2, 3, 4, 4), "labels": torch.tensor([0, 1])}
    moved = to_device(images, torch.device("cpu"), channels_last=True)
    assert moved["x"].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(moved["x"], images["x"]) and torch.equal(moved["labels"], images["labels"])
    a = run_experiment(load(tmp_path / "a", "train.epochs=1", "train.channels_last=true"))
    b = run_experiment(load(tmp_path / "b", "train.epochs=1"))
    assert a.trial_id == b.trial_id  # stateless: the same experiment
    assert a.final_metrics["val_loss"] == pytest.approx(b.final_metrics["val_loss"], rel=1e-6)


class RateWrapper(TinyWrapper):
    """Measures the learning rate each optimizer step really applied (plain SGD: the
    change of a weight over its gradient)."""

    applied: list[float] = []

    def optimizer_step(self, optimizer=None):
        weight = next(self.model.parameters())
        before, grad = weight.detach().clone(), weight.grad.detach().clone()
        super().optimizer_step(optimizer)
        mask = grad.abs() > 1e-6
        type(self).applied.append(float(((before - weight.detach())[mask] / grad[mask]).mean()))


@pytest.mark.parametrize(("warmup", "length"), [("{steps: 4}", 4), ("{epochs: 1}", 6)])
def test_a_warmup_scales_each_steps_rate_on_top_of_the_schedule(tmp_path, monkeypatch, warmup,
                                                                 length):
    monkeypatch.setattr(tiny, "RateWrapper", RateWrapper, raising=False)
    RateWrapper.applied = []
    loaded = load(tmp_path, "wrapper=tests.train.tiny.RateWrapper", "train.epochs=2",
                  "train.optimizer={name: sgd, lr: 0.1, weight_decay: 0.0}",
                  "train.scheduler={name: step, args: {step_size: 1, gamma: 0.5}}",
                  f"++train.scheduler.warmup={warmup}", "train.log_every=1")
    result = run_experiment(loaded)
    schedule = [0.1] * 6 + [0.05] * 6  # step: halved after each epoch of 6 steps
    expected = [rate * min(1.0, k / length) for k, rate in enumerate(schedule, start=1)]
    assert RateWrapper.applied == pytest.approx(expected, rel=1e-4)
    logged = [r["metrics"]["lr"] for r in rows(result.trial_dir) if "span" not in r]
    assert logged == pytest.approx(expected, rel=1e-6)
    assert loaded.trial_id != load(tmp_path, "train.epochs=2",
                                   "train.optimizer={name: sgd, lr: 0.1, weight_decay: 0.0}",
                                   "train.scheduler={name: step, args: {step_size: 1, "
                                   "gamma: 0.5}}", "wrapper=tests.train.tiny.RateWrapper"
                                   ).trial_id  # a warmup is another experiment


def test_a_warmup_needs_one_length(tmp_path):
    with pytest.raises(RecipeError, match="needs exactly one of steps or epochs"):
        load(tmp_path, "++train.scheduler.warmup={steps: 2, epochs: 1}")


def test_keep_best_and_keep_every_keep_the_right_checkpoints(tmp_path):
    result = run_experiment(load(tmp_path, "train.epochs=5", "train.checkpoint_every=5",
                                 "train.checkpoint={keep_best: 2, keep_every: 2}"))
    folder = result.trial_dir / "checkpoints"
    val = {r["epoch"]: r["metrics"]["loss"] for r in rows(result.trial_dir, "val")}
    two_best = sorted(sorted(val, key=val.get)[:2])
    assert sorted(p.name for p in folder.glob("top-*.pt")) == \
        [f"top-{e:04d}.pt" for e in two_best]
    assert sorted(p.name for p in folder.glob("epoch-*.pt")) == ["epoch-0002.pt",
                                                                 "epoch-0004.pt"]
    for path in [*folder.glob("top-*.pt"), *folder.glob("epoch-*.pt")]:
        saved = torch.load(path, weights_only=True)
        assert saved["loop"]["epoch"] == int(path.stem.split("-")[1])
    listed = json.loads((folder / "kept.json").read_text())
    assert [(e["epoch"], e["value"]) for e in listed["top"]] == \
        sorted(((e, val[e]) for e in two_best), key=lambda pair: pair[1])
    best = torch.load(folder / "best.pt", weights_only=True)
    assert best["loop"]["epoch"] == min(val, key=val.get)


def test_max_steps_stops_mid_epoch_and_more_steps_continue_exactly(tmp_path):
    """6 steps an epoch: 9 steps stop in the middle of epoch 2, with an evaluation and a
    checkpoint there; 12 then continue from that batch and end where a straight run of 12
    steps ends, tensor for tensor."""
    first = run_experiment(load(tmp_path / "a", "train.max_steps=9", "train.epochs=5"))
    assert first.stop_reason == "max steps reached"
    status = json.loads((first.trial_dir / "status.json").read_text())
    assert (status["global_step"], status["epochs_done"]) == (9, 1)
    assert [r["step"] for r in rows(first.trial_dir, "val")] == [6, 9]
    saved = torch.load(first.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    assert (saved["loop"]["global_step"], saved["loop"]["batch_in_epoch"]) == (9, 3)
    same = run_experiment(load(tmp_path / "a", "train.max_steps=9", "train.epochs=5"))
    assert same.skipped  # already done: nothing trained
    more = run_experiment(load(tmp_path / "a", "train.max_steps=12", "train.epochs=5"))
    straight = run_experiment(load(tmp_path / "b", "train.max_steps=12", "train.epochs=5"))
    assert more.trial_dir == first.trial_dir
    a = torch.load(more.trial_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(straight.trial_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert first.trial_id == load(tmp_path, "train.epochs=5").trial_id  # stateless


def test_eval_every_steps_evaluates_mid_epoch_and_best_pt_holds_that_step(tmp_path):
    """6 steps an epoch, an evaluation every 4 steps: val rows at 4 (mid-epoch), 6 (the
    epoch's end), 8 and 12 (the run's end, once). The row at step 4 equals the evaluation
    a run stopped by max_steps=4 makes there, and best.pt holds the best row's step."""
    result = run_experiment(load(tmp_path / "a", "train.eval_every_steps=4", "train.epochs=2",
                                 "train.checkpoint_min_interval_s=0"))
    val = rows(result.trial_dir, "val")
    assert [(r["step"], r["epoch"]) for r in val] == [(4, 1), (6, 1), (8, 2), (12, 2)]
    stopped = run_experiment(load(tmp_path / "b", "train.max_steps=4", "train.epochs=2"))
    assert val[0]["metrics"] == rows(stopped.trial_dir, "val")[0]["metrics"]
    best_row = min(val, key=lambda r: r["metrics"]["loss"])
    best = torch.load(result.trial_dir / "checkpoints" / "best.pt", weights_only=True)
    assert best["loop"]["global_step"] == best_row["step"]
    model = tiny.TinyNet(tiny.TinyConfig(num_classes=3)).eval()  # that step's val loss, by hand
    model.load_state_dict(best["model"])
    x, y = tiny.tensors(96, seed=456)
    with torch.no_grad():
        by_hand = float(torch.nn.functional.cross_entropy(model(x)[0], y))
    assert best_row["metrics"]["loss"] == pytest.approx(by_hand, rel=1e-5)
    assert result.trial_id == load(tmp_path, "train.epochs=2").trial_id  # stateless


def test_early_stopping_at_a_mid_epoch_evaluation_stops_there(tmp_path):
    """Nothing improves by 100 after the first evaluation (step 2): patience 1 stops the
    run at the evaluation of step 4, mid-epoch, saved there."""
    result = run_experiment(load(tmp_path, "train.eval_every_steps=2", "train.epochs=3",
                                 "train.early_stopping.patience=1",
                                 "train.early_stopping.min_delta=100"))
    assert result.stop_reason == "early stop"
    assert [r["step"] for r in rows(result.trial_dir, "val")] == [2, 4]
    saved = torch.load(result.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    assert (saved["loop"]["global_step"], saved["loop"]["batch_in_epoch"]) == (4, 4)
    with pytest.raises(RecipeError, match="train.eval_every_steps"):
        load(tmp_path, "train.eval_every_steps=0")


def test_a_per_step_schedule_is_sized_from_max_steps_which_then_joins_the_identity(tmp_path):
    """cosine per step with max_steps=9 (epochs=5 would be 30 steps): the LR reaches zero
    at step 9, as torch's CosineAnnealingLR(T_max=9) does; another max_steps is another
    trial, and without max_steps the schedule is sized from epochs as before."""
    loaded = load(tmp_path, "train.max_steps=9", "train.epochs=5", "train.log_every=1",
                  "train.scheduler.name=cosine")
    result = run_experiment(loaded)
    logged = [r["metrics"]["lr"] for r in rows(result.trial_dir) if "span" not in r]
    opt = torch.optim.SGD([torch.zeros(1)], lr=loaded.recipe.train.optimizer.lr)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=9)
    expected = []
    for _ in range(9):
        opt.step()
        cosine.step()
        expected.append(opt.param_groups[0]["lr"])
    assert logged == pytest.approx(expected, abs=1e-12)  # logged after the schedule stepped
    assert logged[-1] == pytest.approx(0, abs=1e-12)
    more = load(tmp_path, "train.max_steps=12", "train.epochs=5", "train.scheduler.name=cosine")
    assert more.trial_id != loaded.trial_id
    status = json.loads((result.trial_dir / "status.json").read_text())
    assert "train.max_steps" not in status["stateless_keys"]
    by_epochs = load(tmp_path, "train.epochs=5", "train.scheduler.name=cosine",
                     "train.scheduler.interval=epoch")  # a per-epoch schedule: epochs size it
    assert by_epochs.trial_id == load(tmp_path, "train.epochs=5", "train.max_steps=9",
                                      "train.scheduler.name=cosine",
                                      "train.scheduler.interval=epoch").trial_id


def test_safetensors_weights_beside_last_and_best_equal_the_checkpoints(tmp_path):
    """train.checkpoint.format: safetensors writes last.safetensors and best.safetensors
    (read back with safetensors itself, no pickle) equal to the .pt files' model weights."""
    from safetensors.torch import load_file

    result = run_experiment(load(tmp_path, "train.checkpoint.format=safetensors",
                                 "train.epochs=3", "train.checkpoint_min_interval_s=0"))
    folder = result.trial_dir / "checkpoints"
    for name in ("last", "best"):
        weights = load_file(folder / f"{name}.safetensors")
        model = torch.load(folder / f"{name}.pt", weights_only=True)["model"]
        assert weights.keys() == model.keys()
        assert all(torch.equal(weights[k], model[k]) for k in model)
    plain = run_experiment(load(tmp_path / "plain", "train.epochs=1"))
    assert not list((plain.trial_dir / "checkpoints").glob("*.safetensors"))
    assert plain.trial_id == load(tmp_path, "train.epochs=1",
                                  "train.checkpoint.format=safetensors").trial_id


def test_safetensors_weights_of_a_model_with_tied_weights_load_back_under_every_name():
    """An embedding tied to the output layer (as language models do): safetensors refuses
    tensors that share memory; each name is written and reads back equal, the checkpoint's
    own snapshot included."""
    from safetensors.torch import load

    from model_trainer.train.checkpoint import serialize_weights, snapshot

    embed, head = torch.nn.Embedding(5, 3), torch.nn.Linear(3, 5, bias=False)
    head.weight = embed.weight
    model = torch.nn.Sequential(embed, head).state_dict()
    model["transposed"] = model["0.weight"].t()  # shares memory, and is not contiguous
    for state in ({"model": model}, snapshot({"model": model})):
        weights = load(serialize_weights(state))
        assert weights.keys() == model.keys()
        assert all(torch.equal(weights[k], model[k]) for k in model)


def test_the_test_split_uses_the_best_steps_weights_after_a_mid_epoch_stop(tmp_path):
    """The best evaluation is max_steps=3's, mid-epoch 1 (nothing beats it by 100); the
    rerun ends epoch 1 at step 6. The test split must run on best.pt (step 3), not on the
    weights the model holds: its row equals best.pt's test loss computed by hand."""
    extra = ("data.target=tests.train.tiny.make_loader_with_test",
             "train.early_stopping.min_delta=100", "train.epochs=1")
    run_experiment(load(tmp_path, "train.max_steps=3", *extra))
    result = run_experiment(load(tmp_path, *extra))
    best = torch.load(result.trial_dir / "checkpoints" / "best.pt", weights_only=True)
    assert best["loop"]["global_step"] == 3
    model = tiny.TinyNet(tiny.TinyConfig(num_classes=3)).eval()
    model.load_state_dict(best["model"])
    x, y = tiny.tensors(96, seed=789)
    with torch.no_grad():
        by_hand = float(torch.nn.functional.cross_entropy(model(x)[0], y))
    test = rows(result.trial_dir, "test")[-1]  # the rerun's (the first run had its own)
    assert test["step"] == 6 and test["checkpoint"] == "best" and test["metrics"]["loss"] == pytest.approx(by_hand,
                                                                                      rel=1e-5)


def test_max_steps_at_an_epochs_end_evaluates_there_and_keep_best_keeps_mid_epoch_ends(
        tmp_path):
    """max_steps=12 ends epoch 2 exactly: evaluated there although eval_every=5; and
    max_steps=9 ending mid-epoch 2 is an evaluation keep_best keeps (top-0002.pt)."""
    ended = run_experiment(load(tmp_path / "a", "train.max_steps=12", "train.eval_every=5",
                                "train.epochs=5"))
    assert [r["step"] for r in rows(ended.trial_dir, "val")] == [12]
    assert (ended.trial_dir / "checkpoints" / "best.pt").exists()
    kept = run_experiment(load(tmp_path / "b", "train.max_steps=9", "train.epochs=5",
                               "train.checkpoint={keep_best: 3}"))
    names = sorted(p.name for p in (kept.trial_dir / "checkpoints").glob("top-*.pt"))
    assert names == ["top-0001.pt", "top-0002.pt"]
    saved = torch.load(kept.trial_dir / "checkpoints" / "top-0002.pt", weights_only=True)
    assert saved["loop"]["global_step"] == 9


def _batches(flag: str) -> list[dict[str, torch.Tensor]]:
    x, y = tiny.tensors(96, seed=123 if flag == "train" else 456)
    return [{"x": x[i:i + 16], "labels": y[i:i + 16]} for i in range(0, 96, 16)]


class _Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        return iter(_batches("train"))


def sized_loader(config, flag):
    """Six fixed batches a split, from a loader with a length."""
    return None if flag == "test" else torch.utils.data.DataLoader(_batches(flag), batch_size=None)


def unsized_loader(config, flag):
    """The same train batches from a stream: a loader without a length."""
    if flag != "train":
        return sized_loader(config, flag)
    return torch.utils.data.DataLoader(_Stream(), batch_size=None)


def test_step_evaluations_of_a_loader_without_a_length_are_those_of_one_with_a_length(tmp_path):
    """eval_every_steps=3 over epochs of 6 batches: the step that ends an epoch is
    evaluated once (at the epoch's end), whether or not the loader knows its length;
    the rows are the same numbers."""
    found = {}
    for name in ("sized", "unsized"):
        target = f"data.target=tests.train.test_knobs.{name}_loader"
        result = run_experiment(load(tmp_path / name, target, "train.eval_every_steps=3",
                                     "train.epochs=2"))
        found[name] = [(r["step"], r["metrics"]["loss"]) for r in rows(result.trial_dir, "val")]
        assert result.epochs_done == 2
    assert [step for step, _ in found["unsized"]] == [step for step, _ in found["sized"]] \
        == [3, 6, 9, 12]
    assert [v for _, v in found["unsized"]] == pytest.approx([v for _, v in found["sized"]],
                                                             rel=1e-6)


class _NoisyStream(torch.utils.data.IterableDataset):
    """The train batches with noise drawn from the global RNG as each is fetched (an
    augmentation): where a batch is fetched in the RNG's sequence changes its values."""

    def __iter__(self):
        for batch in _batches("train"):
            yield {"x": batch["x"] + 0.3 * torch.randn(batch["x"].shape), "labels": batch["labels"]}


def noisy_unsized_loader(config, flag):
    if flag != "train":
        return sized_loader(config, flag)
    return torch.utils.data.DataLoader(_NoisyStream(), batch_size=None)


def test_max_steps_at_the_end_of_an_epoch_of_a_loader_without_a_length_counts_it(tmp_path):
    """max_steps=6 over epochs of 6 batches the loader does not announce: the epoch is
    done (evaluated and counted at its end) as with a loader with a length (it stopped
    mid-epoch: no epoch counted), and a rerun to 12 steps gives the same numbers."""
    found = {}
    for name in ("sized", "unsized"):
        target = f"data.target=tests.train.test_knobs.{name}_loader"
        first = run_experiment(load(tmp_path / name, target, "train.max_steps=6",
                                    "train.epochs=5"))
        assert first.epochs_done == 1, name
        again = run_experiment(load(tmp_path / name, target, "train.max_steps=12",
                                    "train.epochs=5"))
        assert again.epochs_done == 2, name
        found[name] = [(r["step"], r["epoch"], r["metrics"]["loss"])
                       for r in rows(again.trial_dir, "val")]
    assert [r[:2] for r in found["unsized"]] == [r[:2] for r in found["sized"]] \
        == [(6, 1), (12, 2)]
    assert [r[2] for r in found["unsized"]] == pytest.approx([r[2] for r in found["sized"]],
                                                             rel=1e-6)


def _last_weights(trial_dir):
    return torch.load(trial_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


@pytest.mark.parametrize(("loader", "steps"), [
    ("sized_loader", ()), ("sized_loader", ("train.eval_every_steps=2",)),
    ("noisy_unsized_loader", ()), ("noisy_unsized_loader", ("train.eval_every_steps=2",)),
    ("noisy_unsized_loader", ("train.eval_every_steps=3",)),
])
def test_a_run_stopped_mid_epoch_by_max_steps_resumes_exactly(tmp_path, loader, steps):
    """Stopped at max_steps=4 and rerun to 9 steps, the weights equal a straight run's bit
    for bit: with dropout, with noise drawn as batches are fetched, and with a loader
    without a length, where the loop fetches batch 5 early to know whether the epoch ends
    at step 4 (the checkpoint held the RNG after that fetch, and the stop's own evaluation
    drew a seed from it: both made the resumed run differ)."""
    common = (f"data.target=tests.train.test_knobs.{loader}", "train.epochs=5", *steps)
    run_experiment(load(tmp_path / "a", *common, "train.max_steps=4"))
    resumed = run_experiment(load(tmp_path / "a", *common, "train.max_steps=9"))
    straight = run_experiment(load(tmp_path / "b", *common, "train.max_steps=9"))
    a, b = _last_weights(resumed.trial_dir), _last_weights(straight.trial_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_evaluations_do_not_change_the_training(tmp_path):
    """Step evaluations every 2 steps or none: the same weights after the epoch (an
    evaluation's random draws, such as its loader's seed, are not the training's)."""
    common = ("data.target=tests.train.test_knobs.noisy_unsized_loader", "train.epochs=1")
    often = run_experiment(load(tmp_path / "a", *common, "train.eval_every_steps=2"))
    never = run_experiment(load(tmp_path / "b", *common))
    a, b = _last_weights(often.trial_dir), _last_weights(never.trial_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)
