"""The state store's first schema: cursors, backfills, mirror, last written values, score history,
failed writes, runs, leases and API usage.

Written out in full rather than importing :mod:`agent.state.schema`, so this revision builds the
same tables forever, whatever the schema module later becomes.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = 255
NAME = 64


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cursors",
        sa.Column("connector", sa.String(NAME), primary_key=True),
        sa.Column("object_type", sa.String(NAME), primary_key=True),
        sa.Column("value", sa.Text, nullable=True),
        _time("updated_at"),
    )
    op.create_table(
        "backfills",
        sa.Column("id", sa.String(NAME), primary_key=True),
        sa.Column("connector", sa.String(NAME), nullable=False),
        sa.Column("object_type", sa.String(NAME), nullable=False),
        _time("since", nullable=True),
        _time("until", nullable=True),
        sa.Column("position", sa.Text, nullable=True),
        _time("started_at"),
        _time("updated_at"),
        _time("finished_at", nullable=True),
    )
    op.create_index("ix_backfills_connector", "backfills", ["connector", "object_type", "finished_at"])
    op.create_table(
        "mirror_leads",
        sa.Column("connector", sa.String(NAME), primary_key=True),
        sa.Column("object_type", sa.String(NAME), primary_key=True),
        sa.Column("lead_id", sa.String(ID), primary_key=True),
        sa.Column("fields", _json(), nullable=False),
        _time("created_at", nullable=True),
        _time("updated_at", nullable=True),
        _time("mirrored_at"),
    )
    op.create_table(
        "mirror_activities",
        sa.Column("connector", sa.String(NAME), primary_key=True),
        sa.Column("object_type", sa.String(NAME), primary_key=True),
        sa.Column("lead_id", sa.String(ID), primary_key=True),
        sa.Column("activity_key", sa.String(NAME), primary_key=True),
        sa.Column("type", sa.String(NAME), nullable=False),
        _time("occurred_at"),
        sa.Column("properties", _json(), nullable=False),
    )
    op.create_table(
        "last_written",
        sa.Column("connector", sa.String(NAME), primary_key=True),
        sa.Column("object_type", sa.String(NAME), primary_key=True),
        sa.Column("record_id", sa.String(ID), primary_key=True),
        sa.Column("written_values", _json(), nullable=False),
        sa.Column("model_version", sa.String(NAME), nullable=True),
        _time("written_at"),
        sa.Column("written_to", sa.String(ID), nullable=True),
    )
    op.create_table(
        "score_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("connector", sa.String(NAME), nullable=False),
        sa.Column("object_type", sa.String(NAME), nullable=False),
        sa.Column("record_id", sa.String(ID), nullable=False),
        _time("at"),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(NAME), nullable=False),
        sa.Column("model_version", sa.String(NAME), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("written_to", sa.String(ID), nullable=True),
    )
    op.create_index("ix_score_history_record", "score_history", ["connector", "object_type", "record_id", "at"])
    op.create_table(
        "write_failures",
        sa.Column("connector", sa.String(NAME), primary_key=True),
        sa.Column("object_type", sa.String(NAME), primary_key=True),
        sa.Column("record_id", sa.String(ID), primary_key=True),
        sa.Column("sent_values", _json(), nullable=False),
        sa.Column("desired_values", _json(), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(NAME), nullable=False),
        sa.Column("model_version", sa.String(NAME), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(ID), nullable=True),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        _time("first_failed_at"),
        _time("last_failed_at"),
    )
    op.create_index("ix_write_failures_pending", "write_failures", ["connector", "status", "last_failed_at"])
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(NAME), primary_key=True),
        sa.Column("connector", sa.String(NAME), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _time("started_at"),
        _time("finished_at", nullable=True),
        sa.Column("counts", _json(), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("backfill_id", sa.String(NAME), nullable=True),
    )
    op.create_index("ix_runs_connector", "runs", ["connector", "kind", "started_at"])
    op.create_table(
        "locks",
        sa.Column("connector", sa.String(NAME), primary_key=True),
        sa.Column("job", sa.String(NAME), primary_key=True),
        sa.Column("owner", sa.String(ID), nullable=False),
        _time("acquired_at"),
        _time("expires_at"),
    )
    op.create_table(
        "api_usage",
        sa.Column("connector", sa.String(NAME), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("family", sa.String(NAME), primary_key=True),
        sa.Column("calls", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for index, table in (
        ("ix_runs_connector", "runs"),
        ("ix_write_failures_pending", "write_failures"),
        ("ix_score_history_record", "score_history"),
        ("ix_backfills_connector", "backfills"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "api_usage",
        "locks",
        "runs",
        "write_failures",
        "score_history",
        "last_written",
        "mirror_activities",
        "mirror_leads",
        "backfills",
        "cursors",
    ):
        op.drop_table(table)
