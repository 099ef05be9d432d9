"""The ``[connectors.hubspot]`` table of the agent config.

Secrets are declared with the core's secret types (:mod:`leadscore.agent.core.secrets`) and
resolved when the table is validated: from an environment variable or a file; the inline
``access_token`` exists for programmatic use (the emulator, tests) and is never shown. Limits
default to HubSpot's documented numbers for the portal's tier.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from leadscore.agent.core.contract import WriteFieldMap
from leadscore.agent.core.records import ACCOUNT_FIELDS, CUSTOM_PREFIX
from leadscore.agent.core.secrets import SecretEnv, SecretFile, SecretsModel, SecretValue
from leadscore.connectors.hubspot.builtins import is_builtin

_STRICT = ConfigDict(extra="forbid", frozen=True)

Tier = Literal["free", "starter", "professional", "enterprise"]

#: HubSpot's documented private-app limits: (requests per 10 s, requests per day).
TIER_LIMITS: dict[str, tuple[int, int]] = {
    "free": (100, 250_000),
    "starter": (100, 250_000),
    "professional": (190, 625_000),
    "enterprise": (190, 1_000_000),
}
#: The CRM search API's own limit, per account, documented as about 5 requests per second.
SEARCH_PER_SECOND = 5

#: Canonical lead field -> HubSpot contact property. The admin's ``fields`` table adds to and
#: overrides these (e.g. the BANT fields, which HubSpot does not have out of the box).
DEFAULT_FIELDS: dict[str, str] = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "title": "jobtitle",
    "company": "company",
    "industry": "industry",
    "country": "country",
    "state": "state",
    "city": "city",
    "employees": "numemployees",
    "annual_revenue": "annualrevenue",
    "lead_source": "hs_analytics_source",
    "phone": "phone",
    "website": "website",
    "page_views": "hs_analytics_num_page_views",
    "visits": "hs_analytics_num_visits",
    "last_visit_at": "hs_analytics_last_visit_timestamp",
    "email_opens": "hs_email_open",
    "email_clicks": "hs_email_click",
    "form_submissions": "num_conversion_events",
}

#: Canonical account field -> HubSpot company property (accounts: :mod:`.companies`). The admin's
#: ``company_fields`` table adds to and overrides these (e.g. ``lead_source`` ->
#: ``hs_analytics_source``). A company without a ``website`` reads its ``domain`` as the website.
DEFAULT_COMPANY_FIELDS: dict[str, str] = {
    "company": "name",
    "industry": "industry",
    "employees": "numberofemployees",
    "annual_revenue": "annualrevenue",
    "country": "country",
    "state": "state",
    "city": "city",
    "website": "website",
    "phone": "phone",
    "type": "type",
}

EngagementObject = Literal["emails", "calls", "meetings"]


class WriteFields(WriteFieldMap):
    """Which values are written, and into which contact property. Nothing else is ever written.

    A HubSpot built-in property is refused here, offline (``validate``): leadscore writes only
    properties its ``setup`` creates or custom properties adopted in ``adopt``. Whether an
    existing custom property is leadscore's is HubSpot's to say, and is checked online
    (:mod:`connectors.hubspot.setup`)."""

    score: str | None = "leadscore_score"
    stage: str | None = "leadscore_stage"
    reason: str | None = "leadscore_reason"

    @field_validator("*")
    @classmethod
    def _not_builtin(cls, value: str | None) -> str | None:
        return None if value is None else refuse_builtin(value)


def refuse_builtin(value: str) -> str:
    """``value`` unless it names a HubSpot built-in property (:func:`is_builtin`), which leadscore
    never writes: the check of every write target, the ``write`` map's (:class:`WriteFields`) and a
    model's own fields (``ScoreUpdate.fields``, ``WriteSpec.field_sets``) alike. Raises ValueError."""
    if is_builtin(value):
        hint = " (to move lifecycle stages forward, use connectors.hubspot.lifecycle)" if value.strip().lower() == "lifecyclestage" else ""
        raise ValueError(
            f"'{value}' is a HubSpot built-in contact property, which leadscore never writes: name a new property "
            f"(setup creates it) or a custom one adopted in connectors.hubspot.adopt{hint}"
        )
    return value


def _adoptable(name: str) -> str:
    if not name.strip():
        raise ValueError("expected a contact property's internal name")
    if is_builtin(name):
        raise ValueError(f"'{name}' is a HubSpot built-in contact property; only custom properties can be adopted")
    return name


class OAuthRefresh(BaseModel):
    """OAuth app credentials: the connector trades the refresh token for access tokens.

    ``POST /oauth/v1/token`` with ``grant_type=refresh_token``; HubSpot's access tokens live
    ``expires_in`` seconds (1800), and the connector refreshes when one is refused with 401.
    The client id is not a secret and sits in the config; the client secret and the refresh
    token come from the named environment variables (secrets ``oauth.client_secret`` and
    ``oauth.refresh_token`` of :class:`HubSpotConfig`), never stored in the config or logged. A
    secret pasted into either key by mistake is refused without being echoed.
    """

    model_config = _STRICT
    client_id: str = Field(min_length=1)
    client_secret_env: SecretEnv
    refresh_token_env: SecretEnv


#: HubSpot's default lifecycle stages (internal values), each with a "Became a ... Date" property
#: (``hs_lifecyclestage_<stage>_date``) that dates a contact's entry into it.
LIFECYCLE_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
                    "evangelist", "other")
#: Values one search filter's ``IN`` list may hold.
MAX_IN_VALUES = 100


def _stage(value: str) -> str:
    if value not in LIFECYCLE_STAGES:
        raise ValueError(f"'{value}' is not one of HubSpot's default lifecycle stages ({', '.join(LIFECYCLE_STAGES)}): "
                         "only those carry the hs_lifecyclestage_<stage>_date that dates the conversion")
    return value


def _lead_status(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise ValueError(f"{value!r} is not a hs_lead_status value (an option's internal value, such as UNQUALIFIED)")
    return value


class HubSpotOutcomes(BaseModel):
    """``[connectors.hubspot.outcomes]``: what in HubSpot counts as an outcome of a contact.

    - converted: ``lifecyclestage`` is one of ``converted_stages``, dated by HubSpot's own date of
      entering the earliest of them (``hs_lifecyclestage_customer_date``...);
    - disqualified: ``hs_lead_status`` is one of ``disqualified_lead_status`` (internal values,
      case-sensitive as HubSpot's enumeration filters are); HubSpot keeps no date of a status, so
      it is dated by the contact's ``lastmodifieddate`` when first seen so (an estimate);
    - won / lost: an associated deal closed won or lost (``hs_is_closed_won``/``hs_is_closed_lost``,
      which HubSpot calculates for every pipeline), dated by its ``closedate``, with its ``amount``;
      ``deals = false`` reads no deals.
    """

    model_config = _STRICT
    converted_stages: list[Annotated[str, AfterValidator(_stage)]] = Field(default=["customer", "evangelist"],
                                                                            max_length=len(LIFECYCLE_STAGES))
    disqualified_lead_status: list[Annotated[str, AfterValidator(_lead_status)]] = Field(default=["UNQUALIFIED"],
                                                                                        max_length=MAX_IN_VALUES)
    deals: bool = True

    @model_validator(mode="after")
    def _distinct(self) -> HubSpotOutcomes:
        for name in ("converted_stages", "disqualified_lead_status"):
            values = getattr(self, name)
            if len(values) != len(set(values)):
                raise ValueError(f"{name} lists a value twice")
        return self


class HubSpotConfig(SecretsModel):
    model_config = _STRICT
    secrets_section: ClassVar[str] = "connectors.hubspot"
    secret_hints: ClassVar[dict[str, str]] = {
        "access_token": "set it to the private app's access token, or use access_token_file",
    }

    #: The private app's token: inline, else from the file, else (unless ``oauth`` is set) from
    #: the environment variable.
    access_token_env: SecretEnv | None = "HUBSPOT_ACCESS_TOKEN"
    access_token_file: SecretFile | None = None
    access_token: SecretValue | None = None
    oauth: OAuthRefresh | None = None
    host: str = "https://api.hubapi.com"
    tier: Tier = "professional"
    per_ten_seconds: int | None = Field(default=None, ge=1)
    daily: int | None = Field(default=None, ge=1)
    search_per_second: int = Field(default=SEARCH_PER_SECOND, ge=1)
    #: Share of the daily allocation leadscore may use; the rest stays for other integrations.
    daily_budget: float = Field(default=0.8, gt=0, le=1)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    retry_attempts: int = Field(default=6, ge=1, le=20)
    retry_max_wait: float = Field(default=60.0, gt=0)
    fields: dict[str, str] = {}
    #: Canonical account field -> company property, over :data:`DEFAULT_COMPANY_FIELDS`.
    company_fields: dict[str, str] = {}
    write: WriteFields = WriteFields()
    property_group: str = "leadscore"
    property_group_label: str = "leadscore"
    #: Existing custom properties (internal names) the admin lets leadscore write although its
    #: setup did not create them, one by one. Any other existing property named in ``write`` is
    #: refused, and setup never changes an adopted property's definition.
    adopt: list[Annotated[str, AfterValidator(_adoptable)]] = []
    #: leadscore stage -> lifecyclestage value. Applied forward only, as HubSpot expects.
    lifecycle: dict[str, str] = {}
    #: Contacts handed to the agent per batch: engagement for the batch costs one associations
    #: call per object (HubSpot takes up to 1,000 ids) plus full 100-id reads. A crash re-does
    #: at most one batch.
    pull_batch_size: int = Field(default=1000, ge=1, le=1000)
    #: Seconds an incremental pull reaches back before its cursor: HubSpot says "It may take a
    #: few moments for newly created or updated CRM objects to appear in search results".
    overlap_seconds: int = Field(default=60, ge=0)
    #: Engagement objects read for activities (others cost quota and map to nothing).
    engagements: list[EngagementObject] = ["emails", "calls", "meetings"]
    #: What counts as an outcome (pulled with each sync, for training): see :class:`HubSpotOutcomes`.
    outcomes: HubSpotOutcomes = HubSpotOutcomes()

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("company_fields")
    @classmethod
    def _account_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(k for k in value if k not in ACCOUNT_FIELDS and not (k.startswith(CUSTOM_PREFIX) and len(k) > len(CUSTOM_PREFIX)))
        if unknown:
            raise ValueError(f"not account fields: {', '.join(unknown)} (use one of {', '.join(sorted(ACCOUNT_FIELDS))}, "
                             "or custom.<name>)")
        return value

    @property
    def limits(self) -> tuple[int, int]:
        burst, daily = TIER_LIMITS[self.tier]
        return self.per_ten_seconds or burst, self.daily or daily

    def field_map(self) -> dict[str, str]:
        return {**DEFAULT_FIELDS, **self.fields}

    def company_field_map(self) -> dict[str, str]:
        return {**DEFAULT_COMPANY_FIELDS, **self.company_fields}

    def secrets_needed(self) -> list[str]:
        """The private app's token, unless the OAuth app is configured instead (an inline or file
        token still wins over it); the OAuth app's client secret and refresh token when it is."""
        needed = ["oauth.client_secret", "oauth.refresh_token"] if self.oauth is not None else []
        if self.oauth is None or self.access_token is not None or self.access_token_file is not None:
            needed.insert(0, "access_token")
        return needed

    def private_app_token(self) -> str | None:
        """The private app's token; None when the OAuth app is used instead. Raises ConfigError
        naming the key when it could not be found."""
        return self.secret("access_token") if "access_token" in self.secrets_needed() else None
