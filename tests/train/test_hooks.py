"""Hook signature checks in isolation."""

from __future__ import annotations

import pytest

from model_trainer.errors import HookSignatureError
from model_trainer.train.hook_checks import check_hooks
from model_trainer.wrapper import ModelWrapper
from tests.train.tiny import load


class Flexible(ModelWrapper):
    """Overrides that take what the loop passes, in other shapes (*args, defaults)."""

    def train_step(self, batch, *extra, scale=1.0):
        return {}

    def make_scheduler(self, *args):
        return None


class Strict(Flexible):
    """The same overrides, but train_step wants a second argument the loop never gives."""

    def train_step(self, batch, scale):
        return {}


def test_flexible_overrides_pass_where_one_the_loop_cannot_call_fails(tmp_path):
    recipe = load(tmp_path).recipe
    for wrapper in (ModelWrapper(recipe), Flexible(recipe)):
        assert check_hooks(wrapper) is None  # nothing to report
    with pytest.raises(HookSignatureError, match=r"Strict.train_step"):
        check_hooks(Strict(recipe))


def test_a_hook_that_is_not_callable(tmp_path):
    class Broken(ModelWrapper):
        fit = None

    with pytest.raises(HookSignatureError, match="Broken.fit is not callable"):
        check_hooks(Broken(load(tmp_path).recipe))
