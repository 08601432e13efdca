"""What `mtrain validate` and `run` say about a recipe: a summary line, notes, trial ids."""

from __future__ import annotations

from model_trainer.recipe import LoadedRecipe, Recipe, names
from model_trainer.recipe.identity import schedule_horizon, schedule_sized_by
from model_trainer.recipe.seeds import baseline_number, initial_seeds, is_adaptive
from model_trainer.recipe.space import grid, parse_dimension


def summary_line(recipe: Recipe) -> str:
    """One line: what trains, how long, with what."""
    t = recipe.train
    opt = t.optimizer
    model = recipe.model.target.rsplit(".", 1)[-1]
    line = (f"{recipe.name}: {model}, {t.epochs} epochs, batch {t.batch_size}, "
            f"{opt.name} lr={opt.lr:g}, {t.precision} on {recipe.device}")
    if recipe.hypothesis is not None:
        line += (f"; hypothesis: {len(recipe.hypothesis.claims)} claim(s), concurrency "
                 f"{recipe.study.concurrency}")
    elif recipe.study is not None:
        s = recipe.study
        line += f"; study: {s.sampler} over {len(s.space)} key(s), concurrency {s.concurrency}"
    return line


def horizon_note(recipe: Recipe) -> str | None:
    """Why raising train.epochs (or train.max_steps) will not extend this run, when it will
    not."""
    horizon, key = schedule_horizon(recipe), schedule_sized_by(recipe)
    if horizon is None:
        return None
    name = recipe.train.scheduler.name
    arg = names.SIZED_BY_EPOCHS[name][0]
    return (f"note: {key}={horizon} is part of the trial id because the {name} "
            f"schedule is sized from it: another value trains another trial (set "
            f"train.scheduler.args.{arg} to fix the schedule and extend runs in place)")


def planned_trials(loaded: LoadedRecipe) -> list[str]:
    """The trial id(s) a run would use, one line each (studies: what can be known now)."""
    study = loaded.recipe.study
    if study is None:
        return [f"trial {loaded.trial_id}"]
    seeds = initial_seeds(study, loaded.recipe.seed)
    if loaded.recipe.hypothesis is not None:
        return _hypothesis_plan(loaded, seeds)
    if study.sampler != "grid":
        return [f"study {loaded.study_id}: {study.trials} {study.sampler}-sampled "
                f"configuration(s) x {len(seeds)} seed(s) = {study.trials * len(seeds)} trials "
                "(values are sampled at run time)"]
    dims = [d for d in (parse_dimension(k, v)[0] for k, v in study.space.items()) if d]
    points = grid(dims) or [{}]
    lines = [f"study {loaded.study_id}: {len(points)} grid point(s) x {len(seeds)} seed(s) "
             f"= {len(points) * len(seeds)} trials"]
    if is_adaptive(study):
        base = " ".join(f"{k}={v}" for k, v in points[baseline_number(loaded.recipe, dims)].items())
        lines[0] += (f" to start; adaptive seeds add seeds while a comparison with the baseline "
                     f"({base}) is undecided, up to {study.seeds.max} per grid point "
                     f"({len(points) * study.seeds.max} trials)")
    for point in points:
        for seed in seeds:
            variant = loaded.variant({**point, "seed": seed})
            values = " ".join(f"{k}={v}" for k, v in point.items())
            lines.append(f"  trial {variant.trial_id}  seed={seed} {values}".rstrip())
    return lines


def _hypothesis_plan(loaded: LoadedRecipe, seeds: list[int]) -> list[str]:
    """The configurations the claims name, each claim's pair, the budget, the trial ids."""
    from model_trainer.study.claims import ClaimSeeds, design

    plan = design(loaded.recipe)
    most = ClaimSeeds(loaded.recipe, plan).max
    n = len(plan.points)
    monitor = loaded.recipe.train.monitor
    lines = [f"study {loaded.study_id}: a hypothesis of {len(plan.claims)} claim(s) over {n} "
             f"configuration(s) x {len(seeds)} seed(s) = {n * len(seeds)} trials to start; an "
             f"undecided claim adds a seed to both its configurations, up to {most} (at most "
             f"{n * most} trials)"]
    for claim, a, b in plan.claims:
        lines.append(f"  claim: {claim.meaning(monitor.metric, monitor.mode)} "
                     f"(configuration {a} vs {b})")
    for number, point in enumerate(plan.points):
        values = " ".join(f"{k}={v}" for k, v in point.items())
        for seed in seeds:
            variant = loaded.variant({**point, "seed": seed})
            lines.append(f"  trial {variant.trial_id}  configuration {number} seed={seed} "
                         f"{values}")
    return lines
