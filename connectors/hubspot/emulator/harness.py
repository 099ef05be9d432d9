"""The HubSpot connector's conformance harness: the connector configured against a running
:class:`HubSpotEmulator`, which the harness seeds, edits, faults and reads back.

Registered in the ``leadscore.conformance`` entry-point group, so ``tests/test_conformance.py``
runs :mod:`leadscore.connectors.testing`'s suite on it with every other installed connector.
Library code (no pytest): the connector's own tests build it too.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, ClassVar, Mapping

from leadscore.connectors.hubspot.config import DEFAULT_FIELDS
from leadscore.connectors.hubspot.connector import HubSpotConnector
from leadscore.connectors.hubspot.emulator.core import HubSpotEmulator
from leadscore.connectors.hubspot.emulator.limits import RateLimits

WRITE_FIELDS = {"score": "leadscore_score", "stage": "leadscore_stage", "reason": "leadscore_reason"}
#: Limits no test run reaches, so only the faults a check injects are ever answered.
FAST = RateLimits(per_ten_seconds=100_000, daily=10_000_000, search_per_second=10_000)


def compressed_sleep(seconds: float) -> None:
    """Waits the connector computes (Retry-After, backoff, limiter) are honoured in order but
    compressed, so a fault storm takes seconds, not minutes."""
    time.sleep(min(seconds, 0.02))


class HubSpotHarness:
    object_type: ClassVar[str] = "contact"
    #: The suite's checks this connector opts out of, with why: none.
    skip: ClassVar[Mapping[str, str]] = {}
    #: pytest markers for its checks: they talk HTTP to a local emulator.
    marks: ClassVar[tuple[str, ...]] = ("network",)

    def __init__(self, limits: RateLimits = FAST) -> None:
        self.emulator = HubSpotEmulator(limits=limits).start()

    def connector(self, **overrides: Any) -> HubSpotConnector:
        config = {
            "access_token": self.emulator.token,
            "host": self.emulator.base_url,
            "per_ten_seconds": 100_000,
            "search_per_second": 10_000,
            "retry_attempts": 10,
            "connect_timeout": 2,
            "read_timeout": 10,
            "write": WRITE_FIELDS,
            **overrides,
        }
        return HubSpotConnector(config, sleep=compressed_sleep)

    def seed(self, count: int, *, accounts: bool = False) -> list[str]:
        """``count`` contacts (and with ``accounts`` their companies), as of 1 November 2026."""
        return self.emulator.seed(count, seed=11, as_of=datetime(2026, 11, 1, tzinfo=timezone.utc), accounts=accounts)

    def edit(self, record_id: str, field: str, value: str) -> None:
        self.emulator.update_contact(record_id, {DEFAULT_FIELDS[field]: value})

    def delete(self, record_id: str) -> None:
        self.emulator.delete_contact(record_id)

    def written(self, record_id: str) -> dict[str, str | None]:
        props = self.emulator.contact(record_id)
        return {name: props.get(prop) for name, prop in WRITE_FIELDS.items()}

    def fields_written(self) -> set[str]:
        return {name for name, count in self.emulator.property_writes().items() if count}

    def allowed_fields(self) -> set[str]:
        return set(WRITE_FIELDS.values())

    def faults(self, *, error_rate: float = 0.0, drop_rate: float = 0.0) -> None:
        self.emulator.set_faults(error_rate=error_rate, drop_rate=drop_rate, seed=3)

    def faults_served(self) -> int:
        return sum(1 for r in self.emulator.requests() if r.status == 0 or r.status >= 423)

    def revoke_token(self) -> None:
        self.emulator.revoke_token()

    def record_outcome(self, record_id: str) -> None:
        """A deal closed won today for the contact, as a rep records one."""
        today = datetime.now(timezone.utc).strftime("%Y-%m-%dT00:00:00.000Z")
        self.emulator.create_deal({"dealname": f"Won {record_id}", "dealstage": "closedwon", "closedate": today,
                                   "amount": "12000"}, contacts=[record_id])

    def close(self) -> None:
        self.emulator.stop()
