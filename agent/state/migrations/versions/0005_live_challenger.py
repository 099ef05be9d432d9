"""The live challenger: its shadow scores, and the history of models (trained, challenging,
promoted, retired). And retired mirror records: a record that left the set the agent scores and
writes (a converted Salesforce Lead, read-only and merged into its Contact) keeps its mirror row,
activities and field versions, marked ``retired_at``, so its history still makes training rows
(before this revision such records were deleted from the mirror).

Written out in full rather than importing :mod:`agent.state.schema`, so this revision builds the
same tables forever, whatever the schema module later becomes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = 255
NAME = 64
#: A 64-bit autoincrement id (SQLite autoincrements only ``INTEGER PRIMARY KEY``) and JSON
#: (``jsonb`` on PostgreSQL), as the schema module types them.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "shadow_scores",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("connector", sa.String(NAME), nullable=False),
        sa.Column("object_type", sa.String(NAME), nullable=False),
        sa.Column("record_id", sa.String(ID), nullable=False),
        sa.Column("model_version", sa.String(NAME), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
    )
    op.create_index("ix_shadow_scores_record", "shadow_scores",
                    ["model_version", "connector", "object_type", "record_id", "at"])
    op.create_table(
        "model_history",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("model_version", sa.String(NAME), nullable=False),
        sa.Column("previous_version", sa.String(NAME), nullable=True),
        sa.Column("detail", JSON, nullable=True),
    )
    op.create_index("ix_model_history_version", "model_history", ["model_version", "at"])
    with op.batch_alter_table("mirror_leads") as batch:
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mirror_leads") as batch:
        batch.drop_column("retired_at")
    op.drop_table("model_history")
    op.drop_table("shadow_scores")
