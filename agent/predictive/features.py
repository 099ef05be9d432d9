"""From a lead and its activities, at one instant, to a row of numbers a model can learn from.

Two steps, kept apart on purpose:

1. :func:`take_snapshot` freezes what was known about a lead at an instant: its fields, per
   activity type the count of activities strictly *before* that instant and the age of the newest,
   those activities themselves (for time windows and the admin's activity rules), when the lead
   was created, and its deals as known then. Point-in-time training
   (:mod:`~leadscore.agent.predictive.pointintime`) snapshots each lead as it looked when it would
   have been scored, fields from the mirror's history; the CSV path
   (:func:`~leadscore.agent.predictive.dataset.build_training_set`) at the outcome's time with the
   current fields, which is why the leakage check exists. Serving snapshots are taken now.
2. :class:`FeatureSpec` is *fitted* on training snapshots (which fields are numbers, which
   category values are common enough to keep, medians, bin edges) and then turns any snapshot
   into the same columns. It is plain data and round-trips through JSON, so a saved model
   rebuilds its inputs exactly, and a field value never seen in training still maps somewhere
   ("(other)").

Values are read the way the rules engine reads them (:func:`text_value`, :func:`number_value`:
blank is missing, ``"1,200"`` is 1200, text compares case-insensitively), so a learned points
model and the engine that later runs it agree on every lead.

Columns per input, chosen on the X Education benchmark (see ``bench/predictive.py``):

* numeric field: signed ``log1p`` of the value (median-imputed), a missing indicator, and one-hot
  quantile bins, so a linear model can bend (time on site is far from log-linear);
* category field: one-hot of the kept values plus "(other)" and "(missing)";
* activity type: ``log1p(count)``, "any", ``log1p(days since the newest)`` capped, and
  ``log1p`` of the count within each of ``windows_days`` (7/30/90 days);
* activity rule (``rule:<name>``, the admin's): the same counts, of the activities that match;
* lead age (``lead_age``): days since creation, read like a numeric field;
* email domain (``email_domain``): corporate, free mailbox, or missing;
* deals (``deals``): open, won and lost deals known at the snapshot, ``log1p`` counts and amounts.

The derived inputs (rules, age, domain, deals) carry their parameters in the spec, so a saved
model computes them the same way wherever it scores; each is left out when the training
snapshots give it nothing to learn (no activity matched, one age for all, no deals given).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Literal, Mapping, Protocol, Sequence

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.config import FREE_EMAIL_DOMAINS, ActivityRule, FeatureSettings
from leadscore.agent.core.records import CUSTOM_PREFIX, NUMERIC_FIELDS, Activity, Lead, utc
from leadscore.agent.scoring.conditions import number_value, text_value

_DAY = 86400.0
ACTIVITY_PREFIX = "activity:"
RULE_PREFIX = "rule:"
LEAD_AGE = "lead_age"
EMAIL_DOMAIN = "email_domain"
DEALS = "deals"
#: Inputs derived from more than one field or activity; names an admin may ``exclude``.
DERIVED_INPUTS = frozenset({LEAD_AGE, EMAIL_DOMAIN, DEALS})
OTHER = "(other)"
MISSING = "(missing)"
#: The deal kinds a deal's state is read from (:class:`leadscore.agent.core.records.OutcomeKind`'s).
DEAL_KINDS = frozenset({"open", "won", "lost"})


# --- deals -----------------------------------------------------------------------------------


class DealLike(Protocol):
    """What a deal's state at an instant is read from: an outcome of a deal or opportunity
    (:class:`leadscore.agent.core.records.Outcome` with ``kind`` won, lost or open). A record may
    also carry ``started_at`` (when the deal opened, as the connectors record it: without it, a deal
    counts only once closed, never as open) and ``source_id`` (None: an outcome of the lead itself, not of a deal)."""

    @property
    def kind(self) -> Any: ...
    @property
    def occurred_at(self) -> datetime | None: ...
    @property
    def amount(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class DealState:
    """A lead's deals as known at one instant: how many were open, won and lost, and their amounts."""

    open: int = 0
    won: int = 0
    lost: int = 0
    open_amount: float = 0.0
    won_amount: float = 0.0
    lost_amount: float = 0.0

    @property
    def any(self) -> bool:
        return bool(self.open or self.won or self.lost)


def deal_state(deals: Iterable[DealLike], cutoff: datetime) -> DealState:
    """The deals as known strictly before ``cutoff``: a deal closed (won, lost) before it counts as
    closed; a deal opened before it and not closed before it counts as open, whatever became of
    it later; a deal not yet opened (or of unknown opening, still unclosed) does not count."""
    limit = utc(cutoff)
    counts = {"open": 0, "won": 0, "lost": 0}
    amounts = {"open": 0.0, "won": 0.0, "lost": 0.0}
    for deal in deals:
        kind = str(getattr(deal.kind, "value", deal.kind)).casefold()
        if kind not in DEAL_KINDS or getattr(deal, "source_id", "") is None:
            continue
        closed = deal.occurred_at if kind != "open" else None
        created = getattr(deal, "started_at", None)
        if closed is not None and utc(closed) < limit:
            state = kind
        elif created is not None and utc(created) < limit:
            state = "open"
        else:
            continue
        counts[state] += 1
        amount = number_value(getattr(deal, "amount", None))
        if amount is not None and math.isfinite(amount):
            amounts[state] += amount
    return DealState(
        counts["open"], counts["won"], counts["lost"], amounts["open"], amounts["won"], amounts["lost"]
    )


# --- snapshots -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What was known about one lead at ``at``: its fields, per activity type the number of
    activities before ``at`` and the age in days of the newest of them, those activities (oldest
    first) with their ages by type (ascending, days), when the lead was created, and its deals
    (None: none were given, which is not "no deals")."""

    lead_id: str
    at: datetime | None
    fields: Mapping[str, Any]
    counts: Mapping[str, int] = field(default_factory=dict)
    recency_days: Mapping[str, float] = field(default_factory=dict)
    activities: tuple[Activity, ...] = ()
    ages_days: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    created_at: datetime | None = None
    deals: DealState | None = None


def take_snapshot(
    lead: Lead,
    activities: Iterable[Activity],
    at: datetime,
    gap_days: float = 0.0,
    *,
    deals: Iterable[DealLike] | None = None,
) -> Snapshot:
    """Freeze ``lead`` at ``at - gap_days``: only activities strictly before that instant count,
    and only deals known strictly before it (:func:`deal_state`).

    Strictly before, because the activity that *is* the conversion (a demo request, a signed
    trial) must not explain the conversion; ``gap_days`` widens the margin further for outcomes
    whose timestamp lags the real decision. ``lead`` is taken as given: point-in-time training
    passes the lead as it was at ``at`` (:func:`~leadscore.agent.predictive.pointintime.lead_at`).
    """
    cutoff = utc(at) - timedelta(days=gap_days)
    limit = cutoff.timestamp()
    kept: list[tuple[float, Activity]] = []
    for activity in activities:
        try:
            when = utc(activity.occurred_at).timestamp()
        except (AttributeError, TypeError, ValueError, OverflowError):
            continue
        if when < limit:
            kept.append((when, activity))
    kept.sort(key=lambda pair: pair[0])
    counts: Counter[str] = Counter()
    newest: dict[str, float] = {}
    ages: dict[str, list[float]] = {}
    for when, activity in reversed(kept):  # newest first: ages ascend
        counts[activity.type] += 1
        newest.setdefault(activity.type, when)
        ages.setdefault(activity.type, []).append((limit - when) / _DAY)
    return Snapshot(
        lead_id=lead.id,
        at=cutoff,
        fields=lead.fields if lead.fields is not None else {},
        counts=dict(counts),
        recency_days={t: (limit - when) / _DAY for t, when in newest.items()},
        activities=tuple(a for _, a in kept),
        ages_days={t: tuple(v) for t, v in ages.items()},
        created_at=utc(lead.created_at) if lead.created_at is not None else None,
        deals=None if deals is None else deal_state(deals, cutoff),
    )


def snapshots_at(leads: Iterable[Lead], activities: Mapping[str, Sequence[Activity]], at: datetime) -> list[Snapshot]:
    """Every lead frozen at one instant with its own activities (``activities`` by lead id): what
    scoring a batch of leads, live or shadow, feeds a model."""
    return [take_snapshot(lead, activities.get(lead.id, ()), at) for lead in leads]


# --- reading values as the engine does -----------------------------------------------------


def text_key(value: Any) -> str | None:
    """The case-folded text of a value (the engine compares text ignoring case), or None."""
    text = text_value(value)
    return None if text is None else text.casefold()


def field_texts(snapshots: Sequence[Snapshot], name: str) -> list[str | None]:
    return [text_value(s.fields.get(name)) for s in snapshots]


def field_numbers(snapshots: Sequence[Snapshot], name: str) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The field as numbers (NaN where missing or not a number) and a mask of *missing* values
    (blank), which differs from NaN for text that is present but not a number."""
    raw = [s.fields.get(name) for s in snapshots]
    numbers = np.array([np.nan if (n := number_value(v)) is None else n for v in raw], dtype=np.float64)
    missing = np.array([text_value(v) is None for v in raw], dtype=bool)
    return numbers, missing


def activity_arrays(snapshots: Sequence[Snapshot], kind: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Counts of activity type ``kind`` and days since the newest (NaN where none)."""
    counts = np.array([s.counts.get(kind, 0) for s in snapshots], dtype=np.float64)
    recency = np.array([s.recency_days.get(kind, np.nan) for s in snapshots], dtype=np.float64)
    return counts, recency


def activity_input_name(kind: str) -> str:
    return ACTIVITY_PREFIX + kind


def humanise(name: str) -> str:
    """``custom.lead_quality`` -> ``Lead quality``; ``activity:email_open`` -> ``Email open``;
    ``rule:pricing_visits`` -> ``Pricing visits``."""
    base = name.removeprefix(ACTIVITY_PREFIX).removeprefix(RULE_PREFIX).removeprefix(CUSTOM_PREFIX)
    text = re.sub(r"[_.\s]+", " ", base).strip()
    return text[:1].upper() + text[1:] if text else name


# --- profiling fields: which are numbers, which are categories, which are unusable ------------

FieldKind = Literal["numeric", "categorical"]


@dataclass(frozen=True, slots=True)
class FieldProfile:
    name: str
    kind: FieldKind | None
    present: int
    distinct: int
    #: Why the field is not used (None when it is).
    dropped: str | None = None


def profile_field(snapshots: Sequence[Snapshot], name: str, settings: FeatureSettings) -> FieldProfile:
    """Decide how a field is read. A field is numeric when it is a canonical numeric field, or
    when at least 97% of its present values are numbers and there are at least three distinct
    ones (so yes/no coded 0/1 stays a category). Text fields with about one value per lead
    (emails, phone numbers, ids) identify rather than describe: they are dropped."""
    texts = field_texts(snapshots, name)
    present = [t for t in texts if t is not None]
    if not present:
        return FieldProfile(name, None, 0, 0, "always empty")
    numbers = [n for t in present if (n := number_value(t)) is not None]
    distinct_numbers = len(set(numbers))
    if name in NUMERIC_FIELDS or (len(numbers) >= 0.97 * len(present) and distinct_numbers >= 3):
        if distinct_numbers <= 1 and len(present) == len(texts):
            return FieldProfile(name, "numeric", len(present), distinct_numbers, "constant")
        return FieldProfile(name, "numeric", len(present), distinct_numbers)
    keys = {t.casefold() for t in present}
    if len(keys) > 20 and len(keys) > settings.max_distinct_share * len(present):
        return FieldProfile(name, "categorical", len(present), len(keys), f"identifier-like ({len(keys)} distinct values)")
    if len(keys) <= 1 and len(present) == len(texts):
        return FieldProfile(name, "categorical", len(present), len(keys), "constant")
    return FieldProfile(name, "categorical", len(present), len(keys))


def candidate_inputs(snapshots: Sequence[Snapshot], exclude: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """Field names and activity types seen in ``snapshots`` that are not excluded, and the
    excluded names that matched nothing (worth a warning: a typo excludes nothing)."""
    excluded = set(exclude)
    fields = sorted({name for s in snapshots for name in s.fields})
    kinds = sorted({kind for s in snapshots for kind in s.counts})
    used_fields = [f for f in fields if f not in excluded]
    used_kinds = [k for k in kinds if k not in excluded and activity_input_name(k) not in excluded]
    known = set(fields) | set(kinds) | {activity_input_name(k) for k in kinds} | DERIVED_INPUTS
    return used_fields, used_kinds, sorted(e for e in excluded - known if not e.startswith(RULE_PREFIX))


# --- the fitted feature spec ---------------------------------------------------------------


def _signed_log(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.sign(x) * np.log1p(np.abs(x))


def quantile_edges(values: NDArray[np.float64], bins: int) -> tuple[float, ...]:
    """Inner edges of up to ``bins`` quantile bins of ``values`` (non-NaN), without duplicates
    or an edge at the minimum (which would make an empty first bin)."""
    values = values[~np.isnan(values)]
    if bins < 2 or values.size == 0:
        return ()
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    return tuple(float(e) for e in edges if e > values.min())


@dataclass(frozen=True, slots=True)
class NumericInput:
    name: str
    median: float
    edges: tuple[float, ...]
    has_missing: bool

    def columns(self) -> list[str]:
        cols = [f"{self.name}:log"]
        if self.has_missing:
            cols.append(f"{self.name}:missing")
        cols += [f"{self.name}:bin{k}" for k in range(len(self.edges) + 1)] if self.edges else []
        return cols

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        numbers, _ = field_numbers(snapshots, self.name)
        return _numeric_block(numbers, self.median, self.edges, self.has_missing)

    def describe(self, snapshot: Snapshot) -> str:
        value = number_value(snapshot.fields.get(self.name))
        return "missing" if value is None else f"{value:g}"


def _numeric_block(numbers: NDArray[np.float64], median: float, edges: tuple[float, ...], has_missing: bool) -> NDArray[np.float64]:
    """Signed log (NaN imputed with the median), a missing indicator, one-hot quantile bins."""
    absent = np.isnan(numbers)
    value = np.where(absent, median, numbers)
    blocks = [_signed_log(value)[:, None]]
    if has_missing:
        blocks.append(absent.astype(np.float64)[:, None])
    if edges:
        index = np.searchsorted(np.asarray(edges), value, side="right")
        blocks.append((index[:, None] == np.arange(len(edges) + 1)[None, :]).astype(np.float64))
    return np.hstack(blocks)


@dataclass(frozen=True, slots=True)
class CategoricalInput:
    name: str
    #: Case-folded values kept as their own column, and how each was first written.
    keys: tuple[str, ...]
    labels: tuple[str, ...]
    has_other: bool
    has_missing: bool

    def columns(self) -> list[str]:
        cols = [f"{self.name}={label}" for label in self.labels]
        if self.has_other:
            cols.append(f"{self.name}={OTHER}")
        if self.has_missing:
            cols.append(f"{self.name}={MISSING}")
        return cols

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        position = {k: i for i, k in enumerate(self.keys)}
        width = len(self.keys) + self.has_other + self.has_missing
        out = np.zeros((len(snapshots), width), dtype=np.float64)
        other = len(self.keys) if self.has_other else -1
        missing = len(self.keys) + self.has_other if self.has_missing else -1
        for row, snap in enumerate(snapshots):
            key = text_key(snap.fields.get(self.name))
            column = missing if key is None else position.get(key, other)
            if column >= 0:
                out[row, column] = 1.0
        return out

    def describe(self, snapshot: Snapshot) -> str:
        text = text_value(snapshot.fields.get(self.name))
        return "missing" if text is None else _short(text)


def _window_columns(name: str, windows: tuple[float, ...]) -> list[str]:
    return [f"{name}:last{w:g}d_log" for w in windows]


def _window_counts(ages: Sequence[Sequence[float]], windows: tuple[float, ...]) -> NDArray[np.float64]:
    """``log1p`` of how many of each row's ages (ascending, days) are within each window."""
    out = np.zeros((len(ages), len(windows)), dtype=np.float64)
    for row, values in enumerate(ages):
        if values:
            out[row] = [bisect_right(values, w) for w in windows]
    return np.log1p(out)


def _count_text(count: int, newest_days: float | None) -> str:
    if not count:
        return "none"
    days = int(newest_days or 0.0)
    return f"x{count}, last {'today' if days == 0 else f'{days}d ago'}"


@dataclass(frozen=True, slots=True)
class ActivityInput:
    kind: str
    recency_cap_days: float
    #: Also the count within each of these many days before the snapshot (none: a model saved
    #: before windows existed).
    windows: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        return activity_input_name(self.kind)

    def columns(self) -> list[str]:
        return [f"{self.name}:count_log", f"{self.name}:any", f"{self.name}:recency_log", *_window_columns(self.name, self.windows)]

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        counts, recency = activity_arrays(snapshots, self.kind)
        capped = np.where(np.isnan(recency), self.recency_cap_days, np.minimum(recency, self.recency_cap_days))
        block = np.column_stack([np.log1p(counts), (counts > 0).astype(np.float64), np.log1p(np.maximum(capped, 0.0))])
        if not self.windows:
            return block
        return np.hstack([block, _window_counts([s.ages_days.get(self.kind, ()) for s in snapshots], self.windows)])

    def describe(self, snapshot: Snapshot) -> str:
        return _count_text(snapshot.counts.get(self.kind, 0), snapshot.recency_days.get(self.kind))


def rule_matches(rule: ActivityRule, activity: Activity) -> bool:
    """Whether ``activity`` is of the rule's type and its property passes the rule's test (text
    compared ignoring case, as the rules engine compares it)."""
    if activity.type != rule.activity:
        return False
    text = text_value((activity.properties or {}).get(rule.property))
    if text is None:
        return False
    if rule.contains is not None:
        return rule.contains.casefold() in text.casefold()
    if rule.equals is not None:
        return rule.equals.casefold() == text.casefold()
    return True


def rule_ages(rule: ActivityRule, snapshot: Snapshot) -> tuple[float, ...]:
    """The ages (days before the snapshot, ascending) of the snapshot's activities the rule matches."""
    if snapshot.at is None:
        return ()
    limit = snapshot.at.timestamp()
    return tuple(sorted((limit - utc(a.occurred_at).timestamp()) / _DAY for a in snapshot.activities if rule_matches(rule, a)))


@dataclass(frozen=True, slots=True)
class RuleInput:
    """An activity rule the admin named: the count of matching activities before the snapshot,
    whether there was any, and the counts within each window."""

    rule: ActivityRule
    windows: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        return RULE_PREFIX + self.rule.name

    def columns(self) -> list[str]:
        return [f"{self.name}:count_log", f"{self.name}:any", *_window_columns(self.name, self.windows)]

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        ages = [rule_ages(self.rule, s) for s in snapshots]
        counts = np.array([len(a) for a in ages], dtype=np.float64)
        block = np.column_stack([np.log1p(counts), (counts > 0).astype(np.float64)])
        return np.hstack([block, _window_counts(ages, self.windows)]) if self.windows else block

    def describe(self, snapshot: Snapshot) -> str:
        ages = rule_ages(self.rule, snapshot)
        return _count_text(len(ages), ages[0] if ages else None)


def lead_ages(snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
    """Each lead's age at its snapshot in days (NaN when its creation time is unknown)."""
    return np.array(
        [
            max(0.0, (s.at - s.created_at).total_seconds() / _DAY) if s.at is not None and s.created_at is not None else np.nan
            for s in snapshots
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True, slots=True)
class LeadAgeInput:
    """Days since the lead was created, read like a numeric field (log, missing, quantile bins)."""

    median: float
    edges: tuple[float, ...]
    has_missing: bool

    @property
    def name(self) -> str:
        return LEAD_AGE

    def columns(self) -> list[str]:
        return NumericInput(self.name, self.median, self.edges, self.has_missing).columns()

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        return _numeric_block(lead_ages(snapshots), self.median, self.edges, self.has_missing)

    def describe(self, snapshot: Snapshot) -> str:
        age = lead_ages([snapshot])[0]
        return "unknown" if np.isnan(age) else f"{int(age)} days"


EmailClass = Literal["corporate", "free", "missing"]


def email_class(value: Any, free_domains: frozenset[str]) -> EmailClass:
    """A company's address, a free mailbox's (gmail.com...), or none usable."""
    text = text_value(value)
    if text is None or "@" not in text:
        return "missing"
    domain = text.rsplit("@", 1)[1].strip().strip(".").casefold()
    if not domain:
        return "missing"
    return "free" if domain in free_domains else "corporate"


@dataclass(frozen=True, slots=True)
class EmailDomainInput:
    """Whether the ``email`` field's domain is a company's or a free mailbox's (or missing)."""

    free_domains: tuple[str, ...]
    has_missing: bool

    @property
    def name(self) -> str:
        return EMAIL_DOMAIN

    def _classes(self) -> tuple[EmailClass, ...]:
        return ("corporate", "free", "missing") if self.has_missing else ("corporate", "free")

    def columns(self) -> list[str]:
        return [f"{self.name}={MISSING if c == 'missing' else c}" for c in self._classes()]

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        domains = frozenset(self.free_domains)
        classes = self._classes()
        found = [email_class(s.fields.get("email"), domains) for s in snapshots]
        return np.array([[1.0 if f == c else 0.0 for c in classes] for f in found], dtype=np.float64).reshape(len(snapshots), len(classes))

    def describe(self, snapshot: Snapshot) -> str:
        return email_class(snapshot.fields.get("email"), frozenset(self.free_domains))


@dataclass(frozen=True, slots=True)
class DealInput:
    """The lead's deals known at the snapshot: ``log1p`` of how many were open, won and lost, and
    of their amounts. A snapshot without deal data reads as no deals."""

    @property
    def name(self) -> str:
        return DEALS

    def columns(self) -> list[str]:
        return [f"{self.name}:{state}_{what}" for what in ("count_log", "amount_log") for state in ("open", "won", "lost")]

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        empty = DealState()
        rows = [
            [d.open, d.won, d.lost, d.open_amount, d.won_amount, d.lost_amount]
            for d in (s.deals or empty for s in snapshots)
        ]
        return _signed_log(np.array(rows, dtype=np.float64).reshape(len(snapshots), 6))

    def describe(self, snapshot: Snapshot) -> str:
        d = snapshot.deals
        if d is None or not d.any:
            return "none"
        parts = [f"{n} {state}" for n, state in ((d.open, "open"), (d.won, "won"), (d.lost, "lost")) if n]
        return ", ".join(parts)


Input = NumericInput | CategoricalInput | ActivityInput | RuleInput | LeadAgeInput | EmailDomainInput | DealInput
#: Inputs that describe what a lead did and when (the rest describe who it is: its fit).
_ENGAGEMENT = (ActivityInput, RuleInput, LeadAgeInput, DealInput)


@dataclass(frozen=True)
class FeatureSpec:
    """The fitted recipe from snapshots to model columns. Plain data: JSON in, JSON out."""

    inputs: tuple[Input, ...]
    #: Inputs seen but not used, and why (excluded by the admin, identifier-like, constant).
    dropped: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, snapshots: Sequence[Snapshot], exclude: Iterable[str] = (), settings: FeatureSettings | None = None
    ) -> FeatureSpec:
        settings = settings or FeatureSettings()
        fields, kinds, _ = candidate_inputs(snapshots, exclude)
        dropped: dict[str, str] = {name: "excluded" for name in sorted(set(exclude))}
        inputs: list[Input] = []
        for name in fields:
            profile = profile_field(snapshots, name, settings)
            if profile.dropped is not None:
                dropped[name] = profile.dropped
                continue
            if profile.kind == "numeric":
                numbers, missing = field_numbers(snapshots, name)
                present = numbers[~np.isnan(numbers)]
                inputs.append(
                    NumericInput(
                        name=name,
                        median=float(np.median(present)) if present.size else 0.0,
                        edges=quantile_edges(numbers, settings.numeric_bins),
                        has_missing=bool(np.isnan(numbers).any()),
                    )
                )
            else:
                inputs.append(fit_categorical(snapshots, name, settings))
        windows = tuple(float(w) for w in settings.windows_days)
        inputs += [ActivityInput(kind, settings.recency_cap_days, windows) for kind in kinds]
        inputs += _derived_inputs(snapshots, set(exclude), settings, dropped)
        return cls(tuple(inputs), dropped)

    # --- shape ---

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def columns(self) -> list[str]:
        return [c for i in self.inputs for c in i.columns()]

    @property
    def column_input(self) -> NDArray[np.int64]:
        """For each column, the index of the input it belongs to (to sum contributions)."""
        return np.repeat(np.arange(len(self.inputs)), [len(i.columns()) for i in self.inputs])

    def input_kind(self, index: int) -> Literal["fit", "engagement"]:
        return "engagement" if isinstance(self.inputs[index], _ENGAGEMENT) else "fit"

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        if not self.inputs:
            return np.zeros((len(snapshots), 0), dtype=np.float64)
        return np.hstack([i.transform(snapshots) for i in self.inputs])

    def describe(self, index: int, snapshot: Snapshot) -> str:
        """``Lead source: Google``, ``Visits: 5``, ``Email open: x3, last 2d ago``."""
        item = self.inputs[index]
        return f"{humanise(item.name)}: {item.describe(snapshot)}"

    # --- JSON ---

    def to_dict(self) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        for i in self.inputs:
            if isinstance(i, NumericInput):
                items.append({"type": "numeric", "name": i.name, "median": i.median, "edges": list(i.edges), "has_missing": i.has_missing})
            elif isinstance(i, CategoricalInput):
                items.append(
                    {"type": "categorical", "name": i.name, "keys": list(i.keys), "labels": list(i.labels),
                     "has_other": i.has_other, "has_missing": i.has_missing}
                )
            elif isinstance(i, ActivityInput):
                item: dict[str, Any] = {"type": "activity", "kind": i.kind, "recency_cap_days": i.recency_cap_days}
                if i.windows:
                    item["windows"] = list(i.windows)
                items.append(item)
            elif isinstance(i, RuleInput):
                items.append({"type": "rule", "rule": i.rule.model_dump(), "windows": list(i.windows)})
            elif isinstance(i, LeadAgeInput):
                items.append({"type": "lead_age", "median": i.median, "edges": list(i.edges), "has_missing": i.has_missing})
            elif isinstance(i, EmailDomainInput):
                items.append({"type": "email_domain", "free_domains": list(i.free_domains), "has_missing": i.has_missing})
            else:
                items.append({"type": "deals"})
        return {"inputs": items, "dropped": dict(sorted(self.dropped.items()))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Rebuild from :meth:`to_dict` output; raises ``ValueError``/``KeyError``/``TypeError``
        on anything malformed (the artifact loader turns those into one clear error)."""
        inputs: list[Input] = []
        for item in data["inputs"]:
            kind = item["type"]
            if kind == "numeric":
                edges = tuple(float(e) for e in item["edges"])
                if any(b <= a for a, b in zip(edges, edges[1:])):
                    raise ValueError(f"bin edges of {item['name']!r} do not ascend")
                inputs.append(NumericInput(_str(item["name"]), float(item["median"]), edges, bool(item["has_missing"])))
            elif kind == "categorical":
                keys = tuple(_str(k) for k in item["keys"])
                labels = tuple(_str(k) for k in item["labels"])
                if len(keys) != len(labels):
                    raise ValueError(f"keys and labels of {item['name']!r} differ in length")
                inputs.append(CategoricalInput(_str(item["name"]), keys, labels, bool(item["has_other"]), bool(item["has_missing"])))
            elif kind == "activity":
                windows = _windows(item.get("windows", []))
                inputs.append(ActivityInput(_str(item["kind"]), float(item["recency_cap_days"]), windows))
            elif kind == "rule":
                inputs.append(RuleInput(ActivityRule.model_validate(item["rule"]), _windows(item["windows"])))
            elif kind == "lead_age":
                edges = tuple(float(e) for e in item["edges"])
                if any(b <= a for a, b in zip(edges, edges[1:])):
                    raise ValueError("bin edges of the lead age do not ascend")
                inputs.append(LeadAgeInput(float(item["median"]), edges, bool(item["has_missing"])))
            elif kind == "email_domain":
                inputs.append(EmailDomainInput(tuple(_str(d) for d in item["free_domains"]), bool(item["has_missing"])))
            elif kind == "deals":
                inputs.append(DealInput())
            else:
                raise ValueError(f"unknown input type {kind!r}")
        dropped = {_str(k): _str(v) for k, v in dict(data.get("dropped", {})).items()}
        return cls(tuple(inputs), dropped)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _windows(values: Any) -> tuple[float, ...]:
    windows = tuple(float(w) for w in values)
    if any(not (w > 0 and math.isfinite(w)) for w in windows) or any(b <= a for a, b in zip(windows, windows[1:])):
        raise ValueError("activity windows must be positive and ascend")
    return windows


def _derived_inputs(snapshots: Sequence[Snapshot], excluded: set[str], settings: FeatureSettings, dropped: dict[str, str]) -> list[Input]:
    """The inputs read from more than one field or activity - activity rules, lead age, email
    domain, deals - each when it is wanted, not excluded, and has something to learn from."""
    inputs: list[Input] = []
    windows = tuple(float(w) for w in settings.windows_days)
    for rule in settings.activity_rules:
        item = RuleInput(rule, windows)
        if item.name in excluded:
            continue
        if not any(rule_ages(rule, s) for s in snapshots):
            dropped[item.name] = "matched no activity"
            continue
        inputs.append(item)
    if settings.lead_age and LEAD_AGE not in excluded:
        ages = lead_ages(snapshots)
        present = ages[~np.isnan(ages)]
        if np.unique(present).size >= 2:
            edges = quantile_edges(ages, settings.numeric_bins)
            inputs.append(LeadAgeInput(float(np.median(present)), edges, bool(np.isnan(ages).any())))
        elif present.size:
            dropped[LEAD_AGE] = "constant (every snapshot at one age)"
    if settings.email_domain and EMAIL_DOMAIN not in excluded:  # "email" itself is usually dropped as an identifier
        domains = tuple(sorted(set(FREE_EMAIL_DOMAINS) | set(settings.free_email_domains)))
        found = {email_class(s.fields.get("email"), frozenset(domains)) for s in snapshots}
        if len(found) >= 2:
            inputs.append(EmailDomainInput(domains, "missing" in found))
        elif found - {"missing"}:
            dropped[EMAIL_DOMAIN] = "constant"
    if settings.deals and DEALS not in excluded and any(s.deals is not None for s in snapshots):
        if any(s.deals is not None and s.deals.any for s in snapshots):
            inputs.append(DealInput())
        else:
            dropped[DEALS] = "no deal known at any snapshot"
    return inputs


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def fit_categorical(snapshots: Sequence[Snapshot], name: str, settings: FeatureSettings) -> CategoricalInput:
    """Keep values seen at least ``min_level_count`` times (at most ``max_levels``, most frequent
    first); pool the rest as "(other)". Rare values pooled rather than dropped: a one-hot of 200
    values seen twice each is noise a model can memorise."""
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    missing = False
    for text in field_texts(snapshots, name):
        if text is None:
            missing = True
            continue
        key = text.casefold()
        counts[key] += 1
        spelling.setdefault(key, text)
    kept = [k for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= settings.min_level_count]
    kept = kept[: settings.max_levels]
    return CategoricalInput(
        name=name,
        keys=tuple(kept),
        labels=tuple(spelling[k] for k in kept),
        has_other=len(kept) < len(counts),
        has_missing=missing,
    )
