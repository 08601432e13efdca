"""Imports point one way: each layer of the package imports only the layers below it.

    errors, vocabulary, layout, files, dotted, metrics_file, locks, journal, processes,
    yaml_rules, sequential, hypothesis, callbacks   (plain helpers: the standard library, PyYAML and each other
    only; sequential and hypothesis: the decisions a study and its readers share)
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
        "journal", "processes", "yaml_rules", "sequential", "hypothesis", "callbacks"}
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


IMPORTERS = {"import_module", "__import__", "find_spec"}  # calls that import a named module


def imports(tree: ast.AST, module: str = "") -> list[str]:
    """Modules imported anywhere in the file of `module`, except inside `if TYPE_CHECKING:`:
    import statements (relative ones resolved), names given to importlib.import_module,
    __import__ or find_spec (an f-string counts by its constant prefix), and the module
    names of a PRELOAD list (imported by a forkserver)."""
    found = []
    package = module.split(".")[:-1]  # a package's own __init__ counts as inside it

    def named(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr) and node.values and \
                isinstance(node.values[0], ast.Constant):
            return node.values[0].value.rsplit(".", 1)[0]  # f"model_trainer.recipe.{x}"
        return None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[:len(package) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            found.extend([base] + [f"{base}.{a.name}" for a in node.names])
        elif isinstance(node, ast.Call) and node.args and \
                getattr(node.func, "attr", getattr(node.func, "id", None)) in IMPORTERS:
            found.extend(name for name in [named(node.args[0])] if name)
        elif isinstance(node, ast.Assign) and any(
                getattr(t, "id", "").endswith("PRELOAD") for t in node.targets):
            found.extend(name for elt in getattr(node.value, "elts", []) if (name := named(elt)))
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
        for name in imports(ast.parse(path.read_text()), module):
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


def test_the_checker_sees_relative_imports_and_modules_named_in_strings():
    code = ("from ..study import runner\n"
            "from . import loop\n"
            "importlib.import_module('model_trainer.cli.app')\n"
            "importlib.import_module(f'model_trainer.analysis.{name}')\n"
            "PRELOAD = ['torch', 'model_trainer.api']\n")
    found = imports(ast.parse(code), "model_trainer.train.loop")
    assert found == ["model_trainer.study", "model_trainer.study.runner", "model_trainer.train",
                     "model_trainer.train.loop", "model_trainer.cli.app",
                     "model_trainer.analysis", "torch", "model_trainer.api"]
    package = imports(ast.parse("from .markers import Derived\n"), "model_trainer.recipe.__init__")
    assert package == ["model_trainer.recipe.markers", "model_trainer.recipe.markers.Derived"]


def test_no_two_modules_share_a_name():
    """A name says one job across the package (cli/ files are named by their command)."""
    seen: dict[str, list[str]] = {}
    for path in ROOT.rglob("*.py"):
        if path.name != "__init__.py" and path.parent.name != "cli":
            seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
