"""Writing score updates to Leads, Contacts and Accounts: sObject Collections, or Bulk API 2.0 when large.

Accounts (``ScoreUpdate.object_type == "account"``, when the agent scores accounts) take the same
configured field names on the Account object, through the same paths; one call may mix types
(Collections takes mixed types in one request; Bulk runs one job per object).

**A model's own fields.** An update with ``fields`` (a model with its own fields) is written to
those fields - every value it carries - instead of the ``write`` map; one call may mix updates of
several models. Collections takes each record's own field set in one request. Bulk 2.0 runs one job
per object and field map (the ``write`` map, or one model's): within a job the CSV header is the
union of its rows' fields, and a row's cell for a field its update does not carry is empty, which
Bulk 2.0 reads as "leave unchanged" (``None`` and ``""`` go as ``#N/A``: cleared, as in
Collections). Splitting by field map costs a job per model and object, and keeps a job that fails
as a whole over one model's field (deleted, its access revoked) from failing other models' records.
The ``stage`` value moves the Lead Status (below) whichever field holds it, and a Lead converted
since it was pulled takes its update's own fields on its Contact.

Below ``bulk_threshold`` changed records, ``PATCH composite/sobjects`` takes 200 records a call
with ``allOrNone: false`` and answers one SaveResult per record. At or above it, one Bulk 2.0
ingest job per object type takes them all (a handful of calls whatever the count), and the
failed records are read back from the job.

A Lead converted since it was pulled cannot be updated (``CANNOT_UPDATE_CONVERTED_LEAD``): its
values are written to the Contact it became, and the result says so (``written_to``).

Both paths classify failures alike, per record (:func:`classify`): a status code in
``_RETRYABLE`` (a lock, a timeout, the server busy) is retried as it is; any other (a deleted
record, a bad picklist value, a field missing or without field-level security, a converted Lead)
waits for a person or a change. A Bulk job that fails as a whole (``Failed``, its
``errorMessage`` "InvalidBatch : Field name not found : X", ...) fails its records with the
job's code, permanent or retryable as :data:`connectors.salesforce.client.BULK_RETRYABLE` says,
instead of being retried on every run.

An empty value means the same on both paths: Collections clears a field with JSON ``null``;
Bulk API 2.0 ignores an empty cell ("Empty field values are ignored when you update records. To
set a field value to null, use a field value of #N/A.": Bulk API 2.0 Developer Guide, "Valid CSV
Record Rows"), so ``None`` goes as ``#N/A``.

Every write first checks, once per connector and object, that each target field is leadscore's
own or adopted (:meth:`connectors.salesforce.setup.FieldSetup.ensure_owned`), and, once per
connector and field, that each model field an update names passes the API-name grammar, exists and
is leadscore's own or adopted (:meth:`~connectors.salesforce.setup.FieldSetup.ensure_fields_owned`);
a Lead's fields are checked on Contact too (a converted Lead's values go there). Any problem refuses
the whole call with a :class:`ConfigError`, one line per field, before anything is written.

**Lead Status, forward only** (``connectors.salesforce.lead_status``, as HubSpot's ``lifecycle``):
an update of a Lead whose ``stage`` maps to a Status value also sets ``Status`` - when, and only
when, the mapped value comes after the Lead's current Status in the picklist's order as describe
lists it (Lead Status values are ordered: ``LeadStatus.SortOrder``, "Number used to sort this value
in the lead status picklist"). Never a converted status (``LeadStatus.IsConverted``: only
``convertLead()`` sets one, its ``convertedStatus`` "Valid LeadStatus value for a converted lead"),
never a Lead whose current Status is not in that order, never a converted Lead (its Contact takes
the score values only), never a Contact or Account. The order and the converted values are read
once per connector (one describe, one query); the current Statuses once per write (a query per 500
Leads), so a Lead moved on in Salesforce meanwhile is not moved back.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime
from typing import Any, Callable, Collection, Hashable, Mapping, Sequence

import structlog

from leadscore.agent.core.errors import ConfigError, QuotaExhausted, TransientError
from leadscore.agent.core.contract import ScoreUpdate, WriteResult, WriteStatus
from leadscore.connectors.salesforce.client import BulkJobFailed, SalesforceClient, SalesforceRequestError
from leadscore.connectors.salesforce.config import SalesforceConfig, check_api_name
from leadscore.connectors.kit.chunking import chunks
from leadscore.connectors.kit.times import iso_z
from leadscore.connectors.salesforce.pull import IN_CHUNK, ConversionMap, in_list
from leadscore.connectors.salesforce.setup import lead_statuses_converted, model_field_label

COLLECTION_SIZE = 200  # sObject Collections' maximum records per call
SOBJECT_OF = {"lead": "Lead", "contact": "Contact", "account": "Account"}
#: The Lead field ``connectors.salesforce.lead_status`` moves.
STATUS = "Status"
log = structlog.get_logger("leadscore.salesforce")

#: Per-record error codes worth retrying as they are; everything else needs a person or a change.
_RETRYABLE = {"UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG", "SERVER_UNAVAILABLE", "QUERY_TIMEOUT"}
_CONVERTED = "CANNOT_UPDATE_CONVERTED_LEAD"
#: Bulk API 2.0's cell for "set this field to null" (an empty cell leaves it unchanged).
BULK_NULL = "#N/A"


def classify(code: str) -> str:
    """``RETRYABLE`` or ``PERMANENT`` for a per-record status code, on either write path."""
    return "RETRYABLE" if code in _RETRYABLE else "PERMANENT"


def field_value(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_z(value)
    if name in ("score", "fit_score", "engagement_score") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: The Bulk job group of the updates written to the ``write`` map.
WRITE_MAP: Hashable = None


class RecordWriter:
    def __init__(self, client: SalesforceClient, config: SalesforceConfig, conversions: ConversionMap,
                 ensure_owned: Callable[[Sequence[str]], None] = lambda objects: None,
                 ensure_fields_owned: Callable[[Collection[tuple[str, str, str]]], None] = lambda wanted: None) -> None:
        self.client = client
        self.config = config
        self.conversions = conversions
        self.ensure_owned = ensure_owned
        self.ensure_fields_owned = ensure_fields_owned
        self.mapping = config.write.mapping()
        self.failures: Counter[str] = Counter()
        self.statuses = LeadStatusOrder(client) if config.lead_status else None
        #: Model field names (lower-cased) found to pass the API-name grammar.
        self._named: set[str] = set()

    def _model_fields(self, updates: Sequence[ScoreUpdate]) -> set[tuple[str, str, str]]:
        """``(object, API name, value)`` of every model field the updates name - a Lead's on
        Contact too - each name checked against the grammar: a :class:`ConfigError` naming every
        bad one (or one named for two values of an update) before any request."""
        wanted: set[tuple[str, str, str]] = set()
        problems: list[str] = []
        for update in updates:
            if update.fields is None:
                continue
            sobject = SOBJECT_OF.get(update.object_type, "Contact")
            objects = (sobject, "Contact") if sobject == "Lead" else (sobject,)
            used: dict[str, str] = {}
            for value in update.values:
                api = update.fields[value]
                if str(api).lower() not in self._named:
                    try:
                        self._named.add(check_api_name(api, custom=True).lower())
                    except ValueError as exc:
                        problems.append(f"{model_field_label(value, str(api))}: {exc}")
                        continue
                other = used.setdefault(api.lower(), value)
                if other != value:
                    problems.append(f"{model_field_label(value, api)}: named for both {other} and {value}")
                wanted.update((o, api, value) for o in objects)
        if problems:
            raise ConfigError(sorted(set(problems)))
        return wanted

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        targets: list[tuple[int, str, str, dict[str, Any]]] = []  # (index, sobject, id, fields)
        model_fields = self._model_fields(updates)  # names checked before anything reaches a request
        statuses = self._status_moves(updates)
        for i, update in enumerate(updates):
            mapping = self.mapping if update.fields is None else update.fields
            fields = {mapping[k]: field_value(k, v) for k, v in update.values.items() if k in mapping}
            sobject, record_id = SOBJECT_OF.get(update.object_type, "Contact"), update.record_id
            if sobject == "Lead" and record_id in self.conversions.lead_to_contact:
                sobject, record_id = "Contact", self.conversions.lead_to_contact[record_id]
            elif sobject == "Lead" and record_id in statuses:
                fields[STATUS] = statuses[record_id]
            if not fields:
                results[i] = WriteResult(update.record_id, WriteStatus.OK)
                continue
            targets.append((i, sobject, record_id, fields))
        try:
            if targets:
                # A ConfigError when a target is not leadscore's: nothing is written. A Lead's
                # values go to its Contact when it was converted since it was pulled.
                mapped = {sobject for i, sobject, _, _ in targets if updates[i].fields is None}
                self.ensure_owned(sorted(mapped | ({"Contact"} if "Lead" in mapped else set())))
                self.ensure_fields_owned(sorted(model_fields))
            if len(targets) >= self.config.bulk_threshold:
                outcome = self._bulk(targets, _groups(updates, [i for i, *_ in targets]))
            else:
                outcome = self._collections(targets)
        except QuotaExhausted as exc:
            outcome = {i: ("RETRYABLE", "QUOTA_EXHAUSTED", str(exc)) for i, *_ in targets}
        converted = [t for t in targets if outcome.get(t[0], ("",))[1:2] == (_CONVERTED,)]
        if converted:
            outcome.update(self._reroute_converted(converted))
            contacts = self.conversions.lead_to_contact
            targets = [(i, "Contact", contacts[r], f) if (i, s, r, f) in converted and r in contacts else (i, s, r, f)
                       for i, s, r, f in targets]
        for i, sobject, record_id, _ in targets:
            status, code, message = outcome.get(i, ("RETRYABLE", "NO_RESULT", "no result returned"))
            update = updates[i]
            written_to = record_id if record_id != update.record_id else None
            if status == "OK":
                results[i] = WriteResult(
                    update.record_id, WriteStatus.OK, written_to=written_to, written_to_type="contact" if written_to else None
                )
            else:
                state = WriteStatus.RETRYABLE if status == "RETRYABLE" else WriteStatus.PERMANENT
                results[i] = WriteResult(update.record_id, state, code, message, written_to)
                self.failures[code] += 1
                log.warning("write.failed", record_id=update.record_id, object=sobject, status=state.value, code=code, message=message)
        return [results[i] for i in range(len(updates))]

    # --- sObject Collections ------------------------------------------------------------------

    def _collections(self, targets: Sequence[tuple[int, str, str, dict[str, Any]]]) -> dict[int, tuple[str, str, str]]:
        outcome: dict[int, tuple[str, str, str]] = {}
        for part in chunks(targets, COLLECTION_SIZE):
            body = {
                "allOrNone": False,
                "records": [{"attributes": {"type": sobject}, "id": rid, **fields} for _, sobject, rid, fields in part],
            }
            try:
                saved = self.client.call(
                    "composite.sobjects", lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body)
                )
            except TransientError as exc:
                outcome.update({i: ("RETRYABLE", "TRANSIENT", str(exc)) for i, *_ in part})
                continue
            except SalesforceRequestError as exc:
                outcome.update({i: ("PERMANENT", exc.code, exc.message) for i, *_ in part})
                continue
            for (i, *_), result in zip(part, saved or []):
                outcome[i] = _save_result(result)
        return outcome

    # --- Bulk API 2.0 ---------------------------------------------------------------------------

    def _bulk(self, targets: Sequence[tuple[int, str, str, dict[str, Any]]],
              group_of: Mapping[int, Hashable] | None = None) -> dict[int, tuple[str, str, str]]:
        """One job per object and field map (``group_of``: update index -> its field map's key;
        the ``write`` map's when left out), in the order the groups first appear."""
        outcome: dict[int, tuple[str, str, str]] = {}
        groups: dict[tuple[str, Hashable], list[tuple[int, str, str, dict[str, Any]]]] = {}
        for sobject in ("Lead", "Contact", "Account"):
            for t in targets:
                if t[1] == sobject:
                    groups.setdefault((sobject, (group_of or {}).get(t[0], WRITE_MAP)), []).append(t)
        for (sobject, _), part in groups.items():
            columns = sorted({name for *_, fields in part for name in fields})
            # A value not in a record's update is an empty cell (left as it is); None is #N/A (cleared).
            records = [{"Id": rid, **{c: _csv_value(fields[c]) if c in fields else "" for c in columns}}
                       for _, _, rid, fields in part]
            index_of = {rid: i for i, _, rid, _ in part}
            try:
                jobs = self.client.call(
                    "bulk2.update",
                    lambda sf: getattr(sf.bulk2, sobject).update(records=records, wait=self.config.bulk_poll_seconds),
                )
            except TransientError as exc:
                outcome.update({i: ("RETRYABLE", "TRANSIENT", str(exc)) for i, *_ in part})
                continue
            except BulkJobFailed as exc:  # the job failed as a whole: its code decides for every record
                outcome.update({i: (exc.state, exc.code, exc.message) for i, *_ in part})
                continue
            except SalesforceRequestError as exc:  # the job refused at creation or upload
                outcome.update({i: ("PERMANENT", exc.code, exc.message) for i, *_ in part})
                continue
            failed: dict[str, tuple[str, str]] = {}
            for job in jobs:
                if int(job.get("numberRecordsFailed", 0)):
                    text = self.client.call(
                        "bulk2.failedResults", lambda sf, j=job["job_id"]: getattr(sf.bulk2, sobject).get_failed_records(j)
                    )
                    for row in csv.DictReader(io.StringIO(text)):
                        failed[row.get("Id") or row.get("sf__Id") or ""] = _bulk_error(row.get("sf__Error") or "")
            for rid, i in index_of.items():
                if rid in failed:
                    code, message = failed[rid]
                    outcome[i] = (classify(code), code, message)
                else:
                    outcome[i] = ("OK", "", "")
        return outcome

    # --- converted leads ------------------------------------------------------------------------

    def _reroute_converted(self, converted: Sequence[tuple[int, str, str, dict[str, Any]]]) -> dict[int, tuple[str, str, str]]:
        """Leads converted since they were pulled: find their Contacts and write there."""
        lead_ids = [rid for _, _, rid, _ in converted]
        for part in chunks(lead_ids, IN_CHUNK):
            rows = self.client.call(
                "query", lambda sf: sf.query_all(f"SELECT Id, ConvertedContactId FROM Lead WHERE Id IN {in_list(part)}")
            )
            for row in rows.get("records", []):
                self.conversions.note(row["Id"], row.get("ConvertedContactId"))
        retargeted = []
        outcome: dict[int, tuple[str, str, str]] = {}
        for i, _, rid, fields in converted:
            contact = self.conversions.lead_to_contact.get(rid)
            fields.pop(STATUS, None)  # a Contact has no Status, and a converted Lead keeps its own
            if contact is None:
                outcome[i] = ("PERMANENT", _CONVERTED, "converted lead without a Contact")
            elif fields:
                retargeted.append((i, "Contact", contact, fields))
            else:
                outcome[i] = ("OK", "", "")
        outcome.update(self._collections(retargeted))
        return outcome


    # --- Lead Status, forward only -------------------------------------------------------------

    def _status_moves(self, updates: Sequence[ScoreUpdate]) -> dict[str, str]:
        """Lead id -> the Status to set with its update (module docstring: forward only)."""
        if self.statuses is None:
            return {}
        wanted = {u.record_id: self.config.lead_status[str(u.values["stage"])] for u in updates
                  if u.object_type == "lead" and "stage" in u.values and str(u.values.get("stage")) in self.config.lead_status
                  and u.record_id not in self.conversions.lead_to_contact}
        if not wanted:
            return {}
        order, converted = self.statuses.load()
        wanted = {rid: value for rid, value in wanted.items() if value in order and value.lower() not in converted}
        moves: dict[str, str] = {}
        for part in chunks(sorted(wanted), IN_CHUNK):
            rows = self.client.call("query", lambda sf, p=part: sf.query_all(
                f"SELECT Id, Status, IsConverted FROM Lead WHERE Id IN {in_list(p)}"))
            for row in rows.get("records", []):
                rid, now = str(row["Id"]), row.get("Status")
                target = wanted.get(rid) or wanted.get(rid[:15])
                if target is None or row.get("IsConverted") or now not in order:
                    continue  # converted since pulled, or a Status outside the known order: left alone
                if order.index(target) > order.index(now):
                    moves[rid if rid in wanted else rid[:15]] = target
        return moves


class LeadStatusOrder:
    """The Lead Status picklist's active values in describe's order, and the converted ones
    (lower-cased), read once per connector."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self._loaded: tuple[list[str], frozenset[str]] | None = None

    def load(self) -> tuple[list[str], frozenset[str]]:
        if self._loaded is None:
            described = self.client.call("describe", lambda sf: sf.restful("sobjects/Lead/describe")) or {}
            status = next((f for f in described.get("fields", []) if f.get("name") == STATUS), {})
            order = [str(v["value"]) for v in status.get("picklistValues") or [] if v.get("active")]
            self._loaded = (order, lead_statuses_converted(self.client))
        return self._loaded


def _save_result(result: Mapping[str, Any]) -> tuple[str, str, str]:
    if result.get("success"):
        return "OK", "", ""
    errors = result.get("errors") or [{}]
    code = str(errors[0].get("statusCode") or "ERROR")
    message = str(errors[0].get("message") or "")[:300]
    return classify(code), code, message


def _bulk_error(cell: str) -> tuple[str, str]:
    """A failed row's ``sf__Error`` (``CODE:message:field,field --``) as (code, message)."""
    code, _, rest = cell.partition(":")
    rest = rest.strip()
    if rest.endswith("--"):
        rest = rest[:-2].rstrip()
        message, colon, _fields = rest.rpartition(":")
        rest = message if colon else rest
    return (code.strip() or "ERROR"), rest.strip()[:300]


def _csv_value(value: Any) -> str:
    """A Bulk CSV cell: ``None`` (and ``""``, which an empty cell would leave unchanged) clears the
    field (``#N/A``), as ``null`` (or ``""``: Salesforce keeps no empty text) does in Collections."""
    return BULK_NULL if value is None or value == "" else str(value)


def _groups(updates: Sequence[ScoreUpdate], indexes: Sequence[int]) -> dict[int, Hashable]:
    """The Bulk job group of each update (by index): the ``write`` map's, or its own field map's -
    a map that is part of another (an update naming only the fields of the values it carries) joins
    the larger one, so one model's updates share a job."""
    maps = {i: frozenset(updates[i].fields.items()) for i in indexes if updates[i].fields is not None}
    largest: list[frozenset[tuple[str, str]]] = []
    for found in sorted(set(maps.values()), key=len, reverse=True):
        if not any(found <= held for held in largest):
            largest.append(found)
    return {i: WRITE_MAP if i not in maps else next(held for held in largest if maps[i] <= held) for i in indexes}
