"""The HubSpot SDK behind one call path: limits, timeouts, retries, error mapping and counting.

Facts this module is built around (hubspot-api-client 12.0.0):

- Each ``client.crm.contacts.batch_api``-style access builds a new API client and connection
  pool, so the API objects are built once here and reused.
- There is no default timeout: every call passes ``_request_timeout=(connect, read)``.
- The SDK's urllib3 ``Retry`` never retries POST or PATCH (search and every batch call), and
  raises urllib3's ``MaxRetryError`` when it gives up. So the SDK's own retries are switched off
  (``Retry(total=False)``: errors surface at once, as themselves) and the one retry layer is
  :func:`connectors.limits.retrying`.
- Each SDK sub-package has its own ``ApiException`` class; they are recognised by shape.
- The SDK logs whole response bodies (contact data) at DEBUG; its loggers are capped at WARNING.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping, TypeVar

import structlog
import urllib3
from urllib3.util.retry import Retry

from leadscore.agent.core.errors import AuthError, QuotaExhausted, RateLimited, TransientError
from leadscore.agent.core.secrets import register_secret
from leadscore.connectors.hubspot.config import HubSpotConfig
from leadscore.connectors.kit.error_table import DEFAULT_ERRORS, SERVER_ERRORS, Action, ErrorRule
from leadscore.connectors.kit.retry_after import header, retry_after
from leadscore.connectors.kit.times import next_utc_midnight
from leadscore.connectors.limits import DailyQuota, RetryPolicy, SlidingWindowLimiter, guarded

T = TypeVar("T")

# The SDK logs whole response bodies (contact data) at DEBUG, and turns DEBUG on for its
# loggers whenever a Configuration has debug=True. Its records stop at the "hubspot" logger and
# never reach the application's handlers; the connector reports what matters itself.
_sdk_log = logging.getLogger("hubspot")
_sdk_log.propagate = False
_sdk_log.addHandler(logging.NullHandler())

_LOCKED_WAIT = 2.0  # HubSpot documents 423 Locked as "wait 2 seconds and retry"
_WINDOW_MARGIN = 0.5  # seconds added to the 10-second window (a tenth of it to search's 1 s)

log = structlog.get_logger("leadscore.hubspot")

#: A dropped connection, a timeout, a reset: urllib3's errors, and the socket's own.
_TRANSPORT = (urllib3.exceptions.HTTPError, OSError)

#: What HubSpot's answers to an API call mean (the kit's defaults, overridden; first match wins).
#: A 401 with OAuth configured refreshes the token once (REAUTHENTICATE); with a private app's
#: token, or refused again, it is the row's AuthError.
ERRORS = DEFAULT_ERRORS.override(
    ErrorRule(TransientError, Action.RETRY, "{family}: connection failed ({exception})", exception=_TRANSPORT),
    ErrorRule(TransientError, Action.RETRY, "{family}: transport failure", status=0),
    ErrorRule(AuthError, Action.REAUTHENTICATE,
              "HubSpot refused the access token (401 INVALID_AUTHENTICATION): check the token", status=401),
    ErrorRule(AuthError, Action.FAIL, "HubSpot denied {family} (403 {category}): the app lacks a scope", status=403),
    # "policyName": "DAILY" is the daily allocation, spent until midnight; any other 429 a window.
    ErrorRule(QuotaExhausted, Action.PAUSE, "HubSpot's daily API limit is spent (429 DAILY)", status=429, code="DAILY",
              resume_at=next_utc_midnight),
    ErrorRule(RateLimited, Action.RETRY, "{family}: rate limited (429 {policy})", status=429),
    ErrorRule(RateLimited, Action.RETRY, "{family}: record locked (423)", status=423, retry_after=_LOCKED_WAIT),
    ErrorRule(TransientError, Action.RETRY, "{family}: HubSpot answered {status}", status=SERVER_ERRORS | {408}),
    ErrorRule(None, Action.REJECT),  # HubSpotRequestError, with the parsed body
)

_REFUSED_REFRESH = "HubSpot refused the OAuth refresh ({status} {code}): check "
#: What the OAuth token endpoint's answers to a refresh mean. The v1 OAuth errors carry their
#: code in "status" ({"status": "BAD_REFRESH_TOKEN", ...}); each names the config key to fix.
OAUTH_ERRORS = DEFAULT_ERRORS.override(
    ErrorRule(TransientError, Action.RETRY, "HubSpot OAuth token endpoint: connection failed ({exception})",
              exception=_TRANSPORT),
    ErrorRule(AuthError, Action.FAIL, "HubSpot OAuth refresh failed ({exception}): check connectors.hubspot.oauth", status=0),
    ErrorRule(TransientError, Action.RETRY, "HubSpot OAuth token endpoint answered {status}", status=SERVER_ERRORS | {408, 429}),
    ErrorRule(AuthError, Action.FAIL, _REFUSED_REFRESH + "connectors.hubspot.oauth.client_id (the app's client id)",
              code="BAD_CLIENT_ID"),
    ErrorRule(AuthError, Action.FAIL, _REFUSED_REFRESH + "connectors.hubspot.oauth.client_secret_env "
              "(the client secret in {client_secret_env})", code="BAD_CLIENT_SECRET"),
    ErrorRule(AuthError, Action.FAIL, _REFUSED_REFRESH + "connectors.hubspot.oauth.refresh_token_env (the refresh "
              "token in {refresh_token_env}; it is refused once revoked or the app is uninstalled)", code="BAD_REFRESH_TOKEN"),
    ErrorRule(AuthError, Action.FAIL, _REFUSED_REFRESH + "connectors.hubspot.oauth: client_id, client_secret_env "
              "({client_secret_env}) and refresh_token_env ({refresh_token_env})"),
)


@dataclass(frozen=True)
class HubSpotError:
    """The useful part of a HubSpot error response: never the raw body, which can echo data."""

    status: int
    category: str | None
    message: str
    error_type: str | None = None
    policy: str | None = None
    ids: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    #: Properties named by the errors' ``context.propertyName``.
    properties: tuple[str, ...] = ()


class HubSpotRequestError(Exception):
    """A request HubSpot refused for good (a 4xx other than auth and rate limits)."""

    def __init__(self, error: HubSpotError) -> None:
        super().__init__(f"HTTP {error.status} {error.category or ''}: {error.message}".strip())
        self.error = error


def parse_error(status: int, body: Any) -> HubSpotError:
    """Pick the category, message and ids out of a HubSpot error body, tolerating non-JSON."""
    data: Any = None
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
    elif isinstance(body, Mapping):
        data = body
    if not isinstance(data, Mapping):
        return HubSpotError(status, None, f"HTTP {status} without a JSON error body")
    ids: list[str] = []
    context = data.get("context") or {}
    if isinstance(context, Mapping):
        for value in context.get("ids", []) or []:
            ids.append(str(value))
    details = [e for e in data.get("errors", []) or [] if isinstance(e, Mapping)]
    codes = tuple(str(e["code"]) for e in details if e.get("code"))
    properties = tuple(
        str(name)
        for e in details
        if isinstance(e.get("context"), Mapping)
        for name in e["context"].get("propertyName", []) or []
    )
    message = str(data.get("message") or "")[:300]
    return HubSpotError(
        status=status,
        category=data.get("category"),
        message=message,
        error_type=data.get("errorType"),
        policy=data.get("policyName"),
        ids=tuple(ids),
        codes=codes,
        properties=properties,
    )


def _rate_limit_wait(headers: Any) -> float:
    """How long to wait after a 429: its ``Retry-After``, else the length of the window it
    names (``X-HubSpot-RateLimit-Interval-Milliseconds``), else a second."""
    wait = retry_after(headers)
    if wait is None:
        interval = header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        wait = float(interval) / 1000 if interval and interval.isdigit() else 1.0
    return wait


def _with_http_info(fn: Callable[..., Any]) -> Callable[..., Any] | None:
    """The SDK method's ``*_with_http_info`` twin, which answers ``(data, status, headers)``
    (with ``_return_http_data_only=False``), so the rate-limit headers of each answer are read
    without the API client's shared ``last_response``; None for anything else."""
    owner, name = getattr(fn, "__self__", None), getattr(fn, "__name__", None)
    if owner is None or not name or not inspect.ismethod(fn) or not type(owner).__module__.startswith("hubspot."):
        return None
    twin = getattr(owner, f"{name}_with_http_info", None)
    return twin if callable(twin) else None


def _header_int(headers: Any, name: str) -> int | None:
    value = header(headers, name)
    value = value.strip() if isinstance(value, str) else None
    return int(value) if value and value.isdigit() else None


def _observe_window(limiter: SlidingWindowLimiter, headers: Any) -> None:
    """Feed an answer's view of the ten-second window into the limiter (see
    :meth:`SlidingWindowLimiter.observe`), so a new process starts from the portal's count, not
    from zero, of calls still inside it. HubSpot documents the headers on every (non-search)
    answer: ``X-HubSpot-RateLimit-Max`` (calls allowed per interval),
    ``X-HubSpot-RateLimit-Remaining`` (calls still allowed in the current interval) and
    ``X-HubSpot-RateLimit-Interval-Milliseconds`` (the interval), since the developer changelog
    of 2018-11-06, "Rate limit information headers will be included in HTTP responses"
    (https://developers.hubspot.com/changelog/2018-11-06-rate-limit-information-headers-will-be-included-in-http-responses),
    and for OAuth calls too ("Rate limit headers will now appear for OAuth authenticated calls").
    An answer without them (a dropped connection, search) only ends the call's slot."""
    remaining = _header_int(headers, "X-HubSpot-RateLimit-Remaining") if headers is not None else None
    interval = _header_int(headers, "X-HubSpot-RateLimit-Interval-Milliseconds") if headers is not None else None
    limit = _header_int(headers, "X-HubSpot-RateLimit-Max") if headers is not None else None
    # The client's window is the server's plus a margin (see HubSpotClient.__init__).
    window = interval / 1000 + _WINDOW_MARGIN if interval else None
    limiter.observe(remaining, window, limit=limit or None)


def _check_body(family: str, answer: Any) -> None:
    """Raise :class:`TransientError` for an answer that is no answer (see :meth:`HubSpotClient.call`)."""
    if answer is None:
        raise TransientError(f"{family}: HubSpot answered 200 without a body (null)")
    if getattr(answer, "results", ()) is None:
        raise TransientError(f"{family}: HubSpot answered 200 without its results (null or an empty body)")


def _is_sdk_api_exception(exc: BaseException) -> bool:
    return type(exc).__name__.endswith("ApiException") or (
        type(exc).__module__.startswith("hubspot.") and hasattr(exc, "status")
    )


class HubSpotClient:
    """One SDK client for the connector's life, with every call going through :meth:`call`."""

    def __init__(self, config: HubSpotConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        from hubspot import HubSpot

        self.config = config
        self._sleep = sleep
        self._token_lock = threading.Lock()
        token = config.private_app_token()
        self._sdk = HubSpot(
            access_token=token,
            retry=Retry(total=False, redirect=False),
            host=config.host,
        )
        if token is None:
            self._refresh_oauth()
        burst, daily = config.limits
        # HubSpot counts a request when it arrives, we when we send it: the client's windows are a
        # little longer than the server's so a request sent as a slot frees never lands early.
        self.burst = SlidingWindowLimiter(burst, 10.0 + _WINDOW_MARGIN, sleep=sleep)
        self.search_limiter = SlidingWindowLimiter(config.search_per_second, 1.0 + _WINDOW_MARGIN / 5, sleep=sleep)
        self.quota = DailyQuota(daily, config.daily_budget)
        self.policy = RetryPolicy(attempts=config.retry_attempts, max_wait=config.retry_max_wait)
        self.timeout = (config.connect_timeout, config.read_timeout)
        self.calls: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        #: Calls that stopped the run (refused credentials, spent quota), by error class.
        self.stops: Counter[str] = Counter()
        self._build_apis()

    def _build_apis(self) -> None:
        crm = self._sdk.crm
        self.contacts_search = crm.contacts.search_api
        self.deals_search = crm.deals.search_api
        self.contacts_basic = crm.contacts.basic_api
        self.contacts_batch = crm.contacts.batch_api
        self.companies_search = crm.companies.search_api
        self.companies_basic = crm.companies.basic_api
        self.companies_batch = crm.companies.batch_api
        self.objects_batch = crm.objects.batch_api
        self.properties = crm.properties.core_api
        self.property_groups = crm.properties.groups_api
        self.associations = crm.associations.v4.batch_api

    def _refresh_oauth(self) -> None:
        """Trade the refresh token for a new access token (OAuth apps; private apps never).

        ``POST /oauth/v1/token`` (form-encoded ``grant_type=refresh_token``, ``client_id``,
        ``client_secret``, ``refresh_token``) through the SDK's ``oauth.tokens_api``, which honours
        ``host``. The new token is written into the configuration of every API object already
        built, in place: the SDK copies the token into each API client when the object is built
        and reads it from there on every request, and callers hold bound methods of those
        objects (a retry calls the same ``fn``), so rebuilding them would leave every such
        caller on the expired token. Refreshes are serialised by ``_token_lock``.

        A refusal (4xx: ``BAD_REFRESH_TOKEN``, ``BAD_CLIENT_ID``, ...) raises :class:`AuthError`
        naming the config key to fix; a 5xx, 429 or dropped connection raises
        :class:`TransientError`. The secret and the tokens are never logged or raised.
        """
        oauth = self.config.oauth
        if oauth is None:
            raise AuthError("HubSpot refused the access token (401): check the private app's token and scopes")
        secret = self.config.secret_or_none("oauth.client_secret") or ""
        refresh = self.config.secret_or_none("oauth.refresh_token") or ""
        missing = [name for name, value in ((oauth.client_secret_env, secret), (oauth.refresh_token_env, refresh)) if not value]
        if missing:
            raise AuthError(
                f"connectors.hubspot.oauth: environment variable{'s' if len(missing) > 1 else ''} {' and '.join(missing)} not set "
                f"(client_secret_env names the app's client secret, refresh_token_env its refresh token)"
            )
        with self._token_lock:
            tokens_api = self._sdk.oauth.tokens_api  # builds its own API client (and pool) per access
            try:
                tokens = tokens_api.create(
                    grant_type="refresh_token",
                    client_id=oauth.client_id,
                    client_secret=secret,
                    refresh_token=refresh,
                    _request_timeout=(self.config.connect_timeout, self.config.read_timeout),
                )
            except Exception as exc:  # noqa: BLE001 - mapped below, never logged or chained raw
                rule = OAUTH_ERRORS.for_exception(exc)
                if rule is not None:
                    raise rule.build(exception=type(exc).__name__) from None
                status = int(getattr(exc, "status", 0) or 0) if _is_sdk_api_exception(exc) else 0
                # The v1 OAuth errors carry their code in "status" ({"status": "BAD_REFRESH_TOKEN",
                # "message": ...}); other errors in "category". Only a code-shaped value is kept.
                code = None
                body = getattr(exc, "body", None)
                try:
                    data = json.loads(body) if status and isinstance(body, (str, bytes, bytearray)) else None
                except ValueError:
                    data = None
                if isinstance(data, Mapping):
                    for key in ("status", "category"):
                        value = data.get(key)
                        if isinstance(value, str) and len(value) <= 64 and value.isupper() and value.replace("_", "").isalnum():
                            code = value
                            break
                rule = OAUTH_ERRORS.for_response(status, code or "")
                raise rule.build(exception=type(exc).__name__, status=status, code=code or "refused",
                                 client_secret_env=oauth.client_secret_env, refresh_token_env=oauth.refresh_token_env) from None
            finally:
                pool = getattr(getattr(getattr(tokens_api, "api_client", None), "rest_client", None), "pool_manager", None)
                if pool is not None:
                    pool.clear()
            access = getattr(tokens, "access_token", None)
            if not access:
                raise AuthError("HubSpot's OAuth token endpoint answered without an access token: check connectors.hubspot.oauth")
            register_secret(access, transient=True)  # never in a log line, whatever logs it
            self._sdk.access_token = access  # API objects built from now on
            for api in list(vars(self).values()):  # and every one built before
                configuration = getattr(getattr(api, "api_client", None), "configuration", None)
                if configuration is not None and hasattr(configuration, "access_token"):
                    configuration.access_token = access
        log.info("oauth.refreshed", client_id=oauth.client_id, expires_in=getattr(tokens, "expires_in", None))

    # --- the one call path -----------------------------------------------------------------

    def call(
        self, family: str, fn: Callable[..., T], *args: Any, search: bool = False, expect_body: bool = True, **kwargs: Any
    ) -> T:
        """Call one SDK method with limits, a timeout and retries; map failures onto
        :mod:`leadscore.agent.core.errors`. ``family`` names the endpoint for counting (``contacts.search``).

        A 200 whose body is ``null`` (the SDK answers None), or whose ``results`` are ``null`` or
        missing (an empty body: the SDK answers a model of Nones), is no answer at all: read as
        empty it would end a pull early and move the cursor past records never read, drop a
        batch's engagement, or mark a write done that may not be. So it is retried like a 5xx
        (:class:`TransientError`); if it persists the run fails and its cursor stays. Pass
        ``expect_body=False`` for an endpoint that answers 204."""
        refreshed = False

        limiter = self.search_limiter if search else self.burst
        with_info = _with_http_info(fn)

        def attempt() -> T:
            nonlocal refreshed
            self.quota.spend()
            limiter.acquire()
            self.calls[family] += 1
            seen: Any = None  # the answer's headers, fed to the limiter whatever happens
            try:
                if with_info is not None:
                    answer, _, seen = with_info(*args, _request_timeout=self.timeout, _return_http_data_only=False, **kwargs)
                else:
                    answer = fn(*args, _request_timeout=self.timeout, **kwargs)
                if expect_body:
                    _check_body(family, answer)
                return answer
            except Exception as exc:
                seen = getattr(exc, "headers", None) if _is_sdk_api_exception(exc) else None
                transport = ERRORS.for_exception(exc)
                if transport is not None:
                    raise transport.build(family=family, exception=type(exc).__name__) from None
                if not _is_sdk_api_exception(exc):
                    raise
                status = int(getattr(exc, "status", 0) or 0)
                body, headers = getattr(exc, "body", None), getattr(exc, "headers", None)
                error = parse_error(status, body)
                rule = ERRORS.for_response(status, (error.policy or "").upper(), error.message)
                if rule.action is Action.REAUTHENTICATE and self.config.oauth is not None:
                    if refreshed:
                        raise AuthError(
                            f"HubSpot refused a freshly refreshed OAuth access token for {family} (401): check that the app "
                            "of connectors.hubspot.oauth.client_id is still installed in the account"
                        ) from None
                    # Expired (EXPIRED_AUTHENTICATION) or otherwise refused: refresh once, then retry.
                    # A refused refresh is an AuthError; a failing token endpoint a TransientError,
                    # after which the retry meets the 401 again and refreshes again.
                    self._refresh_oauth()
                    refreshed = True
                    raise TransientError(f"{family}: access token expired; refreshed") from None
                if rule.error is None:
                    raise HubSpotRequestError(error) from None
                wait = _rate_limit_wait(headers) if status == 429 else retry_after(headers)
                raise rule.build(retry_after=wait, family=family, status=status, category=error.category or "",
                                 policy=error.policy or "RATE_LIMIT") from None
            finally:
                if not search:  # HubSpot sends no rate-limit headers on search answers
                    _observe_window(limiter, seen)

        return guarded(
            self.policy, attempt, family=family, retries=self.retries, stops=self.stops, log=log, sleep=self._sleep
        )

    def close(self) -> None:
        for api in (self.contacts_search, self.deals_search, self.contacts_basic, self.contacts_batch, self.companies_search,
                    self.companies_basic, self.companies_batch, self.objects_batch, self.properties, self.property_groups,
                    self.associations):
            client = getattr(api, "api_client", None)
            pool = getattr(getattr(client, "rest_client", None), "pool_manager", None)
            if pool is not None:
                pool.clear()
