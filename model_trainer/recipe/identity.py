"""Experiment identity: a readable prefix plus a sha256 of the stateful attributes.

Only Stateful attributes enter the hash (Stateless and Derived never do), in a canonical
JSON form, so key order in the YAML and int-vs-float spelling of a float field do not
matter. The `study` section is not part of a trial's identity: the same experiment is
the same whether a study or a person launched it. One stateless value joins the hash: the
number of epochs (or `train.max_steps`) a length-dependent LR schedule is sized from
(`schedule_horizon`), since it changes every step of the training.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from model_trainer.recipe import names
from model_trainer.recipe.markers import ADDED, Kind
from model_trainer.recipe.typecheck import kinds_of

HASH_CHARS = 12


def to_plain(value: Any) -> Any:
    """Recipe dataclasses -> plain dicts/lists/scalars (for YAML, JSON and hashing)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def attributes(value: Any, prefix: str = "",
               kind: Kind = Kind.STATEFUL) -> Iterator[tuple[str, Kind, Any]]:
    """Every leaf attribute: its dotted key, effective kind and plain value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for name, (field_kind, _) in kinds_of(type(value), kind).items():
            yield from attributes(getattr(value, name), f"{prefix}{name}.", field_kind)
    elif isinstance(value, dict) and value:
        for k, v in value.items():
            yield from attributes(v, f"{prefix}{k}.", kind)
    else:
        yield prefix.rstrip("."), kind, to_plain(value)


def attribute_kinds(value: Any) -> dict[str, Kind]:
    """Every leaf attribute's dotted key with its effective kind."""
    return {key: kind for key, kind, _ in attributes(value)}


def stateless_keys(recipe: Any) -> list[str]:
    """The dotted keys of the attributes that do not enter the trial id: the stateless and
    derived ones, less the key the LR schedule is sized from (epochs or max_steps)."""
    sized_by = schedule_sized_by(recipe)
    return [key for key, kind in attribute_kinds(recipe).items()
            if kind is not Kind.STATEFUL and key != sized_by]


def stateful_view(value: Any, kind: Kind = Kind.STATEFUL) -> Any:
    """Only the stateful part of a recipe, as plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: f for f in dataclasses.fields(value)}
        return {name: stateful_view(getattr(value, name), field_kind)
                for name, (field_kind, _) in kinds_of(type(value), kind).items()
                if field_kind is Kind.STATEFUL
                and not _unset_addition(fields[name], getattr(value, name))}
    if isinstance(value, dict):
        return {str(k): stateful_view(v, kind) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [stateful_view(v, kind) for v in value]
    return to_plain(value)


def _unset_addition(f: dataclasses.Field, value: Any) -> bool:
    """A field added after recipes had ids (markers.ADDED), at its default: left out."""
    if f.metadata.get("identity") != ADDED["identity"]:
        return False
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
        else f.default
    return to_plain(value) == to_plain(default)


def digest(data: Any) -> str:
    """sha256 hex of the canonical JSON form of plain data."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def schedule_sized_by(recipe: Any) -> str | None:
    """The key a length-dependent LR schedule is sized from, or None when it has no length
    or its args fix one: `train.max_steps` when set and the schedule steps per optimizer
    step, else `train.epochs`.

    A cosine (or onecycle, or step) schedule of 3 epochs differs from one of 6 from the
    first step on, so two runs that share every stateful value but the horizon do not
    train alike: the horizon then belongs to the identity, and raising it starts another
    trial instead of extending this one."""
    scheduler = recipe.train.scheduler
    fixed_by = names.SIZED_BY_EPOCHS.get(scheduler.name)
    if fixed_by is None or any(arg in scheduler.args for arg in fixed_by):
        return None
    if recipe.train.max_steps is not None and names.scheduler_interval(scheduler) == "step":
        return "train.max_steps"
    return "train.epochs"


def schedule_horizon(recipe: Any) -> int | None:
    """The value of `schedule_sized_by`'s key (epochs or steps), else None."""
    key = schedule_sized_by(recipe)
    return None if key is None else getattr(recipe.train, key.removeprefix("train."))


def trial_id(recipe: Any) -> str:
    """`<model>-<12 hex>`: the identity of one experiment (one trial of a study)."""
    state = stateful_view(recipe)
    state.pop("study", None)
    state.pop("hypothesis", None)  # like the study: what a trial is does not depend on why
    horizon, sized_by = schedule_horizon(recipe), schedule_sized_by(recipe)
    if horizon is not None:
        unit = "steps" if sized_by == "train.max_steps" else "epochs"
        state["train"][f"schedule_horizon_{unit}"] = horizon
    return f"{_slug(recipe.model.target)}-{digest(state)[:HASH_CHARS]}"


def study_id(recipe: Any) -> str:
    """`study-<12 hex>`: base recipe's stateful attributes plus the study's own."""
    state = stateful_view(recipe)
    if state.get("hypothesis") is None:
        state.pop("hypothesis", None)  # (added later: the ids of studies without one stay)
    return f"study-{digest(state)[:HASH_CHARS]}"


def _slug(target: str) -> str:
    last = str(target).rsplit(".", 1)[-1].lower()
    return re.sub(r"[^a-z0-9]+", "-", last).strip("-")[:24] or "trial"
