"""Signals at any moment: a stop during the imports of start-up waits until the import is
whole (a half-imported numpy or torch turned a SIGTERM into false recipe errors or an
abort), and a signal after the work is done does not turn a success into a failure."""

from __future__ import annotations

import os
import signal
import sys
import textwrap

import pytest

from model_trainer.trial.signals import Stopped, stop_at_once


def test_a_signal_during_an_import_stops_after_the_import_not_inside_it(tmp_path, monkeypatch):
    (tmp_path / "slow_module.py").write_text(textwrap.dedent("""\
        import os, signal, time
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while this module is importing
        for _ in range(50):
            time.sleep(0.002)  # the module goes on: bytecodes run, handlers get their turn
        COMPLETE = True
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(Stopped) as stopped, stop_at_once():
        import slow_module  # noqa: F401
        for _ in range(500):  # after the import: the stop arrives here
            __import__("time").sleep(0.002)
    assert stopped.value.reason == "terminated"
    assert sys.modules["slow_module"].COMPLETE  # imported whole, not cut short
    del sys.modules["slow_module"]


AFTER_WORK = """
import atexit, os, signal, sys, time
def late_signal():  # the summary is printed and the result saved: the process is exiting
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.1)
atexit.register(late_signal)
sys.argv = ["mtrain", "run", sys.argv[1], "train.epochs=1"]
from model_trainer.cli.entry import main
main()
"""


def test_a_signal_after_the_work_is_done_does_not_fail_the_run(tmp_path):
    from pathlib import Path

    from tests import forked
    from tests.train.tiny import RECIPE

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE + f"output_dir: {tmp_path / 'runs'}\n")
    done = forked.run([sys.executable, "-c", AFTER_WORK, str(recipe)],
                      cwd=Path(__file__).parents[1], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "completed" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.1, 0.6, 1.1, 1.7])
def test_sigterm_at_any_moment_of_start_up_is_a_clean_143(tmp_path, delay):
    """A fresh interpreter (start-up imports included) is sent SIGTERM after `delay`:
    a clean exit 143 with one line saying so, or (too late to stop it) a success; never
    a traceback, a false recipe error or an abort; a rerun then finishes."""
    import subprocess
    import time
    from pathlib import Path

    from tests.study.tinytask import RECIPE

    root = Path(__file__).parents[1]
    recipe = tmp_path / "study.yaml"
    recipe.write_text(RECIPE.format(out=tmp_path / "runs"))
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-m", "model_trainer", "run", str(recipe), "study.concurrency=2"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode in (143, 0), (proc.returncode, err)
    said = err.replace("error study terminated; rerun", "")  # the stop's own message
    assert "Traceback" not in said and "error" not in said.lower(), err
    assert "ignored" not in err  # a stop swallowed where it could not propagate
    rerun = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0 and "4 completed" in rerun.stdout, rerun.stderr


def test_a_second_signal_during_a_long_import_stops_at_once(tmp_path, monkeypatch):
    (tmp_path / "long_module.py").write_text(textwrap.dedent("""\
        import os, signal, time
        os.kill(os.getpid(), signal.SIGINT)  # deferred: the import goes on
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # again: the user means it
        for _ in range(500):
            time.sleep(0.002)
        COMPLETE = True
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(Stopped), stop_at_once():
        import long_module  # noqa: F401
    assert "long_module" not in sys.modules  # stopped inside it, as asked
