"""Creating leadscore's custom fields on Lead and Contact (and Account, when the agent scores
accounts: ``WriteSpec.accounts``) through the Tooling API, idempotently, and granting the
integration user access to them the way an admin would through the API.

The Tooling API's ``CustomField`` (REST, JSON) is simpler to run than the SOAP Metadata API and
does the same job for fields. Each field leadscore creates carries a ``Description`` starting
"Managed by leadscore", so it stays known as leadscore's even when the state store is lost.

**Owned fields only.** leadscore writes a field only when it created it (that Description) or
the admin adopted it by name (``connectors.salesforce.adopt``). ``setup`` refuses, before it
changes anything, when a write target exists and is neither; it never changes the definition of
an existing field. The connector checks the same once per instance before its first write, for
the objects it writes (an Account field is checked only when Accounts are written; a Lead's fields
on Contact too, where a converted Lead's values go).

**Models' own fields.** Besides the ``write`` map, ``WriteSpec.field_sets`` names further value ->
field maps (the own fields of models that have them): ``setup`` creates each as it does the
``write`` fields (same types, the same Description mark, the same grants, on the same objects) and
refuses one that exists and is neither leadscore's nor adopted. A ``ScoreUpdate`` naming its own
``fields`` is written only after each (object, field) it targets was found leadscore's (or adopted)
and existing - each checked once per connector instance (:meth:`FieldSetup.ensure_fields_owned`);
otherwise the write is refused as a whole with a :class:`ConfigError`, as for the ``write`` map.
Every such name passes the API-name grammar (:func:`check_api_name`) before it reaches SOQL or a
request.

**Field-level security.** A field created through the Tooling API is visible to no profile.
``setup`` grants access as the Object Reference describes ("To grant a user access to a field,
associate a FieldPermissions record with a PermissionSet that's assigned to a user"): a
``PermissionSet`` ``Leadscore_Integration``, one ``FieldPermissions`` (read and edit) per written
field on Lead and Contact (and Account), and a ``PermissionSetAssignment`` to the integration user (its id from
the login's identity URL), each created only when missing. When the user may not
(``INSUFFICIENT_ACCESS_OR_READONLY``: it lacks "Manage Profiles and Permission Sets" or "Assign
Permission Sets"), ``setup`` reports the exact steps for an admin instead, and ``check`` keeps
reporting the fields it cannot write.

**Lead Status.** With ``connectors.salesforce.lead_status``, ``check`` also reports a mapped value
that is not an active value of the Lead Status picklist (as describe lists it), or that is a
converted status (``LeadStatus.IsConverted``: only lead conversion sets one), and a ``Status``
the integration user cannot edit.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from leadscore.agent.core.errors import AuthError, ConfigError
from leadscore.agent.core.contract import CheckReport, SetupReport, WriteSpec
from leadscore.connectors.salesforce.client import SalesforceClient, SalesforceRequestError
from leadscore.connectors.salesforce.config import MANAGED_DESCRIPTION, SalesforceConfig, check_api_name


def lead_statuses_converted(client: SalesforceClient) -> frozenset[str]:
    """The Lead Status values (lower-cased) that represent a converted lead: ``LeadStatus`` rows
    with ``IsConverted`` (Object Reference, LeadStatus: "Query this object to retrieve the set of
    values in the lead status picklist"); ``ApiName`` (API 36.0+) is the value a Lead's Status holds."""
    rows = client.call("query", lambda sf: sf.query_all("SELECT ApiName, MasterLabel FROM LeadStatus WHERE IsConverted = true"))
    return frozenset(str(r.get("ApiName") or r.get("MasterLabel") or "").lower() for r in rows.get("records", []))

OBJECTS = ("Lead", "Contact")
#: What setup and the ownership check cover when accounts are scored too.
WITH_ACCOUNTS = (*OBJECTS, "Account")
PERMISSION_SET = "Leadscore_Integration"
PERMISSION_SET_LABEL = "leadscore Integration"
#: Status codes of a save the user has no permission for.
_NO_ACCESS = {"INSUFFICIENT_ACCESS_OR_READONLY", "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", "INSUFFICIENT_ACCESS"}
_DUPLICATE = {"DUPLICATE_DEVELOPER_NAME", "DUPLICATE_VALUE"}
PLURAL = {"Lead": "Leads", "Contact": "Contacts", "Account": "Accounts"}


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


def field_label(api: str) -> str:
    """A model field's label (40 characters at most): its developer name, spaced ("Churn Score"),
    so two fields holding the same value on one object are told apart in the org's UI."""
    name = api[:-3] if api.lower().endswith("__c") else api
    return name.rsplit("__", 1)[-1].replace("_", " ")[:40]


class Target(NamedTuple):
    """One field leadscore writes: where it is configured (the key path problems name), the value
    it holds, its API name."""

    where: str
    value: str
    api: str


def model_field_label(value: str, api: str) -> str:
    """How problems name a model's own field (``ScoreUpdate.fields``, ``WriteSpec.field_sets``)."""
    return f"model field {api} ({value})"


def model_field_targets(field_set: Mapping[str, str]) -> list[Target]:
    """A model's value -> field map as targets, each name checked against the API-name grammar
    (a custom field's) and each value a writable one: a :class:`ConfigError` naming every problem."""
    targets, problems = [], []
    for value, api in field_set.items():
        label = model_field_label(value, str(api))
        if value not in LABELS:
            problems.append(f"{label}: '{value}' is not a value leadscore writes ({', '.join(sorted(LABELS))})")
            continue
        try:
            targets.append(Target(label, value, check_api_name(api, custom=True)))
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
    seen: dict[str, str] = {}
    for target in targets:
        other = seen.setdefault(target.api.lower(), target.value)
        if other != target.value:
            problems.append(f"{target.where}: {target.api} is named for both {other} and {target.value}")
    if problems:
        raise ConfigError(problems)
    return targets


class FieldSetup:
    def __init__(self, client: SalesforceClient, config: SalesforceConfig) -> None:
        self.client = client
        self.config = config
        #: Custom fields of the write objects as last listed (one Tooling query per instance).
        self._fields: dict[str, dict[str, Any]] | None = None
        #: Objects whose write targets were found leadscore's (or adopted): checked once each.
        self._owned: set[str] = set()
        #: Models' own fields, ``(object, lower-cased api name)``, found existing and leadscore's
        #: (or adopted): checked once each.
        self._owned_fields: set[tuple[str, str]] = set()

    def write_targets(self) -> list[Target]:
        """The ``write`` map's fields."""
        return [Target(f"connectors.salesforce.write.{value}", value, api) for value, api in self.config.write.mapping().items()]

    def spec_targets(self, spec: WriteSpec) -> list[Target]:
        """The ``write`` map's fields, then each of ``spec.field_sets``' not already among them (a
        field named for two different values is a :class:`ConfigError`: it cannot have both types)."""
        targets = self.write_targets()
        held = {t.api.lower(): t for t in targets}
        problems = []
        for field_set in spec.field_sets:
            for target in model_field_targets(field_set):
                found = held.setdefault(target.api.lower(), target)
                if found is target:
                    targets.append(target)
                elif found.value != target.value:
                    problems.append(f"{target.where}: {target.api} is also {found.where}, for {found.value}")
        if problems:
            raise ConfigError(problems)
        return targets

    def _describe(self, sobject: str) -> dict[str, dict[str, Any]]:
        return {f["name"]: f for f in self.describe(sobject).get("fields", [])}

    def describe(self, sobject: str) -> dict[str, Any]:
        # Through restful (not SFType.describe) so the answer's Sforce-Limit-Info reaches api_usage.
        return dict(self.client.call("describe", lambda sf: sf.restful(f"sobjects/{sobject}/describe")) or {})

    def check(self) -> CheckReport:
        """Credentials, ownership and every write target on Lead and Contact; on Account only
        when a write target exists there (the config scores accounts: ``check`` is not told)."""
        described = {sobject: self._describe(sobject) for sobject in WITH_ACCOUNTS}
        mapping = self.config.write.mapping()
        objects = [*OBJECTS, *(("Account",) if any(api in described["Account"] for api in mapping.values()) else ())]
        problems: list[str] = list(self.ownership(objects))
        for sobject in objects:
            fields = described[sobject]
            key = {"Lead": "lead_fields", "Contact": "contact_fields", "Account": "account_fields"}[sobject]
            for canonical, api in sorted(self.config.field_map(sobject).items()):
                if api not in fields and canonical in getattr(self.config, key):
                    problems.append(f"connectors.salesforce.{key}.{canonical}: {sobject}.{api} does not exist or is not visible")
            problems += self._write_problems(sobject, fields)
        if self.config.lead_status:
            problems += self._lead_status_problems(described["Lead"])
        return CheckReport(ok=not problems, problems=problems)

    def _lead_status_problems(self, lead_fields: dict[str, dict[str, Any]]) -> list[str]:
        """Mapped Status values that are not active picklist values, or are converted ones."""
        status = lead_fields.get("Status") or {}
        active = {str(v.get("value")) for v in status.get("picklistValues") or [] if v.get("active")}
        converted = lead_statuses_converted(self.client)
        problems = []
        if not status.get("updateable"):
            problems.append("connectors.salesforce.lead_status: the integration user cannot edit Lead.Status "
                            "(grant Edit on the field, or leave lead_status out)")
        for stage, value in sorted(self.config.lead_status.items()):
            if value.lower() in converted:
                problems.append(f"connectors.salesforce.lead_status.{stage}: '{value}' is a converted Lead Status; "
                                "only lead conversion sets one, so leadscore never writes it")
            elif value not in active:
                problems.append(f"connectors.salesforce.lead_status.{stage}: '{value}' is not an active value of the "
                                f"Lead Status picklist ({', '.join(sorted(active)) or 'none visible'})")
        return problems

    def _write_problems(self, sobject: str, fields: dict[str, dict[str, Any]],
                        targets: Sequence[Target] | None = None) -> list[str]:
        problems = []
        for where, value, api in self.write_targets() if targets is None else targets:
            found = fields.get(api)
            if found is None:
                problems.append(
                    f"{where}: {sobject}.{api} does not exist or the integration user "
                    f"cannot see it (run setup: it creates the field and grants access through the permission set "
                    f"{PERMISSION_SET}, or lists the steps for an admin)"
                )
            elif not found.get("updateable"):
                problems.append(f"{where}: grant Edit field-level security on {sobject}.{api} "
                                f"(permission set {PERMISSION_SET})")
            elif found.get("type") not in ACCEPTED_TYPES[value]:
                problems.append(f"{where}: {sobject}.{api} is of type {found.get('type')}")
        return problems

    def setup(self, spec: WriteSpec) -> SetupReport:
        objects = WITH_ACCOUNTS if spec.accounts else OBJECTS
        targets = self.spec_targets(spec)  # a ConfigError for a bad model field name, before any call
        fields = self._custom_fields()
        refused = self._ownership_problems(fields, objects, targets)
        if refused:  # before anything changes
            raise ConfigError(refused)
        self._owned.update(objects)
        model_fields = targets[len(self.write_targets()):]
        self._owned_fields.update((sobject, t.api.lower()) for sobject in objects for t in model_fields)
        created: list[str] = []
        existing: list[str] = []
        for sobject in objects:
            for target in targets:
                value, api = target.value, target.api
                full = f"{sobject}.{api}"
                if full.lower() in fields:
                    existing.append(full)
                    continue
                label = field_label(api) if target in model_fields else LABELS[value]
                metadata = field_metadata(value, label, spec.stages, spec.reason_max_length)
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
                    # appeared since the listing: whose it is is checked again
                    if target in model_fields:
                        self._owned_fields.discard((sobject, api.lower()))
                    else:
                        self._owned.discard(sobject)
        self._fields = None  # listed again when next needed: setup just changed it
        apis = [t.api for t in targets]
        described = {sobject: self._describe(sobject) for sobject in objects}
        todo: list[str] = []
        if self._inaccessible(described, apis):
            todo = self._grant_access(objects, apis)
            described = {sobject: self._describe(sobject) for sobject in objects}
        steps_given = bool(todo)  # the admin's steps cover every field it cannot see or edit
        for sobject in objects:
            problems = [p.split(": ", 1)[1] for p in self._write_problems(sobject, described[sobject], targets)]
            todo += [p for p in problems if not steps_given or ("field-level security" not in p and "cannot see it" not in p)]
        return SetupReport(created=created, existing=existing, todo=todo)

    # --- owned fields ----------------------------------------------------------------------------

    def ownership(self, objects: Sequence[str] = OBJECTS) -> list[str]:
        """Write targets on ``objects`` that exist but are neither leadscore's nor adopted, one
        line each with its key path; the custom fields are listed once per instance (one Tooling
        query), and an object found clean is not checked again."""
        todo = tuple(o for o in objects if o not in self._owned)
        if not todo:
            return []
        if self._fields is None:
            self._fields = self._custom_fields()
        problems = self._ownership_problems(self._fields, todo)
        if not problems:
            self._owned.update(todo)
        return problems

    def ensure_owned(self, objects: Sequence[str] = OBJECTS) -> None:
        """Refuse (:class:`ConfigError`) to write a field of ``objects`` leadscore does not own."""
        problems = self.ownership(objects)
        if problems:
            raise ConfigError(problems)

    def ensure_fields_owned(self, wanted: Iterable[tuple[str, str, str]]) -> None:
        """Refuse (:class:`ConfigError`, one line per field) to write a model's own field - each
        ``(object, API name, value)`` - that does not exist or exists and is neither leadscore's
        nor adopted. Each is checked once per instance; the custom fields are listed as for the
        ``write`` map, and listed again (once a call) when one is not in the listing held, since
        ``setup`` may have made it meanwhile."""
        todo: dict[tuple[str, str], tuple[str, str, str]] = {}
        for sobject, api, value in wanted:
            key = (sobject, api.lower())
            if key not in self._owned_fields:
                todo.setdefault(key, (sobject, api, value))
        if not todo:
            return
        if self._fields is None or any(f"{o}.{a}".lower() not in self._fields for o, a in todo):
            self._fields = self._custom_fields()  # made by a setup since the listing held, perhaps
        fields = self._fields
        problems = []
        for key, (sobject, api, value) in sorted(todo.items()):
            where = model_field_label(value, api)
            found = fields.get(f"{sobject}.{api}".lower())
            if found is None:
                problems.append(f"{where}: {sobject}.{api} does not exist; leadscore writes a model's own fields only "
                                "once setup created them (run leadscore setup)")
            elif not self.config.adopted(api) and not _managed(found):
                problems.append(_not_ours(where, sobject, api))
            else:
                self._owned_fields.add(key)
        if problems:
            raise ConfigError(problems)

    def _ownership_problems(self, fields: dict[str, dict[str, Any]], objects: Sequence[str] = OBJECTS,
                            targets: Sequence[Target] | None = None) -> list[str]:
        problems = []
        for where, _value, api in self.write_targets() if targets is None else targets:
            for sobject in objects:
                found = fields.get(f"{sobject}.{api}".lower())
                if found is None or self.config.adopted(api):
                    continue
                if not _managed(found):
                    problems.append(_not_ours(where, sobject, api))
                    break
        return problems

    def _custom_fields(self) -> dict[str, dict[str, Any]]:
        """Lead, Contact and Account custom fields by lower-cased ``Object.ApiName__c`` (namespaced
        ones as ``ns__Name__c``), each with its ``Description``."""
        soql = ("SELECT Id, DeveloperName, NamespacePrefix, TableEnumOrId, Description FROM CustomField "
                "WHERE TableEnumOrId IN ('Lead', 'Contact', 'Account')")
        result = self.client.call("tooling.query", lambda sf: sf.toolingexecute("query", params={"q": soql}))
        fields = {}
        for r in (result or {}).get("records", []):
            prefix = f"{r['NamespacePrefix']}__" if r.get("NamespacePrefix") else ""
            fields[f"{r['TableEnumOrId']}.{prefix}{r['DeveloperName']}__c".lower()] = r
        return fields

    # --- field-level security --------------------------------------------------------------------

    def _inaccessible(self, described: dict[str, dict[str, dict[str, Any]]], apis: Sequence[str]) -> list[str]:
        """``Object.Field`` write targets the integration user cannot see or edit."""
        return [f"{sobject}.{api}" for sobject in described for api in apis
                if not (described[sobject].get(api) or {}).get("updateable")]

    def _grant_access(self, objects: Sequence[str], apis: Sequence[str]) -> list[str]:
        """Read and edit on every write target through the permission set, assigned to the
        integration user; each piece made only when missing. The admin's steps when refused."""
        try:
            user = self._user_id()
            permission_set = self._permission_set()
            granted = self._field_permissions(permission_set)
            for sobject in objects:
                for api in apis:
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
                return self._admin_steps("the login answered no identity URL naming the integration user", objects,
                                         apis, assign_only=True)
            assigned = self._query(f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{user}' "
                                   f"AND PermissionSetId = '{permission_set}'")
            if not assigned:
                self._create("PermissionSetAssignment", {"AssigneeId": user, "PermissionSetId": permission_set})
        except SalesforceRequestError as exc:
            if exc.code not in _NO_ACCESS:
                raise
            return self._admin_steps(f"{exc.code}: {exc.message}", objects, apis)
        except AuthError as exc:  # a 403 on a setup object: the same lack of permission
            return self._admin_steps(str(exc), objects, apis)
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

    def _admin_steps(self, why: str, objects: Sequence[str], apis: Sequence[str], *, assign_only: bool = False) -> list[str]:
        """What an admin does instead (Setup, as Salesforce Help's "Create Permission Sets" and
        "Manage Permission Set Assignments" walk through it), then ``setup`` again."""
        user = self.config.username or "the integration user (the connected app's run-as user)"
        steps = [f"leadscore could not grant field access itself ({why}); an admin does it in Setup:"]
        if not assign_only:
            steps.append(f"Setup > Permission Sets > New: Label '{PERMISSION_SET_LABEL}', API Name '{PERMISSION_SET}', "
                         "License '--None--'; Save")
            for sobject in objects:
                names = ", ".join(apis)
                steps.append(f"permission set {PERMISSION_SET} > Object Settings > {PLURAL[sobject]} > Edit: under Field "
                             f"Permissions tick Read Access and Edit Access for {names}; Save")
        steps.append(f"permission set {PERMISSION_SET} > Manage Assignments > Add Assignment: {user}; Assign")
        steps.append("then run leadscore setup again: it checks that every field is writable")
        return steps


def _managed(found: Mapping[str, Any]) -> bool:
    """A listed custom field carries leadscore's Description mark."""
    return str(found.get("Description") or "").startswith(MANAGED_DESCRIPTION)


def _not_ours(where: str, sobject: str, api: str) -> str:
    return (f"{where}: {sobject}.{api} already exists and leadscore did not "
            f"create it; expected a field created by leadscore setup (Description '{MANAGED_DESCRIPTION}...') "
            f"or one listed in connectors.salesforce.adopt: name a new field for setup to create, or add "
            f"'{api}' to adopt to let leadscore overwrite it")
