"""Where a study's trials run. Every executor offers the same calls: `submit(key,
payload)`, `wait_one()` (the next finished trial and its `TrialOutcome`), `running`, and
`cancel_all(reason)` (the running trials stop and save), and is a context manager.

- inline: one trial at a time in the driver's process (concurrency 1, no pool);
- local: a pool of worker processes on this machine (the default);
- ray: Ray tasks, on a cluster (`study.address`) or a local Ray (`study.executor: ray`);
- slurm: one SLURM job per trial, from a login node (`study.executor: slurm`).
"""

from __future__ import annotations

from typing import Any


def make_executor(recipe: Any) -> Any:
    """The executor the recipe's study asks for (started lazily: a study with nothing
    left to run starts no process and no Ray); resources are checked first."""
    study = recipe.study
    res = study.resources
    check_resources(recipe)
    if uses_ray(recipe):
        from model_trainer.study.executors.ray import RayExecutor

        return RayExecutor(study.address, res.cpus, res.gpus)
    if study.executor == "slurm":
        from model_trainer.study.executors.slurm import SlurmExecutor

        known_up_front = (study.sampler == "grid" and isinstance(study.seeds, list)
                          and recipe.hypothesis is None and study.fail_fast is None)
        return SlurmExecutor(study.slurm, res.cpus, res.gpus, study.concurrency,
                             arrays=known_up_front)
    if study.concurrency == 1:  # in the driver's process
        from model_trainer.study.executors.inline import InlineExecutor

        return InlineExecutor()
    from model_trainer.study.executors.local import LocalExecutor

    return LocalExecutor(study.concurrency, res.cpus, res.gpus, preload=user_modules(recipe))


def start_workers_early(recipe: Any) -> None:
    """Start the local pool's server before the recipe is validated (see local.py); a
    no-op for the other executors and for a recipe this machine cannot run."""
    study = recipe.study
    if not runs_here(recipe) or study.concurrency == 1:
        return
    from model_trainer.errors import UserError
    from model_trainer.study.executors.local import start_server

    try:
        check_resources(recipe)
    except UserError:
        return  # the full run reports it
    start_server(user_modules(recipe))


def uses_ray(recipe: Any) -> bool:
    return recipe.study.address is not None or recipe.study.executor == "ray"


def runs_here(recipe: Any) -> bool:
    """Whether the trials run on this machine's worker processes (not Ray, not SLURM)."""
    return not uses_ray(recipe) and recipe.study.executor == "local"


def check_resources(recipe: Any) -> None:
    """UsageError (exit 2) when this machine can never give a trial what it asks for
    (Ray checks its own cluster when it starts; SLURM refuses a job it cannot run)."""
    if not runs_here(recipe):
        return
    from model_trainer.study.executors.local import worker_shares

    study = recipe.study
    worker_shares(study.concurrency, study.resources.cpus, study.resources.gpus)


def user_modules(recipe: Any) -> tuple[str, ...]:
    """The modules a recipe's dotted paths live in (imported once, before workers fork)."""
    paths = [recipe.model.target, recipe.model.config, recipe.data.target, recipe.data.config,
             recipe.wrapper]
    return tuple(dict.fromkeys(p.rsplit(".", 1)[0] for p in paths if p and "." in p))
