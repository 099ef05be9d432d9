"""The predictive model's settings: the future ``[predictive]`` table of the agent config.

Strict and typed like ``[scoring]`` (unknown keys are reported, not ignored), so it can be
plugged into :class:`agent.config.AgentConfig` as ``predictive: PredictiveConfig | None = None``
and inherit the same one-line-per-problem error reporting. Every default is the one the
benchmark on real data was run with.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

ModelKind = Literal["logistic", "gradient_boosting"]
MODEL_KINDS: tuple[ModelKind, ...] = ("logistic", "gradient_boosting")


class LeakageSettings(BaseModel):
    """When a field separates the classes so well that it was probably filled in *after* the
    outcome (a sales-only field, a "closed reason", a date set on conversion).

    A field is flagged when its single-feature ROC AUC reaches ``max_auc``, or when some of its
    values (each held by at least ``min_level_count`` leads) are at least ``purity`` one class and
    together hold at least ``min_class_share`` of that class's leads. Purity only counts when it
    is far above the class's base rate with 95% confidence (the other class at most a quarter as
    frequent as usual), so a rare outcome does not make every small value look "pure".
    """

    model_config = _STRICT
    max_auc: float = Field(default=0.95, gt=0.5, le=1.0)
    purity: float = Field(default=0.97, gt=0.5, le=1.0)
    min_class_share: float = Field(default=0.05, gt=0.0, le=1.0)
    min_level_count: int = Field(default=30, ge=1)


class FeatureSettings(BaseModel):
    """How lead fields and activities become model inputs (see :mod:`agent.predictive.features`)."""

    model_config = _STRICT
    #: Category values seen fewer times are pooled into "(other)".
    min_level_count: int = Field(default=10, ge=1)
    #: At most this many values per field are kept (the most frequent).
    max_levels: int = Field(default=40, ge=1)
    #: Quantile bins per numeric field (on top of its log value), for the full models.
    numeric_bins: int = Field(default=10, ge=0, le=50)
    #: Recency beyond this many days (or no activity) counts as this many.
    recency_cap_days: float = Field(default=365.0, gt=0)
    #: A text field whose distinct values exceed this share of leads is an identifier: dropped.
    max_distinct_share: float = Field(default=0.5, gt=0.0, le=1.0)


class ScorecardSettings(BaseModel):
    """The learned points model (see :mod:`agent.predictive.scorecard`)."""

    model_config = _STRICT
    #: Points that double the odds of converting (credit-scorecard "PDO"): factor = pdo / ln 2.
    points_to_double_odds: float = Field(default=20.0, gt=0)
    numeric_bins: int = Field(default=10, ge=1, le=30)
    count_edges: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])
    recency_windows_days: list[float] = Field(default_factory=lambda: [7.0, 30.0, 90.0])
    rule_id_prefix: str = Field(default="learned", pattern=r"^[A-Za-z0-9_.:-]+$")


class BoostingCandidate(BaseModel):
    """One gradient-boosting setting tried by the inner CV; the number of trees is tuned for
    each, up to ``PredictiveConfig.boosting_max_iter``."""

    model_config = _STRICT
    learning_rate: float = Field(gt=0, le=1)
    max_leaf_nodes: int = Field(ge=2, le=256)
    l2_regularization: float = Field(default=1.0, ge=0)


HybridWrite = Literal["rules", "predictive", "blend"]
StageSource = Literal["written", "rules", "predictive"]
GradeFitSource = Literal["rules", "predictive"]


class HybridSettings(BaseModel):
    """What the sync writes when a predictive model sits next to the rules
    (``[predictive.hybrid]``; see :mod:`agent.predictive.hybrid`).

    The defaults change nothing: the rules score is written and drives the stage, so adding a
    model to a config is safe until someone opts in. Whatever is chosen, a missing model (too
    few outcomes, none trained yet) falls back to the rules.
    """

    model_config = _STRICT
    #: The score written to the CRM: the rules score, the predictive score (calibrated
    #: probability x 100), or ``(1 - blend_weight) * rules + blend_weight * predictive``.
    write: HybridWrite = "rules"
    #: The predictive share of a blend. 0 and 1 are excluded: write "rules" or "predictive".
    blend_weight: float = Field(default=0.5, gt=0.0, lt=1.0)
    #: Which score the ``[scoring]`` stage ladder reads (its thresholds and qualification
    #: gates are applied unchanged, so thresholds must suit the chosen score's scale).
    stage_from: StageSource = "written"
    #: The grade's fit band from the rules' fit points, or from the predictive fit (the
    #: calibrated score of the lead's profile alone, activities at the average lead's).
    grade_fit_from: GradeFitSource = "rules"


class PredictiveConfig(BaseModel):
    """Settings for training, validating and explaining a predictive model."""

    model_config = _STRICT
    model: ModelKind = "logistic"
    #: A model saved by ``leadscore train``: the sync scores with it as ``[predictive.hybrid]``
    #: says (with ``write = "rules"``, the default, it is loaded but only the rules are written).
    model_file: Optional[str] = None
    #: Lead fields (``industry``, ``custom.tags``) or activity types (``meeting``) never to learn
    #: from: sales-filled fields, anything set at or after conversion.
    exclude: list[str] = []
    #: Fewer converted (or non-converted) outcomes than this: no model, the rules keep scoring.
    min_positives: int = Field(default=100, ge=1)
    min_negatives: int = Field(default=100, ge=1)
    calibration: Literal["sigmoid", "isotonic"] = "sigmoid"
    #: Folds of the evaluation (``cross_validate``) and of the inner tuning/calibration loop.
    folds: int = Field(default=5, ge=2, le=20)
    inner_folds: int = Field(default=3, ge=2, le=10)
    #: Only activities at least this long before the outcome count (excludes the converting
    #: activity itself and anything a sales rep logged while closing).
    gap_days: float = Field(default=0.0, ge=0)
    #: Inverse L2 strengths tried for the logistic model (chosen by inner CV log-loss).
    logistic_c: list[float] = Field(default_factory=lambda: [0.003, 0.01, 0.03, 0.1, 0.3], min_length=1)
    #: Gradient-boosting settings tried by the inner CV (chosen by log-loss).
    boosting_grid: list[BoostingCandidate] = Field(
        default_factory=lambda: [
            BoostingCandidate(learning_rate=0.1, max_leaf_nodes=8),
            BoostingCandidate(learning_rate=0.1, max_leaf_nodes=16),
        ],
        min_length=1,
    )
    boosting_max_iter: int = Field(default=150, ge=10, le=5000)
    scorecard_c: list[float] = Field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0], min_length=1)
    random_state: int = 0
    #: Top positive and top negative contributions shown as their own reason parts.
    explain_top: int = Field(default=3, ge=1, le=20)
    leakage: LeakageSettings = LeakageSettings()
    features: FeatureSettings = FeatureSettings()
    scorecard: ScorecardSettings = ScorecardSettings()
    hybrid: HybridSettings = HybridSettings()
