"""Leases: one agent at a time runs a connector's jobs.

A lease is a row naming its owner and an expiry: taken with one atomic upsert (an expired lease
is taken over, the owner's own extended), renewed by the job's heartbeat, released at the end. An
agent that dies simply stops renewing, and its connector is picked up again within
:data:`DEFAULT_LEASE`.
"""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterator

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from leadscore.agent.state.base import StoreBase
from leadscore.agent.state.errors import LeaseHeld, StateError
from leadscore.agent.state.schema import leases
from leadscore.agent.state.sql import upsert

log = structlog.get_logger("leadscore.state")

#: A lease lasts this long unless renewed: long enough to outlive a slow batch, short enough that
#: a crashed agent's connector is picked up again within minutes.
DEFAULT_LEASE = timedelta(minutes=5)


def new_owner_id() -> str:
    """An owner id for leases: host and process (for people reading ``status``) and a random part
    (a restarted process may reuse a pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lease: ``owner`` runs ``job`` for ``connector`` until ``expires_at`` unless renewed."""

    connector: str
    job: str
    owner: str
    acquired_at: datetime
    expires_at: datetime


class Leases(StoreBase):
    """Taking, renewing, releasing and reading leases."""

    def acquire_lease(self, connector: str, job: str, owner: str, ttl: timedelta = DEFAULT_LEASE) -> bool:
        """Take the lease on ``connector``'s ``job`` for ``ttl``; False while another owner holds
        an unexpired one. An expired lease is taken over; the owner's own is extended.

        One atomic upsert on both backends: the conflicting row is replaced only when it expired
        or is ours, so two agents racing for the lease cannot both get it.
        """
        t = leases
        now = self.now()
        with self._transaction(f"take the {connector} {job} lease") as conn:
            stmt = upsert(conn, t)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.connector, t.c.job],
                set_={
                    "owner": stmt.excluded.owner,
                    "acquired_at": sa.case((t.c.owner == owner, t.c.acquired_at), else_=stmt.excluded.acquired_at),
                    "expires_at": stmt.excluded.expires_at,
                },
                where=sa.or_(t.c.expires_at <= now, t.c.owner == owner),
            )
            conn.execute(
                stmt, {"connector": connector, "job": job, "owner": owner, "acquired_at": now, "expires_at": now + ttl}
            )
            holder = conn.execute(sa.select(t.c.owner).where(t.c.connector == connector, t.c.job == job)).scalar_one()
        return bool(holder == owner)

    def renew_lease(self, connector: str, job: str, owner: str, ttl: timedelta = DEFAULT_LEASE) -> bool:
        """Extend the owner's lease to ``ttl`` from now; False when it was lost (expired and taken
        over): the job must stop, another agent now runs it."""
        t = leases
        with self._transaction(f"renew the {connector} {job} lease") as conn:
            done = conn.execute(
                sa.update(t)
                .where(t.c.connector == connector, t.c.job == job, t.c.owner == owner)
                .values(expires_at=self.now() + ttl)
            )
            return bool(done.rowcount == 1)

    def release_lease(self, connector: str, job: str, owner: str) -> bool:
        """Give the lease up (only the owner's own); False when it was not held."""
        t = leases
        with self._transaction(f"release the {connector} {job} lease") as conn:
            done = conn.execute(sa.delete(t).where(t.c.connector == connector, t.c.job == job, t.c.owner == owner))
            return bool(done.rowcount == 1)

    def lease_holder(self, connector: str, job: str) -> Lease | None:
        """The unexpired lease on ``job``, if any."""
        t = leases
        with self._transaction("read a lease", read=True) as conn:
            row = conn.execute(
                sa.select(t).where(t.c.connector == connector, t.c.job == job, t.c.expires_at > self.now())
            ).first()
        return _lease(row) if row is not None else None

    @contextmanager
    def hold(
        self, connector: str, job: str, owner: str | None = None, ttl: timedelta = DEFAULT_LEASE
    ) -> Iterator[Lease]:
        """Hold the lease for the block, or raise :class:`LeaseHeld`; released on exit. A block
        longer than ``ttl`` must :meth:`renew_lease` (the scheduler's heartbeat)."""
        owner = owner or new_owner_id()
        if not self.acquire_lease(connector, job, owner, ttl):
            holder = self.lease_holder(connector, job)
            who = f" by {holder.owner} until {holder.expires_at.isoformat()}" if holder else ""
            raise LeaseHeld(
                f"{connector} {job} is already running{who}",
                owner=holder.owner if holder else None,
                expires_at=holder.expires_at if holder else None,
            )
        now = self.now()
        try:
            yield Lease(connector, job, owner, now, now + ttl)
        finally:
            try:
                self.release_lease(connector, job, owner)
            except StateError as exc:  # the lease expires by itself; do not hide the block's error
                log.warning("state.lease_not_released", connector=connector, job=job, error=str(exc))


def held_leases(conn: Connection, connector: str, now: datetime) -> tuple[Lease, ...]:
    """``connector``'s unexpired leases, by job."""
    t = leases
    rows = conn.execute(sa.select(t).where(t.c.connector == connector, t.c.expires_at > now).order_by(t.c.job))
    return tuple(_lease(row) for row in rows)


def _lease(row: sa.Row[Any]) -> Lease:
    return Lease(row.connector, row.job, row.owner, row.acquired_at, row.expires_at)
