"""Alembic's environment for the state store.

The store runs migrations itself on open (:mod:`agent.state.migrate`) and hands over its own
connection, already inside a transaction, through ``config.attributes["connection"]``: the upgrade
then commits or rolls back with that transaction, whole. Run by the ``alembic`` command instead
(to write a new revision), it connects to ``sqlalchemy.url`` from the config.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from leadscore.agent.state.schema import VERSION_TABLE, metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite alters tables only by copying them; batch mode does that for later revisions.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite:///leadscore-state.db")
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():  # pragma: no cover - the store never renders SQL scripts
    raise SystemExit("leadscore's state migrations run online only")
main()
