"""A hypothesis study: the configurations its claims name, and seeds until each claim has
its verdict.

Each side of a claim is the recipe's own values with the side's keys changed (one at a
time against the recipe); the configurations are those sides, each once, in the order
the claims name them. Every configuration starts with seeds 0 .. min-1; once a claim's two
configurations have finished the same seeds, its verdict is read (model_trainer/
hypothesis.py) and an undecided claim gets one more seed on both sides, up to `max`
(with a list of seeds, every configuration runs the list and the verdicts are read at
the end). The same object answers the planner (which trials to add) and the summary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from model_trainer import dotted
from model_trainer.hypothesis import (
    ClaimDecision,
    Placed,
    claim_decision,
    configurations,
    guarantee,
    parse_claim,
)
from model_trainer.recipe import Recipe, to_plain
from model_trainer.recipe.schema import AdaptiveSeedsConfig
from model_trainer.study.adaptive import by_config
from model_trainer.study.index import StudyTrial


@dataclass(frozen=True)
class Design:
    points: list[dict[str, Any]]  # each configuration's params, by configuration number
    claims: Placed  # each claim with its A and B configuration numbers
    space: dict[str, dict]  # the values each key takes: the study index's space


def design(recipe: Recipe) -> Design:
    """The configurations the recipe's claims need (see the module docstring)."""
    hypothesis = recipe.hypothesis
    assert hypothesis is not None
    claims = [parse_claim(c.claim, c.by, c.margin) for c in hypothesis.claims]
    own = to_plain(recipe)
    points, placed = configurations(claims, lambda key: dotted.get(own, key))
    space = {k: {"choice": _unique([p[k] for p in points])} for k in points[0]}
    return Design(points, placed, space)


def _unique(values: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for value in values:
        seen.setdefault(json.dumps(value, sort_keys=True, default=str), value)
    return list(seen.values())


class ClaimSeeds:
    """Seeds for each claim until its verdict (the planner's and the summary's view)."""

    def __init__(self, recipe: Recipe, plan: Design):
        study, hypothesis = recipe.study, recipe.hypothesis
        seeds = study.seeds
        adaptive = isinstance(seeds, AdaptiveSeedsConfig)
        self.min = seeds.min if adaptive else len(seeds or [recipe.seed])
        self.max = seeds.max if adaptive else self.min
        self.alpha = hypothesis.alpha / len(plan.claims)  # Bonferroni over the claims
        self.family_alpha, self.plan = hypothesis.alpha, plan
        self.metric, self.mode = recipe.train.monitor.metric, recipe.train.monitor.mode

    def decisions(self, trials: list[StudyTrial]) -> list[ClaimDecision]:
        finished, running = by_config(trials)
        return [claim_decision(claim, finished.get(a, {}), finished.get(b, {}),
                               running.get(a, set()), running.get(b, set()), self.min,
                               self.max, self.alpha, self.mode)
                for claim, a, b in self.plan.claims]

    def more_trials(self, trials: list[StudyTrial]) -> list[tuple[int, int]]:
        """(configuration number, seed) of the trials to add now: the next seed, on
        whichever side lacks it, for each open claim whose seeds have all finished."""
        have: dict[int, set[int]] = {}
        for t in trials:
            have.setdefault(t.number, set()).add(t.seed)
        wanted: set[tuple[int, int]] = set()
        for (_, a, b), decided in zip(self.plan.claims, self.decisions(trials), strict=True):
            common = have.get(a, set()) & have.get(b, set())
            if decided.verdict is not None or len(common) >= self.max or \
                    any(t.number in (a, b) and t.seed in common and not t.finished
                        for t in trials):
                continue
            seed = next(s for s in range(len(common) + 1) if s not in common)
            wanted |= {(n, seed) for n in (a, b) if seed not in have.get(n, set())}
        return sorted(wanted)

    def report(self, trials: list[StudyTrial], mode: str) -> list[str]:
        """The verdicts, one line per claim, and the guarantee."""
        lines = [f"hypothesis: {len(self.plan.claims)} claim(s), {len(trials)} trials run "
                 f"(at most {self.max} seeds a configuration)"]
        for (claim, _, _), decided in zip(self.plan.claims, self.decisions(trials),
                                          strict=True):
            lines.append(f"  {claim.text}: {decided.text()}")
            lines.append(f"    ({claim.meaning(self.metric, self.mode)})")
        lines.append("  " + guarantee(self.family_alpha, len(self.plan.claims)))
        return lines

    def verdicts(self, trials: list[StudyTrial]) -> list[dict[str, Any]]:
        """The verdicts as plain data (the Python API's answer)."""
        return [{"claim": claim.text, "verdict": d.verdict.value if d.verdict else None,
                 "estimate": d.interval.estimate, "low": d.interval.low,
                 "high": d.interval.high, "seeds": d.seeds, "alpha": d.alpha}
                for (claim, _, _), d in zip(self.plan.claims, self.decisions(trials),
                                            strict=True)]
