"""What a CRM's error means to the agent, as a table: status, vendor code or exception type in,
leadscore error class and action out.

Why a table: each client mapped its SDK's errors in an if-chain of its own, and the chains
drifted (one retried a 408, the other did not; one honoured ``Retry-After``, the other ignored
it). Modelled on the Airbyte CDK's ``HttpStatusErrorHandler``: a ``DEFAULT_ERROR_MAPPING`` that
holds for any HTTP API, and per-CRM overrides (Airbyte's per-stream ``error_mapping``) put in
front of it, so a CRM states only what it does differently. Rows are matched in order, first
match wins; the defaults end with a row that matches anything, so every answer resolves.

The agent decides what to do from the error *class* alone (:mod:`leadscore.agent.core.errors`);
the :class:`Action` says the same in words and is checked against the class when a row is
built, so a row cannot say "retry" while raising an error the retry layer lets through. The
one action a client acts on itself is :attr:`Action.REAUTHENTICATE`: refresh the token (or log
in again) once, then retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Callable, Collection, Iterable

from leadscore.agent.core.errors import AuthError, ConfigError, QuotaExhausted, RateLimited, TransientError


class Action(Enum):
    """What happens after an error (the error class carries it; this names it)."""

    #: Try again as it is (:class:`TransientError`), after the CRM's ``Retry-After`` when it
    #: gave one (:class:`RateLimited`), else after exponential backoff.
    RETRY = "retry"
    #: Stop calling until an allocation resets (:class:`QuotaExhausted` with ``resume_at``):
    #: a pause, never a loop.
    PAUSE = "pause"
    #: Stop the run: a person must fix credentials, scopes or configuration (:class:`AuthError`,
    #: :class:`ConfigError`).
    FAIL = "fail"
    #: Refresh the access token or log in again, once, then retry; refused again, fail with the
    #: row's :class:`AuthError`.
    REAUTHENTICATE = "reauthenticate"
    #: This request is refused for good (a malformed query, a bad value, an unknown field): the
    #: CRM's own request error, built by its client with what it parsed from the body, which the
    #: caller handles per record. The run goes on.
    REJECT = "reject"


#: The error class each action must raise (checked when a row is built).
_CLASSES: dict[Action, tuple[type[Exception], ...]] = {
    Action.RETRY: (TransientError,),
    Action.PAUSE: (QuotaExhausted,),
    Action.FAIL: (AuthError, ConfigError),
    Action.REAUTHENTICATE: (AuthError,),
}

#: 5xx: the server failed (and anything above, which no server should send).
SERVER_ERRORS: frozenset[int] = frozenset(range(500, 1000))


@dataclass(frozen=True)
class ErrorRule:
    """One row: what it matches, and the error it raises.

    A row matches an exception (``exception``: an instance of that type) or a response (every
    one of ``status``, ``code`` and ``detail`` given must match; a row giving none matches any
    response). ``message`` is a :meth:`str.format` template over the fields the client passes
    to :meth:`build` (``{family}``, ``{status}``, ``{code}``, ``{detail}``, ``{exception}``, or
    its own); a field not passed is empty.
    """

    #: The class raised; None for :attr:`Action.REJECT` (the client builds its request error).
    error: type[Exception] | None
    action: Action
    message: str = ""
    #: An HTTP status or a set of them (``SERVER_ERRORS | {408}``).
    status: int | Collection[int] | None = None
    #: The CRM's error code (Salesforce's ``errorCode``, HubSpot's ``policyName``), exactly.
    code: str | None = None
    #: Text the error's message contains (any case): ``"concurrent"`` tells Salesforce's
    #: concurrency limit from its daily one, which share a status and a code.
    detail: str | None = None
    #: Exceptions (raised instead of an answer: a dropped connection, a timeout) this row takes.
    exception: type[BaseException] | tuple[type[BaseException], ...] | None = None
    #: The wait the CRM documents for this answer, used when it sends no (or a zero) Retry-After.
    retry_after: float | None = None
    #: When a paused connector resumes (:attr:`Action.PAUSE`): called as the error is built.
    resume_at: Callable[[], datetime] | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not isinstance(self.status, int):
            object.__setattr__(self, "status", frozenset(self.status))
        if self.action is Action.REJECT:
            if self.error is not None:
                raise ValueError("a REJECT row raises the CRM's own request error: its error is None")
            return
        allowed = _CLASSES[self.action]
        if self.error is None or not issubclass(self.error, allowed):
            names = " or ".join(c.__name__ for c in allowed)
            raise ValueError(f"a {self.action.name} row raises {names}, not {getattr(self.error, '__name__', None)}")
        if self.retry_after is not None and not issubclass(self.error, RateLimited):
            raise ValueError("only a RateLimited row has a documented wait")
        if self.resume_at is not None and not issubclass(self.error, QuotaExhausted):
            raise ValueError("only a QuotaExhausted row has a time to resume at")

    def matches_exception(self, exc: BaseException) -> bool:
        return self.exception is not None and isinstance(exc, self.exception)

    def matches_response(self, status: int, code: str, detail: str) -> bool:
        if self.exception is not None:
            return False
        if self.status is not None and status not in ((self.status,) if isinstance(self.status, int) else self.status):
            return False
        if self.code is not None and code != self.code:
            return False
        return self.detail is None or self.detail.lower() in detail.lower()

    def build(self, *, retry_after: float | None = None, **fields: Any) -> Exception:
        """The error this row raises, its message formatted from ``fields``. ``retry_after`` is
        the server's wait (a :class:`RateLimited` row): a missing or zero one gives way to the
        row's documented wait, when it has one."""
        if self.error is None:
            raise TypeError("a REJECT row raises the CRM's own request error, which its client builds")
        message = self.message.format_map(_Fields(fields)).strip()
        if issubclass(self.error, RateLimited):
            wait = retry_after if (retry_after or self.retry_after is None) else self.retry_after
            return self.error(message, retry_after=wait)
        if issubclass(self.error, QuotaExhausted):
            return self.error(message, resume_at=self.resume_at() if self.resume_at is not None else None)
        return self.error(message)


class _Fields(dict[str, Any]):
    """Message fields; one a row names but the client did not pass reads as empty."""

    def __missing__(self, key: str) -> str:
        return ""


class ErrorTable:
    """Rows in the order they are tried. :meth:`override` puts a CRM's rows in front."""

    def __init__(self, rules: Iterable[ErrorRule]) -> None:
        self.rules: tuple[ErrorRule, ...] = tuple(rules)

    def override(self, *rules: ErrorRule) -> ErrorTable:
        """This table with ``rules`` tried first (a CRM's overrides of the defaults)."""
        return ErrorTable((*rules, *self.rules))

    def for_exception(self, exc: BaseException) -> ErrorRule | None:
        """The row for an exception raised instead of an answer; None when no row takes it
        (it is then not the table's to map: let it through)."""
        return next((rule for rule in self.rules if rule.matches_exception(exc)), None)

    def for_response(self, status: int, code: str = "", detail: str = "") -> ErrorRule:
        """The row for an error answer: its HTTP ``status`` (0: no status, the request never got
        one), the CRM's error ``code`` and its message (``detail``)."""
        for rule in self.rules:
            if rule.matches_response(status, code, detail):
                return rule
        raise LookupError(f"no row for HTTP {status} {code}: a table ends with a row that matches any answer")


#: What holds for any HTTP API, whatever the CRM. A CRM's client overrides what it documents
#: otherwise (its messages above all, which name the CRM and what to fix).
DEFAULT_ERROR_MAPPING: tuple[ErrorRule, ...] = (
    ErrorRule(TransientError, Action.RETRY, "{family}: connection failed ({exception})",
              exception=(ConnectionError, TimeoutError)),
    ErrorRule(AuthError, Action.FAIL, "{crm} refused the credentials (401 {code})", status=401),
    ErrorRule(AuthError, Action.FAIL, "{crm} refused {family} (403 {code})", status=403),
    ErrorRule(RateLimited, Action.RETRY, "{family}: rate limited (429 {code})", status=429),
    ErrorRule(TransientError, Action.RETRY, "{family}: {crm} answered {status} {code}", status=SERVER_ERRORS | {408}),
    ErrorRule(None, Action.REJECT, "{family}: {crm} refused the request ({status} {code})"),
)

#: The defaults as a table, for a CRM's client to :meth:`~ErrorTable.override`.
DEFAULT_ERRORS = ErrorTable(DEFAULT_ERROR_MAPPING)
