"""What every concern of the state store stands on: the engine, the clock, and one transaction
per call whose failures surface as one :class:`~leadscore.agent.state.errors.StateError` line.

Each concern (cursors, the mirror, written values, failures, the run log, API usage, leases,
facts) is a mixin of :class:`StoreBase` in a module named for it, holding its own queries and
shapes; :class:`~leadscore.agent.state.store.StateStore` composes them into the one object the
agent uses.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator

from sqlalchemy.engine import URL, Connection, Engine

from leadscore.agent.core.records import utc
from leadscore.agent.state.engine import READ_ONLY, describe, translated

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


class StoreBase:
    """The engine, URL and clock a store was opened with, and its transactions."""

    def __init__(self, engine: Engine, url: URL, clock: Clock = system_clock) -> None:
        self.engine = engine
        self.url = url
        #: The store's URL without its password, for messages and logs.
        self.where = describe(url)
        self._clock = clock

    def now(self) -> datetime:
        """The store's clock, as aware UTC (tests pass a fake one to ``StateStore.open``)."""
        return utc(self._clock())

    @contextmanager
    def _transaction(self, action: str, *, read: bool = False) -> Iterator[Connection]:
        """One transaction around store code, its failures raised as :class:`StateError`."""
        with translated(self.where, action):
            conn = self.engine.connect()
            try:
                if read:
                    conn = conn.execution_options(**{READ_ONLY: True})
                with conn.begin():
                    yield conn
            finally:
                conn.close()
