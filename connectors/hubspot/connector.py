"""The HubSpot connector: contacts (and companies, as accounts) in, scores out, through the official SDK.

The pieces live beside it: ``client`` (the SDK behind limits, retries and error mapping),
``pull`` (search windows, listings, engagement), ``companies`` (companies as accounts),
``outcomes`` (what became of contacts: lifecycle stages, lead statuses, deals), ``write`` (batch
updates), ``setup`` (properties), ``config`` (the ``[connectors.hubspot]`` table), ``emulator``
(a local HubSpot).

Accounts (:class:`~leadscore.agent.core.contract.SupportsAccounts`): ``account_type`` is
``"company"``, which is not among ``object_types``: the agent adds it when its config scores
accounts. A cursor, a count, an update or a read-back of type ``"company"`` goes to companies;
every other type is a contact's.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import structlog

from leadscore.agent.core.records import ObjectType
from leadscore.agent.core.contract import CheckReport, Cursor, OutcomeBatch, PullBatch, PullNeeds, ScoreUpdate, SetupReport, WriteResult, WriteSpec, connector_config
from leadscore.connectors.hubspot.client import HubSpotClient
from leadscore.connectors.hubspot.companies import COMPANY, CompanyReader
from leadscore.connectors.hubspot.config import HubSpotConfig
from leadscore.connectors.hubspot.outcomes import OutcomeReader
from leadscore.connectors.hubspot.pull import ContactReader, RecordReader
from leadscore.connectors.hubspot.readback import owned_values, portal_id
from leadscore.connectors.hubspot.setup import PropertySetup
from leadscore.connectors.hubspot.write import BATCH_UPDATE, ContactWriter

log = structlog.get_logger("leadscore.hubspot")


class HubSpotConnector:
    """Implements :class:`leadscore.agent.core.contract.Connector` for HubSpot contacts,
    :class:`~leadscore.agent.core.contract.SupportsAccounts` with companies, and
    :class:`~leadscore.connectors.base.SupportsWriteChunks`."""

    name: ClassVar[str] = "hubspot"
    object_types: ClassVar[tuple[ObjectType, ...]] = ("contact",)
    #: Companies are the accounts; not in ``object_types`` (see the module docstring).
    account_type: ClassVar[ObjectType] = COMPANY
    config_model: ClassVar[type[HubSpotConfig]] = HubSpotConfig
    #: :class:`~leadscore.connectors.base.SupportsWriteChunks`: one batch update takes 100 inputs,
    #: so the agent hands ``write`` whole hundreds (of each object type) and carries the rest.
    write_chunk: ClassVar[int] = BATCH_UPDATE
    #: No bulk path: every write goes in batch updates.
    bulk_threshold: ClassVar[int | None] = None

    def __init__(self, config: Mapping[str, Any] | HubSpotConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config = connector_config("hubspot", HubSpotConfig, config)
        self.client = HubSpotClient(config, sleep=sleep)
        self._reader = ContactReader(self.client, config)
        self._companies = CompanyReader(self.client, config)
        self._outcomes = OutcomeReader(self.client, config)
        self._properties = PropertySetup(self.client, config)
        self._writer = ContactWriter(self.client, config, ownership=self._properties)

    @property
    def write_values(self) -> frozenset[str]:
        return frozenset(self.config.write.mapping())

    def check(self) -> CheckReport:
        report = self._properties.check()
        for problem in report.problems:
            log.warning("check.problem", problem=problem)
        return report

    def setup(self, spec: WriteSpec) -> SetupReport:
        return self._properties.setup(spec)

    def pull(self, cursor: Cursor, *, until: datetime | None = None, needs: PullNeeds | None = None) -> Iterator[PullBatch]:
        return self._reader_of(cursor.object_type).pull(cursor, until, needs)

    def count(self, cursor: Cursor, *, until: datetime | None = None) -> int | None:
        """How many contacts (or companies) ``pull(cursor, until=until)`` would yield, on one
        search call: the optional progress-bar method of :mod:`leadscore.agent.core.contract`."""
        return self._reader_of(cursor.object_type).count(cursor, until)

    def _reader_of(self, object_type: ObjectType) -> RecordReader:
        return self._companies if object_type == COMPANY else self._reader

    def pull_outcomes(self, cursor: Cursor, *, until: datetime | None = None) -> Iterator[OutcomeBatch]:
        """What became of contacts since ``cursor``, up to ``until``: converted (lifecycle stage),
        disqualified (lead status), won or lost deals; two search windows and the deals' contacts
        (see :mod:`leadscore.connectors.hubspot.outcomes`, which also says what it costs)."""
        return self._outcomes.pull(cursor, until)

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        return self._writer.write(updates)

    def read_back(self, object_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every live contact's (or company's) owned properties as HubSpot holds them now (``reconcile``)."""
        return owned_values(self._reader_of(object_type), self.config.write.mapping())

    def identity(self) -> str:
        """Which portal this is (``hubspot:<portalId>``): a state store kept for another is not trusted."""
        return f"hubspot:{portal_id(self.client)}"

    def api_calls(self) -> Mapping[str, int]:
        return Counter(self.client.calls)

    def failures(self) -> Mapping[str, int]:
        """Failed record writes by error code, and calls that stopped a run (``AuthError``,
        ``QuotaExhausted``), since the connector was built."""
        return self._writer.failures + self.client.stops

    def close(self) -> None:
        self.client.close()
