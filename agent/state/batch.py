"""What one committed unit of work does: mirror a pulled batch, record its writes, move its cursor.

These run inside a transaction the store opened, so a batch's mirror rows, its recorded writes and
its cursor become durable together or not at all: a crash before the commit leaves the old cursor,
and the next run pulls and writes the same batch again (at-least-once), which the diff and the
idempotent upserts make harmless.

Every statement is a bulk one: a 1,000-record batch is a handful of ``INSERT ... ON CONFLICT``
executemany calls and ``IN`` lists of at most :data:`IN_CHUNK` ids, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from agent.records import Activity, Lead, utc
from agent.state.engine import translated
from agent.state.errors import StateError
from agent.state.schema import (
    api_usage,
    backfills,
    cursors,
    last_written,
    mirror_activities,
    mirror_leads,
    score_history,
    write_failures,
)
from agent.state.shapes import VOLATILE_VALUES, BatchOutcome, Change, RecordKey, canonical_json
from connectors.base import WriteResult, WriteStatus

#: Ids per ``IN`` list: far inside SQLite's variable limit and PostgreSQL's comfortable plan size.
IN_CHUNK = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's ``INSERT`` with ``ON CONFLICT`` (SQLite and PostgreSQL share its API)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def stable_values(values: Mapping[str, Any]) -> str:
    """The values that make a change, in canonical form: all but the volatile ones."""
    return canonical_json({k: v for k, v in values.items() if k not in VOLATILE_VALUES})


def activity_key(activity: Activity) -> str:
    """The natural key of an activity (type, instant, properties): an event pulled twice, by an
    overlapping window or a retried batch, is stored once. Two identical events at the same
    microsecond are one event."""
    text = canonical_json([activity.type, utc(activity.occurred_at), activity.properties])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def by_object_type(keys: Iterable[RecordKey]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        grouped[key.object_type].append(key.record_id)
    return grouped


def load_written(conn: Connection, connector: str, keys: Iterable[RecordKey]) -> dict[RecordKey, sa.Row[Any]]:
    """Last-written rows for ``keys``, by primary key, one ``IN`` query per 500 ids."""
    found: dict[RecordKey, sa.Row[Any]] = {}
    t = last_written
    for object_type, ids in by_object_type(keys).items():
        for part in chunks(ids):
            rows = conn.execute(
                sa.select(t).where(t.c.connector == connector, t.c.object_type == object_type, t.c.record_id.in_(part))
            )
            for row in rows:
                found[RecordKey(row.object_type, row.record_id)] = row
    return found


def load_failures(
    conn: Connection, connector: str, keys: Iterable[RecordKey]
) -> dict[RecordKey, tuple[WriteStatus, str]]:
    """The failed writes among ``keys``: status, and desired values as :func:`stable_values` gives."""
    found: dict[RecordKey, tuple[WriteStatus, str]] = {}
    t = write_failures
    for object_type, ids in by_object_type(keys).items():
        for part in chunks(ids):
            rows = conn.execute(
                sa.select(t.c.object_type, t.c.record_id, t.c.status, t.c.desired_values).where(
                    t.c.connector == connector, t.c.object_type == object_type, t.c.record_id.in_(part)
                )
            )
            for row in rows:
                key = RecordKey(row.object_type, row.record_id)
                found[key] = (WriteStatus(row.status), stable_values(row.desired_values))
    return found


class BatchTx:
    """One unit of work, open inside ``with store.batch(...) as tx``: everything done through it
    commits together when the block ends, or not at all if it raises.

    Keep CRM calls out of the block: it holds a database transaction (on SQLite, the write lock).
    The pipeline pulls, scores, diffs and writes first, then records it all here in one go.
    """

    def __init__(
        self,
        conn: Connection,
        where: str,
        now: Callable[[], datetime],
        connector: str,
        object_type: str,
        backfill_id: str | None,
    ) -> None:
        self._conn = conn
        self._where = where
        self._now = now
        self.connector = connector
        self.object_type = object_type
        self.backfill_id = backfill_id
        self.outcome = BatchOutcome()
        self._open = True
        #: Set when a step failed: the transaction is then unusable (PostgreSQL aborts it), and
        #: committing it must not pretend the batch was recorded.
        self.failed = False

    def close(self) -> None:
        self._open = False

    @contextmanager
    def _step(self, action: str) -> Iterator[None]:
        if not self._open:
            raise RuntimeError("this batch is already committed or rolled back")
        if self.failed:
            raise StateError(f"state store {self._where}: cannot {action}: an earlier step of this batch failed")
        try:
            with translated(self._where, action):
                yield
        except BaseException:
            self.failed = True
            raise

    # --- the mirror ------------------------------------------------------------------------

    def mirror(
        self, leads: Sequence[Lead], activities: Sequence[Activity] = (), deleted_ids: Sequence[str] = ()
    ) -> None:
        """Upsert ``leads`` into the mirror and make ``activities`` theirs; remove ``deleted_ids``.

        A lead in the batch gets exactly the batch's activities (connectors read a pulled lead's
        whole engagement), so an activity deleted in the CRM leaves the mirror too; activities of
        leads not in the batch are added to what the mirror has. A lead the mirror holds newer data
        for (``updated_at``) is left alone, so a backfill running behind the live sync never rolls
        the mirror back. Deleted leads lose their mirror rows (a deletion may be an erasure
        request) and their pending failures; their written values and history stay, as a record of
        what leadscore wrote.
        """
        wrong = sorted({lead.object_type for lead in leads} - {self.object_type})
        if wrong:
            raise ValueError(f"a {self.object_type} batch holds {', '.join(wrong)} records")
        with self._step(f"mirror the {self.connector} {self.object_type} batch"):
            mirrored, stale, fresh_ids, stale_ids = self._upsert_leads(leads)
            stored = self._replace_activities(activities, fresh_ids, stale_ids)
            deleted = self._delete(list(dict.fromkeys(deleted_ids)))
        self.outcome = replace(
            self.outcome,
            mirrored=self.outcome.mirrored + mirrored,
            stale=self.outcome.stale + stale,
            activities=self.outcome.activities + stored,
            deleted=self.outcome.deleted + deleted,
        )

    def _upsert_leads(self, leads: Sequence[Lead]) -> tuple[int, int, list[str], set[str]]:
        t = mirror_leads
        latest = {lead.id: lead for lead in leads}  # the last of duplicates wins
        ids = sorted(latest)
        known: dict[str, datetime | None] = {}
        for part in chunks(ids):
            rows = self._conn.execute(
                sa.select(t.c.lead_id, t.c.updated_at).where(
                    t.c.connector == self.connector, t.c.object_type == self.object_type, t.c.lead_id.in_(part)
                )
            )
            known.update((row.lead_id, row.updated_at) for row in rows)
        fresh: list[str] = []
        stale: set[str] = set()
        for lead_id in ids:
            lead = latest[lead_id]
            held = known.get(lead_id)
            if held is not None and lead.updated_at is not None and utc(lead.updated_at) < held:
                stale.add(lead_id)
            else:
                fresh.append(lead_id)
        if fresh:
            now = self._now()
            stmt = upsert(self._conn, t)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.connector, t.c.object_type, t.c.lead_id],
                set_={
                    "fields": stmt.excluded.fields,
                    "created_at": sa.func.coalesce(stmt.excluded.created_at, t.c.created_at),
                    "updated_at": stmt.excluded.updated_at,
                    "mirrored_at": stmt.excluded.mirrored_at,
                },
            )
            self._conn.execute(
                stmt,
                [
                    {
                        "connector": self.connector,
                        "object_type": self.object_type,
                        "lead_id": lead_id,
                        "fields": dict(latest[lead_id].fields),
                        "created_at": latest[lead_id].created_at,
                        "updated_at": latest[lead_id].updated_at,
                        "mirrored_at": now,
                    }
                    for lead_id in fresh
                ],
            )
        return len(fresh), len(stale), fresh, stale

    def _replace_activities(self, activities: Sequence[Activity], fresh_ids: list[str], stale_ids: set[str]) -> int:
        t = mirror_activities
        for part in chunks(fresh_ids):
            self._conn.execute(
                sa.delete(t).where(
                    t.c.connector == self.connector, t.c.object_type == self.object_type, t.c.lead_id.in_(part)
                )
            )
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for activity in activities:
            if activity.lead_id in stale_ids:
                continue
            key = activity_key(activity)
            rows[(activity.lead_id, key)] = {
                "connector": self.connector,
                "object_type": self.object_type,
                "lead_id": activity.lead_id,
                "activity_key": key,
                "type": activity.type,
                "occurred_at": activity.occurred_at,
                "properties": dict(activity.properties),
            }
        if rows:
            stmt = upsert(self._conn, t).on_conflict_do_nothing(
                index_elements=[t.c.connector, t.c.object_type, t.c.lead_id, t.c.activity_key]
            )
            self._conn.execute(stmt, [rows[k] for k in sorted(rows)])
        return len(rows)

    def _delete(self, ids: list[str]) -> int:
        deleted = 0
        for part in chunks(ids):
            for t, column in ((mirror_activities, "lead_id"), (write_failures, "record_id")):
                self._conn.execute(
                    sa.delete(t).where(
                        t.c.connector == self.connector, t.c.object_type == self.object_type, t.c[column].in_(part)
                    )
                )
            t = mirror_leads
            result = self._conn.execute(
                sa.delete(t).where(
                    t.c.connector == self.connector, t.c.object_type == self.object_type, t.c.lead_id.in_(part)
                )
            )
            deleted += result.rowcount
        return deleted

    # --- writes ----------------------------------------------------------------------------

    def record_writes(self, changes: Sequence[Change], results: Sequence[WriteResult]) -> None:
        """Record what the connector did with ``changes``: see :func:`record_writes`."""
        with self._step(f"record the {self.connector} writes"):
            outcome = record_writes(self._conn, self._now(), self.connector, changes, results)
        self.outcome = _add(self.outcome, outcome)

    # --- the cursor and counters -------------------------------------------------------------

    def advance(self, value: str | None) -> None:
        """Move the cursor this batch resumes from (the backfill's own when it is one) to
        ``value``. Durable only with the rest of the batch, at commit."""
        now = self._now()
        with self._step(f"advance the {self.connector} {self.object_type} cursor"):
            if self.backfill_id is not None:
                b = backfills
                self._conn.execute(
                    sa.update(b).where(b.c.id == self.backfill_id).values(position=value, updated_at=now)
                )
                return
            t = cursors
            stmt = upsert(self._conn, t)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.connector, t.c.object_type],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
            )
            self._conn.execute(
                stmt, {"connector": self.connector, "object_type": self.object_type, "value": value, "updated_at": now}
            )

    def add_api_calls(self, counts: Mapping[str, int], day: date | None = None) -> None:
        """Count API calls with the batch that made them: see :func:`add_api_calls`."""
        with self._step(f"count the {self.connector} API calls"):
            add_api_calls(self._conn, self.connector, counts, day or self._now().date())


def _add(a: BatchOutcome, b: BatchOutcome) -> BatchOutcome:
    return BatchOutcome(**{name: getattr(a, name) + getattr(b, name) for name in a.__dataclass_fields__})


def record_writes(
    conn: Connection, now: datetime, connector: str, changes: Sequence[Change], results: Sequence[WriteResult]
) -> BatchOutcome:
    """Record one result per change, in order: a success becomes the record's last written values
    (and a history entry when they differ from what was recorded before) and clears its failure;
    a failure is kept, with one more attempt counted, until a later write succeeds.

    Compares with what is recorded now, inside this transaction, rather than trusting the diff:
    a batch redone after a crash, or a retried failure that a later sync already wrote, then adds
    no second history entry.
    """
    if len(changes) != len(results):
        raise ValueError(f"{len(results)} write results for {len(changes)} changes")
    for change, result in zip(changes, results, strict=True):
        if change.update.record_id != result.record_id:
            raise ValueError(f"write result for {result.record_id} where {change.update.record_id} was expected")
    if not changes:
        return BatchOutcome()
    recorded = load_written(conn, connector, [c.key for c in changes])
    current = {key: stable_values(row.written_values) for key, row in recorded.items()}
    written: dict[RecordKey, dict[str, Any]] = {}
    failed: dict[RecordKey, dict[str, Any]] = {}
    history: list[dict[str, Any]] = []
    redirected: dict[RecordKey, dict[str, Any]] = {}
    counts = {"written": 0, "retryable": 0, "permanent": 0, "history": 0, "unchanged": 0}
    for change, result in zip(changes, results, strict=True):
        key, desired = change.key, change.desired
        base = {"connector": connector, "object_type": key.object_type, "record_id": key.record_id}
        if result.status is WriteStatus.OK:
            counts["written"] += 1
            stable = stable_values(desired.values)
            if current.get(key) == stable:
                counts["unchanged"] += 1
            else:
                counts["history"] += 1
                history.append(
                    base
                    | {
                        "at": now,
                        "score": desired.score,
                        "stage": desired.stage,
                        "model_version": desired.model_version,
                        "reason": desired.reason,
                        "written_to": result.written_to,
                    }
                )
            current[key] = stable
            written[key] = base | {
                "written_values": dict(desired.values),
                "model_version": desired.model_version,
                "written_at": now,
                "written_to": result.written_to,
            }
            if result.written_to and result.written_to_type:
                # The record the values landed on (a converted lead's Contact) carries what was sent
                # to it - the values that changed for the lead, not all of them: the diff then sends
                # it the rest (found by the convergence test: a Contact left without its stage).
                target = RecordKey(result.written_to_type, result.written_to)
                redirected[target] = written[key] | {
                    "object_type": target.object_type,
                    "record_id": target.record_id,
                    "written_values": dict(change.update.values),
                    "written_to": None,
                }
            failed.pop(key, None)
        else:
            counts[result.status.value] += 1
            written.pop(key, None)
            failed[key] = base | {
                "sent_values": dict(change.update.values),
                "desired_values": dict(desired.values),
                "score": desired.score,
                "stage": desired.stage,
                "model_version": desired.model_version,
                "reason": desired.reason,
                "status": result.status.value,
                "error_code": result.error_code,
                "message": result.message,
                "attempts": 1,
                "first_failed_at": now,
                "last_failed_at": now,
            }
    # A record written directly in this batch wins over values that landed on it by redirection.
    written = {k: v for k, v in redirected.items() if k not in written and k not in failed} | written
    # Rows go in key order: two writers on PostgreSQL then lock shared rows in one order.
    if written:
        t = last_written
        stmt = upsert(conn, t)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.connector, t.c.object_type, t.c.record_id],
            set_={
                name: stmt.excluded[name] for name in ("written_values", "model_version", "written_at", "written_to")
            },
        )
        conn.execute(stmt, [written[k] for k in sorted(written, key=_sort_key)])
        f = write_failures
        for object_type, ids in by_object_type(written).items():
            for part in chunks(ids):
                conn.execute(
                    sa.delete(f).where(
                        f.c.connector == connector, f.c.object_type == object_type, f.c.record_id.in_(part)
                    )
                )
    if history:
        conn.execute(sa.insert(score_history), history)
    if failed:
        t = write_failures
        stmt = upsert(conn, t)
        replaced = {name: stmt.excluded[name] for name in _FAILURE_REPLACED}
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.connector, t.c.object_type, t.c.record_id],
            # first_failed_at stays: it says how long the record has been out of date.
            set_=replaced | {"attempts": t.c.attempts + 1},
        )
        conn.execute(stmt, [failed[k] for k in sorted(failed, key=_sort_key)])
    return BatchOutcome(**counts)


_FAILURE_REPLACED = (
    "sent_values",
    "desired_values",
    "score",
    "stage",
    "model_version",
    "reason",
    "status",
    "error_code",
    "message",
    "last_failed_at",
)


def _sort_key(key: RecordKey) -> tuple[str, str]:
    return (key.object_type, key.record_id)


def add_api_calls(conn: Connection, connector: str, counts: Mapping[str, int], day: date) -> None:
    """Add ``counts`` (calls by endpoint family, made since the last count) to ``day``'s totals."""
    rows = [
        {"connector": connector, "day": day, "family": family, "calls": int(calls)}
        for family, calls in sorted(counts.items())
        if calls
    ]
    if not rows:
        return
    t = api_usage
    stmt = upsert(conn, t)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.connector, t.c.day, t.c.family], set_={"calls": t.c.calls + stmt.excluded.calls}
    )
    conn.execute(stmt, rows)
