"""The predictive model's settings: the future ``[predictive]`` table of the agent config.

Strict and typed like ``[scoring]`` (unknown keys are reported, not ignored), so it can be
plugged into :class:`agent.config.AgentConfig` as ``predictive: PredictiveConfig | None = None``
and inherit the same one-line-per-problem error reporting. Every default is the one the
benchmark on real data was run with.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadscore.agent.settings import Duration, check_cron

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


class ActivityRule(BaseModel):
    """A count the admin names, of activities whose property matches
    (``[[predictive.activity_rules]]``): ``name = "pricing_visits", activity = "page_view",
    property = "url", contains = "/pricing"`` makes the input ``rule:pricing_visits`` (how many
    such activities before the snapshot, and within each of ``features.windows_days``).

    Text is compared ignoring case, as the rules engine compares it. With neither ``contains``
    nor ``equals``, an activity matches when the property is present and not blank.
    """

    model_config = _STRICT
    #: The input's name (``rule:<name>``), as reasons show it ("Pricing visits").
    name: str = Field(pattern=r"^[A-Za-z0-9_]{1,48}$")
    #: The activity type (``page_view``, ``email_click``, ``custom.<type>``).
    activity: str = Field(min_length=1, max_length=64)
    #: The activity property tested (``url``, ``subject``, ``direction``).
    property: str = Field(min_length=1, max_length=64)
    contains: Optional[str] = Field(default=None, min_length=1)
    equals: Optional[str] = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_test(self) -> ActivityRule:
        if self.contains is not None and self.equals is not None:
            raise ValueError("give contains or equals, not both")
        return self


FREE_EMAIL_DOMAINS: tuple[str, ...] = (
    "aol.com", "gmail.com", "googlemail.com", "gmx.com", "gmx.de", "gmx.net", "hotmail.co.uk", "hotmail.com",
    "hotmail.de", "hotmail.fr", "icloud.com", "live.com", "mac.com", "mail.com", "mail.ru", "me.com", "msn.com",
    "outlook.com", "proton.me", "protonmail.com", "qq.com", "rediffmail.com", "t-online.de", "web.de",
    "yahoo.co.in", "yahoo.co.uk", "yahoo.com", "yahoo.de", "yahoo.fr", "yandex.com", "yandex.ru", "zoho.com",
    "163.com", "126.com",
)  # fmt: skip
"""Free mailbox providers: an address there says nothing about a company (``features.free_email_domains`` adds more)."""


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
    #: Per activity type (and activity rule), also the count within each of these many days
    #: before the snapshot. Empty: counts since the first activity only.
    windows_days: list[float] = Field(default_factory=lambda: [7.0, 30.0, 90.0], max_length=8)
    #: The lead's age at the snapshot (days since ``created_at``) as an input.
    lead_age: bool = True
    #: Whether the ``email`` field's domain is a free mailbox (gmail.com...) or a company's.
    email_domain: bool = True
    #: Domains counted as free mailboxes on top of :data:`FREE_EMAIL_DOMAINS`.
    free_email_domains: list[str] = []
    #: Deals/opportunities known at the snapshot (open, won, lost: counts and amounts), when the
    #: training set carries them.
    deals: bool = True
    #: Counts of activities whose property matches; the admin names them in
    #: ``[[predictive.activity_rules]]`` (copied here, where the feature spec reads them).
    activity_rules: list[ActivityRule] = []

    @field_validator("windows_days")
    @classmethod
    def _windows(cls, value: list[float]) -> list[float]:
        if any(w <= 0 for w in value):
            raise ValueError("windows must be positive numbers of days")
        if sorted(set(value)) != value:
            raise ValueError("windows must ascend, each once (e.g. [7, 30, 90])")
        return value

    @field_validator("free_email_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if "@" in d or "." not in d.strip(".") or d != d.strip()]
        if bad:
            raise ValueError(f"not a domain (write example.com): {', '.join(repr(d) for d in bad)}")
        return [d.casefold() for d in value]

    @field_validator("activity_rules")
    @classmethod
    def _unique_rules(cls, value: list[ActivityRule]) -> list[ActivityRule]:
        return _unique_rule_names(value)


def _unique_rule_names(rules: list[ActivityRule]) -> list[ActivityRule]:
    names = [rule.name for rule in rules]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"activity rule name(s) used twice: {', '.join(twice)}")
    return rules


SnapshotStrategy = Literal["fixed_age", "scoring_times"]


class PointInTimeSettings(BaseModel):
    """How training rows are taken from the mirror's history (``[predictive.point_in_time]``;
    see :mod:`agent.predictive.pointintime`): each row is a lead as it looked at a moment it
    would have been scored, labelled by whether it converted within ``horizon_days`` after it.
    """

    model_config = _STRICT
    #: ``fixed_age``: one row per lead, ``snapshot_age_days`` after it was created (what a model
    #: scoring new leads sees). ``scoring_times``: rows at moments it was (or would have been)
    #: scored during its life, ``samples_per_lead`` of them per lead, so each lead weighs alike.
    strategy: SnapshotStrategy = "fixed_age"
    snapshot_age_days: float = Field(default=7.0, ge=0, le=3650)
    #: A row is converted when the lead converted within this many days after the snapshot; a row
    #: whose horizon has not elapsed by the as-of is no example (censored).
    horizon_days: float = Field(default=90.0, gt=0, le=3650)
    samples_per_lead: int = Field(default=1, ge=1, le=100)
    #: ``scoring_times`` without recorded scoring times: the lead was scored this often (days).
    scoring_interval_days: float = Field(default=1.0, gt=0, le=365)
    #: A row taken more than this many days before its lead was first observed (pulled with a
    #: history) is no example: its fields would be as first seen, not as they were. None: kept
    #: (every lead of a store started today is first observed now; the rows say how many).
    #: Careful on a young store: a lead's first observation is dated by the CRM's modification
    #: stamp, which a conversion moves, so this drops converted leads' rows more than others' and
    #: skews the labels (on X Education through HubSpot, 30 days kept 1,267 of 3,559 conversions).
    max_days_before_first_seen: Optional[float] = Field(default=None, ge=0)


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


class LoopSettings(BaseModel):
    """The feedback loop in ``leadscore run`` (``[predictive.loop]``; see
    :mod:`leadscore.agent.loop`): retrain a challenger on a schedule, shadow-score with it, and
    promote it by hand (``leadscore promote``) or when it has earned it on live outcomes.

    It runs when ``[predictive] model_file`` names the champion (the model the sync scores
    with) and ``retrain_cron`` is not empty.
    """

    model_config = _STRICT
    #: When to train a challenger from the state store (cron, the schedule's timezone): weekly by
    #: default, Monday 04:00. Empty: never (``leadscore train --out`` the challenger file by hand).
    retrain_cron: str = "0 4 * * 1"
    #: When to compare the champion and the challenger on the outcomes that arrived since the
    #: challenger started (and, with ``promote = "auto"``, promote it): daily by default.
    check_cron: str = "30 4 * * *"
    #: Instead of the crons, every this long (``"10m"``): demos and tests, or a busy funnel.
    retrain_every: Optional[Duration] = None
    check_every: Optional[Duration] = None
    #: Where the challenger is saved. Default: beside the champion, ``<model_file stem>.challenger.json``.
    challenger_file: Optional[str] = None
    #: ``manual``: only ``leadscore promote`` promotes; ``auto``: the check promotes a challenger
    #: whose live AUC beats the champion's by ``promote_margin`` with 95% confidence.
    promote: Literal["manual", "auto"] = "manual"
    #: The AUC the challenger must gain: the lower end of the 95% interval of the difference
    #: (challenger - champion, paired DeLong) must reach it.
    promote_margin: float = Field(default=0.0, ge=0.0, lt=0.5)
    #: No verdict before this many converted and this many not-converted live outcomes.
    min_outcomes: int = Field(default=30, ge=5)
    #: A challenger is kept this long before a retrain replaces it (retired, unless it won): time
    #: enough for outcomes to arrive. A retrain with no challenger in place always runs.
    challenger_days: float = Field(default=28.0, gt=0, le=365)

    @field_validator("retrain_cron", "check_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value) if value.strip() else ""


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
    #: Inverse L2 strengths tried for the logistic model (chosen by inner CV log-loss). Wide
    #: enough that the optimum lies inside: a choice at either end is reported in the model's
    #: training info (``tuning.edge``) and warned about.
    logistic_c: list[float] = Field(
        default_factory=lambda: [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], min_length=1
    )
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
    #: Counts of activities whose property matches (see :class:`ActivityRule`); the feature spec
    #: reads them from ``features.activity_rules``, where they are copied.
    activity_rules: list[ActivityRule] = []
    point_in_time: PointInTimeSettings = PointInTimeSettings()
    loop: LoopSettings = LoopSettings()

    @field_validator("logistic_c")
    @classmethod
    def _positive_c(cls, value: list[float]) -> list[float]:
        if any(not c > 0 for c in value):
            raise ValueError("every C must be a positive number")
        return value

    @field_validator("activity_rules")
    @classmethod
    def _unique_rules(cls, value: list[ActivityRule]) -> list[ActivityRule]:
        return _unique_rule_names(value)

    def challenger_path(self) -> str | None:
        """Where the live challenger lives: ``loop.challenger_file``, else beside ``model_file``."""
        if self.loop.challenger_file:
            return self.loop.challenger_file
        if not self.model_file:
            return None
        stem = self.model_file[:-5] if self.model_file.endswith(".json") else self.model_file
        return f"{stem}.challenger.json"

    @property
    def loop_enabled(self) -> bool:
        """Whether ``run`` retrains and checks a challenger (a champion file is named and a
        retrain schedule is set)."""
        return bool(self.model_file) and (bool(self.loop.retrain_cron.strip()) or self.loop.retrain_every is not None)

    @model_validator(mode="after")
    def _rules_reach_the_features(self) -> PredictiveConfig:
        """One list of rules, written where an admin looks (``[[predictive.activity_rules]]``) and
        read where the feature spec looks (``features.activity_rules``)."""
        if not self.activity_rules:
            return self
        if self.features.activity_rules and self.features.activity_rules != self.activity_rules:
            raise ValueError("activity rules are given both in predictive.activity_rules and predictive.features.activity_rules: keep one")
        # Frozen, so set through object: the copy is what every reader of ``features`` sees.
        object.__setattr__(self, "features", self.features.model_copy(update={"activity_rules": list(self.activity_rules)}))
        return self
