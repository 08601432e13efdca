"""`mtrain` (and `python -m model_trainer`): the command line with Ctrl-C and SIGTERM
handled from the first moment.

During start-up (the CLI's own imports, parsing the arguments) a stop signal is recorded
and the command stops as it begins, with 130 or 143 and its usual message, before it
writes anything; while a command runs, its own handling applies (trial/signals.py); once
it has finished (its result saved and printed), further signals are ignored, so a signal
during the exit does not turn a success into a failure.
"""

from __future__ import annotations

import signal
import sys


def main() -> None:
    from model_trainer.trial.signals import Stopped, deferred
    from model_trainer.vocabulary import StopReason

    try:
        with deferred():  # the command's boundary raises a signal recorded before it began
            from model_trainer.cli.app import main as run_command

            run_command()
    except Stopped as stopped:
        print(f"{stopped.reason} before the command started; nothing was written",
              file=sys.stderr)
        raise SystemExit(143 if stopped.reason is StopReason.TERMINATED else 130) from None
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # the work is done, or never began
            signal.signal(signum, signal.SIG_IGN)
