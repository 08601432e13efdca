"""`mtrain status`: a study's or a trial's state from its files, from any terminal."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from model_trainer.cli.boundary import boundary, stderr, stdout


@boundary
def status(
    path: Annotated[str, typer.Argument(help="A study folder, a trial folder, or a folder "
                                        "of trial folders (also a copy from a cluster); or a "
                                        "study in storage (s3://bucket/prefix/study).",
                                        show_default=False)],
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Redraw until nothing runs "
                                        "any more (Ctrl-C stops); for a study in storage, "
                                        "what changed there is fetched before each redraw."
                                        )] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between redraws with "
                                            "--watch.")] = 2.0,
) -> None:
    """Show a study's counts, running trials, failures and best, or a trial's progress."""
    from model_trainer.cli.options import local_folder
    from model_trainer.storage import StorageError, is_uri
    from model_trainer.watch.folders import open_path

    seen: dict = {}  # a study in storage: what the copy holds, so a redraw fetches changes
    view = open_path(local_folder(path, seen))
    if not watch:
        stdout.print(view.render())
        return

    def wait() -> None:
        time.sleep(interval)
        if is_uri(path):  # a copy: fetched again, or it would say the same forever
            try:
                local_folder(path, seen)
            except StorageError as exc:  # the last copy stands; the next redraw tries again
                stderr.print(f"warning: {exc}", markup=False, soft_wrap=True)

    try:
        if stdout.is_terminal:
            _watch_live(view, wait)
        else:  # a log: one snapshot per redraw
            while True:
                stdout.print(view.render())
                if not view.active:
                    break
                wait()
                stdout.print()
    except KeyboardInterrupt:  # the usual way to leave a watch: not an interruption of work
        pass


def _watch_live(view, wait) -> None:
    from rich.live import Live

    with Live(view.render(), console=stdout, auto_refresh=False) as live:
        while view.active:
            wait()
            live.update(view.render(), refresh=True)
