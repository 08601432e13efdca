"""Command-line overrides (`KEY=VALUE`, OmegaConf's dotlist grammar).

As in OmegaConf's dotlist, VALUE is a YAML value: `lr=1e-3` is a float, `hidden=128` an
int, `name='5'` a string, `metrics=[accuracy,mse]` a list. It is parsed by the same
strict YAML rules as the recipe file (OmegaConf's own parser would turn `yes` and `off`
into booleans). Each override is then merged on top of the recipe's files like one more
layer (see merge.py); type checks follow, and each failure names the override.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model_trainer.errors import RecipeIssue
from model_trainer.recipe.yaml_source import parse_yaml_text

SPACE = ("study", "space")  # the search space: its keys are dotted recipe keys


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


def key_path(key: str) -> list[str]:
    """The parts of a dotted key; a search-space entry is one part, as its name has dots:
    `study.space.model.args.hidden` -> ['study', 'space', 'model.args.hidden']."""
    parts = key.split(".")
    if parts[:2] == list(SPACE) and len(parts) > 2:
        return [*SPACE, ".".join(parts[2:])]
    return parts


def as_layer(override: Override) -> dict[str, Any]:
    """The override as a nested mapping, to merge on top of the recipe's files."""
    value: Any = override.value
    for part in reversed(key_path(override.key)):
        value = {part: value}
    return value
