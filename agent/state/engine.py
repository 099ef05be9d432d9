"""Connecting to the state database, and turning its failures into one :class:`StateError`.

SQLite is the default (one file beside the config, nothing to run); PostgreSQL serves agents that
run on several hosts or want the state backed up with everything else. Both behave the same to the
store: the differences (SQLite's whole-file write lock, its driver's transaction quirks) are settled
here, once.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
import structlog
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError, StatementError

from leadscore.agent.state.errors import StateError
from leadscore.agent.state.canonical import UnstorableValue, stored_json, stored_value

DEFAULT_PATH = "leadscore-state.db"

log = structlog.get_logger("leadscore.state")

#: How long a SQLite writer waits for another one (a second agent, ``status``) to commit.
SQLITE_BUSY_TIMEOUT_S = 30.0
#: How long a PostgreSQL connect may take before the run stops with a clear error.
POSTGRES_CONNECT_TIMEOUT_S = 10

#: Execution option marking a read-only transaction: SQLite then takes no write lock.
READ_ONLY = "leadscore_read_only"


def normalise_url(url: str | None, path: str | Path = DEFAULT_PATH) -> URL:
    """The URL to connect to: ``url`` when given, else the SQLite file at ``path``.

    ``postgresql://`` and ``postgres://`` mean psycopg 3, the driver leadscore ships (SQLAlchemy
    would otherwise look for psycopg2).
    """
    if url is None:
        file = Path(path).expanduser().resolve()
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"state store {file}: cannot create its folder: {exc.strerror or exc}") from exc
        return URL.create("sqlite", database=str(file))
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StateError(f"state store: '{_redact_text(url)}' is not a database URL") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StateError(f"state store: {parsed.get_backend_name()} is not supported (use sqlite or postgresql)")
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise StateError("state store: an in-memory SQLite database would forget every cursor; give a file")
    return parsed


def create_state_engine(url: URL) -> Engine:
    """An engine set up for the store: JSON in canonical form, SQLite in WAL mode with
    ``BEGIN IMMEDIATE`` for writers, PostgreSQL with a connect timeout and liveness checks."""
    options: dict[str, Any] = {"json_serializer": stored_json, "json_deserializer": stored_value}
    if url.get_backend_name() == "sqlite":
        if url.database:
            private_file(Path(url.database))
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
        engine = sa.create_engine(url, **options)
        _sqlite_transactions(engine)
        return engine
    options["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    # A long-running agent outlives server restarts and idle-connection reapers.
    options["pool_pre_ping"] = True
    return sa.create_engine(url, **options)


#: The state file's mode: it mirrors personal data (names, emails, titles), so only the
#: agent's own user may read it. SQLite gives its ``-wal`` and ``-shm`` files the same mode.
PRIVATE_MODE = 0o600


def private_file(file: Path) -> None:
    """Create the SQLite file ``file`` readable and writable by its owner only (0600, whatever
    the umask), before SQLite would create it with the umask's mode (usually 0644). An existing
    file keeps its mode - an admin may have chosen it - but a warning says when others can read it."""
    try:
        handle = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        try:
            mode = file.stat().st_mode & 0o777
        except OSError:
            return
        if mode & 0o077:
            log.warning("state.readable_by_others", path=str(file), mode=oct(mode),
                        detail=f"the state store mirrors personal data; chmod 600 {file}")
        return
    except OSError as exc:
        raise StateError(f"state store {file}: cannot create it: {exc.strerror or exc}") from exc
    os.close(handle)
    os.chmod(file, PRIVATE_MODE)  # O_CREAT's mode is filtered by the umask; 0600 needs no more bits


#: The page cache of each SQLite connection, in KiB (see :func:`_sqlite_transactions`).
SQLITE_CACHE_KIB = 64 * 1024


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions.

    The module's legacy mode begins none for SELECT or DDL, so a read-then-write was not one
    transaction and migrations were not atomic. Writers begin ``IMMEDIATE``: they take the write
    lock up front and wait (busy timeout) for another writer, rather than failing at their first
    write when a snapshot they read has gone stale, which WAL mode reports without waiting.
    WAL lets ``status`` read while a sync writes; ``synchronous=FULL`` makes every commit survive
    a power cut, so a recorded cursor never outlives the writes it covers. Each connection keeps
    up to 64 MiB of pages (:data:`SQLITE_CACHE_KIB`; SQLite's default is 2 MiB): a nightly rescore
    of a million leads walks three large b-trees at once (the mirror, the last written values and
    the score history), and with the default it read their inner pages again from the file system
    all night - a sixth of its CPU.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def describe(url: URL) -> str:
    """The URL as it may appear in messages and logs: never the password."""
    return url.render_as_string(hide_password=True)


def _redact_text(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _reason(exc: BaseException) -> str:
    """One line saying why, from the driver's own message when there is one (SQLAlchemy's wrapper
    adds the SQL and its parameters, which are long and may hold personal data)."""
    origin = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    text = " ".join(str(origin).split()) or type(origin).__name__
    text = text.split(" [SQL:")[0].split(" (Background on this error")[0]
    return text[:500]


@contextmanager
def translated(where: str, action: str) -> Iterator[None]:
    """Raise database and file-system failures of ``action`` (and values that cannot be stored)
    as one :class:`StateError` line.

    Used around every transaction: by the time the error propagates the transaction has been
    rolled back, so the message can honestly say nothing of it was applied.
    """
    try:
        yield
    except StateError:
        raise
    except (SQLAlchemyError, OSError, UnstorableValue) as exc:
        raise StateError(f"state store {where}: cannot {action}: {_reason(exc)}") from exc
