"""The ``[connectors.salesforce]`` table of the agent config.

The connector owns authentication (simple-salesforce re-authenticates only for REST calls it
logged in for, never for Bulk 2.0, and can recurse without bound on a persistent 401), so the
credentials for the chosen OAuth flow live here: secrets by environment variable or file, never
inline in a config a person might paste into a ticket.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from agent.errors import ConfigError
from connectors.base import WriteFieldMap

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


class WriteFields(WriteFieldMap):
    """Canonical value -> custom field API name, written on Leads and Contacts alike."""

    score: str | None = "Leadscore_Score__c"
    stage: str | None = "Leadscore_Stage__c"
    reason: str | None = "Leadscore_Reason__c"

    @model_validator(mode="after")
    def _custom_fields_only(self) -> WriteFields:
        for name in self.mapping().values():
            if not name.endswith("__c"):
                raise ValueError(f"'{name}' is not a custom field (API names end in __c); leadscore writes only its own fields")
        return self


class SalesforceConfig(BaseModel):
    model_config = _STRICT

    auth: Literal["jwt", "client_credentials", "password"] = "jwt"
    login_url: str = "https://login.salesforce.com"
    client_id: str
    client_secret_env: str | None = "SALESFORCE_CLIENT_SECRET"
    #: The integration user (JWT bearer and password flows).
    username: str | None = None
    password_env: str | None = "SALESFORCE_PASSWORD"
    private_key_file: Path | None = None
    #: Inline secrets, for programmatic use (the emulator, tests); never shown.
    client_secret: SecretStr | None = None
    password: SecretStr | None = None
    private_key: SecretStr | None = None
    #: A CA bundle to trust (a private CA in front of the org, or the emulator's test CA).
    ca_bundle: Path | None = None
    api_version: str = Field(default="60.0", pattern=r"^\d+\.\d$")
    objects: list[SObject] = ["Lead", "Contact"]
    lead_fields: dict[str, str] = {}
    contact_fields: dict[str, str] = {}
    write: WriteFields = WriteFields()
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

    @field_validator("login_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"expected an https:// URL, got {value!r}")
        return value.rstrip("/")

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
        return {**DEFAULT_CONTACT_FIELDS, **self.contact_fields}

    # --- secrets: resolved when used, each failure naming its key ---------------------------

    def secret(self, inline: SecretStr | None, env_key: str, env_name: str | None) -> str:
        if inline is not None:
            return inline.get_secret_value()
        if env_name:
            value = os.environ.get(env_name, "").strip()
            if value:
                return value
            raise ConfigError(f"connectors.salesforce.{env_key}: environment variable {env_name} is not set")
        raise ConfigError(f"connectors.salesforce.{env_key}: not configured")

    def client_secret_value(self) -> str:
        return self.secret(self.client_secret, "client_secret_env", self.client_secret_env)

    def password_value(self) -> str:
        return self.secret(self.password, "password_env", self.password_env)

    def private_key_value(self) -> str:
        if self.private_key is not None:
            return self.private_key.get_secret_value()
        assert self.private_key_file is not None
        try:
            return self.private_key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"connectors.salesforce.private_key_file: cannot read {self.private_key_file} ({exc.strerror})") from None
