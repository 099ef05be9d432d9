"""The connector kit, module by module, without any CRM: no emulator, no socket.

What each CRM's rows of the error table say is checked here too (the messages the connectors
have always raised), and that the Salesforce client honours ``Retry-After`` end to end, through a
requests adapter that answers in memory.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from leadscore.agent.core.errors import AuthError, ConfigError, QuotaExhausted, RateLimited, StalledCursorError, TransientError
from leadscore.connectors.hubspot import client as hubspot_client
from leadscore.connectors.kit.chunking import chunks, drain
from leadscore.connectors.kit.error_table import (
    DEFAULT_ERROR_MAPPING,
    DEFAULT_ERRORS,
    SERVER_ERRORS,
    Action,
    ErrorRule,
    ErrorTable,
)
from leadscore.connectors.kit.keyset import KeysetCursor, KeysetPage, KeysetPaginator, Window, resume
from leadscore.connectors.kit.page_tokens import PageTokens
from leadscore.connectors.kit.retry_after import MAX_RETRY_AFTER, header, parse_retry_after, retry_after, retry_wait
from leadscore.connectors.kit.times import (
    epoch_ms,
    iso_ms_z,
    iso_z,
    next_utc_midnight,
    parse_hubspot_time,
    parse_salesforce_time,
    read_hubspot_time,
    read_salesforce_time,
    soql_date,
    soql_datetime,
)
from leadscore.connectors.limits import RetryPolicy, retrying
from leadscore.connectors.salesforce import auth as salesforce_auth
from leadscore.connectors.salesforce import client as salesforce_client
from leadscore.connectors.salesforce.client import SalesforceClient, SalesforceRequestError
from leadscore.connectors.salesforce.config import SalesforceConfig

UTC = timezone.utc
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


# --- times -----------------------------------------------------------------------------------


READERS = {"hubspot": (read_hubspot_time, parse_hubspot_time), "salesforce": (read_salesforce_time, parse_salesforce_time)}


@pytest.mark.parametrize(("crm", "value", "expected"), [
    ("hubspot", "2026-10-01T12:00:00Z", T0),
    ("hubspot", "2026-10-01T12:00:00.000Z", T0),
    ("hubspot", "2026-10-01T14:00:00+02:00", T0),
    ("hubspot", "1790856000000", T0),  # epoch milliseconds
    ("hubspot", 1790856000000, T0),
    ("hubspot", " 1790856000000 ", T0),
    ("hubspot", datetime(2026, 10, 1, 12), T0),  # naive is UTC
    ("hubspot", datetime(2026, 10, 1, 14, tzinfo=timezone(timedelta(hours=2))), T0),
    ("salesforce", "2026-10-01T12:00:00.000+0000", T0),  # an offset without its colon
    ("salesforce", "2026-10-01T14:00:00.000+0200", T0),
    ("salesforce", "2026-10-01T12:00:00Z", T0),
    ("salesforce", "2026-10-01", datetime(2026, 10, 1, tzinfo=UTC)),  # a date field
    ("salesforce", datetime(2026, 10, 1, 12, tzinfo=UTC), T0),
])
def test_each_crms_timestamps_are_read_in_utc(crm: str, value: Any, expected: datetime) -> None:
    read, parse = READERS[crm]
    assert read(value) == (expected, None)
    assert parse(value) == expected


@pytest.mark.parametrize(("value", "reason"), [
    (None, None),
    ("  ", None),
    ("soon", "not a date/time"),
    ("99999999999999999", "epoch milliseconds out of range (17 digits)"),
    (10**15, "epoch milliseconds out of range"),
    (True, "a bool, not a date/time"),
    (1.5, "a float, not a date/time"),
    ("x" * 65, "not a date/time (65 characters)"),
    ("0001-01-01T00:00:00+05:00", "date/time out of range"),
    ("²", "not a date/time"),
])
def test_hubspot_times_never_raise_and_say_why(value: Any, reason: str | None) -> None:
    assert read_hubspot_time(value) == (None, reason)


@pytest.mark.parametrize(("value", "reason"), [
    (None, None),
    ("", None),
    (1790856000000, "a int, not a date/time"),  # epoch milliseconds are HubSpot's, not Salesforce's
    ("2026-13-01", "not a date/time"),
    ("y" * 70, "not a date/time (70 characters)"),
    ("0001-01-01T00:00:00.000+0500", "date/time out of range"),
])
def test_salesforce_times_never_raise_and_say_why(value: Any, reason: str | None) -> None:
    assert read_salesforce_time(value) == (None, reason)


def test_times_are_written_the_way_each_crm_takes_them() -> None:
    moment = datetime(2026, 10, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert epoch_ms(T0) == 1790856000000
    assert iso_ms_z(moment) == "2026-10-01T12:00:00.123Z"
    assert iso_z(T0) == "2026-10-01T12:00:00Z"
    assert iso_z(moment) == "2026-10-01T14:00:00.123456+02:00"  # keeps its offset and precision
    assert soql_datetime(moment) == "2026-10-01T12:00:00Z"
    assert soql_date(datetime(2026, 10, 1, 1, tzinfo=timezone(timedelta(hours=3)))) == "2026-09-30"
    assert parse_hubspot_time(iso_ms_z(moment)) == moment.replace(microsecond=123000)
    assert parse_salesforce_time(soql_datetime(moment)) == moment.replace(microsecond=0)


@pytest.mark.parametrize(("moment", "expected"), [
    (datetime(2026, 10, 1, 23, 59, 59, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC)),
    (datetime(2026, 10, 1, 0, 0, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC)),
    (datetime(2026, 10, 2, 1, 0, tzinfo=timezone(timedelta(hours=3))), datetime(2026, 10, 2, tzinfo=UTC)),  # 22:00 UTC
    (datetime(2026, 12, 31, 18, 0), datetime(2027, 1, 1, tzinfo=UTC)),  # naive is UTC
    (date(2026, 2, 28), datetime(2026, 3, 1, tzinfo=UTC)),
])
def test_next_utc_midnight_ends_the_utc_day(moment: datetime | date, expected: datetime) -> None:
    assert next_utc_midnight(moment) == expected


def test_next_utc_midnight_defaults_to_now() -> None:
    before = datetime.now(UTC)
    resume_at = next_utc_midnight()
    assert timedelta(0) < resume_at - before <= timedelta(days=1) and resume_at.time() == datetime.min.time()


# --- Retry-After -------------------------------------------------------------------------------


def test_header_lookup_ignores_case_and_tolerates_odd_headers() -> None:
    assert header({"retry-after": "5"}, "Retry-After") == "5"
    assert header(CaseInsensitiveDict({"RETRY-AFTER": "6"}), "retry-after") == "6"
    assert header([("Retry-After", 7)], "Retry-After") == "7"
    assert header(None, "Retry-After") is None
    assert header({"Other": "1"}, "Retry-After") is None
    assert header(["not pairs"], "Retry-After") is None


NOW = datetime(2026, 10, 21, 7, 28, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0),
    (" 2 ", 2.0),
    ("1.5", 1.5),
    ("0", 0.0),
    ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
    ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),  # past: no wait
    ("Wed, 21 Oct 2026 07:28:10 -0000", 10.0),  # a UTC date whose zone is unknown
    ("Wed, 21 Oct 2026 09:28:10 +0200", 10.0),
    ("999999999", MAX_RETRY_AFTER),  # capped
])
def test_retry_after_reads_seconds_and_http_dates(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "nan", "inf", "-inf", "1e999", "Wed, 99 Foo 2026", "9" * 80])
def test_garbage_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_of_headers_is_capped_where_asked() -> None:
    assert retry_after({"Retry-After": "90"}, cap=30.0) == 30.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2026 07:29:00 GMT"}, now=NOW) == 60.0
    assert retry_after({}) is None


def test_the_retry_wait_is_the_servers_within_the_policy() -> None:
    assert retry_wait(RateLimited("429", retry_after=7.0), 60.0) == 7.0
    assert retry_wait(RateLimited("429", retry_after=3600.0), 60.0) == 60.0
    assert retry_wait(RateLimited("429", retry_after=-1.0), 60.0) == 0.0
    assert retry_wait(RateLimited("429"), 60.0) is None  # backoff
    assert retry_wait(TransientError("503"), 60.0) is None
    assert retry_wait(None, 60.0) is None


def test_the_one_retry_layer_sleeps_what_the_kit_computes() -> None:
    slept: list[float] = []
    answers = iter([RateLimited("429", retry_after=4.0), RateLimited("429", retry_after=500.0)])

    def call() -> str:
        error = next(answers, None)
        if error is not None:
            raise error
        return "ok"

    assert retrying(RetryPolicy(attempts=3, max_wait=30.0), call, sleep=slept.append) == "ok"
    assert slept == [4.0, 30.0]


# --- chunking ----------------------------------------------------------------------------------


def test_chunks_split_in_order_with_a_short_last_part() -> None:
    assert [list(p) for p in chunks(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [list(p) for p in chunks(list(range(6)), 3)] == [[0, 1, 2], [3, 4, 5]]
    assert list(chunks([], 100)) == []
    assert [list(p) for p in chunks(["a"], 100)] == [["a"]]
    with pytest.raises(ValueError):
        list(chunks([1], 0))


def test_drain_carries_what_is_appended_in_later_parts() -> None:
    queue = list(range(5))
    seen = []
    for part in drain(queue, 2):
        seen.append(list(part))
        if 0 in part:
            queue.append(99)  # a next page, learned while handling this part
    assert seen == [[0, 1], [2, 3], [4, 99]] and queue == []
    with pytest.raises(ValueError):
        list(drain([1], 0))


# --- page tokens -------------------------------------------------------------------------------


def test_a_paging_token_followed_twice_stalls_the_pull() -> None:
    tokens = PageTokens("answered {token!r} twice")
    for token in ("a", None, "", "b"):
        tokens.follow(token)
    tokens.follow(None)  # the last page, as often as it comes
    with pytest.raises(StalledCursorError, match="answered 'a' twice"):
        tokens.follow("a")


# --- keyset paging -----------------------------------------------------------------------------

#: A part-read window exactly as the HubSpot connector has always stored it.
STORED = ('{"after_id": 912, "newest": "2026-10-01T11:00:00.000Z", "since": "2026-10-01T00:00:00.000Z", '
          '"until": "2026-10-01T12:00:00.000Z"}')


def test_a_cursor_round_trips_through_the_stored_format() -> None:
    cursor = KeysetCursor.decode(STORED, parse_hubspot_time)
    assert cursor == KeysetCursor(datetime(2026, 10, 1, tzinfo=UTC), T0, 912, datetime(2026, 10, 1, 11, tzinfo=UTC))
    assert cursor is not None and cursor.encode() == STORED
    assert KeysetCursor.decode("2026-10-01T00:00:00Z", parse_hubspot_time) is None
    assert KeysetCursor.decode(None, parse_hubspot_time) is None
    assert json.loads(KeysetCursor(None, None).encode()) == {"after_id": 0, "newest": None, "since": None, "until": None}
    with pytest.raises(AttributeError):
        cursor.after = 1  # type: ignore[misc]  # frozen: every page makes a new one


def test_resume_finishes_a_part_read_window_before_the_next() -> None:
    later = T0 + timedelta(hours=1)
    cursor, then = resume(STORED, later, parse_hubspot_time)
    assert cursor.after == 912 and cursor.until == T0 and then == later
    plain, then = resume("2026-10-01T00:00:00.000Z", later, parse_hubspot_time)
    assert plain == KeysetCursor(datetime(2026, 10, 1, tzinfo=UTC), later) and then is None


def test_a_window_starts_its_overlap_before_the_cursor() -> None:
    window = Window.from_instant("2026-10-01T12:00:00Z", None, parse_salesforce_time)
    assert window.start(timedelta(minutes=5)) == T0 - timedelta(minutes=5)
    assert Window.from_instant(None, T0, parse_salesforce_time) == Window(None, T0)
    assert Window(None, T0).start(timedelta(minutes=5)) is None


def test_reading_a_page_moves_the_key_and_keeps_the_newest_stamp_inside_the_window() -> None:
    cursor = KeysetCursor(T0 - timedelta(days=1), T0)
    after = cursor.read([3, 7], [T0 - timedelta(hours=2), T0 + timedelta(hours=5)])
    assert after.after == 7 and after.newest == T0  # a stamp past `until` is clamped to it
    assert after.read([], []) == after
    assert after.done_value() == "2026-10-01T12:00:00.000Z"
    assert KeysetCursor(None, None).done_value() == ""
    assert KeysetCursor(T0, None, newest=T0 + timedelta(hours=1)).done_value() == "2026-10-01T13:00:00.000Z"
    assert cursor.following(None) is None and cursor.following(T0) is None
    assert cursor.following(T0 + timedelta(hours=1)) == KeysetCursor(T0, T0 + timedelta(hours=1))


class FakeCrm:
    """Records ``(key, stamp)`` answered by keyset: keys above ``after``, ascending, ``page`` at a
    time, within the cursor's window (``since`` inclusive here, ``until`` inclusive)."""

    def __init__(self, records: list[tuple[int, datetime]], page: int = 2) -> None:
        self.records = records
        self.page = page
        self.asked: list[KeysetCursor] = []

    def fetch(self, cursor: KeysetCursor) -> KeysetPage[tuple[int, datetime]]:
        self.asked.append(cursor)
        match = sorted(r for r in self.records if r[0] > cursor.after
                       and (cursor.since is None or r[1] >= cursor.since) and (cursor.until is None or r[1] <= cursor.until))
        return KeysetPage(match[: self.page], len(match) > self.page)

    def paginator(self) -> KeysetPaginator[tuple[int, datetime]]:
        return KeysetPaginator(self.fetch, key=lambda r: r[0], stamp=lambda r: r[1], stalled="stalled after {after}")


def test_the_paginator_reads_a_window_once_and_ends_on_its_until() -> None:
    records = [(i, T0 - timedelta(minutes=i)) for i in range(1, 6)]
    crm = FakeCrm(records)
    pages = list(crm.paginator().pages(KeysetCursor(None, T0)))
    assert [[r[0] for r in page] for page, _ in pages] == [[1, 2], [3, 4], [5]]
    assert json.loads(pages[0][1])["after_id"] == 2 and json.loads(pages[1][1])["after_id"] == 4
    assert pages[-1][1] == "2026-10-01T12:00:00.000Z"
    assert len(crm.asked) == 3


def test_an_interrupted_window_resumes_after_its_last_key_then_reads_the_next() -> None:
    records = [(i, T0 - timedelta(minutes=i)) for i in range(1, 6)] + [(9, T0 + timedelta(minutes=30))]
    crm = FakeCrm(records)
    first = list(crm.paginator().pages(KeysetCursor(None, T0)))[0][1]  # stopped after one page
    later = T0 + timedelta(hours=1)
    cursor, then = resume(first, later, parse_hubspot_time)
    pages = list(crm.paginator().pages(cursor, then))
    assert [r[0] for page, _ in pages for r in page] == [3, 4, 5, 9]
    assert json.loads(pages[1][1]) == {"after_id": 0, "newest": None, "since": "2026-10-01T12:00:00.000Z",
                                       "until": "2026-10-01T13:00:00.000Z"}  # the window after the interrupted one
    assert pages[-1][1] == "2026-10-01T13:00:00.000Z"


@pytest.mark.parametrize("answer", [[(1, T0)], [(5, T0), (4, T0)]])
def test_an_answer_that_does_not_move_forward_stalls_the_pull(answer: list[tuple[int, datetime]]) -> None:
    paginator = KeysetPaginator(lambda cursor: KeysetPage(answer, True), key=lambda r: r[0], stamp=lambda r: r[1],
                                stalled="answered ids at or before {after}")
    with pytest.raises(StalledCursorError, match="at or before 3"):
        list(paginator.pages(KeysetCursor(None, T0, after=3)))


# --- the error table ---------------------------------------------------------------------------


def test_rows_must_raise_what_their_action_says() -> None:
    with pytest.raises(ValueError, match="RETRY row raises TransientError"):
        ErrorRule(AuthError, Action.RETRY)
    with pytest.raises(ValueError, match="PAUSE"):
        ErrorRule(TransientError, Action.PAUSE)
    with pytest.raises(ValueError, match="REJECT"):
        ErrorRule(AuthError, Action.REJECT)
    with pytest.raises(ValueError, match="documented wait"):
        ErrorRule(TransientError, Action.RETRY, retry_after=2.0)
    with pytest.raises(ValueError, match="resume"):
        ErrorRule(AuthError, Action.FAIL, resume_at=next_utc_midnight)
    assert ErrorRule(ConfigError, Action.FAIL).action is Action.FAIL
    assert ErrorRule(RateLimited, Action.RETRY, status={429, 503}).status == frozenset({429, 503})


def test_the_defaults_hold_for_any_http_api() -> None:
    fields = {"family": "things.list", "crm": "Acme", "code": "X"}
    assert isinstance(DEFAULT_ERRORS.for_exception(ConnectionResetError()).build(**fields), TransientError)
    assert DEFAULT_ERRORS.for_exception(ValueError()) is None  # not the table's: let it through
    expected = {401: AuthError, 403: AuthError, 408: TransientError, 429: RateLimited, 500: TransientError, 599: TransientError}
    for status, cls in expected.items():
        assert type(DEFAULT_ERRORS.for_response(status).build(**fields)) is cls
    assert DEFAULT_ERRORS.for_response(404).action is Action.REJECT
    assert str(DEFAULT_ERRORS.for_response(500).build(family="things.list", crm="Acme", status=500)) == "things.list: Acme answered 500"
    assert len(DEFAULT_ERROR_MAPPING) == len(DEFAULT_ERRORS.rules) and 500 in SERVER_ERRORS and 499 not in SERVER_ERRORS


def test_overrides_come_first_and_match_on_every_field_they_give() -> None:
    table = DEFAULT_ERRORS.override(
        ErrorRule(RateLimited, Action.RETRY, "busy ({detail})", status=403, code="LIMIT", detail="CONCURRENT", retry_after=5.0),
        ErrorRule(QuotaExhausted, Action.PAUSE, "spent", status=403, code="LIMIT", resume_at=lambda: T0),
    )
    assert isinstance(table, ErrorTable) and len(table.rules) == len(DEFAULT_ERRORS.rules) + 2
    busy = table.for_response(403, "LIMIT", "Concurrent requests exceeded").build(detail="Concurrent requests exceeded")
    assert isinstance(busy, RateLimited) and busy.retry_after == 5.0 and str(busy) == "busy (Concurrent requests exceeded)"
    spent = table.for_response(403, "LIMIT", "TotalRequests").build()
    assert isinstance(spent, QuotaExhausted) and spent.resume_at == T0
    assert type(table.for_response(403, "OTHER").build(crm="Acme")) is AuthError
    with pytest.raises(LookupError):
        ErrorTable([]).for_response(500)
    with pytest.raises(TypeError):
        table.for_response(404).build()


def test_a_servers_wait_wins_over_the_documented_one_unless_it_is_none_or_zero() -> None:
    documented = ErrorRule(RateLimited, Action.RETRY, status=423, retry_after=2.0)
    undocumented = ErrorRule(RateLimited, Action.RETRY, status=429)
    assert documented.build(retry_after=9.0).retry_after == 9.0  # type: ignore[attr-defined]
    assert documented.build(retry_after=None).retry_after == 2.0  # type: ignore[attr-defined]
    assert documented.build(retry_after=0.0).retry_after == 2.0  # type: ignore[attr-defined]
    assert undocumented.build(retry_after=0.0).retry_after == 0.0  # type: ignore[attr-defined]
    assert undocumented.build().retry_after is None  # type: ignore[attr-defined]


HS = {"family": "contacts.search"}


@pytest.mark.parametrize(("status", "code", "fields", "cls", "message"), [
    (0, "", {}, TransientError, "contacts.search: transport failure"),
    (401, "", {}, AuthError, "HubSpot refused the access token (401 INVALID_AUTHENTICATION): check the token"),
    (403, "", {"category": "MISSING_SCOPES"}, AuthError, "HubSpot denied contacts.search (403 MISSING_SCOPES): the app lacks a scope"),
    (429, "DAILY", {}, QuotaExhausted, "HubSpot's daily API limit is spent (429 DAILY)"),
    (429, "TEN_SECONDLY_ROLLING", {"policy": "TEN_SECONDLY_ROLLING"}, RateLimited,
     "contacts.search: rate limited (429 TEN_SECONDLY_ROLLING)"),
    (423, "", {}, RateLimited, "contacts.search: record locked (423)"),
    (408, "", {}, TransientError, "contacts.search: HubSpot answered 408"),
    (502, "", {}, TransientError, "contacts.search: HubSpot answered 502"),
])
def test_hubspot_rows_keep_the_connectors_messages(status: int, code: str, fields: dict[str, str], cls: type, message: str) -> None:
    error = hubspot_client.ERRORS.for_response(status, code).build(**HS, status=status, **fields)
    assert type(error) is cls and str(error) == message
    if isinstance(error, QuotaExhausted):
        assert error.resume_at == next_utc_midnight()
    assert hubspot_client.ERRORS.for_response(400).error is None  # HubSpotRequestError, built by the client
    assert hubspot_client.ERRORS.for_response(401).action is Action.REAUTHENTICATE


def test_hubspot_waits_after_a_429_and_a_423() -> None:
    assert hubspot_client._rate_limit_wait({"Retry-After": "3"}) == 3.0
    assert hubspot_client._rate_limit_wait({"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}) == 10.0
    assert hubspot_client._rate_limit_wait({"Retry-After": "later"}) == 1.0
    locked = hubspot_client.ERRORS.for_response(423)
    assert locked.build(retry_after=retry_after({}), **HS).retry_after == 2.0  # type: ignore[attr-defined]
    assert locked.build(retry_after=retry_after({"Retry-After": "6"}), **HS).retry_after == 6.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(("status", "code", "cls", "ends"), [
    (0, "", AuthError, "check connectors.hubspot.oauth"),
    (503, "", TransientError, "answered 503"),
    (429, "", TransientError, "answered 429"),
    (400, "BAD_CLIENT_ID", AuthError, "(400 BAD_CLIENT_ID): check connectors.hubspot.oauth.client_id (the app's client id)"),
    (400, "BAD_CLIENT_SECRET", AuthError, "(the client secret in HS_SECRET)"),
    (400, "BAD_REFRESH_TOKEN", AuthError, "(the refresh token in HS_REFRESH; it is refused once revoked or the app is uninstalled)"),
    (400, "", AuthError, "(400 refused): check connectors.hubspot.oauth: client_id, client_secret_env (HS_SECRET) "
                         "and refresh_token_env (HS_REFRESH)"),
])
def test_hubspot_oauth_rows_name_what_to_fix(status: int, code: str, cls: type, ends: str) -> None:
    rule = hubspot_client.OAUTH_ERRORS.for_response(status, code)
    error = rule.build(exception="ApiException", status=status, code=code or "refused",
                       client_secret_env="HS_SECRET", refresh_token_env="HS_REFRESH")
    assert type(error) is cls and str(error).endswith(ends)
    transport = hubspot_client.OAUTH_ERRORS.for_exception(OSError())
    assert transport is not None and str(transport.build(exception="OSError")) == (
        "HubSpot OAuth token endpoint: connection failed (OSError)")


SF = {"family": "query"}


@pytest.mark.parametrize(("status", "code", "detail", "cls", "message"), [
    (403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.", RateLimited,
     "query: concurrent request limit (ConcurrentPerOrgLongTxn Limit exceeded.)"),
    (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", QuotaExhausted,
     "Salesforce's daily API allocation is spent (403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.)"),
    (403, "INSUFFICIENT_ACCESS", "", AuthError, "Salesforce refused query (403 INSUFFICIENT_ACCESS): the integration user lacks a permission"),
    (401, "INVALID_AUTH_HEADER", "", AuthError, "Salesforce refused the session (401 INVALID_AUTH_HEADER)"),
    (429, "", "", RateLimited, "query: Salesforce answered 429"),
    (503, "SERVER_UNAVAILABLE", "", RateLimited, "query: Salesforce answered 503 SERVER_UNAVAILABLE"),
    (500, "UNKNOWN_EXCEPTION", "", TransientError, "query: Salesforce answered 500 UNKNOWN_EXCEPTION"),
    (408, "", "", TransientError, "query: Salesforce answered 408"),
    (400, "UNABLE_TO_LOCK_ROW", "", TransientError, "query: Salesforce answered 400 UNABLE_TO_LOCK_ROW"),
])
def test_salesforce_rows_keep_the_connectors_messages(status: int, code: str, detail: str, cls: type, message: str) -> None:
    error = salesforce_client.ERRORS.for_response(status, code, detail).build(**SF, status=status, code=code, detail=detail)
    assert type(error) is cls and str(error) == message
    if isinstance(error, RateLimited) and status == 403:
        assert error.retry_after == 5.0
    assert salesforce_client.ERRORS.for_response(400, "MALFORMED_QUERY").action is Action.REJECT


# --- Salesforce honours Retry-After, end to end in memory --------------------------------------


TOKEN = (200, {}, {"access_token": "00Dfake!session-token-value", "instance_url": "https://org.example.test",
                   "id": "https://login.example.test/id/00D000000000001/005000000000001"})


class CannedSalesforce(BaseAdapter):
    """Answers the token endpoint (with the canned logins, then a token), then each query with
    the next canned answer."""

    def __init__(self, answers: list[tuple[int, dict[str, str], Any]], logins: list[tuple[int, dict[str, str], Any]]) -> None:
        super().__init__()
        self.answers = answers
        self.logins = logins
        self.queries = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if request.url and request.url.endswith("/services/oauth2/token"):
            status, headers, body = self.logins.pop(0) if self.logins else TOKEN
        else:
            self.queries += 1
            status, headers, body = self.answers.pop(0)
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json", **headers})
        response._content = json.dumps(body).encode()
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def _salesforce(
    answers: list[tuple[int, dict[str, str], Any]], logins: list[tuple[int, dict[str, str], Any]] | None = None
) -> tuple[SalesforceClient, list[float], CannedSalesforce]:
    config = SalesforceConfig(auth="password", login_url="https://login.example.test", client_id="client-id",
                              client_secret="client-secret-value", username="integration@example.test",
                              password="password-value", retry_attempts=3, retry_max_wait=30.0)
    slept: list[float] = []
    client = SalesforceClient(config, sleep=slept.append)
    adapter = CannedSalesforce(answers, logins or [])
    client.http.mount("https://", adapter)
    return client, slept, adapter


EMPTY = {"totalSize": 0, "done": True, "records": []}
LIMITED = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "Too many requests"}]


def test_salesforce_waits_the_retry_after_of_a_429() -> None:
    client, slept, adapter = _salesforce([(429, {"Retry-After": "7"}, LIMITED), (200, {}, EMPTY)])
    assert client.call("query", lambda sf: sf.query("SELECT Id FROM Lead"))["totalSize"] == 0
    assert slept == [7.0] and adapter.queries == 2 and client.retries["query"] == 1


def test_salesforce_caps_the_retry_after_at_the_policys_longest_wait() -> None:
    client, slept, _ = _salesforce([(429, {"Retry-After": "3600"}, LIMITED), (200, {}, EMPTY)])
    client.call("query", lambda sf: sf.query("SELECT Id FROM Lead"))
    assert slept == [30.0]


def test_salesforce_backs_off_when_a_429_names_no_wait_and_gives_up_after_the_attempts() -> None:
    client, slept, adapter = _salesforce([(429, {"Retry-After": "soon"}, LIMITED)] * 3)
    with pytest.raises(RateLimited, match="query: Salesforce answered 429 REQUEST_LIMIT_EXCEEDED"):
        client.call("query", lambda sf: sf.query("SELECT Id FROM Lead"))
    assert adapter.queries == 3 and len(slept) == 2 and all(0 <= s <= 30.0 for s in slept)


def test_salesforce_keeps_refusing_a_malformed_query_for_good() -> None:
    client, slept, _ = _salesforce([(400, {"Retry-After": "1"}, [{"errorCode": "MALFORMED_QUERY", "message": "unexpected token"}])])
    with pytest.raises(SalesforceRequestError, match="HTTP 400 MALFORMED_QUERY: unexpected token"):
        client.call("query", lambda sf: sf.query("SELECT"))
    assert slept == []


def test_salesforce_login_waits_the_retry_after_of_a_429_too() -> None:
    client, slept, _ = _salesforce([(200, {}, EMPTY)], logins=[(429, {"Retry-After": "3"}, {"error": "rate_limited"})])
    client.call("query", lambda sf: sf.query("SELECT Id FROM Lead"))
    assert slept == [3.0] and client.calls["oauth.token"] == 1


@pytest.mark.parametrize(("status", "cls"), [(429, RateLimited), (503, TransientError), (400, None), (401, None), (408, None)])
def test_salesforce_login_rows_retry_only_a_busy_endpoint(status: int, cls: type | None) -> None:
    rule = salesforce_auth.LOGIN_ERRORS.for_response(status)
    assert rule.error is cls  # None: the answer is read for its token or its refusal
