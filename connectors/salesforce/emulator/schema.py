"""sObject definitions: the standard objects the emulator holds, their fields and describe shape.

Field names, types, lengths and flags follow the *Object Reference for Salesforce*: for example
``Lead.LastName`` is a required 80-character string, ``Lead.Name`` is a read-only compound of
the name fields, ``Lead.IsConverted`` can be set on create but never updated, the ``Converted*``
fields are read-only, ``Task.TaskSubtype`` is set on create only, and ``CampaignMember.HasResponded``
follows the member's status. System audit fields (``CreatedDate``, ``LastModifiedDate``,
``SystemModstamp``, ...) are read-only on every object.

Picklists of standard fields are unrestricted, as they are in an org out of the box, so values
outside the list are stored; custom picklists created with ``valueSet.restricted = true`` refuse
them with ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from leadscore.connectors.salesforce.emulator.ids import KEY_PREFIXES

#: describe ``soapType`` per field type.
SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int", "double": "xsd:double",
    "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date", "datetime": "xsd:dateTime",
    "complexvalue": "urn:ComplexValue",
}
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "combobox", "email", "phone", "url", "multipicklist"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
#: Text areas longer than this are "long text areas": not filterable, not sortable (SOQL reference).
LONG_TEXT_THRESHOLD = 255


@dataclass(frozen=True)
class PicklistValue:
    value: str
    label: str
    default: bool = False
    active: bool = True

    def describe(self) -> dict[str, Any]:
        return {"active": self.active, "defaultValue": self.default, "label": self.label, "validFor": None,
                "value": self.value}


@dataclass(frozen=True)
class FieldDef:
    """One field as ``describe`` reports it, with the flags the data rules read."""

    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    custom: bool = False
    calculated: bool = False
    defaulted_on_create: bool = False
    picklist: tuple[PicklistValue, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    name_field: bool = False
    id_lookup: bool = False
    visible_lines: int = 0
    #: The Tooling API ``Metadata`` this field was created with (custom fields only).
    metadata: dict[str, Any] | None = None

    @property
    def long_text(self) -> bool:
        return self.type == "textarea" and self.length > LONG_TEXT_THRESHOLD

    @property
    def filterable(self) -> bool:
        return not self.long_text

    @property
    def sortable(self) -> bool:
        return not self.long_text

    def describe(self, *, updateable: bool | None = None) -> dict[str, Any]:
        """The describe entry. ``updateable`` overrides the flag (field-level security)."""
        text = self.type in TEXT_TYPES
        return {
            "aggregatable": self.filterable and self.type not in ("textarea",),
            "autoNumber": False,
            "byteLength": self.length * 3 if text else (18 if self.type in ("id", "reference") else 0),
            "calculated": self.calculated,
            "caseSensitive": False,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": None,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": self.digits,
            "externalId": False,
            "filterable": self.filterable,
            "groupable": self.filterable and self.type not in ("double", "currency", "percent", "datetime"),
            "htmlFormatted": False,
            "idLookup": self.id_lookup,
            "inlineHelpText": None,
            "label": self.label,
            "length": self.length if text else (18 if self.type in ("id", "reference") else 0),
            "name": self.name,
            "nameField": self.name_field,
            "nillable": self.nillable,
            "permissionable": self.custom or (self.nillable and self.updateable and not self.calculated),
            "picklistValues": [p.describe() for p in self.picklist],
            "precision": self.precision,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "restrictedPicklist": self.restricted,
            "scale": self.scale,
            "soapType": SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.sortable,
            "type": self.type,
            "unique": False,
            "updateable": self.updateable if updateable is None else updateable,
        }


@dataclass
class SObjectDef:
    name: str
    label: str
    label_plural: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    tooling: bool = False

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIXES[self.name]

    def lookup(self, name: str) -> FieldDef | None:
        """Field by API name, case-insensitively (SOQL and the REST API ignore case)."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        for candidate in self.fields.values():
            if candidate.name.lower() == lowered:
                return candidate
        return None


# --- field builders ------------------------------------------------------------------------------


def _pick(*values: str, default: str | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(v, v, default=(v == default)) for v in values)


def text(name: str, label: str, length: int = 255, **kw: Any) -> FieldDef:
    return FieldDef(name, "string", label, length=length, **kw)


def area(name: str, label: str, length: int = 32000, **kw: Any) -> FieldDef:
    return FieldDef(name, "textarea", label, length=length, **kw)


def picklist(name: str, label: str, values: Iterable[str], *, default: str | None = None, **kw: Any) -> FieldDef:
    return FieldDef(name, "picklist", label, length=255, picklist=_pick(*values, default=default), **kw)


def ref(name: str, label: str, *to: str, relationship: str | None = None, **kw: Any) -> FieldDef:
    return FieldDef(name, "reference", label, reference_to=tuple(to),
                    relationship_name=relationship or (name[:-2] if name.endswith("Id") else None), **kw)


def boolean(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "boolean", label, nillable=False, defaulted_on_create=True, **kw)


def read_only(definition: FieldDef) -> FieldDef:
    return replace(definition, createable=False, updateable=False)


def _system_fields(owner: bool) -> list[FieldDef]:
    fields = [
        FieldDef("Id", "id", "Record ID", createable=False, updateable=False, nillable=False,
                 defaulted_on_create=True, id_lookup=True),
        read_only(boolean("IsDeleted", "Deleted")),
        read_only(FieldDef("CreatedDate", "datetime", "Created Date", nillable=False, defaulted_on_create=True)),
        read_only(ref("CreatedById", "Created By ID", "User", nillable=False, defaulted_on_create=True)),
        read_only(FieldDef("LastModifiedDate", "datetime", "Last Modified Date", nillable=False,
                           defaulted_on_create=True)),
        read_only(ref("LastModifiedById", "Last Modified By ID", "User", nillable=False, defaulted_on_create=True)),
        read_only(FieldDef("SystemModstamp", "datetime", "System Modstamp", nillable=False,
                           defaulted_on_create=True)),
    ]
    if owner:
        fields.append(ref("OwnerId", "Owner ID", "User", relationship="Owner", nillable=False,
                          defaulted_on_create=True))
    return fields


#: The ``Industry`` standard value set, shared by ``Account.Industry`` and ``Lead.Industry`` (Metadata API
#: Developer Guide, "StandardValueSet Names and Standard Picklist Fields": "Industry | Account.Industry
#: Lead.Industry"), with the values a new org ships. Standard picklists are unrestricted, so a value
#: outside it (the demo data's "Software") is stored as it is.
INDUSTRIES = ("Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
              "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental",
              "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery",
              "Manufacturing", "Media", "Not For Profit", "Recreation", "Retail", "Shipping", "Technology",
              "Telecommunications", "Transportation", "Utilities", "Other")
#: The org's lead sources: Salesforce's defaults plus the marketing channels the demo data uses. One
#: value set serves ``Lead.LeadSource`` and ``Account.AccountSource`` ("LeadSource | Account.AccountSource
#: Lead.LeadSource ...", the same Metadata API table).
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", "Organic Search",
                "Paid Search", "Referral", "Webinar", "Trade Show", "Content Syndication", "Direct")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
#: The Lead Status values that "represent a converted lead" (``LeadStatus.IsConverted``: "Multiple lead
#: status values can represent a converted lead"). Only lead conversion sets one (see :mod:`.writes`).
CONVERTED_LEAD_STATUSES = frozenset({"Closed - Converted"})
#: ``Account.Type``'s ``AccountType`` value set as a new org ships it (the description says only "for
#: example, Customer, Competitor, or Partner"; these are the values an org starts with).
ACCOUNT_TYPES = ("Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
                 "Installation Partner", "Technology Partner", "Other")
STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
          "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost")
BANT_FIELDS = ("Budget__c", "Authority__c", "Need__c", "Timeline__c")


def _person(prefix: str = "") -> list[FieldDef]:
    return [
        text("LastName", "Last Name", 80, nillable=False),
        text("FirstName", "First Name", 40),
        picklist("Salutation", "Salutation", ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
        read_only(text("Name", "Full Name", 121, nillable=False, name_field=True)),
        text("Title", "Title", 128),
        FieldDef("Email", "email", "Email", length=80, id_lookup=True),
        FieldDef("Phone", "phone", "Phone", length=40),
        FieldDef("MobilePhone", "phone", "Mobile Phone", length=40),
        area(f"{prefix}Street", f"{prefix} Street".strip(), 255),
        text(f"{prefix}City", "City", 40),
        text(f"{prefix}State", "State/Province", 80),
        text(f"{prefix}PostalCode", "Zip/Postal Code", 20),
        text(f"{prefix}Country", "Country", 80),
        picklist("LeadSource", "Lead Source", LEAD_SOURCES),
        area("Description", "Description"),
        boolean("HasOptedOutOfEmail", "Email Opt Out"),
        text("EmailBouncedReason", "Email Bounced Reason", 255),
        FieldDef("EmailBouncedDate", "datetime", "Email Bounced Date"),
        read_only(FieldDef("LastActivityDate", "date", "Last Activity")),
    ]


def _activity() -> list[FieldDef]:
    """The fields Task and Event share as Salesforce activities: who (a person) and what (a
    record) the activity is about, and its subject."""
    return [
        ref("WhoId", "Name ID", "Contact", "Lead", relationship="Who"),
        ref("WhatId", "Related To ID", "Account", "Opportunity", "Campaign", relationship="What"),
        FieldDef("Subject", "combobox", "Subject", length=255),
    ]


def _bant() -> list[FieldDef]:
    return [text(name, name[:-3], 255, custom=True) for name in BANT_FIELDS]


def standard_objects() -> dict[str, SObjectDef]:
    """A fresh set of definitions (custom fields get added per emulator, so never shared)."""
    defs = [
        SObjectDef("Lead", "Lead", "Leads", _fields(
            _system_fields(owner=True), _person(),
            [
                text("Company", "Company", 255, nillable=False),
                FieldDef("Website", "url", "Website", length=255),
                picklist("Status", "Lead Status", LEAD_STATUSES, default="Open - Not Contacted", nillable=False,
                         defaulted_on_create=True),
                picklist("Industry", "Industry", INDUSTRIES),
                picklist("Rating", "Rating", ("Hot", "Warm", "Cold")),
                FieldDef("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
                FieldDef("NumberOfEmployees", "int", "Employees", digits=8),
                replace(boolean("IsConverted", "Converted"), updateable=False),
                read_only(FieldDef("ConvertedDate", "date", "Converted Date")),
                read_only(ref("ConvertedAccountId", "Converted Account ID", "Account")),
                read_only(ref("ConvertedContactId", "Converted Contact ID", "Contact")),
                read_only(ref("ConvertedOpportunityId", "Converted Opportunity ID", "Opportunity")),
                boolean("IsUnreadByOwner", "Unread By Owner"),
            ],
            _bant(),
        )),
        SObjectDef("Contact", "Contact", "Contacts", _fields(
            _system_fields(owner=True),
            _person("Mailing"),
            [ref("AccountId", "Account ID", "Account"), text("Department", "Department", 80)],
            _bant(),  # the demo org qualifies its Contacts at known accounts as it does its Leads
        )),
        SObjectDef("Account", "Account", "Accounts", _fields(
            _system_fields(owner=True),
            [
                text("Name", "Account Name", 255, nillable=False, name_field=True),
                picklist("Type", "Account Type", ACCOUNT_TYPES),
                picklist("Industry", "Industry", INDUSTRIES),
                FieldDef("Website", "url", "Website", length=255),
                FieldDef("Phone", "phone", "Account Phone", length=40),
                FieldDef("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
                FieldDef("NumberOfEmployees", "int", "Employees", digits=8),
                text("BillingCity", "Billing City", 40),
                text("BillingState", "Billing State/Province", 80),
                text("BillingCountry", "Billing Country", 80),
                picklist("AccountSource", "Account Source", LEAD_SOURCES),
                area("Description", "Account Description"),
            ],
        )),
        SObjectDef("Opportunity", "Opportunity", "Opportunities", _fields(
            _system_fields(owner=True),
            [
                text("Name", "Name", 120, nillable=False, name_field=True),
                ref("AccountId", "Account ID", "Account"),
                picklist("StageName", "Stage", STAGES, nillable=False),
                FieldDef("Amount", "currency", "Amount", precision=18, scale=2),
                FieldDef("Probability", "percent", "Probability (%)", precision=3, scale=0),
                FieldDef("CloseDate", "date", "Close Date", nillable=False),
                read_only(boolean("IsClosed", "Closed", calculated=True)),
                read_only(boolean("IsWon", "Won", calculated=True)),
                picklist("LeadSource", "Lead Source", LEAD_SOURCES),
                picklist("Type", "Opportunity Type", ("Existing Business", "New Business")),
            ],
        )),
        # "Represents the role that a Contact plays on an Opportunity" (Object Reference): ContactId
        # (Create, Filter, Update), OpportunityId ("Required ... it cannot be updated"), IsPrimary
        # (defaulted false; "Each Opportunity has only one primary contact"), Role (a picklist).
        SObjectDef("OpportunityContactRole", "Opportunity Contact Role", "Opportunity Contact Roles", _fields(
            _system_fields(owner=False),
            [
                ref("ContactId", "Contact ID", "Contact", nillable=False),
                replace(ref("OpportunityId", "Opportunity ID", "Opportunity", nillable=False), updateable=False),
                boolean("IsPrimary", "Primary"),
                picklist("Role", "Role", ("Business User", "Decision Maker", "Economic Buyer", "Economic Decision Maker",
                                          "Evaluator", "Executive Sponsor", "Influencer", "Technical Buyer", "Other")),
            ],
        )),
        SObjectDef("Task", "Task", "Tasks", _fields(
            _system_fields(owner=True), _activity(),
            [
                FieldDef("ActivityDate", "date", "Due Date Only"),
                picklist("Status", "Status", ("Not Started", "In Progress", "Completed", "Waiting on someone else",
                                              "Deferred"), default="Not Started", nillable=False,
                         defaulted_on_create=True),
                picklist("Priority", "Priority", ("High", "Normal", "Low"), default="Normal", nillable=False,
                         defaulted_on_create=True),
                read_only(boolean("IsClosed", "Closed", calculated=True)),
                area("Description", "Description"),
                picklist("Type", "Type", ("Call", "Email", "Meeting", "Other")),
                replace(picklist("TaskSubtype", "Task Subtype", ("Task", "Email", "ListEmail", "Cadence", "Call",
                                                                  "LinkedIn")), updateable=False),
                picklist("CallType", "Call Type", ("Internal", "Inbound", "Outbound")),
                FieldDef("CallDurationInSeconds", "int", "Call Duration", digits=8),
                text("CallDisposition", "Call Result", 255),
                read_only(FieldDef("CompletedDateTime", "datetime", "Completed Date/Time")),
            ],
        )),
        SObjectDef("Event", "Event", "Events", _fields(
            _system_fields(owner=True), _activity(),
            [
                FieldDef("StartDateTime", "datetime", "Start Date Time"),
                FieldDef("EndDateTime", "datetime", "End Date Time"),
                FieldDef("ActivityDateTime", "datetime", "Due Date Time"),
                FieldDef("ActivityDate", "date", "Due Date Only"),
                FieldDef("DurationInMinutes", "int", "Duration", digits=8),
                text("Location", "Location", 255),
                area("Description", "Description"),
                picklist("Type", "Type", ("Call", "Email", "Meeting", "Other")),
                replace(picklist("EventSubtype", "Event Subtype", ("Event",)), updateable=False),
                boolean("IsAllDayEvent", "All-Day Event"),
            ],
        )),
        SObjectDef("Campaign", "Campaign", "Campaigns", _fields(
            _system_fields(owner=True),
            [
                text("Name", "Name", 80, nillable=False, name_field=True),
                picklist("Type", "Type", ("Advertisement", "Email", "Telemarketing", "Banner Ads",
                                          "Seminar / Conference", "Public Relations", "Partners", "Referral Program",
                                          "Webinar", "Event", "Other")),
                picklist("Status", "Status", ("Planned", "In Progress", "Completed", "Aborted")),
                FieldDef("StartDate", "date", "Start Date"),
                FieldDef("EndDate", "date", "End Date"),
                boolean("IsActive", "Active"),
                area("Description", "Description"),
            ],
        )),
        SObjectDef("CampaignMember", "Campaign Member", "Campaign Members", _fields(
            _system_fields(owner=False),
            [
                replace(ref("CampaignId", "Campaign ID", "Campaign", nillable=False), updateable=False),
                replace(ref("LeadId", "Lead ID", "Lead"), updateable=False),
                replace(ref("ContactId", "Contact ID", "Contact"), updateable=False),
                picklist("Status", "Status", ("Sent", "Responded", "Registered", "Attended")),
                read_only(boolean("HasResponded", "Responded", calculated=True)),
                read_only(FieldDef("FirstRespondedDate", "date", "Member First Responded")),
                read_only(text("Type", "Type", 40, calculated=True)),
            ],
        )),
        SObjectDef("EmailMessage", "Email Message", "Email Messages", _fields(
            _system_fields(owner=False),
            [
                text("Subject", "Subject", 3000),
                area("TextBody", "Text Body", 131072),
                text("FromName", "From Name", 1000),
                FieldDef("FromAddress", "email", "From Address", length=1000),
                text("ToAddress", "To Address", 4000),
                boolean("Incoming", "Is Incoming"),
                FieldDef("MessageDate", "datetime", "Message Date"),
                picklist("Status", "Status", ("0", "1", "2", "3", "4", "5"), nillable=False,
                         defaulted_on_create=True),
                ref("RelatedToId", "Related To ID", "Account", "Opportunity", "Campaign", relationship="RelatedTo"),
                ref("ActivityId", "Activity ID", "Task", relationship="Activity"),
            ],
        )),
        lead_status_object(),
        *permission_objects(),
    ]
    return {d.name: d for d in defs}


def lead_status_object() -> SObjectDef:
    """``LeadStatus``, one record per Lead Status picklist value (Object Reference: "Represents the
    status of a Lead record, such as Open, Qualified, or Converted"; supported calls
    ``describeSObjects(), query(), retrieve()``, so every field is read-only): ``ApiName`` ("Uniquely
    identifies a picklist value"), ``MasterLabel``, ``IsConverted``, ``IsDefault`` and ``SortOrder``
    ("not guaranteed to be sequential"). The store creates its records from ``Lead.Status``."""
    return SObjectDef("LeadStatus", "Lead Status Value", "Lead Status Values", _fields(
        _system_fields(owner=False),
        [read_only(text("ApiName", "API Name", 255, id_lookup=True)),
         read_only(text("MasterLabel", "Master Label", 255)),
         read_only(boolean("IsConverted", "Is Converted")),
         read_only(boolean("IsDefault", "Is Default")),
         read_only(FieldDef("SortOrder", "int", "Sort Order", digits=9))],
    ))


def permission_objects() -> list[SObjectDef]:
    """``PermissionSet``, ``FieldPermissions`` and ``PermissionSetAssignment`` as the Object
    Reference lists their fields: a permission set's ``Name`` (the API name, 80 characters) and
    ``Label`` (80), ``Description`` (255); a field permission's ``ParentId``, ``SobjectType`` and
    ``Field`` (set on create only: "Create, Filter, Group, Restricted picklist, Sort") with its
    ``PermissionsRead``/``PermissionsEdit`` booleans (defaulted false, updateable); an
    assignment's ``AssigneeId`` (a User) and ``PermissionSetId`` (create only: "To update an
    assignment, delete an existing assignment and insert a new one"). Their save rules are in
    :mod:`.permissions`."""
    return [
        SObjectDef("PermissionSet", "Permission Set", "Permission Sets", _fields(
            _system_fields(owner=False),
            [
                text("Name", "Permission Set Name", 80, nillable=False),
                text("Label", "Permission Set Label", 80, nillable=False, name_field=True),
                text("Description", "Description", 255),
                read_only(boolean("IsOwnedByProfile", "Is Owned By Profile")),
                read_only(boolean("IsCustom", "Custom")),
                read_only(text("NamespacePrefix", "Namespace Prefix", 15)),
            ],
        )),
        SObjectDef("FieldPermissions", "Field Permissions", "Field Permissions", _fields(
            _system_fields(owner=False),
            [
                replace(ref("ParentId", "Parent ID", "PermissionSet", relationship="Parent", nillable=False),
                        updateable=False),
                replace(text("SobjectType", "SObject Type Name", 40, nillable=False), updateable=False),
                replace(text("Field", "Field Name", 255, nillable=False), updateable=False),
                boolean("PermissionsEdit", "Edit Field"),
                boolean("PermissionsRead", "Read Field"),
            ],
        )),
        SObjectDef("PermissionSetAssignment", "Permission Set Assignment", "Permission Set Assignments", _fields(
            _system_fields(owner=False),
            [
                replace(ref("AssigneeId", "Assignee ID", "User", relationship="Assignee", nillable=False),
                        updateable=False),
                replace(ref("PermissionSetId", "Permission Set ID", "PermissionSet", relationship="PermissionSet",
                            nillable=False), updateable=False),
            ],
        )),
    ]


def custom_field_entity() -> SObjectDef:
    """The Tooling API's ``CustomField`` entity, as far as listing fields needs."""
    return SObjectDef("CustomField", "Custom Field", "Custom Fields", _fields(
        [
            FieldDef("Id", "id", "Custom Field Definition ID", createable=False, updateable=False, nillable=False),
            read_only(text("DeveloperName", "Field Name", 40, nillable=False)),
            read_only(text("TableEnumOrId", "Table Enum or ID", 40, nillable=False)),
            read_only(text("NamespacePrefix", "Namespace Prefix", 15)),
            read_only(text("FullName", "Full Name", 255)),
            read_only(FieldDef("Metadata", "complexvalue", "Metadata")),
            read_only(text("Description", "Description", 1000)),
            read_only(text("ManageableState", "Manageable State", 40)),
            read_only(FieldDef("CreatedDate", "datetime", "Created Date", nillable=False)),
            read_only(FieldDef("LastModifiedDate", "datetime", "Last Modified Date", nillable=False)),
        ],
    ), tooling=True)


def _fields(*groups: Iterable[FieldDef]) -> dict[str, FieldDef]:
    out: dict[str, FieldDef] = {}
    for group in groups:
        for definition in group:
            out[definition.name] = definition
    return out
