"""The scoring engine: one lead and its activities in, one explained score out.

The model is compiled once into plain tuples and closures; scoring a lead is then a pass over
the fit rules, one grouping of its activities by type, and a pass over the engagement rules.
Every point becomes a :class:`ReasonPart`, and every cap or clamp becomes a part of its own, so the
parts always sum exactly to the score. Each rule's contribution is rounded to a whole point once,
before caps, so the arithmetic after that is exact.

The engine is deterministic: the same model, lead, activities and ``as_of`` give the same result.
Activities after ``as_of`` do not exist yet and are ignored.
"""

from __future__ import annotations

from operator import itemgetter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

from leadscore.agent.core.records import NUMERIC_FIELDS, Activity, Lead, ReasonPart, ScoreLine, ScoreResult
from leadscore.agent.scoring.conditions import Predicate, compile_condition, is_bad_number
from leadscore.agent.scoring.decay import DecayArrayFn, DecayFn, compile_decay, compile_decay_array
from leadscore.agent.scoring.batch import BatchResults, score_batch
from leadscore.agent.scoring.columns import ActivityColumns
from leadscore.agent.scoring.points import clamp, occurrences, preview, round_points
from leadscore.agent.scoring.model import Condition, EngagementRule, FitRule, Group, RollupRule, ScoringModel
from leadscore.agent.scoring.stages import GradeMatrix, StageLadder, staged_result
from leadscore.agent.scoring.version import model_version

_DAY = 86400.0
#: The fewest leads :meth:`ScoringEngine.score_many` scores as one batch over columns.
BATCH_FROM = 32


@dataclass(frozen=True, slots=True)
class _Caps:
    low: float | None
    high: float | None

    @classmethod
    def of(cls, low: float | None, high: float | None) -> _Caps | None:
        """None when there is no cap, so the hot path tests ``is not None`` and nothing else."""
        return None if low is None and high is None else cls(low, high)

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low:g}..{self.high:g}"
        return f"max {self.high:g}" if self.high is not None else f"min {self.low:g}"


@dataclass(frozen=True, slots=True)
class _CompiledFit:
    key: str
    label: str
    value_field: str | None
    test: Predicate
    points: int
    group: int | None
    caps: _Caps | None
    fields: tuple[str, ...] = ()  # the lead fields the test reads


@dataclass(frozen=True, slots=True)
class _CompiledEngagement:
    key: str
    label: str
    types: tuple[str, ...]
    where: Predicate | None
    tiers: tuple[float, ...]
    max_occurrences: int | None
    lookback_days: float | None
    decay: DecayFn | None
    group: int | None
    caps: _Caps | None
    where_fields: tuple[str, ...] = ()  # the activity properties ``where`` reads
    decay_array: DecayArrayFn | None = None


@dataclass(frozen=True, slots=True)
class _CompiledRollup:
    key: str
    label: str
    aggregate: str
    value: str
    weight: float
    min_score: float | None
    stages: frozenset[str] | None
    group: int | None
    caps: _Caps | None

    def points(self, people: Iterable[ScoreResult]) -> tuple[float, str] | None:
        """The points ``people`` earn before rounding and caps, and the reason's detail; None
        when nobody counts."""
        counted = [getattr(p, self.value) for p in people
                   if (self.min_score is None or p.score >= self.min_score) and (self.stages is None or p.stage in self.stages)]
        if not counted:
            return None
        if self.aggregate == "best":
            return max(counted) * self.weight, f"scored {max(counted)}"
        if self.aggregate == "sum":
            return sum(counted) * self.weight, f"{len(counted)} people"
        return len(counted) * self.weight, f"x{len(counted)}"


@dataclass(frozen=True, slots=True)
class _CompiledGroup:
    name: str
    label: str
    component: str
    caps: _Caps | None



class ScoringEngine:
    """A compiled :class:`ScoringModel`. Build once, score many leads."""

    def __init__(self, model: ScoringModel) -> None:
        self.model = model
        self.version = model_version(model)
        group_index = {g.name: i for i, g in enumerate(model.groups)}
        group_kind: dict[int, str] = {}
        fit: list[_CompiledFit] = []
        engagement: list[_CompiledEngagement] = []
        rollups: list[_CompiledRollup] = []
        for i, rule in enumerate(model.rules):
            group = group_index.get(rule.group) if rule.group else None
            key = rule.id or f"rules[{i}]"
            caps = _Caps.of(rule.min_points, rule.max_points)
            if isinstance(rule, FitRule):
                if group is not None:
                    group_kind[group] = "fit"
                fit.append(
                    _CompiledFit(
                        key=key,
                        label=rule.label,
                        value_field=_first_field(rule) if "{value}" in rule.label else None,
                        test=compile_condition(_condition_of(rule)),
                        points=round_points(rule.points),
                        group=group,
                        caps=caps,
                        fields=tuple(sorted(rule.fields_used())),
                    )
                )
            elif isinstance(rule, RollupRule):
                if group is not None:
                    group_kind[group] = "engagement"
                rollups.append(_CompiledRollup(
                    key, rule.label, rule.aggregate, rule.value, rule.weight, rule.min_score,
                    frozenset(rule.stages) if rule.stages is not None else None, group, caps))
            else:
                if group is not None:
                    group_kind[group] = "engagement"
                engagement.append(self._compile_engagement(rule, key, group, model.groups))
        self._fit = tuple(fit)
        self._rollups = tuple(rollups)
        self._engagement = tuple(engagement)
        self._groups = tuple(
            _CompiledGroup(g.name, g.label or g.name, group_kind.get(i, "engagement"), _Caps.of(g.min_points, g.max_points))
            for i, g in enumerate(model.groups)
        )
        self._capped_groups = tuple(i for i, g in enumerate(self._groups) if g.caps is not None)
        self._total_caps = _Caps.of(model.total.min_points, model.total.max_points)
        self._types = frozenset(t for r in self._engagement for t in r.types)
        numeric, textual = _field_uses(model)
        # Warn about a non-number only where the model reads the field as a number and never as text.
        self._numeric_checks = tuple(sorted((numeric & NUMERIC_FIELDS) | (numeric - textual)))
        self._ladder = StageLadder(model)
        self._criteria_fields = {name: tuple(sorted(c.fields_used())) for name, c in model.qualification.items()}
        self._grades = GradeMatrix(model.grades) if model.grades is not None else None

    @property
    def fields_used(self) -> frozenset[str]:
        """Lead fields the model reads (rules and qualification): all a connector need fetch."""
        used: set[str] = set()
        for cond in [r for r in self.model.rules if isinstance(r, FitRule)] + list(self.model.qualification.values()):
            used |= cond.fields_used()
        return frozenset(used)

    @property
    def activity_types_used(self) -> frozenset[str]:
        return self._types

    @staticmethod
    def _compile_engagement(
        rule: EngagementRule, key: str, group: int | None, groups: Sequence[Group]
    ) -> _CompiledEngagement:
        decay = rule.decay if rule.decay is not None else (groups[group].decay if group is not None else None)
        tiers = tuple(rule.tiers) if rule.tiers is not None else (float(rule.points or 0.0),)
        return _CompiledEngagement(
            key=key,
            label=rule.label,
            types=rule.activity_types,
            where=compile_condition(rule.where) if rule.where is not None else None,
            tiers=tiers,
            max_occurrences=rule.max_occurrences,
            lookback_days=rule.lookback_days,
            decay=None if decay is None or decay.kind == "none" else compile_decay(decay),
            group=group,
            caps=_Caps.of(rule.min_points, rule.max_points),
            where_fields=tuple(sorted(rule.where.fields_used())) if rule.where is not None else (),
            decay_array=None if decay is None or decay.kind == "none" else compile_decay_array(decay),
        )

    # --- scoring ---------------------------------------------------------------------------

    @property
    def rolls_up(self) -> bool:
        """Whether the model has roll-up rules: it scores accounts from their people."""
        return bool(self._rollups)

    def score(
        self, lead: Lead, activities: Iterable[Activity] = (), as_of: datetime | None = None,
        people: Sequence[ScoreResult] = (),
    ) -> ScoreResult:
        """The lead's score as of ``as_of``. ``people``: for an account, its people's results,
        which the model's roll-up rules aggregate (an account's activities are its people's)."""
        as_of = _as_utc(as_of) if as_of is not None else datetime.now(timezone.utc)
        fields: Mapping[str, Any] = lead.fields if lead.fields is not None else {}
        warnings: list[str] = []
        for name in self._numeric_checks:
            if is_bad_number(fields.get(name)):
                warnings.append(f"{name}: {preview(fields.get(name))} is not a number")

        parts: list[ReasonPart] = []
        group_totals = [0] * len(self._groups)
        group_fired = [False] * len(self._groups)
        fit_score = 0
        engagement_score = 0

        for rule in self._fit:
            if not rule.test(fields):
                continue
            label = rule.label
            if rule.value_field is not None:
                label = label.replace("{value}", preview(fields.get(rule.value_field), quote=False))
            points = rule.points
            parts.append(ReasonPart(points, label, "fit", rule.key, None, "fit"))
            if rule.caps is not None:
                points = _cap_part(parts, points, label, "fit", rule.key, rule.caps)
            fit_score += points
            if rule.group is not None:
                group_totals[rule.group] += points
                group_fired[rule.group] = True

        for erule, raw, detail in self._engaged(activities, as_of, warnings, people):
            points = round_points(raw)
            parts.append(ReasonPart(points, erule.label, "engagement", erule.key, detail, "engagement"))
            if erule.caps is not None:
                points = _cap_part(parts, points, erule.label, "engagement", erule.key, erule.caps)
            engagement_score += points
            if erule.group is not None:
                group_totals[erule.group] += points
                group_fired[erule.group] = True

        for i in self._capped_groups:
            if not group_fired[i]:
                continue  # a group's caps bound what its rules add; a silent group adds nothing
            group = self._groups[i]
            assert group.caps is not None
            capped = clamp(group_totals[i], group.caps.low, group.caps.high)
            if capped != group_totals[i]:
                adjustment = capped - group_totals[i]
                parts.append(
                    ReasonPart(
                        adjustment,
                        f"Cap: {group.label} {group.caps.describe()}",
                        "cap",
                        rule=group.name,
                        component=group.component,  # type: ignore[arg-type]
                    )
                )
                if group.component == "fit":
                    fit_score += adjustment
                else:
                    engagement_score += adjustment

        score = fit_score + engagement_score
        if self._total_caps is not None:
            capped = clamp(score, self._total_caps.low, self._total_caps.high)
            if capped != score:
                parts.append(ReasonPart(capped - score, f"Cap: total {self._total_caps.describe()}", "cap"))
                score = capped

        decision = self._ladder.decide(score, fields)
        grade = self._grades.grade(fit_score, engagement_score) if self._grades is not None else None
        return staged_result(
            lead.id, score, fit_score, engagement_score, decision, grade, parts, self.version, as_of, warnings
        )

    def _engaged(
        self, activities: Iterable[Activity], as_of: datetime, warnings: list[str], people: Sequence[ScoreResult],
    ) -> Iterator[tuple[_CompiledEngagement | _CompiledRollup, float, str]]:
        """Each engagement and roll-up rule that adds points: the rule, its points before rounding
        and caps, and the reason's detail ("x3, last 2d ago", "scored 71")."""
        if self._engagement:
            by_type = self._activities_by_type(activities, as_of.timestamp(), warnings)
            for erule in self._engagement if by_type else ():
                found = _engagement_points(erule, by_type)
                if found is not None:
                    raw, count, newest = found
                    yield erule, raw, occurrences(count, newest)
        for rollup in self._rollups:
            rolled = rollup.points(people)
            if rolled is not None:
                yield rollup, *rolled

    def score_batch(
        self,
        leads: Sequence[Lead],
        activities: ActivityColumns | Mapping[str, Sequence[Activity]] = {},
        as_of: datetime | None = None,
        people: Sequence[Sequence[ScoreResult]] | None = None,
    ) -> BatchResults:
        """Score ``leads`` together over columns (see :mod:`~leadscore.agent.scoring.batch`):
        the same results as :meth:`score` one by one. ``activities``: their columns (leads
        indexed as in ``leads``), or a map of lead id to activities, turned into columns here.
        ``people``: each lead's people's results, for roll-up rules."""
        as_of = _as_utc(as_of) if as_of is not None else datetime.now(timezone.utc)
        if not isinstance(activities, ActivityColumns):
            activities = self.columns([lead.id for lead in leads], activities)
        return score_batch(self, leads, activities, as_of, people)

    def score_many(
        self, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None = None,
        *, reason_budget: int | None = None,
    ) -> list[ScoreResult]:
        """Each lead's result, in order: :meth:`score_batch`, built into :class:`ScoreResult`
        (each carrying its reason line at ``reason_budget``, when given). A handful of leads is
        scored one at a time: below :data:`BATCH_FROM`, numpy's cost per call outweighs the work."""
        if len(leads) < BATCH_FROM:
            as_of = _as_utc(as_of) if as_of is not None else datetime.now(timezone.utc)
            return [self.score(lead, activities.get(lead.id, ()), as_of) for lead in leads]
        return self.score_batch(leads, activities, as_of).results(reason_budget)

    def score_lines(
        self, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None = None,
        *, reason_budget: int = 255,
    ) -> list[ScoreLine]:
        """Each lead's :class:`ScoreLine` (its values and reason line at ``reason_budget``), in
        order: what the sync writes, made from :meth:`score_batch`'s arrays without building
        the results' reason parts (one at a time below :data:`BATCH_FROM`)."""
        if len(leads) < BATCH_FROM:
            return [r.line(reason_budget) for r in self.score_many(leads, activities, as_of)]
        return self.score_batch(leads, activities, as_of).lines(reason_budget)

    def columns(self, lead_ids: Sequence[str], activities: Mapping[str, Iterable[Activity]]) -> ActivityColumns:
        """The activities of ``lead_ids`` as the columns :meth:`score_batch` reads: only the
        types and properties the model uses. A map that builds columns itself (its
        ``activity_columns``, as the state store's mirror pages do) is asked to."""
        build = getattr(activities, "activity_columns", None)
        if build is not None:
            return build(lead_ids, types=self._types, properties=self.properties_used)  # type: ignore[no-any-return]
        return ActivityColumns.of(lead_ids, activities, types=self._types, properties=self.properties_used)

    @property
    def properties_used(self) -> frozenset[str]:
        """Activity properties the model's ``where`` conditions read."""
        return frozenset(name for rule in self._engagement for name in rule.where_fields)

    def score_all(
        self,
        leads: Iterable[Lead],
        activities: Mapping[str, Sequence[Activity]],
        as_of: datetime | None = None,
    ) -> Iterable[ScoreResult]:
        """Score many leads at one instant; ``activities`` maps lead id to its activities."""
        yield from self.score_many(list(leads), activities, as_of)

    def _activities_by_type(
        self, activities: Iterable[Activity], now: float, warnings: list[str]
    ) -> dict[str, list[tuple[float, Activity]]]:
        """The lead's scorable activities, by type, newest first, with their age in days."""
        by_type: dict[str, list[tuple[float, Activity]]] = {}
        types = self._types
        skipped = 0
        for activity in activities:
            try:
                if activity.type not in types:
                    continue
                occurred = activity.occurred_at
                if occurred.tzinfo is None:
                    occurred = occurred.replace(tzinfo=timezone.utc)
                age = (now - occurred.timestamp()) / _DAY
            except (AttributeError, TypeError, ValueError, OverflowError):
                skipped += 1
                continue
            if age < 0:
                continue  # after as_of: it has not happened yet
            bucket = by_type.get(activity.type)
            if bucket is None:
                by_type[activity.type] = [(age, activity)]
            else:
                bucket.append((age, activity))
        for bucket in by_type.values():
            if len(bucket) > 1:
                bucket.sort(key=_age_key)
        if skipped:
            warnings.append(f"{skipped} activities skipped: no usable occurred_at")
        return by_type

def _cap_part(parts: list[ReasonPart], points: int, label: str, component: str, key: str, caps: _Caps) -> int:
    """Clamp a rule's points; a clamp that bites becomes a reason part of its own."""
    capped = clamp(points, caps.low, caps.high)
    if capped != points:
        parts.append(ReasonPart(capped - points, f"Cap: {label} {caps.describe()}", "cap", key, None, component))  # type: ignore[arg-type]
    return capped


def _engagement_points(
    rule: _CompiledEngagement, by_type: Mapping[str, list[tuple[float, Activity]]]
) -> tuple[float, int, float] | None:
    """Sum of decayed tier points over the rule's occurrences, newest first; with the number
    counted and the newest age. None when nothing matched."""
    types = rule.types
    if len(types) == 1:
        candidates = by_type.get(types[0])
        if not candidates:
            return None
    else:
        candidates = sorted((x for t in types for x in by_type.get(t, ())), key=_age_key)
        if not candidates:
            return None
    tiers = rule.tiers
    last_tier = len(tiers) - 1
    where = rule.where
    lookback = rule.lookback_days
    limit = rule.max_occurrences
    decay = rule.decay
    total = 0.0
    count = 0
    newest = 0.0
    for age, activity in candidates:
        if lookback is not None and age > lookback:
            break  # sorted newest first: everything after is older still
        if where is not None and not where(activity.properties or {}):
            continue
        if count == 0:
            newest = age
        points = tiers[count if count < last_tier else last_tier]
        total += points if decay is None else decay(points, age)
        count += 1
        if limit is not None and count >= limit:
            break
    if count == 0:
        return None
    return total, count, newest


_age_key = itemgetter(0)


def _first_field(cond: Condition) -> str | None:
    """The field whose value fills ``{value}`` in a label: the rule's own ``field``, else the
    first field named inside its ``all``/``any``/``not``, depth first."""
    if cond.field:
        return cond.field
    for child in (cond.all or []) + (cond.any or []) + ([cond.not_] if cond.not_ else []):
        found = _first_field(child)
        if found:
            return found
    return None


def _condition_of(rule: FitRule) -> Condition:
    """A fit rule *is* a condition plus points; compile only the condition part."""
    return rule


def _field_uses(model: ScoringModel) -> tuple[set[str], set[str]]:
    """Lead fields the model tests as numbers, and those it tests as text."""
    numeric: set[str] = set()
    textual: set[str] = set()

    def walk(cond: Condition) -> None:
        if cond.field:
            if any(getattr(cond, op) is not None for op in ("gte", "gt", "lte", "lt")):
                numeric.add(cond.field)
            if any(getattr(cond, op) is not None for op in ("equals", "in_", "contains", "starts_with", "ends_with", "regex")):
                textual.add(cond.field)
        for child in (cond.all or []) + (cond.any or []) + ([cond.not_] if cond.not_ else []):
            walk(child)

    for rule in model.rules:
        if isinstance(rule, FitRule):
            walk(rule)
    for cond in model.qualification.values():
        walk(cond)
    return numeric, textual


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)

