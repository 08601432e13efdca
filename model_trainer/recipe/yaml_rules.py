"""YAML 1.2 core-schema rules for reading recipes, and a writer whose output reads back.

PyYAML follows YAML 1.1, where `yes` and `off` are booleans, `1:20` is the integer 80,
`017` is octal and `2024-01-01` is a date. A researcher reads those as a string, a
string, 17 and a string, as YAML 1.2 does, so the loader recognises only the 1.2 core
schema: null, true/false, decimal/0o/0x integers, floats (with .inf and .nan), strings.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_CORE = "tag:yaml.org,2002:"
SCALAR_TAGS = {f"{_CORE}{name}" for name in ("null", "bool", "int", "float", "str")}
MAP_TAG, SEQ_TAG, MERGE_TAG = f"{_CORE}map", f"{_CORE}seq", f"{_CORE}merge"

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that resolves plain scalars by the YAML 1.2 core schema only."""


StrictLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("null", _NULL, ["~", "n", "N", ""]),
    ("bool", _BOOL, list("tTfF")),
    ("int", _INT, list("-+0123456789")),
    ("float", _FLOAT, list("-+0123456789.")),
    ("merge", re.compile(r"^<<$"), ["<"]),  # recognised only to be rejected with a clear line
):
    StrictLoader.add_implicit_resolver(f"{_CORE}{_tag}", _pattern, _first)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    prefixed = text.lstrip("+-")[:2] in ("0o", "0x")
    return int(text, 0) if prefixed else int(text, 10)  # 1.2: `017` is seventeen


StrictLoader.add_constructor(f"{_CORE}int", _construct_int)


class QuotingDumper(yaml.SafeDumper):
    """Quotes every string that YAML 1.1 or 1.2 would read as something else (`yes`,
    `0o17`, `1e5`), so the file reads back the same with either rule set."""


QuotingDumper.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
}
for _first, _resolvers in StrictLoader.yaml_implicit_resolvers.items():
    QuotingDumper.yaml_implicit_resolvers.setdefault(_first, []).extend(_resolvers)


def dump_yaml(data: Any) -> str:
    """Plain data as block YAML in key order, readable back by the strict loader."""
    return yaml.dump(data, Dumper=QuotingDumper, sort_keys=False, allow_unicode=True)
