"""Reading HubSpot companies as accounts: the same paging as contacts, on ``hs_lastmodifieddate``.

Companies are paged exactly as contacts are (:class:`~leadscore.connectors.hubspot.pull.RecordReader`:
a listing for a full pull, keyset search windows for incremental ones, the same cursor values),
with companies' own modification stamp: HubSpot stamps ``hs_lastmodifieddate`` on companies
(the "Search the CRM" guide's default company properties), where contacts keep
``lastmodifieddate``. Each company becomes a :class:`Lead` of ``object_type == "company"`` on the
canonical account fields (:data:`~leadscore.agent.core.records.ACCOUNT_FIELDS`, mapped by
``company_fields``) and nothing else: no activities (an account's engagement is its people's).

``needs`` is ignored: an account has a dozen mapped properties, so every pull asks for all of
them, which costs nothing more (one search or listing page carries them all) and keeps the mirror
of an account whole whatever the person model reads.

``industry`` and ``type`` are enumerations in HubSpot: the stored value is an internal name
(``COMPUTER_SOFTWARE``, ``PROSPECT``), the label is what users see and write rules against
("Computer Software", "Prospect"). An enumeration value is read as its option's label, from the
properties API's definitions (one ``GET /crm/v3/properties/companies`` per connector instance, the
first time a company is read: options change about never, and a stale label costs one rule miss
until the agent restarts). A value with no option (an option deleted since) is kept as it is.

Deleted companies are not reported as ``deleted_ids``, as for contacts: search never returns
archived records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

from leadscore.agent.core.contract import Cursor, PullBatch, PullNeeds
from leadscore.agent.core.records import Lead, Unusable, unreadable_lead, usable_fields
from leadscore.connectors.hubspot.client import HubSpotClient
from leadscore.connectors.hubspot.config import HubSpotConfig
from leadscore.connectors.hubspot.pull import RecordReader, _modified, _properties
from leadscore.connectors.kit.times import parse_hubspot_time as parse_time, read_hubspot_time as read_time

#: The connector's name for a company: ``Cursor.object_type``, ``Lead.object_type``, ``ScoreUpdate.object_type``.
COMPANY = "company"
#: Read on every company pull, whatever the field map says.
ALWAYS = ("hs_object_id", "createdate", "hs_lastmodifieddate", "domain")


@dataclass(frozen=True)
class CompanyPlan:
    """What a company pull requests: every mapped property (see the module docstring)."""

    properties: list[str]


class CompanyReader(RecordReader):
    """Pages of companies as account :class:`Lead` values, with no activities."""

    object_type: ClassVar[str] = COMPANY
    plural: ClassVar[str] = "companies"
    modified: ClassVar[str] = "hs_lastmodifieddate"

    def __init__(self, client: HubSpotClient, config: HubSpotConfig) -> None:
        super().__init__(client, config)
        self._fields = config.company_field_map()
        self._labels: dict[str, dict[str, str]] | None = None

    def plan(self, needs: PullNeeds | None) -> CompanyPlan:
        """Every mapped property; ``needs`` is ignored (see the module docstring)."""
        return CompanyPlan(sorted(set(ALWAYS) | set(self._fields.values())))

    def _batch(self, records: Sequence[Any], plan: Any, cursor: Cursor) -> PullBatch:
        """The accounts of ``records``; one that cannot be read at all becomes an unreadable
        stand-in (counted ``bad``), never the end of the batch."""
        labels = self.labels() if records else {}
        leads: list[Lead] = []
        for record in records:
            try:
                leads.append(self._account(record, labels))
            except Exception as exc:  # noqa: BLE001 - the last guard: one record, not the batch
                leads.append(unreadable_lead(getattr(record, "id", None), COMPANY, exc))
        return PullBatch(leads=leads, activities=[], cursor=cursor)

    def _account(self, record: Any, labels: Mapping[str, Mapping[str, str]]) -> Lead:
        props, problems = _properties(record, COMPANY)
        raw = {name: _labelled(props[prop], labels.get(prop)) for name, prop in self._fields.items()
               if props.get(prop) not in (None, "")}
        names = dict(self._fields)
        if "website" not in raw and "website" in self._fields and props.get("domain") not in (None, ""):
            raw["website"], names["website"] = props["domain"], "domain"
        fields, unusable = usable_fields(raw, names)
        problems = [*problems, *unusable]
        created, reason = read_time(props.get("createdate"))
        if reason is not None:
            problems.append(Unusable("createdate", reason))
        return Lead(
            id=str(record.id),
            object_type=COMPANY,
            fields=fields,
            created_at=created or parse_time(getattr(record, "created_at", None)),
            updated_at=_modified(record, self.modified),
            problems=tuple(problems),
        )

    def labels(self) -> dict[str, dict[str, str]]:
        """Enumeration property -> {option value: label}, for the mapped company properties; read
        once per instance (see the module docstring)."""
        if self._labels is None:
            response = self.client.call("properties.list", self.client.properties.get_all, "companies")
            wanted = set(self._fields.values())
            self._labels = {
                p.name: {o.value: o.label for o in p.options or [] if o.value is not None and o.label}
                for p in response.results or []
                if p.name in wanted and p.type == "enumeration"
            }
        return self._labels


def _labelled(value: Any, options: Mapping[str, str] | None) -> Any:
    """An enumeration value as its label (each of a multi-select's ``;``-separated values)."""
    if not options or not isinstance(value, str):
        return value
    return ";".join(options.get(part, part) for part in value.split(";"))
