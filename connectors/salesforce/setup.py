"""Creating leadscore's custom fields on Lead and Contact through the Tooling API, idempotently.

The Tooling API's ``CustomField`` (REST, JSON) is simpler to run than the SOAP Metadata API and
does the same job for fields. A new field is not writable by the integration user until
field-level security grants it, which an API cannot safely decide for the admin: ``setup``
reports exactly which fields still need Edit access, and ``check`` keeps reporting it.
"""

from __future__ import annotations

from typing import Any, Sequence

from connectors.base import CheckReport, SetupReport, WriteSpec
from connectors.salesforce.client import SalesforceClient, SalesforceRequestError
from connectors.salesforce.config import SalesforceConfig

OBJECTS = ("Lead", "Contact")


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

    def _describe(self, sobject: str) -> dict[str, dict[str, Any]]:
        # Through restful (not SFType.describe) so the answer's Sforce-Limit-Info reaches api_usage.
        result = self.client.call("describe", lambda sf: sf.restful(f"sobjects/{sobject}/describe"))
        return {f["name"]: f for f in result.get("fields", [])}

    def check(self) -> CheckReport:
        problems: list[str] = []
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
                    "cannot see it (run setup, then grant field-level security)"
                )
            elif not found.get("updateable"):
                problems.append(f"connectors.salesforce.write.{value}: grant Edit field-level security on {sobject}.{api}")
            elif found.get("type") not in ACCEPTED_TYPES[value]:
                problems.append(f"connectors.salesforce.write.{value}: {sobject}.{api} is of type {found.get('type')}")
        return problems

    def setup(self, spec: WriteSpec) -> SetupReport:
        created: list[str] = []
        existing: list[str] = []
        existing_names = self._existing_custom_fields()
        for sobject in OBJECTS:
            for value, api in self.config.write.mapping().items():
                full = f"{sobject}.{api}"
                if full in existing_names:
                    existing.append(full)
                    continue
                body = {"FullName": full, "Metadata": field_metadata(value, LABELS[value], spec.stages, spec.reason_max_length)}
                try:
                    self.client.call(
                        "tooling.customfield", lambda sf, b=body: sf.toolingexecute("sobjects/CustomField", method="POST", data=b)
                    )
                    created.append(full)
                except SalesforceRequestError as exc:
                    if exc.code not in ("DUPLICATE_DEVELOPER_NAME", "DUPLICATE_VALUE"):
                        raise
                    existing.append(full)
        todo = []
        for sobject in OBJECTS:
            todo += [p.split(": ", 1)[1] for p in self._write_problems(sobject, self._describe(sobject))]
        return SetupReport(created=created, existing=existing, todo=todo)

    def _existing_custom_fields(self) -> set[str]:
        soql = "SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE TableEnumOrId IN ('Lead', 'Contact')"
        result = self.client.call("tooling.query", lambda sf: sf.toolingexecute("query", params={"q": soql}))
        return {f"{r['TableEnumOrId']}.{r['DeveloperName']}__c" for r in (result or {}).get("records", [])}
