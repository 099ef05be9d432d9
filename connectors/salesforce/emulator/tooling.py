"""The Tooling API's ``CustomField``: create custom fields, list them with a Tooling query.

``POST /tooling/sobjects/CustomField`` takes ``{"FullName": "Lead.Leadscore_Score__c",
"Metadata": {...}}`` and answers ``201 {"id", "success", "errors", "warnings", "infos"}``. The
``Metadata.type`` values supported are those a scoring integration writes: ``Number``
(``precision`` 1-18, ``scale`` 0-precision), ``Text`` (``length`` 1-255), ``LongTextArea``
(``length`` 256-131,072 and ``visibleLines``), ``Picklist`` (``valueSet`` with ``restricted``
and ``valueSetDefinition.value[{fullName, default, label}]``), ``DateTime``, ``Date``,
``Checkbox``, ``Percent``, ``Currency``, ``Email``, ``Phone``, ``Url``, ``TextArea``. An
unknown type fails deserialisation (``JSON_PARSER_ERROR``, as Salesforce answers a type that
is not one of the enumeration's values).

A field whose developer name the object already has answers ``400 DUPLICATE_DEVELOPER_NAME``
"There is already a field named X on Lead." (reading taken: the Metadata API's status code for
the same conflict; some orgs have been reported to answer ``DUPLICATE_VALUE`` through Tooling,
so clients should treat both as "exists").

Field-level security: a field created through the Tooling (or Metadata) API grants no access to
any profile (field permissions come only from a profile or a permission set that names the
field: Object Reference, FieldPermissions "To grant a user access to a field, associate a
FieldPermissions record with a PermissionSet that's assigned to a user"; deploying fields leaves
their FLS unassigned, sfdo-tooling/cumulusci#70), so the API user cannot see it until access is
granted: ``describe`` leaves it out and SOQL answers "No such column". That is the emulator's
default; access comes from a permission set assigned to the integration user (see
:mod:`.permissions`) or :meth:`SalesforceEmulator.grant_field_access`. ``fls_auto_grant=True``
grants read and edit at once, as an org whose admin always does would.

``Metadata.description`` is kept and answered as the ``CustomField``'s ``Description``.

``GET /tooling/query`` runs SOQL on ``CustomField`` (``Id``, ``DeveloperName``,
``TableEnumOrId``, ``NamespacePrefix``, ``FullName``, ``Metadata``, ...). As documented,
``FullName`` and ``Metadata`` can be selected only by a query returning at most one row.
"""

from __future__ import annotations

import re
from typing import Any

from leadscore.connectors.salesforce.emulator import soql
from leadscore.connectors.salesforce.emulator.api import Answer, Call, render_row
from leadscore.connectors.salesforce.emulator.errors import ApiError, bad_request, json_parser_error, not_found, soql_error
from leadscore.connectors.salesforce.emulator.schema import FieldDef, PicklistValue
from leadscore.connectors.salesforce.emulator.store import FLS_EDIT, FLS_NONE, Store

_DEVELOPER_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)$")
_NAME_RULES = ("The Custom Field Name can only contain underscores and alphanumeric characters. It must be unique, "
               "begin with a letter, not include spaces, not end with an underscore, and not contain two consecutive "
               "underscores.")
SIMPLE_TYPES = {"DateTime": "datetime", "Date": "date", "Email": "email", "Phone": "phone", "Url": "url",
                "Checkbox": "boolean"}


def _integrity(message: str, *fields: str) -> ApiError:
    return bad_request("FIELD_INTEGRITY_EXCEPTION", message, list(fields))


class Tooling:
    def __init__(self, store: Store, *, fls_auto_grant: bool) -> None:
        self.store = store
        self.fls_auto_grant = fls_auto_grant

    # --- CustomField create ------------------------------------------------------------------------------

    def create_field(self, call: Call) -> Answer:
        body = call.json()
        if not isinstance(body, dict):
            raise json_parser_error("Cannot deserialize instance of CustomField from START_ARRAY value [")
        full_name = body.get("FullName")
        metadata = body.get("Metadata")
        if not isinstance(full_name, str) or not full_name:
            raise bad_request("REQUIRED_FIELD_MISSING", "Required fields are missing: [FullName]", ["FullName"])
        if not isinstance(metadata, dict):
            raise bad_request("REQUIRED_FIELD_MISSING", "Required fields are missing: [Metadata]", ["Metadata"])
        object_name, _, field_name = full_name.partition(".")
        with self.store.lock:
            sobject = self.store.sobject(object_name)
            if sobject is None:
                raise _integrity(f"Cannot find an object named {object_name} for field {full_name}", "FullName")
            if not field_name.endswith("__c") or not _DEVELOPER_NAME.match(field_name[:-3]) or len(field_name) > 43:
                raise _integrity(_NAME_RULES, "FullName")
            definition = self._definition(field_name, metadata, call)
            if sobject.lookup(field_name) is not None:
                raise bad_request("DUPLICATE_DEVELOPER_NAME",
                                  f"There is already a field named {field_name[:-3]} on {sobject.name}.", [])
            access = FLS_EDIT if self.fls_auto_grant else FLS_NONE
            record = self.store.add_custom_field(sobject.name, definition, access=access, at_ms=self.store.stamp())
        return Answer(201, {"id": record.id, "success": True, "errors": [], "warnings": [], "infos": []})

    def _definition(self, name: str, metadata: dict[str, Any], call: Call) -> FieldDef:
        label = metadata.get("label")
        if not isinstance(label, str) or not label.strip():
            raise bad_request("REQUIRED_FIELD_MISSING", "Required fields are missing: [label]", ["label"])
        kind = metadata.get("type")
        base: dict[str, Any] = {"custom": True, "metadata": dict(metadata)}
        if kind == "Number" or kind in ("Percent", "Currency"):
            precision, scale = metadata.get("precision"), metadata.get("scale", 0)
            if not isinstance(precision, int) or not 1 <= precision <= 18:
                raise _integrity("Length: precision must be between 1 and 18", "precision")
            if not isinstance(scale, int) or not 0 <= scale <= precision:
                raise _integrity("Decimal Places: scale must be between 0 and the precision", "scale")
            field_type = {"Number": "double", "Percent": "percent", "Currency": "currency"}[kind]
            return FieldDef(name, field_type, label, precision=precision, scale=scale, **base)
        if kind in ("Text", "TextArea"):
            length = metadata.get("length", 255)
            if kind == "Text" and (not isinstance(length, int) or not 1 <= length <= 255):
                raise _integrity("Length: value must be between 1 and 255", "length")
            return FieldDef(name, "string" if kind == "Text" else "textarea", label,
                            length=length if kind == "Text" else 255, **base)
        if kind == "LongTextArea":
            length, lines = metadata.get("length"), metadata.get("visibleLines")
            if not isinstance(length, int) or not 256 <= length <= 131072:
                raise _integrity("Length: value must be between 256 and 131,072", "length")
            if not isinstance(lines, int) or not 1 <= lines <= 50:
                raise _integrity("Visible Lines: value must be between 1 and 50", "visibleLines")
            return FieldDef(name, "textarea", label, length=length, visible_lines=lines, **base)
        if kind == "Picklist":
            value_set = metadata.get("valueSet")
            definition = value_set.get("valueSetDefinition") if isinstance(value_set, dict) else None
            entries = definition.get("value") if isinstance(definition, dict) else None
            if not isinstance(entries, list) or not entries or not all(
                    isinstance(e, dict) and isinstance(e.get("fullName"), str) for e in entries):
                raise _integrity("Picklist values: at least one value with a fullName is required", "valueSet")
            picklist = tuple(PicklistValue(e["fullName"], str(e.get("label") or e["fullName"]),
                                           default=bool(e.get("default"))) for e in entries)
            return FieldDef(name, "picklist", label, length=255, picklist=picklist,
                            restricted=bool(value_set.get("restricted")), **base)
        if kind in SIMPLE_TYPES:
            field_type = SIMPLE_TYPES[kind]
            length = {"email": 80, "phone": 40, "url": 255}.get(field_type, 0)
            extra = {"nillable": False, "defaulted_on_create": True} if field_type == "boolean" else {}
            return FieldDef(name, field_type, label, length=length, **extra, **base)
        raise json_parser_error(f"Cannot deserialize instance of complexvalue from VALUE_STRING value {kind} or request "
                                "may be missing a required field")

    # --- CustomField reads -----------------------------------------------------------------------------------

    def get_field(self, call: Call, id: str) -> Answer:
        entity = self.store.tooling_schema["CustomField"]
        with self.store.lock:
            record = self.store.get("CustomField", id)
            if record is None:
                raise not_found()
            return Answer(200, render_row(entity, record.values, list(entity.fields.values()), call.version,
                                            tooling=True))

    def query(self, call: Call) -> Answer:
        text = call.param("q")
        if not text:
            raise bad_request("MALFORMED_QUERY", "A query string has to be specified")
        with self.store.lock:
            plan = soql.bind(soql.parse(text), self.store.tooling_sobject, self.store.visible, self.store.now_ms())
            matched = soql.run(plan, [r.values for r in self.store.rows(plan.sobject.name, deleted=False)])
            heavy = [f.name for f in plan.fields if f.name in ("FullName", "Metadata")]
            if heavy and len(matched) > 1:
                raise soql_error("MALFORMED_QUERY", text, 0,
                                 "When retrieving results with Metadata or FullName fields, the query qualifications "
                                 f"must specify no more than one row for retrieval. Result size: {len(matched)}")
            records = [] if plan.query.count_only else [
                render_row(plan.sobject, row, plan.fields, call.version, tooling=True) for row in matched]
        return Answer(200, {"size": len(matched), "totalSize": len(matched), "done": True, "queryLocator": None,
                            "entityTypeName": plan.sobject.name, "records": records})
