"""Imports point one way: each layer of the package imports only the layers below it.

    errors, vocabulary, layout, files, dotted, metrics_file, locks, journal, processes,
    yaml_rules   (plain helpers: the standard library, PyYAML and each other only)
    < watch < recipe < train < wrapper < trial < study < api < cli
    (analysis reads files only; watch reads files only and stays light for `mtrain status`)

Imports under `if TYPE_CHECKING:` are for annotations and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import model_trainer

ROOT = Path(model_trainer.__file__).parent
BASE = {"errors", "vocabulary", "layout", "files", "dotted", "metrics_file", "locks",
        "journal", "processes", "yaml_rules"}
ORDER = ["base", "watch", "recipe", "train", "wrapper", "trial", "study", "api", "cli"]
ANALYSIS_MAY_USE = {"base", "analysis"}


def layer(module: str) -> str | None:
    """The layer of `model_trainer.x.y` (None for the package root and the examples)."""
    parts = module.split(".")
    if parts[0] != "model_trainer" or len(parts) == 1:
        return None
    top = parts[1]
    if top in BASE:
        return "base"
    return top if top in ORDER or top == "analysis" else None


def imports(tree: ast.AST) -> list[str]:
    """Modules imported anywhere in the file, except inside `if TYPE_CHECKING:`."""
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend([node.module] + [f"{node.module}.{a.name}" for a in node.names])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_every_import_points_down_the_layers():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        module = "model_trainer." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
        mine = layer(module)
        if mine is None:
            continue
        for name in imports(ast.parse(path.read_text())):
            theirs = layer(name)
            if theirs is None or theirs == mine:
                continue
            if mine == "analysis":
                ok = theirs in ANALYSIS_MAY_USE
            elif theirs == "analysis":
                ok = mine == "cli"
            else:
                ok = ORDER.index(theirs) < ORDER.index(mine)
            if not ok:
                wrong.append(f"{module} ({mine}) imports {name} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_an_upward_import():
    tree = ast.parse("from model_trainer.trial.rank import train_rank\n"
                     "if TYPE_CHECKING:\n    from model_trainer.cli import app\n")
    assert imports(tree) == ["model_trainer.trial.rank", "model_trainer.trial.rank.train_rank"]
    assert layer("model_trainer.trial.rank") == "trial" and layer("model_trainer.files") == "base"
