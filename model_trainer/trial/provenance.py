"""The reproducibility record of a trial: which code, environment and machine ran it.

Written when a trial starts, beside status.json: `provenance.json` (the git commit, a dirty
flag, the command line and working directory, Python, torch, CUDA and cuDNN versions, the
GPUs and their driver, the host, every installed package) and `git.diff` (the changes not
committed, new files included, capped in size). A later attempt that runs with other code
or on another machine adds what differs under `later_attempts` (its diff as
`git.attempt-N.diff`), so a resumed trial still says what produced each part of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from model_trainer.files import atomic_write_bytes, atomic_write_json, read_json
from model_trainer.layout import GIT_DIFF, PROVENANCE

MAX_DIFF_BYTES = 1 << 20  # a diff beyond this is cut (and says so): data files do not belong
MAX_UNTRACKED = 50  # new files whose content goes into the diff
GIT_TIMEOUT_S = 10
ENVIRONMENT = ("CUDA_VISIBLE_DEVICES", "CUBLAS_WORKSPACE_CONFIG", "OMP_NUM_THREADS",
               "PYTHONHASHSEED")
# compared between attempts: what changes the computation (not the time, the command...)
COMPARED = ("git", "python", "torch", "cuda", "cudnn", "gpus", "nvidia_driver", "host",
            "packages")


def versions() -> dict[str, str]:
    import torch

    import model_trainer

    return {"python": platform.python_version(), "torch": torch.__version__,
            "model_trainer": model_trainer.__version__}


def collect(command: list[str], cwd: str, device: str,
            output_dir: str) -> tuple[dict[str, Any], bytes]:
    """The record of this process and its uncommitted changes (the diff's bytes); the GPUs
    are looked up only for a trial that may use them (`device` auto or cuda). Files under
    `output_dir` (the runs themselves) are not changes to the code."""
    import torch

    git, diff = git_state(Path(cwd), exclude=Path(cwd, output_dir))
    record: dict[str, Any] = {
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": list(command), "python_executable": sys.executable, "cwd": cwd,
        "host": socket.gethostname(), "platform": platform.platform(), "git": git,
        "python": platform.python_version(), "torch": torch.__version__,
        "cuda": torch.version.cuda, "cudnn": _cudnn_version(),
        "gpus": _gpu_names() if device in ("auto", "cuda") or device.startswith("cuda:") else [],
        "nvidia_driver": _nvidia_driver(),
        "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ},
        "packages": installed_packages(),
    }
    return record, diff


def write(folder: Path, attempt: int, record: dict[str, Any], diff: bytes) -> None:
    """The first attempt writes the record; a later one adds only what differs."""
    record = {"attempt": attempt, **record}
    first = read_json(folder / PROVENANCE)
    if not isinstance(first, dict):
        if diff:
            atomic_write_bytes(folder / GIT_DIFF, diff)
        if record["git"] is not None:
            record["git"]["diff_file"] = GIT_DIFF if diff else None
        atomic_write_json(folder / PROVENANCE, record)
        return
    changed = differences(first, record)
    if not changed:
        return
    if "git" in changed and diff:
        name = GIT_DIFF.replace(".diff", f".attempt-{attempt}.diff")
        atomic_write_bytes(folder / name, diff)
        changed["git"]["diff_file"] = name
    later = first.get("later_attempts") if isinstance(first.get("later_attempts"), list) else []
    later.append({"attempt": attempt, "recorded_at": record["recorded_at"],
                  "command": record["command"], "changed": changed})
    atomic_write_json(folder / PROVENANCE, {**first, "later_attempts": later})


def differences(first: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The compared entries of `now` that differ from `first` (packages: only those)."""
    changed: dict[str, Any] = {}
    for key in COMPARED:
        before, after = first.get(key), now.get(key)
        if key == "packages" and isinstance(before, dict):  # older records: names as written
            before = {_normalised(name): version for name, version in before.items()}
        if key == "git" and isinstance(before, dict) and isinstance(after, dict):
            same = all(before.get(k) == after.get(k) for k in ("commit", "dirty", "diff_sha256"))
        else:
            same = before == after
        if same:
            continue
        if key == "packages" and isinstance(before, dict) and isinstance(after, dict):
            after = {name: after.get(name) for name in sorted(set(before) | set(after))
                     if before.get(name) != after.get(name)}
        changed[key] = after
    return changed


def installed_packages() -> dict[str, str]:
    """Every installed distribution's version by its normalised name (PEP 503), as
    importlib.metadata finds them (the first on sys.path wins), without a pip subprocess.
    A wheel's `<name>-<version>.dist-info` folder says both, so only other installs
    (egg-info, an editable project) have their metadata parsed: ~100 ms less a trial."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            stem, dot, kind = folder.rpartition(".")
            if kind not in ("dist-info", "egg-info") or not dot:
                continue
            name, dash, version = stem.rpartition("-") if kind == "dist-info" else ("", "", "")
            if not (dash and _VERSION.fullmatch(version)):  # not a wheel's: read its metadata
                dist = importlib.metadata.PathDistribution(Path(entry or ".") / folder)
                name, version = dist.metadata["Name"] or "", dist.version
            if name:
                found.setdefault(_normalised(name), version)
    return dict(sorted(found.items()))


_VERSION = re.compile(r"[0-9][0-9A-Za-z.+!]*")  # a PEP 440 version as a folder name holds it


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def git_state(cwd: Path, exclude: Path | None = None) -> tuple[dict[str, Any] | None, bytes]:
    """The commit, branch and dirty flag of the repository `cwd` is in, and the diff of
    its uncommitted changes against HEAD (new, not ignored files included, except under
    `exclude`); None outside a repository or without git."""
    top = _git(cwd, "rev-parse", "--show-toplevel")
    commit = _git(cwd, "rev-parse", "HEAD")
    if top is None or commit is None:
        return None, b""
    cwd, commit = Path(top.decode().strip()), commit.decode().strip()  # paths from the root
    branch = (_git(cwd, "rev-parse", "--abbrev-ref", "HEAD") or b"").decode().strip()
    pathspec = ["--", "."]
    if exclude is not None and exclude.resolve().is_relative_to(cwd.resolve()):
        pathspec.append(f":(exclude){exclude.resolve().relative_to(cwd.resolve())}")
    tracked = _git(cwd, "diff", "HEAD", "--binary", *pathspec) or b""
    untracked = _git(cwd, "ls-files", "--others", "--exclude-standard", "-z", *pathspec) or b""
    new_files = [name for name in untracked.decode(errors="replace").split("\0") if name]
    diff = tracked
    for name in new_files[:MAX_UNTRACKED]:
        if len(diff) >= MAX_DIFF_BYTES or _size(cwd / name) > MAX_DIFF_BYTES:
            continue
        diff += _git(cwd, "diff", "--no-index", "--binary", "--", os.devnull, name,
                     ok_codes=(0, 1)) or b""
    whole = len(diff)
    truncated = whole > MAX_DIFF_BYTES or len(new_files) > MAX_UNTRACKED
    diff = diff[:MAX_DIFF_BYTES]
    state = {"commit": commit, "branch": branch or None, "root": str(cwd), "dirty": bool(tracked or new_files),
             "untracked_files": new_files[:MAX_UNTRACKED], "diff_bytes": whole,
             "diff_truncated": truncated,
             "diff_sha256": hashlib.sha256(diff).hexdigest() if diff else None}
    return state, diff


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _git(cwd: Path, *args: str, ok_codes: tuple[int, ...] = (0,)) -> bytes | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True,
                             timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode in ok_codes else None


def _cudnn_version() -> int | None:
    import torch

    try:
        return torch.backends.cudnn.version()
    except (RuntimeError, OSError):
        return None


def _gpu_names() -> list[str]:
    """The GPUs this process sees (CUDA_VISIBLE_DEVICES applies); the trial uses CUDA."""
    import torch

    if not torch.cuda.is_available():
        return []
    try:
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except (RuntimeError, AssertionError):
        return []


def _nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's version (Linux), read without initialising CUDA."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    words = text.split()
    for i, word in enumerate(words):
        if word == "Module" and i + 1 < len(words):  # "... Kernel Module  570.86.15  ..."
            return words[i + 1]
    return None
