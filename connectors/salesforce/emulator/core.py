"""The emulator: one Salesforce org served over real TLS on loopback, plus a Python handle.

The request pipeline, in order (each step documented where it is implemented):

1. injected latency, then an injected fault - decided *before* authentication, metering or any
   data is touched, so a faulted write is never partly applied. (A real gateway can fail
   *after* Salesforce committed a write, so a client must still treat a 5xx or a dropped
   connection on a write as "outcome unknown"; the emulator models the cleaner case, which
   keeps tests deterministic.) Faulted requests do not count against the API allocation;
2. authentication: ``Authorization: Bearer <token>`` (or ``OAuth <token>``) with a token the
   token endpoint issued and that has not timed out (see :mod:`.oauth`);
3. the daily API allocation (see :mod:`.limits`): ``403 REQUEST_LIMIT_EXCEEDED`` once spent,
   else the call is counted and its answer carries ``Sforce-Limit-Info``;
4. the endpoint itself (:mod:`.api`, :mod:`.bulk`, :mod:`.tooling`), under the org's lock.

The token endpoint (``POST /services/oauth2/token``) and the versions resource skip steps 2
and 3: neither needs a session and neither is an API call.
"""

from __future__ import annotations

import ssl
import sys
import time
import traceback
from collections import Counter
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import parse_qs

from leadscore.connectors.emulation import Emulator, EmulatorHandler, EmulatorServer, RawRequest
from leadscore.connectors.emulation import LoggedRequest as LoggedRequest  # re-exported: part of this package's API
from leadscore.connectors.salesforce.emulator import tls, values
from leadscore.connectors.salesforce.emulator.api import MAX_URI_BYTES, Answer, Api, Call, Route
from leadscore.connectors.salesforce.emulator.bulk import BulkIngest
from leadscore.connectors.salesforce.emulator.errors import ApiError, error_list, invalid_session
from leadscore.connectors.salesforce.emulator.limits import ApiUsage, Fault, FaultInjector, FaultPlan, statuses_tuple
from leadscore.connectors.salesforce.emulator.oauth import Credentials, OAuthServer, Sessions, new_credentials, parse_form
from leadscore.connectors.salesforce.emulator.seeding import convert, seed_org
from leadscore.connectors.salesforce.emulator.store import FLS_EDIT, FLS_READ, Record, Store
from leadscore.connectors.salesforce.emulator.tooling import Tooling

TOKEN_PATH = "/services/oauth2/token"
_REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 414: "URI Too Long", 429: "Too Many Requests", 500: "Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class SalesforceEmulator(Emulator):
    """A Salesforce org (REST, Bulk API 2.0 ingest, OAuth, Tooling) on ``https://localhost``.

    >>> with SalesforceEmulator() as emu:                       # doctest: +SKIP
    ...     emu.seed(50)
    ...     token = requests.post(emu.login_url + "/services/oauth2/token", data={...}).json()
    ...     sf = Salesforce(instance_url=emu.instance_url, session_id=token["access_token"],
    ...                     session=requests_session_trusting(emu.ca_bundle), version=emu.api_version)
    """

    def __init__(
        self,
        *,
        daily_limit: int = 100_000,
        port: int = 0,
        clock: Callable[[], float] = time.time,
        session_ttl: float = 7200.0,
        api_version: str = "60.0",
        fls_auto_grant: bool = False,
    ) -> None:
        super().__init__(port=port, clock=clock, faults=FaultInjector(), handler=_Handler,
                         thread_name="salesforce-emulator")
        self.api_version = api_version
        self.fls_auto_grant = fls_auto_grant
        self._store = Store(clock)
        self._usage = ApiUsage(daily_limit, clock)
        self._sessions = Sessions(clock, session_ttl)
        self.credentials: Credentials
        self.credentials, public_key = new_credentials()
        self._oauth = OAuthServer(self.credentials, public_key, self._sessions, clock=clock,
                                  org_id=self._store.org_id, user_id=self._store.integration_user,
                                  login_url=lambda: self.login_url, instance_url=lambda: self.instance_url)
        self._bulk = BulkIngest(self._store, self._usage, clock)
        self._tooling = Tooling(self._store, fls_auto_grant=fls_auto_grant)
        self._api = Api(self._store, api_version=api_version, usage=self._usage, bulk=self._bulk,
                        tooling=self._tooling, clock=clock)
        self.ca_bundle = tls.ca_bundle()

    # --- lifecycle (start, stop, context manager, port: see Emulator) ----------------------------------

    def _new_server(self, address: tuple[str, int], handler: type[EmulatorHandler]) -> EmulatorServer:
        return _Server(address, handler, tls.server_context())

    @property
    def instance_url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def login_url(self) -> str:
        """Where ``/services/oauth2/token`` lives: the same server as the instance."""
        return self.instance_url

    @property
    def org_id(self) -> str:
        return self._store.org_id

    # --- data -------------------------------------------------------------------------------------------

    def seed(self, count: int, *, seed: int = 7, as_of: datetime | None = None, accounts: bool = False) -> list[str]:
        """Fill the org with ``agent.sample`` leads (and their activity); the Lead ids in order.
        With ``accounts``, people at known companies are Contacts of seeded Accounts instead (see
        :func:`.seeding.seed_org`), and the ids are of Leads and Contacts."""
        return seed_org(self._store, count, seed=seed, as_of=as_of, accounts=accounts)

    def create_record(self, sobject: str, fields: Mapping[str, Any]) -> str:
        """Add a record as an admin or data import would, committed now. ``CreatedDate`` and
        ``LastModifiedDate`` may be back-dated, as with "Set Audit Fields upon Record Creation"
        (not into the future); ``SystemModstamp`` is always the commit's, as Salesforce keeps it.
        Field-level security does not apply. Not an API write. A Task or Event recalculates its
        Lead's or Contact's ``LastActivityDate`` (see the store)."""
        with self._store.lock:
            definition = self._sobject(sobject)
            audit = {k: values.from_python(definition.fields[k], fields[k])
                     for k in ("CreatedDate", "LastModifiedDate") if k in fields}
            if "SystemModstamp" in fields:
                raise ValueError("SystemModstamp is set by the org at commit, never by a client")
            at_ms = self._store.stamp()
            if any(int(v) > at_ms for v in audit.values() if v is not None):
                raise ValueError("audit fields may be back-dated, not set in the future")
            changes = self._python_values(definition, {k: v for k, v in fields.items() if k not in audit})
            prepared = self._store.prepare(definition, changes, creating=True, enforce_access=False)
            if prepared.problems:
                raise ValueError("; ".join(f"{p.status_code}: {p.message}" for p in prepared.problems))
            record = self._store.create(definition.name, prepared.changes, by=self._store.sales_user, at_ms=at_ms,
                                        created_ms=audit.get("CreatedDate"))
            if "LastModifiedDate" in audit:
                record.values["LastModifiedDate"] = audit["LastModifiedDate"]
            return record.id

    def undelete_record(self, sobject: str, record_id: str) -> None:
        """Restore a record from the recycle bin, as a user would (see ``Store.undelete``)."""
        with self._store.lock:
            record = self._store.get(self._sobject(sobject).name, record_id, deleted=True)
            if record is None or not record.deleted:
                raise KeyError(record_id)
            self._store.undelete(record, self._store.stamp(), self._store.sales_user)

    def update_record(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        """Change a record as a user in Salesforce would: bumps ``LastModifiedDate`` and
        ``SystemModstamp``; read-only fields are refused; not an API write."""
        with self._store.lock:
            definition = self._sobject(sobject)
            record = self._record(definition.name, record_id)
            changes = self._python_values(definition, fields)
            locked = [n for n in changes if not definition.fields[n].updateable]
            if locked:
                raise ValueError(f"read-only fields: {', '.join(locked)}")
            prepared = self._store.prepare(definition, changes, creating=False, enforce_access=False)
            if prepared.problems:
                raise ValueError("; ".join(f"{p.status_code}: {p.message}" for p in prepared.problems))
            self._store.apply(record, prepared.changes, by=self._store.sales_user, at_ms=self._store.stamp())

    def delete_record(self, sobject: str, record_id: str) -> None:
        """Delete to the recycle bin: ``IsDeleted = true``, visible through ``queryAll`` only."""
        with self._store.lock:
            record = self._record(self._sobject(sobject).name, record_id)
            self._store.delete(record, self._store.stamp(), self._store.sales_user)

    def convert_lead(self, lead_id: str, *, opportunity: Mapping[str, Any] | None = None) -> str:
        """Convert a Lead as a user would (Account, Contact, and an Opportunity when
        ``opportunity`` gives its fields, e.g. ``{"StageName": "Closed Won", "CloseDate":
        "2026-11-30", "Amount": 5000}``: LeadConvert's optional opportunity); the Contact's id."""
        with self._store.lock:
            lead = self._record("Lead", lead_id)
            if lead.values.get("IsConverted"):
                raise ValueError(f"lead {lead_id} is already converted")
            deal = None
            if opportunity is not None:
                definition = self._sobject("Opportunity")
                deal = self._python_values(definition, {"CloseDate": values.date_of_ms(self._store.now_ms()),
                                                        "StageName": "Prospecting", **opportunity})
            return convert(self._store, lead, at_ms=self._store.stamp(), by=self._store.sales_user, opportunity=deal)

    def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        """Every field's current value as the API would answer it, deleted records too."""
        with self._store.lock:
            definition = self._sobject(sobject)
            record = self._store.get(definition.name, record_id, deleted=True)
            if record is None:
                raise KeyError(record_id)
            return {name: values.render(d, record.values.get(name)) for name, d in definition.fields.items()}

    def field_writes(self) -> Counter[str]:
        """``"Lead.Score__c"`` -> how many values were written through the API (REST PATCH and
        create, sObject Collections, Bulk API 2.0)."""
        with self._store.lock:
            return Counter(self._store.writes)

    def grant_field_access(self, full_name: str, *, editable: bool = True) -> None:
        """Grant the API user field-level security on ``Object.Field__c`` (read and edit, or
        read only), as an admin would through a permission set."""
        sobject, _, name = full_name.partition(".")
        with self._store.lock:
            definition = self._sobject(sobject)
            found = definition.lookup(name)
            if found is None:
                raise KeyError(full_name)
            self._store.fls[f"{definition.name}.{found.name}"] = FLS_EDIT if editable else FLS_READ

    def use_sandbox(self, sandbox: bool = True) -> None:
        """Make the org a sandbox: JWTs must name ``https://test.salesforce.com`` as their
        audience, as a sandbox's token endpoint requires (a production org: only
        ``https://login.salesforce.com``). See :mod:`.oauth`."""
        self._oauth.sandbox = sandbox

    def allow_permission_management(self, allowed: bool = True) -> None:
        """Whether the integration user holds "Manage Profiles and Permission Sets" and "Assign
        Permission Sets" (it does by default): without them, creating, changing or deleting a
        ``PermissionSet``, ``FieldPermissions`` or ``PermissionSetAssignment`` answers
        ``INSUFFICIENT_ACCESS_OR_READONLY`` (see :mod:`.permissions`)."""
        with self._store.lock:
            self._store.manages_permissions = allowed

    # --- faults, sessions, limits -------------------------------------------------------------------

    def set_faults(
        self,
        *,
        error_rate: float = 0.0,
        statuses: Sequence[int] = (500, 502, 503),
        drop_rate: float = 0.0,
        latency: float = 0.0,
        seed: int = 0,
    ) -> None:
        """Answer a share of requests with ``statuses`` or drop their connection; delay all."""
        plan = FaultPlan(error_rate=error_rate, statuses=statuses_tuple(statuses), drop_rate=drop_rate,
                         latency=latency)
        self._faults.configure(plan, seed)

    def expire_sessions(self) -> None:
        """Every access token issued so far now answers ``401 INVALID_SESSION_ID``."""
        self._sessions.expire_all()

    def revoke_credentials(self) -> None:
        """The admin rotates the connected app's consumer secret and replaces its certificate:
        ``credentials`` no longer log in (``invalid_client`` "invalid client credentials" for the
        password and client-credentials flows, ``invalid_grant`` "invalid assertion" for JWTs).
        Access tokens already issued stay valid until they expire, as in Salesforce; pair with
        :meth:`expire_sessions` to end them too."""
        self._oauth.revoked = True

    def set_api_usage(self, used: int) -> None:
        """Set the org's position in its daily API allocation."""
        self._usage.set_used(used)

    def api_usage(self) -> int:
        return self._usage.used()

    # --- the pipeline (the order is Emulator.dispatch's; the steps are Salesforce's) ---------------

    def _answer(self, route: Route, request: RawRequest) -> Answer:
        if len(request.target.encode()) > MAX_URI_BYTES:
            return Answer(414, error_list("URI_TOO_LONG", f"The request URI is longer than {MAX_URI_BYTES} bytes"))
        query = parse_qs(request.query, keep_blank_values=True)
        return self._serve(route, Call(request.method, request.path, query, request.headers, request.raw))

    def _route(self, method: str, path: str) -> Route:
        if path == TOKEN_PATH:
            if method != "POST":
                return Route("oauth.token", lambda call: Answer(405, error_list(
                    "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are POST")), public=True)
            return Route("oauth.token", self._token, public=True, form=True)
        return self._api.route(method, path)

    def _token(self, call: Call) -> Answer:
        form = parse_form(call.raw, call.query)
        return Answer(200, self._oauth.token(form, call.headers), {"Cache-Control": "no-cache, no-store"})

    def _serve(self, route: Route, call: Call) -> Answer:
        if route.public:
            return self._handle(route, call)
        if not self._authenticated(call.headers):
            error = invalid_session()
            return Answer(error.status, error.body, dict(error.headers))
        admitted, used = self._usage.admit()
        usage_header = {"Sforce-Limit-Info": self._usage.header(used)}
        if not admitted:
            return Answer(403, error_list("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), usage_header)
        answer = self._handle(route, call)
        answer.headers.update(usage_header)
        return answer

    def _authenticated(self, headers: Mapping[str, str]) -> bool:
        supplied = headers.get("Authorization") or ""
        scheme, _, token = supplied.partition(" ")
        return scheme in ("Bearer", "OAuth") and bool(token) and self._sessions.check(token.strip())

    def _handle(self, route: Route, call: Call) -> Answer:
        try:
            with self._store.lock:
                return route.handler(call)
        except ApiError as exc:
            return Answer(exc.status, exc.body, dict(exc.headers))
        except Exception:  # noqa: BLE001 - answer as Salesforce does, and say why on stderr
            traceback.print_exc(file=sys.stderr)
            return Answer(500, error_list("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this "
                                          "ErrorId if you contact support: 1397548741-23977 (-1612234911)"))

    def _fault_answer(self, fault: Fault) -> Answer:
        status = fault.status or 500
        if status == 401:
            error = invalid_session()
            return Answer(401, error.body, dict(error.headers))
        if status == 403:
            return Answer(403, error_list("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."))
        if status in (502, 503, 504):
            # Gateways and maintenance pages answer HTML, not the API's JSON.
            reason = _REASONS[status]
            page = (f"<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1>"
                    "<p>The server is temporarily unable to service your request. Please try again later.</p>"
                    "</body></html>")
            return Answer(status, page.encode(), {"Content-Type": "text/html;charset=UTF-8"})
        return Answer(status, error_list("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this "
                                         "ErrorId if you contact support: 1397548741-23977 (-1612234911)"))

    # --- helpers ----------------------------------------------------------------------------------------

    def _sobject(self, name: str):  # noqa: ANN202 - a schema SObjectDef
        definition = self._store.sobject(name)
        if definition is None:
            raise ValueError(f"unknown sObject type {name!r}")
        return definition

    def _record(self, sobject: str, record_id: str) -> Record:
        record = self._store.get(sobject, record_id)
        if record is None:
            raise KeyError(record_id)
        return record

    def _python_values(self, definition: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for key, value in fields.items():
            found = definition.lookup(key)
            if found is None:
                raise ValueError(f"No such column '{key}' on sobject of type {definition.name}")
            changes[found.name] = values.from_python(found, value)
        return changes

    # --- reports (the convergence test's world: tests/convergence.py) ---------------------------------------

    def records(self, sobject: str) -> dict[str, dict[str, Any]]:
        """Every record of ``sobject`` not in the recycle bin, by id, each field as the API would
        answer it: what a report on all records of the object shows (converted Leads included)."""
        with self._store.lock:
            definition = self._sobject(sobject)
            return {record.id: {name: values.render(d, record.values.get(name)) for name, d in definition.fields.items()}
                    for record in self._store.rows(definition.name, deleted=False)}


# --- HTTPS transport (the plumbing is connectors.emulation's; TLS is here) -----------------------------


class _Server(EmulatorServer):
    """Accepts plain sockets and does each TLS handshake in the connection's own thread, so a
    slow or broken client cannot stall the accept loop."""

    handshakes = True

    def __init__(self, address: tuple[str, int], handler: type[EmulatorHandler], context: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self._context = context

    def handshake(self, request: Any) -> Any | None:
        try:
            request.settimeout(10)
            return self._context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            try:
                request.close()
            except OSError:
                pass
            return None


class _Handler(EmulatorHandler):
    server_version = "SalesforceEmulator/1.0"
    json_content_type = "application/json;charset=UTF-8"
    reasons = _REASONS
