"""What the org holds now in the fields leadscore writes, and which org it is: for ``reconcile``.

The agent's diff compares with what it last wrote; a user, a flow, a sandbox refresh or a restore
can change the CRM behind its back. Reconcile reads the owned fields back in one SOQL pass per
object (2,000 records a page), so drift costs ceil(N/2,000) queries to find, never a query per record.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from leadscore.connectors.salesforce.client import SalesforceClient

OBJECT_OF = {"lead": "Lead", "contact": "Contact", "account": "Account"}


def owned_values(client: SalesforceClient, object_type: str, mapping: Mapping[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(record id, {value name: what the field holds})`` for every live record of
    ``object_type`` (converted Leads are their Contacts now, and left out)."""
    sobject = OBJECT_OF[object_type]
    columns = ", ".join(dict.fromkeys(["Id", *mapping.values()]))
    where = " WHERE IsConverted = false" if sobject == "Lead" else ""
    soql = f"SELECT {columns} FROM {sobject}{where}"
    result = client.call("query", lambda sf: sf.query(soql))
    while True:
        for record in result.get("records", []):
            yield record["Id"], {name: record.get(field) for name, field in mapping.items()}
        next_url = result.get("nextRecordsUrl")
        if result.get("done", True) or not next_url:
            return
        result = client.call("queryMore", lambda sf: sf.query_more(next_url, identifier_is_url=True))


def org_id(client: SalesforceClient) -> str:
    """The org's id, from the identity URL the login answered (no API call of its own)."""
    client.sf  # logs in when not yet done
    url = getattr(client.session, "identity_url", None) or ""
    parts = [p for p in url.rstrip("/").split("/") if p]
    if len(parts) >= 2 and parts[-3:-2] == ["id"]:
        return parts[-2]
    raise ValueError(f"Salesforce answered no identity URL with its session ({url!r})")
