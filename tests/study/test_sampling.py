"""Configurations: the grid exactly once in order; random/tpe through Optuna, no repeats."""

from __future__ import annotations

import math

from model_trainer.recipe.space import grid, parse_dimension
from model_trainer.study.sampling import ConfigSource


def dims(space):
    return [parse_dimension(k, v)[0] for k, v in space.items()]


SPACE = {"a": {"choice": [1, 2, 3]}, "b": {"int": [0, 4], "step": 2}}


def test_grid_is_the_full_product_in_a_stable_order():
    points = grid(dims(SPACE))
    assert len(points) == 9
    assert len({tuple(p.items()) for p in points}) == 9
    assert points[0] == {"a": 1, "b": 0} and points[-1] == {"a": 3, "b": 4}
    source = ConfigSource("grid", dims(SPACE), 0, "min", {}, {})
    assert source.total(None) == 9
    assert [source.params_for(i) for i in range(9)] == points


def test_a_huge_int_range_is_counted_not_listed(monkeypatch):
    from model_trainer.recipe.space import Dimension

    def never(self):
        raise AssertionError("the list of values was built")

    monkeypatch.setattr(Dimension, "points", never)
    space = {"n": {"int": [1, 10**9]}, "a": {"choice": [1, 2]}}
    source = ConfigSource("random", dims(space), 0, "min", {}, {})
    assert source.space_size() == 2 * 10**9
    assert source.total(5) == 5


def test_random_respects_ranges_and_choices_of_any_type():
    space = {"lr": {"loguniform": [1e-4, 1e-1]}, "layers": {"choice": [[4], [4, 4]]},
             "n": {"int": [1, 3]}}
    source = ConfigSource("random", dims(space), 0, "min", {}, {})
    for i in range(20):
        p = source.params_for(i)
        assert 1e-4 <= p["lr"] <= 1e-1 and p["layers"] in ([4], [4, 4]) and 1 <= p["n"] <= 3


def test_rerun_does_not_repeat_earlier_draws():
    space = {"x": {"uniform": [0.0, 1.0]}}
    first = ConfigSource("random", dims(space), 7, "min", {}, {})
    drawn = {0: first.params_for(0), 1: first.params_for(1)}
    again = ConfigSource("random", dims(space), 7, "min", drawn, {0: 0.5, 1: 0.2})
    assert again.params_for(2)["x"] not in {p["x"] for p in drawn.values()}


def test_tpe_learns_from_told_values():
    space = {"x": {"uniform": [-3.0, 3.0]}}
    source = ConfigSource("tpe", dims(space), 0, "min", {}, {})
    xs = []
    for i in range(40):
        params = source.params_for(i)
        x = params["x"]
        source.tell(i, params, (x - 1.0) ** 2)
        xs.append(x)
    late = sorted(abs(x - 1.0) for x in xs[-20:])
    assert late[len(late) // 2] < 1.0  # uniform draws on [-3, 3] would give about 1.6
    assert all(math.isfinite(x) for x in xs)


def test_random_and_tpe_never_hand_out_one_configuration_twice():
    space = {"a": {"choice": [1, 2]}, "b": {"choice": ["x", "y"]}}  # 4 configurations
    for sampler in ("random", "tpe"):
        source = ConfigSource(sampler, dims(space), 0, "min", {}, {})
        assert source.total(10) == 4  # the space holds 4, whatever `trials` asks
        drawn = [source.params_for(i) for i in range(4)]
        assert len({tuple(sorted(p.items())) for p in drawn}) == 4, sampler
        assert source.params_for(4) is None  # nothing new is left


def test_a_rerun_does_not_hand_out_a_configuration_it_already_has():
    space = {"a": {"choice": [1, 2, 3]}}
    known = {0: {"a": 1}, 1: {"a": 2}}
    source = ConfigSource("random", dims(space), 3, "min", known, {0: 0.1, 1: 0.2})
    assert source.params_for(2) == {"a": 3}
    assert source.params_for(3) is None


def test_a_configuration_asked_by_a_killed_driver_is_still_learned_from():
    """A rerun finishes configurations the earlier driver asked Optuna for: their values
    must reach TPE too, as completed trials of its history."""
    space = {"x": {"uniform": [-3.0, 3.0]}}
    source = ConfigSource("tpe", dims(space), 0, "min", {}, {})
    source.tell(7, {"x": 0.5}, 0.25)  # configuration 7 was asked before the kill
    trials = source._study.get_trials()
    assert [(t.params["x"], t.value) for t in trials] == [(0.5, 0.25)]
