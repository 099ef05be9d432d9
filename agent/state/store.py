"""The state store: everything the sync agent must remember between runs, in one database.

What it keeps, and why:

- **cursors**, per connector and object type, and each **backfill**'s own position: moved only in
  the transaction that records the batch's writes, so a cursor never passes a record whose score
  was not durably recorded as written (or failed).
- a **mirror** of the normalised leads and activities: decay passes, rule changes and reports
  rescore from it without a CRM read.
- the **last written values** per record: what the diff compares with, so an unchanged score costs
  no API call.
- **score history**, one entry per change of the written values (not per rescore).
- **failed writes** awaiting a retry, with attempts and first/last failure.
- the **run log**, **leases** that keep two agents off one connector's job, and **API usage** per day.

SQLite by default, PostgreSQL by URL; the schema is migrated on open. Every failure of the
database surfaces as one :class:`~agent.state.errors.StateError` line after its transaction
rolled back.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections import defaultdict
from contextlib import contextmanager, suppress
from dataclasses import asdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, cast, get_args

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from agent.records import Activity, Lead, ObjectType, utc
from agent.state import migrate
from agent.state.batch import (
    BatchTx,
    add_api_calls,
    chunks,
    load_failures,
    load_written,
    record_writes,
    stable_values,
    upsert,
)
from agent.state.engine import DEFAULT_PATH, READ_ONLY, create_state_engine, describe, normalise_url, translated
from agent.state.errors import LockHeld, StateError
from agent.state.schema import (
    api_usage,
    backfills,
    connector_meta,
    cursors,
    last_written,
    locks,
    mirror_activities,
    mirror_leads,
    runs,
    score_history,
    write_failures,
)
from agent.state.shapes import (
    VOLATILE_VALUES,
    Backfill,
    BatchOutcome,
    Change,
    ConnectorStatus,
    CursorState,
    Desired,
    Failure,
    HistoryEntry,
    Lease,
    MirroredLead,
    RecordKey,
    Run,
    RunKind,
    RunStatus,
    Written,
    canonical_json,
)
from connectors.base import PullBatch, ScoreUpdate, WriteResult, WriteStatus

log = structlog.get_logger("leadscore.state")

Clock = Callable[[], datetime]

#: A lease lasts this long unless renewed: long enough to outlive a slow batch, short enough that
#: a crashed agent's connector is picked up again within minutes.
DEFAULT_LEASE = timedelta(minutes=5)


def new_owner_id() -> str:
    """An owner id for leases: host and process (for people reading ``status``) and a random part
    (a restarted process may reuse a pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _system_clock() -> datetime:
    return datetime.now(timezone.utc)


class StateStore:
    """The agent's memory. Open with :meth:`open`; close (or use as a context manager) on exit.

    Safe to share between threads (each call takes its own pooled connection). Two processes may
    share one store: writes serialise (SQLite's write lock, PostgreSQL's row locks), and the leases
    keep them off the same connector's job.
    """

    def __init__(self, engine: Engine, url: URL, clock: Clock = _system_clock) -> None:
        self.engine = engine
        self.url = url
        #: The store's URL without its password, for messages and logs.
        self.where = describe(url)
        self._clock = clock

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        path: str | Path = DEFAULT_PATH,
        clock: Clock | None = None,
    ) -> StateStore:
        """Open the store at ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``), or the
        SQLite file ``path`` when no URL is given, migrating its schema to this version's."""
        parsed = normalise_url(url, path)
        engine = create_state_engine(parsed)
        store = cls(engine, parsed, clock or _system_clock)
        try:
            with translated(store.where, "open"):
                migrate.upgrade(engine, store.where)
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def now(self) -> datetime:
        """The store's clock, as aware UTC (tests pass a fake one to :meth:`open`)."""
        return utc(self._clock())

    @contextmanager
    def _transaction(self, action: str, *, read: bool = False) -> Iterator[Connection]:
        """One transaction around store code, its failures raised as :class:`StateError`."""
        with translated(self.where, action):
            conn = self.engine.connect()
            try:
                if read:
                    conn = conn.execution_options(**{READ_ONLY: True})
                with conn.begin():
                    yield conn
            finally:
                conn.close()

    # --- cursors and backfills -----------------------------------------------------------------

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
                return _backfill(row)
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
        return _backfill(row) if row is not None else None

    def backfills(self, connector: str, *, active_only: bool = True) -> list[Backfill]:
        b = backfills
        query = sa.select(b).where(b.c.connector == connector).order_by(b.c.started_at)
        if active_only:
            query = query.where(b.c.finished_at.is_(None))
        with self._transaction("list backfills", read=True) as conn:
            return [_backfill(row) for row in conn.execute(query)]

    def finish_backfill(self, backfill_id: str) -> None:
        """Mark a backfill done: its window was pulled to the end."""
        b = backfills
        with self._transaction("finish a backfill") as conn:
            now = self.now()
            conn.execute(sa.update(b).where(b.c.id == backfill_id).values(finished_at=now, updated_at=now))

    # --- one batch, one transaction --------------------------------------------------------------

    @contextmanager
    def batch(self, connector: str, object_type: ObjectType, *, backfill_id: str | None = None) -> Iterator[BatchTx]:
        """A unit of work: mirror a batch, record its writes and advance its cursor, committed
        together when the block ends, rolled back whole if it raises (the exception goes on).

        With ``backfill_id`` the cursor moved is that backfill's position, never the live one.
        """
        if backfill_id is not None:
            found = self.backfill(backfill_id)
            if found is None or found.connector != connector or found.object_type != object_type:
                raise ValueError(f"no backfill {backfill_id} of {connector} {object_type} records")
            if found.done:
                raise ValueError(f"backfill {backfill_id} is finished")
        with translated(self.where, f"begin the {connector} {object_type} batch"):
            conn = self.engine.connect()
            try:
                trans = conn.begin()
            except BaseException:
                conn.close()
                raise
        tx = BatchTx(conn, self.where, self.now, connector, object_type, backfill_id)
        try:
            yield tx
        except BaseException:
            tx.close()
            with suppress(SQLAlchemyError):  # the connection may be the thing that broke
                trans.rollback()
            with suppress(SQLAlchemyError):
                conn.close()
            raise
        tx.close()
        try:
            if tx.failed:  # a step failed and the block swallowed its error: never commit half
                with suppress(SQLAlchemyError):
                    trans.rollback()
                raise StateError(
                    f"state store {self.where}: cannot record the {connector} {object_type} batch: "
                    "a step of it failed, and nothing of it was recorded"
                )
            with translated(self.where, f"record the {connector} {object_type} batch"):
                trans.commit()
        finally:
            with suppress(SQLAlchemyError):
                conn.close()

    def record_batch(
        self,
        connector: str,
        batch: PullBatch,
        changes: Sequence[Change] = (),
        results: Sequence[WriteResult] = (),
        *,
        backfill_id: str | None = None,
        api_calls: Mapping[str, int] | None = None,
    ) -> BatchOutcome:
        """Record a pulled batch after its writes: mirror it, record the write results, count the
        API calls and move the cursor to ``batch.cursor``, in one transaction.

        The pipeline calls this once per batch, after ``connector.write`` returned, so the cursor
        moves exactly when the writes it covers are durably recorded.
        """
        with self.batch(connector, batch.cursor.object_type, backfill_id=backfill_id) as tx:
            tx.mirror(batch.leads, batch.activities, batch.deleted_ids)
            tx.record_writes(changes, results)
            if api_calls:
                tx.add_api_calls(api_calls)
            tx.advance(batch.cursor.value)
        return tx.outcome

    # --- the diff and the writes ---------------------------------------------------------------

    def last_written(self, connector: str, keys: Iterable[RecordKey]) -> dict[RecordKey, Written]:
        """What was last written to each of ``keys`` that has been written at all."""
        with self._transaction("read the last written values", read=True) as conn:
            rows = load_written(conn, connector, keys)
        return {
            key: Written(key, row.written_values, row.model_version, row.written_at, row.written_to)
            for key, row in rows.items()
        }

    def diff(
        self,
        connector: str,
        desired: Iterable[Desired],
        *,
        normalise: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> list[Change]:
        """The records whose desired values differ from those last written, each with only the
        values to send: the changed ones, plus the volatile ones (``scored_at``) riding along.

        A record with a failed write is sent whole, even when its values equal the last written
        ones: a write that timed out may have landed, so what the CRM shows is not known, and a
        stale retry must never overwrite a newer score. The exception is a permanent failure of
        these very values: it would fail again until something changes (the values, or the admin
        clearing it with :meth:`clear_failures`), so it is left out.

        ``normalise`` maps a value name to what of it makes a change: a reason whose only
        difference is "3d ago" becoming "4d ago" is not worth a write on its own, but it rides
        along, fresh, when anything else changes.
        """
        norm = normalise or {}
        wanted = {d.key: d for d in desired}  # the last of duplicates wins
        if not wanted:
            return []
        with self._transaction("compare with the last written values", read=True) as conn:
            written = load_written(conn, connector, wanted)
            failures = load_failures(conn, connector, wanted)
        changes: list[Change] = []
        for key, want in wanted.items():
            if not want.values:
                continue
            row = written.get(key)
            previous: Mapping[str, Any] | None = row.written_values if row is not None else None
            failure = failures.get(key)
            if failure is not None:
                status, tried = failure
                if status is WriteStatus.PERMANENT and tried == stable_values(want.values):
                    continue
                send = dict(want.values)
            elif previous is None:
                send = dict(want.values)
            else:
                send = {
                    name: value
                    for name, value in want.values.items()
                    if name not in VOLATILE_VALUES
                    and (name not in previous or _differs(norm.get(name), value, previous[name]))
                }
                if not send:
                    continue
                send |= {name: value for name, value in want.values.items() if name in VOLATILE_VALUES or name in norm}
            changes.append(Change(want, ScoreUpdate(want.record_id, want.object_type, send), previous))
        return changes

    def record_writes(self, connector: str, changes: Sequence[Change], results: Sequence[WriteResult]) -> BatchOutcome:
        """Record write results outside a pulled batch (a rescore, a retry of failures), in one
        transaction. A sync records its writes with :meth:`record_batch` instead, cursor included."""
        with self._transaction(f"record the {connector} writes") as conn:
            return record_writes(conn, self.now(), connector, changes, results)

    # --- failed writes ---------------------------------------------------------------------------

    def pending_failures(
        self,
        connector: str,
        *,
        limit: int = 1000,
        status: WriteStatus = WriteStatus.RETRYABLE,
        failed_before: datetime | None = None,
    ) -> list[Failure]:
        """Failed writes to try again, longest-waiting first. ``failed_before`` spaces retries out
        (only failures last tried before then)."""
        f = write_failures
        query = (
            sa.select(f)
            .where(f.c.connector == connector, f.c.status == status.value)
            .order_by(f.c.last_failed_at, f.c.object_type, f.c.record_id)
            .limit(limit)
        )
        if failed_before is not None:
            query = query.where(f.c.last_failed_at < utc(failed_before))
        with self._transaction("read failed writes", read=True) as conn:
            return [_failure(row) for row in conn.execute(query)]

    def failure_counts(self, connector: str) -> dict[str, int]:
        """Kept failed writes by status (``retryable``, ``permanent``): one grouped count."""
        f = write_failures
        with self._transaction("count failed writes", read=True) as conn:
            return _counts(conn, f, f.c.status, f.c.connector == connector)

    def clear_failures(
        self, connector: str, *, status: WriteStatus | None = None, keys: Iterable[RecordKey] | None = None
    ) -> int:
        """Forget failed writes (all, of one status, or of ``keys``): after the admin fixed what
        made them permanent, the next scoring writes those records again."""
        f = write_failures
        base = sa.delete(f).where(f.c.connector == connector)
        if status is not None:
            base = base.where(f.c.status == status.value)
        cleared = 0
        with self._transaction("clear failed writes") as conn:
            if keys is None:
                return conn.execute(base).rowcount
            grouped: dict[str, list[str]] = defaultdict(list)
            for key in keys:
                grouped[key.object_type].append(key.record_id)
            for object_type, ids in grouped.items():
                for part in chunks(ids):
                    cleared += conn.execute(
                        base.where(f.c.object_type == object_type, f.c.record_id.in_(part))
                    ).rowcount
        return cleared

    # --- the mirror ------------------------------------------------------------------------------

    def mirror_leads(
        self, connector: str, object_type: ObjectType | None = None, *, page_size: int = 1000
    ) -> Iterator[MirroredLead]:
        """Every mirrored lead of ``connector`` (of one object type, or all), with its activities
        oldest first: what a rescore feeds the engine, at no CRM cost.

        Reads a page at a time (keyset paging on the primary key), each in its own short
        transaction, so a slow consumer holds no transaction open; run it under the connector's
        lease so no sync changes the mirror meanwhile.
        """
        m = mirror_leads
        after: tuple[str, str] | None = None
        while True:
            query = (
                sa.select(m).where(m.c.connector == connector).order_by(m.c.object_type, m.c.lead_id).limit(page_size)
            )
            if object_type is not None:
                query = query.where(m.c.object_type == object_type)
            if after is not None:
                query = query.where(sa.tuple_(m.c.object_type, m.c.lead_id) > sa.tuple_(*after))
            with self._transaction("read the mirror", read=True) as conn:
                rows = list(conn.execute(query))
                activities = self._activities(conn, connector, [(row.object_type, row.lead_id) for row in rows])
            for row in rows:
                yield MirroredLead(_lead(row), tuple(activities.get((row.object_type, row.lead_id), ())))
            if len(rows) < page_size:
                return
            after = (rows[-1].object_type, rows[-1].lead_id)

    def mirror_lead(self, connector: str, key: RecordKey) -> MirroredLead | None:
        """One mirrored lead with its activities (for ``explain``), or None."""
        m = mirror_leads
        with self._transaction("read the mirror", read=True) as conn:
            row = conn.execute(
                sa.select(m).where(
                    m.c.connector == connector, m.c.object_type == key.object_type, m.c.lead_id == key.record_id
                )
            ).first()
            if row is None:
                return None
            activities = self._activities(conn, connector, [(key.object_type, key.record_id)])
        return MirroredLead(_lead(row), tuple(activities.get((key.object_type, key.record_id), ())))

    @staticmethod
    def _activities(
        conn: Connection, connector: str, leads: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[Activity]]:
        a = mirror_activities
        grouped: dict[str, list[str]] = defaultdict(list)
        for object_type, lead_id in leads:
            grouped[object_type].append(lead_id)
        found: dict[tuple[str, str], list[Activity]] = defaultdict(list)
        for object_type, ids in grouped.items():
            for part in chunks(ids):
                rows = conn.execute(
                    sa.select(a.c.lead_id, a.c.type, a.c.occurred_at, a.c.properties)
                    .where(a.c.connector == connector, a.c.object_type == object_type, a.c.lead_id.in_(part))
                    .order_by(a.c.lead_id, a.c.occurred_at, a.c.activity_key)
                )
                for row in rows:
                    found[(object_type, row.lead_id)].append(
                        Activity(row.lead_id, row.type, row.occurred_at, row.properties)
                    )
        return found

    # --- history -------------------------------------------------------------------------------

    def history(self, connector: str, key: RecordKey, *, limit: int | None = None) -> list[HistoryEntry]:
        """The record's written-score changes, oldest first (the latest ``limit`` when given)."""
        h = score_history
        query = sa.select(h).where(
            h.c.connector == connector, h.c.object_type == key.object_type, h.c.record_id == key.record_id
        )
        if limit is not None:
            query = query.order_by(h.c.at.desc(), h.c.id.desc()).limit(limit)
        else:
            query = query.order_by(h.c.at, h.c.id)
        with self._transaction("read score history", read=True) as conn:
            rows = list(conn.execute(query))
        if limit is not None:
            rows.reverse()
        return [HistoryEntry(r.at, r.score, r.stage, r.model_version, r.reason, r.written_to) for r in rows]

    # --- the run log ---------------------------------------------------------------------------

    def start_run(self, connector: str, kind: RunKind, *, backfill_id: str | None = None) -> str:
        """Log the start of a run and return its id.

        Call it holding the job's lease: a run of the same connector and kind still marked
        running can then only be one whose agent died, and is marked ``interrupted``.
        """
        if kind not in get_args(RunKind):
            raise ValueError(f"unknown run kind {kind!r}")
        r = runs
        run_id = uuid.uuid4().hex
        with self._transaction("start a run") as conn:
            now = self.now()
            conn.execute(
                sa.update(r)
                .where(r.c.connector == connector, r.c.kind == kind, r.c.status == "running")
                .values(status="interrupted", finished_at=now, error="the agent stopped before the run finished")
            )
            conn.execute(
                sa.insert(r),
                {
                    "run_id": run_id,
                    "connector": connector,
                    "kind": kind,
                    "status": "running",
                    "started_at": now,
                    "counts": {},
                    "backfill_id": backfill_id,
                },
            )
        return run_id

    def finish_run(
        self, run_id: str, status: RunStatus, counts: Mapping[str, int] | None = None, error: str | None = None
    ) -> None:
        """Log the end of a run: ``ok``, ``partial`` (some records failed) or ``failed``."""
        if status not in get_args(RunStatus) or status == "running":
            raise ValueError(f"a run cannot finish as {status!r}")
        r = runs
        with self._transaction("finish a run") as conn:
            done = conn.execute(
                sa.update(r)
                .where(r.c.run_id == run_id)
                .values(status=status, finished_at=self.now(), counts=dict(counts or {}), error=error)
            )
            if done.rowcount != 1:
                raise ValueError(f"no run {run_id}")

    def prune(self, connector: str, before: datetime) -> dict[str, int]:
        """Forget the bookkeeping older than ``before``: finished runs, API usage days and
        finished backfills. Score history, last written values and the mirror are kept: they
        are the record of what the CRM was told, and what the next diff compares with."""
        before = utc(before)
        r, u, b = runs, api_usage, backfills
        with self._transaction(f"prune the {connector} bookkeeping") as conn:
            return {
                "runs": conn.execute(
                    sa.delete(r).where(r.c.connector == connector, r.c.status != "running", r.c.started_at < before)
                ).rowcount,
                "api_usage_days": conn.execute(
                    sa.delete(u).where(u.c.connector == connector, u.c.day < before.date())
                ).rowcount,
                "backfills": conn.execute(
                    sa.delete(b).where(b.c.connector == connector, b.c.finished_at.is_not(None), b.c.finished_at < before)
                ).rowcount,
            }

    def runs(self, connector: str, *, kind: RunKind | None = None, limit: int = 20) -> list[Run]:
        """The latest runs, newest first."""
        r = runs
        query = sa.select(r).where(r.c.connector == connector).order_by(r.c.started_at.desc()).limit(limit)
        if kind is not None:
            query = query.where(r.c.kind == kind)
        with self._transaction("read the run log", read=True) as conn:
            return [_run(row) for row in conn.execute(query)]

    # --- leases ----------------------------------------------------------------------------------

    def acquire_lock(self, connector: str, job: str, owner: str, ttl: timedelta = DEFAULT_LEASE) -> bool:
        """Take the lease on ``connector``'s ``job`` for ``ttl``; False while another owner holds
        an unexpired one. An expired lease is taken over; the owner's own is extended.

        One atomic upsert on both backends: the conflicting row is replaced only when it expired
        or is ours, so two agents racing for the lease cannot both get it.
        """
        t = locks
        now = self.now()
        with self._transaction(f"take the {connector} {job} lease") as conn:
            stmt = upsert(conn, t)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.connector, t.c.job],
                set_={
                    "owner": stmt.excluded.owner,
                    "acquired_at": sa.case((t.c.owner == owner, t.c.acquired_at), else_=stmt.excluded.acquired_at),
                    "expires_at": stmt.excluded.expires_at,
                },
                where=sa.or_(t.c.expires_at <= now, t.c.owner == owner),
            )
            conn.execute(
                stmt, {"connector": connector, "job": job, "owner": owner, "acquired_at": now, "expires_at": now + ttl}
            )
            holder = conn.execute(sa.select(t.c.owner).where(t.c.connector == connector, t.c.job == job)).scalar_one()
        return bool(holder == owner)

    def renew_lock(self, connector: str, job: str, owner: str, ttl: timedelta = DEFAULT_LEASE) -> bool:
        """Extend the owner's lease to ``ttl`` from now; False when it was lost (expired and taken
        over): the job must stop, another agent now runs it."""
        t = locks
        with self._transaction(f"renew the {connector} {job} lease") as conn:
            done = conn.execute(
                sa.update(t)
                .where(t.c.connector == connector, t.c.job == job, t.c.owner == owner)
                .values(expires_at=self.now() + ttl)
            )
            return bool(done.rowcount == 1)

    def release_lock(self, connector: str, job: str, owner: str) -> bool:
        """Give the lease up (only the owner's own); False when it was not held."""
        t = locks
        with self._transaction(f"release the {connector} {job} lease") as conn:
            done = conn.execute(sa.delete(t).where(t.c.connector == connector, t.c.job == job, t.c.owner == owner))
            return bool(done.rowcount == 1)

    def lock_holder(self, connector: str, job: str) -> Lease | None:
        """The unexpired lease on ``job``, if any."""
        t = locks
        with self._transaction("read a lease", read=True) as conn:
            row = conn.execute(
                sa.select(t).where(t.c.connector == connector, t.c.job == job, t.c.expires_at > self.now())
            ).first()
        return _lease(row) if row is not None else None

    @contextmanager
    def hold(
        self, connector: str, job: str, owner: str | None = None, ttl: timedelta = DEFAULT_LEASE
    ) -> Iterator[Lease]:
        """Hold the lease for the block, or raise :class:`LockHeld`; released on exit. A block
        longer than ``ttl`` must :meth:`renew_lock` (the scheduler's heartbeat)."""
        owner = owner or new_owner_id()
        if not self.acquire_lock(connector, job, owner, ttl):
            holder = self.lock_holder(connector, job)
            who = f" by {holder.owner} until {holder.expires_at.isoformat()}" if holder else ""
            raise LockHeld(
                f"{connector} {job} is already running{who}",
                owner=holder.owner if holder else None,
                expires_at=holder.expires_at if holder else None,
            )
        now = self.now()
        try:
            yield Lease(connector, job, owner, now, now + ttl)
        finally:
            try:
                self.release_lock(connector, job, owner)
            except StateError as exc:  # the lease expires by itself; do not hide the block's error
                log.warning("state.lease_not_released", connector=connector, job=job, error=str(exc))

    # --- facts about a connector's mirror ------------------------------------------------------

    def forget(self, connector: str, *, keep_meta: Iterable[str] = ()) -> dict[str, int]:
        """Forget what the store holds of ``connector``'s CRM - cursors, backfills, the mirror,
        the last written values, kept failures and facts (but ``keep_meta``) - as when the store
        turns out to belong to another CRM. The run log, API usage and score history stay: they
        are the record of what was done. The next sync is a first, full one, and writes every
        record, since nothing is known to be written."""
        kept = set(keep_meta)
        forgotten: dict[str, int] = {}
        with self._transaction(f"forget the {connector} CRM") as conn:
            for table in (cursors, backfills, mirror_activities, mirror_leads, last_written, write_failures):
                forgotten[table.name] = conn.execute(sa.delete(table).where(table.c.connector == connector)).rowcount
            forgotten[connector_meta.name] = conn.execute(
                sa.delete(connector_meta).where(connector_meta.c.connector == connector, connector_meta.c.key.not_in(kept))
            ).rowcount
        return forgotten

    def meta(self, connector: str, key: str) -> Any:
        """A fact kept for ``connector`` (``scored_version``, ``mirror_needs``), or None."""
        t = connector_meta
        with self._transaction("read connector facts", read=True) as conn:
            return conn.execute(
                sa.select(t.c.value).where(t.c.connector == connector, t.c.key == key)
            ).scalar_one_or_none()

    def set_meta(self, connector: str, key: str, value: Any) -> None:
        """Keep a JSON fact for ``connector`` (replacing the previous one)."""
        t = connector_meta
        with self._transaction("record connector facts") as conn:
            stmt = upsert(conn, t)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.connector, t.c.key],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
            )
            conn.execute(stmt, {"connector": connector, "key": key, "value": value, "updated_at": self.now()})

    # --- API usage -------------------------------------------------------------------------------

    def add_api_calls(self, connector: str, counts: Mapping[str, int], *, day: date | None = None) -> None:
        """Add calls made (by endpoint family, since the last count: deltas of
        ``connector.api_calls()``) to the day's totals (UTC days)."""
        with self._transaction(f"count the {connector} API calls") as conn:
            add_api_calls(conn, connector, counts, day or self.now().date())

    def api_calls(self, connector: str, *, since: date | None = None) -> dict[date, dict[str, int]]:
        """Calls per UTC day and endpoint family, from ``since`` (default: every day kept)."""
        u = api_usage
        query = sa.select(u).where(u.c.connector == connector).order_by(u.c.day, u.c.family)
        if since is not None:
            query = query.where(u.c.day >= since)
        days: dict[date, dict[str, int]] = defaultdict(dict)
        with self._transaction("read API usage", read=True) as conn:
            for row in conn.execute(query):
                days[row.day][row.family] = row.calls
        return dict(days)

    # --- status --------------------------------------------------------------------------------

    def status(self, connector: str) -> ConnectorStatus:
        """What ``leadscore status`` shows for a connector, read in one transaction."""
        now = self.now()
        with self._transaction("read the status", read=True) as conn:
            c, b, r, f, lw, m, a, k, u = (
                cursors,
                backfills,
                runs,
                write_failures,
                last_written,
                mirror_leads,
                mirror_activities,
                locks,
                api_usage,
            )
            cursor_rows = conn.execute(sa.select(c).where(c.c.connector == connector))
            active = conn.execute(
                sa.select(b).where(b.c.connector == connector, b.c.finished_at.is_(None)).order_by(b.c.started_at)
            )
            backfill_list = tuple(_backfill(row) for row in active)
            last_runs: dict[str, Run] = {}
            kinds = conn.execute(sa.select(r.c.kind).where(r.c.connector == connector).distinct()).scalars().all()
            for kind in sorted(kinds):
                row = conn.execute(
                    sa.select(r)
                    .where(r.c.connector == connector, r.c.kind == kind)
                    .order_by(r.c.started_at.desc())
                    .limit(1)
                ).first()
                if row is not None:
                    last_runs[kind] = _run(row)
            return ConnectorStatus(
                connector=connector,
                cursors={row.object_type: CursorState(row.value, row.updated_at) for row in cursor_rows},
                backfills=backfill_list,
                last_runs=last_runs,
                failures=_counts(conn, f, f.c.status, f.c.connector == connector),  # as failure_counts
                mirrored_leads=_counts(conn, m, m.c.object_type, m.c.connector == connector),
                mirrored_activities=_counts(conn, a, a.c.object_type, a.c.connector == connector),
                written=_counts(conn, lw, lw.c.object_type, lw.c.connector == connector),
                locks=tuple(
                    _lease(row)
                    for row in conn.execute(
                        sa.select(k).where(k.c.connector == connector, k.c.expires_at > now).order_by(k.c.job)
                    )
                ),
                api_calls_today={
                    row.family: row.calls
                    for row in conn.execute(sa.select(u).where(u.c.connector == connector, u.c.day == now.date()))
                },
            )


def _differs(normalise: Callable[[Any], Any] | None, value: Any, previous: Any) -> bool:
    if normalise is not None:
        value, previous = normalise(value), normalise(previous)
    return canonical_json(value) != canonical_json(previous)


def _counts(conn: Connection, table: sa.Table, column: sa.Column[Any], where: sa.ColumnElement[bool]) -> dict[str, int]:
    rows = conn.execute(sa.select(column, sa.func.count()).select_from(table).where(where).group_by(column))
    return {str(value): int(count) for value, count in rows}


def _backfill(row: sa.Row[Any]) -> Backfill:
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


def _lead(row: sa.Row[Any]) -> Lead:
    return Lead(
        id=row.lead_id,
        object_type=cast(ObjectType, row.object_type),
        fields=row.fields,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _failure(row: sa.Row[Any]) -> Failure:
    desired = Desired(
        object_type=cast(ObjectType, row.object_type),
        record_id=row.record_id,
        values=row.desired_values,
        score=row.score,
        stage=row.stage,
        model_version=row.model_version,
        reason=row.reason,
    )
    return Failure(
        desired=desired,
        values=row.sent_values,
        status=WriteStatus(row.status),
        error_code=row.error_code,
        message=row.message,
        attempts=row.attempts,
        first_failed_at=row.first_failed_at,
        last_failed_at=row.last_failed_at,
    )


def _run(row: sa.Row[Any]) -> Run:
    return Run(
        run_id=row.run_id,
        connector=row.connector,
        kind=row.kind,
        status=row.status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        counts=row.counts or {},
        error=row.error,
        backfill_id=row.backfill_id,
    )


def _lease(row: sa.Row[Any]) -> Lease:
    return Lease(row.connector, row.job, row.owner, row.acquired_at, row.expires_at)
