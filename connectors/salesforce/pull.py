"""Reading Leads, Contacts (and Accounts) and their activity from Salesforce with SOQL.

Incremental pulls ask ``queryAll`` for records whose ``SystemModstamp`` is after the cursor less
an overlap (commits are not strictly ordered by their stamp), up to the sync's ``until``,
ordered by ``SystemModstamp, Id``; ``queryAll`` also returns deleted records, which become
``deleted_ids``. Not all new activity touches its Lead's stamp (an open Task does not; a closed
one or an Event moves ``SystemModstamp`` through ``LastActivityDate``, but Salesforce says that
can happen asynchronously), so the Tasks, Events and campaign memberships changed in the same
window name more records to read. Each page of 2,000 records is one batch; its activity costs one
query per activity object per 500 records.

The cursor never passes ``until``, however a record was found: records read by id because of
their activity carry stamps from after the window, and a cursor moved to one of them would skip
every record edited in between. The records named by activity are read first, with the cursor
held where it was; the ordered pass then moves it page by page to the newest stamp read, and a
pull read to the end sets it to ``until``, so a pull cut short anywhere resumes without losing
either kind of change, and an unchanged re-run re-reads only the overlap (one query per object).
Salesforce documents no fixed overlap for ``SystemModstamp`` polling; it does say a long-running
transaction can commit changes stamped before the end of a window already read (``getUpdated``'s
``latestDateCovered``), which is what ``overlap_seconds`` (5 minutes) covers.

Accounts (``Cursor("account", ...)``, when the agent scores accounts) are read by the same
``SystemModstamp`` windows with ``queryAll`` (deletions as ``deleted_ids``), on the canonical
account fields (``config.field_map("Account")``: ``company`` <- ``Name``, ``industry``, ``employees``
<- ``NumberOfEmployees``, the billing address, ``type``, ``lead_source`` <- ``AccountSource``...)
whatever the pull's ``needs`` (a handful of columns; an account model's needs are not a person
model's), with no activities (an account's engagement is its people's). Every Contact carries its
``AccountId`` as :attr:`Lead.account_id`, whatever ``needs`` says; a Lead has none.

Converted leads: a converted Lead is reported as gone (``deleted_ids``) and its activity follows
it to the Contact it became, so the Contact is scored on the whole history and one score lands on
one record. What is read, and what it maps to:

=====================================================  ============================================
Salesforce                                             leadscore
=====================================================  ============================================
Task, ``TaskSubtype = 'Call'``                         ``call`` (``type``, ``duration``, ``status``)
Task, ``TaskSubtype = 'Email'`` with an incoming       ``email_reply``
EmailMessage (or ``Subject`` starting ``RE:``)
Task, ``TaskSubtype = 'Email'``, otherwise             not read as lead activity (the rep's email)
Event                                                  ``meeting`` (``subject``)
CampaignMember of a Webinar campaign                   ``webinar_registered``; ``webinar_attended``
                                                       when ``Status`` is Attended
CampaignMember of another campaign, responded          ``event_attended`` (Event / Trade Show /
                                                       Conference) or ``form_submit`` (other types)
=====================================================  ============================================
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator, Mapping, Sequence

from leadscore.agent.core.records import Activity, Lead, Unusable, unreadable_lead, usable_fields, usable_value
from leadscore.agent.core.contract import Cursor, PullBatch, PullNeeds
from leadscore.connectors.kit.chunking import chunks
from leadscore.connectors.kit.keyset import HighWaterMark, Window
from leadscore.connectors.kit.page_tokens import PageTokens

# Salesforce's timestamps (``2026-10-01T12:00:00.000+0000``, dates ``2026-10-01``) are read and
# written by the kit, under the names this module has always had: ``read_time`` also says why a
# value is unusable.
from leadscore.connectors.kit.times import iso_z, parse_salesforce_time as parse_time, read_salesforce_time as read_time, soql_datetime
from leadscore.connectors.salesforce.client import SalesforceClient, SalesforceRequestError
from leadscore.connectors.salesforce.config import SalesforceConfig

IN_CHUNK = 500  # ids per IN list: 500 x 21 characters stays well inside SOQL's URI limit
OBJECT_OF = {"lead": "Lead", "contact": "Contact", "account": "Account"}
KEY_PREFIX = {"Lead": "00Q", "Contact": "003", "Account": "001"}

TASK_TYPES = frozenset({"call", "email_reply"})
EVENT_TYPES = frozenset({"meeting"})
CAMPAIGN_TYPES = frozenset({"webinar_registered", "webinar_attended", "event_attended", "form_submit"})
EVENT_CAMPAIGNS = {"event", "trade show", "conference", "seminar"}


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def in_list(ids: Iterable[str]) -> str:
    return "(" + ", ".join(soql_string(i) for i in ids) + ")"


def window_where(window: Window, overlap_seconds: float) -> str:
    """A pull's window on ``SystemModstamp`` as a SOQL ``WHERE``: after the cursor less the
    overlap (commits are not strictly ordered by their stamp), up to ``until``."""
    bounds = []
    start = window.start(timedelta(seconds=overlap_seconds))
    if start is not None:
        bounds.append(f"SystemModstamp > {soql_datetime(start)}")
    if window.until is not None:
        bounds.append(f"SystemModstamp <= {soql_datetime(window.until)}")
    return " WHERE " + " AND ".join(bounds) if bounds else ""


@dataclass
class _PullState(HighWaterMark):
    """One pull's progress: what it has read, and the newest SystemModstamp read in the window
    (never past ``until``), which becomes the cursor."""

    object_type: str
    sobject: str
    wanted: Mapping[str, str]
    types: frozenset[str] | None
    newest: datetime | None
    until: datetime | None = None
    seen: set[str] = field(default_factory=set)
    #: Whether records read now move the cursor (not while reading records by id).
    advancing: bool = True

    def cursor(self) -> Cursor:
        value = iso_z(self.newest) if self.newest else None
        return Cursor(self.object_type, value)  # type: ignore[arg-type]


@dataclass
class ConversionMap:
    """What the connector learned of conversions: converted Lead -> Contact. Writes for a Lead
    converted since it was pulled are routed through this (and learn from their own errors)."""

    lead_to_contact: dict[str, str]

    def note(self, lead_id: str, contact_id: str | None) -> None:
        if contact_id:
            self.lead_to_contact[lead_id] = contact_id


class RecordReader:
    def __init__(self, client: SalesforceClient, config: SalesforceConfig, conversions: ConversionMap) -> None:
        self.client = client
        self.config = config
        self.conversions = conversions
        self._campaign_types: dict[str, str] = {}

    # --- records ---------------------------------------------------------------------------

    def pull(self, cursor: Cursor, until: datetime | None, needs: PullNeeds | None) -> Iterator[PullBatch]:
        sobject = OBJECT_OF[cursor.object_type]
        field_map = self.config.field_map(sobject)
        # An Account is read whole (module docstring): ``needs`` names a person model's fields.
        wanted = field_map if needs is None or sobject == "Account" else {
            k: v for k, v in field_map.items() if k in needs.fields}
        columns = ["Id", "SystemModstamp", "IsDeleted", "CreatedDate", *sorted(set(wanted.values()))]
        if sobject == "Lead":
            columns += ["IsConverted", "ConvertedContactId"]
        if sobject == "Contact":
            columns.append("AccountId")  # every person carries its account, whatever the needs
        select = f"SELECT {', '.join(dict.fromkeys(columns))} FROM {sobject}"
        window = Window.from_instant(cursor.value, until, parse_time)
        since = window.since
        where = self._where(window)
        state = _PullState(cursor.object_type, sobject, wanted, None if needs is None else needs.activity_types, since, until)
        activity_newest: datetime | None = None
        if since is not None and sobject != "Account":
            # Activity on a record does not always touch the record's SystemModstamp: read the
            # records whose activity changed in the window first, holding the cursor (their own
            # stamps lie anywhere), so a pull stopped part-way finds that activity again.
            touched, activity_newest = self._touched(sobject, where, state)
            state.advancing = False
            for part in chunks(sorted(touched), IN_CHUNK):
                yield from self._pages(state, f"{select} WHERE Id IN {in_list(part)}")
            state.advancing = True
        yield from self._pages(state, f"{select}{where} ORDER BY SystemModstamp, Id")
        # Read to the end: every change stamped up to `until` is in (the overlap covers commits that
        # land late), so the next window starts `overlap_seconds` before it, whatever was found.
        held = state.newest
        state.advance(until or activity_newest)
        if state.newest != held:
            yield PullBatch(leads=[], activities=[], cursor=state.cursor())

    def count(self, cursor: Cursor, until: datetime | None) -> int | None:
        """An estimate of the records :meth:`pull` would yield (deleted and converted ones
        included, as the pull reports them), for a progress bar: one ``SELECT COUNT()`` over the
        pull's own window, run with ``queryAll`` as the pull is. Records an incremental pull
        reads because their activity changed are not in it, so it can fall short."""
        soql = f"SELECT COUNT() FROM {OBJECT_OF[cursor.object_type]}{self._where(Window.from_instant(cursor.value, until, parse_time))}"
        result = self.client.call("query", lambda sf: sf.query(soql, include_deleted=True))
        total = result.get("totalSize")
        return int(total) if total is not None else None

    def _where(self, window: Window) -> str:
        return window_where(window, self.config.overlap_seconds)

    def _pages(self, state: _PullState, soql: str) -> Iterator[PullBatch]:
        """One batch per result page of ``soql`` (run with ``queryAll``, so deletions show)."""
        result = self.client.call("query", lambda sf: sf.query(soql, include_deleted=True))
        tokens = PageTokens("Salesforce answered the query locator {token} twice: the pull would never end")
        while True:
            records = [r for r in result.get("records", []) if r["Id"] not in state.seen]
            state.seen.update(r["Id"] for r in records)
            leads: list[Lead] = []
            deleted: list[str] = []
            retired: list[Lead] = []
            for record in records:
                state.advance(parse_time(record.get("SystemModstamp")))
                if record.get("IsDeleted"):
                    deleted.append(record["Id"])
                elif state.sobject == "Lead" and record.get("IsConverted"):
                    self.conversions.note(record["Id"], record.get("ConvertedContactId"))
                    # Merged into its Contact and read-only: never scored again, its past kept as history.
                    retired.append(self._lead(record, state.object_type, state.wanted))
                else:
                    leads.append(self._lead(record, state.object_type, state.wanted))
            activities = self._activities(leads, state.sobject, state.types) if leads and state.sobject != "Account" else []
            if records:
                yield PullBatch(leads=leads, activities=activities, cursor=state.cursor(), deleted_ids=deleted,
                                retired=retired)
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return
            tokens.follow(next_url)
            result = self.client.call("queryMore", lambda sf: sf.query_more(next_url, identifier_is_url=True, include_deleted=True))

    def _touched(self, sobject: str, where: str, state: _PullState) -> tuple[set[str], datetime | None]:
        """Ids of ``sobject`` records whose Tasks, Events or campaign memberships changed in the
        window (only the activity objects the model reads), and the newest of those changes."""
        prefix = KEY_PREFIX[sobject]
        sources = []
        if state.types is None or state.types & TASK_TYPES:
            sources.append(("Task", "WhoId"))
        if state.types is None or state.types & EVENT_TYPES:
            sources.append(("Event", "WhoId"))
        if state.types is None or state.types & CAMPAIGN_TYPES:
            sources.append(("CampaignMember", "LeadId" if sobject == "Lead" else "ContactId"))
        found: set[str] = set()
        newest: datetime | None = None
        for table, column in sources:
            for r in self._query("query", f"SELECT {column}, SystemModstamp FROM {table}{where}"):
                stamp = parse_time(r.get("SystemModstamp"))
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
                who = r.get(column) or ""
                if who.startswith(prefix):
                    found.add(who)
        return found, newest

    @staticmethod
    def _lead(record: Mapping[str, Any], object_type: str, wanted: Mapping[str, str]) -> Lead:
        """A Lead, Contact or Account as a :class:`Lead` (a Contact with its ``AccountId``). Values that cannot be used as they are (huge,
        binary, nested such as a compound Address, not finite, an unreadable date) are cleaned or
        dropped and named in ``problems``; a record that is not a record becomes an unreadable
        stand-in (counted ``bad``). Never raises."""
        try:
            raw = {name: record.get(api) for name, api in wanted.items() if record.get(api) not in (None, "")}
            fields, problems = usable_fields(raw, wanted)
            account = record.get("AccountId")
            times: dict[str, datetime | None] = {}
            for column in ("CreatedDate", "SystemModstamp"):
                times[column], reason = read_time(record.get(column))
                if reason is not None:
                    problems.append(Unusable(column, reason))
            return Lead(
                id=str(record["Id"]),
                object_type=object_type,  # type: ignore[arg-type]
                fields=fields,
                created_at=times["CreatedDate"],
                updated_at=times["SystemModstamp"],
                problems=tuple(problems),
                account_id=str(account) if isinstance(account, str) and account else None,
            )
        except Exception as exc:  # noqa: BLE001 - the last guard: one record, not the batch
            record_id = record.get("Id") if isinstance(record, Mapping) else None
            return unreadable_lead(record_id, object_type, exc)  # type: ignore[arg-type]

    # --- activity --------------------------------------------------------------------------

    def _activities(self, leads: list[Lead], sobject: str, types: frozenset[str] | None) -> list[Activity]:
        """The activity of ``leads``. What an activity record could not use (an unreadable date,
        a huge subject) is added to its lead's ``problems``: ``leads`` is updated in place."""
        owner: dict[str, str] = {lead.id: lead.id for lead in leads}
        if sobject == "Contact":
            # A Contact carries the history of the Lead it was converted from.
            for lead_id, contact_id in self._source_leads([lead.id for lead in leads]):
                owner[lead_id] = contact_id
        who = list(owner)
        out: list[Activity] = []
        problems: dict[str, list[Unusable]] = {}
        if types is None or types & TASK_TYPES:
            out += self._tasks(who, owner, types, problems)
        if types is None or types & EVENT_TYPES:
            out += self._events(who, owner, problems)
        if types is None or types & CAMPAIGN_TYPES:
            out += self._campaign_members(who, owner, sobject, types, problems)
        if problems:
            leads[:] = [replace(lead, problems=(*lead.problems, *problems[lead.id])) if lead.id in problems else lead
                        for lead in leads]
        return out

    def _query(self, family: str, soql: str) -> list[dict[str, Any]]:
        return list(self.client.call(family, lambda sf: sf.query_all(soql)).get("records", []))

    def _source_leads(self, contact_ids: list[str]) -> Iterator[tuple[str, str]]:
        for part in chunks(contact_ids, IN_CHUNK):
            for r in self._query("query", f"SELECT Id, ConvertedContactId FROM Lead WHERE ConvertedContactId IN {in_list(part)}"):
                self.conversions.note(r["Id"], r.get("ConvertedContactId"))
                yield r["Id"], r["ConvertedContactId"]

    def _tasks(
        self, who: list[str], owner: Mapping[str, str], types: frozenset[str] | None,
        problems: dict[str, list[Unusable]] | None = None,
    ) -> list[Activity]:
        out: list[Activity] = []
        subtypes = []
        if types is None or "call" in types:
            subtypes.append("'Call'")
        if types is None or "email_reply" in types:
            subtypes.append("'Email'")
        email_tasks: dict[str, tuple[str, datetime, str]] = {}
        for part in chunks(who, IN_CHUNK):
            soql = (
                "SELECT Id, WhoId, TaskSubtype, Subject, CallType, CallDurationInSeconds, Status, ActivityDate, CreatedDate "
                f"FROM Task WHERE WhoId IN {in_list(part)} AND TaskSubtype IN ({', '.join(subtypes)})"
            )
            for r in self._query("query", soql):
                contact = _owner(owner, r.get("WhoId"))
                if contact is None:
                    continue
                found: list[Unusable] = []
                when = _first_time(r, ("CreatedDate", "ActivityDate"), "Task", found)
                if when is not None and r.get("TaskSubtype") == "Call":
                    props, unusable = usable_fields(
                        {k: v for k, v in (("type", r.get("CallType")), ("duration", r.get("CallDurationInSeconds")),
                                           ("status", r.get("Status"))) if v not in (None, "")},
                        {"type": "Task.CallType", "duration": "Task.CallDurationInSeconds", "status": "Task.Status"},
                    )
                    found += unusable
                    out.append(Activity(contact, "call", when, {**props, "id": str(r["Id"])}))
                elif when is not None:
                    subject, reason = usable_value(r.get("Subject"))
                    if reason is not None:
                        found.append(Unusable("Task.Subject", reason))
                    email_tasks[str(r["Id"])] = (contact, when, subject if isinstance(subject, str) else "")
                _note(problems, contact, found)
        if email_tasks:
            incoming = self._incoming_emails(list(email_tasks))
            for task_id, (contact, when, subject) in email_tasks.items():
                if incoming.get(task_id, subject.upper().startswith("RE:")):
                    out.append(Activity(contact, "email_reply", when, {"id": task_id}))
        return out

    def _incoming_emails(self, task_ids: list[str]) -> dict[str, bool]:
        """Task id -> whether its EmailMessage is incoming; empty where the org has no
        EmailMessage object (Enhanced Email off)."""
        found: dict[str, bool] = {}
        try:
            for part in chunks(task_ids, IN_CHUNK):
                for r in self._query("query", f"SELECT ActivityId, Incoming FROM EmailMessage WHERE ActivityId IN {in_list(part)}"):
                    found[r["ActivityId"]] = bool(r.get("Incoming"))
        except SalesforceRequestError:
            return {}
        return found

    def _events(
        self, who: list[str], owner: Mapping[str, str], problems: dict[str, list[Unusable]] | None = None
    ) -> list[Activity]:
        out: list[Activity] = []
        for part in chunks(who, IN_CHUNK):
            for r in self._query("query", f"SELECT Id, WhoId, StartDateTime, Subject FROM Event WHERE WhoId IN {in_list(part)}"):
                contact = _owner(owner, r.get("WhoId"))
                if contact is None:
                    continue
                found: list[Unusable] = []
                when = _first_time(r, ("StartDateTime",), "Event", found)
                if when is not None:
                    props, unusable = usable_fields({"subject": r.get("Subject")}, {"subject": "Event.Subject"})
                    found += unusable
                    out.append(Activity(contact, "meeting", when, {**props, "id": str(r["Id"])}))
                _note(problems, contact, found)
        return out

    def _campaign_members(
        self, who: list[str], owner: Mapping[str, str], sobject: str, types: frozenset[str] | None,
        problems: dict[str, list[Unusable]] | None = None,
    ) -> list[Activity]:
        rows: list[dict[str, Any]] = []
        for part in chunks(who, IN_CHUNK):
            for column in (("LeadId",) if sobject == "Lead" else ("LeadId", "ContactId")):
                rows += self._query(
                    "query",
                    "SELECT Id, LeadId, ContactId, CampaignId, Status, HasResponded, FirstRespondedDate, CreatedDate "
                    f"FROM CampaignMember WHERE {column} IN {in_list(part)}",
                )
        self._load_campaign_types({r["CampaignId"] for r in rows if isinstance(r.get("CampaignId"), str) and r["CampaignId"]})
        out: list[Activity] = []
        done: set[str] = set()
        for r in rows:
            if r["Id"] in done:
                continue
            done.add(r["Id"])
            contact = _owner(owner, r.get("ContactId")) or _owner(owner, r.get("LeadId"))
            if contact is None:
                continue
            campaign = r.get("CampaignId")
            kind = self._campaign_activity(self._campaign_types.get(campaign, "") if isinstance(campaign, str) else "", r)
            if not kind or (types is not None and kind not in types):
                continue
            found: list[Unusable] = []
            when = _first_time(r, ("FirstRespondedDate", "CreatedDate"), "CampaignMember", found)
            status, reason = usable_value(r.get("Status"))
            if reason is not None:
                found.append(Unusable("CampaignMember.Status", reason))
            if when is not None:
                # The member's id keeps two responses on one day (a date, no time) two activities.
                out.append(Activity(contact, kind, when, {"status": status if isinstance(status, (str, int, float)) else "",
                                                          "id": str(r["Id"])}))
            _note(problems, contact, found)
        return out

    @staticmethod
    def _campaign_activity(campaign_type: str, member: Mapping[str, Any]) -> str | None:
        status = member.get("Status")
        status = status.lower() if isinstance(status, str) else ""
        kind = campaign_type.lower()
        if kind == "webinar":
            return "webinar_attended" if status == "attended" else "webinar_registered"
        if not member.get("HasResponded"):
            return None
        return "event_attended" if kind in EVENT_CAMPAIGNS else "form_submit"

    def _load_campaign_types(self, ids: set[str]) -> None:
        missing = sorted(ids - set(self._campaign_types))
        for part in chunks(missing, IN_CHUNK):
            for r in self._query("query", f"SELECT Id, Type FROM Campaign WHERE Id IN {in_list(part)}"):
                self._campaign_types[r["Id"]] = str(r.get("Type") or "")


def _owner(owner: Mapping[str, str], who: Any) -> str | None:
    """The record in this batch that an activity's ``WhoId`` (or ``LeadId``...) names."""
    return owner.get(who) if isinstance(who, str) else None


def _first_time(record: Mapping[str, Any], columns: Sequence[str], sobject: str, found: list[Unusable]) -> datetime | None:
    """The first of ``columns`` that holds a usable time; each present but unusable one is
    named in ``found``."""
    for column in columns:
        when, reason = read_time(record.get(column))
        if reason is not None:
            found.append(Unusable(f"{sobject}.{column}", reason))
        if when is not None:
            return when
    return None


def _note(problems: dict[str, list[Unusable]] | None, record_id: str, found: list[Unusable]) -> None:
    if found and problems is not None:
        problems.setdefault(record_id, []).extend(found)
