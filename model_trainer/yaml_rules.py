"""YAML 1.2 core-schema rules for every recipe-like file we read, and a writer whose
output reads back the same.

PyYAML follows YAML 1.1, where `yes` and `off` are booleans, `1:20` is the integer 80,
`017` is octal, `1e3` is a string and `2024-01-01` is a date. A researcher reads those as
a string, a string, 17, a float and a string, as YAML 1.2 does, so the loaders recognise
only the 1.2 core schema: null, true/false, decimal/0o/0x integers, floats (with .inf and
.nan), strings. Recipes, a trial's recipe.yaml, study.yaml and the analysis all read by
these rules, so one file never means two things.
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
_RESOLVERS = (
    ("null", _NULL, ["~", "n", "N", ""]),
    ("bool", _BOOL, list("tTfF")),
    ("int", _INT, list("-+0123456789")),
    ("float", _FLOAT, list("-+0123456789.")),
    ("merge", re.compile(r"^<<$"), ["<"]),  # recognised only to be rejected with a clear line
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    prefixed = text.lstrip("+-")[:2] in ("0o", "0x")
    return int(text, 0) if prefixed else int(text, 10)  # 1.2: `017` is seventeen


def _strict(loader: type) -> type:
    """`loader` resolving plain scalars by the YAML 1.2 core schema only."""
    loader.yaml_implicit_resolvers = {}
    for tag, pattern, first in _RESOLVERS:
        loader.add_implicit_resolver(f"{_CORE}{tag}", pattern, first)
    loader.add_constructor(f"{_CORE}int", _construct_int)
    return loader


@_strict
class StrictLoader(yaml.SafeLoader):
    """SafeLoader that resolves plain scalars by the YAML 1.2 core schema only."""


# The same rules on PyYAML's C parser when it is built: about ten times faster, which
# `mtrain analyze` reading thousands of recipe.yaml files needs.
FastStrictLoader = _strict(type("FastStrictLoader", (yaml.CSafeLoader,), {})) \
    if hasattr(yaml, "CSafeLoader") else StrictLoader


def load_yaml(text: str | bytes) -> Any:
    """One YAML document read by the strict rules (yaml.YAMLError when it is not YAML)."""
    return yaml.load(text, Loader=FastStrictLoader)


class QuotingDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """Quotes every string that YAML 1.1 or 1.2 would read as something else (`yes`,
    `0o17`, `1e5`), so the file reads back the same with either rule set. On PyYAML's C
    emitter when it is built (the same text, 4x faster: every trial writes its recipe)."""


QuotingDumper.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
}
for _first, _resolvers in StrictLoader.yaml_implicit_resolvers.items():
    QuotingDumper.yaml_implicit_resolvers.setdefault(_first, []).extend(_resolvers)


def dump_yaml(data: Any, flow: bool = False) -> str:
    """Plain data as YAML in key order (block style, or one line with `flow`), readable
    back by the strict loader."""
    text = yaml.dump(data, Dumper=QuotingDumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=flow, width=2**31 - 1 if flow else None)
    return text.removesuffix("\n").removesuffix("\n...") if flow else text
