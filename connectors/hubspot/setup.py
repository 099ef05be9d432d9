"""Creating leadscore's contact (and company) properties in HubSpot, idempotently, and checking them.

One properties listing answers both "what exists" and "what type is it", so ``check`` and
``setup`` each start from a single call; only missing pieces cost more.

Owned fields only. leadscore writes a property only when its setup created it or the admin
adopted it (``connectors.hubspot.adopt``). HubSpot itself records which is which, so a lost
state store loses nothing: setup creates its properties in the leadscore group with
:data:`OWNED_MARK` in their description (see :func:`is_owned`). A write target
that exists otherwise (a built-in: ``hubspotDefined``; or anyone else's custom property) and is
not adopted is refused with a :class:`ConfigError` naming its ``write`` key, by setup before it
changes anything and by the connector's first write (:meth:`PropertySetup.verify_owned`, once
per instance, free when setup already ran in it). Setup changes the definition (stage options)
only of properties it created; an adopted property missing options is reported, not edited.

Accounts: with :attr:`WriteSpec.accounts` setup does the same on companies - the same property
names, the same group (created on companies too: HubSpot's property groups are per object type),
the same mark, the same stage options - and reports what it did there as ``company <name>``. A
company write target is checked for ownership like a contact one, before the first company write.
``check`` looks at contacts only: company properties exist only once setup ran with accounts.

Models' own fields: a model may write its values to properties of its own rather than the
``write`` map's (:attr:`ScoreUpdate.fields`). Setup creates them from :attr:`WriteSpec.field_sets`
exactly as the ``write`` map's (same shapes, group, mark, objects), and they obey the same rules:
a built-in is refused offline (:func:`connectors.hubspot.config.refuse_builtin`, the ``write``
map's own validator) and online (``hubspotDefined``), an existing property must be leadscore's or
adopted, and each is verified once per connector instance before its first write
(:meth:`PropertySetup.verify_owned`), raising :class:`ConfigError` like a ``write`` target. Their
messages name them ``model write field <value>`` (the connector does not know the model's name).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.contract import CheckReport, SetupReport, WriteSpec
from leadscore.connectors.hubspot.client import HubSpotClient, HubSpotRequestError
from leadscore.connectors.hubspot.config import HubSpotConfig, refuse_builtin

#: In the description of every property setup creates: what marks it leadscore's, in HubSpot.
OWNED_MARK = "Managed by leadscore."


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


#: The descriptions setup wrote before :data:`OWNED_MARK` existed.
_UNMARKED = frozenset(shape.description for shape in SHAPES.values())


#: The objects API's name of each object type setup writes properties on, and how messages call it.
SINGULAR = {"contacts": "contact", "companies": "company"}

#: How messages name a model's own write field (``model write field score``): the connector
#: sees the field, not the model it belongs to.
MODEL_FIELD = "model write field"


@dataclass(frozen=True)
class Target:
    """One write target: the value written (a name in ``SHAPES``), the property it goes to, and
    how messages name it (``connectors.hubspot.write.score``, ``model write field score``)."""

    value: str
    prop: str
    key: str


def write_map_targets(config: HubSpotConfig) -> list[Target]:
    """The ``write`` map's targets."""
    return [Target(value, prop, f"connectors.hubspot.write.{value}") for value, prop in config.write.mapping().items()]


def model_targets(fields: Mapping[str, str]) -> list[Target]:
    """A model's own fields (value name -> property) as targets."""
    return [Target(value, prop, f"{MODEL_FIELD} {value}") for value, prop in fields.items()]


def builtin_problems(targets: Iterable[Target]) -> list[str]:
    """One line per target naming a HubSpot built-in by name (offline, no call), by the very
    validator the ``write`` map's config uses."""
    problems = []
    for target in targets:
        try:
            refuse_builtin(target.prop)
        except ValueError as exc:
            problems.append(f"{target.key}: {exc}")
    return problems


class PropertySetup:
    def __init__(self, client: HubSpotClient, config: HubSpotConfig) -> None:
        self.client = client
        self.config = config
        #: The object types (``contacts``, ``companies``) whose existing ``write`` map targets are
        #: known to be leadscore's or adopted.
        self._verified: set[str] = set()
        #: Per object type, the properties known to be writable (verified, or created by setup):
        #: the ``write`` map's once verified, and models' own fields one by one.
        self._owned: defaultdict[str, set[str]] = defaultdict(set)

    def verify_owned(self, object_type: str = "contacts", fields: Iterable[Target] = ()) -> None:
        """Raise :class:`ConfigError` (one line per offending key) unless every ``write`` target
        of ``object_type``, and every one of ``fields`` (models' own fields), that exists may be
        written: built-ins of ``fields`` refused by name first, then one properties listing for
        whatever of both is not verified yet. Each is verified once per instance and type (none
        after setup)."""
        pending = list({t.prop: t for t in fields if t.prop not in self._owned[object_type]}.values())
        problems = builtin_problems(pending)
        if problems:
            raise ConfigError(problems)
        if object_type in self._verified and not pending:
            return
        existing = self._existing(object_type)
        if object_type not in self._verified:
            self._refuse_foreign(existing, object_type, write_map_targets(self.config))
            self._verified.add(object_type)
        self._refuse_foreign(existing, object_type, pending)

    def _refuse_foreign(self, existing: dict[str, Any], object_type: str, targets: Sequence[Target]) -> None:
        """Raise :class:`ConfigError` unless every target that exists in ``existing`` may be
        written; then the targets are known writable."""
        problems = [
            problem
            for target in targets
            if target.prop in existing
            and (problem := ownership_problem(target.value, target.prop, existing[target.prop], self.config,
                                              SINGULAR[object_type], target.key))
        ]
        if problems:
            raise ConfigError(problems)
        self._owned[object_type].update(t.prop for t in targets)

    def _existing(self, object_type: str = "contacts") -> dict[str, Any]:
        # ``archived`` left out: it defaults to false, and the SDK would send Python's "False"
        # where the properties API documents a boolean (true/false).
        response = self.client.call("properties.list", self.client.properties.get_all, object_type)
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
            foreign = ownership_problem(value, prop, found, self.config)
            if foreign:
                problems.append(foreign)
                continue
            problems.extend(_shape_problems(value, prop, found))
        return CheckReport(ok=not problems, problems=problems, details={"properties": len(existing)})

    def setup(self, spec: WriteSpec) -> SetupReport:
        """The write properties (the ``write`` map's and ``spec.field_sets``') on contacts, and
        with ``spec.accounts`` on companies too; every ownership problem of both is raised before
        anything is created or changed."""
        types = ["contacts", "companies"] if spec.accounts else ["contacts"]
        targets = setup_targets(self.config, spec)
        existing = {object_type: self._existing(object_type) for object_type in types}
        for object_type in types:
            self._refuse_foreign(existing[object_type], object_type, targets)
            self._verified.add(object_type)
        reports = [self._setup(spec, object_type, existing[object_type], targets) for object_type in types]
        return SetupReport(created=[name for r in reports for name in r.created],
                           existing=[name for r in reports for name in r.existing],
                           todo=[line for r in reports for line in r.todo])

    def _setup(self, spec: WriteSpec, object_type: str, existing: dict[str, Any], targets: Sequence[Target]) -> SetupReport:
        """The group and the write properties (``targets``) of one object type; names in the
        report carry ``company `` before them on companies."""
        from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyUpdate

        created: list[str] = []
        existing_names: list[str] = []
        todo: list[str] = []
        group = self.config.property_group
        label = SINGULAR[object_type]
        named = (lambda name: name) if object_type == "contacts" else (lambda name: f"company {name}")
        groups = self.client.call("properties.groups.list", self.client.property_groups.get_all, object_type)
        if group in {g.name for g in groups.results or []}:
            existing_names.append(named(f"group {group}"))
        else:
            try:
                self.client.call(
                    "properties.groups.create",
                    self.client.property_groups.create,
                    object_type,
                    PropertyGroupCreate(name=group, label=self.config.property_group_label, display_order=-1),
                )
                created.append(named(f"group {group}"))
            except HubSpotRequestError as exc:
                if exc.error.status != 409:  # 409: created meanwhile, which is what we wanted
                    raise
                existing_names.append(named(f"group {group}"))

        for target in targets:
            value, prop, key = target.value, target.prop, target.key
            shape = SHAPES[value]
            options = _stage_options(spec.stages) if value == "stage" else None
            found = existing.get(prop)
            if found is None:
                try:
                    self.client.call(
                        "properties.create",
                        self.client.properties.create,
                        object_type,
                        PropertyCreate(
                            name=prop,
                            label=shape.label,
                            description=f"{shape.description} {OWNED_MARK}",
                            type=shape.type,
                            field_type=shape.field_type,
                            group_name=group,
                            options=[OptionInput(**o) for o in options] if options else None,
                        ),
                    )
                    created.append(named(prop))
                except HubSpotRequestError as exc:
                    if exc.error.status != 409:
                        raise
                    # Created meanwhile, by someone: leadscore's only if it says so.
                    was_verified = object_type in self._verified
                    self._verified.discard(object_type)
                    self._owned[object_type].discard(prop)
                    latest = self.client.call("properties.read", self.client.properties.get_by_name, object_type, prop)
                    self._refuse_foreign({prop: latest}, object_type, [target])
                    if was_verified:
                        self._verified.add(object_type)
                    existing_names.append(named(prop))
                continue
            problems = _shape_problems(value, prop, found, label, key)
            if problems:
                todo.extend(problems)
                continue
            if options:
                have = {o.value for o in found.options or []}
                missing = [o for o in options if o["value"] not in have]
                if missing and not is_owned(found, self.config):
                    # Adopted: its definition is the admin's, so the missing stages are theirs to add.
                    todo.append(
                        f"{key}: adopted {named('property')} '{prop}' has no option for "
                        f"{', '.join(o['value'] for o in missing)}: add them in HubSpot (leadscore changes only "
                        "the properties it created)"
                    )
                    continue
                if missing:
                    keep = [
                        {"label": o.label, "value": o.value, "display_order": o.display_order, "hidden": bool(o.hidden)}
                        for o in found.options or []
                    ]
                    self.client.call(
                        "properties.update",
                        self.client.properties.update,
                        object_type,
                        prop,
                        PropertyUpdate(options=[OptionInput(**o) for o in keep + missing]),
                    )
                    created.append(named(f"{prop} options: {', '.join(o['value'] for o in missing)}"))
                    continue
            existing_names.append(named(prop))
        return SetupReport(created=created, existing=existing_names, todo=todo)


def is_owned(found: Any, config: HubSpotConfig) -> bool:
    """Whether leadscore's setup created this property: a custom property carrying
    :data:`OWNED_MARK` in its description, or (created before the mark existed) one in
    leadscore's property group with the very description that setup gave it then. A property
    merely sitting in the group is not enough: the group is the admin's to name."""
    if getattr(found, "hubspot_defined", None):
        return False
    description = getattr(found, "description", None) or ""
    if OWNED_MARK in description:
        return True
    return getattr(found, "group_name", None) == config.property_group and description in _UNMARKED


def ownership_problem(value: str, prop: str, found: Any, config: HubSpotConfig, label: str = "contact",
                      key: str | None = None) -> str | None:
    """Why leadscore may not write the existing property ``prop`` (the ``write.<value>`` target,
    or the one ``key`` names) of a ``label`` (contact, company), or None when it may: setup
    created it, or the admin adopted it."""
    key = key or f"connectors.hubspot.write.{value}"
    if getattr(found, "hubspot_defined", None):
        return (f"{key}: '{prop}' is a HubSpot built-in {label} property, which leadscore "
                "never writes: map it to a new property (setup creates it)")
    if prop in config.adopt or is_owned(found, config):
        return None
    return (f"{key}: {label} property '{prop}' exists and leadscore did not create it: "
            f"add it to connectors.hubspot.adopt to let leadscore write it, or map {value} to a new property")


def setup_targets(config: HubSpotConfig, spec: WriteSpec) -> list[Target]:
    """The ``write`` map's targets, then those of ``spec.field_sets`` not among them. Raises
    :class:`ConfigError` for a field set's unknown value, built-in property, or property another
    value already goes to (one property has one shape)."""
    targets = write_map_targets(config)
    by_prop = {t.prop: t for t in targets}
    problems: list[str] = []
    for fields in spec.field_sets:
        for target in model_targets(fields):
            if target.value not in SHAPES:
                problems.append(f"{target.key}: not a writable value (one of {', '.join(sorted(SHAPES))})")
                continue
            problems.extend(builtin_problems([target]))
            other = by_prop.get(target.prop)
            if other is None:
                by_prop[target.prop] = target
                targets.append(target)
            elif other.value != target.value:
                problems.append(f"{target.key}: property '{target.prop}' is also where {other.key} is written: "
                                "one property holds one value, name another")
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    return targets


def _stage_options(stages: Sequence[str]) -> list[dict[str, Any]]:
    return [{"label": s, "value": s, "display_order": i, "hidden": False} for i, s in enumerate(stages)]


def _shape_problems(value: str, prop: str, found: Any, label: str = "contact", key: str | None = None) -> list[str]:
    shape = SHAPES[value]
    key = key or f"connectors.hubspot.write.{value}"
    problems = []
    if found.type != shape.type:
        problems.append(f"{key}: {label} property '{prop}' is of type {found.type}, expected {shape.type}")
    metadata = getattr(found, "modification_metadata", None)
    if metadata is not None and getattr(metadata, "read_only_value", False):
        problems.append(f"{key}: {label} property '{prop}' is read-only")
    return problems
