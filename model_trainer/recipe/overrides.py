"""Command-line overrides (`KEY=VALUE`, OmegaConf's dotlist grammar) applied to raw data.

As in OmegaConf's dotlist, VALUE is a YAML value: `lr=1e-3` is a float, `hidden=128` an
int, `name='5'` a string, `metrics=[accuracy,mse]` a list. It is parsed by the same
strict YAML rules as the recipe file (OmegaConf's own parser would turn `yes` and `off`
into booleans); type checks follow, and each failure names the override.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from model_trainer.errors import RecipeIssue
from model_trainer.recipe.yaml_source import parse_yaml_text


@dataclass(frozen=True)
class Override:
    key: str
    value: Any
    text: str  # as the user typed it

    @property
    def source(self) -> str:
        return f"override '{self.text}'"


def parse_overrides(texts: list[str]) -> tuple[list[Override], list[RecipeIssue]]:
    """Parse each `KEY=VALUE`; malformed ones become issues naming the override."""
    parsed, issues = [], []
    for text in texts:
        where = f"override '{text}'"
        key, sep, value_text = text.partition("=")
        key = key.strip()
        if not sep or not key:
            issues.append(RecipeIssue("", "expected KEY=VALUE (for example train.epochs=5)", where))
            continue
        if any(not part.isidentifier() for part in key.split(".")):
            issues.append(RecipeIssue(key, "not a dotted key like train.optimizer.lr", where))
            continue
        value = parse_yaml_text(value_text, where)
        if value.issues:
            problem = value.issues[0].message
            issues.append(RecipeIssue(key, f"cannot parse the value: {problem}", where))
            continue
        parsed.append(Override(key, None if value_text.strip() == "" else value.data, text))
    return parsed, issues


def apply_overrides(data: dict, overrides: list[Override]) -> tuple[dict, list[RecipeIssue]]:
    """Return a copy of `data` with each override set; a path through a non-mapping is an issue."""
    data = copy.deepcopy(data)
    issues = []
    for override in overrides:
        node = data
        parts = override.key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                issues.append(RecipeIssue(
                    override.key, f"cannot set a key inside '{prefix}': it is not a mapping",
                    override.source,
                ))
                break
            node = child
        else:
            node[parts[-1]] = override.value
    return data, issues
