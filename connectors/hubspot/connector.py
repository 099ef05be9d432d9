"""The HubSpot connector: contacts in, scores out, through the official SDK.

The pieces live beside it: ``client`` (the SDK behind limits, retries and error mapping),
``pull`` (search windows, listings, engagement), ``write`` (batch updates), ``setup``
(properties), ``config`` (the ``[connectors.hubspot]`` table), ``emulator`` (a local HubSpot).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import structlog

from leadscore.agent.core.records import ObjectType
from leadscore.agent.core.contract import CheckReport, Cursor, Outcome, PullBatch, PullNeeds, ScoreUpdate, SetupReport, WriteResult, WriteSpec, connector_config
from leadscore.connectors.hubspot.client import HubSpotClient
from leadscore.connectors.hubspot.config import HubSpotConfig
from leadscore.connectors.hubspot.pull import ContactReader
from leadscore.connectors.hubspot.readback import owned_values, portal_id
from leadscore.connectors.hubspot.setup import PropertySetup
from leadscore.connectors.hubspot.write import ContactWriter
from leadscore.connectors.kit.times import parse_hubspot_time as parse_time

log = structlog.get_logger("leadscore.hubspot")

#: lifecyclestage values that mean the contact became a customer.
CONVERTED_STAGES = frozenset({"customer", "evangelist"})


def _is_won(deal: Mapping[str, Any]) -> bool:
    """HubSpot's calculated ``hs_is_closed_won`` (true for any pipeline's won stage); the default
    pipeline's ``closedwon`` stage only where that value is missing."""
    flag = deal.get("hs_is_closed_won")
    if flag not in (None, ""):
        return str(flag).lower() == "true"
    return (deal.get("dealstage") or "") == "closedwon"


class HubSpotConnector:
    """Implements :class:`leadscore.agent.core.contract.Connector` for HubSpot contacts."""

    name: ClassVar[str] = "hubspot"
    object_types: ClassVar[tuple[ObjectType, ...]] = ("contact",)
    config_model: ClassVar[type[HubSpotConfig]] = HubSpotConfig

    def __init__(self, config: Mapping[str, Any] | HubSpotConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config = connector_config("hubspot", HubSpotConfig, config)
        self.client = HubSpotClient(config, sleep=sleep)
        self._reader = ContactReader(self.client, config)
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
        return self._reader.pull(cursor, until, needs)

    def count(self, cursor: Cursor, *, until: datetime | None = None) -> int | None:
        """How many contacts ``pull(cursor, until=until)`` would yield, on one search call: the
        optional progress-bar method of :mod:`leadscore.agent.core.contract`."""
        return self._reader.count(cursor, until)

    def pull_outcomes(self, since: datetime | None = None) -> Iterator[Outcome]:
        """Every contact's conversion label: converted when its lifecyclestage is customer (or
        evangelist) or one of its associated deals is won (``hs_is_closed_won``). Dated by the
        earliest of ``hs_lifecyclestage_customer_date`` and the won deals' ``closedate``;
        ``detail`` is ``"won deal"`` when a won deal decided it. Per page of 100 contacts: one
        associations call, then a deal batch read per 100 associated deals."""
        for records, _ in self._reader.list_pages(["lifecyclestage", "hs_lifecyclestage_customer_date"]):
            deals = self._reader.associated_deals([str(r.id) for r in records]) if records else {}
            for record in records:
                props = record.properties or {}
                customer = (props.get("lifecyclestage") or "").lower() in CONVERTED_STAGES
                customer_at = parse_time(props.get("hs_lifecyclestage_customer_date")) if customer else None
                won = [d for d in deals.get(str(record.id), ()) if _is_won(d)]
                won_at = [t for t in (parse_time(d.get("closedate")) for d in won) if t is not None]
                converted = customer or bool(won)
                when = min([t for t in (customer_at, *won_at) if t is not None], default=None)
                by_deal = bool(won) and (not customer or (bool(won_at) and (customer_at is None or min(won_at) < customer_at)))
                if since is not None and converted and when is not None and when < since:
                    continue
                yield Outcome(str(record.id), "contact", converted, when if converted else None,
                              "won deal" if by_deal else None)

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        return self._writer.write(updates)

    def read_back(self, object_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every live contact's owned properties as HubSpot holds them now (``reconcile``)."""
        return owned_values(self._reader, self.config.write.mapping())

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
