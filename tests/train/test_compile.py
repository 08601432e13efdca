"""train.compile: trains through torch.compile (inductor's CPU backend, as a user gets it
with `train.compile: true`; about 15 s of compiling here), checkpoints hold plain keys that
a run without compile resumes, and a compile failure is one line naming the model."""

from __future__ import annotations

import pytest
import torch

from model_trainer.errors import TrainingError, UsageError
from model_trainer.trial.experiment import run_experiment
from tests.train import tiny
from tests.train.tiny import load


@pytest.mark.slow
def test_a_compiled_run_matches_a_plain_one_and_its_checkpoints_resume_uncompiled(tmp_path):
    compiled = run_experiment(load(tmp_path / "a", "train.compile=true", "train.epochs=2"))
    plain = run_experiment(load(tmp_path / "b", "train.epochs=2"))
    assert compiled.trial_id == plain.trial_id  # stateless: the same experiment
    # inductor fuses and reorders float operations: 2 epochs of training drift apart a little
    assert compiled.final_metrics["val_loss"] == pytest.approx(plain.final_metrics["val_loss"],
                                                               rel=1e-2)
    saved = torch.load(compiled.trial_dir / "checkpoints" / "last.pt", weights_only=True)
    assert not any("_orig_mod" in k or k.startswith("module.") for k in saved["model"])
    from model_trainer import load_trial

    reloaded = load_trial(compiled.trial_dir, data=True)  # as mtrain predict loads it
    assert type(reloaded.model) is tiny.TinyNet and not reloaded.model.training
    longer = run_experiment(load(tmp_path / "a", "train.epochs=3"))  # resumed, not compiled
    assert longer.trial_dir == compiled.trial_dir and longer.epochs_done == 3


def test_a_compile_failure_names_the_model_and_the_way_out(tmp_path):
    with pytest.raises(TrainingError, match=r"train.compile: torch.compile failed on "
                       r"tests.train.tiny.TinyNet: .*run without train.compile"):
        run_experiment(load(tmp_path, "train.compile={backend: tests.train.tiny.failing_backend}",
                            "train.epochs=1"))


def test_an_unknown_backend_is_a_user_error(tmp_path):
    with pytest.raises(UsageError, match="train.compile"):
        run_experiment(load(tmp_path, "train.compile={backend: no_such_backend}",
                            "train.epochs=1"))
