"""simple-salesforce behind one call path: our own login, timeouts, the API budget, retries.

Facts this module is built around (simple-salesforce 1.12):

- Its requests have no timeout: the ``requests.Session`` it is given adds one to every request.
- It re-authenticates only REST calls it logged in for (never Bulk 2.0) and can recurse without
  bound on a persistent 401, so it is built from our own token (``session_id``) and on
  ``INVALID_SESSION_ID`` the connector logs in again once, rebuilds it and retries; a second 401
  is an :class:`AuthError`.
- Both the daily allocation and the concurrency limit answer 403 ``REQUEST_LIMIT_EXCEEDED``; the
  message tells them apart. The first pauses the connector, the second is retried.
- Every REST answer carries ``Sforce-Limit-Info: api-usage=N/M``, which it parses into
  ``api_usage``; the budget follows the org's own count.
- Its exceptions carry the status and the body but not the headers, so :class:`TimeoutSession`
  keeps each thread's last ``Retry-After`` for the error mapping to read.

Errors map through one table (:data:`ERRORS`, over the kit's defaults). On ``Retry-After``:
Salesforce's REST API documents its limits as ``403 REQUEST_LIMIT_EXCEEDED`` ("If the number of
long running requests exceeds the limit, the API returns a REQUEST_LIMIT_EXCEEDED exception
code": API Request Limits and Allocations, Salesforce App Limits Cheatsheet; the REST API
Developer Guide's "Status Codes and Error Responses" lists 403 "The request has been refused")
and documents neither a 429 nor a ``Retry-After`` for the core REST API. Its other APIs do:
Marketing Cloud's REST API answers ``429 Too Many Requests`` with ``Retry-After: 5`` ("Rate
Limiting Errors"), and Connect REST API's 503 means "Too many requests in an hour". So a 429 or
503 that does come (from Salesforce's edge, a My Domain proxy, or a future limit) is retried
after the ``Retry-After`` it carries, when it carries one, else with backoff, as before.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any, Callable, TypeVar

import requests
import structlog

from leadscore.agent.core.errors import AuthError, QuotaExhausted, RateLimited, TransientError
from leadscore.connectors.kit.error_table import DEFAULT_ERRORS, SERVER_ERRORS, Action, ErrorRule
from leadscore.connectors.kit.retry_after import parse_retry_after
from leadscore.connectors.kit.times import next_utc_midnight
from leadscore.connectors.limits import DailyQuota, RetryPolicy, guarded, retrying
from leadscore.connectors.salesforce.auth import Session, authenticate
from leadscore.connectors.salesforce.config import SalesforceConfig

T = TypeVar("T")
log = structlog.get_logger("leadscore.salesforce")

#: Until the first answer tells us the org's allocation, assume the smallest edition's.
_INITIAL_DAILY = 15_000
_LIMIT = "REQUEST_LIMIT_EXCEEDED"
_ANSWERED = "{family}: Salesforce answered {status} {code}"

#: What Salesforce's answers mean (the kit's defaults, overridden; first match wins). Both the
#: concurrency limit and the daily allocation answer 403 REQUEST_LIMIT_EXCEEDED: the message
#: tells them apart ("ConcurrentPerOrgLongTxn Limit exceeded." / "TotalRequests Limit exceeded.").
#: An expired session (401 INVALID_SESSION_ID) is simple-salesforce's SalesforceExpiredSession,
#: which :meth:`SalesforceClient.call` meets first: it logs in again once (the REAUTHENTICATE
#: action, taken on the exception's type); any other 401 fails.
ERRORS = DEFAULT_ERRORS.override(
    ErrorRule(TransientError, Action.RETRY, "{family}: connection failed ({exception})", exception=requests.RequestException),
    ErrorRule(RateLimited, Action.RETRY, "{family}: concurrent request limit ({detail})", status=403, code=_LIMIT,
              detail="concurrent", retry_after=5.0),
    ErrorRule(QuotaExhausted, Action.PAUSE, "Salesforce's daily API allocation is spent (403 REQUEST_LIMIT_EXCEEDED: {detail})",
              status=403, code=_LIMIT, resume_at=next_utc_midnight),
    ErrorRule(AuthError, Action.FAIL, "Salesforce refused {family} (403 {code}): the integration user lacks a permission",
              status=403),
    ErrorRule(AuthError, Action.FAIL, "Salesforce refused the session (401 {code})", status=401),
    ErrorRule(RateLimited, Action.RETRY, _ANSWERED, status={429, 503}),  # after their Retry-After (module docstring)
    ErrorRule(TransientError, Action.RETRY, _ANSWERED, status=SERVER_ERRORS | {408}),
    ErrorRule(TransientError, Action.RETRY, _ANSWERED, code="UNABLE_TO_LOCK_ROW"),
    ErrorRule(None, Action.REJECT),  # SalesforceRequestError: a malformed query, an unknown field...
)


class SalesforceRequestError(Exception):
    """A request Salesforce refused for good (400/404): malformed query, unknown field..."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


#: Bulk API 2.0 job-level error codes worth retrying ("Errors", Bulk API 2.0 Developer Guide):
#: ``Timeout`` ("split your batch into smaller batches, and try again"), ``TooManyLockFailure``
#: (lock contention), ``Unknown`` ("Exception with unknown cause occurred"), ``InvalidSessionId``
#: (a new session) and ``ExceededQuota`` (the rolling 24 hours move on). The others it lists
#: (``ClientInputError``, ``FeatureNotEnabled``, ``InvalidBatch`` - "Field name not found" -,
#: ``InvalidJob``, ``InvalidJobState``, ``InvalidOperation``, ``InvalidUrl``, ``InvalidUser``,
#: ``InvalidXML``, ``MethodNotAllowed``, ``NotFound``) fail the same way every time.
BULK_RETRYABLE = frozenset({"Timeout", "TooManyLockFailure", "Unknown", "InvalidSessionId", "ExceededQuota"})


class BulkJobFailed(SalesforceRequestError):
    """A Bulk API 2.0 job that ended ``Failed`` (or ``Aborted``) as a whole, with the code of its
    ``errorMessage`` (``InvalidBatch : Field name not found : X``): ``state`` says whether its
    records are worth retrying (``RETRYABLE``) or not (``PERMANENT``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(0, code, message)
        self.state = "RETRYABLE" if code in BULK_RETRYABLE else "PERMANENT"


def bulk_failure(family: str, exc: Exception) -> Exception:
    """simple-salesforce's ``SalesforceOperationError`` for a bulk job as an agent error: a job
    whose ``errorMessage`` names a permanent code is :class:`BulkJobFailed` (not retried here);
    a timeout, a retryable code or a job that says nothing is a :class:`TransientError`."""
    text = str(exc)
    detail = text.split("Response content:", 1)[1].strip() if "Response content:" in text else ""
    code = detail.split(":", 1)[0].strip() if ":" in detail else ""
    if code.isalpha() and code not in BULK_RETRYABLE:
        return BulkJobFailed(code, detail[:300])
    return TransientError(f"{family}: bulk job failed ({text[:200]})")


class TimeoutSession(requests.Session):
    """A session that puts a (connect, read) timeout on every request that has none, and whose
    own CA bundle wins over ``REQUESTS_CA_BUNDLE`` (requests lets the environment override a
    session's ``verify``, psf/requests#3829). It keeps the ``Retry-After`` of each thread's last
    answer: simple-salesforce's errors drop the headers."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.default_timeout = timeout
        self._last = threading.local()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        if self.verify is not True:
            kwargs.setdefault("verify", self.verify)
        self._last.retry_after = None
        response = super().request(method, url, *args, **kwargs)
        self._last.retry_after = response.headers.get("Retry-After")
        return response

    def last_retry_after(self) -> float | None:
        """The seconds this thread's last answer asked to wait (``Retry-After``), if it did."""
        return parse_retry_after(getattr(self._last, "retry_after", None))


def _first_error(exc: Any) -> tuple[str, str]:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or ""), str(content[0].get("message") or "")[:300]
    if isinstance(content, dict):
        return str(content.get("errorCode") or content.get("error") or ""), str(content.get("message") or "")[:300]
    return "", ""


class SalesforceClient:
    def __init__(self, config: SalesforceConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self.http = TimeoutSession((config.connect_timeout, config.read_timeout))
        if config.ca_bundle is not None:
            self.http.verify = str(config.ca_bundle)
        self.quota = DailyQuota(_INITIAL_DAILY, config.daily_budget)
        self.policy = RetryPolicy(attempts=config.retry_attempts, max_wait=config.retry_max_wait)
        self.calls: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.stops: Counter[str] = Counter()
        self.logins = 0
        self._session: Session | None = None
        self._sf: Any = None

    @property
    def sf(self) -> Any:
        """The simple-salesforce client, logging in on first use."""
        if self._sf is None:
            self._login()
        return self._sf

    @property
    def session(self) -> Session | None:
        """The current login (None before the first call)."""
        return self._session

    def _login(self) -> None:
        from simple_salesforce import Salesforce

        self.calls["oauth.token"] += 1
        self.logins += 1
        self._session = retrying(self.policy, lambda: authenticate(self.config, self.http), sleep=self._sleep)
        self._sf = Salesforce(
            instance_url=self._session.instance_url,
            session_id=self._session.access_token,
            session=self.http,
            version=self.config.api_version,
        )

    def call(self, family: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(sf)`` within the budget, with retries; map failures onto agent errors."""
        relogged = False

        def attempt() -> T:
            nonlocal relogged
            from simple_salesforce.exceptions import (
                SalesforceError,
                SalesforceExpiredSession,
                SalesforceOperationError,
            )

            sf = self.sf
            self.quota.spend()
            self.calls[family] += 1
            try:
                result = fn(sf)
            except SalesforceExpiredSession:
                if relogged:
                    raise AuthError("Salesforce refused a fresh session (401 INVALID_SESSION_ID): check the integration user") from None
                relogged = True
                self._login()
                raise TransientError(f"{family}: session expired; logged in again") from None
            except SalesforceOperationError as exc:
                raise bulk_failure(family, exc) from None
            except SalesforceError as exc:
                raise self._map(family, exc) from None
            except Exception as exc:
                transport = ERRORS.for_exception(exc)
                if transport is None:
                    raise
                raise transport.build(family=family, exception=type(exc).__name__) from None
            self._observe(sf)
            return result

        return guarded(
            self.policy, attempt, family=family, retries=self.retries, stops=self.stops, log=log, sleep=self._sleep
        )

    def _map(self, family: str, exc: Any) -> Exception:
        """A simple-salesforce error as an agent error, through :data:`ERRORS`."""
        status = int(getattr(exc, "status", 0) or 0)
        code, message = _first_error(exc)
        rule = ERRORS.for_response(status, code, message)
        if rule.error is None:
            return SalesforceRequestError(status, code or "ERROR", message)
        return rule.build(retry_after=self.http.last_retry_after(), family=family, status=status, code=code, detail=message)

    def _observe(self, sf: Any) -> None:
        usage = (getattr(sf, "api_usage", None) or {}).get("api-usage")
        if usage is not None:
            self.quota.daily = int(usage.total)
            self.quota.observe_remaining(int(usage.total) - int(usage.used))

    def close(self) -> None:
        self.http.close()
