"""The group-sequential intervals behind adaptive seeds and hypothesis claims, against
independent computations: Monte Carlo random walks for the boundaries, simulated designs
for the error at every look, the fixed-sample t-test for power, and the seeds saved.
These are statistical properties, checked on seeded simulations (no timing)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr

from model_trainer.sequential import (
    boundaries,
    half_width,
    interval,
    pairs_to_decide,
)
from tests.study.adaptive_sim import SHAPES, every_look

LEAST, MOST, ALPHA = 3, 12, 0.05


def test_the_z_boundaries_spend_alpha_as_planned_on_random_walks():
    """The first crossing of a random walk at each look happens with the probability the
    O'Brien-Fleming-type spending function gives that look (400,000 walks)."""
    c = np.array(boundaries(ALPHA, LEAST, MOST))
    walks = np.cumsum(np.random.default_rng(11).normal(size=(400_000, MOST)), axis=1)
    n = np.arange(LEAST, MOST + 1)
    crossed = np.abs(walks[:, LEAST - 1:]) >= c * np.sqrt(n)
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
    spent = np.diff([0.0, *(2 - 2 * ndtr(stats.norm.ppf(1 - ALPHA / 2) / np.sqrt(n / MOST)))])
    observed = np.array([(first == k).mean() for k in range(len(n))])
    assert observed == pytest.approx(spent, abs=6e-4)
    assert crossed.any(axis=1).mean() == pytest.approx(ALPHA, abs=1.5e-3)
    assert list(c) == sorted(c, reverse=True)  # early looks demand more


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_no_effect_is_called_at_most_alpha_of_the_time_at_every_look(shape):
    decided, _, _ = every_look(0.0, shape, 40_000, seed=3)
    assert decided.mean() <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / 40_000)


def test_a_fixed_t_interval_looked_at_every_seed_would_not_hold():
    """The same looks with a fixed-sample t interval: the simulation sees the difference."""
    _, _, d = every_look(0.0, "normal", 20_000, seed=4)
    n = np.arange(LEAST, MOST + 1)
    p = np.stack([stats.ttest_1samp(d[:, :k], 0, axis=1).pvalue for k in n], axis=1)
    assert (p < ALPHA).any(axis=1).mean() > 2 * ALPHA


@pytest.mark.parametrize("effect", [0.5, 1.0, 2.0])
def test_power_is_within_5_points_of_the_fixed_t_test_at_the_budget(effect):
    decided, _, d = every_look(effect, "normal", 20_000, seed=5)
    fixed = (stats.ttest_1samp(d, 0, axis=1).pvalue < ALPHA).mean()
    assert decided.mean() >= fixed - 0.05


@pytest.mark.parametrize("effect", [2.0, 3.0])
def test_clear_effects_save_at_least_40_percent_of_the_seeds(effect):
    _, seeds, _ = every_look(effect, "normal", 20_000, seed=6)
    assert 1 - seeds.mean() / MOST >= 0.40


def test_the_interval_is_the_mean_and_sd_of_the_differences_with_a_wider_t_factor():
    diffs = list(np.random.default_rng(1).normal(0.5, 2.0, 8))
    iv = interval(diffs, ALPHA, LEAST, MOST)
    assert iv.estimate == pytest.approx(np.mean(diffs))
    assert iv.sd == pytest.approx(np.std(diffs, ddof=1))
    fixed = stats.t.ppf(1 - ALPHA / 2, 7) * iv.sd / math.sqrt(8)
    assert iv.high - iv.estimate == pytest.approx(iv.estimate - iv.low)
    assert iv.high - iv.estimate > fixed  # the price of looking before the budget


def test_before_the_least_seeds_nothing_is_decided_and_widths_shrink_after():
    assert half_width(2, 1.0, ALPHA, LEAST, MOST) == math.inf
    assert half_width(1, 1.0, ALPHA, 1, MOST) == math.inf  # one pair has no spread
    widths = [half_width(n, 1.0, ALPHA, LEAST, MOST) for n in range(LEAST, MOST + 1)]
    assert all(a > b for a, b in zip(widths, widths[1:], strict=False))
    final = stats.t.ppf(1 - ALPHA / 2, MOST - 1) / math.sqrt(MOST)
    assert final < widths[-1] < 1.15 * final  # at the budget, nearly the fixed interval


def test_identical_differences_pin_the_mean():
    """A change that changes nothing (deterministic training): every difference is 0."""
    iv = interval([0.0] * 4, ALPHA, LEAST, MOST)
    assert (iv.low, iv.high) == (0.0, 0.0) and iv.within(0.001) and not iv.excludes_zero
    assert interval([0.2] * 4, ALPHA, LEAST, MOST).excludes_zero


def test_projection_names_the_pairs_that_would_decide():
    iv = interval([1.0, 1.2, 0.8, 1.1], ALPHA, LEAST, 20)  # mean 1.025, sd 0.171
    needed = pairs_to_decide(iv, 0.0, ALPHA, LEAST, 20)
    assert needed is not None and needed > iv.n
    assert half_width(needed, iv.sd, ALPHA, LEAST, 20) < abs(iv.estimate)
    assert half_width(needed - 1, iv.sd, ALPHA, LEAST, 20) >= abs(iv.estimate) or \
        needed - 1 == iv.n
    assert pairs_to_decide(interval([0.1, -0.1, 0.2], ALPHA, LEAST, MOST), 0.0, ALPHA,
                           LEAST, MOST) is None
