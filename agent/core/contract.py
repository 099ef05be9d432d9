"""The connector seam: the one Protocol every CRM connector implements.

Data flows one way: a connector pulls CRM records and hands over normalised :class:`Lead` and
:class:`Activity` values; the engine scores them; the agent diffs the results against what it last
wrote and hands the changed values back to the connector as :class:`ScoreUpdate` batches. A
connector never scores, and the engine never imports a connector.

Connectors are found through the ``leadscore.connectors`` entry-point group, built-in and
third-party alike, so a CRM connector can ship as its own package::

    [project.entry-points."leadscore.connectors"]
    pipedrive = "leadscore_pipedrive:PipedriveConnector"

Everything the agent calls is declared here, typed: the :class:`Connector` Protocol, the
:class:`ConnectorFactory` an entry point names, and two optional capabilities:
:class:`SupportsReadBack`, that the agent tests with ``isinstance`` (``leadscore reconcile`` needs
it; a connector without it still syncs), and :class:`SupportsWriteChunks`, how many updates one
write call takes (the agent then hands over whole chunks). This module belongs to the core: it imports nothing of
ours but records, errors and config validation, so a third-party connector depends on the core
alone (its public name is :mod:`leadscore.connectors.base`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Iterator, Mapping, Protocol, Sequence, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.errors import StalledCursorError as StalledCursorError  # re-exported: part of the connector contract
from leadscore.agent.core.records import Activity, Lead, ObjectType, Outcome, OutcomeKind as OutcomeKind  # re-exported
from leadscore.agent.core.validation import format_validation_errors

ENTRY_POINT_GROUP = "leadscore.connectors"

#: The object type of an outcome cursor (:meth:`Connector.pull_outcomes`): one outcome stream per
#: connector, whatever records its outcomes are about, because one CRM object can decide several
#: (a Salesforce Opportunity decides its Lead and its Contacts, read once). The agent keeps the
#: cursor beside the record cursors under this name.
OUTCOMES: ObjectType = "outcomes"

#: The values a connector may be asked to write, keyed by these canonical names. Which of them
#: are written, and into which CRM field, is the admin's choice in the connector's config; a
#: connector writes nothing else.
WRITABLE_VALUES = frozenset(
    {"score", "stage", "reason", "grade", "fit_score", "engagement_score", "scored_at", "model_version"}
)


class WriteFieldMap(BaseModel):
    """Which values a connector writes, and into which CRM field: the admin's ``write`` table.
    A value mapped to nothing is never written; nothing outside the map ever is. Each connector
    subclasses it with its CRM's default field names."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    score: str | None = None
    stage: str | None = None
    reason: str | None = None
    grade: str | None = None
    fit_score: str | None = None
    engagement_score: str | None = None
    scored_at: str | None = None
    model_version: str | None = None

    def mapping(self) -> dict[str, str]:
        """Canonical value name -> CRM field, for the configured ones only."""
        return {k: v for k, v in self.model_dump().items() if v is not None}

    @model_validator(mode="after")
    def _distinct(self) -> WriteFieldMap:
        names = list(self.mapping().values())
        if len(names) != len(set(names)):
            raise ValueError("two values are mapped to the same field")
        return self


# --- what goes in ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where an incremental pull resumes: an opaque, connector-defined value per object type
    (e.g. the last ``lastmodifieddate`` seen). The agent stores it and hands it back unchanged,
    and advances it only after the writes it covers are durable.

    Every connector also takes an ISO-8601 UTC instant (``2026-10-01T00:00:00Z``) as a value,
    meaning "changed after that instant": how ``backfill --since`` starts its window."""

    object_type: ObjectType
    value: str | None = None


@dataclass(frozen=True, slots=True)
class PullNeeds:
    """What the scoring model reads, so a connector requests nothing more: only these canonical
    fields as properties, and engagement only of these activity types. API quota spent on data
    the model ignores is quota the admin cannot use elsewhere."""

    fields: frozenset[str]
    activity_types: frozenset[str]


@dataclass(frozen=True, slots=True)
class PullBatch:
    """One page of changed records with their activities, and the cursor after this page."""

    leads: Sequence[Lead]
    activities: Sequence[Activity]
    cursor: Cursor
    #: Ids deleted in the CRM since the previous cursor: the mirror forgets them.
    deleted_ids: Sequence[str] = ()
    #: Records that left the set the agent scores and writes but whose past is a lead's history (a
    #: converted Salesforce Lead: read-only, merged into its Contact), as last read. The mirror
    #: keeps them - adding one it never held, with these fields - out of every rescore and write,
    #: so their history still makes training rows. Never scored.
    retired: Sequence[Lead] = ()


@dataclass(frozen=True, slots=True)
class OutcomeBatch:
    """Outcomes the CRM decided (or changed) since the previous cursor, and the cursor after
    them. The agent records the outcomes and moves the cursor in one transaction."""

    outcomes: Sequence[Outcome]
    cursor: Cursor


# --- what goes out -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoreUpdate:
    """The values to write to one CRM record, keyed by names in :data:`WRITABLE_VALUES`.

    Only values that changed since the last successful write are included; an update with no
    values is never sent.
    """

    record_id: str
    object_type: ObjectType
    values: Mapping[str, Any]
    #: The CRM field of each value, when the record's model has its own fields (``[models.write.NAME]``
    #: in the agent config) rather than the connector's ``write`` map; None: the ``write`` map.
    #: Covers every value sent. Only fields the config names, which ``setup`` created
    #: (:attr:`WriteSpec.field_sets`) and the connector checks it owns as it does its ``write`` fields.
    fields: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.values) - WRITABLE_VALUES
        if unknown:
            raise ValueError(f"not writable values: {', '.join(sorted(unknown))}")
        if self.fields is not None and set(self.values) - set(self.fields):
            raise ValueError(f"no field for: {', '.join(sorted(set(self.values) - set(self.fields)))}")


class WriteStatus(StrEnum):
    OK = "ok"
    #: Worth trying again later as-is (rate limit, timeout, lock, 5xx): kept for the next run.
    RETRYABLE = "retryable"
    #: Will fail again until something changes (deleted record, bad picklist value, missing
    #: field): logged and counted, not retried in a loop.
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of one :class:`ScoreUpdate`. A connector returns exactly one per update."""

    record_id: str
    status: WriteStatus
    error_code: str | None = None
    message: str | None = None
    #: Set when the write landed on another record than asked, e.g. a converted Salesforce lead
    #: whose score follows to its Contact.
    written_to: str | None = None
    #: The object type of ``written_to`` (``"contact"``), so the agent also knows what that record
    #: now carries and does not write the same values to it again.
    written_to_type: ObjectType | None = None

    @property
    def ok(self) -> bool:
        return self.status is WriteStatus.OK


# --- reports -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What :meth:`Connector.check` found: whether the credentials work, and problems with the
    configured fields (missing, wrong type, not writable), one readable line each."""

    ok: bool
    problems: Sequence[str] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SetupReport:
    """What :meth:`Connector.setup` did. Idempotent: a second run creates nothing."""

    created: Sequence[str] = ()
    existing: Sequence[str] = ()
    #: Steps the admin must still take by hand (e.g. field-level security in Salesforce).
    todo: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class WriteSpec:
    """The write fields :meth:`Connector.setup` must create: which values, and the stage
    names (for picklist / enumeration fields)."""

    values: frozenset[str]
    stages: Sequence[str]
    reason_max_length: int = 255
    #: Also create the fields on the account object (:class:`SupportsAccounts`): the config scores
    #: accounts. The same value names, the same field names, on the account record.
    accounts: bool = False
    #: Further fields to create, beside the ``write`` map's: the own fields of models that have them
    #: (value name -> CRM field), each set made as the ``write`` fields are (same types, same owner
    #: mark, same objects: people, and accounts when ``accounts``).
    field_sets: Sequence[Mapping[str, str]] = ()


# --- the Protocol ------------------------------------------------------------------------


@runtime_checkable
class Connector(Protocol):
    """A CRM connector. Small by design: the agent owns state, diffing, scheduling and
    retries of failed writes; the connector owns the CRM's API, its limits and its field names.

    Every method raises only :mod:`leadscore.agent.core.errors` exceptions for failures of the whole call
    (``AuthError``, ``TransientError``, ``RateLimited``, ``QuotaExhausted``, ``ConfigError``);
    per-record failures of a write are reported in its results, never raised.
    """

    #: The entry-point name, e.g. ``"hubspot"``.
    name: ClassVar[str]
    #: The object types this connector reads and writes, named by the connector (open names:
    #: ``"lead"``, ``"contact"``, ``"person"``...).
    object_types: ClassVar[tuple[ObjectType, ...]]
    #: The pydantic model validating its ``[connectors.NAME]`` table (None: the table is passed
    #: as it is). Secret values are typed ``SecretStr`` so they are never shown.
    config_model: ClassVar[type[BaseModel] | None]

    @property
    def write_values(self) -> frozenset[str]:
        """The values (names in :data:`WRITABLE_VALUES`) the admin configured this connector to
        write: the agent diffs and sends only these."""
        ...

    def check(self) -> CheckReport:
        """Verify the credentials and that every configured field exists and is writable."""
        ...

    def setup(self, spec: WriteSpec) -> SetupReport:
        """Create the configured write fields in the CRM, idempotently."""
        ...

    def pull(
        self,
        cursor: Cursor,
        *,
        until: datetime | None = None,
        needs: PullNeeds | None = None,
    ) -> Iterator[PullBatch]:
        """Yield records of ``cursor.object_type`` changed after the cursor (everything when
        ``cursor.value`` is None), oldest first, with their activities. ``until`` caps the
        window at the sync's start, so changes made during the sync wait for the next one;
        ``needs`` (None: everything) limits what is requested to what the model reads."""
        ...

    def count(self, cursor: Cursor, *, until: datetime | None = None) -> int | None:
        """How many records ``pull(cursor, until=until)`` would yield, for a progress bar. An
        estimate is fine and None means unknown; it must cost at most one or two API calls, since
        it spends the same quota as the pull it describes."""
        ...

    def identity(self) -> str | None:
        """Which CRM account this is (a HubSpot portal id, a Salesforce org id), so a state
        store kept for another one is never trusted; None when the connector cannot tell."""
        ...

    def pull_outcomes(self, cursor: Cursor, *, until: datetime | None = None) -> Iterator[OutcomeBatch]:
        """Yield the outcomes (:class:`Outcome`: converted, won, lost, disqualified, open) the CRM
        recorded or changed after ``cursor`` (every outcome it holds when ``cursor.value`` is None;
        an ISO-8601 instant means "after that instant"), up to ``until`` (the agent passes the
        moment the sync's records are done), in batches, each with the cursor that resumes after
        it: ``cursor.object_type`` is
        :data:`OUTCOMES` and its value is the connector's own, opaque, as for :meth:`pull`.

        Incremental like :meth:`pull`: a pull from the last batch's cursor yields nothing new
        (it may yield again what changed within an overlap the connector allows for late commits;
        the agent stores outcomes by their natural key - record, source - so a repeat never
        duplicates). Each outcome names its record (``lead_id``, ``object_type``: one of
        :attr:`object_types`) and, for a deal or opportunity, its id (``source_id``), ``amount``
        and creation (``started_at``); a deal or opportunity that is open (again) is an
        :attr:`OutcomeKind.OPEN` outcome, which replaces an earlier decision of it. What the CRM's fields mean
        (which stages convert, which statuses disqualify) is the admin's mapping in the
        connector's config. A connector whose CRM records no outcomes yields nothing."""
        ...

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        """Write a batch (any size: the connector splits it to the CRM's limits) and return one
        result per update, in the same order."""
        ...

    def api_calls(self) -> Mapping[str, int]:
        """API calls made so far by endpoint family, for metrics and benchmarks."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class SupportsWriteChunks(Protocol):
    """A connector whose write calls take ``write_chunk`` updates each (HubSpot's batch update:
    100; Salesforce's sObject Collections: 200), so a call with fewer costs as much as a full one.

    The agent then carries changes across pulled batches and hands ``write`` whole chunks - the
    remainder waits, kept durably in the state store, for the next batch or the end of the pass -
    so a pass costs ``ceil(changes / write_chunk)`` write calls, not one partial call per batch.
    ``write`` must still take any number of updates (the last call of a pass is partial).

    ``bulk_threshold``, when a connector has one (Salesforce's Bulk API 2.0): a single ``write``
    of at least this many updates takes a path costing a handful of calls per object type whatever
    the count. The agent then holds an object type's changes until the pass has that many of them
    and hands them over in one write, so the pass's total, not one batch's, decides the path; every
    other write it makes stays below the threshold. None: no such path.

    Looked up by attribute (:func:`getattr`), so declaring the two names is enough.
    """

    write_chunk: int

    @property
    def bulk_threshold(self) -> int | None: ...


@runtime_checkable
class SupportsReadBack(Protocol):
    """A connector that can read its written fields back from the CRM, for ``leadscore
    reconcile``: ``(record id, {value name: CRM value})`` for every record of ``object_type``
    carrying any of them, at a bulk rate (HubSpot 100 records a call, one SOQL query in Salesforce)."""

    def read_back(self, object_type: ObjectType) -> Iterator[tuple[str, dict[str, Any]]]: ...


@runtime_checkable
class SupportsAccounts(Protocol):
    """A connector that reads and writes accounts (HubSpot companies, Salesforce Accounts) as well
    as people. The agent uses it only when the config has an account model:

    - ``pull(Cursor(account_type, ...))`` yields the accounts changed after the cursor as
      :class:`Lead` values of ``object_type == account_type`` on the canonical account fields
      (:data:`~leadscore.agent.core.records.ACCOUNT_FIELDS`), with no activities (an account's
      engagement is its people's); ``count`` and ``read_back`` take the account type too;
    - every person it pulls carries :attr:`Lead.account_id`, whatever the pull's needs;
    - ``write`` takes :class:`ScoreUpdate` values of ``object_type == account_type``, written to
      the same configured field names on the account object;
    - ``setup`` creates those fields on the account object when :attr:`WriteSpec.accounts`.
    """

    @property
    def account_type(self) -> ObjectType: ...


@runtime_checkable
class ConnectorFactory(Protocol):
    """What an entry point names: a class (or callable) built from the connector's config table,
    carrying the model that validates that table."""

    config_model: type[BaseModel] | None

    def __call__(self, config: Mapping[str, Any]) -> Connector: ...


# --- discovery ---------------------------------------------------------------------------


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def connector_config(
    name: str, model: type[ConfigT], table: Mapping[str, Any] | ConfigT, expanded: Mapping[str, str] | None = None
) -> ConfigT:
    """A ``[connectors.NAME]`` table validated by the connector's config model; every problem
    becomes one :class:`ConfigError` line with its full key path (``connectors.NAME.tier: ...``).
    ``expanded`` names the config's key paths whose values came from ``${...}`` references: those
    values are never shown (see :func:`leadscore.agent.core.validation.format_validation_errors`)."""
    if isinstance(table, model):
        return table
    prefix = f"connectors.{name}."
    inner = {path.removeprefix(prefix): ref for path, ref in (expanded or {}).items() if path.startswith(prefix)}
    try:
        return model.model_validate(dict(table))
    except ValidationError as exc:
        raise ConfigError([prefix + line for line in format_validation_errors(exc.errors(), expanded=inner)]) from None


def available_connectors() -> dict[str, EntryPoint]:
    """Installed connectors by name, from the ``leadscore.connectors`` entry-point group."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_connector(name: str) -> ConnectorFactory:
    """The factory registered under ``name``; a :class:`ConfigError` names the installed ones."""
    found = available_connectors()
    if name not in found:
        known = ", ".join(sorted(found)) or "none installed"
        raise ConfigError(f"connectors.{name}: no connector named '{name}' (installed: {known})")
    try:
        factory = found[name].load()
    except Exception as exc:  # noqa: BLE001 - a broken third-party package must not crash the agent
        raise ConfigError(f"connectors.{name}: cannot load {found[name].value}: {type(exc).__name__}: {exc}") from None
    if not callable(factory) or not hasattr(factory, "config_model"):
        raise ConfigError(f"connectors.{name}: {found[name].value} is not a connector class (a callable with a config_model)")
    return factory  # type: ignore[no-any-return]
