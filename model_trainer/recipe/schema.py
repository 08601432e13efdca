"""The recipe schema: one dataclass per section, every attribute marked.

Unmarked attributes are Stateful (part of the experiment's identity). Defaults live
here and nowhere else. `model.args` and `data.args` are typed by the user's own config
dataclass when `model.config` / `data.config` name one.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from model_trainer.recipe.markers import ADDED, MISSING, Stateless, split_marker
from model_trainer.recipe.node import ConfigNode


class ModelConfig(ConfigNode):
    """Base class for a user's model config dataclass (named by `model.config`)."""


@dataclass
class ModelSection(ConfigNode):
    target: str = MISSING  # dotted path: nn.Module class or factory(config)
    config: str | None = None  # dotted path to a dataclass that types `args`
    args: Any = field(default_factory=dict)


class DataConfig(ConfigNode):
    """Base class for a user's data config dataclass (named by `data.config`)."""


@dataclass
class DataSection(ConfigNode):
    target: str = MISSING  # dotted path: callable(config, flag) -> DataLoader
    config: str | None = None  # dotted path to a dataclass that types `args`
    args: Any = field(default_factory=dict)
    num_workers: Stateless[int] = 0  # worker processes of the default loaders
    # keep the dataset for the next trial with the same data section, seed and split (in
    # a study's worker); off for a factory whose data depends on more (train/data_cache.py)
    cache: Stateless[bool] = True


@dataclass
class OptimizerConfig(ConfigNode):
    name: str = "adamw"  # sgd | adam | adamw | dotted path to a torch.optim.Optimizer class
    lr: float = 1.0e-3
    weight_decay: float = 0.0
    momentum: float | None = None  # sgd only
    args: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments


@dataclass
class WarmupConfig(ConfigNode):
    """A linear learning-rate warmup over the first optimizer steps, on top of any
    schedule: step k (1-based) uses the schedule's rate times min(1, k / length)."""

    steps: int | None = None  # the warmup's length in optimizer steps...
    epochs: int | None = None  # ...or in epochs (times the optimizer steps of an epoch)


@dataclass
class SchedulerConfig(ConfigNode):
    name: str = "none"  # none | cosine | step | onecycle | plateau | dotted path
    interval: Literal["step", "epoch"] | None = None  # None: the scheduler's natural one
    args: dict[str, Any] = field(default_factory=dict)
    warmup: WarmupConfig | None = field(default=None, metadata=ADDED)


@dataclass
class MonitorConfig(ConfigNode):
    metric: str = "val_loss"  # <split>_<metric>, e.g. val_accuracy
    mode: Literal["min", "max"] = "min"


@dataclass
class EarlyStoppingConfig(ConfigNode):
    patience: int | None = None  # evaluations without improvement; None disables
    min_delta: float = 0.0


@dataclass
class CheckpointConfig(ConfigNode):
    keep_best: int = 0  # the k evaluations best by train.monitor: checkpoints/top-*.pt
    keep_every: int | None = None  # every N epochs: checkpoints/epoch-NNNN.pt
    # safetensors: also write the model weights of last.pt and best.pt as last.safetensors
    # and best.safetensors (no pickle: any framework reads them)
    format: Literal["torch", "safetensors"] = "torch"


@dataclass
class CompileConfig(ConfigNode):
    mode: str | None = None  # default | reduce-overhead | max-autotune | ... (torch's)
    backend: str = "inductor"  # torch's backends, or a dotted path to one of your own
    fullgraph: bool = False


@dataclass
class EMAConfig(ConfigNode):
    decay: float = 0.999  # each step: ema = decay * ema + (1 - decay) * weights


@dataclass
class SWAConfig(ConfigNode):
    start_epoch: int = 1  # the first epoch whose end joins the average


@dataclass
class CallbackConfig(ConfigNode):
    target: str = MISSING  # dotted path of a Callback class (or a factory of one)
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig(ConfigNode):
    epochs: Stateless[int] = 10  # more epochs extend a run (unless a schedule is sized from it)
    # stop after this many optimizer steps, mid-epoch if need be (more steps extend the run,
    # unless a per-step schedule without its own length is sized from it)
    max_steps: Stateless[int | None] = None
    batch_size: int = 64
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    grad_clip: float | None = None
    grad_accum: int = 1
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    metrics: Stateless[list[str]] = field(default_factory=lambda: ["accuracy"])
    # what float outputs shaped like the targets are: accuracy needs to know (no guessing)
    binary_output: Stateless[Literal["logits", "probabilities"] | None] = None
    monitor: Stateless[MonitorConfig] = field(default_factory=MonitorConfig)
    early_stopping: Stateless[EarlyStoppingConfig] = field(default_factory=EarlyStoppingConfig)
    eval_every: Stateless[int] = 1  # epochs between evaluations on the val split
    # ...and every this many optimizer steps, mid-epoch (rows at that step)
    eval_every_steps: Stateless[int | None] = None
    log_every: Stateless[int] = 50  # optimizer steps between train-metric log lines
    checkpoint_every: Stateless[int] = 1  # epochs between checkpoints
    # ...and at least this many seconds (the last checkpoint, at a stop or a signal, is
    # always written): short epochs do not pay a checkpoint each (train/cadence.py)
    checkpoint_min_interval_s: Stateless[float] = 5.0
    progress: Stateless[Literal["auto", "rich", "plain", "off"]] = "auto"
    # experiment trackers written beside metrics.jsonl (which stays the source of truth)
    loggers: Stateless[list[Literal["tensorboard", "mlflow", "wandb"]]] = field(default_factory=list)
    # torch's deterministic algorithms and cuDNN settings: bit-identical reruns, slower on GPU
    deterministic: Stateless[bool] = False
    # Data parallelism inside one trial. Both are stateless: `batch_size` is the GLOBAL
    # batch, split evenly over the ranks, and gradients are averaged, so one step sees the
    # same samples and makes the same update as one process (equal within float
    # tolerance); a run may change either between reruns and resume its checkpoints.
    strategy: Stateless[Literal["single", "ddp"]] = "single"  # ddp: one process per device
    devices: Stateless[int] = 1  # ranks under ddp: GPUs on CUDA, processes on CPU
    # torch's threads for one run (null: torch's default, one per core; a study's trials
    # take study.resources.cpus); recorded in provenance.json
    threads: Stateless[int | None] = None
    # conv models: NHWC tensors (faster convolutions on recent GPUs); the numbers match
    # within float tolerance, so stateless like `deterministic`
    channels_last: Stateless[bool] = False
    # log the gradient norm (after unscaling, before clipping) at each log point
    log_grad_norm: Stateless[bool] = False
    # torch.compile the model (true: default options); the numbers match within float
    # tolerance, so stateless (a run without it resumes a compiled run's checkpoints)
    compile: Stateless[bool | CompileConfig] = False
    # checkpoints kept besides last.pt and best.pt (train/kept.py)
    checkpoint: Stateless[CheckpointConfig] = field(default_factory=CheckpointConfig)
    # objects the loop calls at fixed moments (train/callbacks.py): a dotted class path, or
    # {target, args}; they may change training, so they are part of the identity
    callbacks: list[str | CallbackConfig] = field(default_factory=list, metadata=ADDED)
    # an exponential moving average of the weights: evaluations, best.pt and the test
    # split use it (train/ema.py); it changes the numbers, so it is part of the identity
    ema: EMAConfig | None = field(default=None, metadata=ADDED)
    # stochastic weight averaging: the equal average of the weights at the ends of epochs
    # start_epoch.. is what evaluations and best.pt use (train/swa.py); part of the identity
    swa: SWAConfig | None = field(default=None, metadata=ADDED)

    renamed_keys: ClassVar[dict[str, str]] = {"tensorboard": "train.loggers: [tensorboard]"}


@dataclass
class ResourcesConfig(ConfigNode):
    cpus: float = 1.0
    gpus: float = 0.0


@dataclass
class SlurmConfig(ConfigNode):
    """How `study.executor: slurm` submits each trial as a SLURM job (sbatch options)."""

    partition: str | None = None
    time: str | None = None  # a job's time limit, as sbatch reads it: 30, 2:00:00, 1-0
    cpus_per_trial: int | None = None  # default: study.resources.cpus
    gpus_per_trial: int | None = None  # default: study.resources.gpus
    mem: str | None = None  # per job, as sbatch reads it: 4G, 500M
    account: str | None = None
    qos: str | None = None
    extra_args: list[str] = field(default_factory=list)  # more sbatch options, as written
    signal_margin_s: int = 120  # SIGTERM this long before the time limit: save, continue
    poll_s: float = 2.0  # how often the driver asks squeue about its jobs


@dataclass
class AdaptiveSeedsConfig(ConfigNode):
    """Seeds added while a configuration's comparison with the baseline is undecided.

    Only `alpha` is stateful: the group-sequential design behind the decisions holds
    whatever stopping rule is used, so raising `max` (or changing `min` or `decide`) and
    rerunning continues the same study."""

    min: Stateless[int] = 3  # seeds every configuration starts with
    max: Stateless[int] = 12  # a comparison still undecided here is reported undecided
    # differences within +-decide do not matter (objective units); a grid needs it, a
    # hypothesis study does not (its claims say what matters)
    decide: Stateless[float | None] = None
    alpha: float = 0.05  # chance that any decision of the study is wrong, at most


@dataclass
class ClaimConfig(ConfigNode):
    """One claim of a hypothesis (model_trainer/hypothesis.py says how it is judged)."""

    claim: str = MISSING  # 'model.args.dropout=0.3 > model.args.dropout=0.0' (> < ~ >=)
    by: float = 0.0  # > and <: the least difference that counts (objective units)
    margin: float | None = None  # ~ and >=: the difference that does not matter


@dataclass
class HypothesisConfig(ConfigNode):
    """Claims to verdict: the study that decides them is designed from them."""

    claims: list[ClaimConfig] = field(default_factory=list)
    alpha: float = 0.05  # chance that any verdict is wrong, at most


PrunerKind = Literal["none", "median", "successive_halving", "hyperband"]
# The parameters each kind reads, with the value a null one takes: Optuna's defaults,
# except that the first rung is at epoch 1 (Optuna's 'auto' waits for a finished trial).
PRUNER_DEFAULTS: dict[str, dict[str, int]] = {
    "none": {},
    "median": {"startup_trials": 4, "warmup_epochs": 1},
    "successive_halving": {"min_epochs": 1, "reduction_factor": 4, "min_early_stopping_rate": 0},
    "hyperband": {"min_epochs": 1, "reduction_factor": 3},
}


@dataclass
class PrunerConfig(ConfigNode):
    """An Optuna pruner; each parameter applies to the kinds named beside it (null: the
    kind's default, PRUNER_DEFAULTS)."""

    kind: PrunerKind = "none"
    startup_trials: int | None = None  # median: completed trials before any pruning
    warmup_epochs: int | None = None  # median: epochs a trial runs before it can be pruned
    min_epochs: int | None = None  # successive_halving, hyperband: epochs of the first rung
    reduction_factor: int | None = None  # successive_halving, hyperband: 1 in this many goes on
    min_early_stopping_rate: int | None = None  # successive_halving: rungs skipped at the start

    def settings(self) -> dict[str, int]:
        """The parameters this kind reads: the values given, else its defaults."""
        return {name: default if getattr(self, name) is None else getattr(self, name)
                for name, default in PRUNER_DEFAULTS[self.kind].items()}


@dataclass
class StudyConfig(ConfigNode):
    space: dict[str, Any] = field(default_factory=dict)  # dotted key -> {choice|uniform|...}
    sampler: Literal["grid", "random", "tpe"] = "grid"
    trials: Stateless[int | None] = None  # for random and tpe; raising it adds trials
    # a list (empty: the recipe's own seed), or adaptive: {min, max, decide, alpha}
    seeds: list[int] | AdaptiveSeedsConfig = field(default_factory=list)
    # `pruner: median` is short for `pruner: {kind: median}`
    pruner: PrunerConfig | PrunerKind = field(default_factory=PrunerConfig)
    concurrency: Stateless[int] = 1
    resources: Stateless[ResourcesConfig] = field(default_factory=ResourcesConfig)
    # where trials run: this machine's workers, Ray (local or study.address), SLURM jobs
    executor: Stateless[Literal["local", "ray", "slurm"]] = "local"
    slurm: Stateless[SlurmConfig] = field(default_factory=SlurmConfig)
    # s3://bucket/prefix: trial folders mirrored there as they run, for machines that share
    # no file system (model_trainer/storage.py)
    storage: Stateless[str | None] = None
    address: Stateless[str | None] = None  # a Ray cluster's address (then trials run on Ray)
    retries: Stateless[int] = 0
    fail_fast: Stateless[int | None] = None

    def __post_init__(self) -> None:
        if isinstance(self.pruner, str):  # the short form: one spelling downstream
            self.pruner = PrunerConfig(kind=self.pruner)


@dataclass
class Recipe(ConfigNode):
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    name: Stateless[str] = "experiment"
    seed: int = 0
    output_dir: Stateless[str] = "runs"
    device: Stateless[str] = "auto"  # auto | cpu | cuda | cuda:N
    wrapper: str = "model_trainer.ModelWrapper"
    train: TrainConfig = field(default_factory=TrainConfig)
    study: StudyConfig | None = None
    hypothesis: HypothesisConfig | None = None  # designs the study (study.space stays empty)

    # keys other tools read, and what to write here instead
    foreign_keys: ClassVar[dict[str, str]] = {
        "defaults": "Hydra's defaults list is not read here: build on other files with "
                    "`extends: [base.yaml]` and pick a config group's option with GROUP=OPTION "
                    "(docs/recipes.md, \"For Hydra users\")",
    }


def setting_type(key: str) -> Any:
    """The type of dotted `key` when it is one of the recipe's own settings
    (`train.epochs` -> int, `model` -> ModelSection); None for a key of free-form args
    (`model.args.hidden` without a config class) or no key at all."""
    from model_trainer.recipe.typecheck import field_hints  # (import model_trainer stays light)

    tp: Any = Recipe
    for part in key.split("."):
        if not dataclasses.is_dataclass(tp) or \
                part not in {f.name for f in dataclasses.fields(tp)}:
            return None
        tp = split_marker(field_hints(tp)[part])[0]
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(options) == 1:
            tp = options[0]
    return tp
