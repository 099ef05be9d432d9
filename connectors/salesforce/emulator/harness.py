"""The Salesforce connector's conformance harness: the connector configured (JWT bearer, over
TLS) against a running :class:`SalesforceEmulator`, which the harness seeds, edits, faults and
reads back.

Registered in the ``leadscore.conformance`` entry-point group, so ``tests/test_conformance.py``
runs :mod:`leadscore.connectors.testing`'s suite on it with every other installed connector.
Library code (no pytest): the connector's own tests build it too.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, ClassVar, Mapping

from leadscore.connectors.salesforce.config import DEFAULT_LEAD_FIELDS
from leadscore.connectors.salesforce.connector import SalesforceConnector
from leadscore.connectors.salesforce.emulator.core import SalesforceEmulator

WRITE_FIELDS = {"score": "Leadscore_Score__c", "stage": "Leadscore_Stage__c", "reason": "Leadscore_Reason__c"}
STAGES = ["Cold", "Warm", "MQL", "SQL"]
LEAD_PREFIX = "00Q"


def compressed_sleep(seconds: float) -> None:
    """Waits the connector computes (backoff, bulk polling) are honoured in order but compressed."""
    time.sleep(min(seconds, 0.02))


class SalesforceHarness:
    object_type: ClassVar[str] = "lead"
    #: The suite's checks this connector opts out of, with why: none.
    skip: ClassVar[Mapping[str, str]] = {}
    #: pytest markers for its checks: they talk HTTPS to a local emulator.
    marks: ClassVar[tuple[str, ...]] = ("network",)

    def __init__(self, *, accounts: bool = False, **emulator_options: Any) -> None:
        #: Seed a B2B org: people at known companies are Contacts of Accounts (see ``seed_org``).
        self.accounts = accounts
        self.emulator = SalesforceEmulator(**emulator_options).start()

    def config(self, **overrides: Any) -> dict[str, Any]:
        creds = self.emulator.credentials
        return {
            "auth": "jwt",
            "login_url": self.emulator.login_url,
            "client_id": creds.client_id,
            "username": creds.username,
            "private_key": creds.private_key_pem,
            "ca_bundle": self.emulator.ca_bundle,
            "write": WRITE_FIELDS,
            "bulk_poll_seconds": 0.05,
            "retry_attempts": 10,
            "connect_timeout": 2,
            "read_timeout": 10,
            **overrides,
        }

    def connector(self, **overrides: Any) -> SalesforceConnector:
        return SalesforceConnector(self.config(**overrides), sleep=compressed_sleep)

    def seed(self, count: int) -> list[str]:
        ids = self.emulator.seed(count, seed=11, as_of=datetime(2026, 11, 1, tzinfo=timezone.utc), accounts=self.accounts)
        # Converted leads are scored on their Contacts; the suite's lead-level checks use the rest
        # (with accounts, the Leads: the Contacts of Accounts are not the suite's lead type).
        return [i for i in ids if i.startswith(LEAD_PREFIX) and not self.emulator.record("Lead", i).get("IsConverted")]

    def edit(self, record_id: str, field: str, value: str) -> None:
        self.emulator.update_record("Lead", record_id, {DEFAULT_LEAD_FIELDS[field]: value})

    def delete(self, record_id: str) -> None:
        self.emulator.delete_record("Lead", record_id)

    def written(self, record_id: str) -> dict[str, str | None]:
        values = self.emulator.record("Lead", record_id)
        return {name: None if values.get(api) is None else str(values.get(api)) for name, api in WRITE_FIELDS.items()}

    def fields_written(self) -> set[str]:
        """Record fields written on Leads, Contacts and Accounts (setup's permission-set records are
        not CRM data)."""
        return {name.split(".", 1)[1] for name, count in self.emulator.field_writes().items()
                if count and name.split(".", 1)[0] in ("Lead", "Contact", "Account")}

    def allowed_fields(self) -> set[str]:
        return set(WRITE_FIELDS.values())

    def faults(self, *, error_rate: float = 0.0, drop_rate: float = 0.0) -> None:
        self.emulator.set_faults(error_rate=error_rate, drop_rate=drop_rate, seed=3)

    def faults_served(self) -> int:
        return sum(1 for r in self.emulator.requests() if r.status == 0 or r.status >= 500)

    def revoke_token(self) -> None:
        self.emulator.expire_sessions()
        self.emulator.revoke_credentials()

    def record_outcome(self, record_id: str) -> None:
        """The Lead converted with an Opportunity closed won today, as a rep records a win."""
        today = datetime.now(timezone.utc).date().isoformat()
        self.emulator.convert_lead(record_id, opportunity={"StageName": "Closed Won", "CloseDate": today, "Amount": 12000})

    def close(self) -> None:
        self.emulator.stop()
