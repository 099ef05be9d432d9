"""Seeding: ``agent.sample`` leads become HubSpot contacts with HubSpot-shaped history.

Each generated lead maps onto what HubSpot would hold for that person:

- canonical fields onto contact properties (``title`` -> ``jobtitle``, ``employees`` -> the
  ``numemployees`` bucket, ``lead_source`` -> the ``hs_analytics_source`` option, with the raw
  source kept in ``hs_analytics_source_data_1`` as HubSpot's drill-down does); values HubSpot
  would refuse (``"n/a"`` employees) stay unset, since an enumeration cannot hold them;
- BANT answers onto custom string properties ``budget``/``authority``/``need``/``timeline`` in
  the ``leadscore_demo`` group;
- one-to-one activity onto engagement objects associated with the contact: an ``email_reply``
  is an ``INCOMING_EMAIL`` following the ``EMAIL`` it answers, ``meeting``/``call`` are meetings
  and calls, and sales follow-up adds notes and tasks;
- marketing activity onto the summary properties HubSpot calculates: page views and distinct
  visit days, marketing email opens/clicks/bounces with their last dates, unsubscribes, and
  conversions (form submissions, content downloads, demo and trial requests, which HubSpot
  records as form submissions). Webinar and event attendance have no contact property and
  are not represented.

Some contacts sales met (a ``meeting`` activity) get a deal in the default pipeline, created at
the first meeting: won (``closedwon``), lost (``closedlost``) or still open. Closed deals carry a
``closedate`` after the lead's last activity, at most ``as_of``. Lifecycle stages are left at
``lead``: a won deal is then the only sign of a customer, as in portals that do not sync them.
Deals draw from their own random stream, so the contacts and engagements are the same as
without them.

With ``accounts``, the accounts :func:`connectors.sample.generate_accounts` makes of the same leads
become companies (drawn from their own random stream: the contacts are as without them). A
company is created at its account's ``created_at`` (its earliest member's); each member contact is
associated with it when the contact was created, with it as the primary company
(``associatedcompanyid``). Each association recounts the company's ``num_associated_contacts``,
so a company was last modified when its latest member joined, at or before ``as_of``; the
contacts' own last-modified dates are later than that and stay as they are. Generated industries
and types map onto HubSpot's enumeration options (:data:`INDUSTRY_TO_OPTION`,
:data:`TYPE_TO_OPTION`); the domain is the website's host.

``createdate`` is the lead's ``created_at``; ``lastmodifieddate`` falls after the latest
activity and the latest engagement logged (logging one recalculates the contact's activity
roll-ups, which bumps it), spread over the following days and distinct per contact. Every stamp
lies at or before ``as_of``, which is the emulator's clock unless given, and never ahead of it:
seeded history is the portal's past. Deterministic for a seed and ``as_of``.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from leadscore.agent.core.records import Activity, utc
from leadscore.connectors.sample import SampleAccount, SampleLead, generate_accounts, generate_leads
from leadscore.connectors.hubspot.emulator import values
from leadscore.connectors.hubspot.emulator.schema import property_definition
from leadscore.connectors.hubspot.emulator.store import SOURCE_CALCULATED, SOURCE_IMPORT, Store

DEMO_GROUP = "leadscore_demo"
BANT_PROPERTIES = ("budget", "authority", "need", "timeline")

FIELD_TO_PROPERTY = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "title": "jobtitle",
    "company": "company",
    "industry": "industry",
    "country": "country",
    "state": "state",
    "city": "city",
    "phone": "phone",
    "website": "website",
    "annual_revenue": "annualrevenue",
}

#: agent.sample sources onto HubSpot's "Original Traffic Source" options.
SOURCE_TO_ANALYTICS = {
    "Organic Search": "ORGANIC_SEARCH",
    "Paid Search": "PAID_SEARCH",
    "Referral": "REFERRALS",
    "Webinar": "OFFLINE",
    "Trade Show": "OFFLINE",
    "Content Syndication": "OTHER_CAMPAIGNS",
    "Direct": "DIRECT_TRAFFIC",
}

CONVERSIONS = ("form_submit", "content_download", "demo_request", "trial_signup")

#: Generated industries onto HubSpot's company ``industry`` options (internal values).
INDUSTRY_TO_OPTION = {
    "Technology": "INFORMATION_TECHNOLOGY_AND_SERVICES",
    "Software": "COMPUTER_SOFTWARE",
    "Healthcare": "HOSPITAL_HEALTH_CARE",
    "Education": "EDUCATION_MANAGEMENT",
    "Finance": "FINANCIAL_SERVICES",
    "Retail": "RETAIL",
    "Manufacturing": "MACHINERY",
    "Government": "GOVERNMENT_ADMINISTRATION",
}
#: Generated account types onto HubSpot's company ``type`` options. HubSpot's defaults have no
#: customer type (a customer is a company's lifecycle stage), so "Customer - Direct" is OTHER.
TYPE_TO_OPTION = {"Prospect": "PROSPECT", "Partner": "PARTNER", "Reseller": "RESELLER", "Vendor": "VENDOR"}
#: Canonical account fields onto company properties, where the value is kept as it is.
ACCOUNT_TO_PROPERTY = {
    "company": "name",
    "employees": "numberofemployees",
    "annual_revenue": "annualrevenue",
    "country": "country",
    "state": "state",
    "city": "city",
    "phone": "phone",
    "website": "website",
}


def employee_bucket(raw: Any) -> str | None:
    """The ``numemployees`` option for a head count; ``None`` when it is not a number."""
    try:
        count = int(str(raw).replace(",", "").strip())
    except ValueError:
        return None
    for upper, bucket in ((5, "1-5"), (25, "5-25"), (50, "25-50"), (100, "50-100"), (500, "100-500"),
                          (1000, "500-1000")):
        if count <= upper:
            return bucket
    return "1000+"


def ensure_demo_properties(store: Store) -> None:
    """The custom BANT properties and their group, as an admin would have created them."""
    with store.lock:
        if DEMO_GROUP not in store.groups("contacts"):
            store.add_group("contacts", {"name": DEMO_GROUP, "label": "leadscore demo", "displayOrder": -1,
                                         "archived": False})
        for name in BANT_PROPERTIES:
            if store.definition("contacts", name) is None:
                store.add_definition("contacts", property_definition(
                    name, name.capitalize(), "string", "text", DEMO_GROUP, hubspot_defined=False,
                    description=f"BANT: {name}",
                ))


def seed_portal(store: Store, count: int, *, seed: int = 7, as_of: datetime | None = None,
                accounts: bool = False) -> list[str]:
    """Create ``count`` contacts (with engagements) from ``generate_leads``, and with ``accounts``
    their companies; the contacts' ids in order."""
    ensure_demo_properties(store)
    rng = random.Random(f"hubspot-emulator:{seed}")
    deal_rng = random.Random(f"hubspot-emulator-deals:{seed}")
    ids: list[str] = []
    samples: list[SampleLead] = []
    with store.lock:
        # History lies in the portal's past: as of now unless told otherwise, never ahead of it.
        ceiling = store.history_ceiling(values.to_ms(utc(as_of)) if as_of is not None else None)
        as_of = datetime.fromtimestamp(ceiling / 1000, tz=timezone.utc)
        used_stamps: dict[int, int] = {}
        for sample in generate_leads(count, seed=seed, as_of=as_of):
            ids.append(_seed_one(store, sample, rng, used_stamps, as_of))
            _seed_deal(store, ids[-1], sample, deal_rng, as_of)
            samples.append(sample)
        if accounts:
            contact_of = {sample.lead.id: contact_id for sample, contact_id in zip(samples, ids)}
            for account in generate_accounts(samples, seed=seed):
                _seed_company(store, account, contact_of)
    return ids


def company_properties(account: SampleAccount) -> dict[str, str]:
    """A generated account's company properties (see :data:`ACCOUNT_TO_PROPERTY`)."""
    fields = account.account.fields
    properties = {prop: str(fields[name]) for name, prop in ACCOUNT_TO_PROPERTY.items()
                  if fields.get(name) not in (None, "")}
    if fields.get("industry") in INDUSTRY_TO_OPTION:
        properties["industry"] = INDUSTRY_TO_OPTION[str(fields["industry"])]
    if fields.get("type"):
        properties["type"] = TYPE_TO_OPTION.get(str(fields["type"]), "OTHER")
    website = properties.get("website")
    if website:
        properties["domain"] = website.split("://", 1)[-1].split("/", 1)[0]
    return properties


def _seed_company(store: Store, account: SampleAccount, contact_of: Mapping[str, str]) -> str:
    """The account as a company, created when its account was, and the primary company of each
    member, associated when the member was created (see the module docstring)."""
    created_ms = values.to_ms(utc(account.account.created_at or datetime.now(timezone.utc)))
    record = store.create("companies", _checked(store, "companies", company_properties(account)), at_ms=created_ms,
                          created_ms=created_ms, source=SOURCE_IMPORT)
    members = [store.get("contacts", contact_of[lead_id]) for lead_id in account.members]
    for contact in sorted((c for c in members if c is not None), key=lambda c: (c.created_ms, int(c.id))):
        store.set_primary_company(contact.id, record.id, at_ms=max(contact.created_ms, created_ms))
    return record.id


#: Deal outcomes for a contact sales met: (stage, weight); one met contact in two gets a deal.
DEAL_SHARE = 0.5
DEAL_OUTCOMES: tuple[tuple[str, int], ...] = (("closedwon", 4), ("closedlost", 3), ("contractsent", 2),
                                              ("qualifiedtobuy", 1))


def _seed_deal(store: Store, contact_id: str, sample: SampleLead, rng: random.Random,
               as_of: datetime) -> str | None:
    """Maybe a deal for the contact (see the module docstring); its id, or ``None``."""
    meetings = sorted(utc(a.occurred_at) for a in sample.activities if a.type == "meeting")
    # Draw the same numbers for every contact, so one lead's deal does not shift the next one's.
    roll, stage, amount, days = (rng.random(), rng.choices([s for s, _ in DEAL_OUTCOMES],
                                 weights=[w for _, w in DEAL_OUTCOMES])[0], rng.randint(5, 120) * 500,
                                 rng.uniform(1, 45))
    if not meetings or roll >= DEAL_SHARE:
        return None
    created_ms = values.to_ms(meetings[0])
    properties = {"dealname": f"{sample.lead.fields.get('company') or 'New'} - new business",
                  "dealstage": stage, "pipeline": "default", "amount": str(amount)}
    at_ms = created_ms
    if stage in ("closedwon", "closedlost"):
        latest = max(values.to_ms(utc(a.occurred_at)) for a in sample.activities)
        close_ms = latest + int(days * 86_400_000)
        ceiling = values.to_ms(utc(as_of))
        if close_ms > ceiling:
            close_ms = latest + int(max(ceiling - latest, 0) * days / 45)  # spread, not piled on as_of
        close_ms = max(close_ms, created_ms)
        properties["closedate"] = values.iso_ms(close_ms)
        at_ms = close_ms
    record = store.create("deals", _checked(store, "deals", properties), at_ms=at_ms, created_ms=created_ms,
                          source=SOURCE_IMPORT)
    store.associate("contacts", contact_id, "deals", record.id)
    return record.id


def _seed_one(store: Store, sample: SampleLead, rng: random.Random, used: dict[int, int], as_of: datetime) -> str:
    lead = sample.lead
    created_ms = values.to_ms(utc(lead.created_at or datetime.now()))
    activities = list(sample.activities)
    properties = {**_contact_properties(lead.fields), **_summaries(activities)}
    ceiling = values.to_ms(utc(as_of))
    # Each engagement is logged when its activity happened (a follow-up task when the call ended,
    # whatever its due date), never after as_of; logging it bumps the contact (activity roll-ups).
    engagements = [(object_type, engagement, min(logged, ceiling))
                   for object_type, engagement, logged in _engagements(lead.fields, activities, rng)]
    latest = max([created_ms, *(values.to_ms(utc(a.occurred_at)) for a in activities),
                  *(logged for _, _, logged in engagements)])
    modified_ms = _modified(latest, rng, used, as_of)
    changes = _checked(store, "contacts", properties)
    owner = store.owner_of("contacts", "email", changes.get("email"))
    if owner is not None:
        # HubSpot holds one contact per email: seeding the same leads twice is a caller error.
        raise ValueError(f"contact {owner} already has email {changes['email']}; seed with another seed")
    record = store.create("contacts", changes, at_ms=modified_ms, created_ms=created_ms, source=SOURCE_IMPORT)
    for object_type, engagement, logged in engagements:
        logged = min(logged, modified_ms)  # a stamp made distinct may have stepped back a millisecond
        child = store.create(object_type, _checked(store, object_type, engagement), at_ms=logged, source=SOURCE_IMPORT)
        store.associate("contacts", record.id, object_type, child.id, at_ms=logged)
    # Calculated summaries are HubSpot's own writes, not the import's.
    record.resource(_summaries(activities), SOURCE_CALCULATED)
    return record.id


def _modified(latest_ms: int, rng: random.Random, used: dict[int, int], as_of: datetime) -> int:
    """A last-modified stamp after the latest activity, at most ``as_of``, unique in the seed: the
    drawn instant, or the latest free millisecond before it (staying at or below ``as_of``).

    ``used`` maps each stamp given to a free-or-earlier candidate below it (a disjoint-set
    forest with path compression), so finding the free millisecond is amortised O(1) however
    many contacts pile onto one instant (``as_of`` itself, for every lead still active)."""
    ceiling = values.to_ms(utc(as_of))
    stamp = min(latest_ms + int(rng.uniform(0, 3 * 86_400_000)), ceiling)
    free = stamp
    while free in used:
        free = used[free]
    while stamp != free:  # compress the path walked
        used[stamp], stamp = free, used[stamp]
    used[free] = free - 1
    return free


def _contact_properties(fields: Mapping[str, Any]) -> dict[str, str]:
    properties: dict[str, str] = {"lifecyclestage": "lead"}
    for field_name, name in FIELD_TO_PROPERTY.items():
        value = fields.get(field_name)
        if value not in (None, ""):
            properties[name] = str(value)
    bucket = employee_bucket(fields.get("employees"))
    if bucket:
        properties["numemployees"] = bucket
    source = fields.get("lead_source")
    if source:
        properties["hs_analytics_source"] = SOURCE_TO_ANALYTICS.get(str(source), "OTHER_CAMPAIGNS")
        properties["hs_analytics_source_data_1"] = str(source)
    for name in BANT_PROPERTIES:
        value = fields.get(name)
        if value not in (None, ""):
            properties[name] = str(value)
    return properties


def _summaries(activities: Iterable[Activity]) -> dict[str, str]:
    by_type: dict[str, list[datetime]] = {}
    for activity in activities:
        by_type.setdefault(activity.type, []).append(utc(activity.occurred_at))
    summary: dict[str, str] = {}
    views = by_type.get("page_view", [])
    if views:
        summary["hs_analytics_num_page_views"] = str(len(views))
        summary["hs_analytics_num_visits"] = str(len({v.date() for v in views}))
        summary["hs_analytics_first_visit_timestamp"] = values.iso_ms(values.to_ms(min(views)))
        summary["hs_analytics_last_visit_timestamp"] = values.iso_ms(values.to_ms(max(views)))
    for kind, count_name, last_name in (("email_open", "hs_email_open", "hs_email_last_open_date"),
                                        ("email_click", "hs_email_click", "hs_email_last_click_date"),
                                        ("email_bounce", "hs_email_bounce", None)):
        moments = by_type.get(kind, [])
        if moments:
            summary[count_name] = str(len(moments))
            if last_name:
                summary[last_name] = values.iso_ms(values.to_ms(max(moments)))
    if by_type.get("unsubscribe"):
        summary["hs_email_optout"] = "true"
    conversions = sorted(m for kind in CONVERSIONS for m in by_type.get(kind, []))
    if conversions:
        summary["num_conversion_events"] = str(len(conversions))
        summary["first_conversion_date"] = values.iso_ms(values.to_ms(conversions[0]))
        summary["recent_conversion_date"] = values.iso_ms(values.to_ms(conversions[-1]))
    return summary


def _engagements(fields: Mapping[str, Any], activities: list[Activity],
                 rng: random.Random) -> list[tuple[str, dict[str, str], int]]:
    """The one-to-one engagements behind a lead's sales activity, oldest first, each with the
    instant it was logged (epoch ms)."""
    out: list[tuple[str, dict[str, str], int]] = []
    first = fields.get("first_name") or "there"
    for activity in activities:
        at = utc(activity.occurred_at)
        campaign = str(activity.properties.get("campaign", "follow-up"))
        if activity.type == "email_reply":
            sent = at - timedelta(hours=rng.randint(2, 72))
            out.append(("emails", _email("EMAIL", sent, f"Following up: {campaign}", f"Hi {first}, checking in."),
                        _ms(sent)))
            out.append(("emails", _email("INCOMING_EMAIL", at, f"Re: Following up: {campaign}", "Thanks, let's talk."),
                        _ms(at)))
        elif activity.type == "meeting":
            out.append(("meetings", {"hs_timestamp": _iso(at), "hs_meeting_title": "Discovery meeting",
                                     "hs_meeting_outcome": "COMPLETED", "hs_meeting_start_time": _iso(at),
                                     "hs_meeting_end_time": _iso(at + timedelta(minutes=30))}, _ms(at)))
            noted = at + timedelta(minutes=35)
            out.append(("notes", {"hs_timestamp": _iso(noted),
                                  "hs_note_body": f"Met {first}: discussed needs and next steps."}, _ms(noted)))
        elif activity.type == "call":
            out.append(("calls", {"hs_timestamp": _iso(at), "hs_call_title": f"Call with {first}",
                                  "hs_call_status": "COMPLETED", "hs_call_direction": rng.choice(("OUTBOUND", "INBOUND")),
                                  "hs_call_duration": str(rng.randint(60, 1800) * 1000)}, _ms(at)))
            out.append(("tasks", {"hs_timestamp": _iso(at + timedelta(days=rng.randint(1, 7))),
                                  "hs_task_subject": f"Follow up with {first}", "hs_task_type": "CALL",
                                  "hs_task_status": rng.choice(("NOT_STARTED", "COMPLETED")),
                                  "hs_task_priority": "MEDIUM"}, _ms(at)))
    if any(fields.get(name) not in (None, "") for name in BANT_PROPERTIES) and activities:
        at = utc(activities[-1].occurred_at) + timedelta(minutes=5)
        bant = ", ".join(f"{n}: {fields[n]}" for n in BANT_PROPERTIES if fields.get(n) not in (None, ""))
        out.append(("notes", {"hs_timestamp": _iso(at), "hs_note_body": f"Qualification notes - {bant}"}, _ms(at)))
    return out


def _ms(moment: datetime) -> int:
    return values.to_ms(moment)


def _email(direction: str, at: datetime, subject: str, text: str) -> dict[str, str]:
    return {"hs_timestamp": _iso(at), "hs_email_direction": direction, "hs_email_subject": subject,
            "hs_email_text": text, "hs_email_status": "SENT"}


def _iso(moment: datetime) -> str:
    return values.iso_ms(values.to_ms(moment))


def _checked(store: Store, object_type: str, properties: Mapping[str, str]) -> dict[str, str | None]:
    validated = store.validate(object_type, properties, enforce_read_only=False)
    if validated.problems:  # pragma: no cover - the mapping above only produces valid values
        raise ValueError("; ".join(f"{p.name}: {p.message}" for p in validated.problems))
    return validated.changes
