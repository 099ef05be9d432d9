"""Issue 16, "calls at the floor": the limiter starts from the portal's count of its window, and
the sync after a backfill reads each written contact once."""

from __future__ import annotations

import math

import pytest

from leadscore.agent.core.contract import Cursor, PullNeeds, ScoreUpdate, WriteSpec
from leadscore.connectors.hubspot.client import _observe_window
from leadscore.connectors.hubspot.emulator import RateLimits
from leadscore.connectors.hubspot.emulator.harness import WRITE_FIELDS, HubSpotHarness
from leadscore.connectors.limits import SlidingWindowLimiter
from tests.conftest import closing_fixture, pull_all
from tests.test_limits import FakeClock


def test_a_limiter_told_nothing_remains_waits_for_the_interval() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(100, 10.0, clock=clock, sleep=clock.sleep)
    assert limiter.acquire() == 0
    clock.now = 0.2
    limiter.observe(0, 10.0)  # the portal: the window is full (another process's calls)
    clock.now = 1.0
    assert limiter.acquire() == pytest.approx(9.0)  # the slot of our own call at t=0, once it has left
    assert limiter.acquire() == pytest.approx(0.2)  # the others' calls: once the window can have moved
    assert clock.now == pytest.approx(10.2)


def test_a_limiter_lets_through_only_what_the_portal_says_remains() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(100, 10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(3)  # 97 counted in the window, this call among them
    for _ in range(3):
        assert limiter.acquire() == 0
    assert limiter.acquire() > 0  # the fourth waits


def test_calls_in_flight_are_not_taken_as_counted() -> None:
    """Two threads' calls: the answer to the first cannot have counted the second."""
    clock = FakeClock()
    limiter = SlidingWindowLimiter(10, 10.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()  # in flight when the first answer arrives
    limiter.observe(5)  # 5 counted: the first call and 4 of others'
    for _ in range(4):  # 10 - 5 counted - 1 in flight
        assert limiter.acquire() == 0
    assert limiter.acquire() > 0


def test_an_answer_without_a_count_changes_nothing_and_a_lower_count_is_ignored() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(5, 10.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
    limiter.observe(None)
    limiter.observe(5)  # the portal has seen fewer than the log holds: the log wins
    limiter.observe(5)
    assert [limiter.acquire() for _ in range(2)] == [0, 0]
    assert limiter.acquire() > 0


def test_the_client_feeds_hubspot_rate_limit_headers_into_the_limiter() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(190, 10.5, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    _observe_window(limiter, {"X-HubSpot-RateLimit-Max": "190", "x-hubspot-ratelimit-remaining": "0",
                              "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"})
    assert limiter.acquire() == pytest.approx(10.5)


harness = closing_fixture(HubSpotHarness)


small = closing_fixture(lambda: HubSpotHarness(RateLimits(per_ten_seconds=8, daily=10_000_000, search_per_second=10_000)))


class _Waited(Exception):
    pass


@pytest.mark.network
def test_a_new_client_starts_from_the_portals_window(small: HubSpotHarness) -> None:
    """A process started while another's calls fill the portal's window waits for it to move
    rather than meeting a 429 (the emulator sends HubSpot's rate-limit headers)."""
    first = small.connector(per_ten_seconds=8).client
    for _ in range(7):
        first.call("properties.list", first.properties.get_all, object_type="contacts")
    second = small.connector(per_ten_seconds=8).client
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        raise _Waited

    second.burst._sleep = sleep
    second.call("properties.list", second.properties.get_all, object_type="contacts")  # the window's last slot
    with pytest.raises(_Waited):
        second.call("properties.list", second.properties.get_all, object_type="contacts")
    assert slept[0] > 9  # a whole window (10 s, plus the client's margin), not at once into a 429
    assert not second.retries


@pytest.mark.network
def test_the_sync_after_a_backfill_reads_each_written_contact_once(harness: HubSpotHarness) -> None:
    n = 1000
    harness.seed(n)
    connector = harness.connector()
    connector.setup(WriteSpec(frozenset(WRITE_FIELDS), ["Cold", "Warm", "MQL", "SQL"]))
    needs = PullNeeds(frozenset({"title"}), frozenset())
    backfill = pull_all(connector, Cursor("contact", None), needs)
    assert len(backfill.leads) == n
    # One batch update stamps 100 contacts with one lastmodifieddate.
    results = connector.write([ScoreUpdate(lead.id, "contact", {"score": 1, "stage": "Warm", "reason": "+1"})
                               for lead in backfill.leads])
    assert all(r.ok for r in results)
    connector.client.calls.clear()
    sync = pull_all(connector, backfill.cursor, needs)
    assert sorted(lead.id for lead in sync.leads) == sorted(lead.id for lead in backfill.leads)
    assert connector.api_calls()["contacts.search"] <= math.ceil(n / 200) + 1
