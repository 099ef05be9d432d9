"""From log-odds contributions to reason parts that sum exactly to the 0-100 score.

A model explains a lead in log-odds: ``z = bias + sum_i c_i`` (one ``c_i`` per input: a field
or an activity type; exact for the linear model, Saabas path attribution for trees; see
:mod:`agent.predictive.models`). The score is ``S = round(100 * g(z))`` where ``g`` is the
calibration map. Moving log-odds onto score points:

* the **starting point** is ``B = round(100 * g(bias))``, the score of the average lead;
* each input gets ``100 * c_i * (g(z) - g(bias)) / (z - bias)``: its log-odds share of the
  probability move. For a score that is a monotone function of an additive logit this is exactly
  what integrated gradients (Aumann-Shapley) gives along the straight path from the average lead,
  so the points keep the sign of the log-odds and sum, before rounding, to ``100 * (g(z) - g(bias))``;
* the top ``top`` positive and top ``top`` negative inputs become parts of their own, the rest
  one "Other factors" part, and a final **rounding** part (``kind="cap"``, like the rules
  engine's caps) makes the whole-point parts add up to ``S`` exactly.

Parts are :class:`leadscore.agent.core.records.ReasonPart`, so the CRM reason line, the CLI breakdown and the
report render them exactly as they render the rules engine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Literal, Sequence

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.core.reasons import format_reason
from leadscore.agent.core.records import ReasonPart, ScoreResult
from leadscore.agent.scoring.engine import round_points


def round_half_away(values: NDArray[np.float64] | Sequence[float]) -> NDArray[np.int64]:
    """:func:`agent.scoring.engine.round_points` over an array: half away from zero."""
    v = np.asarray(values, dtype=np.float64)
    return (np.sign(v) * np.floor(np.abs(v) + 0.5 + 1e-9)).astype(np.int64)


def percent_scores(probabilities: NDArray[np.float64] | Sequence[float]) -> NDArray[np.int64]:
    """Calibrated probabilities -> the 0-100 scores written, rounded as the engine rounds."""
    return np.clip(round_half_away(100.0 * np.asarray(probabilities, dtype=np.float64)), 0, 100)

PREDICTIVE_RULE = "predictive"


@dataclass(frozen=True, slots=True)
class PredictiveScore:
    """One lead's predictive score: a calibrated probability on 0-100 with its reasons."""

    lead_id: str
    score: int
    probability: float
    reasons: tuple[ReasonPart, ...]
    model_version: str
    as_of: datetime | None = None

    @property
    def fit_points(self) -> int:
        return sum(p.points for p in self.reasons if p.component == "fit")

    @property
    def engagement_points(self) -> int:
        return sum(p.points for p in self.reasons if p.component == "engagement")

    def reason(self, budget: int = 255) -> str:
        return format_reason(self.reasons, budget)

    def to_score_result(self, stage: str, grade: str | None = None, as_of: datetime | None = None) -> ScoreResult:
        """As a :class:`ScoreResult` for the writers. The stage is the caller's decision (the
        hybrid mode decides which score drives it); fit/engagement are the parts' sums, the
        starting point and rounding count toward the total only, like the engine's total caps."""
        when = as_of or self.as_of
        if when is None:
            raise ValueError("as_of is required")
        return ScoreResult(
            lead_id=self.lead_id,
            score=self.score,
            fit_score=self.fit_points,
            engagement_score=self.engagement_points,
            stage=stage,
            grade=grade,
            reasons=self.reasons,
            model_version=self.model_version,
            as_of=when,
        )


def probability_points(
    bias: float, contributions: NDArray[np.float64], calibrate: Callable[[NDArray[np.float64]], NDArray[np.float64]]
) -> tuple[float, float, NDArray[np.float64]]:
    """(probability, probability of the average lead, real-valued points per input)."""
    z = bias + float(contributions.sum())
    p, p0 = (float(v) for v in calibrate(np.array([z, bias])))
    if abs(z - bias) > 1e-9:
        slope = (p - p0) / (z - bias)
    else:  # no move: the local slope, so parts still show direction (they round to ~0)
        h = 1e-4
        lo, hi = calibrate(np.array([bias - h, bias + h]))
        slope = float(hi - lo) / (2 * h)
    return p, p0, 100.0 * contributions * slope


def reason_parts(
    bias: float,
    contributions: NDArray[np.float64],
    calibrate: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    label_of: Callable[[int], str],
    components: Sequence[Literal["fit", "engagement"]],
    top: int = 3,
) -> tuple[int, float, tuple[ReasonPart, ...]]:
    """The score, the probability and parts that sum exactly to the score (see module doc).
    ``label_of(i)`` names input ``i``; it is called only for the inputs shown."""
    p, p0, points = probability_points(bias, contributions, calibrate)
    score = min(100, max(0, round_points(100.0 * p)))
    start = min(100, max(0, round_points(100.0 * p0)))
    order = np.argsort(-points, kind="mergesort")
    chosen = [int(i) for i in order[:top] if points[i] > 0] + [int(i) for i in order[::-1][:top] if points[i] < 0]
    parts = [ReasonPart(start, "Starting point: the average lead", "fit", PREDICTIVE_RULE, f"{p0:.0%}", "total")]
    shown: set[int] = set()
    for i in sorted(chosen, key=lambda j: -abs(points[j])):
        rounded = round_points(points[i])
        if rounded == 0:
            continue
        shown.add(i)
        component = components[i]
        parts.append(ReasonPart(rounded, label_of(i), "engagement" if component == "engagement" else "fit", PREDICTIVE_RULE, None, component))
    rest = [i for i in range(points.size) if i not in shown]
    other = round_points(float(points[rest].sum())) if rest else 0
    if other:
        parts.append(ReasonPart(other, f"Other factors ({len(rest)})", "fit", PREDICTIVE_RULE, None, "total"))
    residual = score - sum(part.points for part in parts)
    if residual:
        parts.append(ReasonPart(residual, "Rounding", "cap", PREDICTIVE_RULE, None, "total"))
    return score, p, tuple(parts)
