"""Find the trial and study folders under a directory, reading only what lies under it.

The walk happens in real-path space: a symbolic link is followed only when its target
lies under the directory's real path, and each folder is visited once, so a link to `..`
cannot pull in outside trials, a link loop cannot hang the walk, and a trial reached by
two paths counts once. A file a trial folder links to outside the directory is not read.
Pseudo file systems (/proc, /sys, /dev) are refused: walking them never ends well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from model_trainer.errors import UsageError
from model_trainer.layout import (
    ANALYSIS,
    CHECKPOINTS,
    METRICS,
    RECIPE,
    STATUS,
    STUDY_INDEX,
    STUDY_JOURNAL,
    STUDY_RECIPE,
    TENSORBOARD,
)

SKIP_DIRS = frozenset({CHECKPOINTS, TENSORBOARD, ANALYSIS})
READ_FILES = frozenset({STATUS, RECIPE, METRICS, STUDY_RECIPE, STUDY_INDEX, STUDY_JOURNAL})
PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
PSEUDO_TYPES = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "debugfs", "tracefs", "securityfs", "cgroup",
    "cgroup2", "pstore", "bpf", "configfs", "fusectl", "mqueue", "hugetlbfs", "binfmt_misc",
    "efivarfs", "rpc_pipefs", "nsfs",
})


@dataclass
class Layout:
    """Where the trials and studies under a directory are (real paths)."""

    root: Path
    trial_dirs: list[Path]
    study_dirs: list[Path]
    blocked: set[Path] = field(default_factory=set)  # files linked from outside the root
    warnings: list[str] = field(default_factory=list)

    def readable(self, path: Path) -> bool:
        return path not in self.blocked


def _mount_type(real: str) -> str | None:
    """The file-system type of the mount holding `real` (Linux); None when unknown."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.readlines()
    except OSError:
        return None
    best, kind = "", None
    for line in lines:
        left, _, right = line.partition(" - ")
        parts, tail = left.split(), right.split()
        if len(parts) < 5 or not tail:
            continue
        mount = parts[4].replace("\\040", " ")
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, tail[0]
    return kind


def check_root(directory: str | Path) -> Path:
    """The real path of `directory`; UsageError when it lies on a pseudo file system."""
    real = os.path.realpath(Path(directory).expanduser())
    kind = _mount_type(real)
    pseudo = any(real == p or real.startswith(p + "/") for p in PSEUDO_ROOTS)
    if pseudo or kind in PSEUDO_TYPES:
        shown = f"{directory}" + (f" (-> {real})" if str(directory) != real else "")
        raise UsageError(f"{shown} is on a pseudo file system ({kind or real.split('/')[1]}), "
                         "not a folder of trials; point mtrain analyze at a runs folder")
    return Path(real)


def _under(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip("/") + "/")


def find_layout(root: Path) -> Layout:
    """Walk the real path `root` for trial folders (holding status.json) and study folders.

    A trial folder is not descended into; checkpoints/, tensorboard/ and analysis/ are
    skipped wherever they are, as are hidden folders.
    """
    top = str(root)
    layout = Layout(root, [], [])
    seen = {top}
    stack = [top]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        names = {e.name for e in entries}
        is_trial = STATUS in names
        for entry in entries:
            if entry.name in READ_FILES and _is_link(entry):
                target = os.path.realpath(entry.path)
                if not _under(target, top):
                    layout.blocked.add(Path(entry.path))
                    layout.warnings.append(f"{entry.path}: a link to {target}, outside "
                                           f"{top}; not read")
        if is_trial:
            layout.trial_dirs.append(Path(current))
            continue
        if STUDY_RECIPE in names or STUDY_INDEX in names:
            layout.study_dirs.append(Path(current))
        subdirs = []
        for entry in entries:
            if entry.name in SKIP_DIRS or entry.name.startswith(".") or not _is_dir(entry):
                continue
            path = entry.path
            if _is_link(entry):
                path = os.path.realpath(entry.path)
                if not _under(path, top):
                    layout.warnings.append(f"{entry.path}: a link to {path}, outside {top}; "
                                           "not followed")
                    continue
            if path not in seen:
                seen.add(path)
                subdirs.append(path)
        stack.extend(sorted(subdirs, reverse=True))
    layout.trial_dirs.sort()
    layout.study_dirs.sort()
    return layout


def _is_link(entry: os.DirEntry) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False
