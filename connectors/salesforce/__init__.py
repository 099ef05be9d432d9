"""Salesforce: the connector (``SalesforceConnector``) and a local emulator of its APIs."""

from leadscore.connectors.salesforce.connector import SalesforceConnector

__all__ = ["SalesforceConnector"]
