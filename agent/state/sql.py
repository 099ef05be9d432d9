"""The few SQL building blocks every concern of the store shares: the dialect's upsert, ``IN``
lists cut to a safe size, and grouped counts.

Every statement the store runs is a bulk one - a 1,000-record batch is a handful of ``INSERT ...
ON CONFLICT`` executemany calls and ``IN`` lists of at most :data:`IN_CHUNK` ids - on SQLite and
PostgreSQL alike; these helpers are how each concern's module keeps to that.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Iterator, Sequence, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from leadscore.agent.state.desired import RecordKey

#: Ids per ``IN`` list: far inside SQLite's variable limit and PostgreSQL's comfortable plan size.
IN_CHUNK = 500

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's ``INSERT`` with ``ON CONFLICT`` (SQLite and PostgreSQL share its API)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def by_object_type(keys: Iterable[RecordKey]) -> dict[str, list[str]]:
    """Record ids grouped by object type, each once, in first-seen order."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        grouped[key.object_type].append(key.record_id)
    return grouped


def sort_key(key: RecordKey) -> tuple[str, str]:
    """Rows go in key order: two writers on PostgreSQL then lock shared rows in one order."""
    return (key.object_type, key.record_id)


def count_by(conn: Connection, table: sa.Table, column: sa.Column[Any], where: sa.ColumnElement[bool]) -> dict[str, int]:
    """``table``'s rows matching ``where``, counted per value of ``column``: one grouped query."""
    rows = conn.execute(sa.select(column, sa.func.count()).select_from(table).where(where).group_by(column))
    return {str(value): int(count) for value, count in rows}


def rows_of_leads(
    conn: Connection, table: sa.Table, connector: str, leads: Sequence[tuple[str, str]],
    columns: Sequence[sa.Column[Any]], order_by: Sequence[sa.Column[Any]],
) -> Iterator[tuple[str, Any]]:
    """``(object type, row)`` of ``table`` for the given (object type, lead id) pairs, an ``IN``
    list at a time per object type, ordered by lead id then ``order_by``: how the per-lead
    tables (activities, field versions) are read for a page of mirrored leads."""
    t = table
    grouped: dict[str, list[str]] = defaultdict(list)
    for object_type, lead_id in leads:
        grouped[object_type].append(lead_id)
    for object_type, ids in grouped.items():
        for part in chunks(ids):
            query = (
                sa.select(t.c.lead_id, *columns)
                .where(t.c.connector == connector, t.c.object_type == object_type, t.c.lead_id.in_(part))
                .order_by(t.c.lead_id, *order_by)
            )
            for row in conn.execute(query):
                yield object_type, row
