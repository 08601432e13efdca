"""Commands started in process sessions of their own, and stopped by session: a daemon a
command leaves behind (a Ray node, a SLURM daemon) is found by its session id, so the tests
stop exactly what they started, never other processes of the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable

import psutil


def start(command: str, env: dict[str, str], cwd: str, log: str) -> subprocess.Popen:
    """Run `command` with bash in a new session (its pid is the session id)."""
    with open(log, "ab") as out:
        return subprocess.Popen(["bash", "-c", command], env=env, cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def members(session: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return found


def _stop(processes: Iterable[psutil.Process], wait_s: float) -> None:
    processes = list(processes)
    for process in processes:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(processes, timeout=wait_s)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


def stop(session: int, last: tuple[str, ...] = (), first: tuple[str, ...] = (),
         wait_s: float = 5.0) -> None:
    """Stop every process of `session`: those named in `first`, then the others, then
    those named in `last` (Ray's order: raylet, the rest, gcs_server)."""
    def named(names: tuple[str, ...]) -> list[psutil.Process]:
        out = []
        for process in members(session):
            try:
                if process.name() in names:
                    out.append(process)
            except psutil.Error:
                continue
        return out

    _stop(named(first), wait_s)
    _stop([p for p in members(session) if p not in named(last)], wait_s)
    _stop(members(session), wait_s)
    deadline = time.monotonic() + 10
    while members(session) and time.monotonic() < deadline:
        time.sleep(0.2)
