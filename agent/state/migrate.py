"""Bringing a state database to the schema this leadscore expects, on open.

The migrations ship inside the package and run through Alembic's own ``upgrade`` command with a
configuration built here, so an installed agent needs no ``alembic.ini`` and no separate step: a
new version migrates its store the first time it opens it. ``create_all`` is never used, because a
schema built that way has no revision and could never be migrated again.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from leadscore.agent.state.engine import READ_ONLY
from leadscore.agent.state.errors import StateError
from leadscore.agent.state.schema import VERSION_TABLE

log = structlog.get_logger("leadscore.state")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock that serialises two agents migrating one database at once
#: (SQLite's ``BEGIN IMMEDIATE`` does that by itself). Any fixed 64-bit number: "leadscor".
_MIGRATION_LOCK = 0x6C65_6164_7363_6F72


def alembic_config() -> Config:
    """Alembic's configuration, built in code: the packaged migrations, and our version table."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this leadscore ships."""
    revision = _scripts().get_current_head()
    assert revision is not None, "the state store ships no migrations"
    return revision


def current(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at (empty when it has never been migrated)."""
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        return tuple(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads())


def upgrade(engine: Engine, where: str) -> bool:
    """Migrate the database to :func:`head` in one transaction; True when anything ran.

    Checks first without taking a write lock, so opening an up-to-date store (``status`` beside a
    running sync) does not queue behind the sync's commit. A database at a revision this version
    does not know was migrated by a newer leadscore: refused, rather than run against a schema this
    code was not written for.
    """
    target = head()
    found = current(engine)
    if found == (target,):
        return False
    known = {script.revision for script in _scripts().walk_revisions()}
    unknown = [rev for rev in found if rev not in known]
    if unknown:
        raise StateError(
            f"state store {where}: its schema is at revision {', '.join(unknown)}, newer than this leadscore "
            f"knows (up to {target}); upgrade leadscore"
        )
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    log.info("state.migrated", store=where, from_revision=",".join(found) or None, to_revision=target)
    return True
