"""Creating leadscore's contact properties in HubSpot, idempotently, and checking them.

One properties listing answers both "what exists" and "what type is it", so ``check`` and
``setup`` each start from a single call; only missing pieces cost more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from connectors.base import CheckReport, SetupReport, WriteSpec
from connectors.hubspot.client import HubSpotClient, HubSpotRequestError
from connectors.hubspot.config import HubSpotConfig


@dataclass(frozen=True)
class PropertyShape:
    type: str
    field_type: str
    label: str
    description: str


SHAPES: dict[str, PropertyShape] = {
    "score": PropertyShape("number", "number", "leadscore score", "Lead score from leadscore (fit + engagement)."),
    "fit_score": PropertyShape("number", "number", "leadscore fit", "Fit part of the leadscore score."),
    "engagement_score": PropertyShape("number", "number", "leadscore engagement", "Engagement part of the leadscore score."),
    "stage": PropertyShape("enumeration", "select", "leadscore stage", "Stage from leadscore's thresholds and qualification."),
    "reason": PropertyShape("string", "textarea", "leadscore reason", "Why the lead has its score, largest contributions first."),
    "grade": PropertyShape("string", "text", "leadscore grade", "Fit band x engagement band, e.g. A1."),
    "scored_at": PropertyShape("datetime", "date", "leadscore scored at", "When leadscore last scored the lead."),
    "model_version": PropertyShape("string", "text", "leadscore model version", "Hash of the scoring model that wrote these values."),
}


class PropertySetup:
    def __init__(self, client: HubSpotClient, config: HubSpotConfig) -> None:
        self.client = client
        self.config = config

    def _existing(self) -> dict[str, Any]:
        response = self.client.call("properties.list", self.client.properties.get_all, "contacts", archived=False)
        return {p.name: p for p in response.results or []}

    def check(self) -> CheckReport:
        existing = self._existing()
        problems: list[str] = []
        for canonical, prop in sorted(self.config.field_map().items()):
            if canonical in self.config.fields and prop not in existing:
                problems.append(f"connectors.hubspot.fields.{canonical}: contact property '{prop}' does not exist")
        for value, prop in self.config.write.mapping().items():
            found = existing.get(prop)
            if found is None:
                problems.append(f"connectors.hubspot.write.{value}: contact property '{prop}' does not exist (the connector's setup creates it)")
                continue
            problems.extend(_shape_problems(value, prop, found))
        return CheckReport(ok=not problems, problems=problems, details={"properties": len(existing)})

    def setup(self, spec: WriteSpec) -> SetupReport:
        from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyUpdate

        created: list[str] = []
        existing_names: list[str] = []
        todo: list[str] = []
        group = self.config.property_group
        groups = self.client.call("properties.groups.list", self.client.property_groups.get_all, "contacts")
        if group in {g.name for g in groups.results or []}:
            existing_names.append(f"group {group}")
        else:
            try:
                self.client.call(
                    "properties.groups.create",
                    self.client.property_groups.create,
                    "contacts",
                    PropertyGroupCreate(name=group, label=self.config.property_group_label, display_order=-1),
                )
                created.append(f"group {group}")
            except HubSpotRequestError as exc:
                if exc.error.status != 409:  # 409: created meanwhile, which is what we wanted
                    raise
                existing_names.append(f"group {group}")

        existing = self._existing()
        for value, prop in self.config.write.mapping().items():
            shape = SHAPES[value]
            options = _stage_options(spec.stages) if value == "stage" else None
            found = existing.get(prop)
            if found is None:
                try:
                    self.client.call(
                        "properties.create",
                        self.client.properties.create,
                        "contacts",
                        PropertyCreate(
                            name=prop,
                            label=shape.label,
                            description=shape.description,
                            type=shape.type,
                            field_type=shape.field_type,
                            group_name=group,
                            options=[OptionInput(**o) for o in options] if options else None,
                        ),
                    )
                    created.append(prop)
                except HubSpotRequestError as exc:
                    if exc.error.status != 409:
                        raise
                    existing_names.append(prop)
                continue
            problems = _shape_problems(value, prop, found)
            if problems:
                todo.extend(problems)
                continue
            if options:
                have = {o.value for o in found.options or []}
                missing = [o for o in options if o["value"] not in have]
                if missing:
                    keep = [
                        {"label": o.label, "value": o.value, "display_order": o.display_order, "hidden": bool(o.hidden)}
                        for o in found.options or []
                    ]
                    self.client.call(
                        "properties.update",
                        self.client.properties.update,
                        "contacts",
                        prop,
                        PropertyUpdate(options=[OptionInput(**o) for o in keep + missing]),
                    )
                    created.append(f"{prop} options: {', '.join(o['value'] for o in missing)}")
                    continue
            existing_names.append(prop)
        return SetupReport(created=created, existing=existing_names, todo=todo)


def _stage_options(stages: Sequence[str]) -> list[dict[str, Any]]:
    return [{"label": s, "value": s, "display_order": i, "hidden": False} for i, s in enumerate(stages)]


def _shape_problems(value: str, prop: str, found: Any) -> list[str]:
    shape = SHAPES[value]
    problems = []
    if found.type != shape.type:
        problems.append(
            f"connectors.hubspot.write.{value}: contact property '{prop}' is of type {found.type}, expected {shape.type}"
        )
    metadata = getattr(found, "modification_metadata", None)
    if metadata is not None and getattr(metadata, "read_only_value", False):
        problems.append(f"connectors.hubspot.write.{value}: contact property '{prop}' is read-only")
    return problems
