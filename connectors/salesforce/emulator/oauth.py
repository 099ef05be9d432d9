"""The OAuth 2.0 token endpoint (``POST /services/oauth2/token``) and access-token sessions.

Three server-to-server flows, as Salesforce Help documents them:

- ``password`` (username-password flow): ``client_id``, ``client_secret``, ``username`` and
  ``password`` (the user's password with its security token appended, if the org requires one;
  the emulator's password is the full value to send);
- ``client_credentials``: the connected app's key and secret, in the body or as HTTP Basic
  credentials; tokens run as the app's "Run As" user (the integration user here);
- ``urn:ietf:params:oauth:grant-type:jwt-bearer``: an RS256-signed JWT whose ``iss`` is the
  consumer key, ``sub`` the username, ``aud`` the login URL and ``exp`` a time in the future
  (seconds since the epoch; a numeric string is accepted, as simple-salesforce sends one).
  The audience is the authorization server's URL, and only these: "https://login.salesforce.com,
  https://test.salesforce.com, or https://site.force.com/customers if implementing for an
  Experience Cloud site" (Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server
  Integration"). The emulator serves the token endpoint at its own URL, the way an org's My
  Domain (``https://acme.my.salesforce.com``) takes the token request, but never accepts that URL
  as the audience: a production org accepts ``https://login.salesforce.com`` only, a sandbox
  (``sandbox = True``, :meth:`SalesforceEmulator.use_sandbox`) ``https://test.salesforce.com``
  only (the Help page lists both without saying whether an org accepts the other's; the emulator
  takes the stricter reading, which real sandboxes show: forcedotcom/cli#3325 "audience is
  invalid" for a login.salesforce.com audience against a sandbox). Experience Cloud sites are not
  emulated. A trailing slash is tolerated (restforce/restforce#886 sends one successfully).

Answers: ``access_token``, ``instance_url``, ``id`` (the identity URL), ``token_type``,
``issued_at`` (epoch ms as a string) and ``signature`` (Base64 HMAC-SHA256 of ``id`` +
``issued_at`` keyed with the client secret). JWT-bearer answers carry ``scope`` and no
``signature``, as that flow's documented response does (no secret is involved); client
credentials answers carry ``scope`` too. No flow issues a refresh token.

Errors are ``400 {"error", "error_description"}``: ``unsupported_grant_type`` "grant type not
supported", ``invalid_client_id`` "client identifier invalid", ``invalid_client`` "invalid
client credentials", ``invalid_grant`` "authentication failure" (password flow) and, for JWTs,
``invalid_grant`` "invalid assertion" / "audience is invalid" / "expired authorization code" /
"user hasn't approved this consumer". The JWT flow's errors are "a standard OAuth error response"
(RFC 7523; Salesforce Help, "OAuth 2.0 Authorization Errors"); the bad-audience body
``{"error": "invalid_grant", "error_description": "audience is invalid"}`` is the one Salesforce
orgs answer as reported in forcedotcom/datacloud-jdbc#132 and forcedotcom/cli#3325.

Sessions follow the org's session timeout: a token expires after ``session_ttl`` seconds
*without use*, and each use restarts that timer (Salesforce extends an active session).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from leadscore.connectors.salesforce.emulator.errors import ApiError, oauth_error

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PRODUCTION_AUDIENCE = "https://login.salesforce.com"
SANDBOX_AUDIENCE = "https://test.salesforce.com"
STANDARD_AUDIENCES = (PRODUCTION_AUDIENCE, SANDBOX_AUDIENCE)


@dataclass(frozen=True)
class Credentials:
    """The connected app and integration user the emulated org knows.

    ``private_key_pem`` is the key whose certificate is uploaded to the connected app, for the
    JWT bearer flow. Never printed by ``repr``.
    """

    client_id: str
    client_secret: str
    username: str
    password: str
    private_key_pem: str

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, username={self.username!r})"


@functools.lru_cache(maxsize=1)
def _connected_app_key() -> tuple[str, Any]:
    """One RSA key per process: generating 2048-bit keys is slow, and emulators are many."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


def new_credentials() -> tuple[Credentials, Any]:
    pem, public_key = _connected_app_key()
    credentials = Credentials(
        client_id="3MVG9" + secrets.token_urlsafe(60).replace("-", "A").replace("_", "z")[:80],
        client_secret=secrets.token_hex(32).upper(),
        username="leadscore-integration@emulator.example.com",
        password="Emulat0r-" + secrets.token_urlsafe(12),
        private_key_pem=pem,
    )
    return credentials, public_key


class Sessions:
    """Issued access tokens and when each was last used."""

    def __init__(self, clock: Callable[[], float], ttl: float) -> None:
        self._clock = clock
        self.ttl = ttl
        self._lock = threading.Lock()
        self._last_used: dict[str, float] = {}
        self.issued = 0

    def issue(self, org_id: str) -> str:
        token = f"{org_id[:15]}!AQ" + secrets.token_urlsafe(72).replace("-", "x").replace("_", "y")
        with self._lock:
            self._last_used[token] = self._clock()
            self.issued += 1
        return token

    def check(self, token: str) -> bool:
        """Valid tokens are refreshed (the timeout restarts); expired ones are forgotten."""
        with self._lock:
            last = self._last_used.get(token)
            now = self._clock()
            if last is None:
                return False
            if now - last > self.ttl:
                del self._last_used[token]
                return False
            self._last_used[token] = now
            return True

    def expire_all(self) -> None:
        with self._lock:
            self._last_used.clear()


class OAuthServer:
    def __init__(self, credentials: Credentials, public_key: Any, sessions: Sessions, *,
                 clock: Callable[[], float], org_id: str, user_id: str,
                 login_url: Callable[[], str], instance_url: Callable[[], str]) -> None:
        self.credentials = credentials
        self._public_key = public_key
        self.sessions = sessions
        self._clock = clock
        self._org_id = org_id
        self._user_id = user_id
        self._login_url = login_url
        self._instance_url = instance_url
        self.revoked = False
        #: A sandbox org: JWTs must name https://test.salesforce.com, else https://login.salesforce.com.
        self.sandbox = False

    def token(self, form: Mapping[str, str], headers: Mapping[str, str]) -> dict[str, Any]:
        grant = form.get("grant_type", "")
        if grant == "password":
            self._check_client(form.get("client_id"), form.get("client_secret"))
            if (form.get("username") != self.credentials.username
                    or form.get("password") != self.credentials.password):
                raise oauth_error("invalid_grant", "authentication failure")
            return self._answer(signed=True)
        if grant == "client_credentials":
            client_id, secret = form.get("client_id"), form.get("client_secret")
            basic = headers.get("Authorization", "")
            if basic.startswith("Basic "):
                try:
                    client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise oauth_error("invalid_client", "invalid client credentials") from None
            self._check_client(client_id, secret)
            return {**self._answer(signed=True), "scope": "api"}
        if grant == JWT_BEARER:
            self._check_assertion(form.get("assertion", ""))
            return {**self._answer(signed=False), "scope": "api"}
        raise oauth_error("unsupported_grant_type", "grant type not supported")

    def _check_client(self, client_id: str | None, secret: str | None) -> None:
        if client_id != self.credentials.client_id:
            raise oauth_error("invalid_client_id", "client identifier invalid")
        if self.revoked or not secret or not hmac.compare_digest(secret, self.credentials.client_secret):
            raise oauth_error("invalid_client", "invalid client credentials")

    def _check_assertion(self, assertion: str) -> None:
        import jwt

        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise oauth_error("invalid_grant", "invalid assertion") from None
        if claims.get("iss") != self.credentials.client_id:
            raise oauth_error("invalid_client_id", "client identifier invalid")
        try:
            header = jwt.get_unverified_header(assertion)
            if header.get("alg") != "RS256":
                raise jwt.InvalidAlgorithmError("RS256 only")
            # exp and aud are checked below, on the emulator's clock and with its audiences.
            if self.revoked:
                raise jwt.InvalidSignatureError("the connected app's certificate was replaced")
            jwt.decode(assertion, self._public_key, algorithms=["RS256"],
                       options={"verify_exp": False, "verify_aud": False, "verify_iat": False, "verify_nbf": False})
        except jwt.PyJWTError:
            raise oauth_error("invalid_grant", "invalid assertion") from None
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        accepted = SANDBOX_AUDIENCE if self.sandbox else PRODUCTION_AUDIENCE
        if not any(str(a).rstrip("/") == accepted for a in audiences):
            raise oauth_error("invalid_grant", "audience is invalid")
        try:
            expires = float(claims.get("exp"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise oauth_error("invalid_grant", "invalid assertion") from None
        if expires <= self._clock():
            raise oauth_error("invalid_grant", "expired authorization code")
        if claims.get("sub") != self.credentials.username:
            raise oauth_error("invalid_grant", "user hasn't approved this consumer")

    def _answer(self, *, signed: bool) -> dict[str, Any]:
        issued_at = str(int(self._clock() * 1000))
        identity = f"{self._login_url()}/id/{self._org_id}/{self._user_id}"
        body: dict[str, Any] = {
            "access_token": self.sessions.issue(self._org_id),
            "instance_url": self._instance_url(),
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
        if signed:
            digest = hmac.new(self.credentials.client_secret.encode(), (identity + issued_at).encode(),
                              hashlib.sha256).digest()
            body["signature"] = base64.b64encode(digest).decode()
        return body


def parse_form(raw: bytes, query: Mapping[str, list[str]]) -> dict[str, str]:
    """Form fields from the body (``application/x-www-form-urlencoded``) or the query string,
    which Salesforce also accepts on the token endpoint."""
    from urllib.parse import parse_qs

    fields = {k: v[-1] for k, v in query.items() if v}
    try:
        body = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise oauth_error("invalid_request", "invalid request body") from None
    fields.update({k: v[-1] for k, v in body.items() if v})
    return fields


__all__ = ["ApiError", "Credentials", "JWT_BEARER", "OAuthServer", "Sessions", "new_credentials", "parse_form"]
