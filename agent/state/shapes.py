"""The frozen values that cross the state store's seam.

The pipeline, scheduler and CLI only ever see these, never rows or sessions, so the store can
change its tables (through a migration) without touching them, and a value handed out cannot be
changed behind the store's back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Mapping

from agent.records import Activity, Lead, ObjectType, ScoreResult
from connectors.base import ScoreUpdate, WriteStatus

#: Written values that change on every scoring without the record changing (``scored_at`` is the
#: instant of scoring). They never make a change on their own, but go along with one, so the CRM
#: shows when the value it carries was computed.
VOLATILE_VALUES: frozenset[str] = frozenset({"scored_at"})

RunKind = Literal["sync", "backfill", "rescore", "reconcile"]
RunStatus = Literal["running", "ok", "partial", "failed", "interrupted"]


class UnstorableValue(TypeError):
    """A value the store cannot keep as JSON (a connector handed over an object, not data)."""


def json_default(value: Any) -> Any:
    """JSON for the few non-JSON values that reach the store: datetimes as ISO-8601 UTC (so a
    value compares equal before and after a round trip), sets sorted, decimals as numbers."""
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return moment.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    raise UnstorableValue(f"a value of type {type(value).__name__} cannot be stored as JSON")


def canonical_json(value: Any) -> str:
    """One text per value: key order, tuples versus lists and datetimes versus their ISO text make
    no difference. The diff compares these, and activity keys hash them."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=json_default, ensure_ascii=False)


def plain_json(value: Any) -> Any:
    """``value`` as it reads back from a JSON column (datetimes become ISO text, tuples lists)."""
    return json.loads(canonical_json(value))


@dataclass(frozen=True, slots=True)
class RecordKey:
    """One CRM record within a connector."""

    object_type: ObjectType
    record_id: str


@dataclass(frozen=True, slots=True)
class Desired:
    """What one record should carry now: every value the connector is configured to write, and
    the score behind them (for the history, which keeps score and stage even when only the reason
    is written)."""

    object_type: ObjectType
    record_id: str
    values: Mapping[str, Any]
    score: int
    stage: str
    model_version: str
    reason: str | None = None

    @property
    def key(self) -> RecordKey:
        return RecordKey(self.object_type, self.record_id)

    @classmethod
    def from_result(
        cls, result: ScoreResult, object_type: ObjectType, values: Mapping[str, Any], reason: str | None = None
    ) -> Desired:
        """The desired state of ``result``'s record; ``values`` are the configured write values
        (the pipeline maps the result onto the connector's write map)."""
        return cls(
            object_type=object_type,
            record_id=result.lead_id,
            values=dict(values),
            score=result.score,
            stage=result.stage,
            model_version=result.model_version,
            reason=reason if reason is not None else result.reason(),
        )


@dataclass(frozen=True, slots=True)
class Change:
    """A record whose written values differ from what it last carried: ``update`` holds only the
    values to send (the changed ones plus any volatile ones), ``desired`` the whole state to
    remember once the write succeeds."""

    desired: Desired
    update: ScoreUpdate
    #: The values last written (None: never written).
    previous: Mapping[str, Any] | None = None

    @property
    def key(self) -> RecordKey:
        return self.desired.key


@dataclass(frozen=True, slots=True)
class Written:
    """What was last written to a record: the diff's reference."""

    key: RecordKey
    values: Mapping[str, Any]
    model_version: str | None
    written_at: datetime
    #: The record the values actually landed on, when the connector redirected the write (a
    #: Salesforce Lead converted before the write lands on its Contact).
    written_to: str | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A write that failed and awaits a retry (``retryable``) or a change (``permanent``)."""

    desired: Desired
    #: The values the failed write sent.
    values: Mapping[str, Any]
    status: WriteStatus
    error_code: str | None
    message: str | None
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime

    @property
    def key(self) -> RecordKey:
        return self.desired.key

    @property
    def change(self) -> Change:
        """The change to send again: every desired value, since what the CRM shows after a
        failure is not known (a timed-out write may have landed)."""
        return Change(self.desired, ScoreUpdate(self.desired.record_id, self.desired.object_type, self.desired.values))


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of a record's written score, for ``history`` and trend reports."""

    at: datetime
    score: int
    stage: str
    model_version: str
    reason: str | None
    written_to: str | None = None


@dataclass(frozen=True, slots=True)
class MirroredLead:
    """A mirrored lead with its activities, oldest first: what a rescore feeds the engine."""

    lead: Lead
    activities: tuple[Activity, ...]


@dataclass(frozen=True, slots=True)
class CursorState:
    value: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Backfill:
    """A bounded window pulled once, resumable from ``position``; never the live cursor."""

    id: str
    connector: str
    object_type: ObjectType
    since: datetime | None
    until: datetime | None
    #: The connector's cursor value after the last committed batch (None: not started).
    position: str | None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.finished_at is not None


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    connector: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None
    backfill_id: str | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lock: ``owner`` runs ``job`` for ``connector`` until ``expires_at`` unless renewed."""

    connector: str
    job: str
    owner: str
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one committed unit of work did, for the run's counts."""

    mirrored: int = 0
    activities: int = 0
    deleted: int = 0
    written: int = 0
    retryable: int = 0
    permanent: int = 0
    history: int = 0
    #: Records whose values were already recorded (a retried batch, a duplicate change).
    unchanged: int = 0
    #: Leads the batch held older data for than the mirror (a backfill behind the live sync).
    stale: int = 0

    def as_counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """Everything ``leadscore status`` shows for one connector, read in one transaction."""

    connector: str
    cursors: Mapping[str, CursorState]
    backfills: tuple[Backfill, ...]
    last_runs: Mapping[str, Run]
    failures: Mapping[str, int]
    mirrored_leads: Mapping[str, int]
    mirrored_activities: Mapping[str, int]
    written: Mapping[str, int]
    locks: tuple[Lease, ...]
    api_calls_today: Mapping[str, int]
