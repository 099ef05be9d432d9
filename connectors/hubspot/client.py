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

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, TypeVar

import structlog
import urllib3
from urllib3.util.retry import Retry

from agent.errors import AuthError, QuotaExhausted, RateLimited, TransientError
from connectors.hubspot.config import HubSpotConfig
from connectors.limits import DailyQuota, RetryPolicy, SlidingWindowLimiter, retrying

T = TypeVar("T")

# The SDK logs whole response bodies (contact data) at DEBUG, and turns DEBUG on for its
# loggers whenever a Configuration has debug=True. Its records stop at the "hubspot" logger and
# never reach the application's handlers; the connector reports what matters itself.
_sdk_log = logging.getLogger("hubspot")
_sdk_log.propagate = False
_sdk_log.addHandler(logging.NullHandler())

_LOCKED_WAIT = 2.0  # HubSpot documents 423 Locked as "wait 2 seconds and retry"

log = structlog.get_logger("leadscore.hubspot")


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
    codes = tuple(
        str(e.get("code")) for e in data.get("errors", []) or [] if isinstance(e, Mapping) and e.get("code")
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
    )


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        for key, value in dict(headers).items():
            if key.lower() == name.lower():
                return str(value)
    except (TypeError, ValueError):
        return None
    return None


def _retry_after(headers: Any) -> float | None:
    value = _header(headers, "Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


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
        token = config.resolve_token()
        self._sdk = HubSpot(
            access_token=token.get_secret_value() if token is not None else None,
            retry=Retry(total=False, redirect=False),
            host=config.host,
        )
        if token is None:
            self._refresh_oauth()
        burst, daily = config.limits
        self.burst = SlidingWindowLimiter(burst, 10.0, sleep=sleep)
        self.search_limiter = SlidingWindowLimiter(config.search_per_second, 1.0, sleep=sleep)
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
        self.contacts_basic = crm.contacts.basic_api
        self.contacts_batch = crm.contacts.batch_api
        self.objects_batch = crm.objects.batch_api
        self.properties = crm.properties.core_api
        self.property_groups = crm.properties.groups_api
        self.associations = crm.associations.v4.batch_api

    def _refresh_oauth(self) -> None:
        """Trade the refresh token for a new access token (OAuth apps; private apps never)."""
        import os

        oauth = self.config.oauth
        if oauth is None:
            raise AuthError("HubSpot refused the access token (401): check the private app's token and scopes")
        secret = os.environ.get(oauth.client_secret_env, "")
        refresh = os.environ.get(oauth.refresh_token_env, "")
        if not secret or not refresh:
            raise AuthError(
                f"connectors.hubspot.oauth: set {oauth.client_secret_env} and {oauth.refresh_token_env} in the environment"
            )
        try:
            tokens = self._sdk.oauth.tokens_api.create(
                grant_type="refresh_token",
                client_id=oauth.client_id,
                client_secret=secret,
                refresh_token=refresh,
                _request_timeout=(self.config.connect_timeout, self.config.read_timeout),
            )
        except Exception as exc:  # noqa: BLE001 - mapped below, never logged raw
            status = getattr(exc, "status", None)
            raise AuthError(f"HubSpot OAuth refresh failed (HTTP {status})") from None
        with self._token_lock:
            self._sdk.access_token = tokens.access_token
        self._build_apis()

    # --- the one call path -----------------------------------------------------------------

    def call(self, family: str, fn: Callable[..., T], *args: Any, search: bool = False, **kwargs: Any) -> T:
        """Call one SDK method with limits, a timeout and retries; map failures onto
        :mod:`agent.errors`. ``family`` names the endpoint for counting (``contacts.search``)."""
        refreshed = False

        def attempt() -> T:
            nonlocal refreshed
            self.quota.spend()
            (self.search_limiter if search else self.burst).acquire()
            self.calls[family] += 1
            try:
                return fn(*args, _request_timeout=self.timeout, **kwargs)
            except urllib3.exceptions.HTTPError as exc:
                raise TransientError(f"{family}: connection failed ({type(exc).__name__})") from None
            except OSError as exc:
                raise TransientError(f"{family}: connection failed ({type(exc).__name__})") from None
            except Exception as exc:
                if not _is_sdk_api_exception(exc):
                    raise
                status = int(getattr(exc, "status", 0) or 0)
                if status == 401 and self.config.oauth is not None and not refreshed:
                    refreshed = True
                    self._refresh_oauth()
                    raise TransientError(f"{family}: access token expired; refreshed") from None
                raise self._map(family, status, getattr(exc, "body", None), getattr(exc, "headers", None)) from None

        def on_retry(state: Any) -> None:
            self.retries[family] += 1
            error = state.outcome.exception() if state.outcome else None
            log.info("api.retry", endpoint=family, attempt=state.attempt_number, error=str(error))

        try:
            return retrying(self.policy, attempt, on_retry=on_retry, sleep=self._sleep)
        except (AuthError, QuotaExhausted) as exc:
            self.stops[type(exc).__name__] += 1
            log.error("api.stopped", endpoint=family, error=str(exc))
            raise

    def _map(self, family: str, status: int, body: Any, headers: Any) -> Exception:
        error = parse_error(status, body)
        if status == 0:
            return TransientError(f"{family}: transport failure")
        if status == 401:
            return AuthError("HubSpot refused the access token (401 INVALID_AUTHENTICATION): check the token")
        if status == 403:
            return AuthError(f"HubSpot denied {family} (403 {error.category or ''}): the app lacks a scope".replace("  ", " "))
        if status == 429:
            if (error.policy or "").upper() == "DAILY":
                now = datetime.now(timezone.utc)
                tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
                return QuotaExhausted("HubSpot's daily API limit is spent (429 DAILY)", resume_at=tomorrow)
            wait = _retry_after(headers)
            if wait is None:
                interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
                wait = float(interval) / 1000 if interval and interval.isdigit() else 1.0
            return RateLimited(f"{family}: rate limited (429 {error.policy or 'RATE_LIMIT'})", retry_after=wait)
        if status == 423:
            return RateLimited(f"{family}: record locked (423)", retry_after=_retry_after(headers) or _LOCKED_WAIT)
        if status >= 500 or status == 408:
            return TransientError(f"{family}: HubSpot answered {status}")
        return HubSpotRequestError(error)

    def close(self) -> None:
        for api in (self.contacts_search, self.contacts_basic, self.contacts_batch, self.objects_batch,
                    self.properties, self.property_groups, self.associations):
            client = getattr(api, "api_client", None)
            pool = getattr(getattr(client, "rest_client", None), "pool_manager", None)
            if pool is not None:
                pool.clear()
