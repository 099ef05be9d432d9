"""API calls per connector, UTC day and endpoint family: what ``status`` and the metrics show
against the CRM's daily allocation.

A sync counts its calls with the batch that made them (in the batch's transaction), so a crash
never counts a batch's calls twice or loses them; other passes add theirs as they go.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from leadscore.agent.state.base import StoreBase
from leadscore.agent.state.schema import api_usage
from leadscore.agent.state.sql import upsert


class ApiUsage(StoreBase):
    """Counting and reading API calls."""

    def add_api_calls(self, connector: str, counts: Mapping[str, int], *, day: date | None = None) -> None:
        """Add calls made (by endpoint family, since the last count: deltas of
        ``connector.api_calls()``) to the day's totals (UTC days)."""
        with self._transaction(f"count the {connector} API calls") as conn:
            add_api_calls(conn, connector, counts, day or self.now().date())

    def api_calls(self, connector: str, *, since: date | None = None) -> dict[date, dict[str, int]]:
        """Calls per UTC day and endpoint family, from ``since`` (default: every day kept)."""
        u = api_usage
        query = sa.select(u).where(u.c.connector == connector).order_by(u.c.day, u.c.family)
        if since is not None:
            query = query.where(u.c.day >= since)
        days: dict[date, dict[str, int]] = defaultdict(dict)
        with self._transaction("read API usage", read=True) as conn:
            for row in conn.execute(query):
                days[row.day][row.family] = row.calls
        return dict(days)


def add_api_calls(conn: Connection, connector: str, counts: Mapping[str, int], day: date) -> None:
    """Add ``counts`` (calls by endpoint family, made since the last count) to ``day``'s totals."""
    rows = [
        {"connector": connector, "day": day, "family": family, "calls": int(calls)}
        for family, calls in sorted(counts.items())
        if calls
    ]
    if not rows:
        return
    t = api_usage
    stmt = upsert(conn, t)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.connector, t.c.day, t.c.family], set_={"calls": t.c.calls + stmt.excluded.calls}
    )
    conn.execute(stmt, rows)


def calls_on(conn: Connection, connector: str, day: date) -> dict[str, int]:
    """``connector``'s calls on ``day``, by endpoint family."""
    u = api_usage
    return {row.family: row.calls for row in conn.execute(sa.select(u).where(u.c.connector == connector, u.c.day == day))}
