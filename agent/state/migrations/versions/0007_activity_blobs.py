"""A leaner mirror. Activities kept whole on their lead's row: one compressed JSON blob per mirrored record
(``mirror_leads.activities``, with ``activity_count``) instead of a row per activity.

The rows move into blobs here, lead by lead, in the format :mod:`leadscore.agent.state.activities`
writes (zlib of an orjson object of columns, ``type``, ``at`` in microseconds since the epoch and
one per property name under ``properties``, oldest first, keys sorted); the format is spelled out below rather than imported, so this revision
writes the same bytes forever. Downgrading moves them back into rows.

On SQLite, the field history (a row per field per change) becomes a ``WITHOUT ROWID`` table: its
rows live in their primary key's b-tree instead of beside a copy of it, half the bytes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
import json
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence, Union

import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NAME, ID = 64, 255
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _aware(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _text(entry: list[Any]) -> bytes:
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def upgrade() -> None:
    with op.batch_alter_table("mirror_leads") as batch:
        batch.add_column(sa.Column("activities", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("activity_count", sa.Integer, nullable=False, server_default="0"))
    bind = op.get_bind()
    leads = sa.table("mirror_leads", sa.column("connector"), sa.column("object_type"), sa.column("lead_id"),
                     sa.column("activities"), sa.column("activity_count"))
    rows = bind.execute(sa.text(
        "SELECT connector, object_type, lead_id, type, occurred_at, properties FROM mirror_activities "
        "ORDER BY connector, object_type, lead_id"))
    current: tuple[str, str, str] | None = None
    items: dict[bytes, tuple[str, int, Any]] = {}

    def flush() -> None:
        if current is None:
            return
        ordered = [items[text] for text in sorted(items, key=lambda text: (items[text][1], text))]
        names = sorted({str(k) for e in ordered for k in e[2]})
        props = [{str(k): v for k, v in e[2].items()} for e in ordered]
        body = {"type": [e[0] for e in ordered], "at": [e[1] for e in ordered],
                "properties": {name: [p.get(name) for p in props] for name in names}}
        blob = zlib.compress(orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS), 1)
        bind.execute(sa.update(leads).where(leads.c.connector == current[0], leads.c.object_type == current[1],
                                            leads.c.lead_id == current[2]).values(activities=blob, activity_count=len(ordered)))

    for row in rows:
        key = (row.connector, row.object_type, row.lead_id)
        if key != current:
            flush()
            current, items = key, {}
        micros = (_aware(row.occurred_at) - EPOCH) // timedelta(microseconds=1)
        props = {k: v for k, v in (_json(row.properties) or {}).items() if v is not None}
        items[_text([row.type, micros, props])] = (row.type, micros, props)
    flush()
    op.drop_table("mirror_activities")
    _field_versions(with_rowid=False)


def _field_versions(*, with_rowid: bool) -> None:
    """Rebuild the field history table on SQLite, with or without a rowid, rows and all."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        "mirror_field_versions_new",
        sa.Column("connector", sa.String(NAME), primary_key=True),
        sa.Column("object_type", sa.String(NAME), primary_key=True),
        sa.Column("lead_id", sa.String(ID), primary_key=True),
        sa.Column("field", sa.String(ID), primary_key=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("value", sa.JSON, nullable=True),
        sqlite_with_rowid=with_rowid,
    )
    op.execute("INSERT INTO mirror_field_versions_new (connector, object_type, lead_id, field, observed_at, value) "
               "SELECT connector, object_type, lead_id, field, observed_at, value FROM mirror_field_versions")
    op.drop_table("mirror_field_versions")
    op.rename_table("mirror_field_versions_new", "mirror_field_versions")


def downgrade() -> None:
    _field_versions(with_rowid=True)
    op.create_table(
        "mirror_activities",
        sa.Column("connector", sa.String(NAME), primary_key=True),
        sa.Column("object_type", sa.String(NAME), primary_key=True),
        sa.Column("lead_id", sa.String(ID), primary_key=True),
        sa.Column("activity_key", sa.String(NAME), primary_key=True),
        sa.Column("type", sa.String(NAME), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
    )
    bind = op.get_bind()
    target = sa.table("mirror_activities", sa.column("connector"), sa.column("object_type"), sa.column("lead_id"),
                      sa.column("activity_key"), sa.column("type"), sa.column("occurred_at"), sa.column("properties", sa.JSON))
    for row in bind.execute(sa.text("SELECT connector, object_type, lead_id, activities FROM mirror_leads "
                                    "WHERE activities IS NOT NULL")).fetchall():
        out = []
        body = json.loads(zlib.decompress(row.activities))
        columns = body["properties"].items()
        for j, (kind, micros) in enumerate(zip(body["type"], body["at"])):
            props = {name: values[j] for name, values in columns if values[j] is not None}
            occurred = EPOCH + timedelta(microseconds=micros)
            text = json.dumps([kind, occurred.isoformat(), props], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            out.append({"connector": row.connector, "object_type": row.object_type, "lead_id": row.lead_id,
                        "activity_key": hashlib.sha256(text.encode()).hexdigest()[:32], "type": kind,
                        "occurred_at": occurred, "properties": props})
        if out:
            bind.execute(sa.insert(target), out)
    with op.batch_alter_table("mirror_leads") as batch:
        batch.drop_column("activity_count")
        batch.drop_column("activities")
