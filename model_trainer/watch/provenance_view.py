"""The reproducibility record of a trial (provenance.json), drawn for `mtrain show TRIAL`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from model_trainer.files import read_json
from model_trainer.layout import PROVENANCE
from model_trainer.watch.render import size_text


def provenance_renderable(folder: Path) -> Group:
    """What ran the trial; a note when the trial has no record (older than the record)."""
    record = read_json(Path(folder) / PROVENANCE)
    title = Text(f"trial {Path(folder).name}: what ran it", style="bold")
    if not isinstance(record, dict):
        return Group(title, Text(f"no {PROVENANCE} in {folder} (a trial started by an older "
                                 "model_trainer)"))
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    table.add_row("recorded", f"{record.get('recorded_at')} (attempt {record.get('attempt')})")
    table.add_row("command", escape(" ".join(map(str, record.get("command") or []))))
    table.add_row("directory", escape(str(record.get("cwd"))))
    table.add_row("git", escape(git_text(record.get("git"))))
    table.add_row("host", escape(f"{record.get('host')} ({record.get('platform')})"))
    table.add_row("python", escape(f"{record.get('python')} ({record.get('python_executable')})"))
    cuda = f", CUDA {record['cuda']}" if record.get("cuda") else ""
    cudnn = f", cuDNN {record['cudnn']}" if record.get("cudnn") else ""
    table.add_row("torch", f"{record.get('torch')}{cuda}{cudnn}")
    gpus = ", ".join(record.get("gpus") or []) or "none used"
    driver = f" (NVIDIA driver {record['nvidia_driver']})" if record.get("nvidia_driver") else ""
    table.add_row("GPUs", escape(gpus + driver))
    environment = record.get("environment") or {}
    if environment:
        table.add_row("environment", escape(" ".join(f"{k}={v}" for k, v in environment.items())))
    packages = record.get("packages") or {}
    table.add_row(f"packages ({len(packages)})",
                  escape(", ".join(f"{name} {version}" for name, version in packages.items())))
    for later in record.get("later_attempts") or []:
        changed = later.get("changed") or {}
        table.add_row(f"attempt {later.get('attempt')}",
                      escape(f"{later.get('recorded_at')}: ran with other "
                             + "; ".join(_change_text(k, v) for k, v in changed.items())))
    return Group(title, table)


def git_text(git: Any) -> str:
    if not isinstance(git, dict):
        return "not a git repository (or git is not installed)"
    text = f"{git.get('commit')}"
    if git.get("branch"):
        text += f" on {git['branch']}"
    if not git.get("dirty"):
        return text + ", clean"
    diff = git.get("diff_file")
    cut = ", cut" if git.get("diff_truncated") else ""
    where = f" in {diff} ({size_text(git.get('diff_bytes') or 0)}{cut})" if diff else ""
    return text + f", with uncommitted changes{where}"


def _change_text(key: str, value: Any) -> str:
    if key == "git":
        return f"code: {git_text(value)}"
    if key == "packages" and isinstance(value, dict):
        return "packages: " + ", ".join(f"{k} {v or '(removed)'}" for k, v in value.items())
    return f"{key}: {value}"
