"""Client-side limits and the one retry layer: sliding windows, daily budgets, Retry-After."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from leadscore.agent.core.errors import AuthError, QuotaExhausted, RateLimited, TransientError
from leadscore.connectors.limits import DailyQuota, RetryPolicy, SlidingWindowLimiter, retrying


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_sliding_window_holds_the_eleventh_call_until_the_first_leaves_the_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(10, 10.0, clock=clock, sleep=clock.sleep)
    for i in range(10):
        clock.now = i * 0.5
        assert limiter.acquire() == 0
    clock.now = 5.0
    assert limiter.acquire() == pytest.approx(5.0)  # the call at t=0 leaves the window at t=10
    assert clock.now == pytest.approx(10.0)


def test_sliding_window_never_exceeds_its_limit_in_any_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 1.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(50):
        limiter.acquire()
        stamps.append(clock.now)
        clock.now += 0.05
    for t in stamps:
        assert sum(1 for s in stamps if t <= s < t + 1.0 - 1e-6) <= 5  # float slack, far below any clock


def test_daily_quota_stops_at_the_budget_and_says_when_it_resumes() -> None:
    now = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    quota = DailyQuota(1000, 0.8, now=lambda: now)
    quota.spend(800)
    with pytest.raises(QuotaExhausted) as caught:
        quota.spend()
    assert "800 of 800 calls (80% of 1,000)" in str(caught.value)
    assert caught.value.resume_at == datetime(2026, 11, 24, tzinfo=timezone.utc)


def test_daily_quota_follows_the_servers_count_and_rolls_over() -> None:
    moments = [datetime(2026, 11, 23, 23, 0, tzinfo=timezone.utc)]
    quota = DailyQuota(1000, 1.0, now=lambda: moments[0])
    quota.observe_remaining(10)  # another app spent most of today's allocation
    quota.spend(10)
    with pytest.raises(QuotaExhausted):
        quota.spend()
    moments[0] = datetime(2026, 11, 24, 0, 1, tzinfo=timezone.utc)
    quota.spend()  # a new day
    assert quota.used == 1


def test_retrying_honours_retry_after_and_gives_up_after_the_attempts() -> None:
    clock = FakeClock()
    calls = []

    def flaky() -> str:
        calls.append(clock.now)
        if len(calls) < 3:
            raise RateLimited("429", retry_after=7.0)
        return "ok"

    assert retrying(RetryPolicy(attempts=5), flaky, sleep=clock.sleep) == "ok"
    assert clock.slept == [7.0, 7.0]

    def always_down() -> None:
        raise TransientError("502")

    with pytest.raises(TransientError):
        retrying(RetryPolicy(attempts=3, initial_wait=0.01), always_down, sleep=clock.sleep)


def test_retry_after_is_clamped_to_the_policys_longest_wait() -> None:
    clock = FakeClock()
    attempts = []

    def slow_down() -> None:
        attempts.append(1)
        raise RateLimited("429", retry_after=3600)

    with pytest.raises(RateLimited):
        retrying(RetryPolicy(attempts=2, max_wait=30), slow_down, sleep=clock.sleep)
    assert clock.slept == [30]


@pytest.mark.parametrize("error", [QuotaExhausted("spent"), AuthError("bad token"), ValueError("bug")])
def test_what_is_not_transient_is_never_retried(error: Exception) -> None:
    calls = []

    def fail() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        retrying(RetryPolicy(attempts=5), fail, sleep=lambda s: None)
    assert len(calls) == 1
