"""The portal's data: records, property definitions, groups and associations, behind one lock.

The store knows HubSpot's data rules (read-only properties, typed values, unique values,
forward-only lifecycle stages, what a write stamps on a record) but nothing of HTTP. Handlers
validate a whole request first and only then mutate, so a rejected request changes nothing.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from connectors.hubspot.emulator import schema, values
from connectors.hubspot.emulator.errors import PropertyProblem
from connectors.hubspot.emulator.schema import OBJECT_TYPES

#: History ``sourceType`` values, as HubSpot labels where a value came from.
SOURCE_API = "INTEGRATION"
SOURCE_USER = "CRM_UI"
SOURCE_IMPORT = "IMPORT"
SOURCE_CALCULATED = "CALCULATED"


@dataclass
class Record:
    """One CRM record. ``properties`` holds only values that are set (stored, normalised form)."""

    object_type: str
    id: str
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None
    history: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)

    @property
    def archived(self) -> bool:
        return self.archived_ms is not None


@dataclass(frozen=True)
class Validated:
    """A write's values after validation: ``None`` clears a property."""

    changes: dict[str, str | None]
    problems: tuple[PropertyProblem, ...]


class Store:
    """Thread-safe in-memory portal. Every public method takes the lock; so can callers (RLock)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self._records: dict[str, dict[str, Record]] = {name: {} for name in OBJECT_TYPES}
        self._definitions: dict[str, dict[str, dict[str, Any]]] = {
            name: {d["name"]: d for d in schema.default_properties(name)} for name in OBJECT_TYPES
        }
        self._groups: dict[str, dict[str, dict[str, Any]]] = {
            name: {g["name"]: g for g in schema.default_groups(name)} for name in OBJECT_TYPES
        }
        # (from type, from id, to type) -> to ids, in association order (a dict as ordered set).
        self._associations: dict[tuple[str, str, str], dict[str, None]] = defaultdict(dict)
        # (type, unique property) -> value -> record id
        self._unique: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        self._next_id: dict[str, int] = {name: t.id_base for name, t in OBJECT_TYPES.items()}
        self._last_write_ms = 0
        self.writes: Counter[str] = Counter()
        #: Bumped by every change; lets search reuse a query's matches while nothing changed.
        self.version = 0
        self.search_cache: OrderedDict[tuple[Any, ...], list[Record]] = OrderedDict()

    # --- time ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def write_ms(self) -> int:
        """The instant stamped by one write request: later than every stamp already given.

        Distinct, increasing stamps per request keep ``lastmodifieddate`` cursors meaningful
        even under a frozen test clock; records written by one batch share their stamp, as
        they do in HubSpot.
        """
        with self.lock:
            self._last_write_ms = max(self.now_ms(), self._last_write_ms + 1)
            return self._last_write_ms

    # --- definitions ---------------------------------------------------------------------

    def definitions(self, object_type: str) -> dict[str, dict[str, Any]]:
        return self._definitions[object_type]

    def definition(self, object_type: str, name: str) -> dict[str, Any] | None:
        return self._definitions[object_type].get(name)

    def add_definition(self, object_type: str, definition: dict[str, Any]) -> None:
        with self.lock:
            self._definitions[object_type][definition["name"]] = definition
            self.version += 1

    def groups(self, object_type: str) -> dict[str, dict[str, Any]]:
        return self._groups[object_type]

    def add_group(self, object_type: str, group: dict[str, Any]) -> None:
        with self.lock:
            self._groups[object_type][group["name"]] = group

    def unique_properties(self, object_type: str) -> set[str]:
        return {n for n, d in self._definitions[object_type].items() if d.get("hasUniqueValue")}

    # --- validation ------------------------------------------------------------------------

    def validate(self, object_type: str, properties: Mapping[str, Any], *, enforce_read_only: bool = True,
                 creating: bool = False) -> Validated:
        """Check every value of one write; collect every problem, as HubSpot reports them all."""
        changes: dict[str, str | None] = {}
        problems: list[PropertyProblem] = []
        if creating:
            for name in schema.REQUIRED_ON_CREATE[object_type]:
                if properties.get(name) in (None, ""):
                    # Reading taken for the code: HubSpot documents which properties are required,
                    # not the error entry's text.
                    problems.append(PropertyProblem(name, "REQUIRED_PROPERTY", f"{name} is required"))
        for name, raw in properties.items():
            definition = self.definition(object_type, name)
            if definition is None:
                problems.append(values.unknown_property(name))
                continue
            if enforce_read_only and definition["modificationMetadata"]["readOnlyValue"]:
                problems.append(values.read_only_property(name))
                continue
            try:
                changes[name] = values.normalise(definition, raw)
                if name == "email" and changes[name] is not None:
                    changes[name] = values.normalise_email(changes[name])
            except values.ValueProblem as exc:
                problems.append(values.problem(name, exc))
        return Validated(changes, tuple(problems))

    # --- records -------------------------------------------------------------------------------

    def records(self, object_type: str, *, archived: bool = False) -> Iterator[Record]:
        """Records in creation order (HubSpot's default search order: oldest first)."""
        return (r for r in list(self._records[object_type].values()) if r.archived == archived)

    def count(self, object_type: str) -> int:
        return sum(1 for _ in self.records(object_type))

    def get(self, object_type: str, record_id: str, *, archived: bool = False) -> Record | None:
        record = self._records[object_type].get(str(record_id))
        if record is None or record.archived != archived:
            return None
        return record

    def find(self, object_type: str, id_property: str | None, value: str, *, archived: bool = False) -> Record | None:
        """A record by id or by a unique property's value (``idProperty``)."""
        if not id_property or id_property == "hs_object_id":
            return self.get(object_type, value, archived=archived)
        if id_property == "email":
            value = value.lower()  # HubSpot matches contact emails case-insensitively
        record_id = self._unique[(object_type, id_property)].get(value)
        return self.get(object_type, record_id, archived=archived) if record_id else None

    def owner_of(self, object_type: str, name: str, value: str | None) -> str | None:
        """The id of the record holding ``value`` in unique property ``name``, if any."""
        if value is None:
            return None
        key = value.lower() if name == "email" else value
        return self._unique[(object_type, name)].get(key)

    def create(
        self,
        object_type: str,
        changes: Mapping[str, str | None],
        *,
        at_ms: int,
        created_ms: int | None = None,
        source: str = SOURCE_API,
        record_id: str | None = None,
    ) -> Record:
        """A new record with HubSpot's system values: id, create date, last-modified dates."""
        with self.lock:
            kind = OBJECT_TYPES[object_type]
            if record_id is None:
                record_id = str(self._next_id[object_type])
                self._next_id[object_type] += 1
            created = created_ms if created_ms is not None else at_ms
            self._last_write_ms = max(self._last_write_ms, at_ms)
            record = Record(object_type, record_id, {}, created, at_ms)
            self._records[object_type][record_id] = record
            system = {kind.createdate: values.iso_ms(created), "hs_object_id": record_id}
            for name in kind.lastmodified:
                system[name] = values.iso_ms(at_ms)
            if object_type == "deals" and changes.get("pipeline") is None:
                # "If a pipeline isn't specified, the default pipeline will be used" (deals guide).
                system["pipeline"] = schema.DEFAULT_PIPELINE[0]
            self._set_all(record, system, at_ms, SOURCE_CALCULATED)
            self._set_all(record, changes, at_ms, source)
            self._calculate(record, at_ms)
            return record

    def update(
        self,
        record: Record,
        changes: Mapping[str, str | None],
        *,
        at_ms: int,
        source: str = SOURCE_API,
        forward_only_lifecycle: bool = True,
    ) -> None:
        """Apply validated values and stamp the write, as any real write does.

        ``lifecyclestage`` follows HubSpot's documented rule for API writes: it "is not designed
        to move backwards"; a value earlier in the stage order than the current one is left
        unapplied (HubSpot answers success and keeps the value, as HubSpot staff describe on the
        developer forum), until the stage is cleared with ``""`` in a separate request.
        """
        with self.lock:
            applied = dict(changes)
            if forward_only_lifecycle and "lifecyclestage" in applied:
                if self._moves_lifecycle_back(record, applied["lifecyclestage"]):
                    del applied["lifecyclestage"]
            self._set_all(record, applied, at_ms, source)
            self._calculate(record, at_ms)
            self.touch(record, at_ms)

    def _calculate(self, record: Record, at_ms: int) -> None:
        """Values HubSpot calculates from others: a deal's ``hs_is_closed_won`` from its stage."""
        if record.object_type != "deals":
            return
        won = schema.is_closed_won(record.properties.get("dealstage"))
        if record.properties.get("hs_is_closed_won") != won:
            self._set(record, "hs_is_closed_won", won, at_ms, SOURCE_CALCULATED)

    def touch(self, record: Record, at_ms: int) -> None:
        # Later API writes must stamp later than any seeded or imported stamp, even when a test
        # clock runs behind the seed's ``as_of``: incremental cursors rely on it.
        self._last_write_ms = max(self._last_write_ms, at_ms)
        kind = OBJECT_TYPES[record.object_type]
        for name in kind.lastmodified:
            self._set(record, name, values.iso_ms(at_ms), at_ms, SOURCE_CALCULATED)
        record.updated_ms = at_ms

    def archive(self, record: Record, at_ms: int) -> None:
        with self.lock:
            self.version += 1
            record.archived_ms = at_ms
            for name in self.unique_properties(record.object_type):
                owner = self._unique[(record.object_type, name)]
                for key, rid in list(owner.items()):
                    if rid == record.id:
                        del owner[key]

    def count_writes(self, names: Iterable[str]) -> None:
        with self.lock:
            self.writes.update(list(names))  # a mapping would add its values

    def _moves_lifecycle_back(self, record: Record, new: str | None) -> bool:
        current = record.properties.get("lifecyclestage")
        if new is None or current is None:
            return False
        order = [o["value"] for o in self.definition(record.object_type, "lifecyclestage")["options"]]
        if current not in order or new not in order:
            return False
        return order.index(new) < order.index(current)

    def _set_all(self, record: Record, changes: Mapping[str, str | None], at_ms: int, source: str) -> None:
        for name, value in changes.items():
            self._set(record, name, value, at_ms, source)

    def _set(self, record: Record, name: str, value: str | None, at_ms: int, source: str) -> None:
        self.version += 1
        definition = self.definition(record.object_type, name)
        if definition and definition.get("hasUniqueValue") and name != "hs_object_id":
            index = self._unique[(record.object_type, name)]
            old = record.properties.get(name)
            if old is not None:
                index.pop(old.lower() if name == "email" else old, None)
            if value is not None:
                index[value.lower() if name == "email" else value] = record.id
        if value is None:
            record.properties.pop(name, None)
        else:
            record.properties[name] = value
        record.history.setdefault(name, []).append(("" if value is None else value, at_ms, source))

    # --- associations -----------------------------------------------------------------------

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        """Associations are stored in both directions, as HubSpot reports them either way."""
        with self.lock:
            self.version += 1
            self._associations[(from_type, from_id, to_type)][to_id] = None
            self._associations[(to_type, to_id, from_type)][from_id] = None

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        ids = self._associations.get((from_type, from_id, to_type), {})
        return [i for i in ids if self.get(to_type, i) is not None]

    # --- presentation -----------------------------------------------------------------------

    def present(
        self,
        record: Record,
        requested: Sequence[str] | None,
        *,
        with_history: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A record as v3 answers it (``SimplePublicObject``).

        Without ``requested`` the type's default properties are returned. With it, the requested
        properties plus the create date, last-modified date and ``hs_object_id``, which HubSpot's
        documented responses always include. Reading taken: a requested property the record has
        no value for is left out ("If the requested record doesn't have a value for a property,
        it will not appear in the response" - objects API guide), and names that are not
        properties are ignored, as the OpenAPI parameter description says.
        """
        kind = OBJECT_TYPES[record.object_type]
        if requested:
            names = list(dict.fromkeys([*requested, kind.createdate, kind.lastmodified[0], "hs_object_id"]))
        else:
            names = list(kind.default_properties)
        properties = {n: record.properties[n] for n in sorted(names) if n in record.properties}
        body: dict[str, Any] = {
            "id": record.id,
            "properties": properties,
            "createdAt": values.iso_ms(record.created_ms),
            "updatedAt": values.iso_ms(record.updated_ms),
            "archived": record.archived,
        }
        if record.archived_ms is not None:
            body["archivedAt"] = values.iso_ms(record.archived_ms)
        if with_history:
            body["propertiesWithHistory"] = {
                name: [
                    {"value": value, "timestamp": values.iso_ms(ms), "sourceType": source}
                    for value, ms, source in reversed(record.history.get(name, []))
                ]
                for name in with_history
                if self.definition(record.object_type, name) is not None
            }
        return body

    def snapshot(self, record: Record) -> dict[str, str | None]:
        """Every defined property of a record, ``None`` where it has no value."""
        return {name: record.properties.get(name) for name in self._definitions[record.object_type]}
