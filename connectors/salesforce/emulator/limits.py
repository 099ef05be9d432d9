"""The org's API allocation and injected faults.

Allocation (REST API Developer Guide, "Limit Info Header"; *Salesforce Developer Limits and
Allocations Quick Reference*, "API Request Limits and Allocations"):

- the daily allocation is a rolling 24-hour window; every REST API call counts once, and that
  includes Bulk API 2.0 and Tooling API calls (they are REST resources under
  ``/services/data``); the versions resource (``/services/data/``) and the OAuth token
  endpoint do not count (the header documentation exempts the former; logins are not API
  calls, as the SOAP ``LimitInfoHeader`` says of ``login()``);
- every counted response carries ``Sforce-Limit-Info: api-usage=USED/MAX``, ``USED`` including
  the call itself;
- once the allocation is spent, calls answer ``403 REQUEST_LIMIT_EXCEEDED`` "TotalRequests
  Limit exceeded." Reading taken: Salesforce may let an org run a little over before it
  blocks (``api-bursts``); the emulator blocks at exactly ``MAX``, and a refused call does not
  count, so usage never passes the allocation.

``set_api_usage`` pins a baseline for the window (as if that many calls were made just now by
other integrations); it does not age out.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

from leadscore.connectors import emulation
from leadscore.connectors.emulation import Fault as Fault  # re-exported
from leadscore.connectors.emulation import statuses_tuple as statuses_tuple  # re-exported

WINDOW_SECONDS = 24 * 3600.0
BULK_BATCH_RECORDS = 10_000  # Bulk API 2.0 counts one batch per 10,000 records processed
DAILY_BULK_BATCHES = 15_000


class ApiUsage:
    """Counts calls in a rolling 24-hour window on the emulator's clock."""

    def __init__(self, daily_limit: int, clock: Callable[[], float]) -> None:
        if daily_limit < 1:
            raise ValueError("daily_limit must be at least 1")
        self.daily_limit = daily_limit
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: deque[float] = deque()
        self._baseline = 0
        self._bulk_batches: deque[tuple[float, int]] = deque()

    def _expire(self, now: float) -> None:
        horizon = now - WINDOW_SECONDS
        while self._calls and self._calls[0] <= horizon:
            self._calls.popleft()
        while self._bulk_batches and self._bulk_batches[0][0] <= horizon:
            self._bulk_batches.popleft()

    def admit(self) -> tuple[bool, int]:
        """Count one call if the allocation allows; ``(admitted, used)``."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            used = self._baseline + len(self._calls)
            if used >= self.daily_limit:
                return False, used
            self._calls.append(now)
            return True, used + 1

    def used(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return self._baseline + len(self._calls)

    def set_used(self, used: int) -> None:
        if used < 0:
            raise ValueError("used must not be negative")
        with self._lock:
            self._calls.clear()
            self._baseline = used

    def header(self, used: int) -> str:
        return f"api-usage={used}/{self.daily_limit}"

    def add_bulk_batches(self, records: int) -> None:
        batches = max(1, -(-records // BULK_BATCH_RECORDS))
        with self._lock:
            self._bulk_batches.append((self._clock(), batches))

    def bulk_batches_used(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return sum(n for _, n in self._bulk_batches)


@dataclass(frozen=True)
class FaultPlan(emulation.FaultPlan):
    """What :meth:`SalesforceEmulator.set_faults` configured."""

    statuses: tuple[int, ...] = (500, 502, 503)


class FaultInjector(emulation.FaultInjector):
    """Seeded, so a test run sees the same faults in the same order every time."""

    plan_type = FaultPlan
