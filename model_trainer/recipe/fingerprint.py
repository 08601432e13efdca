"""The code and data a recipe runs, fingerprinted: same id, same code, same numbers.

Code: the modules the recipe's dotted paths name (the model, its config, the data
factory, the wrapper, custom optimizers, schedulers and metrics), and every module they
import, statically, from outside the Python installation and outside model_trainer (the
user's own code, found on sys.path as the run would find it). A module named by the
recipe that lives in an installed package counts too (its imports do not: the package's
version is in the trial's provenance). Each module's source is hashed as its syntax tree
without docstrings, so comments, docstrings and formatting do not count; each top-level
function, class and method is hashed too, so a change can be named. Nothing is imported:
the files are found with importlib's path finder and parsed.

Data: every string in the recipe's `model` and `data` sections that names an existing file
or folder: a file by its size and a hash of a bounded sample (its start, end and three
places between), a folder by its listing (names and sizes, at most MAX_LISTED files). A
data factory with data that is not a file declares its own: a `fingerprint(config) -> str`
attribute on the factory.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_trainer.recipe import names

SAMPLE_BYTES = 1 << 16  # read at the start, the end and three places between
MAX_LISTED = 10_000  # files of a folder whose names and sizes count
MAX_MODULES = 500  # user modules followed from the recipe's (a bound, not a goal)
_OURS = str(Path(__file__).resolve().parents[1]) + os.sep
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"  # ast.dump differs by version
_parsed: dict[tuple[str, str, int, int], dict[str, Any]] = {}  # (file, name, size, mtime)


@dataclass
class Fingerprint:
    """The code (and data) a recipe runs: a digest and what it is made of."""

    modules: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> file, hash, defs
    data: dict[str, dict[str, Any]] = field(default_factory=dict)  # where -> size/sample/...
    python: str = field(default_factory=lambda: PYTHON)  # syntax trees differ between them

    @property
    def digest(self) -> str:
        parts = {"code": {n: m["hash"] for n, m in self.modules.items()},
                 "data": {k: stamp_content(v) for k, v in self.data.items()}}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "python": self.python, "modules": self.modules,
                "data": self.data}

    @classmethod
    def from_dict(cls, data: Any) -> Fingerprint | None:
        if not isinstance(data, dict) or not isinstance(data.get("modules"), dict):
            return None
        return cls(data["modules"], data.get("data") if isinstance(data.get("data"), dict)
                   else {}, str(data.get("python") or PYTHON))

    def same_as(self, old: Fingerprint) -> bool:
        """The same code, and the same content at every data path both name (a path
        that did not exist before is not a change: the run may have made it)."""
        return not self.changes_since(old)

    def changes_since(self, old: Fingerprint) -> list[str]:
        """What differs from `old`, in words: one entry per file (naming the functions
        and classes that changed where the syntax tree tells) and per data path that
        both name."""
        found = []
        for name in sorted(set(old.modules) | set(self.modules)):
            before, after = old.modules.get(name), self.modules.get(name)
            if before is None:
                found.append(f"{after['file']} (new: {name})")
            elif after is None:
                found.append(f"{before['file']} (no longer used: {name})")
            elif before["hash"] != after["hash"]:
                defs = _changed_defs(before.get("defs", {}), after.get("defs", {}))
                where = after["file"] if after["file"] == before["file"] else \
                    f"{after['file']} (was {before['file']})"
                found.append(f"{where}: {', '.join(defs)}" if defs else where)
        for where in sorted(set(old.data) & set(self.data)):
            if not same_stamp(old.data[where], self.data[where]):
                found.append(f"data {where}: changed")
        return found


def fingerprint(recipe: Any, cwd: str | None = None, declared: bool = True) -> Fingerprint:
    """The code and data fingerprint of a validated recipe (see the module docstring).
    Without `declared`, the data factory's own fingerprint is not asked for (that would
    import the user's code)."""
    result = Fingerprint()
    pending = [p.rsplit(".", 1)[0] for p in dotted_paths(recipe) if "." in p]
    roots = set(pending)
    while pending and len(result.modules) < MAX_MODULES:
        name = pending.pop(0)
        if name in result.modules or name == "model_trainer" or \
                name.startswith("model_trainer."):
            continue
        path = module_file(name)
        if path is None or path.startswith(_OURS):
            continue
        installed = _installed(path)
        if installed and name not in roots:
            continue
        parsed = _parse(path, name)
        if parsed is None:
            continue
        result.modules[name] = {"file": _shown(path), "hash": parsed["hash"],
                                "defs": parsed["defs"]}
        if not installed:
            pending.extend(parsed["imports"])
    result.data = data_fingerprint(recipe, cwd, declared)
    return result


def _parse(path: str, name: str) -> dict[str, Any] | None:
    """A module file's hashes and imports, parsed once per version of the file."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = (path, name, stat.st_size, stat.st_mtime_ns)
    if key not in _parsed:
        try:
            tree = ast.parse(Path(path).read_bytes(), filename=path)
        except (OSError, SyntaxError, ValueError):
            return None
        _parsed[key] = {"hash": _tree_hash(tree), "defs": _def_hashes(tree),
                        "imports": _imports(tree, name, path.endswith("__init__.py"))}
    return _parsed[key]


def dotted_paths(recipe: Any) -> list[str]:
    """Every dotted path a recipe names (model, config, data, wrapper, custom optimizer,
    scheduler and metrics)."""
    t = recipe.train
    found = [recipe.model.target, recipe.model.config, recipe.data.target, recipe.data.config,
             recipe.wrapper]
    for name, known in ((t.optimizer.name, names.OPTIMIZERS), (t.scheduler.name, names.SCHEDULERS)):
        if name not in known:
            found.append(name)
    found += [m for m in t.metrics if not names.is_builtin_metric(m)]
    return [p for p in found if p]


def module_file(name: str) -> str | None:
    """The source file `import name` would load, found as the import system finds it on
    sys.path (a regular package or a module before namespace folders, in path order),
    without importing anything; None for a module with no Python source."""
    parts = name.split(".")
    search = [entry or os.getcwd() for entry in sys.path if os.path.isdir(entry or ".")]
    if not any(os.path.exists(os.path.join(f, parts[0])) or
               os.path.isfile(os.path.join(f, parts[0] + ".py")) for f in search):
        search = _meta_path_locations(parts[0]) or search  # e.g. an editable install's finder
    for depth, part in enumerate(parts, start=1):
        last = depth == len(parts)
        portions = []  # namespace folders: used only when nothing else is found
        for folder in search:
            package = os.path.join(folder, part)
            if os.path.isfile(os.path.join(package, "__init__.py")):
                if last:
                    return os.path.realpath(os.path.join(package, "__init__.py"))
                search = [package]
                break
            if os.path.isfile(package + ".py"):
                return os.path.realpath(package + ".py") if last else None
            if os.path.isdir(package):
                portions.append(package)
        else:
            if not portions or last:
                return None
            search = portions
    return None


def _meta_path_locations(top: str) -> list[str]:
    """The folder a top-level module or package lives in, as the import system's other
    finders (an editable install's) place it; asking imports nothing for a top level."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [os.path.dirname(p) for p in list(spec.submodule_search_locations)]
    return [os.path.dirname(spec.origin)] if spec.origin and spec.origin.endswith(".py") else []


def data_fingerprint(recipe: Any, cwd: str | None = None,
                     declared: bool = True) -> dict[str, dict[str, Any]]:
    """The files and folders the model and data sections name, and the factory's own."""
    base = Path(cwd or os.getcwd())
    runs = (base / os.path.expanduser(str(recipe.output_dir))).resolve()
    found: dict[str, dict[str, Any]] = {}
    for key, value in _strings(_plain(recipe.model.args), "model.args") + \
            _strings(_plain(recipe.data.args), "data.args"):
        if not value or len(value) > 4096 or "\n" in value:
            continue
        path = base / os.path.expanduser(value)
        try:
            if path.is_file() or (path.is_dir() and
                                  not _holds_runs(path.resolve(), runs, base.resolve())):
                found[key] = path_stamp(path)
        except OSError:
            continue
    own = _declared(recipe) if declared else None
    if own is not None:
        found["data.target"] = {"declared": own}
    return found


def _holds_runs(folder: Path, runs: Path, cwd: Path) -> bool:
    """A folder the runs write into (the working directory, output_dir, or a folder
    around or inside it): its listing changes with every run, so it is no data identity."""
    return folder == cwd or folder == runs or runs.is_relative_to(folder) or \
        folder.is_relative_to(runs)


def _declared(recipe: Any) -> str | None:
    """What the data factory's `fingerprint(config)` says, when it has one."""
    from model_trainer.recipe.resolve import ResolveError, import_object

    try:
        factory = import_object(recipe.data.target)
    except ResolveError:
        return None
    declare = getattr(factory, "fingerprint", None)
    if not callable(declare):
        return None
    try:
        return str(declare(recipe))
    except Exception as exc:  # noqa: BLE001 - the user's code: said, not a traceback
        from model_trainer.errors import ContractError

        raise ContractError(f"data.target: its fingerprint(config) raised "
                            f"{type(exc).__name__}: {exc}") from None


def path_stamp(path: Path) -> dict[str, Any]:
    """A data file's or folder's stamp (OSError when it is gone)."""
    stamp = _file_stamp(path) if path.is_file() else _folder_stamp(path)
    return {"path": os.path.realpath(path), **stamp}


def same_stamp(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Equal but for the modification time and the place (a copy or an rsync changes
    only those)."""
    return stamp_content(before) == stamp_content(after)


def stamp_content(stamp: dict[str, Any]) -> dict[str, Any]:
    """A data stamp without its modification time and place: what identifies the data."""
    return {k: v for k, v in stamp.items() if k not in ("mtime", "path")}


def _file_stamp(path: Path) -> dict[str, Any]:
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for offset in sorted({0, stat.st_size // 4, stat.st_size // 2, 3 * stat.st_size // 4,
                              max(0, stat.st_size - SAMPLE_BYTES)}):
            handle.seek(offset)
            digest.update(handle.read(SAMPLE_BYTES))
    return {"size": stat.st_size, "sample": digest.hexdigest()[:16], "mtime": stat.st_mtime}


def _folder_stamp(path: Path) -> dict[str, Any]:
    listing = hashlib.sha256()
    count = 0
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = Path(root, name)
            try:
                size = full.stat().st_size
            except OSError:
                continue
            listing.update(f"{full.relative_to(path)}\0{size}\n".encode())
            count += 1
            if count >= MAX_LISTED:
                return {"files": count, "listing": listing.hexdigest()[:16], "capped": True}
    return {"files": count, "listing": listing.hexdigest()[:16]}


def _strings(value: Any, key: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, f"{key}.{k}")]
    if isinstance(value, list | tuple):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{key}.{i}")]
    return []


def _plain(value: Any) -> Any:
    from model_trainer.recipe.identity import to_plain

    return to_plain(value)


def _installed(path: str) -> bool:
    """Inside the Python installation (the standard library, site-packages)."""
    return path.startswith(_installation())


@functools.cache
def _installation() -> tuple[str, ...]:
    """The Python installation's folders, resolved once (realpath costs ~20 us each)."""
    return tuple({os.path.realpath(p) + os.sep for p in
                  (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)})


def _shown(path: str) -> str:
    """A module's file as a user recognizes it: relative to the working directory when
    under it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path


def _tree_hash(node: ast.AST) -> str:
    return hashlib.sha256(ast.dump(_without_docstrings(node)).encode()).hexdigest()[:16]


def _without_docstrings(node: ast.AST) -> ast.AST:
    for child in ast.walk(node):
        body = getattr(child, "body", None)
        if isinstance(child, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) \
                and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            child.body = body[1:] or [ast.Pass()]
    return node


def _def_hashes(tree: ast.Module) -> dict[str, str]:
    """Top-level functions and classes, and each class's methods, by name."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found[node.name] = _tree_hash(node)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"{node.name}.{item.name}"] = _tree_hash(item)
    return found


def _changed_defs(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Names whose definition changed, appeared or went; a class whose methods are
    listed is not listed itself."""
    changed = [n for n in sorted(set(before) | set(after)) if before.get(n) != after.get(n)]
    classes_with_methods = {n.split(".")[0] for n in changed if "." in n}
    words = []
    for name in changed:
        if name in classes_with_methods:
            continue
        state = "new" if name not in before else "removed" if name not in after else None
        words.append(f"{name} ({state})" if state else name)
    return words


def _imports(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """The modules a file imports (relative ones resolved; `from a import b` may mean the
    submodule a.b, so both are tried)."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[:len(parts) - node.level + 1] if node.level > 1 else parts
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            if base:
                found.append(base)
                found += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
    return found
