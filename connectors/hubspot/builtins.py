"""HubSpot's built-in (default) contact properties, known by name so ``validate`` can refuse a
write into one without asking HubSpot.

leadscore writes only properties its ``setup`` created, or custom properties the admin adopts one
by one (``connectors.hubspot.adopt``). A built-in property is neither: ``write = { reason =
"jobtitle" }`` would overwrite every contact's job title, and ``write = { stage =
"lifecyclestage" }`` would make ``setup`` edit a HubSpot-defined property's options. (Moving
``lifecyclestage`` forward is the separate, explicit ``lifecycle`` option.)

Offline, a name is built-in when it is

- any ``hs_`` name: the prefix of HubSpot-defined internal names throughout the properties API
  (``hs_lead_status``, ``hs_analytics_source``, ...); leadscore treats every one as HubSpot's, or
- in :data:`DEFAULT_CONTACT_PROPERTIES`: the internal names of the properties every portal has
  without the ``hs_`` prefix, from HubSpot's knowledge base article "HubSpot's default contact
  properties" (https://knowledge.hubspot.com/properties/hubspots-default-contact-properties) and
  a fresh portal's ``GET /crm/v3/properties/contacts`` (``hubspotDefined: true``). Every contact
  property of the emulator's schema is in it (``tests/test_hubspot_owned_fields.py`` checks).

Online, HubSpot says it itself: ``hubspotDefined: true`` on the definition (see
:mod:`connectors.hubspot.setup`), which also covers defaults added after this list was written.
"""

from __future__ import annotations

#: Default contact properties without the ``hs_`` prefix (internal names).
DEFAULT_CONTACT_PROPERTIES: frozenset[str] = frozenset({
    # Contact information
    "address", "annualrevenue", "city", "company", "company_size", "country", "date_of_birth", "degree",
    "email", "fax", "field_of_study", "firstname", "gender", "graduation_date", "industry", "job_function",
    "jobtitle", "lastname", "lifecyclestage", "marital_status", "message", "military_status", "mobilephone",
    "numemployees", "phone", "relationship_status", "salutation", "school", "seniority", "start_date",
    "state", "website", "work_email", "zip",
    # Owner, team, record and system properties
    "associatedcompanyid", "associatedcompanylastupdated", "createdate", "currentlyinworkflow",
    "hubspot_owner_assigneddate", "hubspot_owner_id", "hubspot_team_id", "hubspotscore", "lastmodifieddate",
    "owneremail", "ownername", "photo",
    # Conversion information
    "first_conversion_date", "first_conversion_event_name", "num_conversion_events",
    "num_unique_conversion_events", "recent_conversion_date", "recent_conversion_event_name",
    # Deal information
    "closedate", "days_to_close", "first_deal_created_date", "num_associated_deals", "recent_deal_amount",
    "recent_deal_close_date", "total_revenue",
    # Sales activity roll-ups
    "engagements_last_meeting_booked", "engagements_last_meeting_booked_campaign",
    "engagements_last_meeting_booked_medium", "engagements_last_meeting_booked_source",
    "notes_last_contacted", "notes_last_updated", "notes_next_activity_date", "num_contacted_notes", "num_notes",
    # IP geolocation
    "ip_city", "ip_country", "ip_country_code", "ip_latlon", "ip_state", "ip_state_code", "ip_zipcode",
    # Social and integrations (legacy, still defined in every portal)
    "followercount", "kloutscoregeneral", "linkedinbio", "linkedinconnections", "twitterbio", "twitterhandle",
    "twitterprofilephoto", "surveymonkeyeventlastupdated", "webinareventlastupdated",
})


def is_builtin(name: str) -> bool:
    """Whether ``name`` is one of HubSpot's own contact properties, by name alone."""
    lowered = name.strip().lower()
    return lowered.startswith("hs_") or lowered in DEFAULT_CONTACT_PROPERTIES
