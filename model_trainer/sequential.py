"""An anytime-valid confidence sequence for the mean of paired differences.

Adaptive seeds look at a comparison after every batch of seeds and stop when it is
decided. A fixed-sample t interval checked after every batch would exclude zero by luck
far more often than its 5% (about 15% with looks at 3..12 seeds), so the interval used
here is one that is valid at every look at once:

    P(the true mean difference lies outside the interval at some look) <= alpha,

whatever the rule that decides when to look and when to stop (Ville's inequality). It is
the mixture t confidence sequence (Lai 1976, "On confidence sequences", Ann. Statist.
4(2)): a mean mu0 is excluded once the Bayes factor of "mean = mu0" against "the
standardized mean is drawn from N(mu0/sd, G)", with the scale-invariant prior 1/sd on the
unknown sd, reaches 1/alpha. Under mean = mu0 that Bayes factor is a nonnegative martingale
in the number of pairs (Perez-Ortiz, Lardy, de Heide & Grunwald 2024, "E-statistics,
group invariance and anytime-valid testing", Ann. Statist.), which is what gives the
guarantee. It assumes the differences are independent and normal, as the paired t-test
does; with n pairs, mean m, standard deviation s and t = (m - mu0) sqrt(n) / s:

    BF_n(mu0) = (1 + nG)^(-1/2) [(1 + t^2/(n-1)) / (1 + t^2/((n-1)(1 + nG)))]^(n/2)

The interval {mu0 : BF_n(mu0) < 1/alpha} is m +- h in closed form (`half_width`). The
price of validity at every look is width: at 5 pairs it is about twice the fixed-sample
95% interval, and with 3 pairs (or fewer) it is unbounded: nothing can be decided yet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from model_trainer.vocabulary import SeedVerdict

Values = dict[int, "float | None"]  # seed -> objective of a finished trial (None: no value)

# Prior variance of the standardized mean in the mixture. Any fixed value keeps the
# guarantee; 6 makes the interval narrowest near 5 pairs, where clear effects are decided.
MIXTURE_VARIANCE = 6.0


@dataclass(frozen=True)
class Interval:
    """The confidence sequence after `n` pairs: [low, high] around the mean difference,
    whose standard deviation over the pairs is `sd` (nan below 2 pairs)."""

    n: int
    estimate: float
    low: float
    high: float
    sd: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def within(self, margin: float) -> bool:
        """Whether the whole interval lies strictly inside (-margin, +margin)."""
        return -margin < self.low and self.high < margin


def half_width(n: int, sd: float, alpha: float, g: float = MIXTURE_VARIANCE) -> float:
    """Half-width of the interval after `n` pairs whose differences have standard deviation
    `sd` (math.inf while the data cannot exclude any mean)."""
    if n < 2:
        return math.inf
    c = 1 + n * g
    # BF < 1/alpha  <=>  (1 + u) / (1 + u/c) < k, with u = t^2/(n-1); the left side rises
    # from 1 towards c, so no t reaches it when k >= c.
    k = math.exp((2 / n) * (0.5 * math.log(c) - math.log(alpha)))
    if k >= c:
        return math.inf
    u = c * (k - 1) / (c - k)
    return sd * math.sqrt((n - 1) * u / n)


def interval(diffs: Sequence[float], alpha: float) -> Interval:
    """The confidence sequence of the mean of `diffs` (config minus baseline, by seed)."""
    n = len(diffs)
    mean, variance = _mean_and_variance(diffs)
    sd = math.sqrt(variance)
    h = half_width(n, sd, alpha)
    return Interval(n, mean, mean - h, mean + h, sd)


def _mean_and_variance(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample variance (nan below 2 values); plain floats, as numpy's
    var(ddof=1) (the statistics module is exact and far slower)."""
    n = len(values)
    mean = math.fsum(values) / n if n else 0.0
    return mean, math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n >= 2 else math.nan


def pairs_to_decide(now: Interval, decide: float, alpha: float, limit: int) -> int | None:
    """The fewest pairs (up to `limit`) after which the interval would be decided if the
    mean and spread stayed as they are now; None when not even `limit` would do."""
    if now.n < 2:
        return None
    for n in range(now.n + 1, limit + 1):
        h = half_width(n, now.sd, alpha)
        if h < abs(now.estimate) or abs(now.estimate) + h < decide:
            return n
    return None


@dataclass(frozen=True)
class SeedDecision:
    """Where one configuration's comparison with the baseline stands."""

    verdict: SeedVerdict | None  # None: still adding seeds
    seeds: int  # seeds run or running for this configuration
    interval: Interval  # over the seeds that completed on both sides

    def text(self, mode: str, decide: float) -> str:
        iv = self.interval
        numbers = (f"{iv.estimate:+.4g} [{iv.low:+.4g}, {iv.high:+.4g}]" if iv.n >= 2
                   else f"{iv.n} complete pair(s)")
        if self.verdict is None:
            return f"undecided so far after {self.seeds} seeds: {numbers}"
        if self.verdict is SeedVerdict.EFFECT:
            side = "better" if (iv.estimate > 0) == (mode == "max") else "worse"
            return f"effect {numbers}, {side} than the baseline, after {self.seeds} seeds"
        if self.verdict is SeedVerdict.NO_EFFECT:
            return f"no effect beyond ±{decide:g}: {numbers} after {self.seeds} seeds"
        return f"undecided after {self.seeds} seeds: {numbers}"


def seed_decision(config: Values, baseline: Values, running: Iterable[int], least: int,
                  most: int, decide: float, alpha: float) -> SeedDecision:
    """Where a configuration's comparison with the baseline stands (adaptive seeds, run
    and analysis alike): its differences, paired by seed, over the seeds that completed on
    both sides; decided only when every seed it has finished on both sides (so each look
    sees a whole prefix of the seeds, whatever the values), and after `least` seeds."""
    running = set(running)
    started = len(set(config) | running)
    pairs = sorted(s for s, v in config.items() if v is not None
                   and baseline.get(s) is not None)
    iv = interval([config[s] - baseline[s] for s in pairs], alpha)
    if started < least or not complete(config, baseline, running):
        return SeedDecision(None, started, iv)
    if iv.within(decide):
        verdict = SeedVerdict.NO_EFFECT
    elif iv.excludes_zero:
        verdict = SeedVerdict.EFFECT
    elif started >= most or iv.n == 0:
        verdict = SeedVerdict.UNDECIDED
    else:
        verdict = None
    return SeedDecision(verdict, started, iv)


def complete(config: Values, baseline: Values, running: set[int]) -> bool:
    """Every seed the configuration has finished, on its side and the baseline's."""
    return not running and all(s in baseline for s in config)
