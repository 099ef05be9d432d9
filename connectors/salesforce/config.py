"""The ``[connectors.salesforce]`` table of the agent config.

The connector owns authentication (simple-salesforce re-authenticates only for REST calls it
logged in for, never for Bulk 2.0, and can recurse without bound on a persistent 401), so the
credentials for the chosen OAuth flow live here: secrets by environment variable or file, never
inline in a config a person might paste into a ticket. They are declared with the core's secret
types (:mod:`leadscore.agent.core.secrets`) and resolved when the table is validated; the
connector reads them with :meth:`SalesforceConfig.secret`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from leadscore.agent.core.contract import WriteFieldMap
from leadscore.agent.core.secrets import SecretEnv, SecretFile, SecretsModel, SecretValue

_STRICT = ConfigDict(extra="forbid", frozen=True)

SObject = Literal["Lead", "Contact"]

#: Canonical lead field -> Lead field. Contacts use DEFAULT_CONTACT_FIELDS.
DEFAULT_LEAD_FIELDS: dict[str, str] = {
    "email": "Email",
    "first_name": "FirstName",
    "last_name": "LastName",
    "title": "Title",
    "company": "Company",
    "industry": "Industry",
    "country": "Country",
    "state": "State",
    "city": "City",
    "employees": "NumberOfEmployees",
    "annual_revenue": "AnnualRevenue",
    "lead_source": "LeadSource",
    "phone": "Phone",
    "website": "Website",
}
#: A Contact's company data lives on its Account; the Contact's own fields are mapped here.
DEFAULT_CONTACT_FIELDS: dict[str, str] = {
    "email": "Email",
    "first_name": "FirstName",
    "last_name": "LastName",
    "title": "Title",
    "country": "MailingCountry",
    "state": "MailingState",
    "city": "MailingCity",
    "lead_source": "LeadSource",
    "phone": "Phone",
}
#: Canonical account field (:data:`~leadscore.agent.core.records.ACCOUNT_FIELDS`) -> Account field.
#: ``company`` is the account's name; the address is the billing one; ``lead_source`` is
#: ``AccountSource`` (the same value set as a Lead's ``LeadSource``).
DEFAULT_ACCOUNT_FIELDS: dict[str, str] = {
    "company": "Name",
    "industry": "Industry",
    "employees": "NumberOfEmployees",
    "annual_revenue": "AnnualRevenue",
    "country": "BillingCountry",
    "state": "BillingState",
    "city": "BillingCity",
    "website": "Website",
    "phone": "Phone",
    "type": "Type",
    "lead_source": "AccountSource",
}


#: An API name: letters, digits and single underscores, starting with a letter and not ending
#: with an underscore ("It must begin with a letter, not include spaces, not end with an
#: underscore, and not contain two consecutive underscores", Object Reference, PermissionSet.Name,
#: the rule every API name follows); custom fields end in ``__c`` (relationships ``__r``), with an
#: optional namespace prefix (``ns__Name__c``). Lengths (Salesforce Help, "DescribeFieldResult.
#: getLength() returns maximum of 40 characters for longer API name", 000381913): a field name
#: at most 40 characters, a namespace prefix at most 15, 60 in all with the separators.
_WORD = r"[A-Za-z](?:_?[A-Za-z0-9])*"
_API_NAME = re.compile(rf"^(?:(?P<ns>{_WORD})__(?={_WORD}__[cr]\Z))?(?P<name>{_WORD})(?P<suffix>__[cr])?\Z")
_GRAMMAR = ("letters, digits and single underscores, starting with a letter; custom fields end in __c, "
            "optionally after a namespace prefix ns__; a name has at most 40 characters")


def check_api_name(value: str, *, custom: bool = False) -> str:
    """``value`` if it is a Salesforce field API name (a custom field's, when ``custom``);
    a ValueError naming the grammar otherwise. Nothing unchecked goes into SOQL."""
    found = _API_NAME.match(value) if isinstance(value, str) else None
    if found is None or len(found["name"]) > 40 or len(found["ns"] or "") > 15:
        raise ValueError(f"{value!r} is not a Salesforce API name ({_GRAMMAR})")
    if custom and found["suffix"] != "__c":
        raise ValueError(f"'{value}' is not a custom field (API names end in __c); leadscore writes only its own fields")
    return value


CustomFieldName = Annotated[str, AfterValidator(lambda v: check_api_name(v, custom=True))]
FieldName = Annotated[str, AfterValidator(check_api_name)]

#: The Description leadscore gives the custom fields it creates: how ``setup`` and the writer
#: know a field is leadscore's even when the state store is lost.
MANAGED_DESCRIPTION = "Managed by leadscore"

#: OAuth JWT ``aud`` values Salesforce accepts for an org ("Use the authorization server's URL for
#: the audience value: https://login.salesforce.com, https://test.salesforce.com, or
#: https://site.force.com/customers if implementing for an Experience Cloud site": Salesforce
#: Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration"): never a My Domain URL.
PRODUCTION_AUDIENCE = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"


def looks_like_sandbox(login_url: str) -> bool:
    """Salesforce's sandbox login host, or a sandbox My Domain with enhanced domains
    (``https://MyDomainName--SandboxName.sandbox.my.salesforce.com`` "for sandboxes or Scratch
    orgs": forcedotcom/postman-salesforce-apis, install-with-app.md; Salesforce Help "My Domain URL
    Formats"). The older sandbox format (``MyDomainName--SandboxName.my.salesforce.com``, "two
    possible formats for sandbox My Domain login hostname": "Call Salesforce URLs Within a
    Package") is not told apart from production here: such orgs set ``sandbox = true``."""
    host = urlsplit(login_url).hostname or ""
    return host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com")


class WriteFields(WriteFieldMap):
    """Canonical value -> custom field API name, written on Leads and Contacts alike (and on
    Accounts, when the agent scores accounts)."""

    score: str | None = "Leadscore_Score__c"
    stage: str | None = "Leadscore_Stage__c"
    reason: str | None = "Leadscore_Reason__c"

    @field_validator("*")
    @classmethod
    def _custom_fields_only(cls, value: str | None) -> str | None:
        return None if value is None else check_api_name(value, custom=True)


def _lead_status(value: str) -> str:
    if not value.strip() or len(value) > 255:
        raise ValueError(f"{value!r} is not a Lead Status value (a picklist value, such as 'Closed - Not Converted')")
    return value


def _stage_name(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a leadscore stage name (such as MQL)")
    return value


StageName = Annotated[str, AfterValidator(_stage_name)]
LeadStatusValue = Annotated[str, AfterValidator(_lead_status)]


class SalesforceOutcomes(BaseModel):
    """``[connectors.salesforce.outcomes]``: what in Salesforce counts as an outcome.

    - converted: a Lead's ``IsConverted``, dated by its ``ConvertedDate``;
    - disqualified: a Lead's ``Status`` in ``disqualified_status`` (picklist values; SOQL compares
      them ignoring case), dated by the Lead's ``LastModifiedDate`` when first seen so (an estimate:
      Salesforce keeps no date of a status unless field history tracks it);
    - won / lost: a closed Opportunity (``IsClosed``, ``IsWon``), dated by its ``CloseDate``, with
      its ``Amount``, for each Contact in its contact roles - or, where it has none and
      ``opportunities_by_account`` is on, each Contact of its Account - and for each Lead converted
      into it (``ConvertedOpportunityId``) or into one of those Contacts; ``opportunities = false``
      reads none.
    """

    model_config = _STRICT
    disqualified_status: list[Annotated[str, AfterValidator(_lead_status)]] = Field(
        default=["Closed - Not Converted"], max_length=100)
    opportunities: bool = True
    opportunities_by_account: bool = True

    @model_validator(mode="after")
    def _distinct(self) -> SalesforceOutcomes:
        if len({v.casefold() for v in self.disqualified_status}) != len(self.disqualified_status):
            raise ValueError("disqualified_status lists a value twice")
        return self


#: The secrets each OAuth flow sends.
FLOW_SECRETS: dict[str, tuple[str, ...]] = {
    "jwt": ("private_key",),
    "client_credentials": ("client_secret",),
    "password": ("client_secret", "password"),
}


class SalesforceConfig(SecretsModel):
    model_config = _STRICT
    secrets_section: ClassVar[str] = "connectors.salesforce"

    auth: Literal["jwt", "client_credentials", "password"] = "jwt"
    #: Where the token request goes: login.salesforce.com, test.salesforce.com or the org's My Domain.
    login_url: str = "https://login.salesforce.com"
    #: A sandbox org (JWT ``aud`` https://test.salesforce.com); left out, it is inferred from
    #: ``login_url`` (test.salesforce.com or a ``*.sandbox.my.salesforce.com`` My Domain).
    sandbox: bool | None = None
    client_id: str
    client_secret_env: SecretEnv | None = "SALESFORCE_CLIENT_SECRET"
    #: The integration user (JWT bearer and password flows).
    username: str | None = None
    password_env: SecretEnv | None = "SALESFORCE_PASSWORD"
    private_key_file: SecretFile | None = None
    #: Inline secrets, for programmatic use (the emulator, tests); never shown.
    client_secret: SecretValue | None = None
    password: SecretValue | None = None
    private_key: SecretValue | None = None
    #: A CA bundle to trust (a private CA in front of the org, or the emulator's test CA).
    ca_bundle: Path | None = None
    api_version: str = Field(default="60.0", pattern=r"^\d+\.\d$")
    objects: list[SObject] = ["Lead", "Contact"]
    lead_fields: dict[str, FieldName] = {}
    contact_fields: dict[str, FieldName] = {}
    #: Canonical account field -> Account field, over :data:`DEFAULT_ACCOUNT_FIELDS` (read only when
    #: the agent scores accounts).
    account_fields: dict[str, FieldName] = {}
    write: WriteFields = WriteFields()
    #: leadscore stage -> Lead ``Status`` value, e.g. ``{ MQL = "Working - Contacted", SQL =
    #: "Qualified" }``: when a Lead's stage is written, its Status moves to the mapped value, FORWARD
    #: ONLY in the order describe lists the Lead Status picklist. A Lead is never moved back, never
    #: given a converted status (only lead conversion sets one; ``check`` reports a mapped value that
    #: is converted or not an active Lead Status value), and left alone when its Status is not in the
    #: picklist (or it was converted since it was pulled). Contacts (no Status) and Accounts never.
    #: ``Status`` is then a field leadscore writes, named here, like the ``write`` fields; the
    #: integration user needs Edit on it. Empty (the default): Status is never written.
    lead_status: dict[StageName, LeadStatusValue] = {}
    #: Existing custom fields (API names) the admin lets leadscore write, one by one: any other
    #: write target must be a field leadscore's own ``setup`` created.
    adopt: list[CustomFieldName] = []
    #: At or above this many changed records a write goes through Bulk API 2.0.
    bulk_threshold: int = Field(default=2000, ge=1)
    bulk_poll_seconds: float = Field(default=2.0, gt=0)
    #: Share of the org's daily API allocation leadscore may use.
    daily_budget: float = Field(default=0.8, gt=0, le=1)
    #: Re-read this much before the cursor: SystemModstamp commits are not strictly ordered.
    overlap_seconds: int = Field(default=300, ge=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    retry_attempts: int = Field(default=6, ge=1, le=20)
    retry_max_wait: float = Field(default=60.0, gt=0)
    #: What counts as an outcome (pulled with each sync, for training): see :class:`SalesforceOutcomes`.
    outcomes: SalesforceOutcomes = SalesforceOutcomes()

    @field_validator("login_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"expected an https:// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("sandbox")
    @classmethod
    def _sandbox_matches_login_host(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        host = urlsplit(str(info.data.get("login_url") or "")).hostname
        if value is False and host == "test.salesforce.com":
            raise ValueError("login_url is Salesforce's sandbox login host: set sandbox = true, or leave sandbox out")
        if value is True and host == "login.salesforce.com":
            raise ValueError("login_url is Salesforce's production login host: set sandbox = false, or leave sandbox out")
        return value

    @property
    def audience(self) -> str:
        """The JWT ``aud``: the login or test host, whatever ``login_url`` (a My Domain is where
        the token request goes, never an audience)."""
        sandbox = self.sandbox if self.sandbox is not None else looks_like_sandbox(self.login_url)
        return SANDBOX_AUDIENCE if sandbox else PRODUCTION_AUDIENCE

    def adopted(self, api_name: str) -> bool:
        """Whether the admin adopted ``api_name`` (API names ignore case)."""
        return api_name.lower() in {name.lower() for name in self.adopt}

    @model_validator(mode="after")
    def _flow_needs(self) -> SalesforceConfig:
        if self.auth in ("jwt", "password") and not self.username:
            raise ValueError(f"auth = '{self.auth}' needs 'username' (the integration user)")
        if self.auth == "jwt" and self.private_key_file is None and self.private_key is None:
            raise ValueError("auth = 'jwt' needs 'private_key_file' (the connected app's certificate key)")
        return self

    def field_map(self, sobject: str) -> dict[str, str]:
        if sobject == "Lead":
            return {**DEFAULT_LEAD_FIELDS, **self.lead_fields}
        if sobject == "Account":
            return {**DEFAULT_ACCOUNT_FIELDS, **self.account_fields}
        return {**DEFAULT_CONTACT_FIELDS, **self.contact_fields}

    def secrets_needed(self) -> tuple[str, ...]:
        """The secrets the chosen ``auth`` flow sends (:data:`FLOW_SECRETS`)."""
        return FLOW_SECRETS[self.auth]
