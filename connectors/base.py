"""The connector contract, under the name a connector's author imports.

Everything here is defined in :mod:`leadscore.agent.core.contract`, the core the agent and every
connector depend on, and re-exported so a third-party package needs one import::

    from leadscore.connectors.base import CheckReport, Connector, Cursor, OutcomeBatch, PullBatch, WriteResult

Helpers shared by CRM clients (error tables, Retry-After, time formats, paging) are in
:mod:`leadscore.connectors.kit`; the conformance suite every connector must pass is
:mod:`leadscore.connectors.testing`.
"""

from leadscore.agent.core.contract import (
    ENTRY_POINT_GROUP,
    OUTCOMES,
    WRITABLE_VALUES,
    CheckReport,
    Connector,
    ConnectorFactory,
    Cursor,
    OutcomeBatch,
    PullBatch,
    PullNeeds,
    ScoreUpdate,
    SetupReport,
    SupportsReadBack,
    SupportsWriteChunks,
    WriteFieldMap,
    WriteResult,
    WriteSpec,
    WriteStatus,
    available_connectors,
    connector_config,
    load_connector,
)
from leadscore.agent.core.errors import (
    AuthError,
    ConfigError,
    QuotaExhausted,
    RateLimited,
    StalledCursorError,
    TransientError,
)
from leadscore.agent.core.records import Activity, Lead, ObjectType, Outcome, OutcomeKind
from leadscore.agent.core.secrets import SecretEnv, SecretFile, SecretsModel, SecretValue


__all__ = [
    "ENTRY_POINT_GROUP", "OUTCOMES", "WRITABLE_VALUES", "Activity", "AuthError", "CheckReport", "ConfigError",
    "Connector", "ConnectorFactory", "Cursor", "Lead", "ObjectType", "Outcome", "OutcomeBatch", "OutcomeKind",
    "PullBatch", "PullNeeds", "QuotaExhausted",
    "RateLimited", "ScoreUpdate", "SecretEnv", "SecretFile", "SecretValue", "SecretsModel", "SetupReport",
    "StalledCursorError", "SupportsReadBack", "SupportsWriteChunks", "TransientError",
    "WriteFieldMap", "WriteResult", "WriteSpec", "WriteStatus", "available_connectors", "connector_config",
    "load_connector",
]
