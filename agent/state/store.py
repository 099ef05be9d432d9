"""The state store: everything the sync agent must remember between runs, in one database.

What it keeps, and why - each concern in a module named for it, composed here into the one
:class:`StateStore` the agent uses:

- **cursors** (:mod:`.cursors`), per connector and object type, and each **backfill**'s own
  position: moved only in the transaction that records the batch's writes (:mod:`.batch`), so a
  cursor never passes a record whose score was not durably recorded as written (or failed).
- a **mirror** (:mod:`.mirror`) of the normalised leads and activities: decay passes, rule
  changes and reports rescore from it without a CRM read; with each field's **history**
  (:mod:`.history`), what point-in-time training learns from.
- the **last written values** per record and the **score history** (:mod:`.written`): what the
  diff compares with, so an unchanged score costs no API call, and one entry per change of the
  written values (not per rescore).
- **failed writes** (:mod:`.failures`) awaiting a retry, with attempts and first/last failure.
- the **run log** (:mod:`.runs`), **API usage** per day (:mod:`.usage`), **leases**
  (:mod:`.leases`) that keep two agents off one connector's job, and per-connector **facts**
  (:mod:`.meta`).
- **outcomes** (:mod:`.outcomes`) from the CRM - converted, won, lost, disqualified - one row per
  record and deal/opportunity, pulled with each sync from a cursor of their own.

SQLite by default, PostgreSQL by URL; the schema is migrated on open. Every failure of the
database surfaces as one :class:`~leadscore.agent.state.errors.StateError` line after its
transaction rolled back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import sqlalchemy as sa

from leadscore.agent.state import migrate
from leadscore.agent.state.base import Clock, system_clock
from leadscore.agent.state.batch import Batches
from leadscore.agent.state.engine import DEFAULT_PATH, create_state_engine, normalise_url, translated
from leadscore.agent.state.failures import Failures
from leadscore.agent.state.leases import Leases
from leadscore.agent.state.meta import Meta
from leadscore.agent.state.mirror import Mirror
from leadscore.agent.state.models import Models
from leadscore.agent.state.outcomes import Outcomes
from leadscore.agent.state.runs import RunLog
from leadscore.agent.state.schema import (
    backfills,
    connector_meta,
    cursors,
    last_written,
    mirror_field_versions,
    mirror_leads,
    outcomes,
    write_failures,
)
from leadscore.agent.state.status import ConnectorStatus, read_status
from leadscore.agent.state.usage import ApiUsage
from leadscore.agent.state.written import WrittenValues


class StateStore(Batches, Mirror, WrittenValues, Failures, RunLog, ApiUsage, Leases, Meta, Outcomes, Models):
    """The agent's memory. Open with :meth:`open`; close (or use as a context manager) on exit.

    Safe to share between threads (each call takes its own pooled connection). Two processes may
    share one store: writes serialise (SQLite's write lock, PostgreSQL's row locks), and the leases
    keep them off the same connector's job.
    """

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        path: str | Path = DEFAULT_PATH,
        clock: Clock | None = None,
    ) -> StateStore:
        """Open the store at ``url`` (``sqlite:///...`` or ``postgresql+psycopg://...``), or the
        SQLite file ``path`` when no URL is given, migrating its schema to this version's."""
        parsed = normalise_url(url, path)
        engine = create_state_engine(parsed)
        store = cls(engine, parsed, clock or system_clock)
        try:
            with translated(store.where, "open"):
                migrate.upgrade(engine, store.where)
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def status(self, connector: str) -> ConnectorStatus:
        """What ``leadscore status`` shows for a connector, read in one transaction."""
        now = self.now()
        with self._transaction("read the status", read=True) as conn:
            return read_status(conn, connector, now)

    def forget(self, connector: str, *, keep_meta: Iterable[str] = ()) -> dict[str, int]:
        """Forget what the store holds of ``connector``'s CRM - cursors, backfills, the mirror,
        the last written values, kept failures, outcomes and facts (but ``keep_meta``) - as when the store
        turns out to belong to another CRM. The run log, API usage and score history stay: they
        are the record of what was done. The next sync is a first, full one, and writes every
        record, since nothing is known to be written."""
        kept = set(keep_meta)
        forgotten: dict[str, int] = {}
        with self._transaction(f"forget the {connector} CRM") as conn:
            for table in (cursors, backfills, mirror_field_versions, mirror_leads, last_written, write_failures,
                          outcomes):
                forgotten[table.name] = conn.execute(sa.delete(table).where(table.c.connector == connector)).rowcount
            forgotten[connector_meta.name] = conn.execute(
                sa.delete(connector_meta).where(connector_meta.c.connector == connector, connector_meta.c.key.not_in(kept))
            ).rowcount
        return forgotten
