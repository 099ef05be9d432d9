"""Record writes shared by REST, sObject Collections and Bulk API 2.0: checks in Salesforce's order.

Whole-request failures (raised as :class:`ApiError`) happen while the body is deserialised:
an unknown sObject type (``INVALID_TYPE``), an unknown field or one hidden by field-level
security (``INVALID_FIELD`` "No such column 'X' on sobject of type Lead"), a JSON value of the
wrong type (``JSON_PARSER_ERROR``). Reading taken: Salesforce binds the JSON to typed sObjects
before saving any of them, so these fail the request even in an sObject Collection.

Per-record failures (:class:`FieldProblem`) happen at save time, in this order:

1. the id: missing (``MISSING_ARGUMENT``), not an id of this object (``MALFORMED_ID`` "Lead ID:
   id value of incorrect type: ..."), unknown (``INVALID_CROSS_REFERENCE_KEY`` "invalid cross
   reference id"), in the recycle bin (``ENTITY_IS_DELETED`` "entity is deleted");
2. a converted Lead (``CANNOT_UPDATE_CONVERTED_LEAD`` "cannot reference converted lead");
3. the values: read-only fields (``INVALID_FIELD_FOR_INSERT_UPDATE``), then per field
   (``STRING_TOO_LONG``, ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``, ``NUMBER_OUTSIDE_VALID_RANGE``,
   ``INVALID_EMAIL_ADDRESS``, ``REQUIRED_FIELD_MISSING``).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from leadscore.connectors.salesforce.emulator import ids, values
from leadscore.connectors.salesforce.emulator.errors import ApiError, bad_request, json_parser_error, no_such_column
from leadscore.connectors.salesforce.emulator.schema import SObjectDef
from leadscore.connectors.salesforce.emulator.store import Prepared, Record, Store
from leadscore.connectors.salesforce.emulator.values import FieldProblem, JsonTypeError

SKIPPED_KEYS = frozenset({"attributes"})


def resolve_type(store: Store, name: Any) -> SObjectDef:
    if not isinstance(name, str) or not name:
        raise bad_request("INVALID_TYPE", "Must send a concrete entity type.")
    sobject = store.sobject(name)
    if sobject is None:
        raise bad_request("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return sobject


def deserialize(store: Store, sobject: SObjectDef, body: Mapping[str, Any], raw: bytes,
                *, keep_id: bool = False) -> dict[str, Any]:
    """A JSON record's fields as stored values (canonical names); ``Id`` dropped unless kept."""
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key in SKIPPED_KEYS:
            continue
        definition = sobject.lookup(key)
        if definition is None or not store.visible(sobject, definition):
            raise no_such_column(key, sobject.name)
        if definition.name == "Id" and not keep_id:
            continue
        try:
            changes[definition.name] = values.from_json(definition, value)
        except JsonTypeError as exc:
            line, column = _position(raw, key, value)
            raise json_parser_error(
                f"Cannot deserialize instance of {exc.type_word} from {exc.token} value {exc.value} or request may "
                f"be missing a required field at [line:{line}, column:{column}]") from None
    return changes


def _position(raw: bytes, key: str, value: Any) -> tuple[int, int]:
    """Where the offending value sits in the body (Jackson reports the token's end)."""
    text = raw.decode("utf-8", "replace")
    start = text.find(json.dumps(key))
    token = json.dumps(value) if not isinstance(value, (dict, list)) else ("{" if isinstance(value, dict) else "[")
    at = text.find(token, max(start, 0))
    if at < 0:
        return 1, 1
    end = at + len(token)
    line = text.count("\n", 0, end) + 1
    column = end - (text.rfind("\n", 0, end) + 1) + 1
    return line, column


def target(store: Store, sobject: SObjectDef, raw_id: Any) -> tuple[Record | None, FieldProblem | None]:
    """The record an update names, or the per-record error Salesforce gives for its id."""
    if raw_id in (None, ""):
        return None, FieldProblem("MISSING_ARGUMENT", "Id not specified in an update call")
    normalised = ids.normalise(str(raw_id))
    if normalised is None or normalised[:3] != sobject.key_prefix:
        return None, FieldProblem("MALFORMED_ID", f"{sobject.label} ID: id value of incorrect type: {raw_id}", ("Id",))
    record = store.get(sobject.name, normalised, deleted=True)
    if record is None:
        return None, FieldProblem("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
    if record.deleted:
        return record, FieldProblem("ENTITY_IS_DELETED", "entity is deleted")
    return record, None


def prepare_update(store: Store, sobject: SObjectDef, record: Record, changes: Mapping[str, Any]) -> Prepared:
    if sobject.name == "Lead" and record.values.get("IsConverted"):
        return Prepared({}, (FieldProblem("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"),))
    return store.prepare(sobject, changes, creating=False, record=record)


def save_result(record_id: str | None, problems: tuple[FieldProblem, ...] | list[FieldProblem] = ()) -> dict[str, Any]:
    """A SaveResult. Failed results carry ``id`` only when it named a real record, as the
    documented examples show (a ``MALFORMED_ID`` failure has none)."""
    result: dict[str, Any] = {}
    if record_id is not None:
        result["id"] = record_id
    result["success"] = not problems
    result["errors"] = [p.as_error() for p in problems]
    return result


ROLLED_BACK = FieldProblem("ALL_OR_NONE_OPERATION_ROLLED_BACK",
                           "Record rolled back because not all records were valid and the request was using "
                           "AllOrNone header")


def problems_body(problems: tuple[FieldProblem, ...]) -> list[dict[str, Any]]:
    """A single-record REST write's 400 body: ``[{message, errorCode, fields}]``."""
    return [{"message": p.message, "errorCode": p.status_code, "fields": list(p.fields)} for p in problems]


def record_error(status: int, problems: tuple[FieldProblem, ...]) -> ApiError:
    return ApiError(status, problems_body(problems))
