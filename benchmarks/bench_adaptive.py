"""Measure adaptive seeds on synthetic studies: error rates and the trials they save.

    python benchmarks/bench_adaptive.py [--studies 1500] [--json PATH]

Every figure of docs/studies.md's "What it does, measured" and "Assumptions" comes from
here. Values are the seed's luck plus the effect plus noise, so the paired differences
have standard deviation 1 ("sd"); min 3, max 12 seeds, alpha 0.05 (tests/study/adaptive_sim.py).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model_trainer.study import adaptive  # noqa: E402
from model_trainer.sequential import Interval  # noqa: E402
from model_trainer.vocabulary import SeedVerdict  # noqa: E402
from tests.study.adaptive_sim import misses, run_many  # noqa: E402


def verdicts(studies, number):
    return [plan.decisions(trials)[number] for plan, trials in studies]


def rate(found, verdict):
    return round(float(np.mean([d.verdict is verdict for d in found])), 4)


def fixed_t_interval(diffs, alpha):
    """What adaptive seeds would do with a fixed-sample t interval (for comparison)."""
    n = len(diffs)
    if n < 2:
        return Interval(n, 0.0, -math.inf, math.inf, math.nan)
    mean, sd = float(np.mean(diffs)), float(np.std(diffs, ddof=1))
    h = stats.t.ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n)
    return Interval(n, mean, mean - h, mean + h, sd)


def measure(studies: int) -> dict:
    out = {}
    null = run_many([0.0, 0.0, 0.0], studies, seed=0)
    out["null_3_configs_any_effect_rate"] = round(float(np.mean([
        any(d.verdict is SeedVerdict.EFFECT for d in plan.decisions(trials).values())
        for plan, trials in null])), 4)
    out["null_3_configs_trials_run_of_48"] = round(float(np.mean([len(t) for _, t in null])), 1)
    one = verdicts(run_many([0.0], studies, seed=1, decide=0.0), 1)
    out["null_1_config_effect_rate"] = rate(one, SeedVerdict.EFFECT)
    sequence = adaptive.interval
    adaptive.interval = fixed_t_interval
    try:
        naive = verdicts(run_many([0.0], studies, seed=1, decide=0.0), 1)
    finally:
        adaptive.interval = sequence
    out["null_1_config_effect_rate_with_fixed_t"] = rate(naive, SeedVerdict.EFFECT)
    clear = run_many([3.0, -3.0], studies // 4, seed=2)
    both = verdicts(clear, 1) + verdicts(clear, 2)
    out["effect_3sd_decided_rate"] = rate(both, SeedVerdict.EFFECT)
    out["effect_3sd_mean_seeds"] = round(float(np.mean([d.seeds for d in both])), 2)
    out["effect_3sd_trials_run_of_36"] = round(float(np.mean([len(t) for _, t in clear])), 1)
    small = verdicts(run_many([1.0], studies // 4, seed=5), 1)
    out["effect_1sd_decided_rate"] = rate(small, SeedVerdict.EFFECT)
    out["effect_1sd_mean_seeds"] = round(float(np.mean([d.seeds for d in small])), 2)
    flat = verdicts(run_many([0.0], studies // 5, seed=3, decide=2.5), 1)
    out["no_effect_decide_2.5sd_rate"] = rate(flat, SeedVerdict.NO_EFFECT)
    out["no_effect_decide_2.5sd_mean_seeds"] = round(float(np.mean([d.seeds for d in flat])), 2)
    edge = verdicts(run_many([2.5], studies, seed=4, decide=2.5), 1)
    out["effect_at_decide_called_no_effect_rate"] = rate(edge, SeedVerdict.NO_EFFECT)
    rng = np.random.default_rng(7)
    shapes = {"normal": rng.normal(0, 1, (4000, 100)), "t3": rng.standard_t(3, (4000, 100)),
              "exponential": rng.exponential(1, (4000, 100)) - 1,
              "lognormal_0.5": rng.lognormal(0, 0.5, (4000, 100)) - math.exp(0.125)}
    for name, x in shapes.items():
        for looks in (12, 100):
            sequence_rate, fixed_rate = misses(x[:, :looks], 0.0, 0.05)
            out[f"miss_rate_{name}_{looks}_looks"] = round(float(sequence_rate), 4)
            out[f"miss_rate_{name}_{looks}_looks_fixed_t"] = round(float(fixed_rate), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1500)
    parser.add_argument("--json")
    args = parser.parse_args()
    result = measure(args.studies)
    for key, value in result.items():
        print(f"{key}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
