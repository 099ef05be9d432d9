"""Where each pull resumes: the live cursor per connector and object type, and each backfill's
own window and position.

A cursor (or a backfill's position) moves only in the transaction that records its batch's writes
(:func:`advance`, called by the batch), so it never passes a record whose score was not durably
recorded as written or failed. A backfill never moves the live cursor.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from leadscore.agent.core.records import ObjectType, utc
from leadscore.agent.state.base import StoreBase
from leadscore.agent.state.schema import backfills, cursors
from leadscore.agent.state.sql import upsert


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


class Cursors(StoreBase):
    """The store's cursors and backfill windows."""

    def cursor(self, connector: str, object_type: str) -> str | None:
        """Where the live sync of ``object_type`` resumes (None: from the beginning)."""
        t = cursors
        with self._transaction("read a cursor", read=True) as conn:
            return conn.execute(
                sa.select(t.c.value).where(t.c.connector == connector, t.c.object_type == object_type)
            ).scalar_one_or_none()

    def reset_cursor(self, connector: str, object_type: str | None = None) -> None:
        """Forget the live cursor(s), so the next sync pulls everything (a full resync)."""
        t = cursors
        with self._transaction("reset a cursor") as conn:
            query = sa.delete(t).where(t.c.connector == connector)
            if object_type is not None:
                query = query.where(t.c.object_type == object_type)
            conn.execute(query)

    def start_backfill(
        self, connector: str, object_type: ObjectType, since: datetime | None, until: datetime | None
    ) -> Backfill:
        """The unfinished backfill of this exact window, to resume, or a new one.

        A backfill moves only its own position, never the live cursor. Pass a fixed ``until``
        (not "now") for an interrupted backfill to be found again; or keep its id.
        """
        b = backfills
        since = utc(since) if since is not None else None
        until = utc(until) if until is not None else None
        with self._transaction("start a backfill") as conn:
            row = conn.execute(
                sa.select(b)
                .where(
                    b.c.connector == connector,
                    b.c.object_type == object_type,
                    b.c.since.is_not_distinct_from(since),
                    b.c.until.is_not_distinct_from(until),
                    b.c.finished_at.is_(None),
                )
                .order_by(b.c.started_at.desc())
                .limit(1)
            ).first()
            if row is not None:
                return backfill_of(row)
            now = self.now()
            created = Backfill(
                id=f"bf-{uuid.uuid4().hex[:12]}",
                connector=connector,
                object_type=object_type,
                since=since,
                until=until,
                position=None,
                started_at=now,
                updated_at=now,
            )
            conn.execute(sa.insert(b), asdict(created))
        return created

    def backfill(self, backfill_id: str) -> Backfill | None:
        with self._transaction("read a backfill", read=True) as conn:
            row = conn.execute(sa.select(backfills).where(backfills.c.id == backfill_id)).first()
        return backfill_of(row) if row is not None else None

    def backfills(self, connector: str, *, active_only: bool = True) -> list[Backfill]:
        with self._transaction("list backfills", read=True) as conn:
            return list_backfills(conn, connector, active_only=active_only)

    def finish_backfill(self, backfill_id: str) -> None:
        """Mark a backfill done: its window was pulled to the end."""
        b = backfills
        with self._transaction("finish a backfill") as conn:
            now = self.now()
            conn.execute(sa.update(b).where(b.c.id == backfill_id).values(finished_at=now, updated_at=now))


def list_backfills(conn: Connection, connector: str, *, active_only: bool = True) -> list[Backfill]:
    """``connector``'s backfills (the unfinished ones only, by default), oldest first."""
    b = backfills
    query = sa.select(b).where(b.c.connector == connector).order_by(b.c.started_at)
    if active_only:
        query = query.where(b.c.finished_at.is_(None))
    return [backfill_of(row) for row in conn.execute(query)]


def cursor_states(conn: Connection, connector: str) -> dict[str, CursorState]:
    """``connector``'s live cursors by object type, with when each last moved."""
    rows = conn.execute(sa.select(cursors).where(cursors.c.connector == connector))
    return {row.object_type: CursorState(row.value, row.updated_at) for row in rows}


def advance(
    conn: Connection, now: datetime, connector: str, object_type: str, backfill_id: str | None, value: str | None
) -> None:
    """Move the cursor a batch resumes from (the backfill's own when it is one) to ``value``,
    inside the batch's transaction."""
    if backfill_id is not None:
        b = backfills
        conn.execute(sa.update(b).where(b.c.id == backfill_id).values(position=value, updated_at=now))
        return
    t = cursors
    stmt = upsert(conn, t)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.connector, t.c.object_type],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(stmt, {"connector": connector, "object_type": object_type, "value": value, "updated_at": now})


def backfill_of(row: sa.Row[Any]) -> Backfill:
    return Backfill(
        id=row.id,
        connector=row.connector,
        object_type=cast(ObjectType, row.object_type),
        since=row.since,
        until=row.until,
        position=row.position,
        started_at=row.started_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )
