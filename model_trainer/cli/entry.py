"""`mtrain` (and `python -m model_trainer`): the command line with Ctrl-C and SIGTERM
handled from the first moment.

During start-up (the CLI's own imports, parsing the arguments) a stop signal is recorded
and the command stops as it begins, with 130 or 143 and its usual message, before it
writes anything; while a command runs, its own handling applies (trial/signals.py); once
it has finished (its result saved and printed), a first signal during the exit is
ignored, so it does not turn a success into a failure.
"""

from __future__ import annotations


def main() -> None:
    from model_trainer.trial.signals import deferred, quiet_exit

    try:
        with deferred():  # the command's boundary raises a signal recorded before it began
            from model_trainer.cli.app import main as run_command

            run_command()
    finally:
        quiet_exit()
