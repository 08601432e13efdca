"""Sweeps from the command line (`mtrain run recipe.yaml -m KEY=V1,V2 ...`), as Hydra's
multirun: an override with several comma-separated values becomes a grid dimension.

`model.args.hidden=32,64` sets `study.space.model.args.hidden: {choice: [32, 64]}` and
`seed=0,1` sets `study.seeds: [0, 1]`, so a sweep is exactly the study one would write in
YAML (the same trial ids). A recipe without a study section gets the default one (the
grid sampler); one with a study section gets these dimensions added to its space. Commas
inside brackets or quotes do not split: `train.metrics=[accuracy,mse],[mse]` sweeps two
lists. Each value is parsed like any override's value.
"""

from __future__ import annotations

from model_trainer.errors import RecipeIssue
from model_trainer.recipe.overrides import Override
from model_trainer.recipe.yaml_source import parse_yaml_text

_OPEN, _CLOSE = "[{(", "]})"


def as_sweeps(overrides: list[Override]) -> tuple[list[Override], bool, list[RecipeIssue]]:
    """The overrides with each multi-valued one turned into its study setting; whether
    any was; the problems with their values."""
    result, issues, swept = [], [], False
    for override in overrides:
        items = split_values(override.text.partition("=")[2])
        if len(items) < 2:
            result.append(override)
            continue
        swept = True
        values = []
        for item in items:
            parsed = parse_yaml_text(item, override.source)
            if parsed.issues or not item.strip():
                problem = parsed.issues[0].message if parsed.issues else "an empty value"
                issues.append(RecipeIssue(override.key, f"cannot parse the value {item!r}: "
                                          f"{problem}", override.source))
            values.append(parsed.data)
        if override.key == "seed":
            result.append(Override("study.seeds", values, override.text))
        else:
            result.append(Override(f"study.space.{override.key}", {"choice": values},
                                   override.text))
    return result, swept, issues


def split_values(text: str) -> list[str]:
    """Split at the commas that are outside brackets and quotes."""
    items, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items
