"""Stages (Cold / MQL / SQL ...) gated by qualification criteria, and the fit x engagement grade."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from leadscore.agent.core.records import ReasonPart, ScoreResult
from leadscore.agent.scoring.conditions import Predicate, compile_condition
from leadscore.agent.scoring.model import Band, Grades, ScoringModel


@dataclass(frozen=True, slots=True)
class StageDecision:
    stage: str
    #: The highest stage the score reached but the criteria withheld, and which were missing.
    withheld: str | None = None
    missing: tuple[str, ...] = ()


def staged_result(
    lead_id: str, score: int, fit_score: int, engagement_score: int, decision: StageDecision, grade: str | None,
    parts: list[ReasonPart], version: str, as_of: datetime, warnings: Sequence[str],
) -> ScoreResult:
    """A lead's result at the stage ``decision`` gave it (the arguments in :class:`ScoreResult`'s
    order). A withheld stage puts a zero-point gate part first in ``parts``, so the reasons say
    why and still sum to the score."""
    if decision.withheld is not None:
        held = f"Held at {decision.stage}: missing {', '.join(decision.missing)} for {decision.withheld}"
        parts.insert(0, ReasonPart(0, held, "gate"))
    return ScoreResult(
        lead_id, score, fit_score, engagement_score, decision.stage, grade, tuple(parts), version, as_of, tuple(warnings)
    )


class StageLadder:
    """Picks the highest stage whose threshold the score reaches and whose criteria hold."""

    def __init__(self, model: ScoringModel) -> None:
        criteria: dict[str, Predicate] = {n: compile_condition(c) for n, c in model.qualification.items()}
        # Highest first, so the first fully met stage wins.
        self._stages = tuple(
            (
                s.name,
                -math.inf if s.min_score is None else s.min_score,
                tuple((req, criteria[req]) for req in s.requires),
            )
            for s in reversed(model.stages)
        )

    def decide(self, score: float, fields: Mapping[str, Any]) -> StageDecision:
        withheld: str | None = None
        missing: tuple[str, ...] = ()
        for name, threshold, requires in self._stages:
            if score < threshold:
                continue
            lacking = tuple(req for req, holds in requires if not holds(fields))
            if not lacking:
                return StageDecision(name, withheld, missing)
            if withheld is None:
                withheld, missing = name, lacking
        # Below every threshold (or every stage gated): the lowest stage is the floor.
        return StageDecision(self._stages[-1][0], withheld, missing)


class GradeMatrix:
    """``A1`` = top fit band and top engagement band; bands are configured best first."""

    def __init__(self, grades: Grades) -> None:
        self._fit = _bands(grades.fit)
        self._engagement = _bands(grades.engagement)

    def grade(self, fit_score: float, engagement_score: float) -> str:
        return _band(self._fit, fit_score) + _band(self._engagement, engagement_score)


def _bands(bands: list[Band]) -> tuple[tuple[str, float], ...]:
    return tuple((b.label, -math.inf if b.min is None else b.min) for b in bands)


def _band(bands: tuple[tuple[str, float], ...], value: float) -> str:
    for label, minimum in bands:
        if value >= minimum:
            return label
    return bands[-1][0]
