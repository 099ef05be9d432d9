"""A local emulator of Salesforce's REST API, Bulk API 2.0 ingest, OAuth token endpoint and
Tooling API, for tests, benchmarks and the offline demo.

It serves real TLS with a locally generated test CA, so the real ``simple-salesforce`` talks to
it unchanged::

    from simple_salesforce import Salesforce
    from leadscore.connectors.salesforce.emulator import SalesforceEmulator, requests_session_trusting

    with SalesforceEmulator() as emu:
        emu.seed(100)
        http = requests_session_trusting(emu.ca_bundle)
        c = emu.credentials
        token = http.post(f"{emu.login_url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": c.client_id, "client_secret": c.client_secret,
            "username": c.username, "password": c.password}).json()["access_token"]
        sf = Salesforce(instance_url=emu.instance_url, session_id=token, session=http,
                        version=emu.api_version)

Modules: ``core`` (the emulator, its request pipeline, TLS serving and Salesforce's wire
details), ``api`` (REST endpoints), ``soql`` (query parsing and evaluation), ``writes`` (save
rules shared by REST, collections and Bulk), ``bulk`` (Bulk API 2.0 ingest), ``tooling``
(``CustomField``), ``oauth`` (token endpoint and sessions), ``limits`` (API allocation and
faults), ``store`` (records, field-level security, audit stamps), ``index`` (the per-object
tables, the indexes queries are answered from, locators' snapshots), ``permissions`` (permission
sets and the field access they grant), ``schema`` (sObject
definitions), ``values`` (value formats), ``ids`` (Salesforce ids), ``tls`` (test CA),
``seeding`` and ``cli``.

The HTTP transport, request log and fault injection it shares with the other CRM emulators
are :mod:`connectors.emulation`.
"""

from leadscore.connectors.salesforce.emulator.cli import serve_forever
from leadscore.connectors.salesforce.emulator.core import LoggedRequest, SalesforceEmulator
from leadscore.connectors.salesforce.emulator.oauth import Credentials
from leadscore.connectors.salesforce.emulator.tls import requests_session_trusting

__all__ = ["Credentials", "LoggedRequest", "SalesforceEmulator", "requests_session_trusting", "serve_forever"]
