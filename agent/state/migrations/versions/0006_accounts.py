"""Accounts: a mirrored person's account id (a Salesforce Contact's ``AccountId``, a HubSpot
contact's primary company), indexed, so rescoring a person rescores its account and an account
finds the people it rolls up.

Written out in full rather than importing :mod:`agent.state.schema`, so this revision builds the
same tables forever, whatever the schema module later becomes.

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

ID = 255


def upgrade() -> None:
    with op.batch_alter_table("mirror_leads") as batch:
        batch.add_column(sa.Column("account_id", sa.String(ID), nullable=True))
    op.create_index("ix_mirror_leads_account", "mirror_leads", ["connector", "account_id"])


def downgrade() -> None:
    op.drop_index("ix_mirror_leads_account", table_name="mirror_leads")
    with op.batch_alter_table("mirror_leads") as batch:
        batch.drop_column("account_id")
