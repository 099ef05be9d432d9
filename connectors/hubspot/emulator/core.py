"""The emulator: one HubSpot account served over real HTTP on loopback, plus a Python handle.

The request pipeline, in order (each step documented where it is implemented):

1. injected latency, then an injected fault - decided *before* authentication, rate limiting
   or any data is touched, so a faulted write is never partly applied. (A real gateway can
   time out *after* HubSpot applied a write, so a client must still treat a 502/504 or a
   dropped connection on a write as "outcome unknown"; the emulator models the cleaner case,
   which keeps tests deterministic.)
2. authentication: ``Authorization: Bearer <token>``, the private app's token or an OAuth
   access token the emulator issued (see :mod:`.oauth`: expired ones answer ``401
   EXPIRED_AUTHENTICATION``);
3. rate limiting (ten-secondly, daily, search per second);
4. the endpoint itself.

The OAuth token endpoint (``POST /oauth/v1/token``) skips steps 2 and 3: it authenticates the
app by its form parameters and is not metered by the account's API limits.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import parse_qs

from leadscore.connectors.emulation import Emulator, EmulatorHandler, RawRequest
from leadscore.connectors.emulation import LoggedRequest as LoggedRequest  # re-exported: part of this package's API
from leadscore.connectors.hubspot.emulator import values
from leadscore.connectors.hubspot.emulator.api import Answer, Api, Call, Route
from leadscore.connectors.hubspot.emulator.errors import ApiError, correlation_id, error_body, invalid_json
from leadscore.connectors.hubspot.emulator.oauth import ACCESS_TOKEN_LIFETIME, DEFAULT_SCOPES, OAuthApp, OAuthServer, parse_form
from leadscore.connectors.hubspot.emulator.limits import (
    RATE_LIMIT_MESSAGES,
    Fault,
    FaultInjector,
    FaultPlan,
    RateLimiter,
    RateLimits,
    statuses_tuple,
)
from leadscore.connectors.hubspot.emulator.schema import ENGAGEMENT_TYPES, REQUIRED_ON_CREATE, option, property_definition, resolve_object_type
from leadscore.connectors.hubspot.emulator.seeding import seed_portal
from leadscore.connectors.hubspot.emulator.store import SOURCE_IMPORT, SOURCE_USER, Store

#: The emulated account's id ("portalId" in error details).
PORTAL_ID = 21_473_115

_REASONS = {423: "Locked", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}


class HubSpotEmulator(Emulator):
    """A HubSpot account (CRM v3/v4 API) on ``127.0.0.1``, driven by the real SDK over HTTP.

    >>> with HubSpotEmulator() as emu:                      # doctest: +SKIP
    ...     ids = emu.seed(50)
    ...     client = HubSpot(access_token=emu.token, host=emu.base_url)
    """

    def __init__(
        self,
        *,
        token: str = "pat-emulator-0000",
        tier: str = "professional",
        limits: RateLimits | None = None,
        port: int = 0,
        clock: Callable[[], float] = time.time,
        search_lag: float = 0.0,
        portal_id: int = PORTAL_ID,
    ) -> None:
        super().__init__(port=port, clock=clock, faults=FaultInjector(), handler=_Handler,
                         thread_name="hubspot-emulator")
        self.token = token
        self.tier = tier
        self.limits = limits or RateLimits.for_tier(tier)
        self.portal_id = portal_id
        self._store = Store(clock)
        # HubSpot: "It may take a few moments for newly created or updated CRM objects to appear in
        # search results". Off by default (tests and the demo read their own writes at once); the
        # convergence test and `leadscore emulator hubspot --search-lag` turn it on.
        self._store.search_lag = search_lag
        self._limiter = RateLimiter(self.limits, clock)
        self._api = Api(self._store, portal_id=portal_id, base_url=lambda: self.base_url)
        self._oauth = OAuthServer(clock)
        self._revoked = False

    # --- lifecycle (start, stop, context manager: see Emulator) ------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- data -----------------------------------------------------------------------------------

    def seed(self, count: int, *, seed: int = 7, as_of: datetime | None = None, accounts: bool = False) -> list[str]:
        """Fill the account with ``agent.sample`` leads as contacts with engagements (and, for some
        contacts sales met, deals: won, lost or open); their ids. With ``accounts``, their
        accounts too, as companies each member's primary company is (see :mod:`.seeding`)."""
        return seed_portal(self._store, count, seed=seed, as_of=as_of, accounts=accounts)

    def create_contact(self, properties: Mapping[str, str], *, engagements: Sequence[Mapping[str, Any]] = ()) -> str:
        """Add a contact as an import would (read-only values such as analytics may be set).

        Each engagement is ``{"type": "emails"|"calls"|"meetings"|"notes"|"tasks", "properties":
        {...}}`` (or the properties inline beside ``type``); it is associated with the contact.
        """
        with self._store.lock:
            changes = self._checked("contacts", properties)
            created = changes.get("createdate")
            record = self._store.create("contacts", changes, at_ms=self._store.write_ms(), source=SOURCE_IMPORT,
                                        created_ms=values.parse_instant(created) if created else None)
            for engagement in engagements:
                self._add_engagement(record.id, engagement)
            return record.id

    def import_contacts(self, rows: Sequence[Mapping[str, str]]) -> list[str]:
        """Add many contacts in one commit, as a bulk import or a workflow touching many records
        does: every one carries the same ``createdate`` and ``lastmodifieddate``. Their ids."""
        with self._store.lock:
            checked = [self._checked("contacts", row) for row in rows]
            at_ms = self._store.write_ms()
            return [self._store.create("contacts", changes, at_ms=at_ms, source=SOURCE_IMPORT).id for changes in checked]

    def create_deal(self, properties: Mapping[str, str], *, contacts: Sequence[str] = ()) -> str:
        """Add a deal as an import would, associated with ``contacts`` (contact ids). It needs
        ``dealname`` and ``dealstage``; ``pipeline`` defaults to ``default`` and
        ``hs_is_closed_won`` follows the stage, as in HubSpot."""
        with self._store.lock:
            for contact_id in contacts:
                self._contact_record(contact_id)
            changes = self._checked("deals", properties)
            missing = [n for n in REQUIRED_ON_CREATE["deals"] if changes.get(n) is None]
            if missing:
                raise ValueError(f"a deal needs {', '.join(missing)}")
            created = changes.get("createdate")
            record = self._store.create("deals", changes, at_ms=self._store.write_ms(), source=SOURCE_IMPORT,
                                        created_ms=values.parse_instant(created) if created else None)
            for contact_id in contacts:
                self._store.associate("contacts", str(contact_id), "deals", record.id)
            return record.id

    def update_deal(self, deal_id: str, properties: Mapping[str, str]) -> None:
        """Change a deal as a user in HubSpot would (move its stage, set its close date or
        amount): stamps ``hs_lastmodifieddate``, recalculates ``hs_is_closed_won`` and its
        siblings from the stage; not an API write."""
        with self._store.lock:
            record = self._store.get("deals", str(deal_id))
            if record is None:
                raise KeyError(deal_id)
            changes = self._checked("deals", properties)
            self._store.update(record, changes, at_ms=self._store.write_ms(), source=SOURCE_USER)

    def deal(self, deal_id: str) -> dict[str, str | None]:
        """Every deal property's current raw value (``None`` where unset)."""
        with self._store.lock:
            record = self._store.get("deals", str(deal_id))
            if record is None:
                raise KeyError(deal_id)
            return self._store.snapshot(record)

    def update_contact(self, contact_id: str, properties: Mapping[str, str]) -> None:
        """Change a contact as a user in HubSpot would: stamps ``lastmodifieddate``; not an API write."""
        with self._store.lock:
            record = self._contact_record(contact_id)
            changes = self._checked("contacts", properties)
            self._store.update(record, changes, at_ms=self._store.write_ms(), source=SOURCE_USER,
                               forward_only_lifecycle=False)

    def log_engagement(self, contact_id: str, engagement: Mapping[str, Any]) -> str:
        """Log a call, email, meeting, note or task for an existing contact, as a rep does in
        HubSpot (``{"type": "calls", "properties": {"hs_timestamp": ..., ...}}``); its id. The
        contact's activity roll-ups and ``lastmodifieddate`` move, as in HubSpot."""
        with self._store.lock:
            self._contact_record(contact_id)
            return self._add_engagement(str(contact_id), engagement)

    def delete_contact(self, contact_id: str) -> None:
        """Archive a contact (HubSpot's delete moves records to the recycling bin)."""
        with self._store.lock:
            self._store.archive(self._contact_record(contact_id), self._store.write_ms())

    def contact(self, contact_id: str) -> dict[str, str | None]:
        """Every contact property's current raw value (``None`` where unset), archived or not."""
        with self._store.lock:
            record = self._store.get("contacts", str(contact_id)) or self._store.get(
                "contacts", str(contact_id), archived=True)
            if record is None:
                raise KeyError(contact_id)
            return self._store.snapshot(record)

    def contacts(self) -> dict[str, dict[str, str | None]]:
        """All live (unarchived) contacts by id."""
        with self._store.lock:
            return {r.id: self._store.snapshot(r) for r in self._store.records("contacts")}

    # --- companies --------------------------------------------------------------------------------

    def create_company(self, properties: Mapping[str, str]) -> str:
        """Add a company as an import would; its id."""
        with self._store.lock:
            changes = self._checked("companies", properties)
            return self._store.create("companies", changes, at_ms=self._store.write_ms(), source=SOURCE_IMPORT).id

    def update_company(self, company_id: str, properties: Mapping[str, str]) -> None:
        """Change a company as a user in HubSpot would: stamps ``hs_lastmodifieddate``; not an API write."""
        with self._store.lock:
            record = self._company_record(company_id)
            self._store.update(record, self._checked("companies", properties), at_ms=self._store.write_ms(),
                               source=SOURCE_USER)

    def set_primary_company(self, contact_id: str, company_id: str) -> None:
        """Make a company the contact's primary one, as a user does on the contact record
        (associating them first if need be): ``associatedcompanyid`` follows, and the contact's
        last-modified dates move (see ``Store.set_primary_company``). Not an API write."""
        with self._store.lock:
            self._contact_record(contact_id)
            self._company_record(company_id)
            self._store.set_primary_company(str(contact_id), str(company_id), at_ms=self._store.write_ms())

    def delete_company(self, company_id: str) -> None:
        """Archive a company (HubSpot's delete moves records to the recycling bin). Reading taken:
        HubSpot does not document what a deleted company's contacts keep in
        ``associatedcompanyid``; the emulator leaves it as it was (the harder case for a client: an
        account id whose account is gone), while v4 reads no longer list the company."""
        with self._store.lock:
            self._store.archive(self._company_record(company_id), self._store.write_ms())

    def company(self, company_id: str) -> dict[str, str | None]:
        """Every company property's current raw value (``None`` where unset)."""
        with self._store.lock:
            return self._store.snapshot(self._company_record(company_id))

    def companies(self) -> dict[str, dict[str, str | None]]:
        """All live (unarchived) companies by id."""
        with self._store.lock:
            return {r.id: self._store.snapshot(r) for r in self._store.records("companies")}

    def associations(self, contact_id: str, to_object_type: str) -> list[str]:
        """Ids of the ``to_object_type`` records (e.g. ``"emails"``) associated with a contact."""
        kind = resolve_object_type(to_object_type)
        if kind is None:
            raise ValueError(f"unknown object type {to_object_type!r}")
        with self._store.lock:
            return self._store.associated("contacts", str(contact_id), kind.name)

    def property_writes(self) -> Counter[str]:
        """How many values each property received through API writes (create/update/upsert)."""
        with self._store.lock:
            return Counter(self._store.writes)

    def add_property(
        self,
        name: str,
        label: str | None = None,
        *,
        type_: str = "string",
        field_type: str = "text",
        group: str = "contactinformation",
        description: str = "",
        options: Sequence[str] = (),
        hubspot_defined: bool = False,
        object_type: str = "contacts",
    ) -> None:
        """Define a property as an admin does in HubSpot's settings (a custom property), or, with
        ``hubspot_defined``, as one HubSpot ships (read-only definition). Not an API write."""
        kind = resolve_object_type(object_type)
        if kind is None:
            raise ValueError(f"unknown object type {object_type!r}")
        with self._store.lock:
            if group not in self._store.groups(kind.name):
                self._store.add_group(kind.name, {"name": group, "label": group, "displayOrder": -1, "archived": False})
            self._store.add_definition(kind.name, property_definition(
                name, label or name, type_, field_type, group, choices=[option(v, v, i) for i, v in enumerate(options)],
                hubspot_defined=hubspot_defined, description=description))

    # --- faults and auth ------------------------------------------------------------------------

    def set_faults(
        self,
        *,
        error_rate: float = 0.0,
        statuses: Sequence[int] = (429, 502, 504, 423),
        drop_rate: float = 0.0,
        latency: float = 0.0,
        seed: int = 0,
    ) -> None:
        """Answer a share of requests with ``statuses`` or drop their connection; delay all."""
        plan = FaultPlan(error_rate=error_rate, statuses=statuses_tuple(statuses), drop_rate=drop_rate, latency=latency)
        self._faults.configure(plan, seed)

    def revoke_token(self) -> None:
        """Every later request with the private app's token answers 401, as after the token is
        rotated away. (OAuth access tokens are the app's, and are not affected.)"""
        self._revoked = True

    # --- OAuth apps -----------------------------------------------------------------------------

    def oauth_app(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        *,
        expires_in: int = ACCESS_TOKEN_LIFETIME,
        scopes: Sequence[str] = DEFAULT_SCOPES,
    ) -> OAuthApp:
        """Install an OAuth app holding ``refresh_token`` (values left out are generated).

        ``POST /oauth/v1/token`` then trades the refresh token for access tokens living
        ``expires_in`` seconds on the emulator's clock; they authenticate API requests like the
        private app's token. Registering the same ``client_id`` again replaces its secret and
        adds the new refresh token (an app may hold several).
        """
        return self._oauth.register(client_id, client_secret, refresh_token, expires_in=expires_in, scopes=scopes)

    def expire_access_tokens(self) -> int:
        """Expire every OAuth access token issued so far (as if ``expires_in`` had passed): the
        next request with one answers ``401 EXPIRED_AUTHENTICATION``. Returns how many."""
        return self._oauth.expire_access_tokens()

    def revoke_refresh_token(self, refresh_token: str) -> None:
        """Delete a refresh token: the token endpoint answers ``400 BAD_REFRESH_TOKEN`` for it
        from now on. Access tokens it already produced stay valid until they expire."""
        self._oauth.revoke_refresh_token(refresh_token)

    def access_tokens_issued(self) -> int:
        """How many OAuth access tokens the token endpoint has issued."""
        return self._oauth.issued()

    # --- the pipeline (the order is Emulator.dispatch's; the steps are HubSpot's) --------------

    def _route(self, method: str, path: str) -> Route:
        return self._oauth.route(method, path) or self._api.route(method, path)

    def _answer(self, route: Route, request: RawRequest) -> Answer:
        call = Call(request.method, request.path, parse_qs(request.query), None)
        return self._serve(route, call, request.headers, request.raw)

    def _serve(self, route: Route, call: Call, headers: Mapping[str, str], raw: bytes) -> Answer:
        if route.public:
            return self._handle(route, call, headers, raw)
        refused = self._authenticate(headers)
        if refused is not None:
            return refused
        verdict = self._limiter.admit(search=route.search, burst_exempt=route.burst_exempt)
        # "Search API responses do not include rate limit headers" (usage guidelines).
        limit_headers = {} if route.search else self._limiter.headers(verdict)
        if verdict.policy is not None:
            body = {"status": "error", "message": RATE_LIMIT_MESSAGES[verdict.policy], "errorType": "RATE_LIMIT",
                    "correlationId": correlation_id(), "policyName": verdict.policy}
            return Answer(429, body, limit_headers)
        answer = self._handle(route, call, headers, raw)
        answer.headers.update(limit_headers)
        return answer

    def _handle(self, route: Route, call: Call, headers: Mapping[str, str], raw: bytes) -> Answer:
        try:
            body = parse_form(headers, raw) if route.form else _parse_body(call.method, raw)
            return route.handler(Call(call.method, call.path, call.query, body))
        except ApiError as exc:
            return Answer(exc.status, exc.body, dict(exc.headers))
        except Exception as exc:  # noqa: BLE001 - an emulator bug must still answer like a server
            return Answer(500, error_body(f"internal error: {type(exc).__name__}: {exc}", "INTERNAL_ERROR"))

    def _authenticate(self, headers: Mapping[str, str]) -> Answer | None:
        """``None`` when the request may proceed, else the 401 answer."""
        supplied = headers.get("Authorization") or headers.get("authorization") or ""
        if supplied == f"Bearer {self.token}":
            return None if not self._revoked else self._unauthorized()
        if supplied.startswith("Bearer "):
            known, refusal = self._oauth.check(supplied[len("Bearer "):])
            if known:
                return refusal
        return self._unauthorized()

    def _unauthorized(self) -> Answer:
        # The body HubSpot sends for a missing, unknown or revoked token.
        body = error_body(
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
            "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "INVALID_AUTHENTICATION",
        )
        return Answer(401, body, {"X-HubSpot-Auth-Failure": "401 Unauthorized"})

    def _fault_answer(self, fault: Fault) -> Answer:
        status = fault.status or 500
        if status == 429:
            body = {"status": "error", "message": RATE_LIMIT_MESSAGES["TEN_SECONDLY_ROLLING"], "errorType": "RATE_LIMIT",
                    "correlationId": correlation_id(), "policyName": "TEN_SECONDLY_ROLLING"}
            headers = {"X-HubSpot-RateLimit-Max": str(self.limits.per_ten_seconds), "X-HubSpot-RateLimit-Remaining": "0",
                       "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
            return Answer(429, body, headers)
        if status == 423:
            # HubSpot documents 423 for records locked by heavy syncing: "wait at least 2 seconds".
            return Answer(423, error_body("The object is locked by another update; retry after 2 seconds.", "LOCKED"))
        reason = _REASONS.get(status, "Error")
        if status in (502, 504) and fault.html:
            page = (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}"
                    f"</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n")
            return Answer(status, page.encode(), {"Content-Type": "text/html"})
        return Answer(status, error_body(reason))

    # --- helpers --------------------------------------------------------------------------------

    def _contact_record(self, contact_id: str):  # noqa: ANN202 - a store Record
        record = self._store.get("contacts", str(contact_id))
        if record is None:
            raise KeyError(contact_id)
        return record

    def _company_record(self, company_id: str):  # noqa: ANN202 - a store Record
        record = self._store.get("companies", str(company_id))
        if record is None:
            raise KeyError(company_id)
        return record

    def _checked(self, object_type: str, properties: Mapping[str, Any]) -> dict[str, str | None]:
        validated = self._store.validate(object_type, properties, enforce_read_only=False)
        if validated.problems:
            raise ValueError("; ".join(f"{p.name}: {p.message}" for p in validated.problems))
        return validated.changes

    def _add_engagement(self, contact_id: str, engagement: Mapping[str, Any]) -> str:
        """Log an engagement for a contact, committed now: ``hs_timestamp`` is when the activity
        happened (any instant), the engagement's create and last-modified dates are the commit's,
        and the association updates the contact's activity roll-ups and last-modified dates."""
        kind = resolve_object_type(str(engagement.get("type", "")))
        if kind is None or kind.name not in ENGAGEMENT_TYPES:
            raise ValueError(f"engagement type must be one of {ENGAGEMENT_TYPES}, got {engagement.get('type')!r}")
        properties = engagement.get("properties")
        if properties is None:
            properties = {k: v for k, v in engagement.items() if k != "type"}
        changes = self._checked(kind.name, properties)
        at_ms = self._store.write_ms()
        record = self._store.create(kind.name, changes, at_ms=at_ms, source=SOURCE_IMPORT)
        self._store.associate("contacts", contact_id, kind.name, record.id, at_ms=at_ms)
        return record.id

    # --- a user's recycling bin (the convergence test's world: tests/convergence.py) ------------

    def restore_contact(self, contact_id: str) -> None:
        """Restore a deleted contact from the recycling bin, as a user can in HubSpot for 90 days
        after the delete: the same id comes back with its properties and associations, and
        ``lastmodifieddate`` moves to the restore (see ``Store.restore``). HubSpot refuses while
        another contact holds its email (``ValueError`` here). Not an API write."""
        with self._store.lock:
            record = self._store.get("contacts", str(contact_id), archived=True)
            if record is None:
                raise KeyError(contact_id)
            email = record.properties.get("email")
            owner = self._store.owner_of("contacts", "email", email)
            if owner is not None and owner != record.id:
                raise ValueError(f"contact {owner} already has email {email}: contact {contact_id} cannot be restored")
            self._store.restore(record, self._store.write_ms())


# --- HTTP transport (the plumbing is connectors.emulation's) -------------------------------------


class _Handler(EmulatorHandler):
    server_version = "HubSpotEmulator/1.0"
    json_content_type = "application/json;charset=utf-8"
    reasons = _REASONS

    def vendor_headers(self, answer: Answer) -> Mapping[str, str]:
        # Every response carries X-HubSpot-Correlation-Id; an error body's correlationId is the same id.
        correlation = answer.body.get("correlationId") if isinstance(answer.body, dict) else None
        return {"X-HubSpot-Correlation-Id": correlation or correlation_id()}


def _parse_body(method: str, raw: bytes) -> Any:
    if method in ("GET", "DELETE") and not raw:
        return None
    if not raw:
        raise invalid_json("No content to map due to end-of-input")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_json(str(exc)) from None
