"""What ``leadscore status`` shows for a connector - cursors, backfills, last runs, failures, the
mirror, written records, held leases, today's API calls - read in one transaction, so the numbers
agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from leadscore.agent.state.cursors import Backfill, CursorState, cursor_states, list_backfills
from leadscore.agent.state.failures import failure_counts
from leadscore.agent.state.leases import Lease, held_leases
from leadscore.agent.state.runs import Run, last_runs
from leadscore.agent.state.schema import last_written, mirror_leads
from leadscore.agent.state.sql import count_by
from leadscore.agent.state.usage import calls_on


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    """Everything ``leadscore status`` shows for one connector, read in one transaction."""

    connector: str
    cursors: Mapping[str, CursorState]
    backfills: tuple[Backfill, ...]
    last_runs: Mapping[str, Run]
    failures: Mapping[str, int]
    mirrored_leads: Mapping[str, int]
    mirrored_activities: Mapping[str, int]
    written: Mapping[str, int]
    leases: tuple[Lease, ...]
    api_calls_today: Mapping[str, int]


def read_status(conn: Connection, connector: str, now: datetime) -> ConnectorStatus:
    m, w = mirror_leads, last_written
    return ConnectorStatus(
        connector=connector,
        cursors=cursor_states(conn, connector),
        backfills=tuple(list_backfills(conn, connector)),
        last_runs=last_runs(conn, connector),
        failures=failure_counts(conn, connector),
        mirrored_leads=count_by(conn, m, m.c.object_type, sa.and_(m.c.connector == connector, m.c.retired_at.is_(None))),
        mirrored_activities={str(kind): int(total or 0) for kind, total in conn.execute(
            sa.select(m.c.object_type, sa.func.sum(m.c.activity_count)).where(m.c.connector == connector)
            .group_by(m.c.object_type))},
        written=count_by(conn, w, w.c.object_type, w.c.connector == connector),
        leases=held_leases(conn, connector, now),
        api_calls_today=calls_on(conn, connector, now.date()),
    )
