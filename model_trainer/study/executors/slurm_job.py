"""What a SLURM job of a study runs (`study.executor: slurm`): one trial from the payload
the driver wrote, then its outcome beside it, tagged with the job's id (slurm.py reads it
once the job has ended). SIGTERM (a requeue, a preemption, the time limit's warning)
makes the trial save and stop as in any run; a requeued job continues it.

    python -m model_trainer.study.executors.slurm_job JOB_FOLDER
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

from model_trainer.files import atomic_write_bytes
from model_trainer.study.executors.slurm import outcome_json
from model_trainer.study.trial_task import execute_trial


def main(folder: Path) -> int:
    payload = pickle.loads((folder / "payload.pkl").read_bytes())
    # a requeued job keeps its id: the outcome of its run before the requeue must not stand
    # for this run's (one that dies without an outcome is then reported as SLURM saw it)
    (folder / "outcome.json").unlink(missing_ok=True)
    outcome = execute_trial(payload)
    atomic_write_bytes(folder / "outcome.json", outcome_json(outcome, job_id()))
    return 0


def job_id() -> str:
    """This job's id as squeue names it: `<array>_<task>` for a task of an array."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", "")


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
