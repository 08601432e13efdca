"""Attribute markers: Stateful (the default), Stateless and Derived.

`Stateless[int]` is `Annotated[int, Kind.STATELESS]`, so a plain dataclass carries the
marker in its type hints: type checkers see the bare type, our validator the marker.
A marker on a nested dataclass field applies to everything below it.
"""

from __future__ import annotations

import enum
import typing
from typing import Annotated, Any

MISSING: Any = "???"  # same sentinel as omegaconf.MISSING, so either works in user configs


class Kind(enum.StrEnum):
    """How an attribute relates to the experiment's identity."""

    STATEFUL = "stateful"  # part of the identity: changing it is a different experiment
    STATELESS = "stateless"  # may change between runs of the same experiment
    DERIVED = "derived"  # filled at run time by the wrapper; never written by the user


class _Marker:
    def __init__(self, kind: Kind):
        self.kind = kind

    def __getitem__(self, tp: Any) -> Any:
        return Annotated[tp, self.kind]

    def __repr__(self) -> str:
        return self.kind.value.capitalize()


Stateful = _Marker(Kind.STATEFUL)
Stateless = _Marker(Kind.STATELESS)
Derived = _Marker(Kind.DERIVED)


def split_marker(tp: Any) -> tuple[Any, Kind | None]:
    """Return the bare type and the marker kind of an annotation (None when unmarked)."""
    if typing.get_origin(tp) is Annotated:
        kinds = [m for m in tp.__metadata__ if isinstance(m, Kind)]
        return tp.__origin__, (kinds[-1] if kinds else None)
    return tp, None


def combine(parent: Kind, own: Kind | None) -> Kind:
    """The effective kind of a field: Derived wins, then Stateless, inherited from parents."""
    if Kind.DERIVED in (parent, own):
        return Kind.DERIVED
    if Kind.STATELESS in (parent, own):
        return Kind.STATELESS
    return Kind.STATEFUL


# metadata of a stateful field added after recipes had ids: it joins a trial's identity
# only when it differs from its default, so the ids of recipes written before stay
ADDED = {"identity": "when set"}
