"""The local executor: a pool of worker processes that shares GPUs out, listens on no
socket, and leaves no process behind (not even after its driver is killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model_trainer.errors import UsageError
from model_trainer.study.executors.local import gpu_shares
from tests import forked
from tests.study.tinytask import RECIPE

ROOT = Path(__file__).parents[2]


def test_gpus_are_shared_out_whole_or_packed_as_fractions():
    assert gpu_shares(2, 0, ["0", "1"]) == ["", ""]  # no GPU asked: none seen
    assert gpu_shares(2, 0.5, ["0"]) == ["0", "0"]
    assert gpu_shares(3, 0.5, ["3", "5"]) == ["3", "3", "5"]
    assert gpu_shares(4, 0.25, ["0"]) == ["0"] * 4
    assert gpu_shares(2, 1, ["0", "1"]) == ["0", "1"]
    assert gpu_shares(1, 2, ["0", "1", "2"]) == ["0,1"]
    for concurrency, gpus, visible, message in [(2, 1, ["0"], "need more GPUs"),
                                                (3, 0.5, ["0"], "need more GPUs"),
                                                (1, 1.5, ["0", "1"], "whole GPUs"),
                                                (1, 0.5, [], "shows no GPU")]:
        with pytest.raises(UsageError, match=message):
            gpu_shares(concurrency, gpus, visible)


def _tree(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("ending", ["finishes", "driver killed"])
def test_workers_listen_on_nothing_and_never_outlive_their_driver(tmp_path, ending):
    import psutil

    path = tmp_path / "study.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs").replace(
        "  args: {hidden: 4}\n", "  args: {hidden: 4, sleep: 0.02}\n"))
    driver = forked.popen([sys.executable, "-m", "model_trainer", "run", str(path),
                               "study.concurrency=2"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    seen, listening = set(), []
    deadline = time.monotonic() + 120
    while driver.poll() is None and time.monotonic() < deadline:
        for child in [psutil.Process(driver.pid), *_tree(driver.pid)]:
            seen.add(child.pid)
            try:
                listening += [c for c in child.net_connections("inet")
                              if c.status == psutil.CONN_LISTEN]
            except psutil.Error:
                pass
        if ending == "driver killed" and len(seen) >= 4 and \
                list((tmp_path / "runs").rglob("last.pt")):
            os.kill(driver.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    driver.wait(timeout=60)
    assert len(seen) >= 4  # the driver, the forkserver and two workers
    assert listening == []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(psutil.pid_exists(p) and
                                              psutil.Process(p).status() != "zombie"
                                              for p in seen - {driver.pid}):
        time.sleep(0.1)
    alive = [p for p in seen - {driver.pid}
             if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert alive == [], "a worker outlived the study"


def test_workers_get_the_drivers_environment_as_it_is_now(tmp_path, monkeypatch):
    """The server the workers fork from started earlier, in another environment (a
    notebook that sets credentials, then runs a study): the trials see the variables the
    driver has now."""
    import model_trainer
    from model_trainer.study.executors.local import start_server

    start_server(())  # running before the variable exists
    monkeypatch.setenv("MTRAIN_TEST_LATE", "late")
    path = tmp_path / "study.yaml"
    path.write_text(RECIPE.format(out=tmp_path / "runs").replace(
        "args: {hidden: 4}", "args: {hidden: 4, fail: env}").replace(
        "seeds: [0, 1]", "seeds: [0]") + "  concurrency: 2\n")  # the pool, two trials
    result = model_trainer.run(str(path))
    assert result.counts == {"completed": 2}
