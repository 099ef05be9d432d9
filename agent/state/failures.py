"""Failed writes: what the CRM refused, kept until a later write of the record lands.

A ``retryable`` failure (a rate limit, a timeout) is written again once its wait is over; a
``permanent`` one (a deleted record, a bad picklist value) waits until the record's values change,
the record is read again from the CRM (edited, restored) or the admin clears it. Kept with the
values sent, the whole desired state, attempts and first/last failure, so ``status`` can say how
long a record has been out of date.

A **deferred** write (:func:`defer_writes`) is kept here too: a change the pipeline scored and
carried past its batch's commit, to be written with the next whole chunk of changes (a CRM call
that takes 100 or 200 records costs the same for 1). The batch's commit moves the cursor past the
record, so the change must outlive the process; it is kept as a ``retryable`` row with the code
:data:`DEFERRED`, which the next sync's retry writes at once (no wait: it never failed). It is
not a failure: :meth:`Failures.failure_counts` leaves it out, :meth:`Failures.waiting_writes`
counts it, and the write that carries it clears it (or keeps its real failure).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from leadscore.agent.core.contract import WriteStatus
from leadscore.agent.core.records import ObjectType, utc
from leadscore.agent.state.base import StoreBase
from leadscore.agent.state.desired import Desired, RecordKey, split_fields
from leadscore.agent.state.schema import write_failures
from leadscore.agent.state.sql import by_object_type, chunks, count_by, sort_key, upsert

#: The ``error_code`` of a deferred write: carried to a later write call, never tried yet.
DEFERRED = "deferred"
#: Its message, for whoever reads the table.
DEFERRED_MESSAGE = "waiting to be written with the next whole chunk of changes"


@dataclass(frozen=True, slots=True)
class Failure:
    """A write that failed and awaits a retry (``retryable``) or a change (``permanent``).
    ``desired.send`` holds the values the failed write sent."""

    desired: Desired
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
    def values(self) -> Mapping[str, Any]:
        """The values the failed write sent."""
        return self.desired.outgoing

    @property
    def resend(self) -> Desired:
        """The write to send again: every desired value, since what the CRM shows after a
        failure is not known (a timed-out write may have landed)."""
        return replace(self.desired, send=None, previous=None)

    @property
    def deferred(self) -> bool:
        """A change waiting to be written (:func:`defer_writes`), not a write that failed."""
        return self.status is WriteStatus.RETRYABLE and self.error_code == DEFERRED


def _not_deferred(f: sa.Table) -> sa.ColumnElement[bool]:
    """Rows that are real failures (``error_code`` may be NULL: ``!=`` alone would drop those)."""
    return sa.or_(f.c.error_code.is_(None), f.c.error_code != DEFERRED)


class Failures(StoreBase):
    """Reading and clearing the kept failures (a batch records them: :func:`keep_failures`)."""

    def pending_failures(
        self,
        connector: str,
        *,
        limit: int = 1000,
        status: WriteStatus = WriteStatus.RETRYABLE,
        failed_before: datetime | None = None,
        after: Failure | None = None,
    ) -> list[Failure]:
        """Failed writes to try again, longest-waiting first. ``failed_before`` spaces retries out
        (only failures last tried before then); deferred writes never wait (they were never
        tried). ``after``: the last failure of the previous page, to read the next one (a pass
        that carries retried writes to a later call leaves their rows where they were)."""
        f = write_failures
        query = (
            sa.select(f)
            .where(f.c.connector == connector, f.c.status == status.value)
            .order_by(f.c.last_failed_at, f.c.object_type, f.c.record_id)
            .limit(limit)
        )
        if failed_before is not None:
            waited = f.c.last_failed_at < utc(failed_before)
            query = query.where(sa.or_(waited, f.c.error_code == DEFERRED) if status is WriteStatus.RETRYABLE else waited)
        if after is not None:
            at = utc(after.last_failed_at)
            key = after.key
            query = query.where(sa.or_(
                f.c.last_failed_at > at,
                sa.and_(f.c.last_failed_at == at, f.c.object_type > key.object_type),
                sa.and_(f.c.last_failed_at == at, f.c.object_type == key.object_type, f.c.record_id > key.record_id),
            ))
        with self._transaction("read failed writes", read=True) as conn:
            return [_failure(row) for row in conn.execute(query)]

    def failure_counts(self, connector: str) -> dict[str, int]:
        """Kept failed writes by status (``retryable``, ``permanent``): one grouped count.
        Deferred writes are not failures and are not counted (:meth:`waiting_writes`)."""
        with self._transaction("count failed writes", read=True) as conn:
            return failure_counts(conn, connector)

    def waiting_writes(self, connector: str) -> int:
        """Deferred writes (:func:`defer_writes`): changes a stopped pass left to the next sync."""
        f = write_failures
        query = sa.select(sa.func.count()).select_from(f).where(f.c.connector == connector, f.c.error_code == DEFERRED)
        with self._transaction("count deferred writes", read=True) as conn:
            return int(conn.execute(query).scalar_one())

    def defer_writes(self, connector: str, writes: Sequence[Desired]) -> None:
        """Keep ``writes`` as deferred, in a transaction of their own (:func:`defer_writes`)."""
        if not writes:
            return
        with self._transaction("keep the deferred writes") as conn:
            defer_writes(conn, self.now(), connector, writes)

    def clear_failures(
        self, connector: str, *, status: WriteStatus | None = None, keys: Iterable[RecordKey] | None = None
    ) -> int:
        """Forget failed writes (all, of one status, or of ``keys``): after the admin fixed what
        made them permanent, the next scoring writes those records again. Deferred writes are
        not failures and stay, unless named by ``keys``: their records' cursors have moved past
        them, so nothing else would write them."""
        with self._transaction("clear failed writes") as conn:
            if keys is None:
                f = write_failures
                query = sa.delete(f).where(f.c.connector == connector, _not_deferred(f))
                if status is not None:
                    query = query.where(f.c.status == status.value)
                return conn.execute(query).rowcount
            return delete_failures(conn, connector, keys, status)


def failure_counts(conn: Connection, connector: str) -> dict[str, int]:
    """Failed writes by status, deferred writes left out: they wait for a call, not for a fix."""
    f = write_failures
    return count_by(conn, f, f.c.status, sa.and_(f.c.connector == connector, _not_deferred(f)))


def load_failures(
    conn: Connection, connector: str, keys: Iterable[RecordKey]
) -> dict[RecordKey, tuple[WriteStatus, Mapping[str, Any]]]:
    """The failed writes among ``keys``: their status and the desired values that failed."""
    found: dict[RecordKey, tuple[WriteStatus, Mapping[str, Any]]] = {}
    t = write_failures
    for object_type, ids in by_object_type(keys).items():
        for part in chunks(ids):
            rows = conn.execute(
                sa.select(t.c.object_type, t.c.record_id, t.c.status, t.c.desired_values).where(
                    t.c.connector == connector, t.c.object_type == object_type, t.c.record_id.in_(part)
                )
            )
            for row in rows:
                found[RecordKey(row.object_type, row.record_id)] = (WriteStatus(row.status), row.desired_values)
    return found


def delete_failures(
    conn: Connection, connector: str, keys: Iterable[RecordKey], status: WriteStatus | None = None
) -> int:
    """Forget the failures of ``keys`` (of one ``status`` only, when given); how many were kept."""
    f = write_failures
    cleared = 0
    for object_type, ids in by_object_type(keys).items():
        for part in chunks(ids):
            query = sa.delete(f).where(f.c.connector == connector, f.c.object_type == object_type, f.c.record_id.in_(part))
            if status is not None:
                query = query.where(f.c.status == status.value)
            cleared += conn.execute(query).rowcount
    return cleared


def failure_row(
    connector: str, desired: Desired, status: WriteStatus, error_code: str | None, message: str | None, now: datetime
) -> dict[str, Any]:
    """The row :func:`keep_failures` keeps for one failed write of ``desired``."""
    return {
        "connector": connector,
        "object_type": desired.object_type,
        "record_id": desired.record_id,
        "sent_values": dict(desired.outgoing),
        "desired_values": desired.stored(),
        "score": desired.score,
        "stage": desired.stage,
        "model_version": desired.model_version,
        "reason": desired.reason,
        "status": status.value,
        "error_code": error_code,
        "message": message,
        "attempts": 1,
        "first_failed_at": now,
        "last_failed_at": now,
    }


_REPLACED = (
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


def keep_failures(conn: Connection, rows: Mapping[RecordKey, dict[str, Any]]) -> None:
    """Keep failed writes (rows of :func:`failure_row`): a record that failed before counts one
    more attempt and keeps its ``first_failed_at``, which says how long it has been out of date."""
    if not rows:
        return
    t = write_failures
    stmt = upsert(conn, t)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.connector, t.c.object_type, t.c.record_id],
        set_={name: stmt.excluded[name] for name in _REPLACED} | {"attempts": t.c.attempts + 1},
    )
    conn.execute(stmt, [rows[k] for k in sorted(rows, key=sort_key)])


def defer_writes(conn: Connection, now: datetime, connector: str, writes: Sequence[Desired]) -> None:
    """Keep ``writes`` as deferred (the module docstring says why), inside the caller's transaction.

    A record with a kept failure keeps its attempts and ``first_failed_at`` (it has been out of
    date since then), so a write that then fails counts one more attempt, as if never deferred;
    a new row counts none."""
    if not writes:
        return
    rows = {
        d.key: failure_row(connector, d, WriteStatus.RETRYABLE, DEFERRED, DEFERRED_MESSAGE, now) | {"attempts": 0}
        for d in writes
    }
    t = write_failures
    stmt = upsert(conn, t)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.connector, t.c.object_type, t.c.record_id],
        set_={name: stmt.excluded[name] for name in _REPLACED},
    )
    conn.execute(stmt, [rows[k] for k in sorted(rows, key=sort_key)])


def _failure(row: sa.Row[Any]) -> Failure:
    values, fields = split_fields(row.desired_values)
    desired = Desired(
        object_type=cast(ObjectType, row.object_type),
        record_id=row.record_id,
        values=values,
        fields=fields,
        score=row.score,
        stage=row.stage,
        model_version=row.model_version,
        reason=row.reason,
        send=row.sent_values,
    )
    return Failure(
        desired=desired,
        status=WriteStatus(row.status),
        error_code=row.error_code,
        message=row.message,
        attempts=row.attempts,
        first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at,
    )
