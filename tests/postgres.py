"""A real PostgreSQL server for the tests of the state store and the pipeline on it: the one
``LEADSCORE_TEST_POSTGRES_URL`` names, or a throwaway cluster started from the server binaries
(``make test`` installs them when missing); skipped where neither exists."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

# --- PostgreSQL, real or skipped ---------------------------------------------------------------


def _server_bin() -> Path | None:
    def version(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if os.access(Path(bindir) / "initdb", os.X_OK) and os.access(Path(bindir) / "pg_ctl", os.X_OK):
            return Path(bindir)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL URL for the session: the given one, or a throwaway cluster's."""
    given = os.environ.get("LEADSCORE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    bindir = _server_bin()
    if bindir is None:
        pytest.skip("PostgreSQL not available: set LEADSCORE_TEST_POSTGRES_URL or install the postgresql package")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            import pwd

            pg_user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("PostgreSQL binaries found but no 'postgres' user to run them as (running as root)")
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="leadscore-pg-"))
    base.chmod(0o755)
    home = base / "pg"
    home.mkdir()
    if as_user:
        os.chown(home, pg_user.pw_uid, pg_user.pw_gid)
    data, port = home / "data", free_port()
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ],
        check=True,
        capture_output=True,
        cwd=home,
    )
    options = (
        f"-p {port} -k {home} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
    )
    started = subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(home / "log"),
            "-w",
            "-t",
            "30",
            "-o",
            options,
            "start",
        ],
        capture_output=True,
        text=True,
        cwd=home,
    )
    if started.returncode != 0:
        log = (home / "log").read_text() if (home / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start the throwaway PostgreSQL: {started.stderr}{log}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            cwd=home,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin(postgres_server: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_server: str, postgres_admin: sa.Engine) -> Iterator[str]:
    """A URL whose ``search_path`` is a schema of this test's own, dropped after it."""
    schema = f"leadscore_test_{uuid.uuid4().hex[:10]}"
    with postgres_admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with postgres_admin.connect() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


