"""Outcomes from the CRM (converted, won, lost, disqualified; open deals), one row per record and
source (a deal or opportunity, or ``""`` for the record's own), pulled with each sync from a cursor
of their own (kept in ``cursors`` under the object type ``outcomes``).

Written out in full rather than importing :mod:`agent.state.schema`, so this revision builds the
same table forever.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "outcomes",
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("object_type", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(255), primary_key=True),
        sa.Column("source_id", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("amount", sa.Float, nullable=True),
        sa.Column("estimated", sa.Boolean, nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_outcomes_occurred", "outcomes", ["connector", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_occurred", table_name="outcomes")
    op.drop_table("outcomes")
