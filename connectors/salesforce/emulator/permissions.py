"""Permission sets: how a user gets field-level security on a field, through the REST sObject API.

What the Object Reference documents, and the emulator does:

- ``PermissionSet`` (``Name``, ``Label``, ``Description``): ``Name`` is "The unique name of the
  object in the API. This name can contain only underscores and alphanumeric characters, and must
  be unique in your organization. It must begin with a letter, not include spaces, not end with an
  underscore, and not contain two consecutive underscores. ... Limit: 80 characters."
- ``FieldPermissions`` (``ParentId``, ``SobjectType``, ``Field``, ``PermissionsRead``,
  ``PermissionsEdit``): "To grant a user access to a field, associate a FieldPermissions record
  with a PermissionSet that's assigned to a user." ``Field`` is "The field's API name. This name
  must be prefixed with the SobjectType" (a restricted picklist of the fields whose access can be
  set); ``PermissionsEdit`` "Requires PermissionsRead for the same field to be true".
- ``PermissionSetAssignment`` (``AssigneeId``, ``PermissionSetId``): "each
  PermissionSetAssignment ID represents the association of a single user and single permission
  set"; "To update an assignment, delete an existing assignment and insert a new one."
- Access: a field is readable (editable) by the integration user once a ``FieldPermissions`` row
  with ``PermissionsRead`` (``PermissionsEdit``) true hangs off a permission set assigned to that
  user (:func:`granted`), on top of what its profile gives (the store's ``fls`` map).
- Who may change them: creating, changing or deleting these records needs "Manage Profiles and
  Permission Sets" (permission sets, field permissions) and "Assign Permission Sets" (assignments).
  The integration user holds both by default; :meth:`SalesforceEmulator.allow_permission_management`
  takes them away, and every such write then answers ``INSUFFICIENT_ACCESS_OR_READONLY``
  "insufficient access rights on object id" (the status code is the API's documented one for a
  save the user may not make; the message is the one Salesforce gives it, the docs are silent on
  the exact text for permission sets). Reading them needs only "View Setup and Configuration",
  which the emulated user has.

Readings taken where the documentation is silent (each the stricter case for a client):

- an edit grant without read is refused (``FIELD_INTEGRITY_EXCEPTION``) rather than read added;
- a second ``PermissionSet`` with the same ``Name`` (ignoring case), a second ``FieldPermissions``
  for one permission set and field, and a second assignment of one set to one user are refused
  with ``DUPLICATE_VALUE`` "duplicate value found: ... duplicates value on record with id: ...",
  the API's message for a uniqueness violation;
- an unknown or non-permissionable ``Field``/``SobjectType`` answers the restricted picklist's
  ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``; an unknown parent permission set or assignee
  ``INVALID_CROSS_REFERENCE_KEY`` "invalid cross reference id";
- a ``FieldPermissions`` row left with ``PermissionsRead`` false grants nothing (the reference
  says such a row "will be deleted"; the emulator keeps it, granting nothing).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from leadscore.connectors.salesforce.emulator.values import FieldProblem

if TYPE_CHECKING:
    from leadscore.connectors.salesforce.emulator.schema import SObjectDef
    from leadscore.connectors.salesforce.emulator.store import Record, Store

PERMISSION_OBJECTS = frozenset({"PermissionSet", "FieldPermissions", "PermissionSetAssignment"})
INSUFFICIENT_ACCESS = FieldProblem("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
_NAME = re.compile(r"^[A-Za-z](?:_?[A-Za-z0-9])*$")
_NAME_RULES = ("The API Name can only contain underscores and alphanumeric characters. It must be unique, begin "
               "with a letter, not include spaces, not end with an underscore, and not contain two consecutive "
               "underscores.")
_RANK = {"none": 0, "read": 1, "edit": 2}


def stronger(one: str, other: str) -> str:
    return one if _RANK[one] >= _RANK[other] else other


def granted(store: Store) -> dict[str, str]:
    """``"Lead.Score__c"`` -> the access (``read``/``edit``) the permission sets assigned to the
    integration user grant it."""
    assigned = {r.values.get("PermissionSetId") for r in store.rows("PermissionSetAssignment", deleted=False)
                if r.values.get("AssigneeId") == store.integration_user}
    out: dict[str, str] = {}
    for row in store.rows("FieldPermissions", deleted=False):
        v = row.values
        if v.get("ParentId") in assigned and v.get("PermissionsRead"):
            level = "edit" if v.get("PermissionsEdit") else "read"
            out[v["Field"]] = stronger(out.get(v["Field"], "none"), level)
    return out


def save_problems(store: Store, sobject: SObjectDef, record: Record | None, changes: dict[str, Any],
                  *, creating: bool) -> tuple[dict[str, Any], list[FieldProblem]]:
    """The save rules of the permission objects (module docstring): ``changes`` as saved
    (``Field``/``SobjectType`` in their canonical spelling), and the problems."""
    merged = {**(record.values if record is not None else {}), **changes}
    own_id = record.id if record is not None else None
    if sobject.name == "PermissionSet":
        name = merged.get("Name")
        if "Name" in changes and (not isinstance(name, str) or not _NAME.match(name)):
            return changes, [FieldProblem("FIELD_INTEGRITY_EXCEPTION", _NAME_RULES, ("Name",))]
        clash = _first(store, "PermissionSet", own_id, lambda v: str(v.get("Name") or "").lower() == str(name).lower())
        if "Name" in changes and clash is not None:
            return changes, [_duplicate("Name", clash)]
        return changes, []
    if sobject.name == "FieldPermissions":
        problems: list[FieldProblem] = []
        if creating:
            parent = store.get("PermissionSet", str(merged.get("ParentId") or ""))
            if parent is None:
                return changes, [FieldProblem("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ("ParentId",))]
            target = store.sobject(str(merged.get("SobjectType") or ""))
            if target is None or target.name in PERMISSION_OBJECTS:
                return changes, [_restricted("SObject Type Name", "SobjectType", merged.get("SobjectType"))]
            object_name, _, field_name = str(merged.get("Field") or "").partition(".")
            definition = target.lookup(field_name) if object_name.lower() == target.name.lower() else None
            if definition is None or not definition.describe()["permissionable"] or not definition.nillable:
                return changes, [_restricted("Field Name", "Field", merged.get("Field"))]
            changes = {**changes, "SobjectType": target.name, "Field": f"{target.name}.{definition.name}"}
            merged = {**merged, **changes}
            clash = _first(store, "FieldPermissions", own_id,
                           lambda v: v.get("ParentId") == merged["ParentId"] and v.get("Field") == merged["Field"])
            if clash is not None:
                problems.append(_duplicate("<unknown>", clash))
        if merged.get("PermissionsEdit") and not merged.get("PermissionsRead"):
            problems.append(FieldProblem("FIELD_INTEGRITY_EXCEPTION", "Permission Edit Field depends on permission(s): "
                                         "Read Field", ("PermissionsEdit",)))
        return changes, problems
    # PermissionSetAssignment
    if str(merged.get("AssigneeId") or "") not in (store.integration_user, store.sales_user):
        return changes, [FieldProblem("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ("AssigneeId",))]
    if store.get("PermissionSet", str(merged.get("PermissionSetId") or "")) is None:
        return changes, [FieldProblem("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                                      ("PermissionSetId",))]
    clash = _first(store, "PermissionSetAssignment", own_id,
                   lambda v: v.get("AssigneeId") == merged["AssigneeId"] and v.get("PermissionSetId") ==
                   merged["PermissionSetId"])
    if clash is not None:
        return changes, [_duplicate("<unknown>", clash)]
    return changes, []


def _first(store: Store, sobject: str, own_id: str | None, test: Any) -> str | None:
    return next((r.id for r in store.rows(sobject, deleted=False) if r.id != own_id and test(r.values)), None)


def _duplicate(field: str, record_id: str) -> FieldProblem:
    return FieldProblem("DUPLICATE_VALUE", f"duplicate value found: {field} duplicates value on record with id: "
                        f"{record_id}", () if field == "<unknown>" else (field,))


def _restricted(label: str, field: str, value: Any) -> FieldProblem:
    return FieldProblem("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"{label}: bad value for restricted picklist "
                        f"field: {value}", (field,))
