"""The README's walk runs as written, and every link in the docs points at a file."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from model_trainer.cli.app import app

ROOT = Path(__file__).parents[1]
WALK = ROOT / "docs" / "walk"
runner = CliRunner()


def test_the_readme_shows_the_walk_files_as_they_are():
    readme = (ROOT / "README.md").read_text()
    for name in ("my_model.py", "recipe.yaml", "study.yaml"):
        assert (WALK / name).read_text().rstrip() in readme, name


def test_the_walk_validates_and_trains_from_its_own_folder(tmp_path, monkeypatch):
    for path in WALK.iterdir():
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # what `mtrain` does for the working directory
    result = runner.invoke(app, ["validate", "recipe.yaml"])
    assert result.exit_code == 0, result.output
    assert "trial net-e7e3e0d0e01f" in result.output  # the id the README shows
    result = runner.invoke(app, ["validate", "study.yaml"])
    assert result.exit_code == 0 and "4 grid point(s) x 3 seed(s) = 12 trials" in result.output
    result = runner.invoke(app, ["run", "recipe.yaml", "--smoke"])
    assert result.exit_code == 0 and "smoke test passed" in result.output, result.output


def test_the_recipe_in_one_screen_validates(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Recipes in one screen")[1].split("```yaml\n")[1].split("```")[0]
    (tmp_path / "r.yaml").write_text(block)
    result = runner.invoke(app, ["validate", str(tmp_path / "r.yaml")])
    assert result.exit_code == 0, result.output


def test_every_relative_link_points_at_a_file():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken
