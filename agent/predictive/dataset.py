"""Labelled training data: leads, their activities and their outcomes, snapshotted without leakage.

The trainer sees the same shapes as the rules engine (:class:`~leadscore.agent.core.records.Lead`,
:class:`~leadscore.agent.core.records.Activity`) plus outcomes (anything shaped like
:class:`leadscore.agent.core.records.Outcome`: ``lead_id``, ``converted``, ``occurred_at``), so a CRM mirror
and a CSV export reach it by one path. :func:`load_csv_dataset` is the CSV adapter: a
:class:`ColumnMapping` says which column is the id, which the outcome, and which leadscore field
each other column becomes.

:func:`build_training_set` pairs each lead with its outcome and takes the lead's snapshot at the
outcome's time (converted leads: when they converted; others: when they were lost, or the as-of
if they are still open), so activities that happened after the outcome never count.

Known bias, documented rather than hidden: open leads are snapshotted later than converted ones,
so they have had longer to gather activities and their newest activity looks older. Recency and
count features carry some of that; the leakage check flags it when it becomes near-perfect, and
giving lost leads an ``occurred_at`` (the date they were closed) removes it. The lead's age is
never an input here: at its outcome, a lead's age is how long its outcome took, part of the label.

That is the CSV import path. A model is used on leads *when they are scored*, not at their
outcome, and learns best from rows taken then: with the mirror's history, build the training set
with :func:`~leadscore.agent.predictive.pointintime.build_point_in_time_set` instead (issue 14: on
a world where conversion follows recent activity, outcome-time rows ranked leads scored at a fixed
age no better than chance).
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable, Literal, Mapping, Protocol, Sequence

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.csvfiles import parse_timestamp
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.predictive.features import LEAD_AGE, Snapshot, take_snapshot
from leadscore.agent.core.records import CANONICAL_FIELDS, CUSTOM_PREFIX, Activity, Lead, ObjectType, Outcome, group_by_lead, utc

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class OutcomeLike(Protocol):
    """What the trainer needs of an outcome; :class:`leadscore.agent.core.records.Outcome` is one."""

    @property
    def lead_id(self) -> str: ...
    @property
    def converted(self) -> bool: ...
    @property
    def occurred_at(self) -> datetime | None: ...


# --- the training set ----------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingSet:
    """Snapshots and 0/1 labels, aligned; ``order_at`` (epoch seconds) when every example has a
    time, which switches validation from stratified folds to time-ordered ones."""

    lead_ids: tuple[str, ...]
    snapshots: tuple[Snapshot, ...]
    y: NDArray[np.int8]
    order_at: NDArray[np.float64] | None = None
    #: Fields that must never be features whatever the admin says (the label's own column).
    always_excluded: frozenset[str] = frozenset()
    #: Problems met while building it, one line each with a count.
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (len(self.lead_ids) == len(self.snapshots) == len(self.y)):
            raise ValueError("lead_ids, snapshots and y differ in length")
        if self.order_at is not None and len(self.order_at) != len(self.y):
            raise ValueError("order_at differs in length from y")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def positives(self) -> int:
        return int(self.y.sum())

    @property
    def negatives(self) -> int:
        return int(len(self.y) - self.y.sum())

    def subset(self, index: Sequence[int] | NDArray[np.int64]) -> TrainingSet:
        idx = np.asarray(index, dtype=np.int64)
        return TrainingSet(
            lead_ids=tuple(self.lead_ids[i] for i in idx),
            snapshots=tuple(self.snapshots[i] for i in idx),
            y=self.y[idx],
            order_at=None if self.order_at is None else self.order_at[idx],
            always_excluded=self.always_excluded,
            notes=self.notes,
        )


def build_training_set(
    leads: Iterable[Lead],
    activities: Mapping[str, Sequence[Activity]] | Iterable[Activity],
    outcomes: Iterable[OutcomeLike],
    as_of: datetime,
    *,
    gap_days: float = 0.0,
    label_field: str | None = None,
) -> TrainingSet:
    """Pair leads with outcomes and snapshot each at its outcome's time.

    * A lead with several outcomes counts once: converted if any outcome says so (at the
      earliest conversion), otherwise not converted (at the latest loss).
    * Leads without an outcome are not examples (unlabelled is not "lost").
    * ``label_field`` names a lead field the label came from (see :func:`outcomes_from_field`);
      it can never be a feature; nor can the lead's age (at its outcome: the outcome's timing).
    * Examples are time-ordered by outcome time when every outcome has one, else by lead
      creation time when every lead has one; otherwise validation is stratified.
    """
    as_of = utc(as_of)
    by_lead = group_by_lead(activities)
    merged: dict[str, tuple[bool, datetime | None]] = {}
    for outcome in outcomes:
        candidate = (bool(outcome.converted), utc(outcome.occurred_at) if outcome.occurred_at is not None else None)
        previous = merged.get(outcome.lead_id)
        merged[outcome.lead_id] = candidate if previous is None else _merge_outcomes(previous, candidate)

    ids: list[str] = []
    snapshots: list[Snapshot] = []
    labels: list[int] = []
    outcome_times: list[float | None] = []
    created: list[float | None] = []
    converted_without_time = 0
    future = 0
    seen: set[str] = set()
    for lead in leads:
        if lead.id in seen or lead.id not in merged:
            continue
        seen.add(lead.id)
        converted, when = merged[lead.id]
        if when is not None and when > as_of:
            future += 1
            continue
        if converted and when is None:
            converted_without_time += 1
        at = when if when is not None else as_of
        ids.append(lead.id)
        snapshots.append(take_snapshot(lead, by_lead.get(lead.id, ()), at, gap_days))
        labels.append(1 if converted else 0)
        outcome_times.append(when.timestamp() if when is not None else None)
        created.append(utc(lead.created_at).timestamp() if lead.created_at is not None else None)
    unknown = len(set(merged) - seen)

    notes = []
    if unknown:
        notes.append(f"{unknown} outcomes of unknown leads (ignored)")
    if future:
        notes.append(f"{future} outcomes after the as-of (ignored)")
    if converted_without_time and any(by_lead.values()):
        notes.append(
            f"{converted_without_time} conversions without occurred_at: their activities are taken up to the as-of, "
            "which can leak the outcome into activity features"
        )
    order: NDArray[np.float64] | None = None
    if ids and all(t is not None for t in outcome_times):
        order = np.array(outcome_times, dtype=np.float64)
    elif ids and all(t is not None for t in created):
        order = np.array(created, dtype=np.float64)
    return TrainingSet(
        lead_ids=tuple(ids),
        snapshots=tuple(snapshots),
        y=np.array(labels, dtype=np.int8),
        order_at=order,
        always_excluded=frozenset({LEAD_AGE} | ({label_field} if label_field else set())),
        notes=tuple(notes),
    )


def _merge_outcomes(a: tuple[bool, datetime | None], b: tuple[bool, datetime | None]) -> tuple[bool, datetime | None]:
    """A conversion beats a loss; the earliest conversion and the latest loss win; a known time
    beats an unknown one."""
    if a[0] != b[0]:
        return a if a[0] else b
    if a[1] is None or b[1] is None:
        return a if b[1] is None else b
    if a[0]:
        return a if a[1] <= b[1] else b
    return a if a[1] >= b[1] else b


_POSITIVE = frozenset({"1", "true", "yes", "y", "won", "converted", "closed won", "t"})


@dataclass(frozen=True, slots=True)
class _FieldOutcome:
    lead_id: str
    converted: bool
    occurred_at: datetime | None = None


def outcomes_from_field(
    leads: Iterable[Lead],
    label_field: str,
    *,
    time_field: str | None = None,
    positive_values: Iterable[str] = _POSITIVE,
) -> list[_FieldOutcome]:
    """Outcomes from a lead field (a CSV column such as ``custom.converted``). Leads with the
    field blank are unlabelled. Pass the same ``label_field`` to :func:`build_training_set` so
    it can never become a feature."""
    positives = {v.casefold() for v in positive_values}
    out = []
    for lead in leads:
        raw = lead.fields.get(label_field)
        if raw is None or str(raw).strip() == "":
            continue
        when = parse_timestamp(str(lead.fields.get(time_field) or "")) if time_field else None
        out.append(_FieldOutcome(lead.id, str(raw).strip().casefold() in positives, when))
    return out


def read_outcomes_csv(path: str | Path, positive_values: Iterable[str] = _POSITIVE) -> list[Outcome]:
    """Outcomes from a CSV with ``lead_id,converted`` and optionally ``occurred_at`` and
    ``object_type`` (what a CRM export of won/lost records looks like). Rows without a lead id or
    a converted value are skipped."""
    path = Path(path)
    positives = {v.casefold() for v in positive_values}
    out: list[Outcome] = []
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        absent = [c for c in ("lead_id", "converted") if c not in columns]
        if absent:
            raise ConfigError(f"{path}: missing column(s) {', '.join(absent)} (found: {', '.join(columns) or 'none'})")
        for row in reader:
            lead_id = (row.get("lead_id") or "").strip()
            value = (row.get("converted") or "").strip()
            if not lead_id or not value:
                continue
            kind = (row.get("object_type") or "lead").strip().lower()
            out.append(
                Outcome(
                    lead_id,
                    "contact" if kind == "contact" else "lead",
                    value.casefold() in positives,
                    parse_timestamp(row.get("occurred_at")),
                )
            )
    return out


# --- CSV datasets --------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMapping:
    """How a CSV export maps onto leadscore's vocabulary.

    ``fields`` maps a column to a canonical field (``lead_source``) or ``custom.<name>``;
    unmapped columns become ``custom.<snake_case column>`` (``unmapped="custom"``) or are
    dropped. ``missing_values`` are read as blank (``Select`` is a form placeholder in many
    exports), compared ignoring case.
    """

    label: str
    id: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()
    unmapped: Literal["custom", "drop"] = "custom"
    created_at: str | None = None
    outcome_at: str | None = None
    missing_values: frozenset[str] = frozenset({""})
    positive_values: frozenset[str] = _POSITIVE
    object_type: ObjectType = "lead"

    def field_for(self, column: str) -> str | None:
        if column in self.fields:
            return self.fields[column]
        if column in self.ignore or self.unmapped == "drop":
            return None
        return CUSTOM_PREFIX + snake_case(column)


def snake_case(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.strip().casefold()).strip("_") or "column"


@dataclass(frozen=True)
class LabeledLeads:
    """What a dataset loader returns: the same three things a CRM mirror would give."""

    leads: list[Lead]
    activities: dict[str, list[Activity]]
    outcomes: list[Outcome]
    #: The leadscore field each source column became (for messages and reports).
    field_of_column: dict[str, str]


def load_csv_dataset(path: str | Path, mapping: ColumnMapping) -> LabeledLeads:
    """Read a labelled CSV export. Rows without a usable label are skipped, not guessed."""
    path = Path(path)
    missing_tokens = {v.casefold() for v in mapping.missing_values}
    positives = {v.casefold() for v in mapping.positive_values}
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        needed = [c for c in (mapping.label, mapping.id, mapping.created_at, mapping.outcome_at) if c]
        absent = [c for c in needed + list(mapping.fields) if c not in columns]
        if absent:
            raise ConfigError(f"{path}: missing column(s) {', '.join(absent)}")
        special = {c for c in needed}
        targets = {c: name for c in columns if c not in special and (name := mapping.field_for(c)) is not None}
        bad = sorted(name for name in targets.values() if not (name in CANONICAL_FIELDS or name.startswith(CUSTOM_PREFIX)))
        if bad:
            raise ConfigError(f"column mapping: unknown lead field(s) {', '.join(bad)} (use a canonical field or custom.<name>)")
        leads: list[Lead] = []
        outcomes: list[Outcome] = []
        for line, row in enumerate(reader, start=2):
            label = (row.get(mapping.label) or "").strip()
            if not label or label.casefold() in missing_tokens:
                continue
            lead_id = (row.get(mapping.id) or "").strip() if mapping.id else str(line)
            if not lead_id:
                continue
            values = {}
            for column, name in targets.items():
                raw = (row.get(column) or "").strip()
                if raw.casefold() not in missing_tokens:
                    values[name] = raw
            created = parse_timestamp(row.get(mapping.created_at)) if mapping.created_at else None
            leads.append(Lead(id=lead_id, object_type=mapping.object_type, fields=values, created_at=created))
            when = parse_timestamp(row.get(mapping.outcome_at)) if mapping.outcome_at else None
            outcomes.append(Outcome(lead_id, mapping.object_type, label.casefold() in positives, when))
    return LabeledLeads(leads, {}, outcomes, targets)


# --- the X Education export ----------------------------------------------------------------

#: Columns of the public X Education export (``shared/datasets/x-education/Leads.csv``) mapped
#: onto leadscore fields where a natural one exists; the rest become ``custom.<snake_case>``.
#: ``Last Activity`` has no timestamp, so it is a field (``custom.last_activity``), not an
#: activity: an activity without a time cannot be snapshotted.
X_EDUCATION_MAPPING = ColumnMapping(
    label="Converted",
    id="Prospect ID",
    ignore=frozenset({"Lead Number"}),
    fields={
        "Lead Source": "lead_source",
        "Country": "country",
        "City": "city",
        "TotalVisits": "visits",
        "What is your current occupation": "custom.occupation",
        "Page Views Per Visit": "custom.page_views_per_visit",
        "Total Time Spent on Website": "custom.time_on_site",
        "Last Activity": "custom.last_activity",
        "Lead Origin": "custom.lead_origin",
        "Specialization": "custom.specialization",
    },
    missing_values=frozenset({"", "Select"}),
)

#: Filled in by the sales team during or after contact (the dataset's README): they leak the outcome.
X_EDUCATION_LEAKY_FIELDS: tuple[str, ...] = (
    "custom.tags",
    "custom.lead_quality",
    "custom.lead_profile",
    "custom.last_notable_activity",
    "custom.asymmetrique_activity_index",
    "custom.asymmetrique_profile_index",
    "custom.asymmetrique_activity_score",
    "custom.asymmetrique_profile_score",
)
