"""The scoring model as data: the ``[scoring]`` table of the agent config, validated by pydantic.

Everything a RevOps team configures in HubSpot, Pardot or Marketo is expressed here: fit rules on
lead fields, engagement rules on activities, negative points, tiers, caps, decay, stage
thresholds gated by qualification criteria, and a grade matrix. The models are strict (TOML is
typed, so ``points = "20"`` is a mistake worth reporting) and forbid unknown keys (a typo such
as ``max_point`` would otherwise be silently ignored).

Cross-references (a rule naming a group, a stage requiring a criterion) are checked by
:func:`check_references`, after the shapes validate, so every problem carries its key path.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadscore.agent.core.records import ACTIVITY_TYPES, is_known_activity_type, is_known_field

_STRICT = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=True)

Scalar = Union[str, float, bool]
OneOrMany = Union[str, list[str]]

_LEAF_OPERATORS = (
    "equals",
    "in_",
    "contains",
    "starts_with",
    "ends_with",
    "regex",
    "gte",
    "gt",
    "lte",
    "lt",
    "exists",
    "missing",
)
_COMBINATORS = ("all", "any", "not_")


class Condition(BaseModel):
    """A test on a record's fields (or an activity's properties).

    A leaf names a ``field`` and one or more operators, all of which must hold; ``all``/``any``/
    ``not`` combine conditions. Text comparisons ignore case unless ``case_sensitive = true``.
    Numeric operators (``gte``/``gt``/``lte``/``lt``) read ``"1,200"`` as 1200 and treat text that
    is not a number as missing.
    """

    model_config = _STRICT

    field: str | None = None
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    contains: OneOrMany | None = None
    starts_with: OneOrMany | None = None
    ends_with: OneOrMany | None = None
    regex: str | None = None
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None
    exists: bool | None = None
    missing: bool | None = None
    case_sensitive: bool = False
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = Field(default=None, alias="not")

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _well_formed(self) -> Condition:
        leaf = [op for op in _LEAF_OPERATORS if getattr(self, op) is not None]
        combined = [op for op in _COMBINATORS if getattr(self, op) is not None]
        if not leaf and not combined:
            raise ValueError(
                "a condition needs a field with an operator (equals, in, contains, starts_with, "
                "ends_with, regex, gte, gt, lte, lt, exists, missing) or all/any/not"
            )
        if leaf and self.field is None:
            raise ValueError(f"'{_alias(leaf[0])}' needs a 'field' to test")
        if self.field is not None and not leaf:
            raise ValueError(f"field '{self.field}' has no operator to test it with")
        for name in ("all", "any"):
            items = getattr(self, name)
            if items is not None and not items:
                raise ValueError(f"'{name}' needs at least one condition")
        if self.gte is not None and self.gt is not None or self.lte is not None and self.lt is not None:
            raise ValueError("use one lower bound (gte or gt) and one upper bound (lte or lt)")
        low = self.gte if self.gte is not None else self.gt
        high = self.lte if self.lte is not None else self.lt
        if low is not None and high is not None and low > high:
            raise ValueError(f"empty numeric range: lower bound {low:g} is above upper bound {high:g}")
        return self

    def fields_used(self) -> set[str]:
        found = {self.field} if self.field else set()
        for child in (self.all or []) + (self.any or []) + ([self.not_] if self.not_ else []):
            found |= child.fields_used()
        return found


def _alias(name: str) -> str:
    return name.rstrip("_")


# --- decay -------------------------------------------------------------------------------


class NoDecay(BaseModel):
    """Points never fade. The default, and the only behaviour fit rules have."""

    model_config = _STRICT
    kind: Literal["none"] = "none"


class DecayStep(BaseModel):
    """After ``after_days``, multiply by ``factor`` or subtract ``minus`` points (toward zero)."""

    model_config = _STRICT
    after_days: float = Field(gt=0)
    factor: float | None = Field(default=None, ge=0, le=1)
    minus: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_effect(self) -> DecayStep:
        if (self.factor is None) == (self.minus is None):
            raise ValueError("a decay step needs exactly one of 'factor' or 'minus'")
        return self


class StepDecay(BaseModel):
    """Points drop at fixed ages: ``{kind="step", after_days=30, factor=0.5}`` halves them
    after 30 days; ``steps=[...]`` lists several, applied cumulatively in age order."""

    model_config = _STRICT
    kind: Literal["step"]
    after_days: float | None = Field(default=None, gt=0)
    factor: float | None = Field(default=None, ge=0, le=1)
    minus: float | None = Field(default=None, ge=0)
    steps: list[DecayStep] | None = None

    @model_validator(mode="after")
    def _steps_given(self) -> StepDecay:
        inline = self.after_days is not None or self.factor is not None or self.minus is not None
        if inline == (self.steps is not None):
            raise ValueError("give either after_days with factor or minus, or a 'steps' list")
        if inline:
            DecayStep(after_days=self.after_days or 0.0, factor=self.factor, minus=self.minus)
        elif not self.steps:
            raise ValueError("'steps' needs at least one step")
        return self

    def normalised_steps(self) -> list[DecayStep]:
        if self.steps is not None:
            return sorted(self.steps, key=lambda s: s.after_days)
        return [DecayStep(after_days=self.after_days or 0.0, factor=self.factor, minus=self.minus)]


class LinearDecay(BaseModel):
    """Points fall in a straight line to zero at ``over_days``."""

    model_config = _STRICT
    kind: Literal["linear"]
    over_days: float = Field(gt=0)


class ExponentialDecay(BaseModel):
    """Points halve every ``half_life_days``."""

    model_config = _STRICT
    kind: Literal["exponential"]
    half_life_days: float = Field(gt=0)


class ExpireDecay(BaseModel):
    """Points count in full until ``after_days``, then not at all (a hard expiry window)."""

    model_config = _STRICT
    kind: Literal["expire"]
    after_days: float = Field(gt=0)


Decay = Annotated[
    Union[NoDecay, StepDecay, LinearDecay, ExponentialDecay, ExpireDecay],
    Field(discriminator="kind"),
]
DECAY_KINDS = ("none", "step", "linear", "exponential", "expire")


# --- rules -------------------------------------------------------------------------------


class _RuleBase(BaseModel):
    model_config = _STRICT

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]+$")
    label: str = Field(min_length=1, max_length=120)
    group: str | None = None
    min_points: float | None = None
    max_points: float | None = None

    @model_validator(mode="after")
    def _caps_ordered(self) -> _RuleBase:
        if self.min_points is not None and self.max_points is not None and self.min_points > self.max_points:
            raise ValueError(f"min_points {self.min_points:g} is above max_points {self.max_points:g}")
        return self


class FitRule(_RuleBase, Condition):
    """Points for who the lead is: a condition on its fields. Fit never decays.

    ``label`` may contain ``{value}``, replaced by the value of ``field`` (``"Title: {value}"``).
    """

    kind: Literal["fit"]
    points: float
    #: Present only to say clearly that fit does not decay (rather than "unknown key").
    decay: None = None

    @field_validator("decay", mode="before")
    @classmethod
    def _no_decay(cls, value: object) -> None:
        if value is not None:
            raise ValueError("fit rules never decay; decay belongs on engagement rules or their group")
        return None


class EngagementRule(_RuleBase):
    """Points for what the lead did: each matching activity counts, newest first.

    ``points`` per occurrence, or ``tiers`` (points for the 1st, 2nd, ... newest occurrence;
    the last value repeats, so ``[10, 2]`` is "first +10, each further +2"). ``lookback_days``
    ignores older activities entirely; ``max_occurrences`` counts only the newest N; ``decay``
    fades each occurrence by its age and overrides the group's decay.
    """

    kind: Literal["engagement"]
    activity: OneOrMany
    where: Condition | None = None
    points: float | None = None
    tiers: list[float] | None = None
    max_occurrences: int | None = Field(default=None, ge=1)
    lookback_days: float | None = Field(default=None, gt=0)
    decay: Decay | None = None

    @field_validator("activity")
    @classmethod
    def _known_types(cls, value: OneOrMany) -> OneOrMany:
        for name in [value] if isinstance(value, str) else value:
            if not is_known_activity_type(name):
                known = ", ".join(sorted(ACTIVITY_TYPES))
                raise ValueError(f"unknown activity type '{name}' (known: {known}; or custom.<name>)")
        if isinstance(value, list) and not value:
            raise ValueError("needs at least one activity type")
        if isinstance(value, list) and len(set(value)) != len(value):
            twice = sorted({v for v in value if value.count(v) > 1})
            raise ValueError(f"activity type listed twice: {', '.join(twice)}")
        return value

    @model_validator(mode="after")
    def _points_or_tiers(self) -> EngagementRule:
        if (self.points is None) == (self.tiers is None):
            raise ValueError("give exactly one of 'points' or 'tiers'")
        if self.tiers is not None and not self.tiers:
            raise ValueError("'tiers' needs at least one value")
        return self

    @property
    def activity_types(self) -> tuple[str, ...]:
        return (self.activity,) if isinstance(self.activity, str) else tuple(self.activity)


def _not_empty(value: list[str] | None, message: str) -> list[str] | None:
    """A list that, when given, holds something (``stages = []`` is a mistake, not "none")."""
    if value is not None and not value:
        raise ValueError(message)
    return value


class RollupRule(_RuleBase):
    """Points for an account from its people, as the people's own models score them now: an
    account model's view of who is engaged there. Only account models take them.

    ``aggregate`` is ``best`` (the highest of the people's ``value``), ``sum`` (all of them;
    bound it with ``max_points``) or ``count`` (how many people qualify); ``weight`` is the points
    per unit (``best``/``sum``) or per person (``count``). ``min_score`` and ``stages`` pick the
    people that count ("engaged": MQL or better). ``value`` is the person's ``score``,
    ``fit_score`` or ``engagement_score``.
    """

    kind: Literal["rollup"]
    aggregate: Literal["best", "sum", "count"]
    value: Literal["score", "fit_score", "engagement_score"] = "score"
    weight: float = 1.0
    min_score: float | None = None
    stages: list[str] | None = None

    _some_stages = field_validator("stages")(lambda cls, value: _not_empty(value, "'stages' needs at least one stage name"))


Rule = Annotated[Union[FitRule, EngagementRule, RollupRule], Field(discriminator="kind")]
RULE_KINDS = ("fit", "engagement", "rollup")


class Group(BaseModel):
    """Rules that share a cap (e.g. all title rules together at most +15) or a decay."""

    model_config = _STRICT
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    label: str | None = None
    min_points: float | None = None
    max_points: float | None = None
    decay: Decay | None = None


class TotalCaps(BaseModel):
    model_config = _STRICT
    min_points: float | None = None
    max_points: float | None = None


# --- stages and grades -------------------------------------------------------------------


class Stage(BaseModel):
    """A stage reached at ``min_score``; ``requires`` names qualification criteria that must
    also hold (a lead with the SQL score but no budget stays MQL, and its reason says why)."""

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=40)
    min_score: float | None = None
    requires: list[str] = []


class Band(BaseModel):
    model_config = _STRICT
    label: str = Field(min_length=1, max_length=4)
    min: float | None = None


class Grades(BaseModel):
    """A fit band x engagement band matrix: grade ``A1`` is the top fit band and the top
    engagement band. Bands are listed best first; a value below every ``min`` takes the last."""

    model_config = _STRICT
    fit: list[Band] = Field(min_length=1)
    engagement: list[Band] = Field(min_length=1)


def _default_stages() -> list[Stage]:
    return [Stage(name="Cold"), Stage(name="MQL", min_score=50), Stage(name="SQL", min_score=100)]


class ScoringModel(BaseModel):
    """The whole scoring model. Its normalised form is hashed into the model version."""

    model_config = _STRICT
    name: str = "default"
    description: str = ""
    rules: list[Rule] = Field(min_length=1)
    groups: list[Group] = []
    total: TotalCaps = TotalCaps()
    stages: list[Stage] = Field(default_factory=_default_stages, min_length=1)
    qualification: dict[str, Condition] = {}
    grades: Grades | None = None
    reason_max_length: int = Field(default=255, ge=40, le=65536)


class NamedModel(ScoringModel):
    """One of several models (``[[models]]``): a scoring model with what it applies to.

    ``applies_to`` is ``people`` (leads and contacts; the default) or ``accounts`` (HubSpot
    companies, Salesforce Accounts; such a model may hold ``rollup`` rules over the account's
    people). ``objects`` narrows it to some object types (``["lead"]``); ``when`` to the records
    whose fields pass a condition (a region, a product line). A person no named model takes is
    scored by ``[scoring]``; an account no account model takes is not scored. Two models that may
    take the same record are a config error unless both have an ``order`` (lower first).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    applies_to: Literal["people", "accounts"] = "people"
    objects: list[str] | None = None
    when: Condition | None = None
    order: int | None = None
    #: Its own fields, per connector (``[models.write.hubspot] score = "emea_score"``): the values
    #: it writes there and into which fields, instead of the connector's shared ``write`` map.
    #: A connector not named here gets the shared set. ``setup`` creates them.
    write: dict[str, dict[str, str]] = {}

    _some_objects = field_validator("objects")(lambda cls, value: _not_empty(value, "'objects' needs at least one object type"))


def check_references(model: ScoringModel, prefix: str = "scoring") -> list[tuple[str, str]]:
    """Problems that span keys: unknown groups, mixed groups, stage order, unknown criteria,
    unknown lead fields. Returned as ``(key path, message)`` pairs, all of them at once."""
    problems: list[tuple[str, str]] = []
    groups = {g.name: (i, g) for i, g in enumerate(model.groups)}
    seen_groups: set[str] = set()
    for i, g in enumerate(model.groups):
        if g.name in seen_groups:
            problems.append((f"{prefix}.groups[{i}].name", f"duplicate group name '{g.name}'"))
        seen_groups.add(g.name)
        if g.min_points is not None and g.max_points is not None and g.min_points > g.max_points:
            problems.append((f"{prefix}.groups[{i}]", "min_points is above max_points"))

    kinds_in_group: dict[str, set[str]] = {}
    ids: set[str] = set()
    for i, rule in enumerate(model.rules):
        path = f"{prefix}.rules[{i}]"
        if rule.id is not None:
            if rule.id in ids:
                problems.append((f"{path}.id", f"duplicate rule id '{rule.id}'"))
            ids.add(rule.id)
        if rule.group is not None:
            if rule.group not in groups:
                known = ", ".join(f"'{g}'" for g in groups) or "none defined"
                problems.append((f"{path}.group", f"unknown group '{rule.group}' (groups: {known})"))
            else:
                kinds_in_group.setdefault(rule.group, set()).add(rule.kind)
        fields = rule.fields_used() if isinstance(rule, FitRule) else set()
        for name in sorted(fields):
            if not is_known_field(name):
                problems.append((f"{path}.field", f"unknown lead field '{name}' (use a canonical field or custom.<name>)"))

    for name, kinds in kinds_in_group.items():
        i, g = groups[name]
        kinds = {"engagement" if k == "rollup" else k for k in kinds}  # both count as engagement
        if len(kinds) > 1:
            problems.append((f"{prefix}.groups[{i}]", f"group '{name}' mixes fit and engagement rules"))
        if "fit" in kinds and g.decay is not None and g.decay.kind != "none":
            problems.append((f"{prefix}.groups[{i}].decay", f"group '{name}' holds fit rules, and fit never decays"))

    for name, cond in model.qualification.items():
        for field_name in sorted(cond.fields_used()):
            if not is_known_field(field_name):
                problems.append((f"{prefix}.qualification.{name}", f"unknown lead field '{field_name}'"))

    previous: float | None = None
    names: set[str] = set()
    for i, stage in enumerate(model.stages):
        path = f"{prefix}.stages[{i}]"
        if stage.name in names:
            problems.append((f"{path}.name", f"duplicate stage '{stage.name}'"))
        names.add(stage.name)
        if stage.min_score is None and i > 0:
            problems.append((f"{path}.min_score", "missing required key (only the first stage may omit it)"))
        if stage.min_score is not None:
            if previous is not None and stage.min_score <= previous:
                problems.append((f"{path}.min_score", f"stages must ascend: {stage.min_score:g} is not above {previous:g}"))
            previous = stage.min_score
        for j, req in enumerate(stage.requires):
            if req not in model.qualification:
                known = ", ".join(f"'{q}'" for q in model.qualification) or "none defined"
                problems.append((f"{path}.requires[{j}]", f"unknown qualification criterion '{req}' (criteria: {known})"))

    if model.grades is not None:
        for axis in ("fit", "engagement"):
            bands = getattr(model.grades, axis)
            last: float | None = None
            for j, band in enumerate(bands):
                bpath = f"{prefix}.grades.{axis}[{j}].min"
                if band.min is None and j < len(bands) - 1:
                    problems.append((bpath, "missing required key (only the last band may omit it)"))
                if band.min is not None:
                    if last is not None and band.min >= last:
                        problems.append((bpath, f"bands are listed best first: {band.min:g} is not below {last:g}"))
                    last = band.min

    if model.total.min_points is not None and model.total.max_points is not None:
        if model.total.min_points > model.total.max_points:
            problems.append((f"{prefix}.total", "min_points is above max_points"))
    return problems
