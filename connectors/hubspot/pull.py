"""Reading contacts and their engagement from HubSpot, on as few calls as HubSpot allows.

Incremental pulls use the CRM search API sorted by ``lastmodifieddate`` ascending at HubSpot's
maximum page (200). One search query reaches at most 10,000 results, so when the next page
would pass that cap the window restarts at the last ``lastmodifieddate`` seen (``GTE``), and the
ids already read at exactly that instant are skipped. Backfills list every contact through the
objects API (100 a page, ``after`` paging), resumably: the cursor carries the ``after`` token.

What is read, and what it maps to (documented in the README's HubSpot section):

====================================  ===========================================================
HubSpot                               leadscore
====================================  ===========================================================
contact properties (``fields`` map)   ``Lead.fields`` under canonical names
email engagement, INCOMING_EMAIL      ``email_reply`` (outgoing rep emails are not lead activity)
call engagement                       ``call`` (properties ``status``, ``direction``, ``duration``)
meeting engagement                    ``meeting`` (properties ``outcome``, ``title``)
``recent_conversion_date``            ``form_submit`` (property ``form``: the conversion's name)
``hs_email_last_open_date``           ``email_open`` (the last one; counts are in ``email_opens``)
``hs_email_last_click_date``          ``email_click`` (the last one; counts in ``email_clicks``)
``hs_analytics_last_visit_timestamp`` ``page_view`` without ``url`` (counts in ``page_views``)
notes, tasks                          not read: they are the rep's, not the lead's
====================================  ===========================================================

Marketing email events and page-level web analytics need APIs a private app's CRM scopes do
not reach, so HubSpot portals score page views and email engagement from the summary fields.

Deleted contacts are not reported as ``deleted_ids``: search never returns archived records and
listing the archive on every sync would cost a page per 100 deletions ever made. A write to a
deleted contact answers ``OBJECT_NOT_FOUND`` and fails permanently for that record alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

from agent.records import Activity, Lead
from connectors.base import Cursor, PullBatch, PullNeeds
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.config import HubSpotConfig

SEARCH_PAGE = 200  # HubSpot's maximum search page size
SEARCH_CAP = 10_000  # results one search query can reach; `after` beyond it answers 400
LIST_PAGE = 100  # objects API maximum page size
BATCH_READ = 100  # batch read maximum inputs
ASSOCIATION_BATCH = 1_000  # associations batch read maximum inputs (since 2025-02-10)

#: Engagement object -> the activity types it can produce.
ENGAGEMENT_TYPES: dict[str, frozenset[str]] = {
    "emails": frozenset({"email_reply"}),
    "calls": frozenset({"call"}),
    "meetings": frozenset({"meeting"}),
}
ENGAGEMENT_PROPERTIES: dict[str, list[str]] = {
    "emails": ["hs_timestamp", "hs_email_direction"],
    "calls": ["hs_timestamp", "hs_call_status", "hs_call_direction", "hs_call_duration"],
    "meetings": ["hs_timestamp", "hs_meeting_outcome", "hs_meeting_title"],
}
#: Deal properties read for conversion labels.
DEAL_PROPERTIES: list[str] = ["hs_is_closed_won", "closedate", "dealstage"]
#: Summary property -> (activity type, property name for the detail, detail source property).
SUMMARY_ACTIVITIES: dict[str, tuple[str, str | None, str | None]] = {
    "recent_conversion_date": ("form_submit", "form", "recent_conversion_event_name"),
    "hs_email_last_open_date": ("email_open", None, None),
    "hs_email_last_click_date": ("email_click", None, None),
    "hs_analytics_last_visit_timestamp": ("page_view", None, None),
}
ALWAYS = ("hs_object_id", "createdate", "lastmodifieddate")


def parse_time(value: Any) -> datetime | None:
    """HubSpot datetimes: ISO 8601 (``...Z``, with or without milliseconds) or epoch ms."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class PullPlan:
    """What one pull requests: contact properties, engagement objects, summary activities."""

    properties: list[str]
    engagements: list[str]
    summaries: dict[str, tuple[str, str | None, str | None]]

    @classmethod
    def build(cls, config: HubSpotConfig, needs: PullNeeds | None) -> PullPlan:
        field_map = config.field_map()
        wanted_fields = field_map.keys() if needs is None else needs.fields & field_map.keys()
        wanted_types = None if needs is None else needs.activity_types
        properties = set(ALWAYS) | {field_map[f] for f in wanted_fields}
        summaries = {
            prop: spec for prop, spec in SUMMARY_ACTIVITIES.items() if wanted_types is None or spec[0] in wanted_types
        }
        for prop, (_, _, detail) in summaries.items():
            properties.add(prop)
            if detail:
                properties.add(detail)
        if config.lifecycle:
            properties.add("lifecyclestage")
        engagements = [
            e for e in config.engagements if wanted_types is None or ENGAGEMENT_TYPES[e] & wanted_types
        ]
        return cls(sorted(properties), engagements, summaries)


class ContactReader:
    """Pages of contacts, each with its activities, as :class:`PullBatch` values."""

    def __init__(self, client: HubSpotClient, config: HubSpotConfig) -> None:
        self.client = client
        self.config = config
        self._fields = config.field_map()

    # --- paging ----------------------------------------------------------------------------

    def pull(self, cursor: Cursor, until: datetime | None, needs: PullNeeds | None) -> Iterator[PullBatch]:
        plan = PullPlan.build(self.config, needs)
        state = _ListState.decode(cursor.value)
        if cursor.value is None or state is not None:
            pages = self._list_all(plan, state or _ListState(after=None, started=iso(datetime.now(timezone.utc))))
        else:
            pages = self._search_changed(plan, parse_time(cursor.value), until)
        yield from self._grouped(pages, plan)

    def count(self, cursor: Cursor, until: datetime | None) -> int | None:
        """How many contacts :meth:`pull` would yield, for a progress bar: one search call with
        the pull's own window and ``limit=1``, whose ``total`` counts every match. A full pull
        lists every contact whatever ``until`` says, so its count is every contact; a resumed
        listing counts them all too (an upper bound)."""
        from hubspot.crm.contacts import PublicObjectSearchRequest

        listing = cursor.value is None or _ListState.decode(cursor.value) is not None
        filters = [] if listing else _window_filters(parse_time(cursor.value), until)
        request = PublicObjectSearchRequest(
            filter_groups=[{"filters": filters}] if filters else [], properties=["hs_object_id"], limit=1
        )
        response = self.client.call(
            "contacts.search", self.client.contacts_search.do_search, public_object_search_request=request, search=True
        )
        total = getattr(response, "total", None)
        return int(total) if total is not None else None

    def _grouped(self, pages: Iterator[tuple[list[Any], str]], plan: PullPlan) -> Iterator[PullBatch]:
        """Pages joined into batches of ``pull_batch_size`` contacts: engagement is then read
        with one associations call per object for the whole batch (up to HubSpot's 1,000) and
        full 100-id batch reads, rather than part-filled calls per page."""
        records: list[Any] = []
        last = ""
        for page, cursor_value in pages:
            records.extend(page)
            last = cursor_value
            if len(records) >= self.config.pull_batch_size:
                yield self._batch(records, plan, Cursor("contact", last))
                records = []
        if records or last:
            yield self._batch(records, plan, Cursor("contact", last))

    def _search_changed(
        self, plan: PullPlan, since: datetime | None, until: datetime | None
    ) -> Iterator[tuple[list[Any], str]]:
        """Pages of contacts with ``since <= lastmodifieddate <= until``, oldest first.

        Keyset paging: each request starts the window again at the newest ``lastmodifieddate``
        read so far, skipping the ids already read at exactly that instant. Offset paging (HubSpot's
        ``after``) would skip records whenever one leaves the window between two pages - as every
        record the agent writes does, and any a user edits - since the offsets after it shift.
        Offsets are used only through a run of records sharing one instant (a batch update stamps
        its records alike), and such a run is read whole before it is handed on.
        """
        from hubspot.crm.contacts import PublicObjectSearchRequest

        lower = since
        skip: set[str] = set()  # ids already read at exactly `lower`
        while True:
            group: list[Any] = []
            read: list[tuple[str, datetime | None]] = []
            after = 0
            while True:
                filters = _window_filters(lower, until)
                request = PublicObjectSearchRequest(
                    filter_groups=[{"filters": filters}] if filters else [],
                    sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                    properties=plan.properties,
                    limit=SEARCH_PAGE,
                    after=str(after) if after else None,
                )
                response = self.client.call(
                    "contacts.search", self.client.contacts_search.do_search, public_object_search_request=request, search=True
                )
                results = list(response.results or [])
                for record in results:
                    modified = _modified(record)
                    read.append((str(record.id), modified))
                    if lower is not None and modified == lower and str(record.id) in skip:
                        continue
                    group.append(record)
                paging = getattr(response, "paging", None)
                next_after = getattr(getattr(paging, "next", None), "after", None)
                stamps = [m for _, m in read if m is not None]
                top = max(stamps, default=None)
                if not next_after or (top is not None and (lower is None or top > lower)):
                    break
                # A whole page at `lower`: page on through that instant by offset.
                after = int(next_after)
                if after >= SEARCH_CAP:
                    raise RuntimeError(
                        "more than 10,000 contacts share one lastmodifieddate; HubSpot search cannot page past them"
                    )
            stamps = [m for _, m in read if m is not None]
            newest = max(stamps, default=lower)
            if group:
                yield group, iso(newest) if newest else ""
            if not next_after:
                return
            at_newest = {record_id for record_id, m in read if m == newest}
            skip = at_newest | (skip if newest == lower else set())
            lower = newest

    def _list_all(self, plan: PullPlan, state: _ListState) -> Iterator[tuple[list[Any], str]]:
        """Every contact through the objects API; the cursor resumes mid-listing, and after the
        last page it becomes the listing's start time, for the incremental pulls that follow."""
        for records, after in self.list_pages(plan.properties, state.after):
            yield records, (_ListState(after, state.started).encode() if after else state.started)

    def list_pages(self, properties: list[str], after: str | None = None) -> Iterator[tuple[list[Any], str | None]]:
        """Pages of 100 contacts with ``properties``, and the ``after`` token of the next page."""
        while True:
            response = self.client.call(
                "contacts.list",
                self.client.contacts_basic.get_page,
                limit=LIST_PAGE,
                after=after,
                properties=properties,
                archived=False,
            )
            after = getattr(getattr(getattr(response, "paging", None), "next", None), "after", None)
            yield list(response.results or []), after
            if not after:
                return

    # --- records and activities ------------------------------------------------------------

    def _batch(self, records: Sequence[Any], plan: PullPlan, cursor: Cursor) -> PullBatch:
        leads = [self._lead(r) for r in records]
        activities: list[Activity] = []
        for record in records:
            activities.extend(self._summary_activities(record, plan))
        if plan.engagements and records:
            activities.extend(self._engagement_activities([r.id for r in records], plan.engagements))
        return PullBatch(leads=leads, activities=activities, cursor=cursor)

    def _lead(self, record: Any) -> Lead:
        props: Mapping[str, Any] = record.properties or {}
        fields = {name: props[prop] for name, prop in self._fields.items() if props.get(prop) not in (None, "")}
        if "employees" in fields and self._fields.get("employees") == "numemployees":
            fields["employees"] = employees_from_bucket(fields["employees"])
        if "lifecyclestage" in props:
            fields["custom.lifecyclestage"] = props.get("lifecyclestage")
        return Lead(
            id=str(record.id),
            object_type="contact",
            fields=fields,
            created_at=parse_time(props.get("createdate")) or parse_time(getattr(record, "created_at", None)),
            updated_at=_modified(record),
        )

    @staticmethod
    def _summary_activities(record: Any, plan: PullPlan) -> Iterable[Activity]:
        props: Mapping[str, Any] = record.properties or {}
        for prop, (kind, detail_name, detail_prop) in plan.summaries.items():
            when = parse_time(props.get(prop))
            if when is None:
                continue
            details = {detail_name: props[detail_prop]} if detail_name and detail_prop and props.get(detail_prop) else {}
            yield Activity(str(record.id), kind, when, details)

    def _engagement_activities(self, contact_ids: list[str], engagements: list[str]) -> list[Activity]:
        activities: list[Activity] = []
        for object_type in engagements:
            by_engagement = self._associated(contact_ids, object_type)
            if not by_engagement:
                continue
            ids = list(by_engagement)
            for start in range(0, len(ids), BATCH_READ):
                chunk = ids[start : start + BATCH_READ]
                for engagement in self._read_objects(object_type, chunk):
                    activity = _engagement_activity(object_type, engagement.properties or {})
                    if activity is None:
                        continue
                    kind, when, props = activity
                    props = {**props, "id": str(engagement.id)}  # two alike at one instant stay two
                    for contact_id in by_engagement.get(str(engagement.id), ()):
                        activities.append(Activity(contact_id, kind, when, props))
        return activities

    def associated_deals(self, contact_ids: list[str]) -> dict[str, list[Mapping[str, Any]]]:
        """Contact id -> the properties (``DEAL_PROPERTIES``) of its associated deals: one
        associations call per 1,000 contacts, then batch reads of 100 deals."""
        by_deal = self._associated(contact_ids, "deals")
        ids = list(by_deal)
        deals: dict[str, list[Mapping[str, Any]]] = {}
        for start in range(0, len(ids), BATCH_READ):
            for deal in self._read_objects("deals", ids[start : start + BATCH_READ], DEAL_PROPERTIES):
                for contact_id in by_deal.get(str(deal.id), ()):
                    deals.setdefault(contact_id, []).append(deal.properties or {})
        return deals

    def _associated(self, contact_ids: list[str], object_type: str) -> dict[str, list[str]]:
        """Engagement id -> the contacts (of these) it is associated with."""
        from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest

        found: dict[str, list[str]] = {}
        pending: list[dict[str, Any]] = [{"id": cid} for cid in contact_ids]
        while pending:
            chunk, pending = pending[:ASSOCIATION_BATCH], pending[ASSOCIATION_BATCH:]
            response = self.client.call(
                f"associations.{object_type}",
                self.client.associations.get_page,
                "contacts",
                object_type,
                batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(inputs=chunk),
            )
            for result in response.results or []:
                contact_id = str(result._from.id)
                for target in result.to or []:
                    found.setdefault(str(target.to_object_id), []).append(contact_id)
                next_after = getattr(getattr(getattr(result, "paging", None), "next", None), "after", None)
                if next_after:
                    pending.append({"id": contact_id, "after": next_after})
        return found

    def _read_objects(self, object_type: str, ids: list[str], properties: list[str] | None = None) -> list[Any]:
        from hubspot.crm.objects import BatchReadInputSimplePublicObjectId

        response = self.client.call(
            f"{object_type}.batch.read",
            self.client.objects_batch.read,
            object_type,
            batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
                inputs=[{"id": i} for i in ids],
                properties=properties if properties is not None else ENGAGEMENT_PROPERTIES[object_type],
                properties_with_history=[],
            ),
        )
        # Archived or missing records come back as errors (207): nothing to score there.
        return list(response.results or [])


def employees_from_bucket(value: Any) -> Any:
    """HubSpot's ``numemployees`` is an enumeration of buckets (``"100-500"``, ``"1000+"``);
    a bucket reads as its lower bound, so a size rule never overstates a company. Anything
    else is passed on as it is (a portal may have redefined the property as a number)."""
    text = str(value).strip()
    head = text.rstrip("+").split("-", 1)[0].replace(",", "").strip()
    if head.isdigit() and (text.endswith("+") or "-" in text):
        return int(head)
    return value


def _engagement_activity(object_type: str, props: Mapping[str, Any]) -> tuple[str, datetime, dict[str, Any]] | None:
    when = parse_time(props.get("hs_timestamp"))
    if when is None:
        return None
    if object_type == "emails":
        if (props.get("hs_email_direction") or "").upper() != "INCOMING_EMAIL":
            return None
        return "email_reply", when, {}
    if object_type == "calls":
        return "call", when, _present(
            status=props.get("hs_call_status"), direction=props.get("hs_call_direction"), duration=props.get("hs_call_duration")
        )
    if object_type == "meetings":
        return "meeting", when, _present(outcome=props.get("hs_meeting_outcome"), title=props.get("hs_meeting_title"))
    return None


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "")}


def _window_filters(lower: datetime | None, until: datetime | None) -> list[dict[str, str]]:
    """Search filters for ``lower <= lastmodifieddate <= until`` (either end open when None)."""
    filters = []
    if lower is not None:
        filters.append({"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(to_ms(lower))})
    if until is not None:
        filters.append({"propertyName": "lastmodifieddate", "operator": "LTE", "value": str(to_ms(until))})
    return filters


def _modified(record: Any) -> datetime | None:
    return parse_time((record.properties or {}).get("lastmodifieddate")) or parse_time(getattr(record, "updated_at", None))


@dataclass(frozen=True)
class _ListState:
    """A backfill's place in the listing, kept in the cursor so an interrupted backfill resumes."""

    after: str | None
    started: str

    def encode(self) -> str:
        return json.dumps({"list_after": self.after, "started": self.started}, sort_keys=True)

    @classmethod
    def decode(cls, value: str | None) -> _ListState | None:
        if not value or not value.startswith("{"):
            return None
        data = json.loads(value)
        return cls(data.get("list_after"), data["started"])
