"""The state store's tables, as SQLAlchemy Core: what the queries are written against.

The database itself is built only by the Alembic migrations in ``migrations/``; a test checks
that these tables and the migrated schema do not drift apart. Core rather than the ORM: the store
moves 1,000-row batches through bulk upserts and never needs identity maps or lazy loading.

Every table leads with ``connector`` so one store serves several connectors, and each key is the
natural one (``connector, object_type, record_id``), so upserts need no lookups and the primary-key
indexes serve the diff, the mirror scans and the retries.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

#: Alembic's bookkeeping table, named for leadscore so a store placed in a database that another
#: Alembic-managed application also uses cannot mistake that application's revision for its own.
VERSION_TABLE = "leadscore_alembic_version"

#: The lengths of identifiers. CRM ids are short (Salesforce 18, HubSpot ~12 digits); 255 leaves
#: room for third-party connectors without making PostgreSQL indexes large.
ID = 255
NAME = 64


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite keeps no zone, so values are stored as naive UTC text of one fixed format (which also
    makes text comparison order them correctly, as the lease expiry needs); PostgreSQL keeps
    ``timestamptz``. Naive values are taken to be UTC, as :func:`leadscore.agent.core.records.utc` does.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON text on SQLite, ``jsonb`` on PostgreSQL (smaller, and queryable by reports)."""
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def big_id() -> sa.types.TypeEngine[int]:
    """A 64-bit autoincrement id (SQLite only autoincrements ``INTEGER PRIMARY KEY``)."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


metadata = sa.MetaData()

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("connector", sa.String(NAME), primary_key=True),
    sa.Column("object_type", sa.String(NAME), primary_key=True),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

backfills = sa.Table(
    "backfills",
    metadata,
    sa.Column("id", sa.String(NAME), primary_key=True),
    sa.Column("connector", sa.String(NAME), nullable=False),
    sa.Column("object_type", sa.String(NAME), nullable=False),
    sa.Column("since", UTCDateTime, nullable=True),
    sa.Column("until", UTCDateTime, nullable=True),
    sa.Column("position", sa.Text, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Index("ix_backfills_connector", "connector", "object_type", "finished_at"),
)

mirror_leads = sa.Table(
    "mirror_leads",
    metadata,
    sa.Column("connector", sa.String(NAME), primary_key=True),
    sa.Column("object_type", sa.String(NAME), primary_key=True),
    sa.Column("lead_id", sa.String(ID), primary_key=True),
    sa.Column("fields", json_type(), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=True),
    sa.Column("mirrored_at", UTCDateTime, nullable=False),
    #: When the record left the scored set but stayed as history (``PullBatch.retired``).
    sa.Column("retired_at", UTCDateTime, nullable=True),
    #: A person's account (``Lead.account_id``): how an account finds its people to roll up.
    sa.Column("account_id", sa.String(ID), nullable=True),
    #: The record's activities, whole: one compressed JSON array (:mod:`leadscore.agent.state.activities`).
    sa.Column("activities", sa.LargeBinary, nullable=True),
    sa.Column("activity_count", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_mirror_leads_account", "connector", "account_id"),
)

#: What each mirrored record looked like over time: one row per field per change (not per pull),
#: from the moment it was observed - the record's ``updated_at`` in the CRM when known, else when
#: it was pulled - until the next version of that field. ``value`` is JSON ``null`` when the field
#: was cleared. Point-in-time training reads it (:mod:`leadscore.agent.state.history`).
mirror_field_versions = sa.Table(
    "mirror_field_versions",
    metadata,
    sa.Column("connector", sa.String(NAME), primary_key=True),
    sa.Column("object_type", sa.String(NAME), primary_key=True),
    sa.Column("lead_id", sa.String(ID), primary_key=True),
    sa.Column("field", sa.String(ID), primary_key=True),
    sa.Column("observed_at", UTCDateTime, primary_key=True),
    sa.Column("value", json_type(), nullable=True),
    # A row per field per change: on SQLite, the rows live in their primary key's b-tree rather
    # than beside a copy of it (half the bytes).
    sqlite_with_rowid=False,
)

last_written = sa.Table(
    "last_written",
    metadata,
    sa.Column("connector", sa.String(NAME), primary_key=True),
    sa.Column("object_type", sa.String(NAME), primary_key=True),
    sa.Column("record_id", sa.String(ID), primary_key=True),
    sa.Column("written_values", json_type(), nullable=False),
    sa.Column("model_version", sa.String(NAME), nullable=True),
    sa.Column("written_at", UTCDateTime, nullable=False),
    sa.Column("written_to", sa.String(ID), nullable=True),
)

score_history = sa.Table(
    "score_history",
    metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column("connector", sa.String(NAME), nullable=False),
    sa.Column("object_type", sa.String(NAME), nullable=False),
    sa.Column("record_id", sa.String(ID), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("stage", sa.String(NAME), nullable=False),
    sa.Column("model_version", sa.String(NAME), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("written_to", sa.String(ID), nullable=True),
    sa.Index("ix_score_history_record", "connector", "object_type", "record_id", "at"),
)

write_failures = sa.Table(
    "write_failures",
    metadata,
    sa.Column("connector", sa.String(NAME), primary_key=True),
    sa.Column("object_type", sa.String(NAME), primary_key=True),
    sa.Column("record_id", sa.String(ID), primary_key=True),
    # The values the failed write sent, and the whole desired state to remember once one lands.
    sa.Column("sent_values", json_type(), nullable=False),
    sa.Column("desired_values", json_type(), nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("stage", sa.String(NAME), nullable=False),
    sa.Column("model_version", sa.String(NAME), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error_code", sa.String(ID), nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_failed_at", UTCDateTime, nullable=False),
    sa.Column("last_failed_at", UTCDateTime, nullable=False),
    sa.Index("ix_write_failures_pending", "connector", "status", "last_failed_at"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(NAME), primary_key=True),
    sa.Column("connector", sa.String(NAME), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("counts", json_type(), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("backfill_id", sa.String(NAME), nullable=True),
    sa.Index("ix_runs_connector", "connector", "kind", "started_at"),
)

#: Leases (the table kept its first name, "locks": renaming it would need a migration for nothing).
leases = sa.Table(
    "locks",
    metadata,
    sa.Column("connector", sa.String(NAME), primary_key=True),
    sa.Column("job", sa.String(NAME), primary_key=True),
    sa.Column("owner", sa.String(ID), nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

api_usage = sa.Table(
    "api_usage",
    metadata,
    sa.Column("connector", sa.String(NAME), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("family", sa.String(NAME), primary_key=True),
    sa.Column("calls", sa.BigInteger, nullable=False),
)

connector_meta = sa.Table(
    "connector_meta",
    metadata,
    sa.Column("connector", sa.String(NAME), primary_key=True),
    sa.Column("key", sa.String(NAME), primary_key=True),
    sa.Column("value", json_type(), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

#: What became of CRM records (:class:`leadscore.agent.core.records.Outcome`), pulled with each
#: sync: one row per record and source - a deal or opportunity (``source_id``: open, won or lost,
#: ``started_at`` its creation), or ``""`` for the record's own outcome (a conversion, a lead
#: status). The natural key makes a re-pull update the row, never add one
#: (:mod:`leadscore.agent.state.outcomes`). ``observed_at``: when the store first held it.
outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("connector", sa.String(NAME), primary_key=True),
    sa.Column("object_type", sa.String(NAME), primary_key=True),
    sa.Column("record_id", sa.String(ID), primary_key=True),
    sa.Column("source_id", sa.String(ID), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=True),
    sa.Column("amount", sa.Float, nullable=True),
    sa.Column("estimated", sa.Boolean, nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("observed_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_outcomes_occurred", "connector", "occurred_at"),
)

#: The live challenger's scores (:mod:`leadscore.agent.state.models`): what a model that is not
#: written to the CRM would have scored each record, one row each time its score changed (as
#: ``score_history`` keeps the written ones), so the two can be compared on the outcomes that
#: arrive later. Never read by a write.
shadow_scores = sa.Table(
    "shadow_scores",
    metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column("connector", sa.String(NAME), nullable=False),
    sa.Column("object_type", sa.String(NAME), nullable=False),
    sa.Column("record_id", sa.String(ID), nullable=False),
    sa.Column("model_version", sa.String(NAME), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    #: The challenger's probability x 100, unrounded (to 3 decimals): at a low base rate whole
    #: percents would tie most records and hide the ranking the comparison is about.
    sa.Column("score", sa.Float, nullable=False),
    sa.Index("ix_shadow_scores_record", "model_version", "connector", "object_type", "record_id", "at"),
)

#: What happened to models: trained, started challenging, promoted (by hand or automatically),
#: retired - with the figures that decided it (:mod:`leadscore.agent.state.models`).
model_history = sa.Table(
    "model_history",
    metadata,
    sa.Column("id", big_id(), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("model_version", sa.String(NAME), nullable=False),
    sa.Column("previous_version", sa.String(NAME), nullable=True),
    sa.Column("detail", json_type(), nullable=True),
    sa.Index("ix_model_history_version", "model_version", "at"),
)
