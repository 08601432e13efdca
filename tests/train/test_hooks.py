"""Hook signature checks in isolation."""

from __future__ import annotations

import pytest

from model_trainer.errors import HookSignatureError
from model_trainer.train.hooks import check_hooks
from model_trainer.wrapper import ModelWrapper
from tests.train.tiny import load


def test_the_base_wrapper_and_flexible_overrides_pass(tmp_path):
    class Flexible(ModelWrapper):
        def train_step(self, batch, *extra, scale=1.0):
            return {}

        def make_scheduler(self, *args):
            return None

    check_hooks(ModelWrapper(load(tmp_path).recipe))
    check_hooks(Flexible(load(tmp_path).recipe))


def test_a_hook_that_is_not_callable(tmp_path):
    class Broken(ModelWrapper):
        fit = None

    with pytest.raises(HookSignatureError, match="Broken.fit is not callable"):
        check_hooks(Broken(load(tmp_path).recipe))
