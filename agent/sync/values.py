"""From a score to the values a connector writes: the one place that knows what each writable
value (``score``, ``stage``, ``reason``...) is made of."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Protocol

from leadscore.agent.core.contract import WRITABLE_VALUES
from leadscore.agent.core.records import ObjectType, ScoreLine, ScoreResult
from leadscore.agent.state import Desired

_VALUE_OF: dict[str, Callable[[ScoreLine], Any]] = {
    "score": lambda r: r.score,
    "stage": lambda r: r.stage,
    "reason": lambda r: r.reason,
    "grade": lambda r: r.grade,
    "fit_score": lambda r: r.fit_score,
    "engagement_score": lambda r: r.engagement_score,
    "scored_at": lambda r: r.as_of,
    "model_version": lambda r: r.model_version,
}
assert set(_VALUE_OF) == WRITABLE_VALUES


class Scorer(Protocol):
    """What the sync scores with: the rules engine, or the hybrid of rules and a predictive model."""

    @property
    def version(self) -> str: ...

    def score(self, lead: Any, activities: Iterable[Any] = (), as_of: Any = None) -> ScoreResult: ...


def write_values(line: ScoreLine, names: Iterable[str]) -> dict[str, Any]:
    """The configured values of ``line`` (its reason already cut to the budget it was made at)."""
    return {name: value(line) for name, value in _getters(names if isinstance(names, frozenset) else frozenset(names))}


@lru_cache(maxsize=64)
def _getters(names: frozenset[str]) -> tuple[tuple[str, Callable[[ScoreLine], Any]], ...]:
    """Each of ``names`` in order with what reads it: worked out once per set of names, not per record."""
    return tuple((name, _VALUE_OF[name]) for name in sorted(names))


def desired(line: ScoreLine, object_type: ObjectType, names: Iterable[str], fields: Mapping[str, str] | None = None) -> Desired:
    """What the record should carry now, for the diff against what it last carried. ``fields``:
    the own fields of the line's model (its values are then those it names), None for the
    connector's ``write`` map (``names``)."""
    return Desired.from_result(line, object_type, wanted_values(line, names, fields), fields=fields)


def wanted_values(line: ScoreLine, names: Iterable[str], fields: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The values :func:`desired` gives the record: those ``fields`` name, else ``names``."""
    return write_values(line, fields.keys() if fields else names)
