"""Command-line overrides in Hydra's grammar, read by Hydra's own parser.

`KEY=VALUE` sets (or adds) a value, `+KEY=VALUE` adds a key that is not there yet,
`++KEY=VALUE` sets or adds, `~KEY` (or `~KEY=VALUE`) deletes a key the recipe or a base
wrote. VALUE is read as Hydra reads it: `1e-3` a float, `true` a bool, `null`, `[1,2]` a
list, `{a: 1}` a mapping, `'5'` the text 5, `a\\,b` an escaped comma, `${...}` an
interpolation. Several values (`8,16`, `range(0,3)`, `choice(a,b)`, `interval(0,1)`,
`glob(*)`) are a sweep, which needs `-m` (recipe/sweep.py). Each override is then merged on
top of the recipe's files like one more layer (recipe/merge.py); every error names it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from model_trainer.errors import RecipeIssue
from model_trainer.recipe.yaml_source import MAX_BYTES, MAX_DEPTH

SPACE = ("study", "space")  # the search space: its keys are dotted recipe keys


class Action(StrEnum):
    SET = "set"  # KEY=VALUE and ++KEY=VALUE: set, or add where it is not there
    ADD = "add"  # +KEY=VALUE: add; an error where it is there
    DELETE = "delete"  # ~KEY, ~KEY=VALUE: delete (the value, when given, must match)


ANY_VALUE = object()  # `~KEY` deletes whatever value KEY has


@dataclass(frozen=True)
class Override:
    key: str
    value: Any
    text: str  # as the user typed it
    action: Action = Action.SET

    @property
    def source(self) -> str:
        return f"override '{self.text}'"


@dataclass(frozen=True)
class Sweep:
    """An override with several values (`-m` only): Hydra's parsed form, read by sweep.py."""

    key: str
    parsed: Any  # hydra's Override
    text: str

    @property
    def source(self) -> str:
        return f"override '{self.text}'"


def parse_overrides(texts: list[str]) -> tuple[list[Override | Sweep], list[RecipeIssue]]:
    """Parse each override with Hydra's parser; a malformed one is an issue naming it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed: list[Override | Sweep] = []
    issues = []
    for text in texts:
        where = f"override '{text}'"
        if "=" not in text and not text.startswith("~"):
            issues.append(RecipeIssue("", "expected KEY=VALUE (for example train.epochs=5)",
                                      where))
            continue
        key = text.partition("=")[0].lstrip("+~")
        if len(text) > MAX_BYTES:
            issues.append(RecipeIssue(key, f"longer than the limit of {MAX_BYTES // 1024} KiB",
                                      where))
            continue
        try:
            override = parser.parse_override(text)
        except HydraException as exc:
            issues.append(RecipeIssue(key, f"cannot parse: {str(exc).splitlines()[0]}"
                                      f"{_quote_hint(text)}", where))
            continue
        except RecursionError:
            override = None
        if override is None or _depth(override.value()) > MAX_DEPTH:
            issues.append(RecipeIssue(key, f"the value nests deeper than the limit of "
                                      f"{MAX_DEPTH} levels", where))
            continue
        key = override.key_or_group
        if override.package is not None:
            issues.append(RecipeIssue(key, "Hydra's packages (KEY@PACKAGE) are not used here: "
                                      "write the full dotted key", where))
        elif override.is_delete():
            value = ANY_VALUE if override.value_type is None else plain(override.value())
            parsed.append(Override(key, value, text, Action.DELETE))
        elif override.is_sweep_override():
            parsed.append(Sweep(key, override, text))
        else:
            action = Action.ADD if override.is_add() else Action.SET
            parsed.append(Override(key, plain(override.value()), text, action))
    return parsed, issues


def _quote_hint(text: str) -> str:
    """Hydra's grammar ends an unquoted `${...}` at its first `}`, so a nested
    interpolation parses only inside quotes (in a recipe file it needs none)."""
    head, _, value = text.partition("=")
    starts = [m.start() for m in re.finditer(r"\$\{", value)]
    nested = any(-1 < value.find("${", i + 2) < value.find("}", i) for i in starts)
    if not nested or value[:1] in "'\"":
        return ""
    shell = shlex.quote(f"{head}=\"{value}\"")  # Hydra's quotes, kept by the shell's
    return f" (a nested interpolation must be quoted on the command line: {shell})"


def plain(value: Any) -> Any:
    """A value of Hydra's parser as plain data (its quoted strings as `str`)."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    text = getattr(value, "text", None)  # hydra's QuotedString
    return text if isinstance(text, str) and not isinstance(value, str) else value


def _depth(value: Any) -> int:
    """How deep a parsed value nests (lists and mappings)."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) \
        else None
    return 0 if items is None else 1 + max((_depth(v) for v in items), default=0)


def key_path(key: str) -> list[str]:
    """The parts of a dotted key; a search-space entry is one part, as its name has dots:
    `study.space.model.args.hidden` -> ['study', 'space', 'model.args.hidden']."""
    parts = key.split(".")
    if parts[:2] == list(SPACE) and len(parts) > 2:
        return [*SPACE, ".".join(parts[2:])]
    return parts


def as_layer(key: str, value: Any) -> dict[str, Any]:
    """A value at a dotted key as a nested mapping, to merge on top of the recipe's files."""
    for part in reversed(key_path(key)):
        value = {part: value}
    return value
