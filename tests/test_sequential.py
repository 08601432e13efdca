"""The confidence sequence behind adaptive seeds, against independent computations:
numerical integration of its Bayes factor, a root finder for its ends, and simulations
of its time-uniform coverage."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from model_trainer.sequential import (
    MIXTURE_VARIANCE,
    half_width,
    interval,
    pairs_to_decide,
)
from tests.study.adaptive_sim import misses


def bayes_factor(diffs: Sequence[float], mu0: float, g: float = MIXTURE_VARIANCE) -> float:
    """BF_n(mu0) of sequential.py's docstring in closed form: the e-value the interval
    inverts (the oracle the interval ends are checked against)."""
    n = len(diffs)
    if n < 2:
        return 1.0
    c = 1 + n * g
    mean, variance = (float(np.mean(diffs)), float(np.var(diffs, ddof=1)))
    if variance == 0:  # identical differences: t is infinite unless mu0 is their value
        return c ** -0.5 * (1.0 if mean == mu0 else c ** (n / 2))
    t2 = n * (mean - mu0) ** 2 / variance
    return c ** -0.5 * ((1 + t2 / (n - 1)) / (1 + t2 / ((n - 1) * c))) ** (n / 2)


def bayes_factor_by_integration(x: np.ndarray, mu0: float, g: float) -> float:
    """The definition: the normal likelihood averaged over mean = mu0 + delta * sd with
    delta ~ N(0, g), against mean = mu0, both with the prior 1/sd on sd (flat in log sd)."""
    n, total, squares = len(x), float(np.sum(x)), float(np.sum(x**2))

    def likelihood(mean: float, log_sd: float) -> float:  # up to a constant factor
        return math.exp(-n * log_sd - (squares - 2 * mean * total + n * mean**2)
                        / (2 * math.exp(2 * log_sd)))

    def prior(delta: float) -> float:
        return math.exp(-delta**2 / (2 * g)) / math.sqrt(2 * math.pi * g)

    alternative = integrate.dblquad(
        lambda delta, log_sd: likelihood(mu0 + delta * math.exp(log_sd), log_sd) * prior(delta),
        -8, 6, -40, 40, epsabs=0, epsrel=1e-9)[0]
    null = integrate.quad(lambda log_sd: likelihood(mu0, log_sd), -8, 6, epsabs=0,
                          epsrel=1e-10, limit=200)[0]
    return alternative / null


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_bayes_factor_closed_form_equals_the_integral_that_defines_it(n):
    x = np.random.default_rng(n).normal(0.3, 1.0, n)
    for mu0 in (0.0, 1.0):
        expected = bayes_factor_by_integration(x, mu0, MIXTURE_VARIANCE)
        assert bayes_factor(list(x), mu0) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(("n", "alpha"), [(4, 0.05), (6, 0.05), (12, 0.01), (30, 0.2)])
def test_interval_ends_are_where_the_bayes_factor_reaches_one_over_alpha(n, alpha):
    diffs = list(np.random.default_rng(n).normal(0.5, 2.0, n))
    iv = interval(diffs, alpha)
    assert iv.estimate == pytest.approx(np.mean(diffs))
    assert iv.sd == pytest.approx(np.std(diffs, ddof=1))
    high = optimize.brentq(lambda mu: bayes_factor(diffs, mu) - 1 / alpha, iv.estimate,
                           iv.estimate + 100)
    low = optimize.brentq(lambda mu: bayes_factor(diffs, mu) - 1 / alpha, iv.estimate - 100,
                          iv.estimate)
    assert (iv.low, iv.high) == pytest.approx((low, high), rel=1e-9)
    assert bayes_factor(diffs, iv.estimate) < 1 / alpha


def test_identical_differences_pin_the_mean_once_any_mean_can_be_excluded():
    """A change that changes nothing (deterministic training): every difference is 0."""
    assert interval([0.0] * 3, 0.05).high == math.inf  # 3 pairs: still unbounded
    iv = interval([0.0] * 4, 0.05)
    assert (iv.low, iv.high) == (0.0, 0.0) and iv.within(0.001) and not iv.excludes_zero
    assert bayes_factor([0.2] * 4, 0.0) >= 1 / 0.05 > bayes_factor([0.2] * 3, 0.0)
    assert interval([0.2] * 4, 0.05).excludes_zero


def test_with_three_pairs_nothing_can_be_decided_and_the_interval_narrows_with_more():
    assert half_width(3, 1.0, 0.05) == math.inf and half_width(1, 1.0, 0.05) == math.inf
    widths = [half_width(n, 1.0, 0.05) for n in range(4, 40)]
    assert all(a > b for a, b in zip(widths, widths[1:], strict=False))
    # the price of validity at every look: wider than the fixed-sample t interval
    for n in (5, 12, 30):
        assert half_width(n, 1.0, 0.05) > stats.t.ppf(0.975, n - 1) / math.sqrt(n)


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_coverage_holds_at_every_look_at_once(alpha):
    """4000 sequences of 100 pairs: the interval ever misses the true mean in at most
    alpha of them, where a t interval looked at after every pair misses in far more."""
    x = np.random.default_rng(7).normal(1.5, 3.0, size=(4000, 100))
    sequence, naive = misses(x, 1.5, alpha)
    assert sequence <= alpha
    assert naive > 3 * alpha  # the simulation does see what repeated looks do


def test_projection_names_the_pairs_that_would_decide():
    iv = interval([1.0, 1.2, 0.8, 1.1], 0.05)  # mean 1.025, sd 0.171
    needed = pairs_to_decide(iv, decide=0.0, alpha=0.05, limit=20)
    assert needed is not None and needed > iv.n
    assert half_width(needed, iv.sd, 0.05) < abs(iv.estimate)
    assert half_width(needed - 1, iv.sd, 0.05) >= abs(iv.estimate) or needed - 1 == iv.n
    assert pairs_to_decide(interval([0.1, -0.1, 0.2], 0.05), 0.0, 0.05, limit=12) is None
