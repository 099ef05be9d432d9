"""Rate limits and injected faults: HubSpot's documented numbers, with knobs for tests.

Rate limits (HubSpot "API usage guidelines and limits", privately distributed apps):

====================  ====================  ===============
tier                  burst (per 10 s)      daily
====================  ====================  ===============
free / starter        100                   250,000
professional          190                   625,000
enterprise            190                   1,000,000
====================  ====================  ===============

CRM search is limited separately to five requests per second per account, and the OpenAPI
documents exempt search (and the v4 association batch endpoints) from the ten-secondly limit
(``x-hubspot-rate-limit-exemptions: ["ten-secondly"]``). The daily limit resets at midnight in
the account's time zone; the emulator's account lives in UTC.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass
from datetime import date
from typing import Callable

from leadscore.connectors import emulation
from leadscore.connectors.emulation import statuses_tuple as statuses_tuple  # re-exported
from leadscore.connectors.hubspot.emulator.values import today_utc

TEN_SECONDS = 10.0
ONE_SECOND = 1.0


@dataclass(frozen=True)
class RateLimits:
    """An account's request budget. Defaults come from :meth:`for_tier`; tests may shrink them."""

    per_ten_seconds: int
    daily: int
    search_per_second: int = 5

    _TIERS = {
        "free": (100, 250_000),
        "starter": (100, 250_000),
        "professional": (190, 625_000),
        "enterprise": (190, 1_000_000),
    }

    @classmethod
    def for_tier(cls, tier: str) -> "RateLimits":
        """HubSpot's documented limits for a subscription tier (search: 5 per second)."""
        try:
            burst, daily = cls._TIERS[tier.lower()]
        except KeyError:
            raise ValueError(f"unknown HubSpot tier {tier!r}; expected one of {sorted(cls._TIERS)}") from None
        return cls(per_ten_seconds=burst, daily=daily, search_per_second=5)


@dataclass(frozen=True)
class Verdict:
    """What the limiter decided for one request, and the numbers for the response headers."""

    policy: str | None  # None: admitted; else "TEN_SECONDLY_ROLLING", "DAILY" or "SECONDLY"
    ten_second_remaining: int
    daily_remaining: int


class RateLimiter:
    """Sliding windows over the emulator's clock. A refused request does not use up budget.

    Reading taken: HubSpot does not say whether 429-answered calls count; not counting them
    keeps a client that backs off from being locked out by its own retries.
    """

    def __init__(self, limits: RateLimits, clock: Callable[[], float]) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._burst: deque[float] = deque()
        self._search: deque[float] = deque()
        self._day: date | None = None
        self._used_today = 0

    def admit(self, *, search: bool, burst_exempt: bool) -> Verdict:
        with self._lock:
            now = self._clock()
            self._roll_day(now)
            _expire(self._burst, now - TEN_SECONDS)
            _expire(self._search, now - ONE_SECOND)
            policy = self._refusal(search=search, burst_exempt=burst_exempt)
            if policy is None:
                self._used_today += 1
                if search:
                    self._search.append(now)
                elif not burst_exempt:
                    self._burst.append(now)
            return Verdict(
                policy,
                max(0, self.limits.per_ten_seconds - len(self._burst)),
                max(0, self.limits.daily - self._used_today),
            )

    def _refusal(self, *, search: bool, burst_exempt: bool) -> str | None:
        if self._used_today >= self.limits.daily:
            return "DAILY"
        if search:
            return "SECONDLY" if len(self._search) >= self.limits.search_per_second else None
        if not burst_exempt and len(self._burst) >= self.limits.per_ten_seconds:
            return "TEN_SECONDLY_ROLLING"
        return None

    def _roll_day(self, now: float) -> None:
        today = today_utc(now)
        if today != self._day:
            self._day, self._used_today = today, 0

    def headers(self, verdict: Verdict) -> dict[str, str]:
        """The documented rate-limit headers (not sent on search responses)."""
        return {
            "X-HubSpot-RateLimit-Daily": str(self.limits.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(verdict.daily_remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(TEN_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.limits.per_ten_seconds),
            "X-HubSpot-RateLimit-Remaining": str(verdict.ten_second_remaining),
        }


def _expire(window: deque[float], horizon: float) -> None:
    while window and window[0] <= horizon:
        window.popleft()


#: 429 messages by policy, as HubSpot words them ("You have reached your secondly limit." is
#: the search answer HubSpot's own Node client keys its search back-off on).
RATE_LIMIT_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "DAILY": "You have reached your daily limit.",
    "SECONDLY": "You have reached your secondly limit.",
}


@dataclass(frozen=True)
class FaultPlan(emulation.FaultPlan):
    """What :meth:`HubSpotEmulator.set_faults` configured."""

    statuses: tuple[int, ...] = (429, 502, 504, 423)


@dataclass(frozen=True)
class Fault(emulation.Fault):
    """The fault chosen for one request: a dropped connection or an error status; ``html``
    says whether a 502/504 answers as Cloudflare's HTML page rather than HubSpot's JSON."""

    html: bool = False


class FaultInjector(emulation.FaultInjector):
    """Seeded, so a test run sees the same faults in the same order every time; an error
    fault draws once more, for ``html`` (even odds)."""

    plan_type = FaultPlan
    fault_type = Fault

    def error_fault(self, status: int, rng: random.Random) -> Fault:
        return Fault(status=status, html=rng.random() < 0.5)
