"""Dotted paths: the failure names the module that is really missing."""

from __future__ import annotations

import sys

import pytest

from model_trainer.recipe.resolve import ResolveError, import_object


@pytest.fixture
def package(tmp_path, monkeypatch):
    """`mt_pkgx/mod.py`, which imports `mt_pkg` (a missing module whose name its own
    package's name starts with), and `mt_pkgx/good.py`."""
    (tmp_path / "mt_pkgx").mkdir()
    (tmp_path / "mt_pkgx" / "__init__.py").write_text("")
    (tmp_path / "mt_pkgx" / "mod.py").write_text("import mt_pkg\n\nThing = 1\n")
    (tmp_path / "mt_pkgx" / "good.py").write_text("Thing = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("mt_pkgx", "mt_pkgx.mod", "mt_pkgx.good"):
        sys.modules.pop(name, None)


def test_a_module_missing_inside_user_code_is_named(package):
    with pytest.raises(ResolveError) as info:
        import_object("mt_pkgx.mod.Thing")
    assert str(info.value) == "importing 'mt_pkgx.mod' failed: No module named 'mt_pkg'"


@pytest.mark.parametrize(("path", "message"), [
    ("mt_pkgx.good.Thing", None),
    ("mt_pkgx.nosuch.Thing", "no module named 'mt_pkgx.nosuch'"),
    ("mt_pkgx.good.Thin", "'mt_pkgx.good' has no attribute 'Thin' (did you mean 'Thing'?)"),
    ("mt_nosuch.x.Thing", "no module named 'mt_nosuch' (is it installed or in the working "
                          "directory?)"),
])
def test_a_path_that_is_not_there_names_its_first_missing_part(package, path, message):
    if message is None:
        assert import_object(path) == 2
        return
    with pytest.raises(ResolveError) as info:
        import_object(path)
    assert str(info.value) == message
