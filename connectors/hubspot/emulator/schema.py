"""HubSpot's object types, default property definitions and association types, as data.

Everything here mirrors what a fresh HubSpot portal reports through the properties API, for the
handful of objects leadscore reads: contacts, companies, deals and the five engagement objects.
Sources:

- property names, types, field types, groups and read-only flags: HubSpot's "default contact
  properties" list and recorded ``GET /properties`` responses (``numemployees`` is an
  *enumeration* on contacts, a number on companies; ``annualrevenue`` is a *string* on contacts;
  ``createdate``, ``lastmodifieddate`` and the analytics/email/conversion summaries are
  read-only; ``lifecyclestage`` is a radio enumeration with eight default stages);
- engagement properties and options: HubSpot's calls/emails/meetings/notes/tasks guides;
- deal properties: HubSpot's deals guide (``dealname`` and ``dealstage`` are needed to create a
  deal; ``pipeline`` defaults to ``default``) and the default "Sales Pipeline" stages
  (``appointmentscheduled`` ... ``closedwon``, ``closedlost``); ``hs_is_closed_won``,
  ``hs_is_closed_lost`` and ``hs_is_closed`` are calculated, read-only booleans HubSpot derives
  from the stage's pipeline metadata (HubSpot's own sales-reporting notes for its CLI: "All CRM
  property values come back as strings ... hs_is_closed_won is returned as "true"/"false""; deal
  searches filter on ``hs_is_closed``; recorded deal reads carry ``hs_is_closed_lost`` too);
- lifecycle dates: ``hs_lifecyclestage_<stage>_date`` ("Became a Customer Date"...), one per
  default stage, read-only, as recorded contact property lists name all eight
  (``hs_lifecyclestage_customer_date`` ... ``hs_lifecyclestage_other_date``; HubSpot's own
  documentation found no page of them). Reading taken: HubSpot sets one when the contact enters
  its stage, which is what reports of "became a customer" rely on (knowledge base, "Use lifecycle
  stages", lists the stages and that automatic updates only move forward);
- default returned and searchable properties: the "Search the CRM" guide;
- association type ids: HubSpot's association type id table (contact to call 193, email 197,
  meeting 199, note 201, task 203; the reverse directions are one higher; contact to deal 4,
  deal to contact 3; contact to company 279 unlabeled and 1 primary, company to contact 280
  unlabeled and 2 primary, as HubSpot's table lists them and its SDKs' enumerations copy it);
- companies (type ``0-2``): HubSpot's companies guide ("When creating a new company, you should
  include at least one of the following properties in your request: name or domain": a
  recommendation, as the contacts guide's for email/firstname/lastname, so nothing is required);
  the "Search the CRM" guide for the default returned properties (``name``, ``domain``,
  ``createdate``, ``hs_lastmodifieddate``, ``hs_object_id``: companies keep
  ``hs_lastmodifieddate``, not ``lastmodifieddate``) and the searchable ones (``website``,
  ``phone``, ``name``, ``domain``); the default company properties list (KB "HubSpot's default
  company properties") for the rest. ``numberofemployees`` and ``annualrevenue`` are numbers on
  companies; ``industry`` and ``type`` are enumerations whose internal values are upper-case
  (``COMPUTER_SOFTWARE``, ``PROSPECT``) and whose labels are what users see ("Computer
  Software"); ``num_associated_contacts`` ("Number of associated contacts": developer changelog,
  "Associations API property labels update") is calculated from the company's associations;
- the contact's ``associatedcompanyid`` ("Primary Associated Company ID"), read-only since April
  2019 (developer changelog, "The associatedcompanyid contact property will become read-only":
  associations are made through the associations API, and the property follows the primary one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

#: When the portal's built-in definitions claim to have been created (a fixed instant keeps
#: ``GET /properties`` byte-stable across runs).
PORTAL_EPOCH_ISO = "2019-08-06T02:41:08.739Z"


@dataclass(frozen=True)
class ObjectType:
    """One CRM object type as the v3 objects API names and describes it."""

    name: str  # the plural path segment, e.g. "contacts"
    singular: str  # "contact": used in association type names and messages
    type_id: str  # "0-1": HubSpot's object type id, accepted in paths too
    error_label: str  # "CONTACT": as HubSpot spells it in OBJECT_NOT_FOUND messages
    createdate: str  # the create-date property ("createdate" or "hs_createdate")
    lastmodified: tuple[str, ...]  # properties a write bumps
    default_properties: tuple[str, ...]  # returned when a read names none
    searchable: tuple[str, ...]  # searched by the free-text ``query``
    id_base: int  # first record id handed out (HubSpot ids are numeric strings)


CONTACTS = ObjectType(
    name="contacts",
    singular="contact",
    type_id="0-1",
    error_label="CONTACT",
    createdate="createdate",
    # Contacts keep ``lastmodifieddate``; HubSpot also maintains ``hs_lastmodifieddate``.
    lastmodified=("lastmodifieddate", "hs_lastmodifieddate"),
    default_properties=("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    searchable=("firstname", "lastname", "email", "phone", "hs_additional_emails", "fax", "mobilephone", "company"),
    id_base=101,
)


def _engagement(name: str, singular: str, type_id: str, searchable: tuple[str, ...], id_base: int) -> ObjectType:
    return ObjectType(
        name=name,
        singular=singular,
        type_id=type_id,
        error_label=singular.upper(),
        createdate="hs_createdate",
        lastmodified=("hs_lastmodifieddate",),
        default_properties=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
        searchable=searchable,
        id_base=id_base,
    )


COMPANIES = ObjectType(
    name="companies",
    singular="company",
    type_id="0-2",
    error_label="COMPANY",
    createdate="createdate",
    lastmodified=("hs_lastmodifieddate",),
    default_properties=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    searchable=("website", "phone", "name", "domain"),
    id_base=20_000_000_001,
)

DEALS = ObjectType(
    name="deals",
    singular="deal",
    type_id="0-3",
    error_label="DEAL",
    createdate="createdate",
    lastmodified=("hs_lastmodifieddate",),
    # What a deal read without ``properties`` answers (deals guide).
    default_properties=("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
                        "hs_object_id", "pipeline"),
    searchable=("dealname", "pipeline", "dealstage"),
    id_base=30_000_000_001,
)

EMAILS = _engagement("emails", "email", "0-49", ("hs_email_subject",), 40_000_000_001)
CALLS = _engagement("calls", "call", "0-48", ("hs_call_title", "hs_body_preview"), 41_000_000_001)
MEETINGS = _engagement("meetings", "meeting", "0-47", ("hs_meeting_title", "hs_meeting_body"), 42_000_000_001)
NOTES = _engagement("notes", "note", "0-46", ("hs_note_body",), 43_000_000_001)
TASKS = _engagement("tasks", "task", "0-27", ("hs_task_body", "hs_task_subject"), 44_000_000_001)

#: "Required properties to create records" (objects API guide); contacts need none.
REQUIRED_ON_CREATE: dict[str, tuple[str, ...]] = {
    "contacts": (),
    "companies": (),
    "deals": ("dealname", "dealstage"),
    "emails": ("hs_timestamp", "hs_email_direction"),
    "calls": ("hs_timestamp",),
    "meetings": ("hs_timestamp",),
    "notes": ("hs_timestamp",),
    "tasks": ("hs_timestamp",),
}

OBJECT_TYPES: dict[str, ObjectType] = {t.name: t for t in (CONTACTS, COMPANIES, DEALS, EMAILS, CALLS, MEETINGS, NOTES, TASKS)}
ENGAGEMENT_TYPES: tuple[str, ...] = ("emails", "calls", "meetings", "notes", "tasks")


def resolve_object_type(segment: str) -> ObjectType | None:
    """Map a path segment to its type: HubSpot accepts the plural, the singular or the type id."""
    lowered = segment.lower()
    for object_type in OBJECT_TYPES.values():
        if lowered in (object_type.name, object_type.singular, object_type.type_id):
            return object_type
    return None


# --- associations --------------------------------------------------------------------------

#: HUBSPOT_DEFINED association type ids, by (from, to). Each pair is one direction.
ASSOCIATION_TYPE_IDS: dict[tuple[str, str], int] = {
    ("contacts", "calls"): 193,
    ("calls", "contacts"): 194,
    ("contacts", "emails"): 197,
    ("emails", "contacts"): 198,
    ("contacts", "meetings"): 199,
    ("meetings", "contacts"): 200,
    ("contacts", "notes"): 201,
    ("notes", "contacts"): 202,
    ("contacts", "tasks"): 203,
    ("tasks", "contacts"): 204,
    ("contacts", "deals"): 4,
    ("deals", "contacts"): 3,
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
}

#: The HUBSPOT_DEFINED "Primary" association type ids, by (from, to): a contact's primary company
#: (1) and, seen from the company, the contacts whose primary company it is (2). A primary
#: association is listed alongside the unlabeled one, never instead of it (associations v4
#: guide: "When a record has a primary association or a custom association label, those types
#: will be listed alongside the unlabeled association type").
PRIMARY_ASSOCIATION_TYPE_IDS: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
}
#: The label v4 answers for a primary association (unlabeled ones answer ``null``).
PRIMARY_LABEL = "Primary"


# --- property definitions ------------------------------------------------------------------


def option(value: str, label: str, order: int) -> dict[str, Any]:
    """One enumeration option, shaped as ``GET /crm/v3/properties`` returns it."""
    return {"label": label, "value": value, "displayOrder": order, "hidden": False, "description": ""}


def options(pairs: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    return [option(value, label, order) for order, (value, label) in enumerate(pairs)]


def property_definition(
    name: str,
    label: str,
    type_: str,
    field_type: str,
    group: str,
    *,
    choices: list[dict[str, Any]] | None = None,
    read_only: bool = False,
    calculated: bool = False,
    hidden: bool = False,
    unique: bool = False,
    hubspot_defined: bool = True,
    display_order: int = -1,
    description: str = "",
    created_at: str = PORTAL_EPOCH_ISO,
) -> dict[str, Any]:
    """A property as the properties API returns it (``Property`` in properties.json)."""
    definition: dict[str, Any] = {
        "updatedAt": created_at,
        "createdAt": created_at,
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "description": description,
        "groupName": group,
        "options": choices or [],
        "displayOrder": display_order,
        "calculated": calculated,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": hidden,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
        "formField": not read_only and not hidden,
        "dataSensitivity": "non_sensitive",
        "archived": False,
    }
    if hubspot_defined:
        definition["hubspotDefined"] = True
    return definition


#: HubSpot's default lifecycle stages, in pipeline order: a write may only move forward.
LIFECYCLE_STAGES: tuple[tuple[str, str], ...] = (
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)

#: The contact ``numemployees`` buckets (an enumeration on contacts, unlike companies).
EMPLOYEE_BUCKETS: tuple[tuple[str, str], ...] = (
    ("1-5", "1-5"),
    ("5-25", "5-25"),
    ("25-50", "25-50"),
    ("50-100", "50-100"),
    ("100-500", "100-500"),
    ("500-1000", "500-1000"),
    ("1000+", "1000+"),
)

#: ``hs_analytics_source`` ("Original Traffic Source") options.
ANALYTICS_SOURCES: tuple[tuple[str, str], ...] = (
    ("ORGANIC_SEARCH", "Organic Search"),
    ("PAID_SEARCH", "Paid Search"),
    ("EMAIL_MARKETING", "Email Marketing"),
    ("SOCIAL_MEDIA", "Organic Social"),
    ("REFERRALS", "Referrals"),
    ("OTHER_CAMPAIGNS", "Other Campaigns"),
    ("DIRECT_TRAFFIC", "Direct Traffic"),
    ("OFFLINE", "Offline Sources"),
    ("PAID_SOCIAL", "Paid Social"),
    ("AI_REFERRALS", "AI Referrals"),
)

LEAD_STATUSES: tuple[tuple[str, str], ...] = (
    ("NEW", "New"),
    ("OPEN", "Open"),
    ("IN_PROGRESS", "In Progress"),
    ("OPEN_DEAL", "Open Deal"),
    ("UNQUALIFIED", "Unqualified"),
    ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
    ("CONNECTED", "Connected"),
    ("BAD_TIMING", "Bad Timing"),
)


def lifecycle_date_property(stage: str) -> str:
    """The contact property HubSpot stamps when a contact enters a default lifecycle stage:
    ``hs_lifecyclestage_customer_date`` ("Became a Customer Date") and one per stage, as HubSpot's
    default contact properties list them."""
    return f"hs_lifecyclestage_{stage}_date"


def _contact_properties() -> list[dict[str, Any]]:
    p = property_definition
    info, web, email, conv = "contactinformation", "analyticsinformation", "emailinformation", "conversioninformation"
    sales = "sales_properties"
    return [
        p("email", "Email", "string", "text", info, unique=True),
        p("firstname", "First Name", "string", "text", info),
        p("lastname", "Last Name", "string", "text", info),
        p("jobtitle", "Job Title", "string", "text", info),
        p("company", "Company Name", "string", "text", info),
        p("industry", "Industry", "string", "text", info),
        p("country", "Country/Region", "string", "text", info),
        p("state", "State/Region", "string", "text", info),
        p("city", "City", "string", "text", info),
        p("phone", "Phone Number", "string", "text", info),
        p("mobilephone", "Mobile Phone Number", "string", "text", info),
        p("fax", "Fax Number", "string", "text", info),
        p("website", "Website URL", "string", "text", info),
        p("numemployees", "Number of Employees", "enumeration", "select", info, choices=options(EMPLOYEE_BUCKETS)),
        p("annualrevenue", "Annual Revenue", "string", "text", info),
        p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", info, choices=options(LIFECYCLE_STAGES)),
        p("hs_lead_status", "Lead Status", "enumeration", "radio", info, choices=options(LEAD_STATUSES)),
        # "Became a <stage> Date" per default stage, set by HubSpot when the contact enters it.
        *(p(lifecycle_date_property(stage), f"Became a {label} Date", "datetime", "date", info, read_only=True,
            calculated=True) for stage, label in LIFECYCLE_STAGES),
        p("hs_additional_emails", "Additional email addresses", "enumeration", "select", info, read_only=True),
        # "HubSpot Score - This property cannot be updated through the API." (contacts API notes)
        p("hubspotscore", "HubSpot Score", "number", "number", info, read_only=True, calculated=True),
        p("createdate", "Create Date", "datetime", "date", info, read_only=True),
        p("lastmodifieddate", "Last Modified Date", "datetime", "date", info, read_only=True),
        p("hs_lastmodifieddate", "Object last modified date/time", "datetime", "date", info, read_only=True, hidden=True),
        p("hs_object_id", "Record ID", "number", "number", info, read_only=True, unique=True),
        # Follows the contact's primary company association; read-only since April 2019.
        p("associatedcompanyid", "Primary Associated Company ID", "number", "number", info, read_only=True),
        p("hs_analytics_source", "Original Traffic Source", "enumeration", "select", web, choices=options(ANALYTICS_SOURCES)),
        p("hs_analytics_source_data_1", "Original Traffic Source Drill-Down 1", "string", "text", web),
        p("hs_analytics_num_page_views", "Number of Pageviews", "number", "number", web, read_only=True, calculated=True),
        p("hs_analytics_num_visits", "Number of Sessions", "number", "number", web, read_only=True, calculated=True),
        p("hs_analytics_first_visit_timestamp", "Time of First Session", "datetime", "date", web, read_only=True),
        p("hs_analytics_last_visit_timestamp", "Time of Last Session", "datetime", "date", web, read_only=True),
        p("hs_email_open", "Marketing emails opened", "number", "number", email, read_only=True),
        p("hs_email_click", "Marketing emails clicked", "number", "number", email, read_only=True),
        p("hs_email_bounce", "Marketing emails bounced", "number", "number", email, read_only=True),
        p("hs_email_last_open_date", "Last marketing email open date", "datetime", "date", email, read_only=True),
        p("hs_email_last_click_date", "Last marketing email click date", "datetime", "date", email, read_only=True),
        p("hs_email_optout", "Unsubscribed from all email", "bool", "booleancheckbox", email, read_only=True,
          choices=options((("true", "Yes"), ("false", "No")))),
        p("num_conversion_events", "Number of Form Submissions", "number", "number", conv, read_only=True),
        p("first_conversion_date", "First Conversion Date", "datetime", "date", conv, read_only=True),
        p("recent_conversion_date", "Recent Conversion Date", "datetime", "date", conv, read_only=True),
        # Sales activity roll-ups, "set automatically by HubSpot based on user actions in the contact
        # record" (the properties API's descriptions, quoted in store.ACTIVITY_ROLLUPS).
        p("notes_last_contacted", "Last Contacted", "datetime", "date", sales, read_only=True, calculated=True),
        p("notes_last_updated", "Last Activity Date", "datetime", "date", sales, read_only=True, calculated=True),
        p("num_contacted_notes", "Number of times contacted", "number", "number", sales, read_only=True,
          calculated=True),
        p("num_notes", "Number of Sales Activities", "number", "number", sales, read_only=True, calculated=True),
        p("hs_latest_meeting_activity", "Latest meeting activity", "datetime", "date", sales, read_only=True,
          calculated=True),
        p("hs_sales_email_last_replied", "Recent Sales Email Replied Date", "datetime", "date", sales,
          read_only=True, calculated=True),
    ]


#: Some of the company ``industry`` options (HubSpot ships about 150, LinkedIn's industry list):
#: internal value -> label. The emulator defines these; the seeding maps generated industries
#: onto them (see :mod:`.seeding`).
COMPANY_INDUSTRIES: tuple[tuple[str, str], ...] = (
    ("ACCOUNTING", "Accounting"),
    ("BANKING", "Banking"),
    ("COMPUTER_SOFTWARE", "Computer Software"),
    ("EDUCATION_MANAGEMENT", "Education Management"),
    ("FINANCIAL_SERVICES", "Financial Services"),
    ("GOVERNMENT_ADMINISTRATION", "Government Administration"),
    ("HIGHER_EDUCATION", "Higher Education"),
    ("HOSPITAL_HEALTH_CARE", "Hospital & Health Care"),
    ("INFORMATION_TECHNOLOGY_AND_SERVICES", "Information Technology and Services"),
    ("INTERNET", "Internet"),
    ("MACHINERY", "Machinery"),
    ("MARKETING_AND_ADVERTISING", "Marketing and Advertising"),
    ("RETAIL", "Retail"),
)

#: The company ``type`` options ("Type": the relationship the company has with the business).
COMPANY_TYPES: tuple[tuple[str, str], ...] = (
    ("PROSPECT", "Prospect"),
    ("PARTNER", "Partner"),
    ("RESELLER", "Reseller"),
    ("VENDOR", "Vendor"),
    ("OTHER", "Other"),
)


def _company_properties() -> list[dict[str, Any]]:
    p = property_definition
    info = "companyinformation"
    return [
        p("name", "Company name", "string", "text", info),
        p("domain", "Company Domain Name", "string", "text", info),
        p("website", "Website URL", "string", "text", info),
        p("industry", "Industry", "enumeration", "select", info, choices=options(COMPANY_INDUSTRIES)),
        p("type", "Type", "enumeration", "select", info, choices=options(COMPANY_TYPES)),
        p("numberofemployees", "Number of Employees", "number", "number", info),
        p("annualrevenue", "Annual Revenue", "number", "number", info),
        p("country", "Country/Region", "string", "text", info),
        p("state", "State/Region", "string", "text", info),
        p("city", "City", "string", "text", info),
        p("phone", "Phone Number", "string", "text", info),
        p("num_associated_contacts", "Number of associated contacts", "number", "number", info, read_only=True,
          calculated=True),
        p("createdate", "Create Date", "datetime", "date", info, read_only=True),
        p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", info, read_only=True),
        p("hs_object_id", "Record ID", "number", "number", info, read_only=True, unique=True),
    ]


#: The default "Sales Pipeline" (id ``default``) and its stages, in pipeline order.
DEFAULT_PIPELINE: tuple[str, str] = ("default", "Sales Pipeline")
DEAL_STAGES: tuple[tuple[str, str], ...] = (
    ("appointmentscheduled", "Appointment Scheduled"),
    ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"),
    ("contractsent", "Contract Sent"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
)
CLOSED_WON_STAGES: frozenset[str] = frozenset({"closedwon"})
CLOSED_LOST_STAGES: frozenset[str] = frozenset({"closedlost"})


def is_closed_won(dealstage: str | None) -> str:
    """``hs_is_closed_won`` as HubSpot calculates it from the deal's stage."""
    return "true" if dealstage in CLOSED_WON_STAGES else "false"


def deal_flags(dealstage: str | None) -> dict[str, str]:
    """The booleans HubSpot calculates from a deal's stage: ``hs_is_closed_won``, ``hs_is_closed_lost``
    and ``hs_is_closed`` (a stage is closed when it is a won or lost stage of its pipeline)."""
    won, lost = dealstage in CLOSED_WON_STAGES, dealstage in CLOSED_LOST_STAGES
    return {"hs_is_closed_won": str(won).lower(), "hs_is_closed_lost": str(lost).lower(),
            "hs_is_closed": str(won or lost).lower()}


def _deal_properties() -> list[dict[str, Any]]:
    p = property_definition
    info = "dealinformation"
    return [
        p("dealname", "Deal Name", "string", "text", info),
        p("dealstage", "Deal Stage", "enumeration", "radio", info, choices=options(DEAL_STAGES)),
        p("pipeline", "Pipeline", "enumeration", "select", info, choices=options((DEFAULT_PIPELINE,))),
        p("amount", "Amount", "number", "number", info),
        p("closedate", "Close Date", "datetime", "date", info),
        p("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", info, read_only=True, calculated=True,
          choices=options((("true", "True"), ("false", "False")))),
        p("hs_is_closed_lost", "Is closed lost", "bool", "booleancheckbox", info, read_only=True, calculated=True,
          choices=options((("true", "True"), ("false", "False")))),
        p("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", info, read_only=True, calculated=True,
          choices=options((("true", "True"), ("false", "False")))),
        p("createdate", "Create Date", "datetime", "date", info),
        p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", info, read_only=True),
        p("hs_object_id", "Record ID", "number", "number", info, read_only=True, unique=True),
    ]


def _engagement_common(group: str) -> list[dict[str, Any]]:
    p = property_definition
    return [
        p("hs_timestamp", "Activity date", "datetime", "date", group),
        p("hs_createdate", "Create date", "datetime", "date", group, read_only=True),
        p("hs_lastmodifieddate", "Last modified date", "datetime", "date", group, read_only=True),
        p("hs_object_id", "Record ID", "number", "number", group, read_only=True, unique=True),
    ]


def _engagement_properties(object_type: str) -> list[dict[str, Any]]:
    p = property_definition
    group = f"{OBJECT_TYPES[object_type].singular}information"
    common = _engagement_common(group)
    specific: dict[str, list[dict[str, Any]]] = {
        "emails": [
            p("hs_email_direction", "Email direction", "enumeration", "select", group,
              choices=options((("EMAIL", "Email sent from CRM"), ("INCOMING_EMAIL", "Reply to email"),
                               ("FORWARDED_EMAIL", "Forwarded email")))),
            p("hs_email_subject", "Email subject", "string", "text", group),
            p("hs_email_text", "Email text", "string", "textarea", group),
            p("hs_email_status", "Email send status", "enumeration", "select", group,
              choices=options((("BOUNCED", "Bounced"), ("FAILED", "Failed"), ("SCHEDULED", "Scheduled"),
                               ("SENDING", "Sending"), ("SENT", "Sent")))),
        ],
        "calls": [
            p("hs_call_title", "Call Title", "string", "text", group),
            p("hs_call_body", "Call notes", "string", "textarea", group),
            p("hs_body_preview", "Body preview", "string", "textarea", group, read_only=True),
            p("hs_call_direction", "Call direction", "enumeration", "select", group,
              choices=options((("INBOUND", "Inbound"), ("OUTBOUND", "Outbound")))),
            p("hs_call_duration", "Call duration", "number", "number", group),
            p("hs_call_status", "Call status", "enumeration", "select", group,
              choices=options((("BUSY", "Busy"), ("CALLING_CRM_USER", "Calling CRM user"), ("CANCELED", "Canceled"),
                               ("COMPLETED", "Completed"), ("CONNECTING", "Connecting"), ("FAILED", "Failed"),
                               ("IN_PROGRESS", "In progress"), ("NO_ANSWER", "No answer"), ("QUEUED", "Queued"),
                               ("RINGING", "Ringing")))),
        ],
        "meetings": [
            p("hs_meeting_title", "Meeting name", "string", "text", group),
            p("hs_meeting_body", "Meeting description", "string", "textarea", group),
            p("hs_meeting_start_time", "Start Time", "datetime", "date", group),
            p("hs_meeting_end_time", "End Time", "datetime", "date", group),
            p("hs_meeting_outcome", "Meeting outcome", "enumeration", "select", group,
              choices=options((("SCHEDULED", "Scheduled"), ("COMPLETED", "Completed"), ("RESCHEDULED", "Rescheduled"),
                               ("NO_SHOW", "No show"), ("CANCELED", "Canceled")))),
        ],
        "notes": [
            p("hs_note_body", "Note body", "string", "textarea", group),
        ],
        "tasks": [
            p("hs_task_subject", "Task Title", "string", "text", group),
            p("hs_task_body", "Task notes", "string", "textarea", group),
            p("hs_task_status", "Task Status", "enumeration", "select", group,
              choices=options((("NOT_STARTED", "Not started"), ("IN_PROGRESS", "In progress"),
                               ("WAITING", "Waiting"), ("COMPLETED", "Completed"), ("DEFERRED", "Deferred")))),
            p("hs_task_priority", "Priority", "enumeration", "select", group,
              choices=options((("NONE", "None"), ("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High")))),
            p("hs_task_type", "Task Type", "enumeration", "select", group,
              choices=options((("EMAIL", "Email"), ("CALL", "Call"), ("TODO", "To-do")))),
        ],
    }
    return common + specific[object_type]


def default_properties(object_type: str) -> list[dict[str, Any]]:
    """A fresh portal's property definitions for ``object_type``."""
    if object_type == "contacts":
        return _contact_properties()
    if object_type == "companies":
        return _company_properties()
    if object_type == "deals":
        return _deal_properties()
    return _engagement_properties(object_type)


def default_groups(object_type: str) -> list[dict[str, Any]]:
    """A fresh portal's property groups (``PropertyGroup`` in properties.json)."""
    if object_type == "contacts":
        names = (
            ("contactinformation", "Contact information"),
            ("analyticsinformation", "Web analytics history"),
            ("emailinformation", "Email information"),
            ("conversioninformation", "Conversion information"),
            ("sales_properties", "Sales properties"),
        )
    else:
        singular = OBJECT_TYPES[object_type].singular
        names = ((f"{singular}information", f"{singular.capitalize()} information"),)
    return [{"name": name, "label": label, "displayOrder": order, "archived": False}
            for order, (name, label) in enumerate(names)]
