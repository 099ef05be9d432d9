"""What became of CRM records - converted, won, lost, disqualified - as the connectors report it
(:class:`leadscore.agent.core.records.Outcome`), kept for training and for comparing models.

One row per record and **source**: a deal or opportunity of the record (its CRM id: ``open``,
``won`` or ``lost``, with its amount and creation), or the record itself (``source_id`` ``""``: a
Lead converted, a lifecycle stage reached, a lead status). That natural key is what makes a pull
safe to repeat: an outcome pulled again (the overlap a connector re-reads, a batch redone after a
crash) updates its row or leaves it alone, never adds one, and an outcome that changed in the CRM
(a deal's close date or amount edited, a lost deal won after all, a won deal reopened: ``open``
again, counted ``withdrawn``) is the row's new state. An outcome the CRM does not date
(``estimated``: a lead status, dated by the record's modification stamp when seen) keeps the
earliest date seen for the same kind, since every later sighting can only be later. Labels are
the decided rows: ``kind != "open"``.

The sync records each pulled batch of outcomes, its API calls and the outcome cursor (kept in
``cursors`` under :data:`leadscore.agent.core.contract.OUTCOMES`) in one transaction, as it records
record batches: a crash re-pulls at most one batch, and never skips one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from leadscore.agent.core.contract import Cursor
from leadscore.agent.core.records import ObjectType, Outcome, OutcomeKind, utc
from leadscore.agent.state.base import StoreBase
from leadscore.agent.state.cursors import advance
from leadscore.agent.state.schema import outcomes as outcome_rows
from leadscore.agent.state.sql import chunks, count_by
from leadscore.agent.state.usage import add_api_calls

#: ``source_id`` of a record's own outcome (not decided by a deal or opportunity).
OWN = ""

_Key = tuple[str, str, str]  # object type, record id, source id


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """One row of the outcome table: an outcome as the store holds it."""

    connector: str
    object_type: ObjectType
    record_id: str
    #: The deal or opportunity that decided it; None for the record's own outcome.
    source_id: str | None
    kind: OutcomeKind
    occurred_at: datetime | None
    amount: float | None
    estimated: bool
    detail: str | None
    #: When the deal or opportunity was created (None for the record's own outcome).
    started_at: datetime | None
    #: When the store first held this outcome, and when it last changed.
    observed_at: datetime
    updated_at: datetime

    def outcome(self) -> Outcome:
        """Back to the core record (what the trainers take)."""
        return Outcome.of(self.kind, self.record_id, self.object_type, self.occurred_at, amount=self.amount,
                          source_id=self.source_id, detail=self.detail, estimated=self.estimated,
                          started_at=self.started_at)


@dataclass(frozen=True, slots=True)
class OutcomeCounts:
    """What recording one batch of outcomes did."""

    #: Rows added, rows whose outcome changed, outcomes already held as they are, and of the
    #: changed ones those a deal reopened turned back to ``open`` (a decision the CRM withdrew).
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    withdrawn: int = 0

    @property
    def recorded(self) -> int:
        """Rows added or changed."""
        return self.new + self.changed

    def as_counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def plus(self, other: OutcomeCounts) -> OutcomeCounts:
        return OutcomeCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class Outcomes(StoreBase):
    """Recording and reading outcomes."""

    def record_outcomes(
        self,
        connector: str,
        outcomes: Iterable[Outcome],
        *,
        cursor: Cursor | None = None,
        api_calls: Mapping[str, int] | None = None,
    ) -> OutcomeCounts:
        """Record a batch of pulled outcomes (see the module docstring), count the API calls that
        pulled them and move ``cursor.object_type``'s cursor to ``cursor.value``, in one
        transaction."""
        batch = list(outcomes)
        with self._transaction(f"record the {connector} outcomes") as conn:
            counts = record_outcomes(conn, self.now(), connector, batch)
            if api_calls:
                add_api_calls(conn, connector, api_calls, self.now().date())
            if cursor is not None:
                advance(conn, self.now(), connector, cursor.object_type, None, cursor.value)
        return counts

    def outcomes(
        self,
        connector: str,
        since: datetime | None = None,
        *,
        object_type: ObjectType | None = None,
        observed_since: datetime | None = None,
        kinds: Iterable[OutcomeKind | str] | None = None,
    ) -> list[StoredOutcome]:
        """``connector``'s outcomes, oldest first (undated ones - open deals - last): those that
        occurred at or after ``since``, of ``kinds`` (the labels: every kind but ``open``) and,
        given ``observed_since``, that the store first held at or after it (outcomes that arrived
        after a challenger started)."""
        t = outcome_rows
        query = sa.select(t).where(t.c.connector == connector)
        if kinds is not None:
            query = query.where(t.c.kind.in_(sorted({OutcomeKind(k).value for k in kinds})))
        if since is not None:
            query = query.where(t.c.occurred_at >= utc(since))
        if observed_since is not None:
            query = query.where(t.c.observed_at >= utc(observed_since))
        if object_type is not None:
            query = query.where(t.c.object_type == object_type)
        query = query.order_by(t.c.occurred_at.is_(None), t.c.occurred_at, t.c.object_type, t.c.record_id, t.c.source_id)
        with self._transaction("read outcomes", read=True) as conn:
            return [stored_outcome(row) for row in conn.execute(query)]

    def outcome_counts(self, connector: str) -> dict[str, int]:
        """``connector``'s outcomes per kind (``leadscore status``)."""
        t = outcome_rows
        with self._transaction("count outcomes", read=True) as conn:
            return count_by(conn, t, t.c.kind, t.c.connector == connector)


def record_outcomes(conn: Connection, now: datetime, connector: str, outcomes: Sequence[Outcome]) -> OutcomeCounts:
    """Upsert ``outcomes`` by their natural key inside the caller's transaction; the counts."""
    t = outcome_rows
    existing = _existing(conn, connector, outcomes)
    inserts: dict[_Key, dict[str, Any]] = {}
    updates: dict[_Key, dict[str, Any]] = {}
    new = changed = unchanged = withdrawn = 0
    for outcome in outcomes:
        key = _key(outcome)
        held = existing.get(key)
        row = _values(outcome, held)
        if held is not None and all(held[name] == row[name] for name in row):
            unchanged += 1
            continue
        if key in inserts:
            inserts[key].update(row)  # the same outcome twice in one batch: still one new row
        elif held is None:
            inserts[key] = {**row, "observed_at": now, "updated_at": now}
            new += 1
        else:
            updates[key] = {**updates.get(key, {}), **row, "updated_at": now}
            changed += 1
            if row["kind"] == OutcomeKind.OPEN.value and held["kind"] != OutcomeKind.OPEN.value:
                withdrawn += 1
        existing[key] = {**(held or {}), **row}
    if inserts:
        conn.execute(sa.insert(t), [{"connector": connector, **_key_columns(key), **row}
                                    for key, row in sorted(inserts.items())])
    for key, row in sorted(updates.items()):
        conn.execute(sa.update(t).where(*_match(connector, key)).values(**row))
    return OutcomeCounts(new=new, changed=changed, unchanged=unchanged, withdrawn=withdrawn)


def _key(outcome: Outcome) -> _Key:
    return (outcome.object_type, str(outcome.lead_id), str(outcome.source_id) if outcome.source_id else OWN)


def _key_columns(key: _Key) -> dict[str, str]:
    return {"object_type": key[0], "record_id": key[1], "source_id": key[2]}


def _match(connector: str, key: _Key) -> list[sa.ColumnElement[bool]]:
    t = outcome_rows
    return [t.c.connector == connector, t.c.object_type == key[0], t.c.record_id == key[1], t.c.source_id == key[2]]


def _existing(conn: Connection, connector: str, outcomes: Sequence[Outcome]) -> dict[_Key, dict[str, Any]]:
    """The rows held for the records of ``outcomes``, by key: one query per 500 record ids."""
    t = outcome_rows
    wanted = {_key(o) for o in outcomes}
    found: dict[_Key, dict[str, Any]] = {}
    for part in chunks(sorted({key[1] for key in wanted})):
        rows = conn.execute(sa.select(t).where(t.c.connector == connector, t.c.record_id.in_(part)))
        for row in rows:
            key = (row.object_type, row.record_id, row.source_id)
            if key in wanted:
                found[key] = {"kind": row.kind, "occurred_at": row.occurred_at, "amount": row.amount,
                              "estimated": bool(row.estimated), "detail": row.detail, "started_at": row.started_at}
    return found


def _values(outcome: Outcome, held: Mapping[str, Any] | None) -> dict[str, Any]:
    """The row's outcome columns for ``outcome``: an estimated date never moves later than the one
    already held for the same kind (every later sighting of a lead status is later)."""
    when = utc(outcome.occurred_at) if outcome.occurred_at is not None else None
    estimated = outcome.estimated
    if outcome.estimated and held is not None and held["kind"] == outcome.kind.value and held["occurred_at"] is not None:
        if when is None or held["occurred_at"] <= when:
            when, estimated = held["occurred_at"], bool(held["estimated"])
    amount = outcome.amount
    if amount is not None:
        try:
            amount = float(amount)
        except (TypeError, ValueError):
            amount = None
        if amount is not None and not math.isfinite(amount):
            amount = None
    started = utc(outcome.started_at) if outcome.started_at is not None else None
    return {"kind": outcome.kind.value, "occurred_at": when, "amount": amount, "estimated": estimated,
            "detail": outcome.detail, "started_at": started}


def stored_outcome(row: sa.Row[Any]) -> StoredOutcome:
    return StoredOutcome(
        connector=row.connector,
        object_type=row.object_type,
        record_id=row.record_id,
        source_id=row.source_id or None,
        kind=OutcomeKind(row.kind),
        occurred_at=row.occurred_at,
        amount=row.amount,
        estimated=bool(row.estimated),
        detail=row.detail,
        started_at=row.started_at,
        observed_at=row.observed_at,
        updated_at=row.updated_at,
    )
