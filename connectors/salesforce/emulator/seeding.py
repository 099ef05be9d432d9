"""Seeding: ``agent.sample`` leads become Salesforce Leads with Salesforce-shaped history.

Each generated lead maps onto what an org would hold for that person:

- canonical fields onto Lead fields (``title`` -> ``Title``, ``employees`` -> ``NumberOfEmployees``,
  ...); values an integer field cannot hold (``"n/a"`` employees) stay null, as an import would
  leave them; BANT answers onto the custom text fields ``Budget__c``, ``Authority__c``,
  ``Need__c`` and ``Timeline__c``; a phone number, a website (company domains only) and, for
  countries with them, a state are generated;
- ``Status`` follows the funnel: ``Working - Contacted`` once sales has called, met or been
  answered, otherwise mostly ``Open - Not Contacted``;
- about 10% of leads are converted (``IsConverted``, ``ConvertedDate``, ``ConvertedAccountId``,
  ``ConvertedContactId``; about 40% of those with a won Opportunity, ``StageName`` 'Closed Won',
  via ``ConvertedOpportunityId``). As on a real conversion, their activities move to the
  Contact (``WhoId``) and their campaign memberships gain the ``ContactId``;
- sales activity onto activity records: ``email_open``/``email_click``/``email_reply`` onto Tasks
  with ``TaskSubtype`` 'Email' (``Subject`` 'Email: ...'), a reply also onto an incoming
  ``EmailMessage`` linked to its Task by ``ActivityId`` (its ``RelatedToId`` stays empty: that
  field takes accounts, opportunities and the like, never a Lead, whose emails Salesforce links
  through ``EmailMessageRelation``, not modelled here); ``call`` onto a Task with ``TaskSubtype`` 'Call'
  (``CallType``, ``CallDurationInSeconds``); ``meeting`` onto an Event;
- campaign activity onto ``CampaignMember`` records of Webinar and Event campaigns: invited
  ('Sent', not responded), 'Registered', 'Attended' (responded, with ``FirstRespondedDate``),
  and 'Responded' on email nurture campaigns for some clickers;
- ``unsubscribe`` sets ``HasOptedOutOfEmail``, ``email_bounce`` ``EmailBouncedDate``/``Reason``.
  Page views, downloads and form fills live in marketing automation, not in these objects, and
  are not represented.

With ``accounts=True`` the org is a B2B one that keeps prospects at known companies as contacts:
the accounts of :func:`~leadscore.connectors.sample.generate_accounts` become Accounts (``company``
-> ``Name``, ``industry`` -> ``Industry``, ``employees`` -> ``NumberOfEmployees``, ``annual_revenue``
-> ``AnnualRevenue``, ``country``/``state``/``city`` -> ``Billing*``, ``website``, ``phone``, ``type``
-> ``Type``, ``lead_source`` -> ``AccountSource``), and each of their members is seeded as a Contact
with that ``AccountId`` instead of a Lead, with the same history: Tasks and Events name the Contact
(``WhoId``), campaign memberships its ``ContactId``. Contacts have no ``Status`` and are never
converted. An Account is created when its first member was, and stamped then.

``CreatedDate`` is the lead's ``created_at``; ``LastModifiedDate`` falls after its latest
activity, spread over the following days; ``SystemModstamp`` equals it or, for about a quarter
of leads, lies later (system updates such as activity roll-ups bump only ``SystemModstamp``).
All are whole seconds, distinct per lead, and never after ``as_of``, which is the org's clock
unless given and never ahead of it: seeded history is the org's past. Deterministic for a seed
and ``as_of``.
"""

from __future__ import annotations

import random
import sys
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from leadscore.agent.core.records import Activity, utc
from leadscore.connectors.sample import FREE_DOMAINS, SampleAccount, SampleLead, generate_accounts, generate_leads
from leadscore.connectors.salesforce.emulator import values
from leadscore.connectors.salesforce.emulator.schema import BANT_FIELDS
from leadscore.connectors.salesforce.emulator.store import RESPONDED_STATUSES, Record, Store

DAY_MS = 86_400_000
STATES = {
    "United States": ("CA", "NY", "TX", "WA", "MA", "IL", "CO", "GA", "FL", "OR"),
    "Canada": ("ON", "BC", "QC", "AB"),
    "Australia": ("NSW", "VIC", "QLD", "WA"),
    "India": ("Karnataka", "Maharashtra", "Tamil Nadu", "Telangana", "Delhi"),
    "Brazil": ("SP", "RJ", "MG"),
    "Mexico": ("CDMX", "Jalisco", "Nuevo León"),
}
FIELD_TO_LEAD = {"email": "Email", "first_name": "FirstName", "last_name": "LastName", "title": "Title",
                 "company": "Company", "industry": "Industry", "country": "Country", "city": "City",
                 "lead_source": "LeadSource", "budget": "Budget__c", "authority": "Authority__c", "need": "Need__c",
                 "timeline": "Timeline__c"}
WEBINARS = ("Webinar: Lead Scoring 101", "Webinar: RevOps Metrics That Matter", "Webinar: Intent Data in Practice")
EVENTS = ("Trade Show: SaaS Connect 2026", "Roadshow: Data-Driven Sales")
NURTURES = ("newsletter", "nurture-1", "nurture-2", "launch")
STATUS_RANK = {"Sent": 0, "Responded": 1, "Registered": 2, "Attended": 3}
SALES_TOUCHES = frozenset({"call", "meeting", "email_reply"})


#: Canonical account field -> Account field, for seeding (the connector's own map is its config's).
FIELD_TO_ACCOUNT = {"company": "Name", "industry": "Industry", "employees": "NumberOfEmployees",
                    "annual_revenue": "AnnualRevenue", "country": "BillingCountry", "state": "BillingState",
                    "city": "BillingCity", "website": "Website", "phone": "Phone", "type": "Type",
                    "lead_source": "AccountSource"}


def seed_org(store: Store, count: int, *, seed: int = 7, as_of: datetime | None = None,
             accounts: bool = False) -> list[str]:
    """Create ``count`` Leads (with activity) from ``generate_leads``; their ids in order. With
    ``accounts``, the people of ``generate_accounts`` become Contacts of their Accounts instead
    (module docstring), and the ids are of Leads and Contacts alike, in the same order."""
    rng = random.Random(f"salesforce-emulator:{seed}")
    lead_ids: list[str] = []
    with store.lock:
        # History lies in the org's past: as of now unless told otherwise, never ahead of it.
        ceiling = _seconds(store.history_ceiling(values.to_ms(utc(as_of)) if as_of is not None else None))
        as_of = datetime.fromtimestamp(ceiling / 1000, tz=timezone.utc)
        campaigns = _campaigns(store, ceiling)
        used_modified = _Seconds()
        used_modstamp = _Seconds()
        store.rollups = False  # seeding stamps LastActivityDate and the Leads' stamps itself
        try:
            # One lead at a time (the generator is deterministic on its own), unless accounts need them all.
            samples: Iterable[SampleLead] = generate_leads(count, seed=seed, as_of=as_of)
            account_of: dict[str, Record] = {}
            if accounts:
                samples = list(samples)
                account_of = _accounts(store, generate_accounts(samples, seed=seed), ceiling)
            for sample in samples:
                lead_ids.append(_seed_one(store, sample, rng, campaigns, ceiling, used_modified, used_modstamp,
                                          account_of.get(sample.lead.id)))
        finally:
            store.rollups = True
        store.build_indexes(SYNC_INDEXES)
    return lead_ids


#: The indexes the connector's queries read (:mod:`leadscore.connectors.salesforce.pull`): its
#: ``SystemModstamp`` windows, and the activity it looks up by person. Built once seeding is done,
#: rather than by the first query needing each, which in an org of a million leads would take
#: longer than a client waits for an answer.
SYNC_INDEXES = {
    "Lead": ("SystemModstamp", "ConvertedContactId"), "Contact": ("SystemModstamp",), "Account": ("SystemModstamp",),
    "Task": ("SystemModstamp", "WhoId"), "Event": ("SystemModstamp", "WhoId"),
    "CampaignMember": ("SystemModstamp", "LeadId", "ContactId"), "EmailMessage": ("ActivityId",),
}


def _campaigns(store: Store, ceiling: int) -> dict[str, Record]:
    """The org's marketing campaigns, created once (seeding again reuses them)."""
    existing = {r.values["Name"]: r for r in store.rows("Campaign", deleted=False)}
    start = ceiling - 400 * DAY_MS
    plan = [(name, "Webinar") for name in WEBINARS] + [(name, "Event") for name in EVENTS] + [
        (f"Nurture: {name}", "Email") for name in NURTURES]
    for index, (name, kind) in enumerate(plan):
        if name in existing:
            continue
        at = start + index * 3_600_000
        existing[name] = store.create("Campaign", {
            "Name": name, "Type": kind, "Status": "In Progress", "IsActive": True,
            "StartDate": values.date_of_ms(at), "EndDate": values.date_of_ms(ceiling + 60 * DAY_MS),
        }, by=store.sales_user, at_ms=at)
    return existing


def _accounts(store: Store, accounts: list[SampleAccount], ceiling: int) -> dict[str, Record]:
    """The Accounts of ``accounts``, created when their first member was (never after
    ``ceiling``); member lead id -> its Account."""
    account_of: dict[str, Record] = {}
    for sample in accounts:
        fields = sample.account.fields
        row: dict[str, Any] = {}
        for name, target in FIELD_TO_ACCOUNT.items():
            value = fields.get(name)
            if value in (None, ""):
                continue
            row[target] = float(value) if target == "AnnualRevenue" else int(value) if target == "NumberOfEmployees" \
                else str(value)
        created = min(ceiling, _seconds(values.to_ms(utc(sample.account.created_at or datetime.now(timezone.utc)))))
        account = store.create("Account", row, by=store.sales_user, at_ms=created)
        for member in sample.members:
            account_of[member] = account
    return account_of


def _seed_one(store: Store, sample: SampleLead, rng: random.Random, campaigns: dict[str, Record], ceiling: int,
              used_modified: "_Seconds", used_modstamp: "_Seconds", account: Record | None = None) -> str:
    lead_fields = sample.lead.fields
    created = _seconds(values.to_ms(utc(sample.lead.created_at or datetime.now(timezone.utc))))
    activities = sorted(sample.activities, key=lambda a: a.occurred_at)
    kinds = {a.type for a in activities}
    lead_values = _lead_values(lead_fields, rng)
    if account is not None:
        return _seed_contact(store, sample, account, lead_values, activities, rng, campaigns, ceiling, created,
                             used_modified, used_modstamp)
    converted = rng.random() < 0.10
    if converted:
        lead_values["Status"] = "Closed - Converted"
    elif kinds & SALES_TOUCHES:
        lead_values["Status"] = "Working - Contacted"
    elif rng.random() < 0.06:
        lead_values["Status"] = "Closed - Not Converted"
    _email_status(lead_values, activities)
    lead = store.create("Lead", lead_values, by=store.sales_user, at_ms=created, created_ms=created)

    members: dict[str, Record] = {}
    latest, last_activity_day = _history(store, lead, lead_fields, activities, created, rng, campaigns, members)
    if not members and "email_open" in kinds and rng.random() < 0.3:
        first_open = next(_ms(a) for a in activities if a.type == "email_open")
        _membership(store, lead, campaigns[rng.choice(WEBINARS)], "Sent", first_open, members)

    lead.values["LastActivityDate"] = last_activity_day
    if converted:
        span = max(1, min(ceiling, latest + 3 * DAY_MS) - created)
        converted_at = _seconds(created + int(span * rng.uniform(0.3, 0.95)))
        opportunity = None
        if rng.random() < 0.4:
            close = min(ceiling, converted_at + rng.randint(7, 60) * DAY_MS)
            opportunity = {"StageName": "Closed Won", "CloseDate": values.date_of_ms(close),
                           "Amount": float(rng.choice((12_000, 25_000, 48_000, 96_000, 180_000))),
                           "Type": "New Business"}
        convert(store, lead, at_ms=converted_at, by=store.sales_user, opportunity=opportunity, ceiling_ms=ceiling)
        latest = max(latest, converted_at)

    _stamp_after(store, lead, latest, created, ceiling, rng, used_modified, used_modstamp)
    lead.values["LastActivityDate"] = last_activity_day
    return lead.id


def _stamp_after(store: Store, record: Record, latest: int, created: int, ceiling: int, rng: random.Random,
                 used_modified: "_Seconds", used_modstamp: "_Seconds") -> None:
    """``LastModifiedDate``/``SystemModstamp`` spread over the days after the latest activity,
    never past as_of (no pile-up at the cap)."""
    modified = _distinct(_seconds(latest + int(rng.uniform(0, max(0, min(3 * DAY_MS, ceiling - latest))))),
                         used_modified, created)
    modstamp = modified
    if rng.random() < 0.25:
        modstamp = _seconds(modified + int(rng.uniform(0, max(0, min(2 * DAY_MS, ceiling - modified)))))
    modstamp = _distinct(max(modstamp, modified), used_modstamp, modified)
    record.values.update({"LastModifiedDate": modified, "SystemModstamp": modstamp, "LastModifiedById": store.sales_user})
    store.note_stamp(modstamp)


#: Lead field -> Contact field, for a person seeded as a Contact of an Account (the rest - company,
#: industry, size - is the Account's). The BANT answers are the demo org's own custom fields, on
#: Contact as on Lead.
LEAD_TO_CONTACT = {"FirstName": "FirstName", "LastName": "LastName", "Title": "Title", "Email": "Email",
                   "Phone": "Phone", "City": "MailingCity", "State": "MailingState", "Country": "MailingCountry",
                   "LeadSource": "LeadSource", "HasOptedOutOfEmail": "HasOptedOutOfEmail",
                   "EmailBouncedDate": "EmailBouncedDate", "EmailBouncedReason": "EmailBouncedReason",
                   **{name: name for name in BANT_FIELDS}}


def _history(store: Store, person: Record, fields: dict[str, Any], activities: Sequence[Activity], created: int,
             rng: random.Random, campaigns: dict[str, Record], members: dict[str, Record]) -> tuple[int, str | None]:
    """A person's activity records (Tasks, Events, campaign memberships into ``members``); the
    latest stamp among them and its creation, and the day of its last Task or Event."""
    latest = created
    last_activity_day: str | None = None
    for activity in activities:
        at = _ms(activity)
        latest = max(latest, at)
        made = _activity(store, person, fields, activity, at, rng, campaigns, members)
        if made in ("Task", "Event"):
            last_activity_day = max(last_activity_day or "", _day(at))
    return latest, last_activity_day


def _email_status(values: dict[str, Any], activities: Sequence[Activity]) -> None:
    """An unsubscribe opts the person out of email; a bounce marks the address bounced."""
    for activity in activities:
        if activity.type == "unsubscribe":
            values["HasOptedOutOfEmail"] = True
        elif activity.type == "email_bounce":
            values["EmailBouncedDate"] = _ms(activity)
            values["EmailBouncedReason"] = "550 5.1.1 The email account that you tried to reach does not exist"


def _seed_contact(store: Store, sample: SampleLead, account: Record, lead_values: dict[str, Any],
                  activities: list[Activity], rng: random.Random, campaigns: dict[str, Record], ceiling: int,
                  created: int, used_modified: "_Seconds", used_modstamp: "_Seconds") -> str:
    """One person at a known account: a Contact of ``account`` with the history a Lead would have."""
    _email_status(lead_values, activities)
    row = {target: lead_values[name] for name, target in LEAD_TO_CONTACT.items() if name in lead_values}
    contact = store.create("Contact", {**row, "AccountId": account.id}, by=store.sales_user, at_ms=created,
                           created_ms=created)
    latest, last_activity_day = _history(store, contact, sample.lead.fields, activities, created, rng, campaigns, {})
    _stamp_after(store, contact, latest, created, ceiling, rng, used_modified, used_modstamp)
    contact.values["LastActivityDate"] = last_activity_day
    return contact.id


def _lead_values(fields: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, target in FIELD_TO_LEAD.items():
        value = fields.get(name)
        if value not in (None, ""):
            out[target] = str(value)
    out.setdefault("LastName", "Unknown")
    out.setdefault("Company", "[not provided]")
    employees = fields.get("employees")
    if isinstance(employees, int) or (isinstance(employees, str) and employees.strip().isdigit()):
        out["NumberOfEmployees"] = int(employees)
    revenue = fields.get("annual_revenue")
    if isinstance(revenue, (int, float)):
        out["AnnualRevenue"] = float(revenue)
    country = fields.get("country")
    if country in STATES:
        out["State"] = rng.choice(STATES[str(country)])
    out["Phone"] = f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    domain = str(fields.get("email") or "@").rsplit("@", 1)[-1]
    if domain and domain not in FREE_DOMAINS:
        out["Website"] = f"https://www.{domain}"
    return out


def _activity(store: Store, lead: Record, fields: dict[str, Any], activity: Activity, at: int, rng: random.Random,
              campaigns: dict[str, Record], members: dict[str, Record]) -> str | None:
    first = fields.get("first_name") or "there"
    campaign = str(activity.properties.get("campaign", "follow-up"))
    day = _day(at)
    base = {"WhoId": lead.id, "ActivityDate": day, "Status": "Completed", "Priority": "Normal"}
    if activity.type in ("email_open", "email_click", "email_reply"):
        subject = sys.intern({"email_open": f"Email: Opened - {campaign}", "email_click": f"Email: Clicked - {campaign}",
                              "email_reply": f"Email: Re: {campaign}"}[activity.type])
        task = store.create("Task", {**base, "Subject": subject, "TaskSubtype": "Email", "Type": "Email"},
                            by=store.sales_user, at_ms=at)
        if activity.type == "email_reply":
            store.create("EmailMessage", {
                "Subject": sys.intern(f"Re: {campaign}"), "TextBody": sys.intern(f"Thanks - happy to talk. {first}"),
                "FromName": " ".join(str(p) for p in (fields.get("first_name"), fields.get("last_name")) if p),
                "FromAddress": fields.get("email"), "ToAddress": "sales@emulator.example.com", "Incoming": True,
                "MessageDate": at, "Status": "1", "ActivityId": task.id,
            }, by=store.sales_user, at_ms=at)
        if activity.type == "email_click" and rng.random() < 0.3:
            _membership(store, lead, campaigns[f"Nurture: {campaign}"] if f"Nurture: {campaign}" in campaigns
                        else campaigns["Nurture: newsletter"], "Responded", at, members)
        return "Task"
    if activity.type == "call":
        store.create("Task", {**base, "Subject": sys.intern(f"Call with {first}"), "TaskSubtype": "Call", "Type": "Call",
                              "CallType": rng.choice(("Outbound", "Outbound", "Inbound")),
                              "CallDurationInSeconds": rng.randint(60, 1800),
                              "CallDisposition": rng.choice(("Connected", "Connected", "Left voicemail"))},
                     by=store.sales_user, at_ms=at)
        return "Task"
    if activity.type == "meeting":
        store.create("Event", {"WhoId": lead.id, "Subject": "Meeting: Discovery call", "StartDateTime": at,
                               "EndDateTime": at + 30 * 60_000, "Type": "Meeting", "EventSubtype": "Event"},
                     by=store.sales_user, at_ms=at)
        return "Event"
    if activity.type in ("webinar_registered", "webinar_attended"):
        registered = next((name for name, m in members.items() if name in WEBINARS
                           and m.values.get("Status") in ("Sent", "Registered")), None)
        name = registered or rng.choice(WEBINARS)
        status = "Registered" if activity.type == "webinar_registered" else "Attended"
        _membership(store, lead, campaigns[name], status, at, members)
        return "CampaignMember"
    if activity.type == "event_attended":
        _membership(store, lead, campaigns[rng.choice(EVENTS)], "Attended", at, members)
        return "CampaignMember"
    return None


def _membership(store: Store, lead: Record, campaign: Record, status: str, at: int, members: dict[str, Record]) -> None:
    """One member per lead and campaign (Salesforce refuses duplicates): a later, stronger
    status upgrades the membership; the first response dates it."""
    name = campaign.values["Name"]
    member = members.get(name)
    if member is None:
        who = "ContactId" if lead.sobject == "Contact" else "LeadId"
        members[name] = member = store.create("CampaignMember", {"CampaignId": campaign.id, who: lead.id,
                                                                 "Status": status}, by=store.sales_user, at_ms=at)
    elif STATUS_RANK[status] > STATUS_RANK[member.values["Status"]]:
        member.values.update({"Status": status, "LastModifiedDate": max(at, member.values["LastModifiedDate"]),
                              "SystemModstamp": max(at, member.values["SystemModstamp"])})
        store.note_stamp(member.values["SystemModstamp"])
    if status in RESPONDED_STATUSES:
        day = _day(at)
        first = member.values.get("FirstRespondedDate")
        member.values["FirstRespondedDate"] = min(first, day) if first else day
        member.values["HasResponded"] = True


def convert(store: Store, lead: Record, *, at_ms: int, by: str, opportunity: dict[str, Any] | None = None,
            ceiling_ms: int | None = None) -> str:
    """Lead conversion: an Account and a Contact (and optionally an Opportunity, on which the
    Contact takes a primary contact role) from the Lead's fields; the Lead marked converted; its
    activities and memberships moved to the
    Contact, which takes the Lead's ``LastActivityDate``. Returns the Contact's id. Nothing is
    stamped after ``ceiling_ms`` (default: the org's clock)."""
    ceiling_ms = store.now_ms() if ceiling_ms is None else ceiling_ms
    v = lead.values
    account = store.create("Account", {
        "Name": v.get("Company") or v.get("Name"), "Industry": v.get("Industry"), "Website": v.get("Website"),
        "Phone": v.get("Phone"), "NumberOfEmployees": v.get("NumberOfEmployees"),
        "AnnualRevenue": v.get("AnnualRevenue"), "BillingCity": v.get("City"), "BillingState": v.get("State"),
        "BillingCountry": v.get("Country"), "Type": "Customer - Direct" if opportunity else "Prospect",
    }, by=by, at_ms=at_ms)
    contact = store.create("Contact", {
        "AccountId": account.id, "FirstName": v.get("FirstName"), "LastName": v.get("LastName"),
        "Salutation": v.get("Salutation"), "Title": v.get("Title"), "Email": v.get("Email"), "Phone": v.get("Phone"),
        "MobilePhone": v.get("MobilePhone"), "LeadSource": v.get("LeadSource"), "Description": v.get("Description"),
        "MailingStreet": v.get("Street"), "MailingCity": v.get("City"), "MailingState": v.get("State"),
        "MailingPostalCode": v.get("PostalCode"), "MailingCountry": v.get("Country"),
        "HasOptedOutOfEmail": bool(v.get("HasOptedOutOfEmail")),
        "EmailBouncedDate": v.get("EmailBouncedDate"), "EmailBouncedReason": v.get("EmailBouncedReason"),
    }, by=by, at_ms=at_ms)
    changes: dict[str, Any] = {"IsConverted": True, "ConvertedDate": values.date_of_ms(at_ms),
                               "ConvertedAccountId": account.id, "ConvertedContactId": contact.id,
                               "Status": "Closed - Converted"}
    if opportunity is not None:
        # Closed at noon of its close date, unless that is still to come.
        close_ms = min(values.day_start_ms(opportunity["CloseDate"]) + 12 * 3_600_000, ceiling_ms)
        deal = store.create("Opportunity", {"Name": f"{account.values['Name']} - New Business",
                                            "AccountId": account.id, "LeadSource": v.get("LeadSource"),
                                            **opportunity}, by=by, at_ms=_seconds(max(at_ms, close_ms)),
                            created_ms=at_ms)
        changes["ConvertedOpportunityId"] = deal.id
        # The converted Contact takes a primary contact role, blank, on the new Opportunity, as
        # Salesforce's own conversion gives it (seen beside a second role an app added in
        # SalesforceFoundation/NPSP#1388: "two Contact Roles ... both primary, one with the
        # NPSP-defined default role, the other blank").
        store.create("OpportunityContactRole", {"OpportunityId": deal.id, "ContactId": contact.id, "IsPrimary": True},
                     by=by, at_ms=at_ms)
    store.apply(lead, changes, by=by, at_ms=at_ms)
    contact.values["LastActivityDate"] = v.get("LastActivityDate")
    for sobject in ("Task", "Event"):
        for activity in store.having(sobject, "WhoId", lead.id, deleted=True):
            activity.values["WhoId"] = contact.id
            store.system_touch(activity, at_ms)
    for member in store.having("CampaignMember", "LeadId", lead.id, deleted=True):
        member.values.update({"ContactId": contact.id, "Type": "Contact"})
        store.system_touch(member, at_ms)
    return contact.id


#: Day (ms at its start) -> its ``YYYY-MM-DD``, one string shared by every seeded record of that day.
_DAYS: dict[int, str] = {}


def _day(ms: int) -> str:
    start = ms - ms % DAY_MS
    found = _DAYS.get(start)
    if found is None:
        found = _DAYS[start] = values.date_of_ms(start)
    return found


def _ms(activity: Activity) -> int:
    return _seconds(values.to_ms(utc(activity.occurred_at)))


def _seconds(ms: int) -> int:
    return ms - ms % 1000


class _Seconds:
    """Whole-second stamps already given, with the nearest free one below or above any stamp
    found in near-constant time (disjoint sets with path compression: each taken stamp points
    towards a free one), so seeding stays linear however densely stamps crowd."""

    __slots__ = ("taken", "down", "up")

    def __init__(self) -> None:
        self.taken: set[int] = set()
        self.down: dict[int, int] = {}
        self.up: dict[int, int] = {}

    def __contains__(self, stamp: int) -> bool:
        return stamp in self.taken

    def add(self, stamp: int) -> None:
        self.taken.add(stamp)

    def _free(self, stamp: int, links: dict[int, int], step: int) -> int:
        path = []
        candidate = stamp
        while candidate in self.taken:
            path.append(candidate)
            candidate = links.get(candidate, candidate + step)
        for taken in path:
            links[taken] = candidate
        return candidate

    def below(self, stamp: int) -> int:
        """The latest free stamp at or before ``stamp`` (the same second of the minute grid)."""
        return self._free(stamp, self.down, -1000)

    def above(self, stamp: int) -> int:
        """The earliest free stamp at or after ``stamp``."""
        return self._free(stamp, self.up, 1000)


def _distinct(stamp: int, used: _Seconds, floor: int) -> int:
    """A stamp no other seeded lead has: step back a second at a time, then forward if the
    floor is reached (stamps stay whole seconds). The steps are taken at once: the free stamp
    below, if at or above the floor, else the free stamp above."""
    candidate = stamp
    if candidate in used:
        below = used.below(stamp)
        candidate = below if below >= floor else used.above(stamp)
    used.add(candidate)
    return candidate


__all__ = ["convert", "seed_org"]
