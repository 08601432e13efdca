"""Read a recipe's YAML safely and remember the line of every key.

OmegaConf keeps no line numbers, so errors could not say where a mistake is. We compose
the YAML node tree ourselves (safe loader, YAML 1.2 core schema: see
model_trainer/yaml_rules.py) and map each dotted key to its 1-based line.

A recipe is untrusted input, so reading it is bounded: its size, how deep it nests and
how many values it holds once YAML aliases are expanded (a few hundred bytes of nested
aliases otherwise expand to billions of values). Each limit is a located error, raised
as soon as it is crossed.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model_trainer.errors import RecipeIssue, UsageError
from model_trainer.yaml_rules import MAP_TAG, MERGE_TAG, SCALAR_TAGS, SEQ_TAG, StrictLoader

MAX_BYTES = 256 * 1024  # recipes are a few KiB; this bounds the parse to about a second
MAX_DEPTH = 64  # nesting levels
MAX_VALUES = 10_000  # values after expanding aliases, over a recipe and all its bases


@dataclass
class YamlSource:
    """A parsed YAML document and where each of its dotted keys stands."""

    data: Any
    name: str
    lines: dict[str, int | None] = field(default_factory=dict)
    issues: list[RecipeIssue] = field(default_factory=list)
    values: int = 0  # how many values it holds, aliases expanded


class _LimitReached(Exception):
    def __init__(self, message: str, line: int | None, key: str = ""):
        super().__init__(message)
        self.line, self.key = line, key


class _BoundedLoader(StrictLoader):
    """Stops composing at MAX_DEPTH levels, before Python's own recursion limit."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _LimitReached(f"the recipe nests deeper than the limit of {MAX_DEPTH} "
                                    "levels", self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def parse_yaml_text(text: str, name: str, budget: int = MAX_VALUES) -> YamlSource:
    """Parse YAML text into plain data plus a key -> line map; every problem is an issue.

    `budget` is how many values the document may hold (what its bases left of MAX_VALUES).
    """
    source = YamlSource(data=None, name=name)
    if len(text) > MAX_BYTES:
        source.issues.append(RecipeIssue("", _too_big(len(text.encode())), name))
        return source
    try:
        node = yaml.compose(text, Loader=_BoundedLoader)
        source.data = {} if node is None else _Builder(source, budget).build(node, "")
    except _LimitReached as exc:
        source.issues.append(RecipeIssue(exc.key, str(exc), name, exc.line))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        source.issues.append(RecipeIssue("", f"invalid YAML: {problem}", name, line))
    return source


def read_yaml_file(path: str | Path, budget: int = MAX_VALUES) -> YamlSource:
    """Read a recipe file; a missing or unreadable file is a usage error."""
    path = Path(path)
    kind = _not_a_file(path)
    if kind:
        raise UsageError(f"recipe {path} is {kind}, not a file")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)  # bounded
    except FileNotFoundError:
        raise UsageError(f"recipe file not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"recipe path is a directory, not a YAML file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read recipe {path}: {exc}") from None
    if len(raw) > MAX_BYTES:
        size = path.stat().st_size or None  # a /proc file says 0 and has no end
        return YamlSource(None, str(path), issues=[RecipeIssue("", _too_big(size), str(path))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read recipe {path}: not UTF-8 text ({exc.reason})") from None
    return parse_yaml_text(text, str(path), budget)


def _not_a_file(path: Path) -> str | None:
    """What `path` is when it is neither a regular file nor a folder (a named pipe or a
    device would be read forever, or block until someone writes to it)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # opening it says what is wrong
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def _too_big(size: int | None) -> str:
    what = f"is {size / 1024:,.0f} KiB" if size is not None else "does not end"
    return f"the file {what}; a recipe may be at most {MAX_BYTES // 1024} KiB"


class _Builder:
    """Plain Python data from a node tree, recording lines, duplicate keys and bad tags."""

    def __init__(self, source: YamlSource, budget: int):
        self.source, self.budget = source, budget

    def build(self, node: yaml.Node, key: str) -> Any:
        source = self.source
        source.values += 1
        if source.values > self.budget:  # aliases may repeat a node any number of times
            top = key.split(".")[0]  # list items under aliases carry the anchor's line
            raise _LimitReached(f"the recipe holds more than the limit of {MAX_VALUES} values "
                                "(YAML aliases expanded, bases included)", source.lines.get(top),
                                top)
        if isinstance(node, yaml.MappingNode):
            self._check_tag(node, MAP_TAG, key)
            return self._mapping(node, key)
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, SEQ_TAG, key)
            items = []
            for i, item in enumerate(node.value):
                dotted = f"{key}.{i}" if key else str(i)
                source.lines.setdefault(dotted, item.start_mark.line + 1)
                items.append(self.build(item, dotted))
            return items
        return self._scalar(node, key)

    def _mapping(self, node: yaml.MappingNode, key: str) -> dict[str, Any]:
        source, result = self.source, {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == MERGE_TAG:
                source.issues.append(RecipeIssue(key, "YAML merge keys (<<) are not supported; "
                                                 "use extends", source.name, line))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                source.issues.append(RecipeIssue(key, "keys must be strings, got a collection",
                                                 source.name, line))
                continue
            name = self._scalar(key_node, key)
            dotted = f"{key}.{name}" if key else str(name)
            if not isinstance(name, str):
                source.issues.append(RecipeIssue(
                    dotted, f"keys must be strings, got {type(name).__name__} {name!r}",
                    source.name, line))
                continue
            if name in result:
                source.issues.append(RecipeIssue(
                    dotted, f"duplicate key (first at line {source.lines[dotted]})", source.name,
                    line))
                continue
            source.lines[dotted] = line
            result[name] = self.build(value_node, dotted)
        return result

    def _scalar(self, node: yaml.Node, key: str) -> Any:
        if node.tag not in SCALAR_TAGS:
            self._check_tag(node, "", key)
            return None
        loader = StrictLoader("")
        try:
            return loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError) as exc:
            self.source.issues.append(RecipeIssue(
                key, f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}: {exc}",
                self.source.name, node.start_mark.line + 1))
            return None
        finally:
            loader.dispose()

    def _check_tag(self, node: yaml.Node, expected: str, key: str) -> None:
        if node.tag != expected:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.source.issues.append(RecipeIssue(
                key, f"unsupported YAML tag {tag} (a recipe holds null, booleans, numbers, "
                "strings, lists and mappings)", self.source.name, node.start_mark.line + 1))
