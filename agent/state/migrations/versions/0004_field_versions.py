"""Field history of the mirror: one row per field per change, with the time it was observed, so a
model learns from leads as they looked when they were scored (point-in-time training).

The mirror's current fields become each lead's first versions, observed at the lead's
``updated_at`` (else when it was mirrored): later syncs write only what changes from them, so
without this seed a store upgraded with a full mirror would have no baseline to compare with.

Written out in full rather than importing :mod:`agent.state.schema`, so this revision builds the
same table forever, whatever the schema module later becomes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any, Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = 255
NAME = 64
#: Mirror rows read (and their versions written) per round trip while seeding.
_PAGE = 1000


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    versions = op.create_table(
        "mirror_field_versions",
        sa.Column("connector", sa.String(NAME), primary_key=True),
        sa.Column("object_type", sa.String(NAME), primary_key=True),
        sa.Column("lead_id", sa.String(ID), primary_key=True),
        sa.Column("field", sa.String(ID), primary_key=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("value", _json(), nullable=True),
    )
    assert versions is not None
    _seed(versions)


def _seed(versions: sa.Table) -> None:
    """Each mirrored lead's current fields as its first versions, a page at a time (keyset
    paging on the mirror's primary key). Times pass through as stored: both tables keep them in
    the same form."""
    leads = sa.table(
        "mirror_leads",
        sa.column("connector", sa.String),
        sa.column("object_type", sa.String),
        sa.column("lead_id", sa.String),
        sa.column("fields", _json()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("mirrored_at", sa.DateTime(timezone=True)),
    )
    conn = op.get_bind()
    key = (leads.c.connector, leads.c.object_type, leads.c.lead_id)
    after: tuple[Any, ...] | None = None
    while True:
        query = sa.select(leads).order_by(*key).limit(_PAGE)
        if after is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        rows = list(conn.execute(query))
        batch = [
            {
                "connector": row.connector,
                "object_type": row.object_type,
                "lead_id": row.lead_id,
                "field": name,
                "observed_at": row.updated_at if row.updated_at is not None else row.mirrored_at,
                "value": value,
            }
            for row in rows
            for name, value in sorted(dict(row.fields or {}).items())
        ]
        if batch:
            conn.execute(versions.insert(), batch)
        if len(rows) < _PAGE:
            return
        after = (rows[-1].connector, rows[-1].object_type, rows[-1].lead_id)


def downgrade() -> None:
    op.drop_table("mirror_field_versions")
