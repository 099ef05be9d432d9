"""Point-in-time training sets: each row is a lead as it looked at a moment it would have been
scored, labelled by whether it converted within a horizon after that moment.

Why not snapshot at the outcome (:func:`~leadscore.agent.predictive.dataset.build_training_set`)?
Because the model is never *used* at the outcome. Snapshotted at its outcome, a converted lead is
caught just before it converted - active yesterday - and a lost lead when sales closed it, after
weeks of silence; at scoring time every new lead was active yesterday. The model learns "recent
activity means converted", which says nothing about leads it scores, and on a synthetic CRM world
scored at a fixed age it ranked worse than chance (issue 14). Rows taken when leads are scored
make training and scoring see the same thing.

The inputs are plain shapes, so neither the state store nor a CSV is needed to build one:

* a lead's history (:class:`HistoryLike`): the lead as last seen (id, object type, creation time),
  its field versions (:class:`FieldVersionLike`: field, value, observed at - ``None`` clears the
  field) and its dated activities. The state store's
  :meth:`~leadscore.agent.state.mirror.Mirror.lead_history` yields exactly that; so does
  :class:`LeadHistory` here;
* outcomes (anything with ``lead_id``, ``converted``, ``occurred_at``) and deals (anything with
  ``kind``, ``occurred_at``, ``amount``: :class:`~leadscore.agent.predictive.features.DealLike`),
  by default the outcomes of kind won, lost or open that came from a deal.

Nothing observed after a row's instant reaches it: :func:`lead_at` applies only field versions
observed strictly before it, :func:`~leadscore.agent.predictive.features.take_snapshot` counts only
activities and deals strictly before it, and outcomes only make the label.

**Before the first observation.** A lead first pulled after it was created has no history from
before that pull: its first observation is taken to hold from its creation ("as first seen").
That is the CRM's limit, not this module's: a field sales filled in (or a visit total the CRM
kept counting) before the agent ever saw the lead still looks as if it was there from the start,
which is what the leakage check is for. The training set's notes count these rows, and
``max_days_before_first_seen`` drops them. Once the agent has watched a lead from its creation,
its rows are exact.

**Labels and censoring.** A row at ``t`` is converted when the lead's first conversion falls in
``[t, t + horizon]``, not converted when it did not and ``t + horizon`` is at or before the as-of.
A row whose horizon has not elapsed is no example *whichever way it went*: keeping the early
converters of the last ``horizon`` days (and only them) would make the most recent rows almost all
converted, which time-ordered validation and calibration would both read as a trend. A lead that
had already converted before ``t`` is no example at ``t`` either (nothing left to predict).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, NamedTuple, Protocol, Sequence

import numpy as np

from leadscore.agent.core.records import Activity, Lead, utc
from leadscore.agent.predictive.config import PointInTimeSettings
from leadscore.agent.predictive.dataset import OutcomeLike, TrainingSet
from leadscore.agent.predictive.features import DEAL_KINDS, DealLike, Snapshot, take_snapshot

# --- what a lead looked like over time -------------------------------------------------------


class FieldVersionLike(Protocol):
    """One value of one field from ``observed_at`` on (``value`` None: cleared)."""

    @property
    def field(self) -> str: ...
    @property
    def value(self) -> Any: ...
    @property
    def observed_at(self) -> datetime: ...


class HistoryLike(Protocol):
    """A lead over time: the lead as last seen, its field versions, its activities."""

    @property
    def lead(self) -> Lead: ...
    @property
    def versions(self) -> Sequence[FieldVersionLike]: ...
    @property
    def activities(self) -> Sequence[Activity]: ...


class FieldVersion(NamedTuple):
    field: str
    value: Any
    observed_at: datetime


@dataclass(frozen=True)
class LeadHistory:
    """A lead's history built by hand (tests, imports without a store)."""

    lead: Lead
    versions: tuple[FieldVersion, ...] = ()
    activities: tuple[Activity, ...] = ()

    @classmethod
    def unchanged(cls, lead: Lead, activities: Iterable[Activity] = (), observed_at: datetime | None = None) -> LeadHistory:
        """A lead whose fields held their values from ``observed_at`` (its creation by default) on."""
        when = observed_at or lead.created_at
        if when is None:
            raise ValueError(f"lead {lead.id}: give observed_at, it has no created_at")
        versions = tuple(FieldVersion(name, value, utc(when)) for name, value in sorted(lead.fields.items()))
        return cls(lead, versions, tuple(activities))


def lead_at(history: HistoryLike, at: datetime) -> Lead:
    """The lead as it was at ``at``: each field's latest version observed strictly before ``at``.

    Before the lead's first observation, the first observation's values (see the module's
    docstring). A history without versions is its lead as last seen (nothing better is known).
    """
    lead = history.lead
    versions = sorted(history.versions, key=lambda v: utc(v.observed_at))
    if not versions:
        return lead
    limit = utc(at)
    first = utc(versions[0].observed_at)
    fields: dict[str, Any] = {}
    seen: datetime | None = None
    for version in versions:
        when = utc(version.observed_at)
        if when >= limit and when > first:
            break
        if version.value is None:
            fields.pop(version.field, None)
        else:
            fields[version.field] = version.value
        seen = when
    return Lead(id=lead.id, object_type=lead.object_type, fields=fields, created_at=lead.created_at, updated_at=seen)


# --- the builder ---------------------------------------------------------------------------


def is_deal(record: Any) -> bool:
    """Whether an outcome-like record is a deal's (kind won, lost or open, and not marked as the
    lead's own by ``source_id = None``)."""
    kind = getattr(record, "kind", None)
    text = str(getattr(kind, "value", kind)).casefold()
    return text in DEAL_KINDS and getattr(record, "source_id", "") is not None


def build_point_in_time_set(
    histories: Iterable[HistoryLike],
    outcomes: Iterable[OutcomeLike],
    as_of: datetime,
    settings: PointInTimeSettings | None = None,
    *,
    deals: Iterable[DealLike] | None = None,
    scoring_times: Mapping[str, Sequence[datetime]] | None = None,
    gap_days: float = 0.0,
    label_field: str | None = None,
    seed: int = 0,
) -> TrainingSet:
    """Rows of leads as they looked when they were (or would have been) scored.

    * ``settings.strategy = "fixed_age"``: one row per lead at ``created_at +
      snapshot_age_days`` (leads without ``created_at`` are skipped, with a note).
    * ``"scoring_times"``: ``samples_per_lead`` rows per lead (fewer when it has fewer moments),
      drawn without replacement from ``scoring_times[lead_id]`` when given (the times it was
      scored, e.g. from the score history), else from every ``scoring_interval_days`` of its
      life; a seeded draw per lead, so a rebuild gives the same rows. Each lead weighs alike
      whatever its age.

    Labels and censoring as the module's docstring says; ``as_of`` bounds everything (outcomes,
    versions and activities after it are never used). ``deals`` default to the outcomes that
    are a deal's (:func:`is_deal`); with none anywhere, snapshots carry no deal state (None).
    Rows are time-ordered by their instant (``order_at``).
    """
    settings = settings or PointInTimeSettings()
    as_of = utc(as_of)
    horizon = timedelta(days=settings.horizon_days)
    unobserved = None if settings.max_days_before_first_seen is None else timedelta(days=settings.max_days_before_first_seen)
    outcome_list = list(outcomes)
    deal_list = [o for o in outcome_list if is_deal(o)] if deals is None else list(deals)
    deals_by_lead: dict[str, list[DealLike]] = defaultdict(list)
    for deal in deal_list:
        deals_by_lead[str(getattr(deal, "lead_id", ""))].append(deal)

    notes: Counter[str] = Counter()
    conversions: dict[str, datetime | None] = {}
    for outcome in outcome_list:
        if not outcome.converted:
            continue
        if outcome.occurred_at is None:
            conversions.setdefault(outcome.lead_id, None)
            continue
        when = utc(outcome.occurred_at)
        if when > as_of:
            notes["conversions after the as-of (ignored)"] += 1
            continue
        held = conversions.get(outcome.lead_id)
        if held is None or when < held:  # the earliest conversion; a known time beats an unknown one
            conversions[outcome.lead_id] = when

    ids: list[str] = []
    snapshots: list[Snapshot] = []
    labels: list[int] = []
    times: list[float] = []
    seen: set[str] = set()
    for history in histories:
        lead = history.lead
        if lead.id in seen:
            continue
        seen.add(lead.id)
        if lead.id in conversions and conversions[lead.id] is None:
            notes["leads with a conversion of unknown time (skipped)"] += 1
            continue
        converted_at = conversions.get(lead.id)
        first_seen = min((utc(v.observed_at) for v in history.versions), default=None)
        moments = _moments(history, settings, as_of, converted_at, scoring_times, seed, notes)
        for at in moments:
            if converted_at is not None and converted_at < at:
                notes["leads converted before their snapshot (not examples)"] += 1
                continue
            if at + horizon > as_of:
                notes["rows whose horizon had not elapsed by the as-of (censored)"] += 1
                continue
            if first_seen is not None and at < first_seen:
                if unobserved is not None and first_seen - at > unobserved:
                    notes["rows taken too long before their lead was first seen (not examples)"] += 1
                    continue
                notes["rows taken before their lead was first seen (fields as first seen)"] += 1
            lead_deals = deals_by_lead.get(lead.id, []) if deal_list else None
            ids.append(lead.id)
            snapshots.append(take_snapshot(lead_at(history, at), history.activities, at, gap_days, deals=lead_deals))
            labels.append(1 if converted_at is not None and converted_at <= at + horizon else 0)
            times.append(at.timestamp())
    unknown = len(set(conversions) - seen)
    if unknown:
        notes["conversions of unknown leads (ignored)"] += unknown
    return TrainingSet(
        lead_ids=tuple(ids),
        snapshots=tuple(snapshots),
        y=np.array(labels, dtype=np.int8),
        order_at=np.array(times, dtype=np.float64) if ids else None,
        always_excluded=frozenset({label_field} if label_field else ()),
        notes=tuple(f"{count} {what}" for what, count in sorted(notes.items())),
    )


def _moments(
    history: HistoryLike,
    settings: PointInTimeSettings,
    as_of: datetime,
    converted_at: datetime | None,
    scoring_times: Mapping[str, Sequence[datetime]] | None,
    seed: int,
    notes: Counter[str],
) -> list[datetime]:
    """The instants a lead is snapshotted at (before the censoring and converted-already checks)."""
    lead = history.lead
    created = utc(lead.created_at) if lead.created_at is not None else None
    if settings.strategy == "fixed_age":
        if created is None:
            notes["leads without a creation time (skipped)"] += 1
            return []
        return [created + timedelta(days=settings.snapshot_age_days)]
    rng = random.Random(f"{seed}:{lead.id}")
    k = settings.samples_per_lead
    end = as_of - timedelta(days=settings.horizon_days)  # the last instant whose horizon has elapsed
    if converted_at is not None:
        end = min(end, converted_at)
    if scoring_times is not None and lead.id in scoring_times:
        eligible = sorted({utc(t) for t in scoring_times[lead.id] if (created is None or utc(t) >= created) and utc(t) <= end})
        return sorted(eligible if len(eligible) <= k else rng.sample(eligible, k))
    if created is None:
        notes["leads without a creation time (skipped)"] += 1
        return []
    step = timedelta(days=settings.scoring_interval_days)
    slots = int((end - created) / step) if end > created else 0  # moments created + i*step, i = 1..slots
    chosen = range(1, slots + 1) if slots <= k else rng.sample(range(1, slots + 1), k)
    return sorted(created + i * step for i in chosen)
