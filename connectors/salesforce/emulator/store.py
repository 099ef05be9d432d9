"""The org's data: records, schema (with custom fields), field-level security and audit stamps.

The store knows Salesforce's data rules but nothing of HTTP. Writers validate a whole record
with :meth:`Store.prepare` before :meth:`Store.apply` mutates anything, so a rejected record (or
an all-or-none request with one) changes nothing.

Audit stamps. ``CreatedDate``, ``LastModifiedDate`` and ``SystemModstamp`` are whole seconds, as
the API always answers them (``...:32.000+0000``), so records saved in the same second share a
stamp, and one transaction stamps all its records alike. Every save is stamped with the org's
clock at commit: never ahead of it, never earlier than a stamp already given, and a record's
stamps never move back (two saves in one second share it, as in Salesforce). Seeded history lies
at or before the clock.

Activity roll-up. ``LastActivityDate`` on a Lead or Contact is, per the object reference, "whichever
is the most recent: Due date of the most recent event logged against the record. Due date of the
most recently closed task associated with the record." Saving or deleting a Task or Event
recalculates it for its ``WhoId``, and Salesforce's help article "Difference between SystemModStamp
and LastModifiedDate" (000387261) lists "The 'LastActivityDate' field is modified" among the
automated updates that move ``SystemModstamp`` but not ``LastModifiedDate``, so that is what
changes, and nothing more: an open Task moves neither. (The article adds "This can happen
asynchronously in some cases"; the emulator recalculates in the same commit.)
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from leadscore.connectors.salesforce.emulator import ids, permissions, values
from leadscore.connectors.salesforce.emulator.index import STAMPS, Snapshots, Table, Values
from leadscore.connectors.salesforce.emulator.schema import (
    CONVERTED_LEAD_STATUSES, FieldDef, SObjectDef, custom_field_entity, standard_objects)
from leadscore.connectors.salesforce.emulator.values import FieldProblem

#: CampaignMember statuses that count as a response (the org's member status settings).
RESPONDED_STATUSES = frozenset({"Responded", "Registered", "Attended"})
CLOSED_TASK_STATUSES = frozenset({"Completed"})
STAGE_PROBABILITY = {"Prospecting": 10, "Qualification": 10, "Needs Analysis": 20, "Value Proposition": 50,
                     "Id. Decision Makers": 60, "Perception Analysis": 70, "Proposal/Price Quote": 75,
                     "Negotiation/Review": 90, "Closed Won": 100, "Closed Lost": 0}

FLS_NONE, FLS_READ, FLS_EDIT = "none", "read", "edit"
#: A save giving a Lead a converted status. Salesforce sets one only by converting the Lead
#: (``convertLead()``'s ``convertedStatus``: "Valid LeadStatus value for a converted lead. Required."),
#: and the UI offers none on edit; the documentation is silent on what a plain update doing it
#: answers, so the emulator takes the case harder for a client and refuses it with the API's
#: generic code for a value the record's state does not allow (message the emulator's own).
CONVERTED_STATUS = FieldProblem("FIELD_INTEGRITY_EXCEPTION", "A converted lead status can be set only by converting "
                                "the lead", ("Status",))
#: When the emulated org (and its pre-existing custom fields) came to be: 2024-01-01T00:00:00Z.
ORG_CREATED_MS = 1_704_067_200_000


class Record:
    """One record: its sObject, id and stored values (a :class:`~.index.Values`, whose changes
    its :class:`~.index.Table` hears of), its place in the org's default order (``seq``)."""

    __slots__ = ("sobject", "id", "values", "seq", "table")

    def __init__(self, sobject: str, id: str, values: Mapping[str, Any] | None = None) -> None:
        self.sobject = sobject
        self.id = id
        self.values = Values(values or ())
        self.seq = 0
        self.table: Table | None = None

    def __repr__(self) -> str:
        return f"Record({self.sobject!r}, {self.id!r}, {dict(self.values)!r})"

    @property
    def deleted(self) -> bool:
        return bool(self.values.get("IsDeleted"))


@dataclass(frozen=True)
class Prepared:
    """A record's write after validation: the stored changes, or why it cannot be saved."""

    changes: dict[str, Any]
    problems: tuple[FieldProblem, ...]


class Store:
    """Thread-safe in-memory org. Every public method takes the lock; so can callers (RLock)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self.ids = ids.IdFactory()
        self.schema: dict[str, SObjectDef] = standard_objects()
        self.tooling_schema: dict[str, SObjectDef] = {"CustomField": custom_field_entity()}
        #: What live query locators read as it was (see :mod:`.index`).
        self.snapshots = Snapshots()
        self.tables: dict[str, Table] = {name: Table(name, self.snapshots) for name in [*self.schema, "CustomField"]}
        #: sObject -> id -> record, in creation order (each table's own dict).
        self.records: dict[str, dict[str, Record]] = {name: table.records for name, table in self.tables.items()}
        #: sObject -> (field count, the values every new record starts with): see ``create``.
        self._templates: dict[str, tuple[int, dict[str, Any]]] = {}
        self.fls: dict[str, str] = {}
        self.writes: Counter[str] = Counter()
        self.org_id = self.ids.new("Organization")
        self.integration_user = self.ids.new("User")
        self.sales_user = self.ids.new("User")
        #: The integration user holds "Manage Profiles and Permission Sets" and "Assign Permission Sets".
        self.manages_permissions = True
        self._high_water = 0
        self._register_custom_fields()
        self._register_lead_statuses()

    def _register_custom_fields(self) -> None:
        """The ``CustomField`` (Tooling) records of custom fields the org starts with (the BANT
        fields an admin created before the integration arrived)."""
        for sobject in self.schema.values():
            for definition in sobject.fields.values():
                if definition.custom:
                    metadata = {"label": definition.label, "type": "Text", "length": definition.length}
                    self.create("CustomField", {
                        "DeveloperName": definition.name[:-3], "TableEnumOrId": sobject.name, "NamespacePrefix": None,
                        "FullName": f"{sobject.name}.{definition.name}", "Metadata": metadata,
                        "Description": None, "ManageableState": "unmanaged"}, by=self.sales_user, at_ms=ORG_CREATED_MS)

    def _register_lead_statuses(self) -> None:
        """One ``LeadStatus`` per ``Lead.Status`` value, in the picklist's order (``SortOrder``
        1, 2, ...), the converted ones flagged (:data:`schema.CONVERTED_LEAD_STATUSES`)."""
        for order, value in enumerate(self.schema["Lead"].fields["Status"].picklist, start=1):
            self.create("LeadStatus", {"ApiName": value.value, "MasterLabel": value.label, "SortOrder": order,
                                       "IsDefault": value.default, "IsConverted": value.value in CONVERTED_LEAD_STATUSES},
                        by=self.sales_user, at_ms=ORG_CREATED_MS)

    def converted_statuses(self) -> frozenset[str]:
        """The Lead Status values that represent a converted lead, ignoring case."""
        return frozenset(str(r.values.get("ApiName")).lower() for r in self.rows("LeadStatus", deleted=False)
                         if r.values.get("IsConverted"))

    # --- schema and field-level security -------------------------------------------------------------

    def sobject(self, name: str) -> SObjectDef | None:
        """sObject by name, case-insensitively (the API's object names ignore case)."""
        found = self.schema.get(name)
        if found is None:
            found = next((d for n, d in self.schema.items() if n.lower() == name.lower()), None)
        return found

    def tooling_sobject(self, name: str) -> SObjectDef | None:
        return next((d for n, d in self.tooling_schema.items() if n.lower() == name.lower()), None)

    def access(self, sobject: str, field_name: str) -> str:
        """The integration user's field-level security on a field: its profile's (``fls``; edit
        unless a field says otherwise), widened by the permission sets assigned to it."""
        key = f"{sobject}.{field_name}"
        base = self.fls.get(key, FLS_EDIT)
        if base == FLS_EDIT:
            return base
        return permissions.stronger(base, permissions.granted(self).get(key, FLS_NONE))

    def visible(self, sobject: SObjectDef, definition: FieldDef) -> bool:
        return sobject.tooling or self.access(sobject.name, definition.name) != FLS_NONE

    def updateable(self, sobject: SObjectDef, definition: FieldDef) -> bool:
        return definition.updateable and self.access(sobject.name, definition.name) == FLS_EDIT

    def createable(self, sobject: SObjectDef, definition: FieldDef) -> bool:
        return definition.createable and self.access(sobject.name, definition.name) == FLS_EDIT

    # --- stamps ----------------------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def stamp(self) -> int:
        """One transaction's audit stamp: whole seconds, never before any stamp already given."""
        with self.lock:
            now = int(self._clock()) * 1000
            self._high_water = max(self._high_water, now)
            return self._high_water

    def history_ceiling(self, as_of_ms: int | None) -> int:
        """The latest stamp seeded history may carry: ``as_of`` or now, never ahead of the clock
        (seeded stamps ahead of it would put every later save in the future too)."""
        now = self.now_ms()
        if as_of_ms is not None and as_of_ms > now:
            raise ValueError(f"as_of {values.iso_ms(as_of_ms)} lies ahead of the emulator's clock "
                             f"({values.iso_ms(now)}): seeded history must lie in the past")
        return now if as_of_ms is None else as_of_ms

    def note_stamp(self, ms: int) -> None:
        with self.lock:
            self._high_water = max(self._high_water, ms)

    # --- reads -------------------------------------------------------------------------------------------------

    def get(self, sobject: str, record_id: str, *, deleted: bool = False) -> Record | None:
        normalised = ids.normalise(record_id)
        if normalised is None:
            return None
        record = self.records.get(sobject, {}).get(normalised)
        if record is None or (record.deleted and not deleted):
            return None
        return record

    def find(self, record_id: str) -> Record | None:
        """A record of any object by id (deleted ones too)."""
        normalised = ids.normalise(record_id)
        if normalised is None:
            return None
        sobject = ids.OBJECT_BY_PREFIX.get(normalised[:3])
        return self.records.get(sobject or "", {}).get(normalised)

    def rows(self, sobject: str, *, deleted: bool) -> Iterator[Record]:
        for record in self.records.get(sobject, {}).values():
            if deleted or not record.deleted:
                yield record

    def build_indexes(self, fields: Mapping[str, Iterable[str]]) -> None:
        """Build now the indexes of these fields (by sObject) that queries would build when first
        needing them: a stamp's (``SystemModstamp``...) or a reference field's (``WhoId``...)."""
        with self.lock:
            for sobject, names in fields.items():
                table = self.tables[sobject]
                for name in names:
                    if name in STAMPS:
                        table.stamp_index(name)
                    else:
                        table.reference_index(name)

    def having(self, sobject: str, field_name: str, value: Any, *, deleted: bool) -> list[Record]:
        """The records of ``sobject`` whose reference ``field_name`` holds ``value``, in the
        default order (what ``rows`` filtered on it gives), from the table's index."""
        found = self.tables[sobject].having(field_name, value)
        return found if deleted else [r for r in found if not r.deleted]

    # --- validation ------------------------------------------------------------------------------------------

    def prepare(self, sobject: SObjectDef, changes: Mapping[str, Any], *, creating: bool,
                enforce_access: bool = True, record: Record | None = None) -> Prepared:
        """Check one record's stored values against the save rules.

        ``changes`` holds canonical field names and already-deserialised values. Non-writable
        fields are reported together in one ``INVALID_FIELD_FOR_INSERT_UPDATE``, the way the
        API names every offending field at once. ``record`` is the one an update saves to. The
        permission objects have rules of their own (:mod:`.permissions`).
        """
        if sobject.name in permissions.PERMISSION_OBJECTS and enforce_access and not self.manages_permissions:
            return Prepared({}, (permissions.INSUFFICIENT_ACCESS,))
        problems: list[FieldProblem] = []
        locked = [name for name in changes if enforce_access and not (
            self.createable(sobject, sobject.fields[name]) if creating else self.updateable(sobject, sobject.fields[name]))]
        if locked:
            problems.append(FieldProblem(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.", tuple(locked)))
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name in locked:
                continue
            saved, problem = values.check(sobject.fields[name], value)
            if problem is not None:
                problems.append(problem)
            else:
                checked[name] = saved
        if creating:
            missing = [d.name for d in sobject.fields.values()
                       if not d.nillable and d.createable and not d.defaulted_on_create and d.type != "boolean"
                       and checked.get(d.name) in (None, "") and not any(p.fields == (d.name,) for p in problems)]
            if missing:
                problems.append(FieldProblem("REQUIRED_FIELD_MISSING",
                                             f"Required fields are missing: [{', '.join(missing)}]", tuple(missing)))
        if sobject.name in permissions.PERMISSION_OBJECTS and not problems:
            checked, own = permissions.save_problems(self, sobject, record, checked, creating=creating)
            problems.extend(own)
        if sobject.name == "Lead" and isinstance(checked.get("Status"), str) \
                and checked["Status"].lower() in self.converted_statuses():
            problems.append(CONVERTED_STATUS)
        return Prepared(checked, tuple(problems))

    # --- writes ----------------------------------------------------------------------------------------------

    def create(self, sobject: str, changes: Mapping[str, Any], *, by: str, at_ms: int,
               created_ms: int | None = None, record_id: str | None = None) -> Record:
        definition = self.schema.get(sobject) or self.tooling_schema[sobject]
        record = Record(sobject, record_id or self.ids.new(sobject))
        stamped = {"Id": record.id, "IsDeleted": False, "CreatedDate": created_ms if created_ms is not None else at_ms,
                   "CreatedById": by, "LastModifiedDate": at_ms, "LastModifiedById": by, "SystemModstamp": at_ms}
        if "OwnerId" in definition.fields:
            stamped["OwnerId"] = by
        stamped.update((k, v) for k, v in self._template(definition).items() if k not in stamped)
        record.values.update(stamped)
        record.values.update({k: v for k, v in changes.items() if k not in ("Id",)})
        if sobject == "EmailMessage":
            record.values.setdefault("Status", "3")
        self._derive(record)
        self.tables[sobject].add(record)
        self.note_stamp(max(at_ms, record.values["SystemModstamp"]))
        self._roll_up_activity(record, None, at_ms)
        return record

    def _template(self, definition: SObjectDef) -> dict[str, Any]:
        """The values a new record of ``definition`` starts with: ``False`` for each boolean, each
        picklist's default. Kept per sObject until its fields change (custom fields are only
        ever added, so their count tells)."""
        held = self._templates.get(definition.name)
        if held is not None and held[0] == len(definition.fields):
            return held[1]
        template: dict[str, Any] = {}
        for name, spec in definition.fields.items():
            if spec.type == "boolean":
                template.setdefault(name, False)
            default = next((p.value for p in spec.picklist if p.default), None)
            if default is not None:
                template.setdefault(name, default)
        self._templates[definition.name] = (len(definition.fields), template)
        return template

    def apply(self, record: Record, changes: Mapping[str, Any], *, by: str, at_ms: int,
              count_as_api: bool = False) -> None:
        """Save an update: the values, then ``LastModifiedDate``/``SystemModstamp`` (an update
        always bumps them, even when no value changes, as any DML update does)."""
        previous_who = record.values.get("WhoId")
        record.values.update(changes)
        stamp = max(at_ms, int(record.values.get("SystemModstamp") or 0))
        record.values["LastModifiedDate"] = stamp
        record.values["LastModifiedById"] = by
        record.values["SystemModstamp"] = stamp
        self.note_stamp(stamp)
        self._derive(record)
        self._roll_up_activity(record, previous_who, stamp)
        if count_as_api:
            for name in changes:
                self.writes[f"{record.sobject}.{name}"] += 1

    def system_touch(self, record: Record, at_ms: int) -> None:
        """A change Salesforce makes itself (delete, conversion roll-ups): ``SystemModstamp`` only."""
        stamp = max(at_ms, int(record.values.get("SystemModstamp") or 0))
        record.values["SystemModstamp"] = stamp
        self.note_stamp(stamp)

    def delete(self, record: Record, at_ms: int, by: str) -> None:
        """To the recycle bin: ``IsDeleted`` set, visible to ``queryAll`` only. Salesforce does
        not document whether a delete moves ``SystemModstamp``; the emulator moves it (with
        ``LastModifiedDate``), and ``queryAll`` shows the deleted record to a stamp window."""
        record.values["IsDeleted"] = True
        record.values["LastModifiedById"] = by
        stamp = max(at_ms, int(record.values.get("SystemModstamp") or 0))
        record.values["LastModifiedDate"] = stamp
        record.values["SystemModstamp"] = stamp
        self.note_stamp(stamp)
        self._roll_up_activity(record, None, stamp)

    def undelete(self, record: Record, at_ms: int, by: str) -> None:
        """Restore from the recycle bin (``undelete()``: "restore any deleted record that is
        undeletable, including those records in the Recycle Bin"). Salesforce does not document
        the stamps an undelete leaves. It is a save by a user (undelete triggers run), and
        ``SystemModstamp`` is the "Date and time when a user or automated process (such as a
        trigger) last modified this record" (System Fields), so the emulator stamps it as an
        update: ``LastModifiedDate``/``SystemModstamp`` move to the restore."""
        record.values["IsDeleted"] = False
        stamp = max(at_ms, int(record.values.get("SystemModstamp") or 0))
        record.values.update({"LastModifiedDate": stamp, "LastModifiedById": by, "SystemModstamp": stamp})
        self.note_stamp(stamp)
        self._roll_up_activity(record, None, stamp)

    # --- activity roll-up --------------------------------------------------------------------------------

    #: While False (seeding writes history it stamps itself), saves do not recalculate roll-ups.
    rollups = True

    def _roll_up_activity(self, record: Record, previous_who: Any, at_ms: int) -> None:
        """``LastActivityDate`` of the Lead or Contact a saved Task or Event names (and of the one
        it named before), with ``SystemModstamp`` moved where it changed (module docstring)."""
        if not self.rollups or record.sobject not in ("Task", "Event"):
            return
        for who in {record.values.get("WhoId"), previous_who} - {None}:
            target = self.find(str(who))
            if target is None or target.sobject not in ("Lead", "Contact") or target.deleted:
                continue
            latest = self.last_activity_date(target.id)
            if latest != target.values.get("LastActivityDate"):
                target.values["LastActivityDate"] = latest
                self.system_touch(target, at_ms)

    def last_activity_date(self, who_id: str) -> str | None:
        """The most recent event's date or closed task's due date for a Lead or Contact."""
        dates = [r.values.get("ActivityDate") for r in self.having("Event", "WhoId", who_id, deleted=False)]
        dates += [r.values.get("ActivityDate") for r in self.having("Task", "WhoId", who_id, deleted=False)
                  if r.values.get("IsClosed")]
        return max((d for d in dates if d), default=None)

    def _derive(self, record: Record) -> None:
        """Fields Salesforce calculates from others."""
        v = record.values
        if record.sobject in ("Lead", "Contact"):
            v["Name"] = " ".join(p for p in (v.get("FirstName"), v.get("LastName")) if p) or None
        elif record.sobject == "Opportunity":
            stage = v.get("StageName")
            v["IsClosed"] = stage in ("Closed Won", "Closed Lost")
            v["IsWon"] = stage == "Closed Won"
            if v.get("Probability") is None and stage in STAGE_PROBABILITY:
                v["Probability"] = float(STAGE_PROBABILITY[stage])
        elif record.sobject == "Task":
            v["IsClosed"] = v.get("Status") in CLOSED_TASK_STATUSES
            if v["IsClosed"] and v.get("CompletedDateTime") is None:
                v["CompletedDateTime"] = v.get("LastModifiedDate")
        elif record.sobject == "CampaignMember":
            v["Type"] = "Contact" if v.get("ContactId") else "Lead"
            v["HasResponded"] = v.get("Status") in RESPONDED_STATUSES
            if v["HasResponded"] and v.get("FirstRespondedDate") is None:
                v["FirstRespondedDate"] = values.date_of_ms(int(v.get("LastModifiedDate") or 0))
        elif record.sobject == "Event":
            start = v.get("StartDateTime")
            if start is not None:
                v["ActivityDateTime"] = start
                v["ActivityDate"] = values.date_of_ms(int(start))
                if v.get("EndDateTime") is None and v.get("DurationInMinutes") is not None:
                    v["EndDateTime"] = int(start) + int(v["DurationInMinutes"]) * 60_000
                if v.get("EndDateTime") is not None:
                    v["DurationInMinutes"] = int((int(v["EndDateTime"]) - int(start)) // 60_000)

    # --- custom fields -------------------------------------------------------------------------------------

    def add_custom_field(self, sobject: str, definition: FieldDef, *, access: str, at_ms: int) -> Record:
        """Add the field to the object and its ``CustomField`` (Tooling) record; the record."""
        self.schema[sobject].fields[definition.name] = definition
        self._templates.pop(sobject, None)
        if access != FLS_EDIT:
            self.fls[f"{sobject}.{definition.name}"] = access
        metadata = dict(definition.metadata or {"label": definition.label})
        tooling = {"DeveloperName": definition.name[:-3], "TableEnumOrId": sobject, "NamespacePrefix": None,
                   "FullName": f"{sobject}.{definition.name}", "Metadata": metadata,
                   "Description": metadata.get("description"), "ManageableState": "unmanaged"}
        return self.create("CustomField", tooling, by=self.integration_user, at_ms=at_ms)

    def custom_field_record(self, sobject: str, name: str) -> Record | None:
        return next((r for r in self.records["CustomField"].values()
                     if r.values["TableEnumOrId"] == sobject and r.values["DeveloperName"].lower() == name.lower()),
                    None)
