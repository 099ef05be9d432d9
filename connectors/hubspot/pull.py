"""Reading contacts and their engagement from HubSpot, on as few calls as HubSpot allows.

Incremental pulls use the CRM search API over a fixed window of ``lastmodifieddate`` (from the
cursor, less ``overlap_seconds``, to the sync's ``until``), paged by record id: each request asks
for ``hs_object_id`` greater than the last id read, sorted by ``hs_object_id``, at HubSpot's
maximum page (200). Keyset paging by id reads each record of the window once, on ceil(N/200)
calls: it never meets the 10,000-result cap of one query (each request starts again at
``after=0``), ties on one ``lastmodifieddate`` of any size are nothing special, and a record that
leaves the window while it is paged (edited, or written by the agent itself) moves no other
record's place, as it would with offsets. HubSpot does not document keyset paging on
``hs_object_id``; it documents the filter (``GT``), the sort (one rule) and the 10,000 cap, which
are all it needs. Once a window is read, the cursor is its ``until``, so the next window starts
``overlap_seconds`` before it: an unchanged re-run costs one search call, and re-reads only what
changed in that overlap. While a window is part-read, the cursor carries the window and the last
id, so an interrupted pull resumes where it stopped. The overlap covers HubSpot's own caveat: "It
may take a few moments for newly created or updated CRM objects to appear in search results"
(search guide), and clock skew between the agent and HubSpot up to its length.

Backfills list every contact through the objects API (100 a page, ``after`` paging), resumably:
the cursor carries the ``after`` token. A page that does not move a pull forward (the same
``after`` token again, ids that do not increase) fails the pull with
:class:`~leadscore.agent.core.errors.StalledCursorError` rather than looping.

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

No value stops a pull: a date that cannot be read (``"99999999999999999"``, past any datetime)
leaves its activity out, odd values are cleaned or dropped (:func:`leadscore.agent.core.records.usable_fields`),
and each is named on the contact's ``Lead.problems``, which the pipeline counts as ``warned``.

Every contact carries :attr:`Lead.account_id`, its primary company's id (``associatedcompanyid``,
"Primary Associated Company ID", which HubSpot keeps in step with the primary association), read
on every pull whatever the needs: the agent joins the account's fields to its people with it.

The paging is :class:`RecordReader`'s, shared with companies (:mod:`.companies`): an object type
names its search and listing APIs and its modification stamp (contacts ``lastmodifieddate``,
companies ``hs_lastmodifieddate``); everything above is the same for both.

Deleted contacts are not reported as ``deleted_ids``: search never returns archived records and
listing the archive on every sync would cost a page per 100 deletions ever made. A write to a
deleted contact answers ``OBJECT_NOT_FOUND`` and fails permanently for that record alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from importlib import import_module
from typing import Any, ClassVar, Iterable, Iterator, Mapping, Protocol, Sequence

from leadscore.agent.core.records import Activity, Lead, ObjectType, Unusable, unreadable_lead, usable_fields, usable_value
from leadscore.agent.core.contract import Cursor, PullBatch, PullNeeds, StalledCursorError
from leadscore.connectors.hubspot.client import HubSpotClient
from leadscore.connectors.hubspot.config import HubSpotConfig
from leadscore.connectors.kit.chunking import chunks, drain
from leadscore.connectors.kit.keyset import KeysetCursor, KeysetPage, KeysetPaginator, resume
from leadscore.connectors.kit.page_tokens import PageTokens

# HubSpot's timestamps (ISO 8601 with ``Z``, or epoch milliseconds) are read by the kit, under
# the names this module has always had: ``read_time`` also says why a value is unusable.
from leadscore.connectors.kit.times import epoch_ms, iso_ms_z, parse_hubspot_time as parse_time, read_hubspot_time as read_time

SEARCH_PAGE = 200  # HubSpot's maximum search page size
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
#: Summary property -> (activity type, property name for the detail, detail source property).
SUMMARY_ACTIVITIES: dict[str, tuple[str, str | None, str | None]] = {
    "recent_conversion_date": ("form_submit", "form", "recent_conversion_event_name"),
    "hs_email_last_open_date": ("email_open", None, None),
    "hs_email_last_click_date": ("email_click", None, None),
    "hs_analytics_last_visit_timestamp": ("page_view", None, None),
}
#: Read on every contact pull: ``associatedcompanyid`` is the contact's account (primary company).
ALWAYS = ("hs_object_id", "createdate", "lastmodifieddate", "associatedcompanyid")


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


class Plan(Protocol):
    """What one pull requests: at least the properties of the records it pages."""

    @property
    def properties(self) -> list[str]: ...


class RecordReader:
    """Pages of one object type's records as :class:`PullBatch` values: full listings and keyset
    search windows (see the module docstring). A subclass names the object type and says what a
    pull requests (:meth:`plan`) and what a page of records becomes (:meth:`_batch`)."""

    #: The connector's name for the object type (``Cursor.object_type``, ``Lead.object_type``).
    object_type: ClassVar[ObjectType] = "contact"
    #: The v3 objects API's name for it: ``contacts`` (the client's ``contacts_search``...).
    plural: ClassVar[str] = "contacts"
    #: The property HubSpot stamps on every change of a record of this type.
    modified: ClassVar[str] = "lastmodifieddate"

    def __init__(self, client: HubSpotClient, config: HubSpotConfig) -> None:
        self.client = client
        self.config = config

    def plan(self, needs: PullNeeds | None) -> Plan:
        raise NotImplementedError

    def _batch(self, records: Sequence[Any], plan: Any, cursor: Cursor) -> PullBatch:
        raise NotImplementedError

    # --- paging ----------------------------------------------------------------------------

    def pull(self, cursor: Cursor, until: datetime | None, needs: PullNeeds | None) -> Iterator[PullBatch]:
        plan = self.plan(needs)
        state = _ListState.decode(cursor.value)
        if cursor.value is None or state is not None:
            pages = self._list_all(plan, state or _ListState(after=None, started=iso_ms_z(datetime.now(timezone.utc))))
        else:
            pages = self._search_changed(plan, *resume(cursor.value, until, parse_time))
        yield from self._grouped(pages, plan)

    def count(self, cursor: Cursor, until: datetime | None) -> int | None:
        """How many records :meth:`pull` would yield, for a progress bar: one search call with
        the pull's own window and ``limit=1``, whose ``total`` counts every match. A full pull
        lists every record whatever ``until`` says, so its count is every record; a resumed
        listing counts them all too (an upper bound)."""
        listing = cursor.value is None or _ListState.decode(cursor.value) is not None
        filters = [] if listing else _filters(resume(cursor.value, until, parse_time)[0], self._overlap, self.modified)
        request = self._search_request(
            filter_groups=[{"filters": filters}] if filters else [], properties=["hs_object_id"], limit=1
        )
        response = self.client.call(
            f"{self.plural}.search", self._search_api.do_search, public_object_search_request=request, search=True
        )
        total = getattr(response, "total", None)
        return int(total) if total is not None else None

    @property
    def _search_api(self) -> Any:
        return getattr(self.client, f"{self.plural}_search")

    def _search_request(self, **fields: Any) -> Any:
        """The SDK's ``PublicObjectSearchRequest`` of this object type's package."""
        return import_module(f"hubspot.crm.{self.plural}").PublicObjectSearchRequest(**fields)

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
                yield self._batch(records, plan, Cursor(self.object_type, last))
                records = []
        if records or last:
            yield self._batch(records, plan, Cursor(self.object_type, last))

    @property
    def _overlap(self) -> timedelta:
        return timedelta(seconds=self.config.overlap_seconds)

    def _search_changed(self, plan: Plan, window: KeysetCursor, then: datetime | None) -> Iterator[tuple[list[Any], str]]:
        """Pages of the records modified in ``window``, by ascending id (see the module docstring),
        through the kit's :class:`~leadscore.connectors.kit.keyset.KeysetPaginator`.

        A window left part-read by an interrupted pull is finished first; the window from its
        end up to this pull's ``until`` (``then``) follows. Each page's cursor value resumes after
        it; the last one is the finished window's ``until``.
        """
        def fetch(cursor: KeysetCursor) -> KeysetPage[Any]:
            filters = _filters(cursor, self._overlap, self.modified)
            request = self._search_request(
                filter_groups=[{"filters": filters}] if filters else [],
                sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                properties=plan.properties,
                limit=SEARCH_PAGE,
            )
            response = self.client.call(
                f"{self.plural}.search", self._search_api.do_search, public_object_search_request=request, search=True
            )
            more = bool(getattr(getattr(getattr(response, "paging", None), "next", None), "after", None))
            return KeysetPage(list(response.results or []), more)

        paginator: KeysetPaginator[Any] = KeysetPaginator(
            fetch, key=_object_id, stamp=lambda record: _modified(record, self.modified),
            stalled=f"HubSpot search answered {self.plural} at or before id {{after}} to a query for later ids: "
                    "the pull would never end",
        )
        yield from paginator.pages(window, then)

    def _list_all(self, plan: Plan, state: _ListState) -> Iterator[tuple[list[Any], str]]:
        """Every record through the objects API; the cursor resumes mid-listing, and after the
        last page it becomes the listing's start time, for the incremental pulls that follow."""
        for records, after in self.list_pages(plan.properties, state.after):
            yield records, (_ListState(after, state.started).encode() if after else state.started)

    def list_pages(self, properties: list[str], after: str | None = None) -> Iterator[tuple[list[Any], str | None]]:
        """Pages of 100 records with ``properties``, and the ``after`` token of the next page."""
        tokens = PageTokens("HubSpot answered the paging token {token!r} twice: the listing would never end")
        while True:
            response = self.client.call(
                f"{self.plural}.list",
                getattr(self.client, f"{self.plural}_basic").get_page,
                limit=LIST_PAGE,
                after=after,
                properties=properties,
                # ``archived`` left out: its default is false (the spec types it a boolean, which
                # the SDK would send as the Python spelling ``False``).
            )
            after = getattr(getattr(getattr(response, "paging", None), "next", None), "after", None)
            tokens.follow(after)
            yield list(response.results or []), after
            if not after:
                return



class ContactReader(RecordReader):
    """Pages of contacts, each with its activities, as :class:`PullBatch` values."""

    def __init__(self, client: HubSpotClient, config: HubSpotConfig) -> None:
        super().__init__(client, config)
        self._fields = config.field_map()

    def plan(self, needs: PullNeeds | None) -> PullPlan:
        return PullPlan.build(self.config, needs)

    # --- records and activities ------------------------------------------------------------

    def _batch(self, records: Sequence[Any], plan: PullPlan, cursor: Cursor) -> PullBatch:
        """The batch of ``records``: each a lead carrying the values it could not use
        (:attr:`Lead.problems`: its own properties, its summary dates, its engagements'), so one
        bad value never stops the batch. A record that cannot be read at all becomes an
        unreadable stand-in, which the pipeline counts ``bad`` and leaves out."""
        leads: list[Lead] = []
        activities: list[Activity] = []
        for record in records:
            try:
                lead = self._lead(record)
                problems = list(lead.problems)
                found = list(self._summary_activities(record, plan, problems))
            except Exception as exc:  # noqa: BLE001 - the last guard: one record, not the batch
                leads.append(unreadable_lead(getattr(record, "id", None), "contact", exc))
                continue
            activities.extend(found)
            leads.append(replace(lead, problems=tuple(problems)) if len(problems) != len(lead.problems) else lead)
        if plan.engagements and records:
            extra: dict[str, list[Unusable]] = {}
            activities.extend(self._engagement_activities([r.id for r in records], plan.engagements, extra))
            if extra:
                leads = [replace(lead, problems=(*lead.problems, *extra[lead.id])) if lead.id in extra else lead
                         for lead in leads]
        return PullBatch(leads=leads, activities=activities, cursor=cursor)

    def _lead(self, record: Any) -> Lead:
        """A contact as a :class:`Lead`. Values that cannot be used as they are (huge, binary,
        nested, not finite, an unreadable date) are cleaned or dropped and named in
        ``problems``; never raises for a value."""
        props, problems = _properties(record)
        raw = {name: props[prop] for name, prop in self._fields.items() if props.get(prop) not in (None, "")}
        if "employees" in raw and self._fields.get("employees") == "numemployees":
            raw["employees"] = employees_from_bucket(raw["employees"])
        names = dict(self._fields)
        if "lifecyclestage" in props:
            raw["custom.lifecyclestage"] = props.get("lifecyclestage")
            names["custom.lifecyclestage"] = "lifecyclestage"
        fields, unusable = usable_fields(raw, names)
        problems += unusable
        created, reason = read_time(props.get("createdate"))
        if reason is not None:
            problems.append(Unusable("createdate", reason))
        account_id, reason = record_id(props.get("associatedcompanyid"))
        if reason is not None:
            problems.append(Unusable("associatedcompanyid", reason))
        return Lead(
            id=str(record.id),
            object_type="contact",
            fields=fields,
            created_at=created or parse_time(getattr(record, "created_at", None)),
            updated_at=_modified(record),
            problems=tuple(problems),
            account_id=account_id,
        )

    @staticmethod
    def _summary_activities(record: Any, plan: PullPlan, problems: list[Unusable] | None = None) -> Iterable[Activity]:
        """The contact's summary activities (last open, click, visit, conversion). A date that
        cannot be read (``"99999999999999999"``) is left out and, given ``problems``, named there."""
        props, _ = _properties(record)
        for prop, (kind, detail_name, detail_prop) in plan.summaries.items():
            when, reason = read_time(props.get(prop))
            if reason is not None and problems is not None:
                problems.append(Unusable(prop, reason))
            if when is None:
                continue
            details: dict[str, Any] = {}
            if detail_name and detail_prop and props.get(detail_prop) not in (None, ""):
                cleaned, unusable = usable_fields({detail_name: props[detail_prop]}, {detail_name: detail_prop})
                details = cleaned
                if problems is not None:
                    problems.extend(unusable)
            yield Activity(str(record.id), kind, when, details)

    def _engagement_activities(
        self, contact_ids: list[str], engagements: list[str], problems: dict[str, list[Unusable]] | None = None
    ) -> list[Activity]:
        """Activities from the contacts' engagements; what an engagement could not use is named,
        given ``problems``, for each of its contacts (contact id -> problems)."""
        activities: list[Activity] = []
        for object_type in engagements:
            by_engagement = self._associated(contact_ids, object_type)
            if not by_engagement:
                continue
            for chunk in chunks(list(by_engagement), BATCH_READ):
                for engagement in self._read_objects(object_type, list(chunk)):
                    props, found = _properties(engagement, object_type)
                    activity = _engagement_activity(object_type, props, found)
                    contacts = by_engagement.get(str(engagement.id), ())
                    if found and problems is not None:
                        for contact_id in contacts:
                            problems.setdefault(contact_id, []).extend(found)
                    if activity is None:
                        continue
                    kind, when, values = activity
                    values = {**values, "id": str(engagement.id)}  # two alike at one instant stay two
                    for contact_id in contacts:
                        activities.append(Activity(contact_id, kind, when, values))
        return activities

    def _associated(self, contact_ids: list[str], object_type: str) -> dict[str, list[str]]:
        """Engagement id -> the contacts (of these) it is associated with."""
        return associated(self.client, "contacts", contact_ids, object_type)

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


def associated(client: HubSpotClient, from_type: str, from_ids: list[str], object_type: str) -> dict[str, list[str]]:
    """Id of each ``object_type`` record associated with any of ``from_ids`` (of ``from_type``) ->
    those of ``from_ids`` it is associated with: one v4 associations batch read per 1,000 ids
    (a record's next page of associations joins a later call). Counted as
    ``associations.<object_type>`` (from contacts) or ``associations.<from_type>.<object_type>``."""
    from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest

    family = f"associations.{object_type}" if from_type == "contacts" else f"associations.{from_type}.{object_type}"
    found: dict[str, list[str]] = {}
    pending: list[dict[str, Any]] = [{"id": i} for i in from_ids]
    for chunk in drain(pending, ASSOCIATION_BATCH):  # a record's next page joins a later call
        response = client.call(
            family,
            client.associations.get_page,
            from_type,
            object_type,
            batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(inputs=list(chunk)),
        )
        for result in response.results or []:
            from_id = str(result._from.id)
            for target in result.to or []:
                found.setdefault(str(target.to_object_id), []).append(from_id)
            next_after = getattr(getattr(getattr(result, "paging", None), "next", None), "after", None)
            if next_after:
                pending.append({"id": from_id, "after": next_after})
    return found


def record_id(value: Any) -> tuple[str | None, str | None]:
    """A HubSpot record id read from a property (``associatedcompanyid``: a number property, so
    ``"20000000001"``, or a JSON number), and why it was not usable. None when empty."""
    if value is None or value == "":
        return None, None
    if isinstance(value, bool):
        return None, "not a record id (dropped)"
    if isinstance(value, int):
        return (str(value), None) if value > 0 else (None, "not a record id (dropped)")
    if isinstance(value, float) and value.is_integer() and value > 0:
        return str(int(value)), None
    if isinstance(value, str) and _RECORD_ID.fullmatch(value.strip()):
        return value.strip(), None
    return None, "not a record id (dropped)"


_RECORD_ID = re.compile(r"[1-9]\d{0,19}", re.ASCII)


def employees_from_bucket(value: Any) -> Any:
    """HubSpot's ``numemployees`` is an enumeration of buckets (``"100-500"``, ``"1000+"``);
    a bucket reads as its lower bound, so a size rule never overstates a company. Anything
    else is passed on as it is (a portal may have redefined the property as a number)."""
    if not isinstance(value, str) or len(value) > 40:
        return value
    text = value.strip()
    head = text.rstrip("+").split("-", 1)[0].replace(",", "").strip()
    if _BUCKET_BOUND.fullmatch(head) and (text.endswith("+") or "-" in text):
        return int(head)
    return value


_BUCKET_BOUND = re.compile(r"\d{1,15}", re.ASCII)


def _properties(record: Any, object_type: str = "contact") -> tuple[Mapping[str, Any], list[Unusable]]:
    """A record's ``properties`` map, and a problem when it is not one (then read as empty)."""
    props = getattr(record, "properties", None)
    if props is None:
        return {}, []
    if isinstance(props, Mapping):
        return props, []
    prefix = "" if object_type == "contact" else f"{object_type}."
    return {}, [Unusable(f"{prefix}properties", f"a {type(props).__name__}, not a property map (ignored)")]


def _engagement_activity(
    object_type: str, props: Mapping[str, Any], problems: list[Unusable] | None = None
) -> tuple[str, datetime, dict[str, Any]] | None:
    """An engagement's activity (type, when, properties), or None when it is not one the lead
    did or its time cannot be read; what cannot be used is named in ``problems`` (given)."""
    found: list[Unusable] = []
    when, reason = read_time(props.get("hs_timestamp"))
    if reason is not None:
        found.append(Unusable(f"{object_type}.hs_timestamp", reason))
    activity: tuple[str, datetime, dict[str, Any]] | None = None
    if when is not None:
        if object_type == "emails":
            direction, why = usable_value(props.get("hs_email_direction"))
            if why is not None:
                found.append(Unusable("emails.hs_email_direction", why))
            if isinstance(direction, str) and direction.upper() == "INCOMING_EMAIL":
                activity = "email_reply", when, {}
        elif object_type == "calls":
            values, unusable = _present(object_type, status=props.get("hs_call_status"),
                                        direction=props.get("hs_call_direction"), duration=props.get("hs_call_duration"))
            found += unusable
            activity = "call", when, values
        elif object_type == "meetings":
            values, unusable = _present(object_type, outcome=props.get("hs_meeting_outcome"), title=props.get("hs_meeting_title"))
            found += unusable
            activity = "meeting", when, values
    if problems is not None:
        problems.extend(found)
    return activity


_PROPERTY_OF = {"status": "hs_call_status", "direction": "hs_call_direction", "duration": "hs_call_duration",
                "outcome": "hs_meeting_outcome", "title": "hs_meeting_title"}


def _present(object_type: str, **values: Any) -> tuple[dict[str, Any], list[Unusable]]:
    """The values that are there, cleaned, and what could not be used (named by property)."""
    return usable_fields({k: v for k, v in values.items() if v is not None},
                         {k: f"{object_type}.{_PROPERTY_OF.get(k, k)}" for k in values})


def _object_id(record: Any) -> int:
    try:
        return int(str(record.id))
    except (TypeError, ValueError):
        raise StalledCursorError(f"HubSpot answered a record whose id {record.id!r} is not a number") from None


def _modified(record: Any, stamp: str = "lastmodifieddate") -> datetime | None:
    return parse_time(_properties(record)[0].get(stamp)) or parse_time(getattr(record, "updated_at", None))


def _filters(window: KeysetCursor, overlap: timedelta, stamp: str = "lastmodifieddate") -> list[dict[str, str]]:
    """The search filters of a keyset window: ``stamp`` (the type's last-modified property)
    within it (from ``overlap`` before its start) and ``hs_object_id`` after the last id read. A
    finished window's cursor is the plain instant its next one starts from (see
    :mod:`leadscore.connectors.kit.keyset`)."""
    filters = []
    start = window.start(overlap)
    if start is not None:
        filters.append({"propertyName": stamp, "operator": "GTE", "value": str(epoch_ms(start))})
    if window.until is not None:
        filters.append({"propertyName": stamp, "operator": "LTE", "value": str(epoch_ms(window.until))})
    if window.after:
        filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(window.after)})
    return filters


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
        if "started" not in data:
            return None  # a part-read search window (KeysetCursor)
        return cls(data.get("list_after"), data["started"])
