"""The reproducibility record of a trial: which code, environment and machine ran it.

Collected on a thread from the moment a trial is asked for (git runs as a subprocess
beside the trial's set-up, not its first epoch) and written beside status.json once the
trial folder is ready: `provenance.json` (the git commit, a dirty
flag, the command line and working directory, Python, torch, CUDA and cuDNN versions, the
GPUs and their driver, the host, every installed package) and `git.diff` (the changes not
committed, new files included, capped in size). A later attempt that runs with other code
or on another machine adds what differs under `later_attempts` (its diff as
`git.attempt-N.diff`), so a resumed trial still says what produced each part of it.
Files that look like secrets (SECRET_FILES: `.env*`, keys, certificates, credentials) never
enter a diff, new or tracked; the record lists them under `skipped_files`. MTRAIN_GIT_DIFF=0
records no diff at all (the commit and the dirty flag stay).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import importlib.metadata
import logging
import os
import platform
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model_trainer.files import atomic_write_bytes, atomic_write_json, read_json
from model_trainer.layout import GIT_DIFF, PROVENANCE

log = logging.getLogger("model_trainer")

MAX_DIFF_BYTES = 1 << 20  # a diff beyond this is cut (and says so): data files do not belong
MAX_UNTRACKED = 50  # new files whose content goes into the diff
SECRET_FILES = (".env*", "*.key", "*.pem", "*.p12", "*.pfx", "credentials*", "secrets*",
                "id_*", "*.kdbx")  # names never copied into git.diff
GIT_TIMEOUT_S = 10
GIT_REUSE_S = 2.0  # one look at the working tree serves the trials started meanwhile
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


def collect(command: list[str], cwd: str, device: str, output_dir: str,
            in_study: bool = False) -> tuple[dict[str, Any], bytes]:
    """The record of this process and its uncommitted changes (the diff's bytes); the GPUs
    and cuDNN are looked up only for a trial that may use them (`device` auto or cuda:
    loading cuDNN to ask its version takes a CPU trial ~8 ms for nothing). Files under
    `output_dir` (the runs themselves) are not changes to the code. A study's trial may
    reuse the working tree's state another trial of this process saw just before."""
    import torch

    where, exclude = Path(cwd), Path(cwd, output_dir)
    cuda = device in ("auto", "cuda") or device.startswith("cuda:")
    git, diff = recent_git_state(where, exclude) if in_study else git_state(where, exclude)
    record: dict[str, Any] = {
        "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": list(command), "python_executable": sys.executable, "cwd": cwd,
        "host": socket.gethostname(), "platform": platform.platform(), "git": git,
        "python": platform.python_version(), "torch": torch.__version__,
        "cuda": torch.version.cuda, "cudnn": _cudnn_version() if cuda else None,
        "gpus": _gpu_names() if cuda else [],
        "nvidia_driver": _nvidia_driver(),
        "threads": torch.get_num_threads(),  # torch's intra-op threads (train.threads)
        "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ},
        "packages": installed_packages(),
    }
    return record, diff


def start_collecting(command: list[str], cwd: str, device: str, output_dir: str,
                     in_study: bool = False) -> Callable[[], tuple[dict[str, Any], bytes]]:
    """Start `collect` on a thread now, as a trial is asked for: git then runs beside the
    trial's set-up (Python on one core) instead of its first epoch, whose threads it
    would slow. The function returned waits for the record (and raises what it raised)."""
    done: dict[str, Any] = {}

    def work() -> None:
        try:
            done["record"] = collect(command, cwd, device, output_dir, in_study)
        except Exception as exc:  # noqa: BLE001 - given to the one who waits
            done["error"] = exc

    thread = threading.Thread(target=work, name="mtrain-provenance", daemon=True)
    thread.start()

    def collected() -> tuple[dict[str, Any], bytes]:
        thread.join()
        if "error" in done:
            raise done["error"]
        return done["record"]

    return collected


def record_in_background(folder: Path, attempt: int,
                         collected: Callable[[], tuple[dict[str, Any], bytes]],
                         still_ours: Callable[[], bool],
                         on_commit: Callable[[str | None], None]) -> Callable[[], None]:
    """Write this attempt's record (`collected`, from start_collecting) on a thread once it
    is there, then pass its git commit to `on_commit`; the function returned waits for
    that (a trial's last status says it). Nothing is written once `still_ours()` says
    the folder was deleted or replaced; a failure is logged: the record never fails a
    trial."""

    def work() -> None:
        try:
            record, diff = collected()
            if not still_ours():
                return  # never make a deleted trial folder again
            write(folder, attempt, record, diff)
            on_commit((record.get("git") or {}).get("commit"))
        except Exception as exc:  # noqa: BLE001 - a deleted folder, a full disk, ...
            log.warning("the provenance record of %s was not written: %s", folder, exc)

    thread = threading.Thread(target=work, name="mtrain-provenance-write", daemon=True)
    thread.start()
    return thread.join


def write(folder: Path, attempt: int, record: dict[str, Any], diff: bytes) -> None:
    """The first attempt writes the record; a later one adds only what differs."""
    record = {"attempt": attempt, **record}
    first = read_json(folder / PROVENANCE)
    if not isinstance(first, dict):
        if diff:
            atomic_write_bytes(folder / GIT_DIFF, diff, make_folder=False)
        if record["git"] is not None:
            record["git"]["diff_file"] = GIT_DIFF if diff else None
        atomic_write_json(folder / PROVENANCE, record, make_folder=False)
        return
    changed = differences(first, record)
    if not changed:
        return
    if "git" in changed and diff:
        name = GIT_DIFF.replace(".diff", f".attempt-{attempt}.diff")
        atomic_write_bytes(folder / name, diff, make_folder=False)
        changed["git"]["diff_file"] = name
    later = first.get("later_attempts") if isinstance(first.get("later_attempts"), list) else []
    later.append({"attempt": attempt, "recorded_at": record["recorded_at"],
                  "command": record["command"], "changed": changed})
    atomic_write_json(folder / PROVENANCE, {**first, "later_attempts": later},
                      make_folder=False)


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
                name, version = _name_and_version(Path(entry or ".") / folder)
            if name:
                found.setdefault(_normalised(name), version)
    return dict(sorted(found.items()))


_VERSION = re.compile(r"[0-9][0-9A-Za-z.+!]*")  # a PEP 440 version as a folder name holds it


def _name_and_version(folder: Path) -> tuple[str, str]:
    """Name and Version from the header of a distribution's METADATA or PKG-INFO: the
    lines before the first blank one (the description after it can be a whole README,
    which importlib.metadata parses too: ~0.6 ms an editable project)."""
    found: dict[str, str] = {}
    for file in ("METADATA", "PKG-INFO"):
        try:
            with open(folder / file, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if not line.strip():
                        break
                    key, _, value = line.partition(":")
                    if key in ("Name", "Version") and key not in found:
                        found[key] = value.strip()
        except OSError:
            continue
        break
    if "Name" not in found or "Version" not in found:  # an odd one: the full parser
        dist = importlib.metadata.PathDistribution(folder)
        return dist.metadata["Name"] or "", dist.version or ""
    return found["Name"], found["Version"]


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_recent: dict[tuple[str, str], tuple[float, tuple[dict[str, Any] | None, bytes]]] = {}
_recent_lock = threading.Lock()


def recent_git_state(cwd: Path, exclude: Path) -> tuple[dict[str, Any] | None, bytes]:
    """`git_state`, asked at most once every GIT_REUSE_S per directory: a study's worker
    starting trials of a few milliseconds each would otherwise spend most of its time
    running git (two processes a trial, more for a dirty tree). Such a trial's record is
    the tree's state at most that long before it started (its code's own fingerprint is
    exact)."""
    key = (str(cwd), str(exclude))
    with _recent_lock:
        found = _recent.get(key)
        if found is not None and time.monotonic() - found[0] < GIT_REUSE_S:
            state, diff = found[1]
            return (dict(state) if state else None), diff
        result = git_state(cwd, exclude)
        _recent[key] = (time.monotonic(), result)
        return (dict(result[0]) if result[0] else None), result[1]


def git_state(cwd: Path, exclude: Path | None = None) -> tuple[dict[str, Any] | None, bytes]:
    """The commit, branch and dirty flag of the repository `cwd` is in, and the diff of
    its uncommitted changes against HEAD (new, not ignored files included, except under
    `exclude`); None outside a repository or without git. `git status` (after git names
    the work tree) says it all for a clean tree; `git diff` runs only where tracked files
    changed (each git process costs about 2 ms of a core). With --no-renames a staged
    rename is a deletion and a new file."""
    top = _work_tree(cwd)
    if top is None:
        return None, b""
    pathspec = ["--", "."]
    if exclude is not None and exclude.resolve().is_relative_to(top):
        pathspec.append(f":(exclude){exclude.resolve().relative_to(top)}")
    found = _git(top, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all",
                 "--no-renames", *pathspec)
    commit, branch, changed, new = _read_status(found or b"")
    if commit is None:  # not a repository, no commit yet, or no git
        return None, b""
    skipped = sorted(n for n in changed + new if _looks_secret(n))
    new_files = [n for n in new if not _looks_secret(n)]
    if os.environ.get("MTRAIN_GIT_DIFF") == "0":  # opted out: the state, no diff
        return {"commit": commit, "branch": branch, "root": str(top),
                "dirty": bool(changed or new), "untracked_files": [], "skipped_files": skipped,
                "diff_bytes": 0, "diff_truncated": False, "diff_sha256": None}, b""
    secrets = [f":(exclude,glob)**/{pattern}" for pattern in SECRET_FILES]
    tracked = (_git(top, "diff", "HEAD", "--binary", *pathspec, *secrets) or b"") \
        if changed else b""
    diff = tracked
    for name in new_files[:MAX_UNTRACKED]:
        if len(diff) >= MAX_DIFF_BYTES or _size(top / name) > MAX_DIFF_BYTES:
            continue
        diff += _git(top, "diff", "--no-index", "--binary", "--", os.devnull, name,
                     ok_codes=(0, 1)) or b""
    whole = len(diff)
    truncated = whole > MAX_DIFF_BYTES or len(new_files) > MAX_UNTRACKED
    diff = diff[:MAX_DIFF_BYTES]
    state = {"commit": commit, "branch": branch, "root": str(top),
             "dirty": bool(tracked or new_files or skipped),
             "untracked_files": new_files[:MAX_UNTRACKED], "skipped_files": skipped,
             "diff_bytes": whole,
             "diff_truncated": truncated,
             "diff_sha256": hashlib.sha256(diff).hexdigest() if diff else None}
    return state, diff


def _work_tree(cwd: Path) -> Path | None:
    """The top of the work tree `cwd` is in, as git finds it; None outside one."""
    found = _git(cwd, "rev-parse", "--show-toplevel")
    return Path(found.decode().strip()).resolve() if found else None


def _read_status(out: bytes) -> tuple[str | None, str | None, list[str], list[str]]:
    """(commit, branch, changed tracked paths, new paths) from `git status --porcelain=v2
    --branch -z`; the commit is None before the first one. A detached HEAD's branch is
    `HEAD`, as `git rev-parse --abbrev-ref HEAD` says it."""
    commit = branch = None
    changed, new = [], []
    for entry in out.decode(errors="replace").split("\0"):
        if entry.startswith("# branch.oid "):
            oid = entry.removeprefix("# branch.oid ")
            commit = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            head = entry.removeprefix("# branch.head ")
            branch = "HEAD" if head == "(detached)" else head
        elif entry.startswith("? "):
            new.append(entry[2:])
        elif entry[:2] in ("1 ", "u "):  # the path follows 8 (changed) or 10 (unmerged)
            changed.append(entry.split(" ", 8 if entry[0] == "1" else 10)[-1])  # fields
    return commit, branch, changed, sorted(new)


def _looks_secret(name: str) -> bool:
    return any(fnmatch.fnmatch(Path(name).name, pattern) for pattern in SECRET_FILES)


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
