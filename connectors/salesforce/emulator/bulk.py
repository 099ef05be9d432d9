"""Bulk API 2.0 ingest jobs (*Bulk API 2.0 and Bulk API Developer Guide*).

Lifecycle: ``POST /jobs/ingest`` creates an ``Open`` job; ``PUT .../batches`` uploads its CSV
(once: a second upload answers ``BULK_API_ERROR`` "Found multiple contents for job", as
Salesforce does; at most 100 MB of raw CSV, the documented 150 MB of base64 content);
``PATCH`` with ``{"state": "UploadComplete"}`` queues it, ``{"state": "Aborted"}`` abandons it.

Processing rule (the emulator's, documented here because Salesforce's timing is not): each
``GET`` of an ``UploadComplete`` job moves it one step, ``UploadComplete`` -> ``InProgress``
-> ``JobComplete`` (or ``Failed``), and the records are saved at the last step, in
transactions of up to 10,000 records that each share one audit stamp. So a client sees the job
finish on its second poll, and must poll; nothing is saved before that.

Data rules, per the guide's "Prepare CSV Files": the header names fields (case-insensitive); an
unknown or invisible field fails the whole job (``Failed``, ``errorMessage`` "InvalidBatch :
Field name not found : X"), as does data whose line endings disagree with the job's
``lineEnding`` ("ClientInputError : LineEnding is invalid on user data. Current LineEnding
setting is LF"); an empty cell leaves a field unchanged; ``#N/A`` clears it ("Empty field values
are ignored when you update records. To set a field value to null, use a field value of #N/A.":
"Valid CSV Record Rows"; ``#N/A`` in a required field fails the row). Per-record
errors are those of :mod:`.writes`, plus ``INVALID_TYPE_ON_FIELD_IN_RECORD`` for cells that do
not parse. Results are CSV: ``sf__Id``, ``sf__Created`` (successes) or ``sf__Error``
(failures, ``CODE:message:fields --``) before the uploaded columns, values as uploaded;
unprocessed records are the uploaded rows not processed (all of them for an aborted or failed
job). Reading taken: results requested before the job completes list the records processed so
far (none, in the emulator). Failed updates carry the record's id in ``sf__Id`` when it named a
real record.

Every Bulk API 2.0 call counts against the daily API allocation (these are REST resources);
processing also uses one ``DailyBulkApiBatches`` unit per 10,000 records.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Callable

from leadscore.connectors.salesforce.emulator import values
from leadscore.connectors.salesforce.emulator.api import Answer, Call
from leadscore.connectors.salesforce.emulator.errors import api_error, bad_request, not_found
from leadscore.connectors.salesforce.emulator.limits import BULK_BATCH_RECORDS, ApiUsage
from leadscore.connectors.salesforce.emulator.schema import FieldDef, SObjectDef
from leadscore.connectors.salesforce.emulator.store import Record, Store
from leadscore.connectors.salesforce.emulator.values import CellError, FieldProblem
from leadscore.connectors.salesforce.emulator.writes import prepare_update, target

OPERATIONS = ("insert", "update", "upsert", "delete")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
CSV_TYPE = "text/csv"


@dataclass
class Job:
    id: str
    object: str
    operation: str
    external_id: str | None
    line_ending: str
    delimiter: str
    api_version: str
    created_ms: int
    modstamp_ms: int
    state: str = "Open"
    data: str | None = None
    error_message: str | None = None
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    successes: list[tuple[str, bool, list[str]]] = field(default_factory=list)
    failures: list[tuple[str, str, list[str]]] = field(default_factory=list)
    processed_rows: int = 0


class BulkIngest:
    def __init__(self, store: Store, usage: ApiUsage, clock: Callable[[], float]) -> None:
        self.store = store
        self.usage = usage
        self._clock = clock
        self.jobs: dict[str, Job] = {}

    # --- resources ---------------------------------------------------------------------------------------

    def create(self, call: Call) -> Answer:
        body = call.json()
        if not isinstance(body, dict):
            raise bad_request("INVALIDJOB", "InvalidJob : Invalid job request")
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise bad_request("INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        name = body.get("object")
        sobject = self.store.sobject(name) if isinstance(name, str) else None
        if sobject is None:
            raise bad_request("INVALIDENTITY", f"InvalidEntity : sObject type '{name}' is not supported.")
        if (body.get("contentType") or "CSV") != "CSV":
            raise bad_request("INVALIDJOB", f"InvalidJob : Unsupported content type: {body.get('contentType')}")
        line_ending = body.get("lineEnding") or "LF"
        delimiter = body.get("columnDelimiter") or "COMMA"
        if line_ending not in ("LF", "CRLF") or delimiter not in DELIMITERS:
            raise bad_request("INVALIDJOB", "InvalidJob : Invalid lineEnding or columnDelimiter")
        external_id = body.get("externalIdFieldName")
        if operation == "upsert":
            if not external_id:
                raise bad_request("INVALIDJOB", "InvalidJob : External ID was blank for upsert")
            if external_id.lower() != "id":
                raise bad_request("INVALIDJOB", f"InvalidJob : External ID field not found: {external_id}")
        with self.store.lock:
            now = self.store.now_ms()
            job = Job(self.store.ids.new("Job"), sobject.name, operation, external_id, line_ending, delimiter,
                      call.version, now, now)
            self.jobs[job.id] = job
        return Answer(200, self._info(job, brief=True))

    def list_jobs(self, call: Call) -> Answer:
        return Answer(200, {"done": True, "records": [self._info(j, brief=True) for j in self.jobs.values()],
                            "nextRecordsUrl": None})

    def upload(self, call: Call, job: str) -> Answer:
        found = self._job(job)
        if found.state != "Open":
            raise api_error(409, "INVALIDJOBSTATE", f"Job {found.id} is not in Open state: {found.state}")
        if found.data is not None:
            raise bad_request("BULK_API_ERROR",
                              f"Found multiple contents for job: <{found.id}>, please 'Close' / 'Abort' / 'Delete' "
                              "the current Job then create a new Job and make sure you only do 'PUT' once on a given "
                              "Job.")
        if not (call.headers.get("Content-Type") or "").lower().startswith(CSV_TYPE):
            raise bad_request("INVALIDCONTENTTYPE", "InvalidContentType : Content-Type must be text/csv")
        if len(call.raw) > MAX_UPLOAD_BYTES:
            raise bad_request("BULK_API_ERROR", "The uploaded data exceeds the 150 MB (base64) limit for a job")
        try:
            found.data = call.raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise bad_request("BULK_API_ERROR", "ClientInputError : the data is not UTF-8 encoded") from None
        found.modstamp_ms = self.store.now_ms()
        return Answer(201)

    def set_state(self, call: Call, job: str) -> Answer:
        found = self._job(job)
        body = call.json()
        wanted = body.get("state") if isinstance(body, dict) else None
        if wanted == "UploadComplete":
            if found.state != "Open":
                raise api_error(409, "INVALIDJOBSTATE", f"Job {found.id} is not in Open state: {found.state}")
            found.state = "UploadComplete"
        elif wanted == "Aborted":
            if found.state not in ("Open", "UploadComplete", "InProgress"):
                raise api_error(409, "INVALIDJOBSTATE", f"Job {found.id} is already {found.state}")
            found.state = "Aborted"
        else:
            raise bad_request("INVALIDJOBSTATE", f"InvalidJobState : Invalid state: {wanted}")
        found.modstamp_ms = self.store.now_ms()
        return Answer(200, self._info(found, brief=True))

    def info(self, call: Call, job: str) -> Answer:
        found = self._job(job)
        if found.state == "UploadComplete":
            found.state = "InProgress"
            found.modstamp_ms = self.store.now_ms()
        elif found.state == "InProgress":
            self._process(found)
            found.modstamp_ms = self.store.now_ms()
        return Answer(200, self._info(found, brief=False))

    def delete(self, call: Call, job: str) -> Answer:
        found = self._job(job)
        if found.state not in ("UploadComplete", "JobComplete", "Aborted", "Failed"):
            raise api_error(409, "INVALIDJOBSTATE", f"Job {found.id} cannot be deleted in state {found.state}")
        del self.jobs[found.id]
        return Answer(204)

    def results(self, call: Call, job: str, kind: str) -> Answer:
        found = self._job(job)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
        if kind == "successfulresults":
            writer.writerow(["sf__Id", "sf__Created", *found.header])
            for record_id, created, cells in found.successes:
                writer.writerow([record_id, "true" if created else "false", *cells])
        elif kind == "failedresults":
            writer.writerow(["sf__Id", "sf__Error", *found.header])
            for record_id, error, cells in found.failures:
                writer.writerow([record_id, error, *cells])
        else:
            unprocessed = found.rows[found.processed_rows:] if found.header else self._raw_rows(found)[1:]
            header = found.header or (self._raw_rows(found)[:1] or [[]])[0]
            if header:
                writer.writerow(header)
            for row in unprocessed:
                writer.writerow(row)
        return Answer(200, out.getvalue().encode(), {"Content-Type": "text/csv"})

    # --- processing ---------------------------------------------------------------------------------------

    def _job(self, job_id: str) -> Job:
        found = self.jobs.get(job_id)
        if found is None:
            raise not_found()
        return found

    def _raw_rows(self, job: Job) -> list[list[str]]:
        if not job.data:
            return []
        text = job.data.replace("\r\n", "\n")
        return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.delimiter]) if row]

    def _fail(self, job: Job, message: str) -> None:
        job.state = "Failed"
        job.error_message = message

    def _process(self, job: Job) -> None:
        data = job.data or ""
        if job.line_ending == "LF" and "\r\n" in data:
            return self._fail(job, "ClientInputError : LineEnding is invalid on user data. Current LineEnding "
                                   "setting is LF")
        if job.line_ending == "CRLF" and data.replace("\r\n", "").find("\n") >= 0:
            return self._fail(job, "ClientInputError : LineEnding is invalid on user data. Current LineEnding "
                                   "setting is CRLF")
        rows = self._raw_rows(job)
        if not rows:
            job.state = "JobComplete"  # reading taken: closing an empty job completes it with no records
            return
        job.header, job.rows = rows[0], rows[1:]
        with self.store.lock:
            sobject = self.store.schema[job.object]
            columns: list[FieldDef] = []
            for name in job.header:
                definition = sobject.lookup(name.strip())
                if definition is None or not self.store.visible(sobject, definition):
                    return self._fail(job, f"InvalidBatch : Field name not found : {name}")
                columns.append(definition)
            names = [c.name for c in columns]
            if job.operation in ("update", "delete") and "Id" not in names:
                return self._fail(job, f"InvalidBatch : The '{job.operation}' batch must contain the 'Id' field")
            if job.operation == "delete" and names != ["Id"]:
                return self._fail(job, "InvalidBatch : The 'delete' batch must contain only 'Id'")
            for start in range(0, len(job.rows), BULK_BATCH_RECORDS):
                chunk = job.rows[start:start + BULK_BATCH_RECORDS]
                stamp = self.store.stamp()
                for row in chunk:
                    self._one(job, sobject, columns, row, stamp)
                    job.processed_rows += 1
                self.usage.add_bulk_batches(len(chunk))
        job.state = "JobComplete"

    def _one(self, job: Job, sobject: SObjectDef, columns: list[FieldDef], row: list[str], stamp: int) -> None:
        if len(row) != len(columns):
            job.failures.append(("", "INVALID_FIELD:Wrong number of columns in the row: expected "
                                 f"{len(columns)}, found {len(row)}: --", row))
            return
        problems: list[FieldProblem] = []
        changes: dict[str, Any] = {}
        raw_id = ""
        for definition, cell in zip(columns, row):
            if definition.name == "Id":
                raw_id = cell
                continue
            if cell == "":
                continue  # an empty cell leaves the field as it is
            try:
                changes[definition.name] = values.from_csv(definition, cell)
            except CellError as error:
                problems.append(error.problem)
        operation = job.operation
        if operation == "upsert":
            operation = "update" if raw_id else "insert"
        if operation == "insert":
            self._insert(job, sobject, changes, problems, row, stamp)
            return
        record, problem = target(self.store, sobject, raw_id)
        record_id = record.id if record is not None else ""
        if problem is not None:
            job.failures.append((record_id, problem.as_csv(), row))
            return
        assert record is not None
        if operation == "delete":
            self.store.delete(record, stamp, self.store.integration_user)
            job.successes.append((record.id, False, row))
            return
        prepared = prepare_update(self.store, sobject, record, changes)
        problems.extend(prepared.problems)
        if problems:
            job.failures.append((record_id, problems[0].as_csv(), row))
            return
        self.store.apply(record, prepared.changes, by=self.store.integration_user, at_ms=stamp, count_as_api=True)
        job.successes.append((record.id, False, row))

    def _insert(self, job: Job, sobject: SObjectDef, changes: dict[str, Any], problems: list[FieldProblem],
                row: list[str], stamp: int) -> None:
        prepared = self.store.prepare(sobject, changes, creating=True)
        problems.extend(prepared.problems)
        if problems:
            job.failures.append(("", problems[0].as_csv(), row))
            return
        record: Record = self.store.create(sobject.name, prepared.changes, by=self.store.integration_user, at_ms=stamp)
        for name in prepared.changes:
            self.store.writes[f"{sobject.name}.{name}"] += 1
        job.successes.append((record.id, True, row))

    # --- job info -----------------------------------------------------------------------------------------

    def _info(self, job: Job, *, brief: bool) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id, "operation": job.operation, "object": job.object,
            "createdById": self.store.integration_user, "createdDate": values.iso_ms(job.created_ms),
            "systemModstamp": values.iso_ms(job.modstamp_ms), "state": job.state,
            "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(job.api_version),
        }
        if job.external_id:
            info["externalIdFieldName"] = job.external_id
        if job.state == "Open" or brief:
            info["contentUrl"] = f"services/data/v{job.api_version}/jobs/ingest/{job.id}/batches"
        info["lineEnding"] = job.line_ending
        info["columnDelimiter"] = job.delimiter
        if not brief:
            info.update({
                "jobType": "V2Ingest",
                "retries": 0,
                "numberRecordsProcessed": job.processed_rows,
                "numberRecordsFailed": len(job.failures),
                "totalProcessingTime": 0 if job.state != "JobComplete" else max(1, job.processed_rows // 10),
                "apiActiveProcessingTime": 0 if job.state != "JobComplete" else max(1, job.processed_rows // 20),
                "apexProcessingTime": 0,
            })
            if job.error_message:
                info["errorMessage"] = job.error_message
        return info
