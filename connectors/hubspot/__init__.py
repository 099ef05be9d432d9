"""HubSpot: the connector (``HubSpotConnector``) and a local emulator of HubSpot's CRM API."""

from leadscore.connectors.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotConnector"]
