"""The run log: one row per sync, backfill, rescore or reconcile, with its counts and error, and
the pruning of old bookkeeping.

``status`` shows the last run of each kind from here; a run still marked ``running`` when the
next one of its kind starts (under the lease) can only be one whose agent died, and is marked
``interrupted``. Pruning forgets finished runs, API usage days and finished backfills past
``keep_runs``; never the score history, the last written values or the mirror.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Mapping, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from leadscore.agent.core.records import utc
from leadscore.agent.state.base import StoreBase
from leadscore.agent.state.schema import api_usage, backfills, runs

RunKind = Literal["sync", "backfill", "rescore", "reconcile"]
RunStatus = Literal["running", "ok", "partial", "failed", "interrupted"]


@dataclass(frozen=True, slots=True)
class Run:
    run_id: str
    connector: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None
    backfill_id: str | None = None


class RunLog(StoreBase):
    """Starting, finishing, listing and pruning runs."""

    def start_run(self, connector: str, kind: RunKind, *, backfill_id: str | None = None) -> str:
        """Log the start of a run and return its id.

        Call it holding the job's lease: a run of the same connector and kind still marked
        running can then only be one whose agent died, and is marked ``interrupted``.
        """
        if kind not in get_args(RunKind):
            raise ValueError(f"unknown run kind {kind!r}")
        r = runs
        run_id = uuid.uuid4().hex
        with self._transaction("start a run") as conn:
            now = self.now()
            conn.execute(
                sa.update(r)
                .where(r.c.connector == connector, r.c.kind == kind, r.c.status == "running")
                .values(status="interrupted", finished_at=now, error="the agent stopped before the run finished")
            )
            conn.execute(
                sa.insert(r),
                {
                    "run_id": run_id,
                    "connector": connector,
                    "kind": kind,
                    "status": "running",
                    "started_at": now,
                    "counts": {},
                    "backfill_id": backfill_id,
                },
            )
        return run_id

    def finish_run(
        self, run_id: str, status: RunStatus, counts: Mapping[str, int] | None = None, error: str | None = None
    ) -> None:
        """Log the end of a run: ``ok``, ``partial`` (some records failed) or ``failed``."""
        if status not in get_args(RunStatus) or status == "running":
            raise ValueError(f"a run cannot finish as {status!r}")
        r = runs
        with self._transaction("finish a run") as conn:
            done = conn.execute(
                sa.update(r)
                .where(r.c.run_id == run_id)
                .values(status=status, finished_at=self.now(), counts=dict(counts or {}), error=error)
            )
            if done.rowcount != 1:
                raise ValueError(f"no run {run_id}")

    def prune(self, connector: str, before: datetime) -> dict[str, int]:
        """Forget the bookkeeping older than ``before``: finished runs, API usage days and
        finished backfills. Score history, last written values and the mirror are kept: they
        are the record of what the CRM was told, and what the next diff compares with."""
        before = utc(before)
        r, u, b = runs, api_usage, backfills
        with self._transaction(f"prune the {connector} bookkeeping") as conn:
            return {
                "runs": conn.execute(
                    sa.delete(r).where(r.c.connector == connector, r.c.status != "running", r.c.started_at < before)
                ).rowcount,
                "api_usage_days": conn.execute(
                    sa.delete(u).where(u.c.connector == connector, u.c.day < before.date())
                ).rowcount,
                "backfills": conn.execute(
                    sa.delete(b).where(b.c.connector == connector, b.c.finished_at.is_not(None), b.c.finished_at < before)
                ).rowcount,
            }

    def runs(self, connector: str, *, kind: RunKind | None = None, limit: int = 20) -> list[Run]:
        """The latest runs, newest first."""
        r = runs
        query = sa.select(r).where(r.c.connector == connector).order_by(r.c.started_at.desc()).limit(limit)
        if kind is not None:
            query = query.where(r.c.kind == kind)
        with self._transaction("read the run log", read=True) as conn:
            return [_run(row) for row in conn.execute(query)]


def last_runs(conn: Connection, connector: str) -> dict[str, Run]:
    """The latest run of each kind ``connector`` has run."""
    r = runs
    found: dict[str, Run] = {}
    kinds = conn.execute(sa.select(r.c.kind).where(r.c.connector == connector).distinct()).scalars().all()
    for kind in sorted(kinds):
        row = conn.execute(
            sa.select(r).where(r.c.connector == connector, r.c.kind == kind).order_by(r.c.started_at.desc()).limit(1)
        ).first()
        if row is not None:
            found[kind] = _run(row)
    return found


def _run(row: sa.Row[Any]) -> Run:
    return Run(
        run_id=row.run_id,
        connector=row.connector,
        kind=row.kind,
        status=row.status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        counts=row.counts or {},
        error=row.error,
        backfill_id=row.backfill_id,
    )
