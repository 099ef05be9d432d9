"""The Salesforce connector: Leads and Contacts (and Accounts) in, scores out, through simple-salesforce.

The pieces live beside it: ``auth`` (the OAuth flows), ``client`` (simple-salesforce behind
limits, retries, re-authentication and the API budget), ``pull`` (SOQL, activity, conversions),
``outcomes`` (converted and disqualified Leads, won and lost Opportunities),
``write`` (Collections or Bulk 2.0), ``setup`` (Tooling custom fields), ``config``, ``emulator``.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import structlog

from leadscore.agent.core.records import ObjectType
from leadscore.agent.core.contract import CheckReport, Cursor, OutcomeBatch, PullBatch, PullNeeds, ScoreUpdate, SetupReport, WriteResult, WriteSpec, connector_config
from leadscore.connectors.salesforce.client import SalesforceClient
from leadscore.connectors.salesforce.config import SalesforceConfig
from leadscore.connectors.salesforce.outcomes import OutcomeReader
from leadscore.connectors.salesforce.pull import ConversionMap, RecordReader
from leadscore.connectors.salesforce.readback import org_id, owned_values
from leadscore.connectors.salesforce.setup import FieldSetup
from leadscore.connectors.salesforce.write import COLLECTION_SIZE, RecordWriter

log = structlog.get_logger("leadscore.salesforce")


class SalesforceConnector:
    """Implements :class:`leadscore.agent.core.contract.Connector` for Salesforce Leads and Contacts,
    and :class:`~leadscore.agent.core.contract.SupportsAccounts` for Accounts: ``account_type`` is not
    in ``object_types``, because the agent reads Accounts only when its config scores accounts.
    :class:`~leadscore.connectors.base.SupportsWriteChunks`: Collections of 200, Bulk 2.0 from
    ``bulk_threshold``."""

    name: ClassVar[str] = "salesforce"
    object_types: ClassVar[tuple[ObjectType, ...]] = ("lead", "contact")
    config_model: ClassVar[type[SalesforceConfig]] = SalesforceConfig
    #: Salesforce Accounts (:class:`~leadscore.agent.core.contract.SupportsAccounts`).
    account_type: ClassVar[ObjectType] = "account"
    #: :class:`~leadscore.connectors.base.SupportsWriteChunks`: sObject Collections takes 200
    #: records a call (of any object types), so the agent hands ``write`` whole chunks of 200.
    write_chunk: ClassVar[int] = COLLECTION_SIZE

    def __init__(self, config: Mapping[str, Any] | SalesforceConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config = connector_config("salesforce", SalesforceConfig, config)
        self.client = SalesforceClient(config, sleep=sleep)
        self.conversions = ConversionMap({})
        self._reader = RecordReader(self.client, config, self.conversions)
        self._outcomes = OutcomeReader(self.client, config)
        self._writer = RecordWriter(self.client, config, self.conversions,
                                    ensure_owned=lambda objects: self._fields.ensure_owned(objects),
                                    ensure_fields_owned=lambda wanted: self._fields.ensure_fields_owned(wanted))
        self._fields = FieldSetup(self.client, config)

    @property
    def bulk_threshold(self) -> int:
        """At this many updates in one ``write``, Bulk API 2.0 (a handful of calls per object
        whatever the count) instead of Collections: the agent holds an object's changes until a
        pass has this many, so the pass's total decides (:class:`~leadscore.connectors.base.SupportsWriteChunks`)."""
        return self.config.bulk_threshold

    @property
    def write_values(self) -> frozenset[str]:
        """The configured ``write`` values, and ``stage`` when ``lead_status`` maps stages to a
        Lead Status (the stage moves the Status even when no field holds the stage)."""
        return frozenset(self.config.write.mapping()) | ({"stage"} if self.config.lead_status else frozenset())

    def check(self) -> CheckReport:
        report = self._fields.check()
        for problem in report.problems:
            log.warning("check.problem", problem=problem)
        return report

    def setup(self, spec: WriteSpec) -> SetupReport:
        report = self._fields.setup(spec)
        for step in report.todo:
            log.warning("setup.todo", step=step)
        return report

    def pull(self, cursor: Cursor, *, until: datetime | None = None, needs: PullNeeds | None = None) -> Iterator[PullBatch]:
        return self._reader.pull(cursor, until, needs)

    def count(self, cursor: Cursor, *, until: datetime | None = None) -> int | None:
        """An estimate of the records ``pull(cursor, until=until)`` would yield, on one
        ``SELECT COUNT()``: the optional progress-bar method of :mod:`leadscore.agent.core.contract`."""
        return self._reader.count(cursor, until)

    def pull_outcomes(self, cursor: Cursor, *, until: datetime | None = None) -> Iterator[OutcomeBatch]:
        """What became of Leads and Contacts since ``cursor``, up to ``until``: converted and
        disqualified Leads, won and lost Opportunities for their contact roles, Accounts and
        converted Leads; three SOQL windows (see :mod:`leadscore.connectors.salesforce.outcomes`,
        which also says what it costs)."""
        return self._outcomes.pull(cursor, until)

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        return self._writer.write(updates)

    def read_back(self, object_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every live record's owned fields as the org holds them now (``reconcile``): Leads,
        Contacts or Accounts. (Lead ``Status``, moved by ``lead_status``, is not read back: it is
        the sales team's field as much as leadscore's, and only ever moved forward.)"""
        return owned_values(self.client, object_type, self.config.write.mapping())

    def identity(self) -> str:
        """Which org this is (``salesforce:<org id>``): a sandbox refresh gives a new one, and a
        state store kept for another org is not trusted."""
        return f"salesforce:{org_id(self.client)}"

    def api_calls(self) -> Mapping[str, int]:
        return Counter(self.client.calls)

    def failures(self) -> Mapping[str, int]:
        return self._writer.failures + self.client.stops

    def close(self) -> None:
        self.client.close()
