"""The connector kit: what every CRM client needs and none should write again.

Each CRM's client, pull and write used to carry its own copy of these; a fix made in one copy
(a Retry-After in the past, an epoch in milliseconds past any datetime, a paging token answered
twice) then stayed out of the others. Each module holds one concern, with no CRM's name in it:
the CRM-specific part (which status means what, which field is the key) is data the connector
passes in.

- :mod:`~leadscore.connectors.kit.error_table`: HTTP statuses, vendor codes and exception types
  to a leadscore error class and an action, as a table with per-CRM overrides;
- :mod:`~leadscore.connectors.kit.retry_after`: reading a ``Retry-After`` header (seconds or an
  HTTP-date) and the wait the one retry layer then takes;
- :mod:`~leadscore.connectors.kit.times`: reading the CRMs' timestamps, writing the ones their
  filters and queries take, and the next UTC midnight daily allocations reset at;
- :mod:`~leadscore.connectors.kit.chunking`: splitting ids into batches of a CRM's limit;
- :mod:`~leadscore.connectors.kit.keyset`: a time window paged by ascending key, with its typed
  cursor state and the opaque cursor string it is stored as;
- :mod:`~leadscore.connectors.kit.page_tokens`: the guard against a CRM answering the same
  paging token (or query locator) twice.

Connectors import from here and from :mod:`leadscore.agent.core`, never from the rest of the agent.
"""
