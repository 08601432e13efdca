"""Cross-field checks: values that type-check but make no sense together.

Errors stop the run before any training; warnings are printed and the run goes on.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
import typing
from typing import Any

from model_trainer.hypothesis import parse_claim
from model_trainer.metrics_file import metric_name
from model_trainer.recipe.markers import Kind, split_marker
from model_trainer.recipe.output_dir import output_folder_problem
from model_trainer.recipe.paths import keyword_parameters
from model_trainer.recipe.resolve import ResolveError, import_object
from model_trainer.recipe.schema import PRUNER_DEFAULTS, Recipe
from model_trainer.recipe.seeds import check_seed, check_seeds
from model_trainer.recipe.space import MAX_GRID, parse_dimension
from model_trainer.recipe.typecheck import INVALID, Report, build, closest, field_hints, kinds_of

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")


def check_recipe(recipe: Recipe, report: Report, warn: Report, code: bool = True,
                 groups: dict | None = None) -> None:
    """Every cross-field rule on a type-checked recipe; without `code`, the ones that
    need no module of the user's (a searched model arg is not checked against the model).
    `groups`: the config groups next to the recipe (key -> its options)."""
    if not _SAFE_NAME.match(recipe.name) or ".." in recipe.name:
        report("name", f"'{recipe.name}' is not a safe folder name (letters, digits, . _ = + -; "
               "no '/' or '..': it must stay inside output_dir)")
    else:
        problem = output_folder_problem(recipe.output_dir, recipe.name)
        if problem:
            report("output_dir", f"runs cannot be written here: {problem}")
    check_seed(recipe.seed, "seed", report)
    if not _DEVICE.match(recipe.device):
        report("device", f"expected auto, cpu, mps, cuda or cuda:N, got '{recipe.device}'")
    _check_train(recipe, report, warn)
    if recipe.hypothesis is not None:
        _check_hypothesis(recipe, report, code)
    if recipe.study is not None:
        _check_study(recipe, report, warn, code, groups or {})


def _at_least(value: Any, low: float, key: str, report: Report) -> None:
    if value is not None and not math.isfinite(value):
        report(key, f"must be a finite number >= {low}, got {value}")
    elif value is not None and value < low:
        report(key, f"must be >= {low}, got {value}")


def _check_train(recipe: Recipe, report: Report, warn: Report) -> None:
    t = recipe.train
    for key in ("epochs", "batch_size", "grad_accum", "eval_every", "log_every",
                "checkpoint_every", "devices"):
        _at_least(getattr(t, key), 1, f"train.{key}", report)
    _at_least(t.checkpoint_min_interval_s, 0, "train.checkpoint_min_interval_s", report)
    _at_least(t.threads, 1, "train.threads", report)
    _at_least(t.max_steps, 1, "train.max_steps", report)
    _at_least(t.eval_every_steps, 1, "train.eval_every_steps", report)
    _at_least(t.checkpoint.keep_best, 0, "train.checkpoint.keep_best", report)
    if t.ema is not None and not 0 < t.ema.decay < 1:
        report("train.ema.decay", f"must be between 0 and 1 (like 0.999), got {t.ema.decay}")
    if t.swa is not None:
        _at_least(t.swa.start_epoch, 1, "train.swa.start_epoch", report)
        if t.ema is not None:
            report("train.swa", "and train.ema both average the weights: choose one")
    _at_least(t.checkpoint.keep_every, 1, "train.checkpoint.keep_every", report)
    warmup = t.scheduler.warmup
    if warmup is not None and (warmup.steps is None) == (warmup.epochs is None):
        report("train.scheduler.warmup", "needs exactly one of steps or epochs, like "
               "{steps: 500} or {epochs: 1}")
    elif warmup is not None:
        _at_least(warmup.steps, 1, "train.scheduler.warmup.steps", report)
        _at_least(warmup.epochs, 1, "train.scheduler.warmup.epochs", report)
    opt = t.optimizer
    if not (math.isfinite(opt.lr) and opt.lr > 0):
        report("train.optimizer.lr", f"must be a finite number > 0, got {opt.lr}")
    _at_least(opt.weight_decay, 0, "train.optimizer.weight_decay", report)
    _at_least(opt.momentum, 0, "train.optimizer.momentum", report)
    if opt.momentum is not None and opt.name != "sgd":
        report("train.optimizer.momentum", f"applies to sgd only (optimizer is '{opt.name}'); "
               "pass other options in train.optimizer.args")
    if t.grad_clip is not None and not (math.isfinite(t.grad_clip) and t.grad_clip > 0):
        report("train.grad_clip", f"must be a finite number > 0, or null; got {t.grad_clip}")
    if t.precision == "fp16" and recipe.device in ("cpu", "mps"):
        report("train.precision", f"fp16 needs CUDA (device is '{recipe.device}'); use bf16 on CPU")
    _at_least(t.early_stopping.patience, 1, "train.early_stopping.patience", report)
    if not math.isfinite(t.early_stopping.min_delta):
        report("train.early_stopping.min_delta", f"must be a finite number, got "
               f"{t.early_stopping.min_delta}")
    _at_least(recipe.data.num_workers, 0, "data.num_workers", report)
    if t.strategy == "single" and t.devices > 1:
        warn("train.devices", "is ignored unless train.strategy is ddp")
    if t.strategy == "ddp" and t.devices > 1:
        if t.batch_size % t.devices:
            report("train.batch_size", f"is the global batch, split evenly over the ranks: "
                   f"{t.batch_size} is not divisible by train.devices={t.devices}")
        if recipe.device.startswith("cuda:") or recipe.device == "mps":
            report("device", f"'{recipe.device}' with train.strategy ddp: use cuda (rank r "
                   "trains on cuda:r; pick the GPUs with CUDA_VISIBLE_DEVICES), cpu or auto")
    if len(set(t.metrics)) != len(t.metrics):
        report("train.metrics", "lists a metric twice")
    if len(set(t.loggers)) != len(t.loggers):
        report("train.loggers", "lists a logger twice")
    for logger in ("mlflow", "wandb"):
        if logger in t.loggers and importlib.util.find_spec(logger) is None:
            report("train.loggers", f"{logger} is not installed: "
                   f"pip install 'model_trainer[{logger}]'")
    if t.checkpoint.format == "safetensors" and importlib.util.find_spec("safetensors") is None:
        report("train.checkpoint.format", "safetensors is not installed: "
               "pip install 'model_trainer[safetensors]'")
    monitor = t.monitor.metric
    known = {metric_name("train", "loss"), metric_name("val", "loss")} | {
        metric_name("val", m.rsplit(".", 1)[-1]) for m in t.metrics}
    if not re.match(r"^(train|val|test)_\w+$", monitor):
        report("train.monitor.metric", f"expected <split>_<metric> like val_loss or "
               f"val_accuracy, got '{monitor}'")
    elif monitor not in known:
        warn("train.monitor.metric", f"'{monitor}' is not among this recipe's metrics "
             f"({', '.join(sorted(known))}){closest(monitor, known)}; fine if the wrapper's "
             "custom_evaluation returns it, else the run stops with an error at the first eval")


def _check_study(recipe: Recipe, report: Report, warn: Report, code: bool,
                 groups: dict) -> None:
    s = recipe.study
    assert s is not None
    _at_least(s.concurrency, 1, "study.concurrency", report)
    _at_least(s.trials, 1, "study.trials", report)
    _at_least(s.retries, 0, "study.retries", report)
    _at_least(s.fail_fast, 1, "study.fail_fast", report)
    _at_least(s.resources.gpus, 0, "study.resources.gpus", report)
    if not (math.isfinite(s.resources.cpus) and s.resources.cpus > 0):
        report("study.resources.cpus", f"must be a finite number > 0, got {s.resources.cpus}")
    _check_study_devices(recipe, report, warn)
    _check_pruner(recipe, report, warn)
    if s.address is not None and s.executor == "slurm":
        report("study.address", "names a Ray cluster, but study.executor is slurm: choose "
               "one (remove study.address, or set study.executor: ray)")
    if s.executor == "slurm":
        for name, value in (("cpus", s.resources.cpus), ("gpus", s.resources.gpus)):
            if math.isfinite(value) and not float(value).is_integer():
                report(f"study.resources.{name}", f"SLURM gives whole {name}: "
                       f"{value:g} is not one (study.executor is slurm)")
    _at_least(s.slurm.cpus_per_trial, 1, "study.slurm.cpus_per_trial", report)
    _at_least(s.slurm.gpus_per_trial, 0, "study.slurm.gpus_per_trial", report)
    if not (math.isfinite(s.slurm.poll_s) and s.slurm.poll_s > 0):
        report("study.slurm.poll_s", f"must be a finite number > 0, got {s.slurm.poll_s}")
    if s.sampler in ("random", "tpe") and s.trials is None:
        report("study.trials", f"is required by sampler '{s.sampler}' (how many configurations)")
    grid_size, dims = 1, []
    for key, spec in s.space.items():
        where = f"study.space.{key}"
        dim, problems = parse_dimension(key, spec)
        grid_size *= dim.size if dim is not None and dim.is_discrete else 1
        for problem in problems:
            report(where, problem)
        if key in groups and dim is not None:  # a config group: its options are the values
            _check_options(dim, groups[key], where, report)
            dims.append(dim)
            continue
        target = _attribute(recipe, key, where, report, code)
        if dim is None or target is None:
            continue
        dims.append(dim)
        attr_type = target
        if dim.kind == "choice":
            for i, value in enumerate(dim.values):
                if build(value, attr_type, f"{where}.choice.{i}", report) is INVALID:
                    break
        elif not _accepts(attr_type, 1):
            report(where, f"a {dim.kind} range gives numbers, but {key} is not numeric")
        elif dim.kind in ("uniform", "loguniform") and not _accepts(attr_type, 0.5):
            report(where, f"{key} is an int: use {{int: [low, high]}}, not {dim.kind}")
        if s.sampler == "grid" and not dim.is_discrete:
            report(where, f"the grid sampler needs discrete values, but this is a {dim.kind} "
                   "range; use choice or int, or sampler random/tpe")
    if s.sampler == "grid" and s.trials is not None:
        warn("study.trials", "is ignored by the grid sampler (it runs every grid point once)")
    if s.sampler == "grid" and grid_size > MAX_GRID:
        report("study.space", f"the grid has {grid_size:,} points; a grid study may have at "
               f"most {MAX_GRID:,} (use sampler random or tpe)")
    # with a broken dimension there is no grid to find the baseline in, and a grid too
    # large is reported already
    complete = len(dims) == len(s.space) and grid_size <= MAX_GRID
    check_seeds(recipe, dims if complete else None, report)


def _check_options(dim: Any, options: Any, where: str, report: Report) -> None:
    if dim.kind != "choice":
        report(where, f"a config group is searched over its options: {{choice: "
               f"[{', '.join(options)}]}}")
        return
    folder = dim.key.replace(".", "/")
    for i, value in enumerate(dim.values):
        if value not in options:
            report(f"{where}.choice.{i}", f"no {folder}/{value}.yaml next to the recipe "
                   f"(options: {', '.join(options)})")


def _check_hypothesis(recipe: Recipe, report: Report, code: bool) -> None:
    """Each claim reads, names stateful attributes with values they can take, and the
    study is left for the claims to design."""
    hypothesis = recipe.hypothesis
    if not hypothesis.claims:
        report("hypothesis.claims", "needs at least one claim, like "
               "{claim: 'model.args.dropout=0.3 > model.args.dropout=0.0'}")
    if not 0 < hypothesis.alpha < 1:
        report("hypothesis.alpha", f"must be between 0 and 1 (like 0.05), got "
               f"{hypothesis.alpha}")
    for i, item in enumerate(hypothesis.claims):
        where = f"hypothesis.claims.{i}"
        try:
            claim = parse_claim(item.claim, item.by, item.margin)
        except ValueError as exc:
            field = "margin" if "margin" in str(exc) else "by" if "'by'" in str(exc) else "claim"
            report(f"{where}.{field}", str(exc))
            continue
        for key, value in [*claim.a.items(), *claim.b.items()]:
            target = _attribute(recipe, key, f"{where}.claim", report, code)
            if target is not None:
                build(value, target, f"{where}.claim", report)
    study = recipe.study
    if study is not None and study.space:
        report("study.space", "a hypothesis designs the study from its claims: remove "
               "study.space (or the hypothesis)")
    if study is not None and study.sampler != "grid":
        report("study.sampler", "a hypothesis study runs the configurations its claims name: "
               "leave the sampler at grid")


PRUNER_MINIMUM = {"startup_trials": 0, "warmup_epochs": 0, "min_epochs": 1,
                  "reduction_factor": 2, "min_early_stopping_rate": 0}


def _check_pruner(recipe: Recipe, report: Report, warn: Report) -> None:
    """Each parameter belongs to the pruner's kind and has a usable value; a warning when
    the trials end before the first rung."""
    pruner = recipe.study.pruner
    settings = pruner.settings()
    for name, low in PRUNER_MINIMUM.items():
        value = getattr(pruner, name)
        if value is None:
            continue
        if name not in settings:
            kinds = [k for k, names in PRUNER_DEFAULTS.items() if name in names]
            report(f"study.pruner.{name}", f"applies to pruner kind {' and '.join(kinds)} "
                   f"only (kind is '{pruner.kind}')")
        else:
            _at_least(value, low, f"study.pruner.{name}", report)
    if "min_epochs" in settings and all(v >= PRUNER_MINIMUM[k] for k, v in settings.items()):
        first = settings["min_epochs"] * settings["reduction_factor"] ** settings.get(
            "min_early_stopping_rate", 0)
        if first >= recipe.train.epochs:
            warn("study.pruner", f"its first rung is at epoch {first}, but trials train "
                 f"{recipe.train.epochs} epochs: nothing is pruned; lower "
                 "study.pruner.min_epochs")


def _check_study_devices(recipe: Recipe, report: Report, warn: Report) -> None:
    """A ddp trial runs its ranks inside its own Ray task: they need the trial's resources."""
    t, res = recipe.train, recipe.study.resources
    if t.strategy != "ddp" or t.devices <= 1:
        return
    if res.gpus > 0 or recipe.device.startswith("cuda"):  # one GPU per rank, never shared
        if t.devices > res.gpus:
            report("train.devices", f"{t.devices} ranks need {t.devices} GPUs per trial, but "
                   f"study.resources.gpus={res.gpus:g}; set study.resources.gpus={t.devices}")
        elif res.gpus > t.devices:
            warn("study.resources.gpus", f"reserves {res.gpus:g} GPUs per trial but "
                 f"train.devices={t.devices} uses {t.devices}")
    elif t.devices > res.cpus:
        warn("train.devices", f"{t.devices} CPU ranks per trial share study.resources.cpus="
             f"{res.cpus:g}, so they run slower; set study.resources.cpus={t.devices}")


def _model_takes(recipe: Recipe, name: str, where: str, report: Report) -> bool:
    """Without a model config, a searched model arg must be a parameter of the target."""
    try:
        accepted = keyword_parameters(import_object(recipe.model.target))
    except ResolveError:
        return True  # already reported at model.target
    if accepted is not None and name not in accepted:
        report(where, f"no recipe attribute 'model.args.{name}': {recipe.model.target} has no "
               f"parameter '{name}'{closest(name, accepted)}")
        return False
    return True


def _accepts(tp: Any, value: Any) -> bool:
    return build(value, tp, "", lambda k, m: None) is not INVALID


def _attribute(recipe: Recipe, key: str, where: str, report: Report, code: bool) -> Any:
    """The type of the stateful attribute at dotted `key`, or None (reported) if unusable."""
    if key == "seed":
        report(where, "vary seeds with study.seeds, not the search space")
        return None
    if key.split(".")[0] == "study":
        report(where, "the study section cannot be searched over")
        return None
    node: Any = recipe
    tp: Any = type(recipe)
    kind = Kind.STATEFUL
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if isinstance(node, dict) or tp is Any:  # free-form args: any value, stateful
            if parts[:depth] == ["model", "args"] and code \
                    and not _model_takes(recipe, part, where, report):
                return None
            return Any
        if not dataclasses.is_dataclass(tp):
            report(where, f"'{'.'.join(parts[:depth])}' has no attributes (it is a "
                   f"{getattr(tp, '__name__', tp)})")
            return None
        fields = kinds_of(tp, kind)
        if part not in fields:
            report(where, f"no recipe attribute '{key}'{closest(part, fields)}")
            return None
        kind, bare = fields[part]
        full = field_hints(tp)[part]
        node = getattr(node, part, None) if node is not None else None
        tp = type(node) if dataclasses.is_dataclass(node) else split_marker(full)[0]
        if typing.get_origin(tp) is not None and type(None) in typing.get_args(tp):
            inner = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = inner[0] if len(inner) == 1 else tp
    if kind is not Kind.STATEFUL:
        report(where, f"{key} is {kind.value}: varying it would not change the experiment")
        return None
    return tp

