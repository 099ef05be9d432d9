"""What leadscore last wrote to each record, and the score history: what the diff compares with,
and the record of what the CRM was told.

:func:`record_writes` records one pass's write results - a success becomes the record's last
written values (and a history entry when they differ in substance from what was recorded), a
failure is kept (:mod:`leadscore.agent.state.failures`) - inside the caller's transaction;
:meth:`WrittenValues.baseline` loads what the diff (:mod:`leadscore.agent.sync.diff`) needs. What
counts as a change is the diff policy's, handed in as ``substance``: the store only loads and saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Hashable, Iterable, Iterator, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from leadscore.agent.core.contract import WriteResult, WriteStatus
from leadscore.agent.state.base import StoreBase
from leadscore.agent.state.canonical import canonical_json, read_json
from leadscore.agent.state.desired import Desired, RecordKey
from leadscore.agent.state.failures import delete_failures, failure_row, keep_failures, load_failures
from leadscore.agent.state.schema import last_written, score_history
from leadscore.agent.state.sql import by_object_type, chunks, sort_key, upsert

#: What of a record's values makes them different values (the diff policy's ``substance``):
#: writes whose values have one substance make one history entry. By default, every value.
Substance = Callable[[Mapping[str, Any]], Hashable]


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
class HistoryEntry:
    """One change of a record's written score, for ``history`` and trend reports."""

    at: datetime
    score: int
    stage: str
    model_version: str
    reason: str | None
    written_to: str | None = None


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the diff compares a set of records with, read in one transaction."""

    #: The values last written, by record (records never written are absent).
    written: Mapping[RecordKey, Mapping[str, Any]]
    #: Kept failed writes, by record: their status and the desired values that failed.
    failed: Mapping[RecordKey, tuple[WriteStatus, Mapping[str, Any]]]


class WrittenValues(StoreBase):
    """The last written values, the baseline of the diff, and the score history."""

    def last_written(self, connector: str, keys: Iterable[RecordKey]) -> dict[RecordKey, Written]:
        """What was last written to each of ``keys`` that has been written at all."""
        with self._transaction("read the last written values", read=True) as conn:
            rows = load_written(conn, connector, keys)
        return {
            key: Written(key, row.written_values, row.model_version, row.written_at, row.written_to)
            for key, row in rows.items()
        }

    def baseline(self, connector: str, keys: Iterable[RecordKey]) -> Baseline:
        """The last written values and kept failures of ``keys``: what the diff compares with.
        Read-only, one short transaction: none is held while the connector writes."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return Baseline({}, {})
        with self._transaction("compare with the last written values", read=True) as conn:
            written = load_written_values(conn, connector, wanted)
            failed = load_failures(conn, connector, wanted)
        return Baseline(written, failed)

    def history_keys(self, record_id: str, connectors: Sequence[str] | None = None) -> list[tuple[str, RecordKey]]:
        """Where ``record_id`` has a score history: ``(connector, key)`` pairs (one id can be a
        Lead in one CRM and a contact in another)."""
        h = score_history
        query = sa.select(h.c.connector, h.c.object_type).where(h.c.record_id == record_id).distinct()
        if connectors is not None:
            query = query.where(h.c.connector.in_(list(connectors)))
        with self._transaction("find a record's score history", read=True) as conn:
            rows = list(conn.execute(query.order_by(h.c.connector, h.c.object_type)))
        return [(r.connector, RecordKey(r.object_type, record_id)) for r in rows]

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


def load_written(conn: Connection, connector: str, keys: Iterable[RecordKey]) -> dict[RecordKey, sa.Row[Any]]:
    """Last-written rows for ``keys``, by primary key."""
    t = last_written
    columns = (t.c.written_values, t.c.model_version, t.c.written_at, t.c.written_to)
    return {RecordKey(object_type, row.record_id): row for object_type, row in _rows(conn, connector, keys, *columns)}


def load_written_values(conn: Connection, connector: str, keys: Iterable[RecordKey]) -> dict[RecordKey, dict[str, Any]]:
    """The last written values of ``keys``, by primary key: what the diff compares with, read
    raw and decoded here (:func:`read_json`) - a nightly rescore reads a million, and the other
    columns' result conversions were a tenth of its reads."""
    raw = sa.type_coerce(last_written.c.written_values, sa.Text)
    return {RecordKey(object_type, record_id): read_json(value)
            for object_type, (record_id, value) in _rows(conn, connector, keys, raw)}


def _rows(conn: Connection, connector: str, keys: Iterable[RecordKey], *columns: Any) -> Iterator[tuple[str, sa.Row[Any]]]:
    """``(object type, row)`` of ``last_written`` for ``keys``: ``record_id`` and ``columns``,
    one ``IN`` query per 500 ids."""
    t = last_written
    selected = (t.c.record_id, *columns)
    for object_type, ids in by_object_type(keys).items():
        for part in chunks(ids):
            query = sa.select(*selected).where(t.c.connector == connector, t.c.object_type == object_type, t.c.record_id.in_(part))
            for row in conn.execute(query):
                yield object_type, row


def record_writes(
    conn: Connection,
    now: datetime,
    connector: str,
    writes: Sequence[Desired],
    results: Sequence[WriteResult],
    substance: Substance = canonical_json,
) -> dict[str, int]:
    """Record one result per write, in order: a success becomes the record's last written values
    (and a history entry when their ``substance`` differs from what was recorded before) and
    clears its failure; a failure is kept, with one more attempt counted, until a later write
    succeeds.

    Compares with what is recorded now, inside this transaction, rather than trusting the diff:
    a batch redone after a crash, or a retried failure that a later sync already wrote, then adds
    no second history entry. Returns the counts of ``written``, ``retryable``, ``permanent``,
    ``history`` and ``unchanged`` (records whose values were already recorded) writes.
    """
    if len(writes) != len(results):
        raise ValueError(f"{len(results)} write results for {len(writes)} changes")
    for desired, result in zip(writes, results, strict=True):
        if desired.record_id != result.record_id:
            raise ValueError(f"write result for {result.record_id} where {desired.record_id} was expected")
    counts = {"written": 0, "retryable": 0, "permanent": 0, "history": 0, "unchanged": 0}
    if not writes:
        return counts
    recorded = load_written_values(conn, connector, [d.key for d in writes])
    current = {key: substance(values) for key, values in recorded.items()}
    written: dict[RecordKey, dict[str, Any]] = {}
    failed: dict[RecordKey, dict[str, Any]] = {}
    history: list[dict[str, Any]] = []
    redirected: dict[RecordKey, dict[str, Any]] = {}
    for desired, result in zip(writes, results, strict=True):
        key = desired.key
        base = {"connector": connector, "object_type": key.object_type, "record_id": key.record_id}
        if result.status is WriteStatus.OK:
            counts["written"] += 1
            stable = substance(desired.stored())
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
                "written_values": desired.stored(),
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
                    "written_values": desired.stored(desired.outgoing),
                    "written_to": None,
                }
            failed.pop(key, None)
        else:
            counts[result.status.value] += 1
            written.pop(key, None)
            failed[key] = failure_row(connector, desired, result.status, result.error_code, result.message, now)
    # A record written directly in this batch wins over values that landed on it by redirection.
    written = {k: v for k, v in redirected.items() if k not in written and k not in failed} | written
    if written:
        t = last_written
        stmt = upsert(conn, t)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.connector, t.c.object_type, t.c.record_id],
            set_={
                name: stmt.excluded[name] for name in ("written_values", "model_version", "written_at", "written_to")
            },
        )
        conn.execute(stmt, [written[k] for k in sorted(written, key=sort_key)])
        delete_failures(conn, connector, written)
    if history:
        conn.execute(sa.insert(score_history), history)
    keep_failures(conn, failed)
    return counts
