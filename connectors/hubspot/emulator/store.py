"""The portal's data: records, property definitions, groups and associations, behind one lock.

The store knows HubSpot's data rules (read-only properties, typed values, unique values,
forward-only lifecycle stages, what a write stamps on a record) but nothing of HTTP. Handlers
validate a whole request first and only then mutate, so a rejected request changes nothing.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, insort
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from leadscore.connectors.hubspot.emulator import schema, values
from leadscore.connectors.hubspot.emulator.errors import PropertyProblem
from leadscore.connectors.hubspot.emulator.index import IdBlocks
from leadscore.connectors.hubspot.emulator.schema import OBJECT_TYPES

#: History ``sourceType`` values, as HubSpot labels where a value came from.
SOURCE_API = "INTEGRATION"
SOURCE_USER = "CRM_UI"
SOURCE_IMPORT = "IMPORT"
SOURCE_CALCULATED = "CALCULATED"

#: Contact properties HubSpot calculates from the engagements associated with the contact: name ->
#: (the engagement types counted, "max" of their ``hs_timestamp`` or "count"). From the properties
#: API's own descriptions (HubSpot's current wording):
#: ``notes_last_contacted`` "The last time a call, chat conversation, LinkedIn message, postal mail,
#: meeting, sales email, SMS, or WhatsApp message was logged for a contact"; ``notes_last_updated``
#: the same "... meeting, note, sales email ..." (notes count, tasks do not); ``num_contacted_notes``
#: "The number of times a call, ..., meeting, sales email, ... was logged"; ``num_notes`` "... call,
#: ..., meeting, note, sales email, SMS, task, ..." (the one counter with tasks);
#: ``hs_latest_meeting_activity`` "The date of the most recent meeting (past or upcoming) logged for,
#: scheduled with, or booked by this contact"; ``hs_sales_email_last_replied`` "The last time a
#: tracked sales email was replied to". HubSpot does not document whether the dates are the
#: activity's ``hs_timestamp`` or the time it was logged: the emulator takes ``hs_timestamp``, the
#: date the record's timeline shows. ``hs_last_sales_activity_timestamp`` ("The last time a contact
#: engaged with your site or a form, document, meetings link, or tracked email") is the contact's
#: own engagement, not a logged activity, and is not modelled.
ACTIVITY_ROLLUPS: dict[str, tuple[frozenset[str], str]] = {
    "notes_last_contacted": (frozenset({"calls", "emails", "meetings"}), "max"),
    "notes_last_updated": (frozenset({"calls", "emails", "meetings", "notes"}), "max"),
    "num_contacted_notes": (frozenset({"calls", "emails", "meetings"}), "count"),
    "num_notes": (frozenset({"calls", "emails", "meetings", "notes", "tasks"}), "count"),
    "hs_latest_meeting_activity": (frozenset({"meetings"}), "max"),
    "hs_sales_email_last_replied": (frozenset({"emails"}), "replied"),
}

ACTIVITY_ROLLUP_TYPES = frozenset().union(*(kinds for kinds, _ in ACTIVITY_ROLLUPS.values()))

#: How long a write waits for the clock to pass the last stamp given (a frozen test clock never does).
CLOCK_WAIT = 0.002


@dataclass(slots=True)
class Record:
    """One CRM record. ``properties`` holds only values that are set (stored, normalised form)."""

    object_type: str
    id: str
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    archived_ms: int | None = None
    #: Every value each property received, oldest first, flat: name, value ("" when cleared),
    #: epoch ms, source, name, ... (one list per record rather than a list and a tuple per value:
    #: a million-contact portal holds some fifty million of them). Read with :meth:`changes`.
    history: list[Any] = field(default_factory=list)

    @property
    def archived(self) -> bool:
        return self.archived_ms is not None

    def changes(self) -> dict[str, list[tuple[str, int, str]]]:
        """Each property's history, ``(value, epoch ms, source)`` oldest first, properties in the
        order they were first written."""
        found: dict[str, list[tuple[str, int, str]]] = {}
        h = self.history
        for i in range(0, len(h), 4):
            found.setdefault(h[i], []).append((h[i + 1], h[i + 2], h[i + 3]))
        return found

    def changes_of(self, name: str) -> list[tuple[str, int, str]]:
        """One property's history, ``(value, epoch ms, source)`` oldest first."""
        h = self.history
        return [(h[i + 1], h[i + 2], h[i + 3]) for i in range(0, len(h), 4) if h[i] == name]

    def resource(self, names: Iterable[str], source: str) -> None:
        """Relabel every value ``names`` received with ``source``."""
        wanted = set(names)
        h = self.history
        for i in range(0, len(h), 4):
            if h[i] in wanted:
                h[i + 3] = source


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
        #: Seconds before a write shows in search results (see :mod:`.search`); 0: at once.
        self.search_lag = 0.0
        # Indexes (see :mod:`.index`): live ids with their last-modified stamps, archived ids, and
        # what search needs to know to trust them (creation order is id order; every record's
        # ``hs_object_id`` is its id).
        self._live: dict[str, IdBlocks] = {name: IdBlocks(t.lastmodified) for name, t in OBJECT_TYPES.items()}
        self._archived_ids: dict[str, list[int]] = {name: [] for name in OBJECT_TYPES}
        self._top_id: dict[str, int] = {name: -1 for name in OBJECT_TYPES}
        self._in_id_order: dict[str, bool] = {name: True for name in OBJECT_TYPES}
        self._odd_object_ids: dict[str, set[str]] = {name: set() for name in OBJECT_TYPES}

    # --- time ------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def write_ms(self) -> int:
        """The instant one write request commits at: the server's clock, later than every stamp
        already given, and never ahead of the clock.

        HubSpot stamps ``lastmodifieddate`` with its own time when a write commits; records
        written by one batch share their stamp, as they do in HubSpot. Two requests landing in
        the same millisecond are told apart by waiting for the clock to move on, so stamps stay
        strictly increasing without running ahead of it. Only a clock that does not move (a
        test's frozen clock) is stepped past by a millisecond.
        """
        with self.lock:
            now = self.now_ms()
            deadline = time.monotonic() + CLOCK_WAIT
            while now <= self._last_write_ms and time.monotonic() < deadline:
                time.sleep(CLOCK_WAIT / 8)
                now = self.now_ms()
            self._last_write_ms = max(now, self._last_write_ms + 1)
            return self._last_write_ms

    def history_ceiling(self, as_of_ms: int | None) -> int:
        """The latest stamp seeded history may carry: ``as_of`` or now, never ahead of the clock.

        A portal's history lies in its past: seeding "as of" a later instant than the server's
        clock would stamp records in the future, and every later write after them (the clock
        never runs back), hiding API edits from incremental syncs.
        """
        now = self.now_ms()
        if as_of_ms is not None and as_of_ms > now:
            raise ValueError(
                f"as_of {values.iso_ms(as_of_ms)} lies ahead of the emulator's clock ({values.iso_ms(now)}): "
                "seeded history must lie in the past"
            )
        return now if as_of_ms is None else as_of_ms

    def indexed_as_of(self) -> int | None:
        """The instant search results reflect, when writes since then are not searchable yet;
        None when the index is up to date (no lag, or nothing written within it)."""
        if not self.search_lag:
            return None
        cutoff = self.now_ms() - int(self.search_lag * 1000)
        return cutoff if self._last_write_ms > cutoff else None

    def as_of(self, record: Record, cutoff: int) -> Record | None:
        """``record`` as it was at ``cutoff`` (from its property history); None if it did not
        exist yet."""
        if record.updated_ms <= cutoff:
            return record
        history = record.changes()
        committed = history.get("hs_object_id")  # set when the record was created
        if committed and committed[0][1] > cutoff:
            return None
        earlier: dict[str, str] = {}
        for name, changes in history.items():
            value = next((v for v, ms, _ in reversed(changes) if ms <= cutoff), None)
            if value not in (None, ""):
                earlier[name] = value
        updated = max((ms for changes in history.values() for _, ms, _ in changes if ms <= cutoff),
                      default=record.created_ms)
        return Record(record.object_type, record.id, earlier, record.created_ms, updated, record.archived_ms)

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
        return len(self._live[object_type])

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
            number = int(record_id)
            if number <= self._top_id[object_type]:
                self._in_id_order[object_type] = False
            self._top_id[object_type] = max(self._top_id[object_type], number)
            self._live[object_type].add(number)
            system = {kind.createdate: values.iso_ms(created), "hs_object_id": record_id}
            stamp = values.iso_ms(at_ms)
            for name in kind.lastmodified:
                system[name] = stamp
            if object_type == "deals" and changes.get("pipeline") is None:
                # "If a pipeline isn't specified, the default pipeline will be used" (deals guide).
                system["pipeline"] = schema.DEFAULT_PIPELINE[0]
            self._set_all(record, system, at_ms, SOURCE_CALCULATED)
            self._set_all(record, changes, at_ms, source)
            self._calculate(record, at_ms, entered_ms=created)
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

    def _calculate(self, record: Record, at_ms: int, *, entered_ms: int | None = None) -> None:
        """Values HubSpot calculates from others: a deal's ``hs_is_closed_won``, ``hs_is_closed_lost``
        and ``hs_is_closed`` from its stage; a contact's ``hs_lifecyclestage_<stage>_date`` when it
        enters a default stage (at ``entered_ms``: a record created in a stage entered it when it
        was created). Reading taken: HubSpot does not document whether re-entering a stage after
        moving back rewrites its date; the emulator keeps the first."""
        if record.object_type == "contacts":
            stage = record.properties.get("lifecyclestage")
            name = schema.lifecycle_date_property(stage) if stage else None
            if name and self.definition("contacts", name) is not None and name not in record.properties:
                when = at_ms if entered_ms is None else entered_ms
                self._set(record, name, values.iso_ms(when), at_ms, SOURCE_CALCULATED)
            return
        if record.object_type != "deals":
            return
        for name, value in schema.deal_flags(record.properties.get("dealstage")).items():
            if record.properties.get(name) != value:
                self._set(record, name, value, at_ms, SOURCE_CALCULATED)

    def touch(self, record: Record, at_ms: int) -> None:
        """Stamp a write on ``record``: its last-modified properties and ``updatedAt``."""
        self._last_write_ms = max(self._last_write_ms, at_ms)
        kind = OBJECT_TYPES[record.object_type]
        stamp = values.iso_ms(at_ms)
        for name in kind.lastmodified:
            self._set(record, name, stamp, at_ms, SOURCE_CALCULATED)
        record.updated_ms = at_ms

    def archive(self, record: Record, at_ms: int) -> None:
        with self.lock:
            self.version += 1
            if record.archived_ms is None:
                self._live[record.object_type].remove(int(record.id))
                insort(self._archived_ids[record.object_type], int(record.id))
            record.archived_ms = at_ms
            for name in self.unique_properties(record.object_type):
                owner = self._unique[(record.object_type, name)]
                for key, rid in list(owner.items()):
                    if rid == record.id:
                        del owner[key]

    def restore(self, record: Record, at_ms: int) -> None:
        """Bring an archived record back from the recycling bin, as a user can for 90 days ("If
        the contact is restored, activities will be restored": KB, restorable and permanent
        deletions). HubSpot documents no restore API and no stamps; a HubSpot developer-forum
        report ("Restoring recently deleted contacts") observed that "After the restoration of a
        contact, the modification date is set and (all?) fields that are calculated by Hubspot are
        set anew", which the emulator follows: roll-ups recalculated, last-modified dates moved."""
        with self.lock:
            self.version += 1
            if record.archived_ms is not None:
                archived = self._archived_ids[record.object_type]
                del archived[bisect_left(archived, int(record.id))]
                self._live[record.object_type].add(int(record.id), self._indexed_values(record))
            record.archived_ms = None
            for name in self.unique_properties(record.object_type):
                value = record.properties.get(name)
                if value is not None and name != "hs_object_id":
                    self._unique[(record.object_type, name)][value.lower() if name == "email" else value] = record.id
            if record.object_type == "contacts":
                self._roll_up(record.id, at_ms)
            self.touch(record, at_ms)

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
        if name == "hs_object_id":
            if value == record.id:
                self._odd_object_ids[record.object_type].discard(record.id)
            else:
                self._odd_object_ids[record.object_type].add(record.id)
        elif name in OBJECT_TYPES[record.object_type].lastmodified and record.archived_ms is None:
            self._live[record.object_type].set(int(record.id), name, self._comparable(record.object_type, name, value))
        record.history += (name, "" if value is None else value, at_ms, source)

    def _comparable(self, object_type: str, name: str, value: str | None) -> Any:
        """An indexed property's value as search compares it (``values.stored_comparable``)."""
        if value is None:
            return None
        return values.stored_comparable(self.definition(object_type, name), value)

    def _indexed_values(self, record: Record) -> dict[str, Any]:
        return {name: self._comparable(record.object_type, name, record.properties.get(name))
                for name in OBJECT_TYPES[record.object_type].lastmodified}

    # --- indexes (see :mod:`.index`) -------------------------------------------------------------

    def live_index(self, object_type: str) -> IdBlocks:
        """The live records' ids, ascending, with their last-modified stamps."""
        return self._live[object_type]

    def archived_ids(self, object_type: str) -> list[int]:
        """The archived records' ids, ascending."""
        return self._archived_ids[object_type]

    def ids_are_object_ids(self, object_type: str) -> bool:
        """Whether creation order is id order and every record's ``hs_object_id`` is its id: then
        search's default order and ``hs_object_id`` filters and sorts follow the id index."""
        return self._in_id_order[object_type] and not self._odd_object_ids[object_type]

    def record(self, object_type: str, record_id: int | str) -> Record:
        """A record by id, live or archived (ids from the indexes)."""
        return self._records[object_type][str(record_id)]

    # --- associations -----------------------------------------------------------------------

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, *, at_ms: int | None = None) -> None:
        """Associations are stored in both directions, as HubSpot reports them either way.

        Associating an engagement with a contact is "logging" it for the contact: HubSpot then
        recalculates the contact's activity roll-ups (:data:`ACTIVITY_ROLLUPS`), and, as
        ``hs_lastmodifieddate`` is the "Most recent timestamp of any property update for this
        contact. This includes HubSpot internal properties", the contact's last-modified dates
        move to ``at_ms`` (the association's commit; seeding passes the engagement's own stamp).
        HubSpot's KB names this change source "Activities: the property was updated through
        processing of activity rollup properties". HubSpot may recalculate a moment later; the
        emulator does it in the same commit.
        """
        with self.lock:
            self.version += 1
            new = to_id not in self._associations[(from_type, from_id, to_type)]
            self._associations[(from_type, from_id, to_type)][to_id] = None
            self._associations[(to_type, to_id, from_type)][from_id] = None
            if not new:
                return
            if from_type == "contacts" and to_type in ACTIVITY_ROLLUP_TYPES:
                self._roll_up(from_id, at_ms)
            elif to_type == "contacts" and from_type in ACTIVITY_ROLLUP_TYPES:
                self._roll_up(to_id, at_ms)
            elif {from_type, to_type} == {"contacts", "companies"}:
                contact_id, company_id = (from_id, to_id) if from_type == "contacts" else (to_id, from_id)
                self._company_joined(contact_id, company_id, at_ms)

    # --- companies: the primary company and the contact count ---------------------------------

    def _company_joined(self, contact_id: str, company_id: str, at_ms: int | None) -> None:
        """A contact newly associated with a company. The company's ``num_associated_contacts``
        is recounted (a calculated property: its change stamps the company, as any property
        update does). A contact without a primary company gets this one as its primary.

        Reading taken for the primary: HubSpot documents the unlabeled type (279) as "an
        association type added when any contact ... is associated" and the primary (1) as "the
        main company that the other record is associated with"; it does not say what a first
        unlabeled association makes of a contact with no company. Its SDK's issue tracker reports
        the association always becoming the primary (HubSpot/hubspot-api-nodejs#176, v3's
        ``contact_to_company``); the emulator makes the first company primary, which also moves
        ``associatedcompanyid`` and so the contact's last-modified dates: the harder case for a
        client, which must then see the contact change."""
        at_ms = at_ms if at_ms is not None else self.write_ms()
        self._count_contacts(company_id, at_ms)
        contact = self.get("contacts", contact_id)
        if contact is not None and self.primary_company(contact_id) is None:
            self._set_primary(contact, company_id, at_ms)

    def primary_company(self, contact_id: str) -> str | None:
        """The id of the contact's primary company, while that company exists."""
        contact = self.get("contacts", contact_id)
        company_id = contact.properties.get("associatedcompanyid") if contact is not None else None
        return company_id if company_id and self.get("companies", company_id) is not None else None

    def set_primary_company(self, contact_id: str, company_id: str, *, at_ms: int | None = None) -> None:
        """Make ``company_id`` the contact's primary company (associating them first if need be).

        The former primary stays associated, unlabeled ("For records with multiple associated
        companies, this API supports changing which company is considered the primary": the v4
        associations guide). ``associatedcompanyid``, "Primary Associated Company ID", follows the
        primary association (read-only since 2019: "all associations ... managed through a single
        system: the CRM Associations API", developer changelog); a change of it is a property
        update, and ``lastmodifieddate`` is the "Most recent timestamp of any property update for
        this contact. This includes HubSpot internal properties", so the contact's last-modified
        dates move to ``at_ms``. Setting the primary it already has changes nothing."""
        with self.lock:
            at_ms = at_ms if at_ms is not None else self.write_ms()
            contact = self.get("contacts", contact_id)
            if contact is None or self.get("companies", company_id) is None:
                raise KeyError(contact_id if contact is None else company_id)
            # Mark the primary first, so the association below does not pick a primary of its own.
            self._set_primary(contact, company_id, at_ms)
            self.associate("contacts", contact_id, "companies", company_id, at_ms=at_ms)

    def _set_primary(self, contact: Record, company_id: str, at_ms: int) -> None:
        if contact.properties.get("associatedcompanyid") == company_id:
            return
        self._set(contact, "associatedcompanyid", company_id, at_ms, SOURCE_CALCULATED)
        if at_ms >= contact.updated_ms:
            self.touch(contact, at_ms)

    def _count_contacts(self, company_id: str, at_ms: int) -> None:
        """``num_associated_contacts`` of a company, recounted; a change stamps the company."""
        company = self.get("companies", company_id)
        if company is None:
            return
        count = len(self.associated("companies", company_id, "contacts"))
        value = str(count) if count else None
        if company.properties.get("num_associated_contacts") == value:
            return
        self._set(company, "num_associated_contacts", value, at_ms, SOURCE_CALCULATED)
        if at_ms >= company.updated_ms:
            self.touch(company, at_ms)

    def _roll_up(self, contact_id: str, at_ms: int | None) -> None:
        contact = self.get("contacts", contact_id)
        if contact is None:
            return
        at_ms = at_ms if at_ms is not None else self.write_ms()
        found: dict[str, str | None] = {}
        engagements = {kind: [self.get(kind, i) for i in self._associations.get(("contacts", contact_id, kind), {})]
                       for kind in ACTIVITY_ROLLUP_TYPES}
        for name, (kinds, how) in ACTIVITY_ROLLUPS.items():
            records = [r for kind in kinds for r in engagements[kind] if r is not None]
            if how == "count":
                found[name] = str(len(records)) if records else None
                continue
            if how == "replied":
                records = [r for r in records if r.properties.get("hs_email_direction") == "INCOMING_EMAIL"]
            stamps = [values.parse_instant(r.properties["hs_timestamp"]) for r in records
                      if r.properties.get("hs_timestamp")]
            found[name] = values.iso_ms(max(stamps)) if stamps else None
        changed = {k: v for k, v in found.items() if contact.properties.get(k) != v}
        if not changed:
            return
        self._set_all(contact, changed, at_ms, SOURCE_CALCULATED)
        if at_ms > contact.updated_ms:
            self.touch(contact, at_ms)

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
                    for value, ms, source in reversed(record.changes_of(name))
                ]
                for name in with_history
                if self.definition(record.object_type, name) is not None
            }
        return body

    def snapshot(self, record: Record) -> dict[str, str | None]:
        """Every defined property of a record, ``None`` where it has no value."""
        return {name: record.properties.get(name) for name in self._definitions[record.object_type]}
