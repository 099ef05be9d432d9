"""The endpoints: routing and HubSpot's documented semantics per endpoint, free of HTTP details.

Each handler validates the whole request before touching data, so an answer of 4xx leaves the
portal as it was. Behaviours and the sources they follow:

- batch endpoints take at most 100 inputs ("Object API batch endpoints are limited to 100
  inputs per request"); v4 association batch reads at most 1,000 (developer changelog,
  February 2025);
- batch read answers ``207`` with one ``OBJECT_NOT_FOUND`` error listing the missing ids in
  ``context.ids`` ("Could not get some CONTACT objects, they may be deleted or not exist.");
- batch update answers ``200`` when every update applied and ``207 Multi-Status`` "when one or
  more of the batch operations fails" (changelog "Simplifying batch update response codes for
  CRM v3 APIs"): ids that do not exist are reported like batch read's, the rest applied.
  Invalid property values fail the whole batch with ``400`` (nothing applied), as the guide's
  ``VALIDATION_ERROR`` example shows for single writes; HubSpot documents per-input partial
  failure only for batch *create* with ``objectWriteTraceId``, which is implemented too;
- a new contact whose email exists answers ``409 CONFLICT`` "Contact already exists. Existing
  ID: ..."; an update that would copy another record's unique value answers ``400``;
- properties and property groups answer ``409`` on a duplicate name; a property's definition
  can be updated (``PATCH``) unless it is read-only (HubSpot's own);
- contact-company associations carry the primary type beside the unlabeled one (1 and 279 from
  the contact, 2 and 280 from the company); a primary set on create (``associations`` with type
  1 or 2) or with ``PUT /crm/v4/objects/{t}/{id}/associations/{to}/{toId}`` ("Set association
  labels between two records") moves ``associatedcompanyid`` (see ``Store.set_primary_company``).
"""

from __future__ import annotations

import copy
import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import unquote

from leadscore.connectors import emulation
from leadscore.connectors.emulation import Answer
from leadscore.connectors.hubspot.emulator import values
from leadscore.connectors.hubspot.emulator.errors import (
    ApiError,
    batch_error,
    conflict,
    error_body,
    not_found,
    property_values_error,
    property_values_message,
    validation_error,
)
from leadscore.connectors.hubspot.emulator.schema import (
    ASSOCIATION_TYPE_IDS,
    PRIMARY_ASSOCIATION_TYPE_IDS,
    PRIMARY_LABEL,
    ObjectType,
    property_definition,
    resolve_object_type,
)
from leadscore.connectors.hubspot.emulator.search import search
from leadscore.connectors.hubspot.emulator.store import Record, Store

BATCH_LIMIT = 100
ASSOCIATION_BATCH_LIMIT = 1000
LIST_DEFAULT_LIMIT = 10
LIST_MAX_LIMIT = 100
ASSOCIATION_PAGE_LIMIT = 500


@dataclass(frozen=True)
class Call(emulation.Call):
    """One request as the handlers see it: JSON already parsed."""

    body: Any = None

    def listed(self, name: str) -> list[str]:
        """A list query parameter, repeated (``?p=a&p=b``, as the SDK sends) or comma separated."""
        return [part for raw in self.query.get(name, ()) for part in raw.split(",") if part]

    def flag(self, name: str) -> bool:
        return (self.param(name) or "false").lower() == "true"


@dataclass(frozen=True)
class Route:
    """Where a request goes and how it is metered."""

    endpoint: str  # endpoint family for the request log, e.g. "contacts.batch.update"
    handler: Callable[[Call], Answer]
    search: bool = False  # search: its own per-second limit, no rate-limit headers
    burst_exempt: bool = False  # exempt from the ten-secondly limit
    public: bool = False  # no bearer token and outside the account's API limits (the OAuth token endpoint)
    form: bool = False  # the body is application/x-www-form-urlencoded, not JSON


class Api:
    def __init__(self, store: Store, *, portal_id: int, base_url: Callable[[], str]) -> None:
        self.store = store
        self.portal_id = portal_id
        self._base_url = base_url
        self._router: emulation.Router[Callable[..., Route]] = emulation.Router([
            ("POST", "/crm/v3/objects/{t}/search", self._r_search),
            ("POST", "/crm/v3/objects/{t}/batch/{op}", self._r_batch),
            ("GET", "/crm/v3/objects/{t}", self._r_list),
            ("POST", "/crm/v3/objects/{t}", self._r_create),
            ("GET", "/crm/v3/objects/{t}/{id}", self._r_get),
            ("PATCH", "/crm/v3/objects/{t}/{id}", self._r_update),
            ("DELETE", "/crm/v3/objects/{t}/{id}", self._r_archive),
            ("GET", "/crm/v3/properties/{t}/groups", self._r_groups),
            ("POST", "/crm/v3/properties/{t}/groups", self._r_group_create),
            ("GET", "/crm/v3/properties/{t}/groups/{n}", self._r_groups),
            ("GET", "/crm/v3/properties/{t}", self._r_properties),
            ("POST", "/crm/v3/properties/{t}", self._r_property_create),
            ("GET", "/crm/v3/properties/{t}/{n}", self._r_properties),
            ("PATCH", "/crm/v3/properties/{t}/{n}", self._r_property_update),
            ("POST", "/crm/v4/associations/{t}/{to}/batch/read", self._r_association_batch),
            ("GET", "/crm/v4/objects/{t}/{id}/associations/{to}", self._r_association_list),
            # v3 and its dated successors (/account-info/2026-03/details).
            ("GET", r"/account-info/{version:v3|\d\d\d\d-\d\d}/details", self._r_account_details),
            ("PUT", "/crm/v4/objects/{t}/{id}/associations/default/{to}/{to_id}", self._r_association_default),
            ("PUT", "/crm/v4/objects/{t}/{id}/associations/{to}/{to_id}", self._r_association_labelled),
        ])

    # --- routing -----------------------------------------------------------------------------

    def route(self, method: str, path: str) -> Route:
        found = self._router.match(method, path)
        if found.target is None:
            return Route("unknown", _unknown_route)
        return found.target(**found.params)

    def _kind(self, segment: str) -> ObjectType:
        kind = resolve_object_type(segment)
        if kind is None:
            raise validation_error(f"Unable to infer object type from: {segment}")
        return kind

    def _typed(self, segment: str, suffix: str, handler: Callable[[ObjectType, Call], Answer], **route: Any) -> Route:
        kind = resolve_object_type(segment)
        endpoint = f"{kind.name if kind else segment}.{suffix}"
        return Route(endpoint, lambda call: handler(self._kind(segment), call), **route)

    def _r_search(self, t: str) -> Route:
        # Search is exempt from the ten-secondly limit and has its own (x-hubspot-rate-limit-exemptions).
        return self._typed(t, "search", lambda kind, call: Answer(200, search(self.store, kind, call.body)),
                           search=True, burst_exempt=True)

    def _r_batch(self, t: str, op: str) -> Route:
        handlers = {"read": self.batch_read, "update": self.batch_update, "create": self.batch_create,
                    "upsert": self.batch_upsert, "archive": self.batch_archive}
        if op not in handlers:
            return Route("unknown", _unknown_route)
        return self._typed(t, f"batch.{op}", handlers[op])

    def _r_list(self, t: str) -> Route:
        return self._typed(t, "list", self.list_objects)

    def _r_create(self, t: str) -> Route:
        return self._typed(t, "create", self.create_object)

    def _r_get(self, t: str, id: str) -> Route:
        return self._typed(t, "get", lambda kind, call: self.get_object(kind, unquote(id), call))

    def _r_update(self, t: str, id: str) -> Route:
        return self._typed(t, "update", lambda kind, call: self.update_object(kind, unquote(id), call))

    def _r_archive(self, t: str, id: str) -> Route:
        return self._typed(t, "archive", lambda kind, call: self.archive_object(kind, unquote(id)))

    def _r_properties(self, t: str, n: str | None = None) -> Route:
        return Route("properties.read", lambda call: self.read_properties(self._kind(t), n and unquote(n), call))

    def _r_property_create(self, t: str) -> Route:
        return Route("properties.create", lambda call: self.create_property(self._kind(t), call))

    def _r_property_update(self, t: str, n: str) -> Route:
        return Route("properties.update", lambda call: self.update_property(self._kind(t), unquote(n), call))

    def _r_groups(self, t: str, n: str | None = None) -> Route:
        return Route("properties.groups.read", lambda call: self.read_groups(self._kind(t), n and unquote(n)))

    def _r_group_create(self, t: str) -> Route:
        return Route("properties.groups.create", lambda call: self.create_group(self._kind(t), call))

    def _r_association_batch(self, t: str, to: str) -> Route:
        return Route("associations.batch.read",
                     lambda call: self.association_batch_read(self._kind(t), self._kind(to), call), burst_exempt=True)

    def _r_account_details(self, version: str) -> Route:
        return Route("account.details", lambda call: self.account_details())

    def account_details(self) -> Answer:
        """``GET /account-info/v3/details`` (and its dated successors, ``/account-info/2026-03/details``):
        "Retrieve account details such as the account type, time zone, currencies, and data
        hosting location"; every field the reference marks required."""
        return Answer(200, {"portalId": self.portal_id, "accountType": "STANDARD", "timeZone": "US/Eastern",
                            "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
                            "utcOffsetMilliseconds": -18_000_000, "uiDomain": "app.hubspot.com",
                            "dataHostingLocation": "na1"})

    def _r_association_default(self, t: str, id: str, to: str, to_id: str) -> Route:
        return Route("associations.create",
                     lambda call: self.associate_default(self._kind(t), unquote(id), self._kind(to), unquote(to_id)))

    def _r_association_labelled(self, t: str, id: str, to: str, to_id: str) -> Route:
        return Route("associations.create",
                     lambda call: self.associate_labelled(self._kind(t), unquote(id), self._kind(to), unquote(to_id), call))

    def _r_association_list(self, t: str, id: str, to: str) -> Route:
        return Route("associations.list",
                     lambda call: self.association_list(self._kind(t), unquote(id), self._kind(to), call))

    # --- objects: single -------------------------------------------------------------------------

    def list_objects(self, kind: ObjectType, call: Call) -> Answer:
        limit = _int_param(call.param("limit"), LIST_DEFAULT_LIMIT, "limit")
        if not 1 <= limit <= LIST_MAX_LIMIT:
            # Reading taken: an out-of-range page size is refused rather than silently capped.
            raise validation_error(f"limit must be between 1 and {LIST_MAX_LIMIT}, got {limit}")
        after = call.param("after")
        if after is not None and not after.isdigit():
            raise validation_error(f"Invalid after value: {after}")
        requested = call.listed("properties") or None
        history = call.listed("propertiesWithHistory")
        associations = call.listed("associations")
        with self.store.lock:
            # "This value is the Record ID of the next record": pages run in record-id order,
            # read from the store's id indexes (live or archived ids, ascending).
            first = int(after) if after is not None else -1
            if call.flag("archived"):
                archived = self.store.archived_ids(kind.name)
                start = bisect_left(archived, first)
                ids = archived[start:start + limit + 1]
            else:
                ids = self.store.live_index(kind.name).after(first, limit + 1)
            records = [self.store.record(kind.name, i) for i in ids]
            page, rest = records[:limit], records[limit:limit + 1]
            results = [self._with_associations(kind, r, self.store.present(r, requested, with_history=history),
                                               associations) for r in page]
        body: dict[str, Any] = {"results": results}
        if rest:
            next_id = rest[0].id
            body["paging"] = {"next": {"after": next_id,
                                       "link": f"{self._base_url()}/crm/v3/objects/{kind.name}?limit={limit}&after={next_id}"}}
        return Answer(200, body)

    def get_object(self, kind: ObjectType, record_id: str, call: Call) -> Answer:
        with self.store.lock:
            record = self.store.find(kind.name, call.param("idProperty"), record_id, archived=call.flag("archived"))
            if record is None:
                raise not_found()
            body = self.store.present(record, call.listed("properties") or None,
                                      with_history=call.listed("propertiesWithHistory"))
            return Answer(200, self._with_associations(kind, record, body, call.listed("associations")))

    def create_object(self, kind: ObjectType, call: Call) -> Answer:
        body = _object(call.body)
        properties = _properties_of(body)
        validated = self.store.validate(kind.name, properties, creating=True)
        if validated.problems:
            raise property_values_error(validated.problems, self.portal_id)
        targets = self._association_targets(kind, body.get("associations") or [])
        with self.store.lock:
            self._refuse_existing(kind, validated.changes)
            at_ms = self.store.write_ms()
            record = self.store.create(kind.name, validated.changes, at_ms=at_ms)
            self._associate_all(kind, record.id, targets, at_ms)
            self.store.count_writes(properties)
            return Answer(201, self.store.present(record, list(properties) or None))

    def update_object(self, kind: ObjectType, record_id: str, call: Call) -> Answer:
        properties = _properties_of(_object(call.body))
        validated = self.store.validate(kind.name, properties)
        if validated.problems:
            raise property_values_error(validated.problems, self.portal_id)
        with self.store.lock:
            record = self.store.find(kind.name, call.param("idProperty"), record_id)
            if record is None:
                raise not_found()
            self._refuse_taken(kind, {record.id: validated.changes})
            self.store.update(record, validated.changes, at_ms=self.store.write_ms())
            self.store.count_writes(properties)
            return Answer(200, self.store.present(record, list(properties) or None))

    def archive_object(self, kind: ObjectType, record_id: str) -> Answer:
        with self.store.lock:
            record = self.store.get(kind.name, record_id)
            if record is not None:
                self.store.archive(record, self.store.write_ms())
        return Answer(204)

    # --- objects: batch -------------------------------------------------------------------------

    def batch_read(self, kind: ObjectType, call: Call) -> Answer:
        body = _object(call.body)
        inputs = _inputs(body, BATCH_LIMIT)
        requested = _names(body.get("properties"), "properties") or None
        history = _names(body.get("propertiesWithHistory"), "propertiesWithHistory")
        id_property = body.get("idProperty")
        if id_property is not None and id_property not in self.store.unique_properties(kind.name):
            raise validation_error(f"{id_property} is not a unique identifier property of {kind.name}")
        started = self._now()
        with self.store.lock:
            found: dict[str, Record] = {}
            missing: list[str] = []
            for item in inputs:
                wanted = _input_id(item)
                record = self.store.find(kind.name, id_property, wanted, archived=call.flag("archived"))
                if record is None:
                    missing.append(wanted)
                else:
                    found.setdefault(record.id, record)
            results = [self.store.present(r, requested, with_history=history) for r in found.values()]
        errors = [self._not_found_error(kind, missing)] if missing else []
        return self._batch_answer(results, errors, started, ok_status=200)

    def batch_update(self, kind: ObjectType, call: Call) -> Answer:
        inputs = _inputs(_object(call.body), BATCH_LIMIT)
        updates: list[tuple[dict[str, Any], dict[str, str | None], str | None, str]] = []
        problems = []
        for item in inputs:
            properties = _properties_of(item)
            validated = self.store.validate(kind.name, properties)
            problems.extend(validated.problems)
            updates.append((properties, validated.changes, item.get("idProperty"), _input_id(item)))
        if problems:
            raise property_values_error(problems, self.portal_id)
        _refuse_duplicates([u[3] for u in updates])
        started = self._now()
        with self.store.lock:
            targets: list[tuple[Record, dict[str, Any], dict[str, str | None]]] = []
            missing: list[str] = []
            for properties, changes, id_property, wanted in updates:
                record = self.store.find(kind.name, id_property, wanted)
                if record is None:
                    missing.append(wanted)
                else:
                    targets.append((record, properties, changes))
            self._refuse_taken(kind, {record.id: changes for record, _, changes in targets})
            at_ms = self.store.write_ms()
            results = []
            for record, properties, changes in targets:
                self.store.update(record, changes, at_ms=at_ms)
                self.store.count_writes(properties)
                results.append(self.store.present(record, list(properties) or None))
        errors = [self._not_found_error(kind, missing)] if missing else []
        return self._batch_answer(results, errors, started, ok_status=200)

    def batch_create(self, kind: ObjectType, call: Call) -> Answer:
        inputs = _inputs(_object(call.body), BATCH_LIMIT)
        # "include a unique objectWriteTraceId value for each input" to opt into multi-status.
        multi_status = bool(inputs) and all(isinstance(i, dict) and i.get("objectWriteTraceId") for i in inputs)
        planned: list[tuple[dict[str, Any], dict[str, str | None], list[tuple[str, str]], str | None]] = []
        errors: list[dict[str, Any]] = []
        all_problems = []
        for item in inputs:
            properties = _properties_of(item)
            validated = self.store.validate(kind.name, properties, creating=True)
            trace = item.get("objectWriteTraceId")
            if validated.problems:
                all_problems.extend(validated.problems)
                errors.append(batch_error("VALIDATION_ERROR", property_values_message(validated.problems, self.portal_id),
                                          {"objectWriteTraceId": [str(trace)]}))
                continue
            targets = self._association_targets(kind, item.get("associations") or [])
            planned.append((properties, validated.changes, targets, trace))
        if all_problems and not multi_status:
            raise property_values_error(all_problems, self.portal_id)
        started = self._now()
        with self.store.lock:
            seen: dict[str, str] = {}
            for properties, changes, _, trace in list(planned):
                owner = self._existing_owner(kind, changes) or _duplicate_in_batch(changes, seen)
                if owner is None:
                    continue
                if not multi_status:
                    raise conflict(f"{kind.singular.capitalize()} already exists. Existing ID: {owner}")
                planned = [p for p in planned if p[3] != trace]
                errors.append(batch_error("CONFLICT", f"{kind.singular.capitalize()} already exists. Existing ID: {owner}",
                                          {"objectWriteTraceId": [str(trace)]}))
            at_ms = self.store.write_ms()
            results = []
            for properties, changes, targets, trace in planned:
                record = self.store.create(kind.name, changes, at_ms=at_ms)
                self._associate_all(kind, record.id, targets, at_ms)
                self.store.count_writes(properties)
                presented = self.store.present(record, list(properties) or None)
                if trace:
                    presented["objectWriteTraceId"] = str(trace)
                results.append(presented)
        return self._batch_answer(results, errors, started, ok_status=201)

    def batch_upsert(self, kind: ObjectType, call: Call) -> Answer:
        inputs = _inputs(_object(call.body), BATCH_LIMIT)
        unique = self.store.unique_properties(kind.name) - {"hs_object_id"}
        planned = []
        problems = []
        for item in inputs:
            id_property = item.get("idProperty")
            if not id_property:
                raise validation_error("idProperty is required for each upsert input")
            if id_property not in unique:
                raise validation_error(f"Unable to perform update/upsert by non-unique {kind.type_id} property {id_property}")
            properties = _properties_of(item)
            validated = self.store.validate(kind.name, {**properties, id_property: _input_id(item)})
            problems.extend(validated.problems)
            planned.append((id_property, _input_id(item), properties, validated.changes))
        if problems:
            raise property_values_error(problems, self.portal_id)
        _refuse_duplicates([f"{p[0]}={p[1].lower()}" for p in planned])
        started = self._now()
        with self.store.lock:
            at_ms = self.store.write_ms()
            results = []
            for id_property, wanted, properties, changes in planned:
                record = self.store.find(kind.name, id_property, wanted)
                is_new = record is None
                if record is None:
                    record = self.store.create(kind.name, changes, at_ms=at_ms)
                    self.store.count_writes([*properties, id_property])
                else:
                    changes = {k: v for k, v in changes.items() if k != id_property}
                    self.store.update(record, changes, at_ms=at_ms)
                    self.store.count_writes(properties)
                presented = self.store.present(record, list(properties) or None)
                presented["new"] = is_new
                results.append(presented)
        return self._batch_answer(results, [], started, ok_status=200)

    def batch_archive(self, kind: ObjectType, call: Call) -> Answer:
        inputs = _inputs(_object(call.body), BATCH_LIMIT)
        with self.store.lock:
            at_ms = self.store.write_ms()
            for item in inputs:
                record = self.store.get(kind.name, _input_id(item))
                if record is not None:
                    self.store.archive(record, at_ms)
        return Answer(204)

    # --- properties ---------------------------------------------------------------------------

    def read_properties(self, kind: ObjectType, name: str | None, call: Call) -> Answer:
        definitions = self.store.definitions(kind.name)
        if name is None:
            archived = call.flag("archived")
            return Answer(200, {"results": [d for d in definitions.values() if d.get("archived", False) == archived]})
        if name not in definitions:
            raise not_found(f"Unable to find property with name {name} for object type {kind.type_id}")
        return Answer(200, definitions[name])

    def create_property(self, kind: ObjectType, call: Call) -> Answer:
        body = _object(call.body)
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise validation_error(f"Missing required fields: {', '.join(missing)}",
                                   errors=[{"message": "must not be null", "in": k} for k in missing])
        name = body["name"]
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise validation_error(f"Property name {name} is invalid: use lower-case letters, digits and underscores")
        _check_type(body["type"], body["fieldType"])
        if body["groupName"] not in self.store.groups(kind.name):
            raise validation_error(f"Property group {body['groupName']} does not exist")
        choices = body.get("options") or []
        if body["type"] == "enumeration" and not choices:
            raise validation_error("Enumeration properties need at least one option")
        with self.store.lock:
            if name in self.store.definitions(kind.name):
                # Reading taken for the body: HubSpot documents the 409 status, not its text.
                raise ApiError(409, error_body(f"Property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS",
                                               context={"name": [name]}))
            definition = property_definition(
                name, body["label"], body["type"], body["fieldType"], body["groupName"],
                choices=[_option(o, i) for i, o in enumerate(choices)],
                unique=bool(body.get("hasUniqueValue")), hidden=bool(body.get("hidden")),
                hubspot_defined=False, display_order=int(body.get("displayOrder", -1)),
                description=str(body.get("description", "")), created_at=self._now(),
            )
            definition["formField"] = bool(body.get("formField", False))
            self.store.add_definition(kind.name, definition)
        location = f"{self._base_url()}/crm/v3/properties/{kind.name}/{name}"
        return Answer(201, definition, {"Location": location})

    def update_property(self, kind: ObjectType, name: str, call: Call) -> Answer:
        """``PATCH /crm/v3/properties/{objectType}/{propertyName}`` (``PropertyUpdate``): the fields
        given replace the definition's; ``options`` replaces every option. A property whose
        ``modificationMetadata.readOnlyDefinition`` is true (HubSpot's own, here) is refused:
        the flag says its definition cannot be changed (reading taken: the refusal's text is not
        documented)."""
        body = _object(call.body)
        with self.store.lock:
            current = self.store.definitions(kind.name).get(name)
            if current is None:
                raise not_found(f"Unable to find property with name {name} for object type {kind.type_id}")
            if current.get("modificationMetadata", {}).get("readOnlyDefinition"):
                raise validation_error(f"The definition of property {name} is read-only and cannot be changed")
            updated = copy.deepcopy(current)
            updated["type"] = body.get("type") or current["type"]
            updated["fieldType"] = body.get("fieldType") or current["fieldType"]
            _check_type(updated["type"], updated["fieldType"])
            if "groupName" in body and body["groupName"] not in self.store.groups(kind.name):
                raise validation_error(f"Property group {body['groupName']} does not exist")
            for key in ("label", "description", "groupName", "hidden", "formField", "displayOrder"):
                if body.get(key) is not None:
                    updated[key] = body[key]
            if body.get("options") is not None:
                updated["options"] = [_option(o, i) for i, o in enumerate(body["options"])]
            if updated["type"] == "enumeration" and not updated["options"]:
                raise validation_error("Enumeration properties need at least one option")
            updated["updatedAt"] = self._now()
            self.store.add_definition(kind.name, updated)
        return Answer(200, updated)

    def read_groups(self, kind: ObjectType, name: str | None) -> Answer:
        groups = self.store.groups(kind.name)
        if name is None:
            return Answer(200, {"results": list(groups.values())})
        if name not in groups:
            raise not_found(f"Unable to find property group with name {name} for object type {kind.type_id}")
        return Answer(200, groups[name])

    def create_group(self, kind: ObjectType, call: Call) -> Answer:
        body = _object(call.body)
        missing = [k for k in ("name", "label") if not body.get(k)]
        if missing:
            raise validation_error(f"Missing required fields: {', '.join(missing)}")
        name = body["name"]
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise validation_error(f"Property group name {name} is invalid")
        with self.store.lock:
            if name in self.store.groups(kind.name):
                raise ApiError(409, error_body(f"Property group named '{name}' already exists.", "OBJECT_ALREADY_EXISTS",
                                               context={"name": [name]}))
            group = {"name": name, "label": body["label"], "displayOrder": int(body.get("displayOrder", -1)),
                     "archived": False}
            self.store.add_group(kind.name, group)
        return Answer(201, group, {"Location": f"{self._base_url()}/crm/v3/properties/{kind.name}/groups/{name}"})

    # --- associations (v4) -------------------------------------------------------------------------

    def association_batch_read(self, from_kind: ObjectType, to_kind: ObjectType, call: Call) -> Answer:
        inputs = _inputs(_object(call.body), ASSOCIATION_BATCH_LIMIT)
        started = self._now()
        results, errors = [], []
        with self.store.lock:
            for item in inputs:
                from_id = _input_id(item)
                to_ids = self.store.associated(from_kind.name, from_id, to_kind.name)
                if self.store.get(from_kind.name, from_id) is None or not to_ids:
                    # Unknown records and records without associations answer alike.
                    errors.append(batch_error(
                        "OBJECT_NOT_FOUND",
                        f"No {to_kind.singular} is associated with {from_kind.singular} {from_id}.",
                        {"fromObjectId": [from_id], "fromObjectType": [from_kind.singular],
                         "toObjectType": [to_kind.singular]},
                        sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
                    ))
                    continue
                results.append({"from": {"id": from_id},
                                "to": [self._association_target(from_kind, from_id, to_kind, i) for i in to_ids]})
        return self._batch_answer(results, errors, started, ok_status=200)

    def associate_default(self, from_kind: ObjectType, from_id: str, to_kind: ObjectType, to_id: str) -> Answer:
        """``PUT .../associations/default/{toObjectType}/{toObjectId}``: "Create the default (most
        generic) association type between two object types" (associations v4 spec); answers
        ``BatchResponsePublicDefaultAssociation``. Associating an engagement with a contact logs it
        for the contact (see :meth:`Store.associate`)."""
        started = self._now()
        with self.store.lock:
            if self.store.get(from_kind.name, from_id) is None or self.store.get(to_kind.name, to_id) is None:
                raise not_found()
            type_id = ASSOCIATION_TYPE_IDS.get((from_kind.name, to_kind.name))
            if type_id is None:
                raise validation_error(f"No default association from {from_kind.singular} to {to_kind.singular}")
            self.store.associate(from_kind.name, from_id, to_kind.name, to_id, at_ms=self.store.write_ms())
        result = {"from": {"id": from_id}, "to": {"id": to_id},
                  "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}}
        return self._batch_answer([result], [], started, ok_status=200)

    def association_list(self, from_kind: ObjectType, from_id: str, to_kind: ObjectType, call: Call) -> Answer:
        limit = _int_param(call.param("limit"), ASSOCIATION_PAGE_LIMIT, "limit")
        if not 1 <= limit <= ASSOCIATION_PAGE_LIMIT:
            raise validation_error(f"limit must be between 1 and {ASSOCIATION_PAGE_LIMIT}")
        offset = _int_param(call.param("after"), 0, "after")
        with self.store.lock:
            to_ids = self.store.associated(from_kind.name, from_id, to_kind.name)
        page = to_ids[offset:offset + limit]
        body: dict[str, Any] = {"results": [self._association_target(from_kind, from_id, to_kind, i) for i in page]}
        if offset + limit < len(to_ids):
            body["paging"] = {"next": {"after": str(offset + limit)}}
        return Answer(200, body)

    def _association_target(self, from_kind: ObjectType, from_id: str, to_kind: ObjectType, to_id: str) -> dict[str, Any]:
        # v4 answers toObjectId as a number and label null for unlabelled (HUBSPOT_DEFINED)
        # associations, as the associations guide's examples show; a primary one is listed first,
        # beside the unlabeled type.
        type_id = ASSOCIATION_TYPE_IDS.get((from_kind.name, to_kind.name), 0)
        types = [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]
        if self._is_primary(from_kind, from_id, to_kind, to_id):
            primary = PRIMARY_ASSOCIATION_TYPE_IDS[(from_kind.name, to_kind.name)]
            types.insert(0, {"category": "HUBSPOT_DEFINED", "typeId": primary, "label": PRIMARY_LABEL})
        return {"toObjectId": int(to_id), "associationTypes": types}

    def _is_primary(self, from_kind: ObjectType, from_id: str, to_kind: ObjectType, to_id: str) -> bool:
        if (from_kind.name, to_kind.name) == ("contacts", "companies"):
            return self.store.primary_company(from_id) == to_id
        if (from_kind.name, to_kind.name) == ("companies", "contacts"):
            return self.store.primary_company(to_id) == from_id
        return False

    def associate_labelled(self, from_kind: ObjectType, from_id: str, to_kind: ObjectType, to_id: str,
                           call: Call) -> Answer:
        """``PUT /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId}``
        ("Set association labels between two records"), body a list of ``AssociationSpec``;
        answers ``201`` with ``LabelsBetweenObjectPair``. The HUBSPOT_DEFINED types of the pair are
        accepted: the unlabeled one associates, the primary one (contact-company) also makes the
        company the contact's primary. Reading taken: an unknown type id is refused with ``400``
        before anything changes (HubSpot documents no text for it)."""
        specs = call.body
        if not isinstance(specs, list) or not specs or not all(isinstance(x, dict) for x in specs):
            raise validation_error("the body must be a non-empty list of association specs")
        unlabeled = ASSOCIATION_TYPE_IDS.get((from_kind.name, to_kind.name))
        primary = PRIMARY_ASSOCIATION_TYPE_IDS.get((from_kind.name, to_kind.name))
        wanted = {x.get("associationTypeId") for x in specs}
        if unlabeled is None or not wanted <= {unlabeled, primary} - {None}:
            raise validation_error(f"Invalid association types {sorted(map(str, wanted))} from "
                                   f"{from_kind.singular} to {to_kind.singular}")
        with self.store.lock:
            if self.store.get(from_kind.name, from_id) is None or self.store.get(to_kind.name, to_id) is None:
                raise not_found()
            at_ms = self.store.write_ms()
            self._associate_all(from_kind, from_id, [(to_kind.name, to_id, primary in wanted)], at_ms)
            labels = [PRIMARY_LABEL] if self._is_primary(from_kind, from_id, to_kind, to_id) else []
        body = {"fromObjectTypeId": from_kind.type_id, "fromObjectId": from_id, "toObjectTypeId": to_kind.type_id,
                "toObjectId": to_id, "labels": labels}
        return Answer(201, body)

    def _associate_all(self, kind: ObjectType, record_id: str, targets: Sequence[tuple[str, str, bool]],
                       at_ms: int) -> None:
        """Associate ``record_id`` with each target; a primary one (contact-company) becomes the
        contact's primary company."""
        for to_type, to_id, primary in targets:
            if primary and kind.name == "contacts":
                self.store.set_primary_company(record_id, to_id, at_ms=at_ms)
            elif primary:
                self.store.set_primary_company(to_id, record_id, at_ms=at_ms)
            else:
                self.store.associate(kind.name, record_id, to_type, to_id, at_ms=at_ms)

    def _with_associations(self, kind: ObjectType, record: Record, body: dict[str, Any],
                           wanted: Sequence[str]) -> dict[str, Any]:
        """v3's ``?associations=`` on object reads; unknown types are ignored, as documented."""
        found: dict[str, Any] = {}
        for segment in wanted:
            other = resolve_object_type(segment)
            if other is None:
                continue
            ids = self.store.associated(kind.name, record.id, other.name)
            if ids:
                found[other.name] = {"results": [{"id": i, "type": f"{kind.singular}_to_{other.singular}"} for i in ids]}
        if found:
            body["associations"] = found
        return body

    def _association_targets(self, kind: ObjectType, associations: Any) -> list[tuple[str, str, bool]]:
        """``associations`` on create: [{to: {id}, types: [{associationCategory, associationTypeId}]}];
        each target as (type, id, whether the primary type was among its types)."""
        if not isinstance(associations, list):
            raise validation_error("associations must be a list")
        targets = []
        for item in associations:
            to_id = str(((item or {}).get("to") or {}).get("id", ""))
            type_ids = {t.get("associationTypeId") for t in (item.get("types") or []) if isinstance(t, dict)}
            to_type = next((to for (frm, to), tid in [*ASSOCIATION_TYPE_IDS.items(), *PRIMARY_ASSOCIATION_TYPE_IDS.items()]
                            if frm == kind.name and tid in type_ids), None)
            if to_type is None or self.store.get(to_type, to_id) is None:
                raise validation_error(f"Invalid association to {to_id} with types {sorted(map(str, type_ids))}")
            primary = PRIMARY_ASSOCIATION_TYPE_IDS.get((kind.name, to_type)) in type_ids
            targets.append((to_type, to_id, primary))
        return targets

    # --- helpers ---------------------------------------------------------------------------------

    def _now(self) -> str:
        return values.iso_ms(self.store.now_ms())

    def _batch_answer(self, results: list[Any], errors: list[dict[str, Any]], started: str, *, ok_status: int) -> Answer:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body["startedAt"] = started
        body["completedAt"] = self._now()
        return Answer(207 if errors else ok_status, body)

    def _not_found_error(self, kind: ObjectType, missing: list[str]) -> dict[str, Any]:
        return batch_error(
            "OBJECT_NOT_FOUND",
            f"Could not get some {kind.error_label} objects, they may be deleted or not exist. Check that ids are valid.",
            {"ids": missing},
        )

    def _existing_owner(self, kind: ObjectType, changes: Mapping[str, str | None]) -> str | None:
        for name in self.store.unique_properties(kind.name) - {"hs_object_id"}:
            owner = self.store.owner_of(kind.name, name, changes.get(name))
            if owner is not None:
                return owner
        return None

    def _refuse_existing(self, kind: ObjectType, changes: Mapping[str, str | None]) -> None:
        owner = self._existing_owner(kind, changes)
        if owner is not None:
            raise conflict(f"{kind.singular.capitalize()} already exists. Existing ID: {owner}")

    def _refuse_taken(self, kind: ObjectType, changes_by_id: Mapping[str, Mapping[str, str | None]]) -> None:
        """An update may not copy a unique value another record holds (HubSpot answers 400)."""
        for record_id, changes in changes_by_id.items():
            for name in self.store.unique_properties(kind.name) - {"hs_object_id"}:
                owner = self.store.owner_of(kind.name, name, changes.get(name))
                if owner is not None and owner != record_id:
                    raise validation_error(
                        f"Cannot set PropertyValueCoordinates{{portalId={self.portal_id}, objectTypeId={kind.type_id}, "
                        f"propertyName={name}, value={changes[name]}}} on {record_id}. {owner} already has that value."
                    )


# --- request parsing ------------------------------------------------------------------------------


def _unknown_route(call: Call) -> Answer:
    return Answer(404, error_body(f"No route for {call.method} {call.path}", "OBJECT_NOT_FOUND"))


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected a JSON object body")
    return body


def _inputs(body: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise validation_error("inputs must be a list of objects", errors=[{"message": "must not be null", "in": "inputs"}])
    if len(inputs) > limit:
        raise validation_error(
            f"Too many inputs: got {len(inputs)}, the maximum is {limit}",
            errors=[{"message": f"size must be between 0 and {limit}", "in": "inputs"}],
        )
    return inputs


def _input_id(item: Mapping[str, Any]) -> str:
    value = item.get("id")
    if value is None or str(value) == "":
        raise validation_error("each input needs an id", errors=[{"message": "must not be null", "in": "id"}])
    return str(value)


def _properties_of(item: Mapping[str, Any]) -> dict[str, Any]:
    properties = item.get("properties", {})
    if not isinstance(properties, dict):
        raise validation_error("properties must be an object of property names to values")
    return properties


def _names(raw: Any, field_name: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise validation_error(f"{field_name} must be a list of property names")
    return raw


def _int_param(raw: str | None, default: int, name: str) -> int:
    if raw is None:
        return default
    if not raw.lstrip("-").isdigit():
        raise validation_error(f"{name} must be an integer, got {raw!r}")
    return int(raw)


def _refuse_duplicates(ids: Sequence[str]) -> None:
    seen, duplicates = set(), []
    for value in ids:
        if value in seen and value not in duplicates:
            duplicates.append(value)
        seen.add(value)
    if duplicates:
        raise validation_error(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique")


def _duplicate_in_batch(changes: Mapping[str, str | None], seen: dict[str, str]) -> str | None:
    email = changes.get("email")
    if email is None:
        return None
    if email in seen:
        return seen[email]
    seen[email] = "(earlier input in this batch)"
    return None


_FIELD_TYPES = {
    "bool": {"booleancheckbox", "calculation_equation"},
    "enumeration": {"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"},
    "date": {"date"},
    "datetime": {"date"},
    "string": {"file", "text", "textarea", "calculation_equation", "html", "phonenumber"},
    "number": {"number", "calculation_equation"},
    "phone_number": {"phonenumber"},
}


def _check_type(type_: str, field_type: str) -> None:
    """The ``type``/``fieldType`` pairs the properties guide allows."""
    allowed = _FIELD_TYPES.get(type_)
    if allowed is None:
        raise validation_error(f"Invalid property type {type_}; expected one of {sorted(_FIELD_TYPES)}")
    if field_type not in allowed:
        raise validation_error(f"fieldType {field_type} is not valid for type {type_}; use one of {sorted(allowed)}")


def _option(raw: Any, order: int) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw.get("value") or not raw.get("label"):
        raise validation_error("each option needs a label and a value")
    return {"label": raw["label"], "value": raw["value"], "displayOrder": int(raw.get("displayOrder", order)),
            "hidden": bool(raw.get("hidden", False)), "description": str(raw.get("description", ""))}
