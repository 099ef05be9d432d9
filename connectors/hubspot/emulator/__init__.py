"""A local emulator of HubSpot's CRM v3/v4 HTTP API, for tests, benchmarks and the offline demo.

The real ``hubspot-api-client`` SDK talks to it over real HTTP::

    from hubspot import HubSpot
    from leadscore.connectors.hubspot.emulator import HubSpotEmulator

    with HubSpotEmulator() as emu:
        emu.seed(100)
        client = HubSpot(access_token=emu.token, host=emu.base_url)

Modules: ``core`` (the emulator, its request pipeline and HubSpot's wire details: reason phrases,
``X-HubSpot-Correlation-Id``, fault answers), ``api`` (endpoints),
``search`` (CRM search semantics), ``store`` (records and data rules), ``index`` (the id and
last-modified indexes listing and search read), ``values`` (property value
formats), ``schema`` (object types and default properties), ``limits`` (rate limits and faults),
``seeding`` (sample leads as contacts, and their accounts as companies), ``oauth`` (OAuth apps, the token endpoint, access-token
expiry) and ``cli`` (``serve_forever``).

The HTTP transport, request log and fault injection it shares with the other CRM emulators
are :mod:`connectors.emulation`.
"""

from leadscore.connectors.hubspot.emulator.cli import serve_forever
from leadscore.connectors.hubspot.emulator.core import HubSpotEmulator, LoggedRequest
from leadscore.connectors.hubspot.emulator.limits import RateLimits
from leadscore.connectors.hubspot.emulator.oauth import OAuthApp

__all__ = ["HubSpotEmulator", "LoggedRequest", "OAuthApp", "RateLimits", "serve_forever"]
