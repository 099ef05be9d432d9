"""Outcomes from HubSpot, incrementally: what became of each contact, for training.

What is an outcome (the admin's ``[connectors.hubspot.outcomes]``, :class:`HubSpotOutcomes`):

====================================================  ==============================================
HubSpot                                               outcome of the contact
====================================================  ==============================================
``lifecyclestage`` in ``converted_stages``            ``converted``, at the earliest of those stages'
(customer, evangelist)                                ``hs_lifecyclestage_<stage>_date``
``hs_lead_status`` in ``disqualified_lead_status``    ``disqualified``, at the contact's
(UNQUALIFIED)                                         ``lastmodifieddate`` when first seen so
                                                      (``estimated``: HubSpot keeps no status date)
an associated deal, ``hs_is_closed_won``              ``won``, at its ``closedate``, with its
                                                      ``amount`` and ``createdate`` (``source_id``:
                                                      the deal's id)
an associated deal, ``hs_is_closed_lost``             ``lost``, likewise
an associated deal, open                              ``open`` (replaces an earlier won or lost of it)
====================================================  ==============================================

A converted contact reports ``converted`` only (its lead status no longer matters); the record's
own outcome and its deals' are separate (a contact can be converted and have a lost deal).

**Incremental, and what it costs.** Two search windows, each like the record pull's
(:mod:`leadscore.connectors.hubspot.pull`): from the outcome cursor less ``overlap_seconds`` to
the sync's ``until``, keyset-paged by ``hs_object_id`` at 200 a page, so HubSpot's 10,000-result
cap never applies and an interrupted pull resumes where it stopped:

1. contacts (``POST /crm/v3/objects/contacts/search``) with ``lastmodifieddate`` in the window
   *and* a deciding value - two filter groups, ORed: ``lifecyclestage IN converted_stages``,
   ``hs_lead_status IN disqualified_lead_status`` - so only decided contacts are read, not every
   contact the sync's own writes touched: ceil(C / 200) calls for C such contacts, at least one;
2. deals (``POST /crm/v3/objects/deals/search``) with ``hs_lastmodifieddate`` in the window,
   open ones included (an open deal is known before it closes; a reopened one withdraws its
   outcome): ceil(D / 200) calls, at least one;
   then their contacts through one v4 associations batch read (``deals`` -> ``contacts``) per
   1,000 deals: ceil(D / 1,000).

An unchanged re-run costs **2** calls (one empty search each); the first pull (no cursor) reads
every decided contact and every deal once. Deals move their own ``hs_lastmodifieddate`` when
their stage, close date or amount change, which is what decides an outcome. Not covered: a
contact associated with a deal after the deal last changed gets that deal's outcome only when
the deal changes again, and a contact whose stage or status moves back keeps its recorded outcome
(HubSpot moves a lifecycle stage back only after it is cleared); the state store keeps what it was
told until a later outcome of the same record and source replaces it.

The cursor is the two windows' positions, ``{"contacts": ..., "deals": ...}`` (each a plain instant
once its window is read, or a part-read keyset window); a plain instant (``backfill``'s form)
starts both windows there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterator, Mapping, Sequence

from leadscore.agent.core.contract import OUTCOMES, Cursor, OutcomeBatch, StalledCursorError
from leadscore.agent.core.records import Outcome, OutcomeKind
from leadscore.connectors.hubspot.client import HubSpotClient
from leadscore.connectors.hubspot.config import HubSpotConfig
from leadscore.connectors.hubspot.pull import ASSOCIATION_BATCH, SEARCH_PAGE, associated
from leadscore.connectors.kit.keyset import KeysetCursor, KeysetPage, KeysetPaginator, resume
from leadscore.connectors.kit.times import epoch_ms, parse_hubspot_time as parse_time

#: Deal properties read for outcomes.
DEAL_PROPERTIES = ["dealstage", "hs_is_closed_won", "hs_is_closed_lost", "hs_is_closed", "closedate", "amount",
                   "createdate", "hs_lastmodifieddate"]
CONTACTS, DEALS = "contacts", "deals"


def stage_date_property(stage: str) -> str:
    """HubSpot's "Became a <stage> Date" contact property (``hs_lifecyclestage_customer_date``)."""
    return f"hs_lifecyclestage_{stage}_date"


@dataclass(frozen=True)
class _Phase:
    """One search window of an outcome pull: an object type, the property stamping its changes,
    and the filters that pick the records worth reading (ORed groups, each ANDed with the window)."""

    object_type: str
    stamp: str
    groups: Sequence[Sequence[Mapping[str, Any]]]
    properties: Sequence[str]


class OutcomeReader:
    """HubSpot's outcomes as :class:`OutcomeBatch` values (see the module docstring)."""

    def __init__(self, client: HubSpotClient, config: HubSpotConfig) -> None:
        self.client = client
        self.config = config
        self.mapping = config.outcomes

    @property
    def _overlap(self) -> timedelta:
        return timedelta(seconds=self.config.overlap_seconds)

    def pull(self, cursor: Cursor, until: datetime | None) -> Iterator[OutcomeBatch]:
        positions = _positions(cursor.value)
        for phase in self._phases():
            for records, value in self._pages(phase, positions[phase.object_type], until):
                positions[phase.object_type] = value
                outcomes = self._contact_outcomes(records) if phase.object_type == CONTACTS else self._deal_outcomes(records)
                yield OutcomeBatch(outcomes, Cursor(OUTCOMES, json.dumps(positions, sort_keys=True)))

    def _phases(self) -> list[_Phase]:
        phases = []
        groups = []
        if self.mapping.converted_stages:
            groups.append([{"propertyName": "lifecyclestage", "operator": "IN", "values": list(self.mapping.converted_stages)}])
        if self.mapping.disqualified_lead_status:
            groups.append([{"propertyName": "hs_lead_status", "operator": "IN",
                            "values": list(self.mapping.disqualified_lead_status)}])
        if groups:
            properties = ["lifecyclestage", "hs_lead_status", "lastmodifieddate",
                          *(stage_date_property(s) for s in self.mapping.converted_stages)]
            phases.append(_Phase(CONTACTS, "lastmodifieddate", groups, properties))
        if self.mapping.deals:
            phases.append(_Phase(DEALS, "hs_lastmodifieddate", [[]], DEAL_PROPERTIES))
        return phases

    # --- search windows ---------------------------------------------------------------------

    def _pages(self, phase: _Phase, value: str | None, until: datetime | None) -> Iterator[tuple[list[Any], str]]:
        """Pages of ``phase``'s records changed in the window after ``value`` up to ``until``,
        with the position after each; deal pages are joined up to 1,000 deals, so their contacts
        cost one associations call (the last page's position is the finished window's)."""
        search = self.client.contacts_search if phase.object_type == CONTACTS else self.client.deals_search

        def fetch(window: KeysetCursor) -> KeysetPage[Any]:
            request = _search_request(phase, _window_filters(window, phase.stamp, self._overlap))
            response = self.client.call(f"{phase.object_type}.search", search.do_search,
                                        public_object_search_request=request, search=True)
            more = bool(getattr(getattr(getattr(response, "paging", None), "next", None), "after", None))
            return KeysetPage(list(response.results or []), more)

        paginator: KeysetPaginator[Any] = KeysetPaginator(
            fetch, key=_object_id, stamp=lambda r: parse_time(_props(r).get(phase.stamp)),
            stalled=f"HubSpot search answered {phase.object_type} at or before id {{after}} to a query for later ids: "
                    "the outcome pull would never end",
        )
        joined: list[Any] = []
        last = value or ""
        limit = ASSOCIATION_BATCH if phase.object_type == DEALS else SEARCH_PAGE
        for records, position in paginator.pages(*resume(value or "", until, parse_time)):
            joined.extend(records)
            last = position
            if len(joined) >= limit:
                yield joined, last
                joined = []
        if joined or last != (value or ""):
            yield joined, last

    # --- outcomes ---------------------------------------------------------------------------

    def _contact_outcomes(self, records: Sequence[Any]) -> list[Outcome]:
        """Each decided contact's own outcome: converted (dated by HubSpot's stage dates), else
        disqualified (dated by its modification, an estimate)."""
        found: list[Outcome] = []
        for record in records:
            props = _props(record)
            stage = props.get("lifecyclestage")
            if stage in self.mapping.converted_stages:
                dates = [parse_time(props.get(stage_date_property(s))) for s in self.mapping.converted_stages]
                when = min((d for d in dates if d is not None), default=None)
                estimated = when is None  # the stage without its date: when it was seen so
                found.append(Outcome.of(OutcomeKind.CONVERTED, str(record.id), "contact",
                                        when or parse_time(props.get("lastmodifieddate")), estimated=estimated,
                                        detail=f"lifecyclestage {stage}"))
            elif props.get("hs_lead_status") in self.mapping.disqualified_lead_status:
                found.append(Outcome.of(OutcomeKind.DISQUALIFIED, str(record.id), "contact",
                                        parse_time(props.get("lastmodifieddate")), estimated=True,
                                        detail=f"hs_lead_status {props.get('hs_lead_status')}"))
        return found

    def _deal_outcomes(self, deals: Sequence[Any]) -> list[Outcome]:
        """One outcome per deal and associated contact: won, lost or open (see the module docstring)."""
        if not deals:
            return []
        contacts: dict[str, list[str]] = {}  # deal id -> its contacts
        for contact_id, deal_ids in associated(self.client, DEALS, [str(d.id) for d in deals], CONTACTS).items():
            for deal_id in deal_ids:
                contacts.setdefault(deal_id, []).append(contact_id)
        found: list[Outcome] = []
        for deal in deals:
            props = _props(deal)
            kind = deal_kind(props)
            when, estimated = None, False
            if kind is not OutcomeKind.OPEN:
                when = parse_time(props.get("closedate"))
                if when is None:  # closed without a close date: when it was seen closed
                    when, estimated = parse_time(props.get("hs_lastmodifieddate")), True
            detail = f"dealstage {props.get('dealstage')}" if props.get("dealstage") else None
            for contact_id in dict.fromkeys(contacts.get(str(deal.id), ())):
                found.append(Outcome.of(kind, contact_id, "contact", when, amount=_amount(props.get("amount")),
                                        source_id=str(deal.id), detail=detail, estimated=estimated,
                                        started_at=parse_time(props.get("createdate"))))
        return found


def deal_kind(props: Mapping[str, Any]) -> OutcomeKind:
    """Won, lost or open, from HubSpot's calculated ``hs_is_closed_won`` / ``hs_is_closed_lost`` /
    ``hs_is_closed`` (any pipeline); the default pipeline's stage ids where they are missing."""
    def flag(name: str) -> bool | None:
        value = props.get(name)
        return None if value in (None, "") else str(value).lower() == "true"

    won, lost, closed = flag("hs_is_closed_won"), flag("hs_is_closed_lost"), flag("hs_is_closed")
    stage = props.get("dealstage") or ""
    if won or (won is None and stage == "closedwon"):
        return OutcomeKind.WON
    if lost or (lost is None and closed) or (lost is None and closed is None and stage == "closedlost"):
        return OutcomeKind.LOST
    return OutcomeKind.OPEN


def _amount(raw: Any) -> float | None:
    try:
        return float(str(raw).replace(",", "")) if raw not in (None, "") else None
    except ValueError:
        return None


def _props(record: Any) -> Mapping[str, Any]:
    props = getattr(record, "properties", None)
    return props if isinstance(props, Mapping) else {}


def _object_id(record: Any) -> int:
    try:
        return int(str(record.id))
    except (TypeError, ValueError):
        raise StalledCursorError(f"HubSpot answered a record whose id {record.id!r} is not a number") from None


def _positions(value: str | None) -> dict[str, str | None]:
    """Each window's position in an outcome cursor value; a plain instant starts both there."""
    if value and value.startswith("{"):
        data = json.loads(value)
        if CONTACTS in data or DEALS in data:
            return {CONTACTS: data.get(CONTACTS), DEALS: data.get(DEALS)}
    return {CONTACTS: value or None, DEALS: value or None}


def _window_filters(window: KeysetCursor, stamp: str, overlap: timedelta) -> list[dict[str, str]]:
    filters = []
    start = window.start(overlap)
    if start is not None:
        filters.append({"propertyName": stamp, "operator": "GTE", "value": str(epoch_ms(start))})
    if window.until is not None:
        filters.append({"propertyName": stamp, "operator": "LTE", "value": str(epoch_ms(window.until))})
    if window.after:
        filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(window.after)})
    return filters


def _search_request(phase: _Phase, window: list[dict[str, str]]) -> Any:
    """The search body: each filter group ANDed with the window (groups are ORed), sorted by id."""
    from hubspot.crm.deals import PublicObjectSearchRequest  # the same model for every object type

    groups = [{"filters": [*window, *group]} for group in phase.groups if window or group]
    return PublicObjectSearchRequest(
        filter_groups=groups,
        sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        properties=list(phase.properties),
        limit=SEARCH_PAGE,
    )
