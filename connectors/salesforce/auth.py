"""Getting an access token from Salesforce's OAuth token endpoint, for the three server flows.

The connector does this itself rather than letting simple-salesforce log in: the library only
re-authenticates REST calls it logged in for, never Bulk 2.0, and its retry on a persistent 401
recurses without bound. Owning the token means one re-authentication, then a clear error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from leadscore.agent.core.errors import AuthError, RateLimited, TransientError
from leadscore.agent.core.secrets import register_secret
from leadscore.connectors.kit.error_table import DEFAULT_ERRORS, SERVER_ERRORS, Action, ErrorRule
from leadscore.connectors.kit.retry_after import retry_after
from leadscore.connectors.salesforce.config import SalesforceConfig

_LOGIN_FAILED = ErrorRule(TransientError, Action.RETRY, "Salesforce login failed: {exception}", exception=requests.RequestException)
#: The token endpoint's failures worth retrying (a 429 after its Retry-After); any other answer
#: is read for its token, or for the refusal it explains (an AuthError naming what to fix).
LOGIN_ERRORS = DEFAULT_ERRORS.override(
    _LOGIN_FAILED,
    ErrorRule(RateLimited, Action.RETRY, "Salesforce login answered {status}", status=429),
    ErrorRule(TransientError, Action.RETRY, "Salesforce login answered {status}", status=SERVER_ERRORS),
    ErrorRule(None, Action.REJECT),
)


@dataclass(frozen=True)
class Session:
    access_token: str
    instance_url: str
    #: The identity URL (``https://login.salesforce.com/id/<org id>/<user id>``): which org this is.
    identity_url: str | None = None

    def __repr__(self) -> str:  # never show the token
        return f"Session(instance_url={self.instance_url!r})"


def _jwt_assertion(config: SalesforceConfig) -> str:
    import jwt

    now = int(time.time())
    # aud is the login or test host, never login_url: a My Domain takes the token request, but
    # Salesforce accepts only those audiences (SalesforceConfig.audience).
    claims = {"iss": config.client_id, "sub": config.username, "aud": config.audience, "exp": now + 180}
    try:
        return jwt.encode(claims, config.secret("private_key"), algorithm="RS256")
    except (ValueError, TypeError) as exc:
        raise AuthError(f"connectors.salesforce.private_key_file: not a usable RSA private key ({type(exc).__name__})") from None


def authenticate(config: SalesforceConfig, http: requests.Session) -> Session:
    """One token request for the configured flow. Refusals raise :class:`AuthError` naming
    what to fix; a failing endpoint raises :class:`TransientError`."""
    if config.auth == "jwt":
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": _jwt_assertion(config)}
    elif config.auth == "client_credentials":
        form = {"grant_type": "client_credentials", "client_id": config.client_id, "client_secret": config.secret("client_secret")}
    else:
        form = {
            "grant_type": "password",
            "client_id": config.client_id,
            "client_secret": config.secret("client_secret"),
            "username": config.username or "",
            "password": config.secret("password"),
        }
    try:
        response = http.post(
            f"{config.login_url}/services/oauth2/token",
            data=form,
            timeout=(config.connect_timeout, config.read_timeout),
        )
    except requests.RequestException as exc:
        raise _LOGIN_FAILED.build(exception=type(exc).__name__) from None
    failed = LOGIN_ERRORS.for_response(response.status_code)
    if failed.error is not None:
        raise failed.build(retry_after=retry_after(response.headers), status=response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        error = str(body.get("error") or response.status_code)
        description = str(body.get("error_description") or "")[:200]
        raise AuthError(
            f"Salesforce refused the {config.auth} login ({error}: {description}); "
            f"check connectors.salesforce.client_id, username and the {config.auth} credentials"
        )
    register_secret(body["access_token"], transient=True)  # the session id: never in a log line, whatever logs it
    return Session(body["access_token"], body.get("instance_url") or config.login_url, body.get("id"))
