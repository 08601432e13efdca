"""Repeated confidence intervals for the mean of paired differences: a group-sequential
design, as clinical trials use, for adaptive seeds and hypothesis claims.

A comparison is looked at after each seed from `least` to `most` (the budget). A
fixed-sample t interval checked at every look would exclude the truth by luck far more
often than its 5%, so each look n gets a wider interval, mean +- c_n sd / sqrt(n), with
the boundaries c_n chosen so that

    P(the true mean difference lies outside the interval at some look) <= alpha.

The boundaries spend alpha over the looks with the O'Brien-Fleming-type spending function
of Lan & DeMets (1983, "Discrete sequential boundaries for clinical trials", Biometrika
70(3)): by information fraction t = n / most, alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)).
Early looks get almost none of it (only a very large effect stops there) and the last
look nearly all, so at the budget the interval is barely wider than a fixed-sample one
and the power is nearly the fixed-sample t-test's, while clear effects stop early. The
z-scale boundaries are computed for the sum of the differences (a Gaussian random walk)
by numerical integration over a grid, look by look (Armitage, McPherson & Rowe 1969;
Jennison & Turnbull 2000, "Group Sequential Methods", ch. 19), and each is carried to
the t scale of its look at the same tail probability, as the t-test carries z to t; the
level they are computed at is then set, on simulated normal designs (of a fixed seed, so
every process gets the same boundaries), so that the t boundaries together spend alpha.

A look that is skipped (a batch of seeds added at once) only leaves error unspent, so the
guarantee holds whatever seeds the planner adds, and whatever rule stops the study
before `most`. It assumes the differences of different seeds are independent and roughly
normal, as the paired t-test does; the difference of two configurations' trials with the
same seed is symmetric under no effect whatever the seed noise's shape, which is where
the t-test's level holds (docs/studies.md has the measurements). The budget is part of
the design: a rerun that raises `most` re-plans the remaining looks (the error spent at
the looks already made was planned for the smaller budget).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from model_trainer.vocabulary import SeedVerdict

T = TypeVar("T")
Values = dict[int, "float | None"]  # seed -> objective of a finished trial (None: no value)
GRID = 241  # points per look of the numerical integration (odd: Simpson's rule)
FAR = 40.0  # a boundary no walk reaches: the look spends no error
FAR_GRID = 12.0  # the density is integrated within +-12 sd
CALIBRATION = 100_000  # simulated designs that set the t boundaries' level


@dataclass(frozen=True)
class Interval:
    """The repeated confidence interval after `n` pairs: [low, high] around the mean
    difference, whose standard deviation over the pairs is `sd` (nan below 2 pairs)."""

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


@functools.lru_cache(maxsize=256)
def boundaries(alpha: float, least: int, most: int) -> tuple[float, ...]:
    """Two-sided z-scale boundaries c_n for looks n = least .. most (see the module
    docstring): P(|S_n| >= c_n sqrt(n) first at look n) is the alpha spent there, for S a
    random walk of standard normal steps."""
    import numpy as np
    from scipy.special import ndtr, ndtri

    looks = range(least, most + 1)
    z = ndtri(1 - alpha / 2)
    spent = [2 - 2 * ndtr(z / math.sqrt(n / most)) for n in looks]
    increments = np.diff([0.0, *spent])
    c = [float(ndtri(1 - increments[0] / 2)) if increments[0] > 1e-15 else FAR]
    # the density of S at the first look, on its continuation region (beyond FAR_GRID sd
    # nothing of it is left to matter)
    b = min(c[0], FAR_GRID) * math.sqrt(least)
    grid = np.linspace(-b, b, GRID)
    weights = _simpson(grid)
    density = np.exp(-grid**2 / (2 * least)) / math.sqrt(2 * math.pi * least)
    for k, n in enumerate(looks[1:], start=1):
        step = n - looks[k - 1]
        mass = density * weights

        def exit_probability(ck: float, n: int = n, step: int = step, mass=mass,
                             grid=grid) -> float:
            bound = ck * math.sqrt(n)
            root = math.sqrt(step)
            return float(np.sum(mass * (ndtr((-bound - grid) / root)
                                        + 1 - ndtr((bound - grid) / root))))

        ck = _solve(exit_probability, increments[k]) if increments[k] > 1e-15 else FAR
        c.append(ck)
        bound = min(ck, FAR_GRID) * math.sqrt(n)
        new = np.linspace(-bound, bound, GRID)
        kernel = np.exp(-(new[:, None] - grid[None, :]) ** 2 / (2 * step)) / \
            math.sqrt(2 * math.pi * step)
        density, grid, weights = kernel @ mass, new, _simpson(new)
    return tuple(c)


def _simpson(grid) -> object:
    import numpy as np

    h = grid[1] - grid[0]
    w = np.ones(len(grid))
    w[1:-1:2], w[2:-1:2] = 4, 2
    return w * h / 3


def _solve(exit_probability, target: float) -> float:
    """The boundary whose exit probability is `target` (it falls as the boundary rises)."""
    low, high = 0.0, FAR
    for _ in range(80):
        middle = (low + high) / 2
        if exit_probability(middle) > target:
            low = middle
        else:
            high = middle
    return high


@functools.lru_cache(maxsize=256)
def t_boundaries(alpha: float, least: int, most: int) -> tuple[float, ...]:
    """The boundaries on the t scale of each look n = least .. most: each z boundary
    carried to n - 1 degrees of freedom at its tail probability, with the alpha they
    spend set (by bisection, on CALIBRATION simulated normal designs of a fixed seed) so
    that the chance of any crossing is alpha, less two standard errors of the simulation. (Carried look by look, the boundaries of
    few degrees of freedom would cross more often together than the z design says: 5.6%
    instead of 5% at looks 3..12.)"""
    import numpy as np
    from scipy.special import ndtr, stdtrit

    looks = np.arange(least, most + 1)
    sims = max(2_000, min(CALIBRATION, 20_000_000 // most))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((sims, most))
    n = np.arange(1, most + 1)
    mean = np.cumsum(x, axis=1) / n
    var = np.maximum(np.cumsum(x**2, axis=1) - n * mean**2, 0) / np.maximum(n - 1, 1)
    t = np.abs(mean * np.sqrt(n) / np.sqrt(np.maximum(var, 1e-300)))[:, least - 1:]
    del x, mean, var

    def carried(level: float) -> np.ndarray:
        c = np.array(boundaries(level, least, most))
        return np.where(c >= FAR, np.inf, stdtrit(looks - 1, ndtr(c)))

    def error(level: float) -> float:
        return float((t >= carried(level)).any(axis=1).mean())

    target = alpha - 2 * math.sqrt(alpha * (1 - alpha) / sims)  # two simulation errors below
    low, high = alpha / 4, alpha
    if error(high) <= target:
        return tuple(float(v) for v in carried(high))
    for _ in range(14):
        middle = (low + high) / 2
        low, high = (middle, high) if error(middle) <= target else (low, middle)
    return tuple(float(v) for v in carried(low))


def half_width(n: int, sd: float, alpha: float, least: int, most: int) -> float:
    """Half-width of the interval after `n` pairs whose differences have standard deviation
    `sd` (math.inf where nothing can be decided: below 2 pairs, or before `least`)."""
    first = max(2, least)
    if n < first:
        return math.inf
    return t_boundaries(alpha, first, max(n, most))[n - first] * sd / math.sqrt(n)


def interval(diffs: Sequence[float], alpha: float, least: int, most: int) -> Interval:
    """The interval of the mean of `diffs` (by seed) in a design that looks at `least` ..
    `most` pairs."""
    n = len(diffs)
    mean, variance = _mean_and_variance(diffs)
    sd = math.sqrt(variance)
    h = half_width(n, sd, alpha, least, most)
    return Interval(n, mean, mean - h, mean + h, sd)


def _mean_and_variance(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the sample variance (nan below 2 values); plain floats, as numpy's
    var(ddof=1) (the statistics module is exact and far slower)."""
    n = len(values)
    mean = math.fsum(values) / n if n else 0.0
    return mean, math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n >= 2 else math.nan


def first_look(diffs: Sequence[float], alpha: float, least: int, most: int,
               judge: Callable[[Interval], T | None]) -> tuple[Interval, T | None]:
    """The design looked at after every pair, in seed order: the interval and verdict of
    the first look that `judge` decides, else the interval of all pairs and None. Seeds
    added in a batch are looked at one by one once the batch has finished (the same
    verdict as looking while they ran, with the power of a look at every seed)."""
    for n in range(max(2, least), len(diffs) + 1):
        iv = interval(diffs[:n], alpha, least, most)
        verdict = judge(iv)
        if verdict is not None:
            return iv, verdict
    return interval(diffs, alpha, least, most), None


def pairs_to_decide(now: Interval, decide: float, alpha: float, least: int,
                    most: int) -> int | None:
    """The fewest pairs (up to `most`) after which the interval would be decided if the
    mean and spread stayed as they are now; None when not even `most` would do."""
    if now.n < 2:
        return None
    for n in range(now.n + 1, most + 1):
        h = half_width(n, now.sd, alpha, least, most)
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
        after = seeds_text(iv.n, self.seeds) if self.verdict in DECIDED else \
            f"{self.seeds} seeds"
        if self.verdict is None:
            return f"undecided so far after {after}: {numbers}"
        if self.verdict is SeedVerdict.EFFECT:
            side = "better" if (iv.estimate > 0) == (mode == "max") else "worse"
            return f"effect {numbers}, {side} than the baseline, after {after}"
        if self.verdict is SeedVerdict.NO_EFFECT:
            return f"no effect beyond ±{decide:g}: {numbers} after {after}"
        return f"undecided after {after}: {numbers}"


DECIDED = (SeedVerdict.EFFECT, SeedVerdict.NO_EFFECT)


def seeds_text(decided_at: int, run: int) -> str:
    """`4 seeds`, or `4 seeds (6 run)` when a batch ran past the look that decided."""
    return f"{decided_at} seeds" + (f" ({run} run)" if run > decided_at else "")


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
    diffs = [config[s] - baseline[s] for s in pairs]
    if started < least or not complete(config, baseline, running):
        return SeedDecision(None, started, interval(diffs, alpha, least, most))

    def judge(iv: Interval) -> SeedVerdict | None:
        return SeedVerdict.NO_EFFECT if iv.within(decide) else \
            SeedVerdict.EFFECT if iv.excludes_zero else None

    iv, verdict = first_look(diffs, alpha, least, most, judge)
    if verdict is None and (started >= most or iv.n == 0):
        verdict = SeedVerdict.UNDECIDED
    return SeedDecision(verdict, started, iv)


def complete(config: Values, baseline: Values, running: set[int]) -> bool:
    """Every seed the configuration has finished, on its side and the baseline's."""
    return not running and all(s in baseline for s in config)
