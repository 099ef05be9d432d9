"""What the portal holds now in the properties leadscore writes, and which portal it is: for
``reconcile``.

The agent's diff compares with what it last wrote; a user, a workflow, an import or a restore can
change the CRM behind its back. Reconcile reads the owned properties back with the objects API, 100
contacts (or companies, for accounts) a call asking for those properties only: ceil(N/100) calls.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from leadscore.connectors.hubspot.client import HubSpotClient
from leadscore.connectors.hubspot.pull import RecordReader

#: "Retrieve account details such as the account type, time zone, currencies, and data hosting
#: location" - HubSpot's account information API; ``portalId`` names the account.
ACCOUNT_DETAILS = "/account-info/v3/details"


def owned_values(reader: RecordReader, mapping: Mapping[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(record id, {value name: what the property holds})`` for every live record of the
    reader's type (contacts, companies)."""
    for records, _ in reader.list_pages(sorted(set(mapping.values()))):
        for record in records:
            properties = record.properties or {}
            yield str(record.id), {name: properties.get(prop) for name, prop in mapping.items()}


def portal_id(client: HubSpotClient) -> str:
    """The account's ``portalId`` (one call; the SDK has no account-information API, so this
    goes through its generated API client, with its authentication and the client's timeout)."""
    api_client = client.contacts_basic.api_client

    def details(_request_timeout: Any = None) -> Any:
        return api_client.call_api(ACCOUNT_DETAILS, "GET", auth_settings=["oauth2"], response_types_map={200: "object"},
                                   _return_http_data_only=True, _request_timeout=_request_timeout)

    body = client.call("account.details", details)
    portal = body.get("portalId") if isinstance(body, dict) else None
    if portal is None:
        raise ValueError("HubSpot answered no portalId for the account details")
    return str(portal)
