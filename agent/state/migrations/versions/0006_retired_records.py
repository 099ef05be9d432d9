"""Retired mirror records: a record that left the set the agent scores and writes (a converted
Salesforce Lead, read-only and merged into its Contact) keeps its mirror row, activities and field
versions, marked ``retired_at``, so its history still makes training rows. Before this revision
such records were deleted from the mirror.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("mirror_leads") as batch:
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mirror_leads") as batch:
        batch.drop_column("retired_at")
