"""From a score to the values a connector writes: the one place that knows what each writable
value (``score``, ``stage``, ``reason``...) is made of."""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Protocol

from agent.records import ObjectType, ScoreResult
from agent.state import Desired
from connectors.base import WRITABLE_VALUES

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


def desired(result: ScoreResult, object_type: ObjectType, names: Iterable[str], reason_budget: int) -> Desired:
    """What the record should carry now, for the diff against what it last carried."""
    return Desired.from_result(
        result, object_type, write_values(result, names, reason_budget), reason=result.reason(reason_budget)
    )


_AGE = re.compile(r"(?:today|\d+d ago)\)")


def reason_substance(reason: Any) -> Any:
    """A reason without its activity ages ("(3d ago)"): what makes it a different reason. Ages
    move every day for every lead with activity; rewriting them all nightly would spend the API
    quota on nothing a rep acts on, so they are refreshed only with a real change."""
    return _AGE.sub(")", reason) if isinstance(reason, str) else reason


#: How the diff compares values that carry more than they mean.
DIFF_NORMALISE: dict[str, Callable[[Any], Any]] = {"reason": reason_substance}
