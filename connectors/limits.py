"""Client-side rate limits and the one retry layer every connector calls through.

A CRM's rate limits are cheaper to respect than to discover: a request the limiter holds back
costs a short sleep, a request the CRM rejects costs a round trip, a retry and quota. So each
connector keeps a sliding-window limiter per documented limit, pauses (never loops) when a daily
allocation is spent, and retries transient failures in exactly one place: :func:`retrying`,
built on tenacity, honouring the server's ``Retry-After`` (read and capped by
:mod:`leadscore.connectors.kit.retry_after`, which computes the wait but never retries itself).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from collections import Counter
from typing import Any, Callable, TypeVar

import tenacity

from leadscore.agent.core.errors import AuthError, QuotaExhausted, TransientError
from leadscore.connectors.kit.retry_after import retry_wait
from leadscore.connectors.kit.times import next_utc_midnight

T = TypeVar("T")


class SlidingWindowLimiter:
    """At most ``max_calls`` in any ``period`` seconds. ``acquire`` sleeps until a slot is free.

    Thread-safe. A sliding log rather than a token bucket because HubSpot's "per 10 seconds
    rolling" limit is itself a sliding window: a bucket that refills smoothly would still let a
    burst through that the server counts against the window.
    """

    def __init__(
        self,
        max_calls: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_calls < 1 or period <= 0:
            raise ValueError("a limiter needs max_calls >= 1 and period > 0")
        self.max_calls = max_calls
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._calls: deque[float] = deque()
        #: Slots taken whose answer (and so the server's count) has not been observed yet.
        self._in_flight = 0
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        # The epsilon keeps float rounding from leaving a call a hair inside the window after
        # sleeping exactly until it leaves (an endless loop of zero-length sleeps).
        while self._calls and now - self._calls[0] >= self.period - 1e-9:
            self._calls.popleft()

    def acquire(self) -> float:
        """Take a slot, sleeping as long as needed; return the seconds slept."""
        slept = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._expire(now)
                if len(self._calls) < self.max_calls:
                    self._calls.append(now)
                    self._in_flight += 1
                    return slept
                wait = self.period - (now - self._calls[0])
            self._sleep(wait)
            slept += wait

    def observe(self, remaining: int | None, interval: float | None = None, *, limit: int | None = None) -> None:
        """Take the server's count of its current window into account, after the answer to a
        call made through :meth:`acquire` (``remaining=None``: the answer carried no count).

        The server counts every call of every process and app sharing the allocation; this log
        sees only its own. When the server says ``remaining`` calls are left (of ``limit``,
        default ``max_calls``; HubSpot: ``X-HubSpot-RateLimit-Remaining`` of
        ``X-HubSpot-RateLimit-Max`` per ``X-HubSpot-RateLimit-Interval-Milliseconds``), the
        window holds ``limit - remaining`` calls the server counted. Those this log does not
        hold (another process's, a previous run's) are added as calls made now: when they were
        made is unknown, so they leave the window a whole window from now, the earliest moment
        the server's window can surely have moved past them. The log's own calls still waiting
        for an answer are assumed not yet counted (conservative under concurrent threads).
        So after ``observe(R)`` at most ``R`` more calls go through before the window has moved.
        A count lower than the log's is ignored: the log may know of calls the answer predates.
        ``interval`` (seconds) longer than ``period`` lengthens the window for good.
        """
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if interval is not None and interval > self.period:
                self.period = interval
            if remaining is None:
                return
            now = self._clock()
            self._expire(now)
            counted = max(0, (limit or self.max_calls) - max(0, remaining))
            # The log should hold what the server counted plus our calls it has not seen yet, and
            # no more than max_calls (a fuller log waits no longer than a full one).
            target = min(counted + self._in_flight, self.max_calls)
            missing = target - len(self._calls)
            if missing > 0:
                self._calls.extend([now] * missing)


class DailyQuota:
    """Counts calls against a daily allocation and a budget share of it.

    ``budget`` (0..1] stops the agent before the whole allocation is gone, leaving the rest for
    the CRM's other integrations and for people. When the budget is spent, :meth:`spend` raises
    :class:`QuotaExhausted` with the time the day rolls over: the agent pauses the connector
    until then rather than retrying. The server's own count (from response headers) wins over
    ours whenever we see it, since other apps spend the same allocation.
    """

    def __init__(self, daily: int, budget: float = 1.0, *, now: Callable[[], datetime] | None = None) -> None:
        if not 0 < budget <= 1:
            raise ValueError("budget must be in (0, 1]")
        self.daily = daily
        self.budget = budget
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._day = self._now().date()
        self.used = 0
        self._lock = threading.Lock()

    @property
    def allowed(self) -> int:
        return int(self.daily * self.budget)

    def _roll(self) -> None:
        today = self._now().date()
        if today != self._day:
            self._day, self.used = today, 0

    def spend(self, calls: int = 1) -> None:
        with self._lock:
            self._roll()
            if self.used + calls > self.allowed:
                raise QuotaExhausted(
                    f"daily API budget spent: {self.used:,} of {self.allowed:,} calls "
                    f"({self.budget:.0%} of {self.daily:,}); resuming after midnight UTC",
                    resume_at=self.resumes_at(),
                )
            self.used += calls

    def observe_remaining(self, remaining: int) -> None:
        """Take the server's count of what is left as the truth: other apps spend the same
        allocation, and a rolling window (Salesforce's is 24 hours) also gives calls back."""
        with self._lock:
            self._roll()
            self.used = max(0, self.daily - remaining)

    def resumes_at(self) -> datetime:
        return next_utc_midnight(self._day)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry a transient failure before giving the record back to the agent."""

    attempts: int = 6
    #: Longest single wait; a server asking for longer is told no and the call fails retryable.
    max_wait: float = 60.0
    #: Base of the exponential backoff (with jitter) when the server gives no Retry-After.
    initial_wait: float = 0.5


def _wait(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        asked = retry_wait(state.outcome.exception() if state.outcome else None, policy.max_wait)
        return asked if asked is not None else backoff(state)

    return wait


def retrying(
    policy: RetryPolicy,
    fn: Callable[[], T],
    *,
    on_retry: Callable[[tenacity.RetryCallState], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``, retrying :class:`TransientError` (and so :class:`RateLimited`) per the policy.

    Anything else, :class:`QuotaExhausted` above all, goes straight through: a spent quota is a
    pause, never a loop. When the attempts run out the last error is re-raised as it was.
    """
    retryer = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientError),
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=_wait(policy),
        reraise=True,
        sleep=sleep,
        before_sleep=on_retry,
    )
    return retryer(fn)


def guarded(
    policy: RetryPolicy,
    attempt: Callable[[], T],
    *,
    family: str,
    retries: Counter[str],
    stops: Counter[str],
    log: Any,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """:func:`retrying` with the bookkeeping every connector wants: retries counted and logged
    per endpoint family, and a call that stops the run (refused credentials, spent quota)
    counted and logged once, then raised."""

    def on_retry(state: tenacity.RetryCallState) -> None:
        retries[family] += 1
        error = state.outcome.exception() if state.outcome else None
        log.info("api.retry", endpoint=family, attempt=state.attempt_number, error=str(error))

    try:
        return retrying(policy, attempt, on_retry=on_retry, sleep=sleep)
    except (AuthError, QuotaExhausted) as exc:
        stops[type(exc).__name__] += 1
        log.error("api.stopped", endpoint=family, error=str(exc))
        raise
