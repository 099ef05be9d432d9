"""REST API endpoints: routing, queries, describe, records, sObject Collections and limits.

Each handler validates a whole request before touching data, so an error answer leaves the org
as it was. Behaviours and the documents they follow (REST API Developer Guide unless noted):

- Query: ``totalSize``, ``done``, ``records`` (each with ``attributes`` ``{type, url}``) and
  ``nextRecordsUrl`` (``/services/data/vXX.X/query/01g...-2000``) while more remain. Batches
  are 2,000 records; ``Sforce-Query-Options: batchSize=N`` asks for 200 to 2,000 ("There is
  no guarantee that the requested batch size is the actual batch size"): the emulator honours
  values in range and clamps values outside it (reading taken: out-of-range sizes are adjusted,
  not refused). A cursor expires after 15 minutes without use (``INVALID_QUERY_LOCATOR``), and
  holds the rows as they were when the query ran. (How the emulator finds them is its own: the
  per-object indexes of :mod:`.index` where they give the answer exactly, every record
  otherwise; a locator keeps the query's records and renders each page from what they held
  when the query ran.)
- ``queryAll`` also returns records in the recycle bin (``IsDeleted = true``); ``query`` never.
- sObject Collections update (``PATCH /composite/sobjects``): at most 200 records, else 400
  ``EXCEEDED_ID_LIMIT``; answers ``200`` with one SaveResult per record in request order;
  ``allOrNone`` rolls every record back when one fails, the valid ones reporting
  ``ALL_OR_NONE_OPERATION_ROLLED_BACK``. Records of one request share one transaction stamp.
- Single-record update answers ``204``; its errors ``400 [{message, errorCode, fields}]``; a
  record that does not exist answers ``404 NOT_FOUND``, one in the recycle bin ``404
  ENTITY_IS_DELETED``.
- A URI longer than 16,384 bytes answers ``414`` (the documented REST URI limit).
- ``PermissionSet``, ``FieldPermissions`` and ``PermissionSetAssignment`` are sObjects like any
  other (create, get, update, delete, query), with the save rules and access checks of
  :mod:`.permissions`; what they grant is the integration user's field-level security.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence
from urllib.parse import unquote

from leadscore.connectors import emulation
from leadscore.connectors.emulation import Answer
from leadscore.connectors.salesforce.emulator import ids, soql, values
from leadscore.connectors.salesforce.emulator.limits import DAILY_BULK_BATCHES
from leadscore.connectors.salesforce.emulator.errors import ApiError, api_error, bad_request, json_parser_error, not_found
from leadscore.connectors.salesforce.emulator.permissions import INSUFFICIENT_ACCESS, PERMISSION_OBJECTS
from leadscore.connectors.salesforce.emulator.schema import SObjectDef
from leadscore.connectors.salesforce.emulator.store import Record, Store
from leadscore.connectors.salesforce.emulator.writes import (
    ROLLED_BACK,
    deserialize,
    prepare_update,
    problems_body,
    record_error,
    resolve_type,
    save_result,
    target,
)

if TYPE_CHECKING:
    from leadscore.connectors.salesforce.emulator.bulk import BulkIngest
    from leadscore.connectors.salesforce.emulator.limits import ApiUsage
    from leadscore.connectors.salesforce.emulator.tooling import Tooling

COLLECTION_LIMIT = 200
DEFAULT_BATCH = 2000
MIN_BATCH = 200
CURSOR_IDLE_SECONDS = 15 * 60
MAX_URI_BYTES = 16_384
RELEASES = {"58.0": "Summer '23", "59.0": "Winter '24", "60.0": "Spring '24", "61.0": "Summer '24",
            "62.0": "Winter '25", "63.0": "Spring '25", "64.0": "Summer '25", "65.0": "Winter '26",
            "66.0": "Spring '26"}
OLDEST_VERSION = 31.0


@dataclass(frozen=True)
class Call(emulation.Call):
    """One request as handlers see it."""

    headers: Mapping[str, str]
    raw: bytes
    version: str = ""

    def json(self) -> Any:
        if not self.raw:
            raise json_parser_error("No content to map due to end-of-input")
        try:
            return json.loads(self.raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise json_parser_error(f"Unexpected character: {exc}") from None


#: One record of an sObject Collections request, planned: its id (when known), its problems, and
#: what saves it at a stamp (``None`` when nothing can).
_Planned = tuple[str | None, Sequence[Any], Callable[[int], Record] | None]


@dataclass(frozen=True)
class Route:
    endpoint: str
    handler: Callable[[Call], Answer]
    public: bool = False  # no bearer token, outside the API allocation
    form: bool = False


@dataclass
class Cursor:
    """A query locator: the query's records in order, rendered page by page as they were when
    the query ran (the store's snapshots keep what changed since, for its ``epoch``)."""

    records: Sequence[Record]
    batch: int
    word: str
    last_used: float
    sobject: SObjectDef
    fields: list[Any]
    version: str
    epoch: int


class Api:
    """Routes requests under ``/services/data`` and serves the REST resources."""

    def __init__(self, store: Store, *, api_version: str, usage: "ApiUsage", bulk: "BulkIngest",
                 tooling: "Tooling",
                 clock: Callable[[], float]) -> None:
        self.store = store
        self.api_version = api_version
        self.usage = usage
        self.bulk = bulk
        self.tooling = tooling
        self._clock = clock
        self._cursors: dict[str, Cursor] = {}
        self._cursor_lock = threading.Lock()
        # Every resource sits under /services/data/vNN.N: route() checks the version ({v}) and hands it
        # to the handler in the Call; {w} only tells queryMore's two spellings apart.
        self._router: emulation.Router[tuple[str, Callable[..., Answer]]] = emulation.Router([
            ("GET", "/limits", ("limits", self.limits)),
            ("GET", "/query", ("query", lambda c: self.query(c, deleted=False))),
            ("GET", "/queryAll", ("queryAll", lambda c: self.query(c, deleted=True))),
            ("GET", "/{w:query|queryAll}/{loc}", ("queryMore", self.query_more)),
            ("GET", "/sobjects", ("describe.global", self.describe_global)),
            ("GET", "/sobjects/{t}/describe", ("describe", self.describe)),
            ("GET", "/sobjects/{t}/{id}", ("sobject.get", self.get)),
            ("PATCH", "/sobjects/{t}/{id}", ("sobject.update", self.update)),
            ("DELETE", "/sobjects/{t}/{id}", ("sobject.delete", self.delete)),
            ("POST", "/sobjects/{t}", ("sobject.create", self.create)),
            ("PATCH", "/composite/sobjects", ("composite.sobjects", self.collection_update)),
            ("POST", "/composite/sobjects", ("composite.sobjects.create", self.collection_create)),
            ("POST", "/jobs/ingest", ("bulk2.create", lambda c: self.bulk.create(c))),
            ("GET", "/jobs/ingest", ("bulk2.list", lambda c: self.bulk.list_jobs(c))),
            ("PUT", "/jobs/ingest/{job}/batches", ("bulk2.upload", lambda c, job: self.bulk.upload(c, job))),
            ("PATCH", "/jobs/ingest/{job}", ("bulk2.close", lambda c, job: self.bulk.set_state(c, job))),
            ("GET", "/jobs/ingest/{job}", ("bulk2.poll", lambda c, job: self.bulk.info(c, job))),
            ("DELETE", "/jobs/ingest/{job}", ("bulk2.delete", lambda c, job: self.bulk.delete(c, job))),
            # The guide spells it "unprocessedrecords"; clients (simple-salesforce) send
            # "unprocessedRecords", which Salesforce accepts: these names match case-insensitively.
            ("GET", "/jobs/ingest/{job}/{kind:(?i:successfulResults|failedResults|unprocessedrecords)}",
             ("bulk2.results", lambda c, job, kind: self.bulk.results(c, job, kind.lower()))),
            ("GET", "/tooling/query", ("tooling.query", lambda c: self.tooling.query(c))),
            ("POST", "/tooling/sobjects/CustomField", ("tooling.customfield", lambda c: self.tooling.create_field(c))),
            ("GET", "/tooling/sobjects/CustomField/{id}",
             ("tooling.customfield.get", lambda c, id: self.tooling.get_field(c, id))),
        ], prefix=r"/services/data/v{v:\d+\.\d}")

    # --- routing ----------------------------------------------------------------------------------

    def route(self, method: str, path: str) -> Route:
        if path in ("/services/data", "/services/data/"):
            return Route("versions", self.versions, public=True) if method == "GET" else self._method_not_allowed(
                method, ["GET"])
        found = self._router.match(method, path)
        if found.target is None:
            if found.allowed:
                return self._method_not_allowed(method, list(found.allowed))
            return Route("unknown", lambda call: _raise(not_found()))
        endpoint, handler = found.target
        groups = dict(found.params)
        version = groups.pop("v")
        groups.pop("w", None)
        if not self._supported(version):
            return Route("unknown", lambda call: _raise(not_found()))
        return Route(endpoint, _bind(handler, version, groups))

    def _supported(self, version: str) -> bool:
        return OLDEST_VERSION <= float(version) <= float(self.api_version)

    @staticmethod
    def _method_not_allowed(method: str, allowed: list[str]) -> Route:
        message = f"HTTP Method '{method}' not allowed. Allowed are {','.join(sorted(set(allowed)))}"
        return Route("unknown", lambda call: _raise(api_error(405, "METHOD_NOT_ALLOWED", message)))

    # --- versions and limits ------------------------------------------------------------------------

    def versions(self, call: Call) -> Answer:
        top = float(self.api_version)
        listed = [v for v in RELEASES if float(v) <= top] or [self.api_version]
        if self.api_version not in listed:
            listed.append(self.api_version)
        return Answer(200, [{"label": RELEASES.get(v, f"v{v}"), "url": f"/services/data/v{v}", "version": v}
                            for v in sorted(listed, key=float)])

    def limits(self, call: Call) -> Answer:
        """The Limits resource. Reading taken: the emulator's numbers are exact at once (the
        documentation allows them to lag real consumption by up to five minutes)."""
        used = self.usage.used()

        def pair(maximum: int, remaining: int) -> dict[str, int]:
            return {"Max": maximum, "Remaining": max(0, remaining)}

        body = {
            "ConcurrentAsyncGetReportInstances": pair(200, 200),
            "DailyApiRequests": pair(self.usage.daily_limit, self.usage.daily_limit - used),
            "DailyAsyncApexExecutions": pair(250000, 250000),
            "DailyBulkApiBatches": pair(DAILY_BULK_BATCHES, DAILY_BULK_BATCHES - self.usage.bulk_batches_used()),
            "DailyBulkV2QueryFileStorageMB": pair(976562, 976562),
            "DailyBulkV2QueryJobs": pair(10000, 10000),
            "DataStorageMB": pair(5, 5),
            "FileStorageMB": pair(20, 20),
            "HourlyODataCallout": pair(10000, 10000),
            "SingleEmail": pair(5000, 5000),
        }
        return Answer(200, body)

    # --- queries ------------------------------------------------------------------------------------

    def query(self, call: Call, *, deleted: bool) -> Answer:
        text = call.param("q")
        if not text:
            raise bad_request("MALFORMED_QUERY", "A query string has to be specified")
        word = "queryAll" if deleted else "query"
        with self.store.lock:
            with self._cursor_lock:
                self._expire_cursors()  # (whatever the query answers: what they kept is let go sooner)
            plan = soql.bind(soql.parse(text), self.store.sobject, self.store.visible, self.store.now_ms())
            table = self.store.tables[plan.sobject.name]
            if plan.query.count_only:
                return Answer(200, {"totalSize": soql.count(plan, table, deleted=deleted), "done": True, "records": []})
            matched = soql.execute(plan, table, deleted=deleted)
            return Answer(200, self._page(plan, matched, _batch_size(call.headers), word, call.version))

    def _page(self, plan: soql.Plan, records: Sequence[Record], batch: int, word: str, version: str) -> dict[str, Any]:
        """The first batch, rendered now; the rest behind a locator that renders them as they are now."""
        render = row_renderer(plan.sobject, plan.fields, version)
        rendered = [render(r.values) for r in records[:batch]]
        if len(records) <= batch:
            return {"totalSize": len(records), "done": True, "records": rendered}
        locator = self.store.ids.new("QueryLocator")
        with self._cursor_lock:
            epoch = self.store.snapshots.open(d.name for d in plan.fields)
            self._cursors[locator] = Cursor(records, batch, word, self._clock(), plan.sobject, plan.fields, version,
                                            epoch)
        return {"totalSize": len(records), "done": False,
                "nextRecordsUrl": f"/services/data/v{version}/{word}/{locator}-{batch}", "records": rendered}

    def query_more(self, call: Call, loc: str) -> Answer:
        locator, _, offset_text = loc.rpartition("-")
        with self.store.lock:
            with self._cursor_lock:
                self._expire_cursors()
                cursor = self._cursors.get(ids.normalise(locator) or "") if offset_text.isdigit() else None
                if cursor is None or int(offset_text) > len(cursor.records):
                    raise bad_request("INVALID_QUERY_LOCATOR", "invalid query locator")
                cursor.last_used = self._clock()
            start = int(offset_text)
            end = start + cursor.batch
            page: dict[str, Any] = {"totalSize": len(cursor.records), "done": end >= len(cursor.records)}
            if not page["done"]:
                page["nextRecordsUrl"] = f"/services/data/v{call.version}/{cursor.word}/{locator}-{end}"
            at, render = self.store.snapshots.values_at, row_renderer(cursor.sobject, cursor.fields, cursor.version)
            page["records"] = [render(at(r, cursor.epoch)) for r in cursor.records[start:end]]
        return Answer(200, page)

    def _expire_cursors(self) -> None:
        """Forget locators idle for 15 minutes, and what the store kept for them (under the store's lock)."""
        horizon = self._clock() - CURSOR_IDLE_SECONDS
        for locator in [k for k, c in self._cursors.items() if c.last_used < horizon]:
            cursor = self._cursors.pop(locator)
            self.store.snapshots.close(cursor.epoch, [d.name for d in cursor.fields])

    # --- describe -------------------------------------------------------------------------------------

    def describe_global(self, call: Call) -> Answer:
        sobjects = [{"name": d.name, "label": d.label, "labelPlural": d.label_plural, "keyPrefix": d.key_prefix,
                     "custom": False, "createable": True, "updateable": True, "deletable": True, "queryable": True,
                     "retrieveable": True, "searchable": True, "triggerable": True,
                     "urls": self._urls(d, call.version)} for d in self.store.schema.values()]
        return Answer(200, {"encoding": "UTF-8", "maxBatchSize": COLLECTION_LIMIT, "sobjects": sobjects})

    def describe(self, call: Call, t: str) -> Answer:
        """Fields the user cannot see (no field-level security) are left out, as describe does;
        read-only access shows ``updateable``/``createable`` false."""
        sobject = self._sobject_or_404(t)
        with self.store.lock:
            fields = [d.describe(updateable=self.store.updateable(sobject, d)) | {
                "createable": self.store.createable(sobject, d)}
                for d in sobject.fields.values() if self.store.visible(sobject, d)]
        body = {
            "actionOverrides": [], "activateable": False, "childRelationships": [], "compactLayoutable": True,
            "createable": True, "custom": False, "customSetting": False, "deletable": True,
            "deprecatedAndHidden": False, "feedEnabled": False, "fields": fields, "hasSubtypes": False,
            "isSubtype": False, "keyPrefix": sobject.key_prefix, "label": sobject.label,
            "labelPlural": sobject.label_plural, "layoutable": True, "mergeable": sobject.name in ("Lead", "Contact"),
            "mruEnabled": True, "name": sobject.name, "namedLayoutInfos": [], "queryable": True,
            "recordTypeInfos": [], "replicateable": True, "retrieveable": True, "searchable": True,
            "triggerable": True, "undeletable": True, "updateable": True, "urls": self._urls(sobject, call.version),
        }
        return Answer(200, body)

    @staticmethod
    def _urls(sobject: SObjectDef, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}/sobjects/{sobject.name}"
        return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}

    def _sobject_or_404(self, name: str) -> SObjectDef:
        sobject = self.store.sobject(name)
        if sobject is None:
            raise not_found()
        return sobject

    def _target_or_404(self, sobject: SObjectDef, id: str) -> Record:
        """The live record a single-record write (``PATCH``/``DELETE``) names: one in the recycle
        bin answers ``404 ENTITY_IS_DELETED``, any other miss ``404 NOT_FOUND``."""
        record, problem = target(self.store, sobject, id)
        if problem is not None:
            if problem.status_code == "ENTITY_IS_DELETED":
                raise api_error(404, "ENTITY_IS_DELETED", "entity is deleted", [])
            raise not_found()
        assert record is not None
        return record

    # --- single records ---------------------------------------------------------------------------------

    def get(self, call: Call, t: str, id: str) -> Answer:
        sobject = self._sobject_or_404(t)
        with self.store.lock:
            record = self.store.get(sobject.name, id)
            if record is None or record.id[:3] != sobject.key_prefix:
                if ids.normalise(id) is None:
                    raise not_found(f"Provided external ID field does not exist or is not accessible: {id}")
                raise not_found()
            requested = call.param("fields")
            if requested:
                fields = []
                for name in [n.strip() for n in requested.split(",") if n.strip()]:
                    definition = sobject.lookup(name)
                    if definition is None or not self.store.visible(sobject, definition):
                        raise bad_request("INVALID_FIELD", f"No such column '{name}' on entity '{sobject.name}'. If "
                                          "you are attempting to use a custom field, be sure to append the '__c' after "
                                          "the custom field name. Please reference your WSDL or the describe call for "
                                          "the appropriate names.")
                    fields.append(definition)
            else:
                fields = [d for d in sobject.fields.values() if self.store.visible(sobject, d)]
            return Answer(200, render_row(sobject, record.values, fields, call.version))

    def update(self, call: Call, t: str, id: str) -> Answer:
        sobject = self._sobject_or_404(t)
        body = _sobject_body(call)
        with self.store.lock:
            changes = deserialize(self.store, sobject, body, call.raw)
            record = self._target_or_404(sobject, id)
            prepared = prepare_update(self.store, sobject, record, changes)
            if prepared.problems:
                raise record_error(400, prepared.problems)
            self._apply(record, prepared.changes, self.store.stamp())
        return Answer(204)

    def create(self, call: Call, t: str) -> Answer:
        sobject = self._sobject_or_404(t)
        body = _sobject_body(call)
        with self.store.lock:
            changes = deserialize(self.store, sobject, body, call.raw, keep_id=True)
            prepared = self.store.prepare(sobject, changes, creating=True)
            if prepared.problems:
                raise record_error(400, prepared.problems)
            record = self._create(sobject, prepared.changes, self.store.stamp())
        return Answer(201, {"id": record.id, "success": True, "errors": []})

    def delete(self, call: Call, t: str, id: str) -> Answer:
        sobject = self._sobject_or_404(t)
        with self.store.lock:
            record = self._target_or_404(sobject, id)
            if sobject.name in PERMISSION_OBJECTS and not self.store.manages_permissions:
                raise record_error(400, (INSUFFICIENT_ACCESS,))  # see .permissions
            self.store.delete(record, self.store.stamp(), self.store.integration_user)
        return Answer(204)

    def _apply(self, record: Record, changes: Mapping[str, Any], stamp: int) -> Record:
        self.store.apply(record, changes, by=self.store.integration_user, at_ms=stamp, count_as_api=True)
        return record

    def _create(self, sobject: SObjectDef, changes: Mapping[str, Any], stamp: int) -> Record:
        record = self.store.create(sobject.name, changes, by=self.store.integration_user, at_ms=stamp)
        for name in changes:
            self.store.writes[f"{record.sobject}.{name}"] += 1
        return record

    # --- sObject Collections ------------------------------------------------------------------------

    def _collection(self, call: Call) -> tuple[bool, list[dict[str, Any]]]:
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise json_parser_error("Cannot deserialize instance of sObject collection: 'records' must be a list")
        records = body["records"]
        if len(records) > COLLECTION_LIMIT:
            raise bad_request("EXCEEDED_ID_LIMIT",
                              f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into this call")
        if any(not isinstance(r, dict) for r in records):
            raise json_parser_error("Cannot deserialize instance of SObject from VALUE_STRING value")
        return bool(body.get("allOrNone", False)), records

    def collection_update(self, call: Call) -> Answer:
        all_or_none, records = self._collection(call)
        with self.store.lock:
            decoded = []
            for item in records:
                sobject = resolve_type(self.store, (item.get("attributes") or {}).get("type"))
                raw_id = next((v for k, v in item.items() if k.lower() == "id"), None)
                decoded.append((sobject, raw_id, deserialize(self.store, sobject, item, call.raw)))
            planned: list[_Planned] = []
            for sobject, raw_id, changes in decoded:
                record, problem = target(self.store, sobject, raw_id)
                if problem is not None:
                    planned.append((record.id if record is not None else None, (problem,), None))
                    continue
                assert record is not None
                prepared = prepare_update(self.store, sobject, record, changes)
                planned.append((record.id, prepared.problems, partial(self._apply, record, prepared.changes)))
            return self._save_collection(all_or_none, planned)

    def collection_create(self, call: Call) -> Answer:
        all_or_none, records = self._collection(call)
        with self.store.lock:
            planned: list[_Planned] = []
            for item in records:
                sobject = resolve_type(self.store, (item.get("attributes") or {}).get("type"))
                changes = deserialize(self.store, sobject, item, call.raw, keep_id=True)
                prepared = self.store.prepare(sobject, changes, creating=True)
                planned.append((None, prepared.problems, partial(self._create, sobject, prepared.changes)))
            return self._save_collection(all_or_none, planned)

    def _save_collection(self, all_or_none: bool, planned: list[_Planned]) -> Answer:
        """Save what a collection request planned, in order, at one stamp: ``(id, problems,
        save)`` per record. A record with problems is not saved; with ``allOrNone`` one failure
        rolls every other record back (``ALL_OR_NONE_OPERATION_ROLLED_BACK``)."""
        failed = any(problems for _, problems, _ in planned)
        results = []
        stamp = self.store.stamp()
        for record_id, problems, save in planned:
            if problems:
                results.append(save_result(record_id, problems))
            elif all_or_none and failed:
                results.append(save_result(record_id, (ROLLED_BACK,)))
            else:
                assert save is not None
                results.append(save_result(save(stamp).id))
        return Answer(200, results)


def render_row(sobject: SObjectDef, row: Mapping[str, Any], fields: Sequence[Any], version: str,
               *, tooling: bool = False) -> dict[str, Any]:
    """A record as the API answers it: ``attributes`` ``{type, url}``, then the fields asked for."""
    return row_renderer(sobject, fields, version, tooling=tooling)(row)


def row_renderer(sobject: SObjectDef, fields: Sequence[Any], version: str,
                 *, tooling: bool = False) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """:func:`render_row` for many rows of one query: what each field needs worked out once."""
    base = f"/services/data/v{version}/tooling/sobjects" if tooling else f"/services/data/v{version}/sobjects"
    name, prefix = sobject.name, f"{base}/{sobject.name}/"
    # values.render's conversion per field, None where it answers the value as stored (most fields).
    plan = [(d.name, _RENDERED.get(d.type)) for d in fields]

    def one(row: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {"type": name, "url": prefix + str(row["Id"])}}
        get = row.get
        for key, convert in plan:
            stored = get(key)
            out[key] = stored if convert is None or stored is None else convert(stored)
        return out

    return one


def _datetime(stored: Any) -> str:
    return values.iso_ms(int(stored))


#: What ``values.render`` does to a stored value (not null) of these field types.
_RENDERED: dict[str, Callable[[Any], Any]] = {"datetime": _datetime, "double": float, "currency": float,
                                              "percent": float}


def _batch_size(headers: Mapping[str, str]) -> int:
    options = headers.get("Sforce-Query-Options") or ""
    found = re.search(r"batchSize\s*=\s*(\d+)", options)
    if not found:
        return DEFAULT_BATCH
    return min(DEFAULT_BATCH, max(MIN_BATCH, int(found.group(1))))


def _bind(handler: Callable[..., Answer], version: str, groups: dict[str, str]) -> Callable[[Call], Answer]:
    arguments = {k: unquote(v) for k, v in groups.items()}

    def bound(call: Call) -> Answer:
        return handler(Call(call.method, call.path, call.query, call.headers, call.raw, version), **arguments)

    return bound


def _sobject_body(call: Call) -> dict[str, Any]:
    """A single-record write's JSON body, which must be one object."""
    body = call.json()
    if not isinstance(body, dict):
        raise json_parser_error("Cannot deserialize instance of SObject from START_ARRAY value [")
    return body


def _raise(error: ApiError) -> Answer:
    raise error


__all__ = ["Answer", "Api", "Call", "Route", "problems_body", "render_row", "row_renderer"]
