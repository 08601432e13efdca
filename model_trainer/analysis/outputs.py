"""Where `mtrain analyze` writes: regular files in its output folder, never through a link.

A link planted in the output folder (`analysis/trials.csv -> ~/precious.txt`), or an
output folder that is itself a link (`analysis -> /elsewhere`), would have made analyze
overwrite a file outside DIR. The folder is checked before anything is written (a link is
exit 2, naming it), and every file is opened with O_NOFOLLOW, so a link planted meanwhile
fails the write instead of being followed.
"""

from __future__ import annotations

import os
from pathlib import Path

from model_trainer.errors import UsageError

FIXED = ("trials.csv", "metrics.parquet", "report.html", "report.md")  # and the plots' *.png


def check_out_dir(out_dir: Path) -> None:
    """UsageError when the output folder, or an output file already in it, is a link."""
    if out_dir.is_symlink():
        raise UsageError(f"{out_dir} (the output folder) is a link to {os.readlink(out_dir)}; "
                         "analyze writes only into a real folder: remove the link or choose "
                         "--out")
    if not out_dir.is_dir():
        return
    links = sorted(p.name for p in out_dir.iterdir() if p.is_symlink()
                   and (p.name in FIXED or p.suffix == ".png"))
    if links:
        raise UsageError(f"{out_dir} holds links where analyze writes its files "
                         f"({', '.join(links)}); analyze never writes through a link: remove "
                         "them or choose --out")


def write_output(path: Path, data: bytes) -> None:
    """Write `data` to the regular file `path` (created or replaced), never through a link."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o666)
    except OSError as exc:
        if path.is_symlink():
            raise UsageError(f"{path} is a link; analyze never writes through one") from None
        raise exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
