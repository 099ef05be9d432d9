"""From a score to the values a connector writes: the one place that knows what each writable
value (``score``, ``stage``, ``reason``...) is made of."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Protocol

from leadscore.agent.core.contract import WRITABLE_VALUES
from leadscore.agent.core.records import ObjectType, ScoreResult
from leadscore.agent.state import Desired
from leadscore.agent.sync.diff import DiffPolicy

_VALUE_OF: dict[str, Callable[[ScoreResult, int], Any]] = {
    "score": lambda r, _: r.score,
    "stage": lambda r, _: r.stage,
    "reason": lambda r, budget: r.reason(budget),
    "grade": lambda r, _: r.grade,
    "fit_score": lambda r, _: r.fit_score,
    "engagement_score": lambda r, _: r.engagement_score,
    "scored_at": lambda r, _: r.as_of,
    "model_version": lambda r, _: r.model_version,
}
assert set(_VALUE_OF) == WRITABLE_VALUES


class Scorer(Protocol):
    """What the sync scores with: the rules engine, or the hybrid of rules and a predictive model."""

    @property
    def version(self) -> str: ...

    def score(self, lead: Any, activities: Iterable[Any] = (), as_of: Any = None) -> ScoreResult: ...


def write_values(result: ScoreResult, names: Iterable[str], reason_budget: int) -> dict[str, Any]:
    """The configured values of ``result``; the reason is cut to ``reason_budget`` characters."""
    return {name: _VALUE_OF[name](result, reason_budget) for name in sorted(names)}


def desired(
    result: ScoreResult, object_type: ObjectType, names: Iterable[str], policy: DiffPolicy,
    fields: Mapping[str, str] | None = None,
) -> Desired:
    """What the record should carry now, for the diff against what it last carried; the reason
    is cut to the policy's budget. ``fields``: the own fields of the result's model (its values
    are then those it names), None for the connector's ``write`` map (``names``)."""
    budget = policy.reason_budget
    if fields:
        names = fields.keys()
    return Desired.from_result(result, object_type, write_values(result, names, budget), reason=result.reason(budget),
                               fields=fields)
