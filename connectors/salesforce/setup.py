"""Creating leadscore's custom fields on Lead and Contact through the Tooling API, idempotently,
and granting the integration user access to them the way an admin would through the API.

The Tooling API's ``CustomField`` (REST, JSON) is simpler to run than the SOAP Metadata API and
does the same job for fields. Each field leadscore creates carries a ``Description`` starting
"Managed by leadscore", so it stays known as leadscore's even when the state store is lost.

**Owned fields only.** leadscore writes a field only when it created it (that Description) or
the admin adopted it by name (``connectors.salesforce.adopt``). ``setup`` refuses, before it
changes anything, when a write target exists and is neither; it never changes the definition of
an existing field. The connector checks the same once per instance before its first write.

**Field-level security.** A field created through the Tooling API is visible to no profile.
``setup`` grants access as the Object Reference describes ("To grant a user access to a field,
associate a FieldPermissions record with a PermissionSet that's assigned to a user"): a
``PermissionSet`` ``Leadscore_Integration``, one ``FieldPermissions`` (read and edit) per written
field on Lead and Contact, and a ``PermissionSetAssignment`` to the integration user (its id from
the login's identity URL), each created only when missing. When the user may not
(``INSUFFICIENT_ACCESS_OR_READONLY``: it lacks "Manage Profiles and Permission Sets" or "Assign
Permission Sets"), ``setup`` reports the exact steps for an admin instead, and ``check`` keeps
reporting the fields it cannot write.
"""

from __future__ import annotations

from typing import Any, Sequence

from leadscore.agent.core.errors import AuthError, ConfigError
from leadscore.agent.core.contract import CheckReport, SetupReport, WriteSpec
from leadscore.connectors.salesforce.client import SalesforceClient, SalesforceRequestError
from leadscore.connectors.salesforce.config import MANAGED_DESCRIPTION, SalesforceConfig

OBJECTS = ("Lead", "Contact")
PERMISSION_SET = "Leadscore_Integration"
PERMISSION_SET_LABEL = "leadscore Integration"
#: Status codes of a save the user has no permission for.
_NO_ACCESS = {"INSUFFICIENT_ACCESS_OR_READONLY", "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", "INSUFFICIENT_ACCESS"}
_DUPLICATE = {"DUPLICATE_DEVELOPER_NAME", "DUPLICATE_VALUE"}
PLURAL = {"Lead": "Leads", "Contact": "Contacts"}


def managed_description(value: str) -> str:
    """The ``Description`` of a field leadscore creates (1,000 characters at most)."""
    return (f"{MANAGED_DESCRIPTION}: the {value} value leadscore writes. Created by leadscore setup; leadscore "
            "writes only fields it created or that are adopted by name in its config.")


def field_metadata(value: str, label: str, stages: Sequence[str], reason_length: int) -> dict[str, Any]:
    """Tooling ``Metadata`` for one write value."""
    if value in ("score", "fit_score", "engagement_score"):
        return {"label": label, "type": "Number", "precision": 18, "scale": 0}
    if value == "stage":
        return {
            "label": label,
            "type": "Picklist",
            "valueSet": {
                "restricted": True,
                "valueSetDefinition": {"sorted": False, "value": [{"fullName": s, "label": s, "default": False} for s in stages]},
            },
        }
    if value == "reason":
        return {"label": label, "type": "LongTextArea", "length": max(reason_length, 256), "visibleLines": 3}
    if value == "scored_at":
        return {"label": label, "type": "DateTime"}
    return {"label": label, "type": "Text", "length": 255}


LABELS = {
    "score": "leadscore Score",
    "fit_score": "leadscore Fit",
    "engagement_score": "leadscore Engagement",
    "stage": "leadscore Stage",
    "reason": "leadscore Reason",
    "grade": "leadscore Grade",
    "scored_at": "leadscore Scored At",
    "model_version": "leadscore Model Version",
}
#: describe() field types each write value may have.
ACCEPTED_TYPES = {
    "score": {"double", "int", "currency", "percent"},
    "fit_score": {"double", "int"},
    "engagement_score": {"double", "int"},
    "stage": {"picklist", "string"},
    "reason": {"textarea", "string"},
    "grade": {"string", "picklist"},
    "scored_at": {"datetime"},
    "model_version": {"string"},
}


class FieldSetup:
    def __init__(self, client: SalesforceClient, config: SalesforceConfig) -> None:
        self.client = client
        self.config = config
        #: Ownership problems of the write targets, once known (checked once per instance).
        self._ownership: list[str] | None = None

    def _describe(self, sobject: str) -> dict[str, dict[str, Any]]:
        # Through restful (not SFType.describe) so the answer's Sforce-Limit-Info reaches api_usage.
        result = self.client.call("describe", lambda sf: sf.restful(f"sobjects/{sobject}/describe"))
        return {f["name"]: f for f in result.get("fields", [])}

    def check(self) -> CheckReport:
        problems: list[str] = list(self.ownership())
        for sobject in OBJECTS:
            fields = self._describe(sobject)
            key = "lead_fields" if sobject == "Lead" else "contact_fields"
            for canonical, api in sorted(self.config.field_map(sobject).items()):
                if api not in fields and canonical in getattr(self.config, key):
                    problems.append(f"connectors.salesforce.{key}.{canonical}: {sobject}.{api} does not exist or is not visible")
            problems += self._write_problems(sobject, fields)
        return CheckReport(ok=not problems, problems=problems)

    def _write_problems(self, sobject: str, fields: dict[str, dict[str, Any]]) -> list[str]:
        problems = []
        for value, api in self.config.write.mapping().items():
            found = fields.get(api)
            if found is None:
                problems.append(
                    f"connectors.salesforce.write.{value}: {sobject}.{api} does not exist or the integration user "
                    f"cannot see it (run setup: it creates the field and grants access through the permission set "
                    f"{PERMISSION_SET}, or lists the steps for an admin)"
                )
            elif not found.get("updateable"):
                problems.append(f"connectors.salesforce.write.{value}: grant Edit field-level security on {sobject}.{api} "
                                f"(permission set {PERMISSION_SET})")
            elif found.get("type") not in ACCEPTED_TYPES[value]:
                problems.append(f"connectors.salesforce.write.{value}: {sobject}.{api} is of type {found.get('type')}")
        return problems

    def setup(self, spec: WriteSpec) -> SetupReport:
        fields = self._custom_fields()
        refused = self._ownership_problems(fields)
        if refused:  # before anything changes
            raise ConfigError(refused)
        self._ownership = []
        created: list[str] = []
        existing: list[str] = []
        for sobject in OBJECTS:
            for value, api in self.config.write.mapping().items():
                full = f"{sobject}.{api}"
                if full.lower() in fields:
                    existing.append(full)
                    continue
                metadata = field_metadata(value, LABELS[value], spec.stages, spec.reason_max_length)
                body = {"FullName": full, "Metadata": {**metadata, "description": managed_description(value)}}
                try:
                    self.client.call(
                        "tooling.customfield", lambda sf, b=body: sf.toolingexecute("sobjects/CustomField", method="POST", data=b)
                    )
                    created.append(full)
                except SalesforceRequestError as exc:
                    if exc.code not in _DUPLICATE:
                        raise
                    existing.append(full)
                    self._ownership = None  # appeared since the listing: whose it is is checked again
        described = {sobject: self._describe(sobject) for sobject in OBJECTS}
        todo: list[str] = []
        if self._inaccessible(described):
            todo = self._grant_access()
            described = {sobject: self._describe(sobject) for sobject in OBJECTS}
        steps_given = bool(todo)  # the admin's steps cover every field it cannot see or edit
        for sobject in OBJECTS:
            problems = [p.split(": ", 1)[1] for p in self._write_problems(sobject, described[sobject])]
            todo += [p for p in problems if not steps_given or ("field-level security" not in p and "cannot see it" not in p)]
        return SetupReport(created=created, existing=existing, todo=todo)

    # --- owned fields ----------------------------------------------------------------------------

    def ownership(self) -> list[str]:
        """Write targets that exist but are neither leadscore's nor adopted, one line each with
        its key path; listed once per instance (one Tooling query)."""
        if self._ownership is None:
            self._ownership = self._ownership_problems(self._custom_fields())
        return self._ownership

    def ensure_owned(self) -> None:
        """Refuse (:class:`ConfigError`) to write a field leadscore does not own."""
        problems = self.ownership()
        if problems:
            raise ConfigError(problems)

    def _ownership_problems(self, fields: dict[str, dict[str, Any]]) -> list[str]:
        problems = []
        for value, api in self.config.write.mapping().items():
            for sobject in OBJECTS:
                found = fields.get(f"{sobject}.{api}".lower())
                if found is None or self.config.adopted(api):
                    continue
                if not str(found.get("Description") or "").startswith(MANAGED_DESCRIPTION):
                    problems.append(
                        f"connectors.salesforce.write.{value}: {sobject}.{api} already exists and leadscore did not "
                        f"create it; expected a field created by leadscore setup (Description '{MANAGED_DESCRIPTION}...') "
                        f"or one listed in connectors.salesforce.adopt: name a new field for setup to create, or add "
                        f"'{api}' to adopt to let leadscore overwrite it"
                    )
                    break
        return problems

    def _custom_fields(self) -> dict[str, dict[str, Any]]:
        """Lead and Contact custom fields by lower-cased ``Object.ApiName__c`` (namespaced ones as
        ``ns__Name__c``), each with its ``Description``."""
        soql = ("SELECT Id, DeveloperName, NamespacePrefix, TableEnumOrId, Description FROM CustomField "
                "WHERE TableEnumOrId IN ('Lead', 'Contact')")
        result = self.client.call("tooling.query", lambda sf: sf.toolingexecute("query", params={"q": soql}))
        fields = {}
        for r in (result or {}).get("records", []):
            prefix = f"{r['NamespacePrefix']}__" if r.get("NamespacePrefix") else ""
            fields[f"{r['TableEnumOrId']}.{prefix}{r['DeveloperName']}__c".lower()] = r
        return fields

    # --- field-level security --------------------------------------------------------------------

    def _inaccessible(self, described: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
        """``Object.Field`` write targets the integration user cannot see or edit."""
        return [f"{sobject}.{api}" for sobject in OBJECTS for api in self.config.write.mapping().values()
                if not (described[sobject].get(api) or {}).get("updateable")]

    def _grant_access(self) -> list[str]:
        """Read and edit on every write target through the permission set, assigned to the
        integration user; each piece made only when missing. The admin's steps when refused."""
        try:
            user = self._user_id()
            permission_set = self._permission_set()
            granted = self._field_permissions(permission_set)
            for sobject in OBJECTS:
                for api in self.config.write.mapping().values():
                    full = f"{sobject}.{api}"
                    row = granted.get(full.lower())
                    if row is None:
                        self._create("FieldPermissions", {"ParentId": permission_set, "SobjectType": sobject, "Field": full,
                                                          "PermissionsRead": True, "PermissionsEdit": True})
                    elif not (row.get("PermissionsRead") and row.get("PermissionsEdit")):
                        self.client.call("sobject.update", lambda sf, i=row["Id"]: sf.restful(
                            f"sobjects/FieldPermissions/{i}", method="PATCH",
                            json={"PermissionsRead": True, "PermissionsEdit": True}))
            if user is None:
                return self._admin_steps("the login answered no identity URL naming the integration user",
                                         assign_only=True)
            assigned = self._query(f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{user}' "
                                   f"AND PermissionSetId = '{permission_set}'")
            if not assigned:
                self._create("PermissionSetAssignment", {"AssigneeId": user, "PermissionSetId": permission_set})
        except SalesforceRequestError as exc:
            if exc.code not in _NO_ACCESS:
                raise
            return self._admin_steps(f"{exc.code}: {exc.message}")
        except AuthError as exc:  # a 403 on a setup object: the same lack of permission
            return self._admin_steps(str(exc))
        return []

    def _user_id(self) -> str | None:
        """The integration user's id: the last part of the login's identity URL
        (``https://login.salesforce.com/id/<org id>/<user id>``)."""
        self.client.sf  # logs in when not yet done
        url = getattr(self.client.session, "identity_url", None) or ""
        last = url.rstrip("/").rsplit("/", 1)[-1]
        return last if last.startswith("005") and last.isalnum() and len(last) in (15, 18) else None

    def _permission_set(self) -> str:
        found = self._query(f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")
        if found:
            return str(found[0]["Id"])
        return self._create("PermissionSet", {
            "Name": PERMISSION_SET, "Label": PERMISSION_SET_LABEL,
            "Description": f"{MANAGED_DESCRIPTION}: read and edit on the fields leadscore writes, for its integration user.",
        })

    def _field_permissions(self, permission_set: str) -> dict[str, dict[str, Any]]:
        rows = self._query(f"SELECT Id, Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
                           f"WHERE ParentId = '{permission_set}'")
        return {str(r["Field"]).lower(): r for r in rows}

    def _query(self, soql: str) -> list[dict[str, Any]]:
        return list(self.client.call("query", lambda sf: sf.query_all(soql)).get("records", []))

    def _create(self, sobject: str, body: dict[str, Any]) -> str:
        result = self.client.call("sobject.create", lambda sf: sf.restful(f"sobjects/{sobject}", method="POST", json=body))
        return str((result or {}).get("id") or "")

    def _admin_steps(self, why: str, *, assign_only: bool = False) -> list[str]:
        """What an admin does instead (Setup, as Salesforce Help's "Create Permission Sets" and
        "Manage Permission Set Assignments" walk through it), then ``setup`` again."""
        user = self.config.username or "the integration user (the connected app's run-as user)"
        steps = [f"leadscore could not grant field access itself ({why}); an admin does it in Setup:"]
        if not assign_only:
            steps.append(f"Setup > Permission Sets > New: Label '{PERMISSION_SET_LABEL}', API Name '{PERMISSION_SET}', "
                         "License '--None--'; Save")
            for sobject in OBJECTS:
                names = ", ".join(self.config.write.mapping().values())
                steps.append(f"permission set {PERMISSION_SET} > Object Settings > {PLURAL[sobject]} > Edit: under Field "
                             f"Permissions tick Read Access and Edit Access for {names}; Save")
        steps.append(f"permission set {PERMISSION_SET} > Manage Assignments > Add Assignment: {user}; Assign")
        steps.append("then run leadscore setup again: it checks that every field is writable")
        return steps
