"""Hybrid scoring: the rules engine and a predictive model side by side, one result written.

``[predictive.hybrid]`` (:class:`~agent.predictive.config.HybridSettings`) decides:

* **what is written** (``write``): the rules score, the predictive score (the calibrated
  probability x 100), or a blend ``round((1 - w) * rules + w * predictive)`` with
  ``w = blend_weight``;
* **what drives the stage** (``stage_from``): the written score, the rules score or the
  predictive score, read by the ``[scoring]`` stage ladder unchanged: the same thresholds and
  the same qualification gates (a lead without BANT is still held below SQL whatever a model
  thinks), so thresholds must suit the chosen score's scale;
* **where the grade's fit band comes from** (``grade_fit_from``): the rules' fit points, or
  the *predictive fit*: the calibrated score of the lead's profile alone, i.e. the model's
  log-odds with every activity input at the average lead's (its contribution set to zero).
  The engagement band always comes from the rules' engagement points.

The reasons of the written result sum exactly to its score, as everywhere else in leadscore:

* ``rules`` / ``predictive``: that model's own parts, unchanged;
* ``blend``: every part of both models, each scaled by its model's weight and rounded to a
  whole point (parts that round to 0 are dropped), plus one ``Rounding (blend)`` part
  (``kind="cap"``) for whatever the per-part rounding left over. Scaling the parts, rather than
  writing two opaque "Rules x 0.5" / "Predictive x 0.5" parts, keeps the reason line about the
  lead ("+10 Industry: Software") instead of about the machinery.

Gate parts (zero points: why a stage was withheld) are recomputed for the score that drives the
stage, so the reason never explains a stage that was decided on another score.

The model version of a result that used the predictive model in any way (score, stage or
grade) is ``<rules version>+<predictive version>-<settings hash>``: a CRM value traces back to
both models *and* to how they were combined (a new blend weight is a new version). A result
that used only the rules keeps the rules version, so adding a model to the config without
opting in changes nothing downstream. Without a model (too few outcomes, none trained yet)
every choice falls back to the rules and the result carries a warning saying so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.config import HybridSettings
from leadscore.agent.predictive.explain import PredictiveScore, percent_scores, round_half_away
from leadscore.agent.predictive.features import Snapshot, snapshots_at
from leadscore.agent.predictive.predictor import PredictiveModel
from leadscore.agent.core.records import Activity, Lead, ReasonPart, ScoreResult, utc
from leadscore.agent.scoring.engine import ScoringEngine, round_points
from leadscore.agent.scoring.stages import GradeMatrix, StageLadder, staged_result

BLEND_RULE = "blend"
#: The warning (and the prefix the CLI groups warnings by) when a model was wanted but absent.
NO_MODEL_WARNING = "predictive model unavailable: the rules score is written, drives the stage and the grade"


def blend_score(rules: float, predictive: float, weight: float) -> int:
    """``round((1 - weight) * rules + weight * predictive)``, half away from zero like every
    other rounding in the engine."""
    return round_points((1.0 - weight) * rules + weight * predictive)


def blend_scores(rules: NDArray[np.float64], predictive: NDArray[np.float64], weight: float) -> NDArray[np.int64]:
    """:func:`blend_score` over arrays (what the report evaluates)."""
    return round_half_away((1.0 - weight) * np.asarray(rules, dtype=np.float64) + weight * np.asarray(predictive, dtype=np.float64))


def settings_hash(settings: HybridSettings, length: int = 6) -> str:
    blob = json.dumps(settings.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def combined_version(rules_version: str, predictive_version: str, settings: HybridSettings) -> str:
    """``<rules>+<predictive>-<settings hash>`` (see the module docstring)."""
    return f"{rules_version}+{predictive_version}-{settings_hash(settings)}"


def uses_predictive(settings: HybridSettings, has_grades: bool = True) -> bool:
    """Whether these settings read the predictive model at all (else the rules alone decide)."""
    return (
        settings.write != "rules"
        or settings.stage_from == "predictive"
        or (has_grades and settings.grade_fit_from == "predictive")
    )


def predictive_fit(model: PredictiveModel, snapshots: Sequence[Snapshot]) -> NDArray[np.int64]:
    """The calibrated 0-100 score of each lead's profile alone: the log-odds of the average lead
    plus the contributions of its *fit* inputs (fields), activity inputs left at the average
    lead's. What ``grade_fit_from = "predictive"`` grades on."""
    if not snapshots:
        return np.zeros(0, dtype=np.int64)
    bias, contributions = model.input_contributions(snapshots)
    fit = np.array([model.spec.input_kind(i) == "fit" for i in range(len(model.spec.inputs))], dtype=bool)
    z = bias + (contributions[:, fit].sum(axis=1) if fit.any() else np.zeros(len(snapshots)))
    p = np.asarray(model.calibrator(z), dtype=np.float64)
    return percent_scores(p)


@dataclass(frozen=True, slots=True)
class HybridScore:
    """The written result together with what it was made of (for the report and shadowing)."""

    result: ScoreResult
    rules: ScoreResult
    predictive: PredictiveScore | None
    predictive_fit: int | None


class HybridScorer:
    """Scores a lead with the rules and, when configured and available, a predictive model, and
    returns one :class:`ScoreResult` as the settings say (see the module docstring).

    Build once, score many: the stage ladder and grade matrix are compiled here, as the engine
    compiles its own.
    """

    def __init__(self, engine: ScoringEngine, model: PredictiveModel | None = None, settings: HybridSettings | None = None) -> None:
        self.engine = engine
        self.model = model
        self.settings = settings or HybridSettings()
        self._ladder = StageLadder(engine.model)
        self._grades = GradeMatrix(engine.model.grades) if engine.model.grades is not None else None
        self._wants_model = uses_predictive(self.settings, self._grades is not None)
        self._uses_model = self._wants_model and model is not None

    @property
    def uses_model(self) -> bool:
        """True when results depend on the predictive model (configured to, and one is loaded)."""
        return self._uses_model

    @property
    def version(self) -> str:
        """The model version written beside each score (see the module docstring)."""
        if self._uses_model:
            assert self.model is not None
            return combined_version(self.engine.version, self.model.version, self.settings)
        return self.engine.version

    # --- scoring -------------------------------------------------------------------------------

    def score(self, lead: Lead, activities: Iterable[Activity] = (), as_of: datetime | None = None) -> ScoreResult:
        return self.score_detailed(lead, activities, as_of).result

    def score_all(
        self, leads: Iterable[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None = None
    ) -> list[ScoreResult]:
        return [h.result for h in self.score_all_detailed(leads, activities, as_of)]

    def score_detailed(self, lead: Lead, activities: Iterable[Activity] = (), as_of: datetime | None = None) -> HybridScore:
        acts = list(activities)
        return self.score_all_detailed([lead], {lead.id: acts}, as_of)[0]

    def score_all_detailed(
        self, leads: Iterable[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None = None
    ) -> list[HybridScore]:
        """Score many leads at one instant; the predictive model runs once over all of them
        (batched numpy), which is what makes hybrid scoring affordable at sync volumes."""
        moment = utc(as_of) if as_of is not None else datetime.now(timezone.utc)
        lead_list = list(leads)
        rules = self.engine.score_many(lead_list, activities, moment)
        if not self._uses_model:
            return [HybridScore(self.combine(r, lead.fields), r, None, None) for r, lead in zip(rules, lead_list)]
        assert self.model is not None
        snapshots = snapshots_at(lead_list, activities, moment)
        predicted = self.model.explain_snapshots(snapshots)
        fits: list[int | None] = [None] * len(lead_list)
        if self._grades is not None and self.settings.grade_fit_from == "predictive":
            fits = [int(v) for v in predictive_fit(self.model, snapshots)]
        return [
            HybridScore(self.combine(r, lead.fields, p, f), r, p, f) for r, lead, p, f in zip(rules, lead_list, predicted, fits)
        ]

    # --- combining -----------------------------------------------------------------------------

    def combine(
        self,
        rules: ScoreResult,
        fields: Mapping[str, object],
        predictive: PredictiveScore | None = None,
        predictive_fit: int | None = None,
    ) -> ScoreResult:
        """The written result from a rules result and (optionally) a predictive score of the
        same lead at the same instant. Public so a caller that already has both (a shadow run,
        the report) combines them exactly as the sync would."""
        settings = self.settings
        if predictive is None or not self._wants_model:
            warnings = rules.warnings + ((NO_MODEL_WARNING,) if self._wants_model else ())
            return replace(rules, warnings=warnings)

        if settings.write == "rules":
            score, parts = rules.score, [p for p in rules.reasons if p.kind != "gate"]
            fit_score, engagement_score = rules.fit_score, rules.engagement_score
        elif settings.write == "predictive":
            score, parts = predictive.score, list(predictive.reasons)
            fit_score, engagement_score = predictive.fit_points, predictive.engagement_points
        else:
            score = blend_score(rules.score, predictive.score, settings.blend_weight)
            parts = _blend_parts(rules.reasons, predictive.reasons, settings.blend_weight, score)
            fit_score = sum(p.points for p in parts if p.component == "fit")
            engagement_score = sum(p.points for p in parts if p.component == "engagement")

        driver = {"written": score, "rules": rules.score, "predictive": predictive.score}[settings.stage_from]
        decision = self._ladder.decide(driver, fields if fields is not None else {})
        grade: str | None = None
        if self._grades is not None:
            fit_for_grade = rules.fit_score
            if settings.grade_fit_from == "predictive" and predictive_fit is not None:
                fit_for_grade = predictive_fit
            grade = self._grades.grade(fit_for_grade, rules.engagement_score)

        result = staged_result(
            rules.lead_id, score, fit_score, engagement_score, decision, grade, parts, self.version, rules.as_of,
            rules.warnings,
        )
        assert sum(p.points for p in result.reasons) == score, "hybrid reasons must sum to the written score"
        return result


def _blend_parts(
    rules: Sequence[ReasonPart], predictive: Sequence[ReasonPart], weight: float, score: int
) -> list[ReasonPart]:
    """Each model's parts scaled by its weight, rounded, zero parts dropped, and one rounding
    part so the whole-point parts sum to ``score`` exactly."""
    out: list[ReasonPart] = []
    for parts, share in ((rules, 1.0 - weight), (predictive, weight)):
        for part in parts:
            if part.kind == "gate":
                continue
            points = round_points(part.points * share)
            if points:
                out.append(part._replace(points=points))
    residual = score - sum(p.points for p in out)
    if residual:
        out.append(ReasonPart(residual, "Rounding (blend)", "cap", BLEND_RULE, None, "total"))
    return out
