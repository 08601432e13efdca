"""Measure adaptive seeds on synthetic studies: error, power and the seeds they save.

    python benchmarks/bench_adaptive.py [--studies 1500] [--json PATH]

Every figure of docs/studies.md's "What it does, measured" comes from here. Studies run
through the planner's own calls (tests/study/adaptive_sim.py), with trials finishing in
random order; a trial's value is the seed's luck plus the effect plus its own noise of a
given shape (normal, t with 3 degrees of freedom, exponential, lognormal), scaled so
the paired differences have standard deviation 1 ("sd"); min 3, max 12 seeds, alpha 0.05.
The fixed-sample paired t-test at 12 seeds is computed exactly (noncentral t) beside.
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

from model_trainer.vocabulary import SeedVerdict  # noqa: E402
from tests.study.adaptive_sim import SHAPES, every_look, run_many  # noqa: E402

DESIGNS = 20_000


def verdicts(studies, number):
    return [plan.decisions(trials)[number] for plan, trials in studies]


def rate(found, verdict):
    return round(float(np.mean([d.verdict is verdict for d in found])), 4)


def measure(studies: int) -> dict:
    """Error and power from 20,000 designs per case decided look by look, as a study
    decides (sequential.first_look); the seeds saved and the whole-study figures from
    `studies` studies run through the planner (its batches run past the deciding look)."""
    out = {}
    for shape in SHAPES:
        decided, _, _ = every_look(0.0, shape, DESIGNS, seed=1)
        out[f"null_effect_rate_{shape}"] = round(float(decided.mean()), 4)
    _, _, d = every_look(0.0, "normal", DESIGNS, seed=1)
    p = np.stack([stats.ttest_1samp(d[:, :k], 0, axis=1).pvalue for k in range(3, 13)], 1)
    out["null_effect_rate_with_fixed_t"] = round(float((p < 0.05).any(axis=1).mean()), 4)
    null = run_many([0.0, 0.0, 0.0], studies, seed=0)
    out["null_3_configs_any_effect_rate"] = round(float(np.mean([
        any(d.verdict is SeedVerdict.EFFECT for d in plan.decisions(trials).values())
        for plan, trials in null])), 4)
    for effect in (0.5, 1.0, 2.0, 3.0):
        key = f"{effect:g}sd"
        decided, _, _ = every_look(effect, "normal", DESIGNS, seed=2)
        out[f"power_{key}"] = round(float(decided.mean()), 4)
        out[f"power_{key}_fixed_t_12_seeds"] = round(fixed_t_power(effect, 12), 4)
        out[f"power_{key}_gap"] = round(out[f"power_{key}_fixed_t_12_seeds"]
                                       - out[f"power_{key}"], 4)
        found = verdicts(run_many([effect], studies // 4, seed=3, decide=0.0), 1)
        out[f"seeds_saved_{key}"] = round(1 - float(np.mean([d.seeds for d in found])) / 12, 4)
        for shape in SHAPES:  # the other noise shapes, against the t-test on the same designs
            if shape == "normal":
                continue
            decided, seeds, d = every_look(effect, shape, DESIGNS, seed=7)
            fixed = float((stats.ttest_1samp(d, 0, axis=1).pvalue < 0.05).mean())
            out[f"power_{key}_{shape}"] = round(float(decided.mean()), 4)
            out[f"power_{key}_{shape}_gap"] = round(fixed - float(decided.mean()), 4)
            out[f"seeds_saved_{key}_{shape}_looks"] = round(1 - float(seeds.mean()) / 12, 4)
    clear = run_many([3.0, -3.0], studies // 4, seed=4)
    out["effect_3sd_trials_run_of_36"] = round(float(np.mean([len(t) for _, t in clear])), 1)
    flat = verdicts(run_many([0.0], studies // 5, seed=5, decide=2.5), 1)
    out["no_effect_decide_2.5sd_rate"] = rate(flat, SeedVerdict.NO_EFFECT)
    edge = verdicts(run_many([2.5], studies, seed=6, decide=2.5), 1)
    out["effect_at_decide_called_no_effect_rate"] = rate(edge, SeedVerdict.NO_EFFECT)
    return out


def fixed_t_power(effect: float, n: int, alpha: float = 0.05) -> float:
    """The paired t-test's power at n pairs for a mean difference of `effect` sd."""
    crit = stats.t.ppf(1 - alpha / 2, n - 1)
    nc = effect * math.sqrt(n)
    power = float(stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc))
    return power if math.isfinite(power) else 1.0  # (nct loses precision far out: power 1)


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
