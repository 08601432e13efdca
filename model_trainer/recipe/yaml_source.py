"""Read a recipe's YAML safely and remember the line of every key.

OmegaConf keeps no line numbers, so errors could not say where a mistake is. We compose
the YAML node tree ourselves (safe loader only: no Python tags) and map each dotted key
to its 1-based line. Booleans and floats follow YAML 1.2: `yes`/`on` stay strings (and
then fail type checks) and `1e-3` is a float, as a researcher expects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model_trainer.errors import RecipeIssue, UsageError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema booleans and floats."""


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


@dataclass
class YamlSource:
    """A parsed YAML document and where each of its dotted keys stands."""

    data: Any
    name: str
    lines: dict[str, int] = field(default_factory=dict)
    issues: list[RecipeIssue] = field(default_factory=list)

    def line_of(self, key: str) -> int | None:
        """The line of `key`, or of its nearest ancestor written in the file."""
        parts = key.split(".")
        while parts:
            found = self.lines.get(".".join(parts))
            if found is not None:
                return found
            parts.pop()
        return None


def parse_yaml_text(text: str, name: str) -> YamlSource:
    """Parse YAML text into plain data plus a key -> line map; syntax errors are issues."""
    source = YamlSource(data=None, name=name)
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        source.issues.append(RecipeIssue("", f"invalid YAML: {problem}", name, line))
        return source
    if node is None:
        source.data = {}
        return source
    source.data = _construct(node, "", source)
    return source


def read_yaml_file(path: str | Path) -> YamlSource:
    """Read a recipe file; a missing or unreadable file is a usage error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"recipe file not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"recipe path is a directory, not a YAML file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read recipe {path}: {exc}") from None
    return parse_yaml_text(text, str(path))


def _construct(node: yaml.Node, key: str, source: YamlSource) -> Any:
    """Build plain Python data from a node, recording lines and duplicate keys."""
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                source.issues.append(
                    RecipeIssue(key, "YAML merge keys (<<) are not supported", source.name,
                                key_node.start_mark.line + 1)
                )
                continue
            name = _scalar(key_node)
            dotted = f"{key}.{name}" if key else str(name)
            line = key_node.start_mark.line + 1
            if not isinstance(name, str):
                source.issues.append(
                    RecipeIssue(dotted, f"keys must be strings, got {type(name).__name__} {name!r}",
                                source.name, line)
                )
                continue
            if name in result:
                source.issues.append(
                    RecipeIssue(dotted, f"duplicate key (first at line {source.lines[dotted]})",
                                source.name, line)
                )
                continue
            source.lines[dotted] = line
            result[name] = _construct(value_node, dotted, source)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            dotted = f"{key}.{i}" if key else str(i)
            source.lines.setdefault(dotted, item.start_mark.line + 1)
            items.append(_construct(item, dotted, source))
        return items
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return repr(node)  # a mapping used as a key: reported as a non-string key
    loader = _StrictLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
