"""The names of the files and folders in a trial folder and a study folder (the contract
on disk: see the README's "Files on disk")."""

from __future__ import annotations

# <output_dir>/<name>/<trial_id>/
RECIPE = "recipe.yaml"  # the resolved recipe, Derived values filled in
STATUS = "status.json"  # state, attempts, times, error, versions
METRICS = "metrics.jsonl"  # one JSON object per logged row, appended
CHECKPOINTS = "checkpoints"  # last.pt, last.prev.pt, best.pt
TENSORBOARD = "tensorboard"
PROVENANCE = "provenance.json"  # what ran the trial: git, command, packages, machine
GIT_DIFF = "git.diff"  # the uncommitted changes when the trial started (size-capped)
CODE = "code.json"  # the fingerprint of the code and data the trial runs (recipe/fingerprint.py)

# checkpoints/
LAST_CHECKPOINT = "last.pt"
PREVIOUS_CHECKPOINT = "last.prev.pt"  # the `last.pt` before the newest: the fallback
BEST_CHECKPOINT = "best.pt"

# <output_dir>/<name>/ of a study
STUDY_RECIPE = "study.yaml"  # the recipe the study was started from
STUDY_INDEX = "study_index.json"  # the driver's record of every trial (a snapshot) ...
STUDY_JOURNAL = "study_index.journal"  # ... and the changes since it, one per line
STUDY_DONE = "study_done.json"  # left when nothing was left to run (study/finished.py)
MLFLOW_STORE = "mlflow.db"  # train.loggers [mlflow] without MLFLOW_TRACKING_URI: its store

LOCK_FILE = ".lock"  # held by the process that owns a trial or study folder (locks.py)
REPLACED = ".replaced"  # where `mtrain run --force` moves a previous run (hidden)
ANALYSIS = "analysis"  # what `mtrain analyze` writes by default
