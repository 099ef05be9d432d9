"""One unit of work: mirror a pulled batch, record its writes, count its API calls and move its
cursor, committed together or not at all.

A crash before the commit leaves the old cursor, and the next run pulls and writes the same
batch again (at-least-once), which the diff and the idempotent upserts make harmless. The steps
themselves live with their concerns (:mod:`~leadscore.agent.state.mirror`,
:mod:`~leadscore.agent.state.written`, :mod:`~leadscore.agent.state.failures`,
:mod:`~leadscore.agent.state.cursors`, :mod:`~leadscore.agent.state.usage`); this module holds the
transaction around them.
"""

from __future__ import annotations

from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from leadscore.agent.core.contract import PullBatch, WriteResult, WriteStatus
from leadscore.agent.core.records import Activity, Lead, ObjectType
from leadscore.agent.state.canonical import canonical_json
from leadscore.agent.state.cursors import Cursors, advance
from leadscore.agent.state.desired import Desired, RecordKey
from leadscore.agent.state.engine import translated
from leadscore.agent.state.errors import StateError
from leadscore.agent.state.failures import defer_writes, delete_failures
from leadscore.agent.state.mirror import mirror_batch
from leadscore.agent.state.usage import add_api_calls
from leadscore.agent.state.written import Substance, record_writes


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
    #: Changes kept to be written with a later call (:meth:`BatchTx.defer`): not written, not failed.
    deferred: int = 0

    def as_counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def plus(self, **counts: int) -> BatchOutcome:
        """These counts added to this outcome's."""
        mine = self.as_counts()
        return BatchOutcome(**{name: mine[name] + counts.get(name, 0) for name in mine})


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

    def mirror(
        self, leads: Sequence[Lead], activities: Sequence[Activity] = (), deleted_ids: Sequence[str] = (),
        retired: Sequence[Lead] = (),
    ) -> None:
        """Upsert ``leads`` into the mirror and make ``activities`` theirs; remove ``deleted_ids``.

        A lead in the batch gets exactly the batch's activities (connectors read a pulled lead's
        whole engagement), so an activity deleted in the CRM leaves the mirror too; activities of
        leads not in the batch are added to what the mirror has. A lead the mirror holds newer data
        for (``updated_at``) is left alone, so a backfill running behind the live sync never rolls
        the mirror back. Deleted leads lose their mirror rows (a deletion may be an erasure
        request) and their pending failures; their written values and history stay, as a record of
        what leadscore wrote. Retired leads (:attr:`PullBatch.retired`) keep their mirror rows
        and history, out of every rescore, and lose their pending failures: nothing is written to
        them any more.
        """
        wrong = sorted({lead.object_type for lead in leads} - {self.object_type})
        if wrong:
            raise ValueError(f"a {self.object_type} batch holds {', '.join(wrong)} records")
        with self._step(f"mirror the {self.connector} {self.object_type} batch"):
            done = mirror_batch(self._conn, self._now(), self.connector, self.object_type, leads, activities, deleted_ids,
                                retired)
            ended = [*deleted_ids, *(lead.id for lead in retired)]
            gone = [RecordKey(self.object_type, record_id) for record_id in ended]  # type: ignore[arg-type]
            delete_failures(self._conn, self.connector, gone)
        self.outcome = self.outcome.plus(
            mirrored=done.mirrored, stale=done.stale, activities=done.activities, deleted=done.deleted
        )

    def reread(self, keys: Iterable[RecordKey]) -> None:
        """Records the CRM answered with again: it changed there (or came back from its recycle
        bin), so a write it refused for good before is worth one more try - their permanent
        failures are forgotten (the diff, given the same keys, already sent them)."""
        with self._step(f"clear the {self.connector} permanent failures of re-read records"):
            delete_failures(self._conn, self.connector, keys, WriteStatus.PERMANENT)

    def record_writes(
        self, writes: Sequence[Desired], results: Sequence[WriteResult], *, substance: Substance = canonical_json
    ) -> None:
        """Record what the connector did with ``writes``: see :func:`~leadscore.agent.state.written.record_writes`."""
        with self._step(f"record the {self.connector} writes"):
            counts = record_writes(self._conn, self._now(), self.connector, writes, results, substance)
        self.outcome = self.outcome.plus(**counts)

    def defer(self, writes: Sequence[Desired]) -> None:
        """Keep ``writes`` - changes carried to a later write call - as deferred writes
        (:func:`~leadscore.agent.state.failures.defer_writes`): the cursor this batch moves passes
        their records, so they must be as durable as it, or a crash before the call would lose them."""
        if not writes:
            return
        with self._step(f"keep the {self.connector} deferred writes"):
            defer_writes(self._conn, self._now(), self.connector, writes)
        self.outcome = self.outcome.plus(deferred=len(writes))

    def advance(self, value: str | None) -> None:
        """Move the cursor this batch resumes from (the backfill's own when it is one) to
        ``value``. Durable only with the rest of the batch, at commit."""
        with self._step(f"advance the {self.connector} {self.object_type} cursor"):
            advance(self._conn, self._now(), self.connector, self.object_type, self.backfill_id, value)

    def add_api_calls(self, counts: Mapping[str, int], day: date | None = None) -> None:
        """Count API calls with the batch that made them."""
        with self._step(f"count the {self.connector} API calls"):
            add_api_calls(self._conn, self.connector, counts, day or self._now().date())


class Batches(Cursors):
    """Units of work: a pulled batch, or writes outside one."""

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
        writes: Sequence[Desired] = (),
        results: Sequence[WriteResult] = (),
        *,
        backfill_id: str | None = None,
        api_calls: Mapping[str, int] | None = None,
        reread: Iterable[RecordKey] = (),
        substance: Substance = canonical_json,
        deferred: Sequence[Desired] = (),
    ) -> BatchOutcome:
        """Record a pulled batch after its writes: mirror it, forget the permanent failures of the
        records read again (``reread``), record the write results, keep the ``deferred`` changes
        (carried to a later write call), count the API calls and move the cursor to
        ``batch.cursor``, in one transaction.

        The pipeline calls this once per batch, after ``connector.write`` returned, so the cursor
        moves exactly when the changes it covers are durably recorded: written, failed or deferred.
        ``writes`` may hold changes of earlier batches (carried until a call was full).
        """
        with self.batch(connector, batch.cursor.object_type, backfill_id=backfill_id) as tx:
            tx.mirror(batch.leads, batch.activities, batch.deleted_ids, batch.retired)
            keys = list(reread)
            if keys:
                tx.reread(keys)
            tx.record_writes(writes, results, substance=substance)
            tx.defer(deferred)
            if api_calls:
                tx.add_api_calls(api_calls)
            tx.advance(batch.cursor.value)
        return tx.outcome

    def record_writes(
        self,
        connector: str,
        writes: Sequence[Desired],
        results: Sequence[WriteResult],
        *,
        substance: Substance = canonical_json,
    ) -> BatchOutcome:
        """Record write results outside a pulled batch (a rescore, a retry of failures), in one
        transaction. A sync records its writes with :meth:`record_batch` instead, cursor included."""
        with self._transaction(f"record the {connector} writes") as conn:
            counts = record_writes(conn, self.now(), connector, writes, results, substance)
        return BatchOutcome().plus(**counts)
