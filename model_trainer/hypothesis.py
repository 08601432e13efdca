"""Claims about a recipe, and their verdicts: the one place every surface reads them from.

A claim compares two configurations of the recipe, each the recipe's own values with one
or more keys changed (one at a time against the recipe), on the study's objective
(`train.monitor`), paired by seed:

    model.args.dropout=0.3 > model.args.dropout=0.0     A beats B (by at least `by`)
    model.args.dropout=0.3 < model.args.dropout=0.0     A is beaten by B (by at least `by`)
    model.args.width=64 ~ model.args.width=256          A and B within +-`margin`
    model.args.width=64 >= model.args.width=256         A no worse than B by `margin` or more

"Beats" follows the objective's mode: higher for `max`, lower for `min`. The difference
d = A - B, turned so that positive means A is better, gets the repeated confidence
interval of the group-sequential design of model_trainer/sequential.py at alpha / (number of claims) (Bonferroni), and

- `>` by b:   supported when the interval lies above b, refuted when it lies below b;
- `<` by b:   supported when it lies below -b, refuted when it lies above -b;
- `~` m:      supported when it lies within (-m, m), refuted when it lies outside [-m, m];
- `>=` m:     supported when it lies above -m, refuted when it lies below -m;

else undecided (more seeds, up to the budget). A wrong verdict needs the true difference
outside the interval at some look, which happens with probability at most alpha / K for
each claim, whatever the stopping; so the chance that any verdict of the study is wrong is
at most alpha.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from model_trainer import dotted
from model_trainer.sequential import Interval, Values, first_look, interval, seeds_text
from model_trainer.vocabulary import UNFINISHED, RecordState
from model_trainer.yaml_rules import load_yaml

OPERATORS = (">=", ">", "<", "~")
_CLAIM = re.compile(r"^\s*(?P<a>.+?)\s*(?P<op>>=|>|<|~)\s*(?P<b>[^<>~]+?)\s*$")


class Verdict(enum.StrEnum):
    SUPPORTED = "supported"
    REFUTED = "refuted"
    UNDECIDED = "undecided"  # the budget of seeds was spent (or no pair completed)


@dataclass(frozen=True)
class Claim:
    text: str
    a: dict[str, Any]  # the keys A changes, with their values
    op: str
    b: dict[str, Any]
    by: float = 0.0  # > and <: the least difference that counts
    margin: float | None = None  # ~ and >=

    def judge(self, iv: Interval) -> Verdict | None:
        """The verdict the interval of d (positive: A better) gives, or None (not yet)."""
        if iv.n < 2 or not math.isfinite(iv.low):
            return None
        low, high = iv.low, iv.high
        if self.op == ">":
            return _side(low > self.by, high < self.by)
        if self.op == "<":
            return _side(high < -self.by, low > -self.by)
        m = self.margin or 0.0
        if self.op == "~":
            return _side(-m < low and high < m, low > m or high < -m)
        return _side(low > -m, high < -m)  # >=

    def meaning(self, metric: str, mode: str) -> str:
        """The claim in words: `dropout=0.3 beats dropout=0.0 on val_accuracy (higher)`."""
        a, b = _side_text(self.a), _side_text(self.b)
        on = f"on {metric} ({'higher' if mode == 'max' else 'lower'} is better)"
        if self.op == ">":
            return f"{a} beats {b}" + (f" by more than {self.by:g}" if self.by else "") + \
                f" {on}"
        if self.op == "<":
            return f"{b} beats {a}" + (f" by more than {self.by:g}" if self.by else "") + \
                f" {on}"
        if self.op == "~":
            return f"{a} and {b} are within ±{self.margin:g} {on}"
        return f"{a} is no worse than {b} by {self.margin:g} or more {on}"


def _side(supported: bool, refuted: bool) -> Verdict | None:
    return Verdict.SUPPORTED if supported else Verdict.REFUTED if refuted else None


def _side_text(assignments: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value_text(v)}" for k, v in assignments.items())


def _value_text(value: Any) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) \
        else str(value)


def parse_claim(text: str, by: float = 0.0, margin: float | None = None) -> Claim:
    """`A OP B` -> Claim; ValueError saying what is wrong (the caller locates it)."""
    if not isinstance(text, str):
        raise ValueError("a claim is text like 'model.args.dropout=0.3 > model.args.dropout=0.0'")
    match = _CLAIM.match(text)
    if match is None:
        raise ValueError(f"expected 'KEY=VALUE OP KEY=VALUE' with OP one of "
                         f"{', '.join(OPERATORS)} (for example 'model.args.dropout=0.3 > "
                         "model.args.dropout=0.0'), got {text!r}")
    a, b = _assignments(match["a"]), _assignments(match["b"])
    op = match["op"]
    if a == b:
        raise ValueError("both sides are the same configuration")
    if set(a) != set(b):
        raise ValueError(f"both sides must set the same keys ({', '.join(a)} vs "
                         f"{', '.join(b)}): a claim compares values of the same attributes")
    if op in ("~", ">=") and (margin is None or not math.isfinite(margin) or margin <= 0):
        raise ValueError(f"'{op}' needs a margin > 0: the difference that does not matter "
                         "(in the objective's units)")
    if op in (">", "<") and (not math.isfinite(by) or by < 0):
        raise ValueError(f"'by' must be a finite number >= 0, got {by}")
    return Claim(text.strip(), a, op, b, by, margin)


def _assignments(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key or not all(p.isidentifier() for p in key.split(".")):
            raise ValueError(f"{part.strip()!r} is not KEY=VALUE (for example "
                             "model.args.dropout=0.3)")
        if key in found:
            raise ValueError(f"{key} is set twice on one side")
        try:
            found[key] = load_yaml(value.strip()) if value.strip() else None
        except Exception as exc:  # noqa: BLE001 - any YAML error is the user's value
            raise ValueError(f"cannot read the value of {key}: {value.strip()!r} ({exc})") \
                from None
    return found


@dataclass(frozen=True)
class ClaimDecision:
    """Where one claim stands after the seeds run so far."""

    verdict: Verdict | None  # None: still adding seeds
    seeds: int  # seeds run or running on the claim's two configurations, at most
    interval: Interval  # of d (positive: A better) over the seeds complete on both sides
    alpha: float  # the level of this claim's interval (alpha over the claims)
    left_out: int = 0  # finished seeds with no value on a side (failed, pruned, no metric)

    def text(self) -> str:
        iv = self.interval
        numbers = (f"{iv.estimate:+.4g} [{iv.low:+.4g}, {iv.high:+.4g}]" if iv.n >= 2
                   and math.isfinite(iv.low) else f"{iv.n} complete pair(s)")
        decided = self.verdict in (Verdict.SUPPORTED, Verdict.REFUTED)
        after = seeds_text(iv.n, self.seeds) if decided else f"{self.seeds} seeds"
        verdict = self.verdict.value if self.verdict is not None else "undecided so far"
        text = f"{verdict} after {after}: A - B = {numbers} (A better: +)"
        if self.left_out:
            text += (f"; {self.left_out} seed(s) left out: a trial with no value of the "
                     "objective (failed or pruned)")
        return text


def claim_decision(claim: Claim, a: Values, b: Values, running_a: Iterable[int],
                   running_b: Iterable[int], least: int, most: int, alpha: float,
                   mode: str) -> ClaimDecision:
    """The claim's verdict from each side's values by seed (None: a trial with no value)
    and the seeds still running on each side. Only the seeds both sides have count (a
    configuration shared with another claim may have more); the verdict is read only when
    all of them have finished, so each look sees a whole prefix of the seeds, and only
    after `least` of them."""
    common = (set(a) | set(running_a)) & (set(b) | set(running_b))
    a = {s: v for s, v in a.items() if s in common}
    b = {s: v for s, v in b.items() if s in common}
    running = (set(running_a) | set(running_b)) & common
    sign = 1.0 if mode == "max" else -1.0
    pairs = sorted(s for s, v in a.items() if v is not None and b.get(s) is not None)
    diffs = [sign * (a[s] - b[s]) for s in pairs]
    left_out = sum(1 for s in common if s in a and s in b and s not in pairs)
    if len(common) < least or running:
        return ClaimDecision(None, len(common), interval(diffs, alpha, least, most), alpha,
                             left_out)
    iv, verdict = first_look(diffs, alpha, least, most, claim.judge)
    if verdict is None and (len(common) >= most or iv.n == 0):
        verdict = Verdict.UNDECIDED
    return ClaimDecision(verdict, len(common), iv, alpha, left_out)


def guarantee(alpha: float, claims: int) -> str:
    """The error guarantee in one sentence."""
    each = alpha / max(claims, 1)
    return (f"The chance that any verdict here is wrong is at most {alpha:g} (each of the "
            f"{claims} claim(s) at {each:.3g}, Bonferroni), whatever the number of seeds run: "
            "the intervals are repeated confidence intervals of a group-sequential design "
            "(docs/studies.md).")


Placed = list[tuple[Claim, int, int]]  # each claim with its A and B configuration numbers


def configurations(claims: list[Claim], own: Callable[[str], Any],
                   ) -> tuple[list[dict[str, Any]], Placed]:
    """The configurations the claims name, each once in the order they are named: every
    key any claim sets, at the side's value or else the recipe's own (`own(key)`)."""
    keys = list(dict.fromkeys(k for claim in claims for k in (*claim.a, *claim.b)))
    points: list[dict[str, Any]] = []
    placed: Placed = []
    for claim in claims:
        numbers = []
        for side in (claim.a, claim.b):
            params = {k: side[k] if k in side else own(k) for k in keys}
            if params not in points:
                points.append(params)
            numbers.append(points.index(params))
        placed.append((claim, *numbers))
    return points, placed


def claims_of(recipe: dict[str, Any]) -> tuple[list[Claim], float] | None:
    """The claims of a recipe written as plain data (a study's study.yaml) and its alpha;
    None without a readable hypothesis."""
    section = recipe.get("hypothesis")
    if not isinstance(section, dict) or not isinstance(section.get("claims"), list):
        return None
    try:
        claims = [parse_claim(c["claim"], float(c.get("by") or 0.0), c.get("margin"))
                  for c in section["claims"]]
    except (ValueError, KeyError, TypeError):
        return None
    return claims, float(section.get("alpha", 0.05))


def read_verdicts(recipe: dict[str, Any], entries: list[dict[str, Any]], mode: str,
                  ) -> list[tuple[Claim, ClaimDecision]]:
    """Each claim's decision from a study's files: its recipe (study.yaml) and its index
    entries (params, seed, state, value), as the run decides it; [] without claims."""
    found = claims_of(recipe)
    if found is None:
        return []
    claims, alpha = found
    seeds = (recipe.get("study") or {}).get("seeds")
    least, most = ((int(seeds.get("min", 3)), int(seeds.get("max", 12)))
                   if isinstance(seeds, dict) else (len(seeds or [0]),) * 2)
    points, placed = configurations(claims, lambda key: dotted.get(recipe, key))
    finished: list[Values] = [{} for _ in points]
    running: list[set[int]] = [set() for _ in points]
    for entry in entries:
        params = {k: (entry.get("params") or {}).get(k) for k in (points[0] if points else {})}
        if params not in points:
            continue
        number, seed = points.index(params), entry.get("seed")
        state = entry.get("state")
        if state in UNFINISHED:
            running[number].add(seed)
        else:
            value = entry.get("value")
            finished[number][seed] = value if state == RecordState.COMPLETED and \
                isinstance(value, int | float) else None
    return [(claim, claim_decision(claim, finished[a], finished[b], running[a], running[b],
                                   least, most, alpha / len(claims), mode))
            for claim, a, b in placed]


