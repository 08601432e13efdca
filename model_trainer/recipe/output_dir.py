"""Can runs be written under `<output_dir>/<name>`? Checked before anything is written.

What a look at the file system can tell: a part of the path that is a file, a symlink
loop, a folder that this user cannot write to (or on a read-only file system), and the
kernel's virtual file systems (/proc, /sys), where run files make no sense. A disk that
fills up later is still a run-time error.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

VIRTUAL = ("/proc", "/sys")


def output_folder_problem(output_dir: str, name: str) -> str | None:
    """Why runs cannot be written under output_dir/name, or None."""
    target = Path(os.path.abspath(os.path.join(os.path.expanduser(output_dir), name)))
    real = os.path.realpath(target)
    for root in VIRTUAL:
        if real == root or real.startswith(root + "/"):
            return f"'{output_dir}' is under {root}, a virtual file system of the kernel"
    looping = None
    for folder in (target, *target.parents):
        try:
            folder.stat()
        except FileNotFoundError:
            continue
        except NotADirectoryError:
            continue  # a part above is a file: found further up
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                looping = folder  # keep going up: name the outermost looping link
                continue
            return f"cannot use '{folder}': {exc.strerror}"
        if looping is not None:
            return f"'{looping}' is a symlink loop"
        if not os.path.isdir(folder):
            return f"'{folder}' is a file, not a folder"
        if not os.access(folder, os.W_OK | os.X_OK):
            why = "is on a read-only file system" if _read_only(folder) else \
                "is not writable by this user"
            return f"'{folder}' {why}"
        return None
    return None


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False
