"""The mirror: the normalised leads and activities as last pulled, so decay passes, rule changes,
reconciles and previews rescore without a CRM read, and each field's changes over time, so a
model can learn from leads as they looked when they were scored.

A batch writes it (:func:`mirror_batch`, inside the batch's transaction, with the batch's writes
and cursor); a rescore reads it a page at a time (:meth:`Mirror.mirror_leads`), point-in-time
training with the field history (:meth:`Mirror.lead_history`, see :mod:`.history`). It never goes
back: a page holding older data for a lead than the mirror (a backfill behind the live sync)
leaves that lead alone.

A **retired** record (``retired_at``: a converted Salesforce Lead, read-only and merged into its
Contact) stays with its fields, versions and activities, out of :meth:`Mirror.mirror_leads` (so
out of every rescore, reconcile and write) and of the status counts, but in
:meth:`Mirror.lead_history`: its past is what a model learns its conversion from.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from leadscore.agent.core.contract import WriteStatus
from leadscore.agent.core.records import Activity, Lead, ObjectType, utc
from leadscore.agent.state.base import StoreBase
from leadscore.agent.state.canonical import canonical_json, read_json
from leadscore.agent.state.desired import RecordKey
from leadscore.agent.state.history import MirroredHistory, changed_fields, delete_versions, read_versions, record_versions
from leadscore.agent.state.schema import last_written, mirror_leads, write_failures
from leadscore.agent.state import activities as blobs
from leadscore.agent.scoring.columns import ActivityColumns
from leadscore.agent.state.sql import by_object_type, chunks, upsert

T = TypeVar("T")


class MirroredLead(NamedTuple):
    """A mirrored lead with its activities, oldest first: what a rescore feeds the engine.

    The activities stay the stored blob until asked for: a rescore hands a page's blobs to the
    engine as columns (:class:`MirroredActivities`), and never builds them as objects. A
    NamedTuple: a nightly rescore makes a million."""

    lead: Lead
    blob: bytes | None = None
    #: The values last written to the record (``mirror_leads(baseline=True)`` only; None: never
    #: written, or not read).
    written: Mapping[str, Any] | None = None
    #: Its kept failed write, status and the desired values that failed (as :class:`Baseline`).
    failure: tuple[WriteStatus, Mapping[str, Any]] | None = None

    @property
    def activities(self) -> tuple[Activity, ...]:
        return blobs.activities_of(self.lead.id, self.blob)


class MirroredActivities(Mapping[str, Sequence[Activity]]):
    """A page's activities by lead id, as the engine takes them: decoded one lead at a time when
    read as a map, or all at once straight into columns (:meth:`activity_columns`)."""

    def __init__(self, page: Sequence[MirroredLead]) -> None:
        self._blobs = {m.lead.id: m.blob for m in page}

    def __getitem__(self, lead_id: str) -> Sequence[Activity]:
        return blobs.activities_of(lead_id, self._blobs[lead_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)

    def activity_columns(self, lead_ids: Sequence[str], *, types: Iterable[str] | None = None,
                         properties: Iterable[str] = ()) -> ActivityColumns:
        return blobs.columns([self._blobs.get(i) for i in lead_ids], types=types, properties=properties)


@dataclass(frozen=True, slots=True)
class Mirrored:
    """What :func:`mirror_batch` did."""

    mirrored: int
    stale: int
    activities: int
    deleted: int
    #: Field versions written (fields that changed, or were first seen).
    versions: int = 0
    #: Records retired (kept as history, out of the scored set).
    retired: int = 0


class Mirror(StoreBase):
    """Reading the mirror."""

    def mirror_leads(
        self, connector: str, object_type: ObjectType | None = None, *, page_size: int = 1000, baseline: bool = False,
    ) -> Iterator[MirroredLead]:
        """Every mirrored lead of ``connector`` (of one object type, or all), with its activities
        oldest first: what a rescore feeds the engine, at no CRM cost. With ``baseline``, each
        comes with what the diff compares its scores with (:attr:`MirroredLead.written`,
        :attr:`MirroredLead.failure`), joined in by the same query: a nightly rescore then reads
        a million leads and their last written values with no second query per page.

        Reads a page at a time (keyset paging on the primary key), each in its own short
        transaction, so a slow consumer holds no transaction open; run it under the connector's
        lease so no sync changes the mirror meanwhile.
        """
        if not baseline:
            return self._mirror_pages(connector, object_type, page_size, "read the mirror",
                                      lambda conn, rows, keys: _mirrored(conn, connector, rows), retired=False)
        m, w, f = mirror_leads, last_written, write_failures
        query = (
            sa.select(*LEAD_COLUMNS, sa.type_coerce(w.c.written_values, sa.Text).label("written"), f.c.status,
                      sa.type_coerce(f.c.desired_values, sa.Text).label("failed"))
            .select_from(m)
            .outerjoin(w, sa.and_(w.c.connector == m.c.connector, w.c.object_type == m.c.object_type, w.c.record_id == m.c.lead_id))
            .outerjoin(f, sa.and_(f.c.connector == m.c.connector, f.c.object_type == m.c.object_type, f.c.record_id == m.c.lead_id))
        )

        def load(conn: Connection, rows: list[Any], keys: list[tuple[str, str]]) -> list[MirroredLead]:
            return [
                MirroredLead(_lead(*row[:6]), row.activities, None if row.written is None else read_json(row.written),
                             None if row.status is None else (WriteStatus(row.status), read_json(row.failed)))
                for row in rows
            ]

        return self._mirror_pages(connector, object_type, page_size, "read the mirror", load, retired=False, query=query)

    def _mirror_pages(
        self, connector: str, object_type: ObjectType | None, page_size: int, doing: str,
        load: Callable[[Connection, list[Any], list[tuple[str, str]]], list[T]], *, retired: bool = True,
        query: sa.Select[Any] | None = None,
    ) -> Iterator[T]:
        """The mirror's leads a page at a time (keyset paging on the primary key): ``load`` turns
        a page's rows and keys into results in the page's own short read transaction (reading what
        goes with them, activities or versions), and they are yielded after it ends, so no slow
        consumer holds a transaction open. ``query``: what to select (default: :data:`LEAD_COLUMNS`)."""
        m = mirror_leads
        base = query if query is not None else sa.select(*LEAD_COLUMNS)
        after: tuple[str, str] | None = None
        while True:
            query = base.where(m.c.connector == connector).order_by(m.c.object_type, m.c.lead_id).limit(page_size)
            if object_type is not None:
                query = query.where(m.c.object_type == object_type)
            if not retired:
                query = query.where(m.c.retired_at.is_(None))
            if after is not None:
                query = query.where(sa.tuple_(m.c.object_type, m.c.lead_id) > sa.tuple_(*after))
            with self._transaction(doing, read=True) as conn:
                rows = conn.execute(query).all()
                keys = [(row[0], row[1]) for row in rows]  # object_type, lead_id: LEAD_COLUMNS lead
                page = load(conn, rows, keys)
            yield from page
            if len(rows) < page_size:
                return
            after = keys[-1]

    def mirror_lead(self, connector: str, key: RecordKey) -> MirroredLead | None:
        """One mirrored lead with its activities (for ``explain``), or None."""
        m = mirror_leads
        with self._transaction("read the mirror", read=True) as conn:
            row = conn.execute(
                sa.select(*LEAD_COLUMNS).where(
                    m.c.connector == connector, m.c.object_type == key.object_type, m.c.lead_id == key.record_id
                )
            ).first()
            return _mirrored(conn, connector, [row])[0] if row is not None else None

    def mirror_records(self, connector: str, keys: Sequence[RecordKey]) -> dict[RecordKey, MirroredLead]:
        """The live mirrored records of ``keys`` with their activities (missing and retired ones
        left out): the accounts a page of people joins, the accounts a roll-up scores."""
        m = mirror_leads
        found: dict[RecordKey, MirroredLead] = {}
        with self._transaction("read the mirror", read=True) as conn:
            for object_type, ids in by_object_type(keys).items():
                for part in chunks(ids):
                    rows = list(conn.execute(sa.select(*LEAD_COLUMNS).where(
                        m.c.connector == connector, m.c.object_type == object_type, m.c.lead_id.in_(part),
                        m.c.retired_at.is_(None))))
                    found.update({RecordKey(r.lead.object_type, r.lead.id): r for r in _mirrored(conn, connector, rows)})
        return found

    def mirror_members(self, connector: str, account_ids: Sequence[str]) -> dict[str, list[MirroredLead]]:
        """The live people of each account in ``account_ids`` (by :attr:`Lead.account_id`), with
        their activities: what an account's roll-up reads."""
        m = mirror_leads
        found: dict[str, list[MirroredLead]] = defaultdict(list)
        with self._transaction("read the mirror", read=True) as conn:
            for part in chunks(sorted(set(account_ids))):
                rows = list(conn.execute(
                    sa.select(*LEAD_COLUMNS).where(m.c.connector == connector, m.c.account_id.in_(part), m.c.retired_at.is_(None))
                    .order_by(m.c.object_type, m.c.lead_id)))
                for person in _mirrored(conn, connector, rows):
                    found[str(person.lead.account_id)].append(person)
        return dict(found)

    def account_ids(self, connector: str, keys: Sequence[RecordKey]) -> dict[RecordKey, str]:
        """The account each of ``keys`` belongs to in the mirror (those with one): what a person
        pulled again belonged to before, so the account it left is rolled up again too."""
        m = mirror_leads
        found: dict[RecordKey, str] = {}
        with self._transaction("read the mirror", read=True) as conn:
            for object_type, ids in by_object_type(keys).items():
                for part in chunks(ids):
                    for row in conn.execute(sa.select(m.c.lead_id, m.c.account_id).where(
                            m.c.connector == connector, m.c.object_type == object_type, m.c.lead_id.in_(part),
                            m.c.account_id.is_not(None))):
                        found[RecordKey(object_type, row.lead_id)] = row.account_id
        return found

    def lead_history(
        self, connector: str, object_type: ObjectType | None = None, *, page_size: int = 500
    ) -> Iterator[MirroredHistory]:
        """Every mirrored lead of ``connector`` (of one object type, or all) over time: the lead
        as last pulled, its field versions and its activities, each oldest first. What the
        point-in-time training builder reads to see a lead as it was at any instant. Retired
        records are included: a converted Lead's past is what a model learns conversion from.

        Pages like :meth:`mirror_leads` (keyset paging, one short read transaction a page).
        """
        def load(conn: Connection, rows: list[Any], keys: list[tuple[str, str]]) -> list[MirroredHistory]:
            versions = read_versions(conn, connector, keys)
            return [MirroredHistory(_lead(*row[:6]), tuple(versions.get(key, ())), blobs.activities_of(row.lead_id, row.activities))
                    for row, key in zip(rows, keys)]

        return self._mirror_pages(connector, object_type, page_size, "read the field history", load)


def activity_key(activity: Activity) -> str:
    """The natural key of an activity (type, instant, properties): an event pulled twice, by an
    overlapping window or a retried batch, is stored once. Two identical events at the same
    microsecond are one event."""
    text = canonical_json([activity.type, utc(activity.occurred_at), activity.properties])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def mirror_batch(
    conn: Connection,
    now: datetime,
    connector: str,
    object_type: str,
    leads: Sequence[Lead],
    activities: Sequence[Activity] = (),
    deleted_ids: Sequence[str] = (),
    retired: Sequence[Lead] = (),
) -> Mirrored:
    """Upsert ``leads`` with exactly their ``activities`` (a connector reads a pulled lead's
    activities whole), add activities of leads not in the batch, remove ``deleted_ids`` and
    their activities, and mark ``retired`` leads retired: kept with their history (one the
    mirror never held is added with the fields it was read with; one it holds keeps its fields
    and activities), out of every rescore. A retired record pulled again as a lead is live
    again. A lead the mirror holds newer data for keeps it."""
    mirrored, stale, fresh_ids, stale_ids, versions = _upsert_leads(conn, now, connector, object_type, leads)
    stored = _replace_activities(conn, connector, object_type, activities, fresh_ids, stale_ids)
    deleted = _delete(conn, connector, object_type, list(dict.fromkeys(deleted_ids)))
    retiring = list({lead.id: lead for lead in retired}.values())
    unknown = _unknown(conn, connector, object_type, [lead.id for lead in retiring])
    if unknown:
        _, _, _, _, added = _upsert_leads(conn, now, connector, object_type, [lead for lead in retiring if lead.id in unknown])
        versions += added
    gone = _retire(conn, now, connector, object_type, [lead.id for lead in retiring])
    return Mirrored(mirrored=mirrored, stale=stale, activities=stored, deleted=deleted, versions=versions, retired=gone)


def _unknown(conn: Connection, connector: str, object_type: str, ids: list[str]) -> set[str]:
    """Which of ``ids`` the mirror does not hold."""
    t = mirror_leads
    held: set[str] = set()
    for part in chunks(ids):
        held.update(conn.execute(sa.select(t.c.lead_id).where(
            t.c.connector == connector, t.c.object_type == object_type, t.c.lead_id.in_(part))).scalars())
    return set(ids) - held


def _retire(conn: Connection, now: datetime, connector: str, object_type: str, ids: list[str]) -> int:
    retired = 0
    t = mirror_leads
    for part in chunks(ids):
        result = conn.execute(
            sa.update(t)
            .where(t.c.connector == connector, t.c.object_type == object_type, t.c.lead_id.in_(part), t.c.retired_at.is_(None))
            .values(retired_at=now)
        )
        retired += result.rowcount
    return retired


def _upsert_leads(
    conn: Connection, now: datetime, connector: str, object_type: str, leads: Sequence[Lead]
) -> tuple[int, int, list[str], set[str], int]:
    """Upsert the fresh leads and write their changed fields' versions; the counts, the fresh
    ids, the stale ids and how many versions were written."""
    t = mirror_leads
    latest = {lead.id: lead for lead in leads}  # the last of duplicates wins
    ids = sorted(latest)
    known: dict[str, datetime | None] = {}
    held_fields: dict[str, dict[str, Any]] = {}
    for part in chunks(ids):
        rows = conn.execute(
            sa.select(t.c.lead_id, t.c.updated_at, t.c.fields).where(
                t.c.connector == connector, t.c.object_type == object_type, t.c.lead_id.in_(part)
            )
        )
        for row in rows:
            known[row.lead_id] = row.updated_at
            held_fields[row.lead_id] = row.fields or {}
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
        stmt = upsert(conn, t)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.connector, t.c.object_type, t.c.lead_id],
            set_={
                "fields": stmt.excluded.fields,
                "created_at": sa.func.coalesce(stmt.excluded.created_at, t.c.created_at),
                "updated_at": stmt.excluded.updated_at,
                "mirrored_at": stmt.excluded.mirrored_at,
                "retired_at": None,  # pulled again: live again
                "account_id": stmt.excluded.account_id,
            },
        )
        conn.execute(
            stmt,
            [
                {
                    "connector": connector,
                    "object_type": object_type,
                    "lead_id": lead_id,
                    "fields": dict(latest[lead_id].fields),
                    "created_at": latest[lead_id].created_at,
                    "updated_at": latest[lead_id].updated_at,
                    "mirrored_at": now,
                    "account_id": latest[lead_id].account_id,
                }
                for lead_id in fresh
            ],
        )
    changes = [
        (lead_id, utc(latest[lead_id].updated_at) if latest[lead_id].updated_at is not None else now, changed)
        for lead_id in fresh
        if (changed := changed_fields(held_fields.get(lead_id), latest[lead_id].fields or {}))
    ]
    versions = record_versions(conn, connector, object_type, changes)
    return len(fresh), len(stale), fresh, stale, versions


def _replace_activities(
    conn: Connection,
    connector: str,
    object_type: str,
    activities: Sequence[Activity],
    fresh_ids: list[str],
    stale_ids: set[str],
) -> int:
    """Give each fresh lead exactly its activities in the batch, and add the others to the
    mirrored leads they belong to; write only the leads whose set changed. How many activities
    were new to the mirror."""
    t = mirror_leads
    fresh = set(fresh_ids)
    by_lead: dict[str, list[Activity]] = defaultdict(list)
    for activity in activities:
        if activity.lead_id not in stale_ids:
            by_lead[activity.lead_id].append(activity)
    ids = sorted(fresh | set(by_lead))
    held: dict[str, tuple[bytes | None, int]] = {}
    for part in chunks(ids):
        for row in conn.execute(sa.select(t.c.lead_id, t.c.activities, t.c.activity_count).where(
                t.c.connector == connector, t.c.object_type == object_type, t.c.lead_id.in_(part))):
            held[row.lead_id] = (row.activities, row.activity_count)
    changed: list[dict[str, Any]] = []
    added = 0
    for lead_id in ids:
        if lead_id not in held:
            continue  # not mirrored: its activities come with it when it is pulled
        before, count_before = held[lead_id]
        if lead_id in fresh:
            blob, count = blobs.encode(by_lead.get(lead_id, ()))
        else:
            blob, count = blobs.merge(before, by_lead[lead_id])
        if blob != (before or blobs.EMPTY):
            changed.append({"k_lead": lead_id, "activities": blob, "activity_count": count})
            if before is None:
                added += count
            elif lead_id in fresh:
                added += len(_new_items(before, blob))
            else:
                added += count - count_before
    if changed:
        conn.execute(
            sa.update(t).where(t.c.connector == connector, t.c.object_type == object_type,
                               t.c.lead_id == sa.bindparam("k_lead")),
            changed,
        )
    return added


def _new_items(before: bytes | None, after: bytes) -> list[Any]:
    """The activities in ``after`` that ``before`` did not hold."""
    held = {blobs.item_key(entry) for entry in blobs.decode(before)}
    return [entry for entry in blobs.decode(after) if blobs.item_key(entry) not in held]


def _delete(conn: Connection, connector: str, object_type: str, ids: list[str]) -> int:
    deleted = 0
    delete_versions(conn, connector, object_type, ids)
    for part in chunks(ids):
        t = mirror_leads
        result = conn.execute(
            sa.delete(t).where(t.c.connector == connector, t.c.object_type == object_type, t.c.lead_id.in_(part))
        )
        deleted += result.rowcount
    return deleted


#: The columns a mirrored lead is read from, its JSON and times as the driver returns them:
#: :func:`_lead` decodes them. A nightly rescore reads a million rows, and SQLAlchemy's result
#: conversions (two layers for a UTC time) cost more than the decoding itself.
LEAD_COLUMNS = (
    mirror_leads.c.object_type,
    mirror_leads.c.lead_id,
    sa.type_coerce(mirror_leads.c.fields, sa.Text).label("fields"),
    sa.type_coerce(mirror_leads.c.created_at, sa.Text).label("created_at"),
    sa.type_coerce(mirror_leads.c.updated_at, sa.Text).label("updated_at"),
    mirror_leads.c.account_id,
    mirror_leads.c.activities,
)


def _mirrored(conn: Connection, connector: str, rows: Sequence[sa.Row[Any]]) -> list[MirroredLead]:
    """Mirror rows as leads with their activities, oldest first."""
    return [MirroredLead(_lead(*row[:6]), row.activities) for row in rows]


def _lead(kind: Any, lead_id: str, fields: Any, created: Any, updated: Any, account_id: str | None) -> Lead:
    """A lead from the first six columns of :data:`LEAD_COLUMNS`, as the driver returns them."""
    return Lead(lead_id, kind, read_json(fields), _moment(created), _moment(updated), (), account_id)


def _moment(value: Any) -> datetime | None:
    """A stored UTC time as the driver returns it (SQLite: naive UTC text; PostgreSQL: an aware
    datetime), as an aware UTC datetime: :class:`~leadscore.agent.state.schema.UTCDateTime`'s
    reading, without its two layers of result conversion."""
    if value is None:
        return None
    if value.__class__ is str:
        return datetime.fromisoformat(value + "+00:00")  # six times faster than .replace(tzinfo=...)
    return cast(datetime, value).astimezone(timezone.utc)
