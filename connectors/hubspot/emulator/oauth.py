"""OAuth apps: HubSpot's v1 token endpoint (``refresh_token`` grant) and the access tokens it issues.

What HubSpot documents, and what the emulator does with it:

- ``POST /oauth/v1/token``, ``application/x-www-form-urlencoded``, with ``grant_type=refresh_token``,
  ``client_id``, ``client_secret``, ``refresh_token`` (``redirect_uri`` is listed too; the refresh
  grant does not need it, so it is accepted and ignored). v1 also took its parameters in the
  query string (the v3 guide names that as the difference), so query parameters are read too,
  the form body winning. The endpoint needs no ``Authorization`` header.
- Success answers ``200`` with ``token_type`` ``"bearer"``, ``access_token``, ``refresh_token`` and
  ``expires_in`` (``1800``: access tokens live 30 minutes since HubSpot's changelog "Expiration of
  OAuth access tokens is changing"). HubSpot's refresh tokens are long-lived and are not rotated
  by a refresh: the answer carries the same refresh token. Earlier access tokens stay valid
  until they expire.
- An access token is sent like a private app's token (``Authorization: Bearer ...``). Once
  expired, HubSpot answers ``401`` with ``category: EXPIRED_AUTHENTICATION``, the message "The
  OAuth token used to make this call expired N second(s) ago." and ``context`` ``{"expire
  time": [<ISO instant>]}``, as reported from production (second(s), hour(s), day(s) are seen;
  minute(s) is the emulator's reading for the gap).
- Refused token requests answer ``400`` in the v1 OAuth shape, where ``status`` carries the
  error code rather than ``"error"``: ``{"status": "BAD_REFRESH_TOKEN", "message": "missing or
  invalid refresh token", "correlationId": ...}``, and ``BAD_CLIENT_ID`` "missing or unknown
  client id". Readings where HubSpot's text is not published: a wrong secret answers
  ``BAD_CLIENT_SECRET``, a missing or unsupported grant type ``BAD_GRANT_TYPE``, the
  ``authorization_code`` grant (the emulator issues no codes) ``BAD_AUTH_CODE``, and a refresh
  token issued to another app ``BAD_REFRESH_TOKEN``, like an unknown one. Checks run in the
  order grant type, client id, client secret, refresh token.
- The token endpoint is not metered by the account's API limits (it is the app's call, not the
  account's); injected faults and latency apply to it like to every request.

Secrets never appear in an answer, the request log or a ``repr``.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence
from urllib.parse import parse_qs

from leadscore.connectors.hubspot.emulator import values
from leadscore.connectors.hubspot.emulator.api import Answer, Call, Route
from leadscore.connectors.hubspot.emulator.errors import correlation_id, error_body

TOKEN_PATH = "/oauth/v1/token"
#: Seconds an access token lives: HubSpot's ``expires_in``.
ACCESS_TOKEN_LIFETIME = 1800
DEFAULT_SCOPES = ("oauth", "crm.objects.contacts.read", "crm.objects.contacts.write",
                  "crm.schemas.contacts.read", "crm.schemas.contacts.write")


@dataclass(frozen=True)
class OAuthApp:
    """One OAuth app installed in the emulated account, with the refresh token it holds."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int = ACCESS_TOKEN_LIFETIME
    scopes: tuple[str, ...] = DEFAULT_SCOPES


@dataclass
class _Issued:
    client_id: str
    expires_at: float  # epoch seconds on the emulator's clock


class OAuthServer:
    """The apps, refresh tokens and access tokens of one emulated account."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._apps: dict[str, OAuthApp] = {}
        self._refresh: dict[str, str] = {}  # refresh token -> client id
        self._access: dict[str, _Issued] = {}

    # --- the Python handle ----------------------------------------------------------------------

    def register(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        *,
        expires_in: int = ACCESS_TOKEN_LIFETIME,
        scopes: Sequence[str] = DEFAULT_SCOPES,
    ) -> OAuthApp:
        if expires_in <= 0:
            raise ValueError("expires_in must be positive")
        app = OAuthApp(
            client_id=client_id or str(uuid.uuid4()),
            client_secret=client_secret or str(uuid.uuid4()),
            refresh_token=refresh_token or f"na1-{uuid.uuid4().hex[:4]}-{uuid.uuid4()}",
            expires_in=int(expires_in),
            scopes=tuple(scopes),
        )
        with self._lock:
            owner = self._refresh.get(app.refresh_token)
            if owner is not None and owner != app.client_id:
                raise ValueError("that refresh token belongs to another app")
            self._apps[app.client_id] = app
            self._refresh[app.refresh_token] = app.client_id
        return app

    def revoke_refresh_token(self, refresh_token: str) -> None:
        """As ``DELETE /oauth/v1/refresh-tokens/:token``: the refresh token stops working;
        access tokens already issued stay valid until they expire, as HubSpot documents."""
        with self._lock:
            self._refresh.pop(refresh_token, None)

    def expire_access_tokens(self) -> int:
        """Every access token issued so far is expired from now on; how many there were."""
        now = self._clock()
        with self._lock:
            for issued in self._access.values():
                issued.expires_at = min(issued.expires_at, now)
            return len(self._access)

    def issued(self) -> int:
        with self._lock:
            return len(self._access)

    # --- authentication of API requests ---------------------------------------------------------

    def check(self, token: str) -> tuple[bool, Answer | None]:
        """``(known, refusal)``: whether ``token`` is an access token this server issued, and the
        ``401 EXPIRED_AUTHENTICATION`` answer when it has expired (``None`` while it is live)."""
        now = self._clock()
        with self._lock:
            issued = self._access.get(token)
            if issued is None:
                return False, None
            expires_at = issued.expires_at
        if now < expires_at:
            return True, None
        return True, expired_answer(now - expires_at, expires_at)

    # --- the endpoint ---------------------------------------------------------------------------

    def route(self, method: str, path: str) -> Route | None:
        if path != TOKEN_PATH:
            return None
        if method != "POST":
            return Route("oauth.token", lambda call: Answer(
                405, error_body(f"Method {method} not allowed on {TOKEN_PATH}", "VALIDATION_ERROR")),
                public=True, form=True)
        return Route("oauth.token", self.token, public=True, form=True)

    def token(self, call: Call) -> Answer:
        params = {name: found[-1] for name, found in call.query.items() if found}
        if isinstance(call.body, Mapping):
            params.update({name: found[-1] for name, found in call.body.items() if found})
        grant = params.get("grant_type", "")
        if grant == "authorization_code":
            return _refused("BAD_AUTH_CODE", "missing or unknown auth code")
        if grant != "refresh_token":
            return _refused("BAD_GRANT_TYPE", "missing or unknown grant type")
        with self._lock:
            app = self._apps.get(params.get("client_id", ""))
            if app is None:
                return _refused("BAD_CLIENT_ID", "missing or unknown client id")
            if not secrets.compare_digest(params.get("client_secret", ""), app.client_secret):
                return _refused("BAD_CLIENT_SECRET", "missing or invalid client secret")
            refresh = params.get("refresh_token", "")
            if not refresh or self._refresh.get(refresh) != app.client_id:
                return _refused("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
            access = _new_access_token()
            self._access[access] = _Issued(app.client_id, self._clock() + app.expires_in)
        body = {"token_type": "bearer", "refresh_token": refresh, "access_token": access,
                "expires_in": app.expires_in}
        return Answer(200, body, {"Cache-Control": "no-store"})


def parse_form(headers: Mapping[str, str], raw: bytes) -> dict[str, list[str]] | None:
    """A form-encoded body as ``parse_qs`` gives it; ``None`` for any other content type."""
    content_type = (headers.get("Content-Type") or headers.get("content-type") or "").split(";")[0].strip()
    if content_type.lower() != "application/x-www-form-urlencoded" or not raw:
        return None
    try:
        return parse_qs(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None


def expired_answer(ago_seconds: float, expires_at: float) -> Answer:
    body = error_body(f"The OAuth token used to make this call expired {_ago(ago_seconds)} ago.",
                      "EXPIRED_AUTHENTICATION", context={"expire time": [values.iso_ms(int(expires_at * 1000))]})
    return Answer(401, body, {"X-HubSpot-Auth-Failure": "401 Unauthorized"})


def _ago(seconds: float) -> str:
    whole = max(0, int(seconds))
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if whole >= size:
            return f"{whole // size} {unit}(s)"
    return f"{whole} second(s)"


def _refused(code: str, message: str) -> Answer:
    return Answer(400, {"status": code, "message": message, "correlationId": correlation_id()})


def _new_access_token() -> str:
    # HubSpot's access tokens are opaque base64url strings of up to ~300 characters ("C..." in
    # the documented examples); these are distinct from any private app token ("pat-...").
    return "C" + secrets.token_urlsafe(72)
