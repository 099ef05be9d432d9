"""The HubSpot connector against the HubSpot emulator, through the real SDK over real HTTP."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest

from leadscore.agent.core.errors import AuthError, ConfigError
from leadscore.agent.core.contract import OUTCOMES, Cursor, OutcomeKind, PullNeeds, ScoreUpdate, WriteSpec, WriteStatus
from leadscore.connectors.hubspot import HubSpotConnector
from leadscore.connectors.hubspot.emulator import RateLimits
from leadscore.connectors.hubspot.emulator.harness import FAST, WRITE_FIELDS, HubSpotHarness  # noqa: F401 - FAST: other tests import it from here
from tests.conftest import CollectingHandler, closing_fixture, pull_all

pytestmark = pytest.mark.network

# The suite's checks run for every installed connector in tests/test_conformance.py.


harness = closing_fixture(HubSpotHarness)


def _pull_all(connector: HubSpotConnector, cursor: Cursor, needs: PullNeeds | None = None):
    p = pull_all(connector, cursor, needs)
    return p.leads, p.activities, p.cursor


def test_full_pull_and_write_cost_the_floor_of_calls(harness: HubSpotHarness) -> None:
    """A backfill lists at 100 a page and writes at 100 a batch; with no engagement needed,
    that is every call it makes."""
    n = 450
    harness.seed(n)
    connector = harness.connector()
    connector.setup(WriteSpec(frozenset(WRITE_FIELDS), ["Cold", "Warm", "MQL", "SQL"]))
    connector.client.calls.clear()
    needs = PullNeeds(frozenset({"title", "industry", "country", "email"}), frozenset())
    leads, activities, _ = _pull_all(connector, Cursor("contact", None), needs)
    assert len(leads) == n and not activities
    results = connector.write([ScoreUpdate(lead.id, "contact", {"score": 1, "stage": "Warm", "reason": "+1"}) for lead in leads])
    assert all(r.ok for r in results)
    calls = connector.api_calls()
    assert calls == {"contacts.list": math.ceil(n / 100), "contacts.batch.update": math.ceil(n / 100)}


def test_incremental_pull_uses_search_at_200_a_page(harness: HubSpotHarness) -> None:
    harness.seed(450)
    connector = harness.connector()
    since = Cursor("contact", "2000-01-01T00:00:00.000Z")
    leads, _, cursor = _pull_all(connector, since, PullNeeds(frozenset({"title"}), frozenset()))
    assert len({lead.id for lead in leads}) == 450
    assert connector.api_calls()["contacts.search"] == math.ceil(450 / 200)
    assert cursor.value and cursor.value.endswith("Z")


def test_only_the_needed_properties_and_engagements_are_requested(harness: HubSpotHarness) -> None:
    harness.seed(50)
    connector = harness.connector()
    needs = PullNeeds(frozenset({"title"}), frozenset({"meeting"}))
    leads, activities, _ = _pull_all(connector, Cursor("contact", None), needs)
    assert {k for lead in leads for k in lead.fields} <= {"title"}
    assert {a.type for a in activities} <= {"meeting"}
    families = set(connector.api_calls())
    assert families == {"contacts.list", "associations.meetings", "meetings.batch.read"}


def test_engagement_maps_onto_canonical_activities(harness: HubSpotHarness) -> None:
    harness.seed(120)
    connector = harness.connector()
    _, activities, _ = _pull_all(connector, Cursor("contact", None))
    kinds = Counter(a.type for a in activities)
    assert kinds["meeting"] and kinds["call"] and kinds["email_reply"]
    assert set(kinds) <= {"meeting", "call", "email_reply", "form_submit", "email_open", "email_click", "page_view"}
    assert all(a.occurred_at.tzinfo is not None for a in activities)


def test_deleted_contact_and_wrong_type_value_fail_only_their_records(harness: HubSpotHarness) -> None:
    ids = harness.seed(30)
    connector = harness.connector()
    connector.setup(WriteSpec(frozenset(WRITE_FIELDS), ["Cold", "Warm", "MQL", "SQL"]))
    harness.delete(ids[0])
    updates = [ScoreUpdate(i, "contact", {"score": 10, "stage": "MQL", "reason": "+10 x"}) for i in ids]
    updates[1] = ScoreUpdate(ids[1], "contact", {"score": "ten", "stage": "MQL", "reason": "+10 x"})
    results = connector.write(updates)
    assert results[0].status is WriteStatus.PERMANENT and results[0].error_code
    assert results[1].status is WriteStatus.PERMANENT and results[1].error_code
    assert all(r.ok for r in results[2:])


def test_missing_property_is_reported_by_check(harness: HubSpotHarness) -> None:
    connector = harness.connector(write={**WRITE_FIELDS, "grade": "leadscore_grade_missing"})
    report = connector.check()
    assert not report.ok
    assert any("leadscore_grade_missing" in p and "does not exist" in p for p in report.problems)


def test_missing_token_env_is_a_config_error_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="connectors.hubspot.access_token_env: environment variable HUBSPOT_ACCESS_TOKEN is not set"):
        HubSpotConnector({})


def test_bad_config_key_names_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        HubSpotConnector({"access_token": "x", "tier": "gold"})
    assert caught.value.problems[0].startswith("connectors.hubspot.tier: expected 'free'")


def test_revoked_token_mid_run_is_an_auth_error_not_a_crash(harness: HubSpotHarness) -> None:
    ids = harness.seed(5)
    connector = harness.connector()
    harness.revoke_token()
    with pytest.raises(AuthError, match="token"):
        connector.write([ScoreUpdate(ids[0], "contact", {"score": 1})])


def test_lifecycle_moves_forward_only(harness: HubSpotHarness) -> None:
    ids = harness.seed(3)
    connector = harness.connector(lifecycle={"MQL": "marketingqualifiedlead", "SQL": "salesqualifiedlead"})
    connector.setup(WriteSpec(frozenset(WRITE_FIELDS), ["Cold", "Warm", "MQL", "SQL"]))
    harness.emulator.update_contact(ids[0], {"lifecyclestage": "lead"})
    harness.emulator.update_contact(ids[1], {"lifecyclestage": "customer"})
    results = connector.write([ScoreUpdate(i, "contact", {"score": 120, "stage": "SQL", "reason": "+120"}) for i in ids[:2]])
    assert all(r.ok for r in results)
    assert harness.emulator.contact(ids[0])["lifecyclestage"] == "salesqualifiedlead"
    assert harness.emulator.contact(ids[1])["lifecyclestage"] == "customer"  # never backwards


@pytest.mark.slow
def test_rate_limits_are_respected_client_side() -> None:
    """With the emulator at a tight 10-second limit and the connector configured to match, a
    run that needs more calls than one window allows waits instead of being refused."""
    tight = HubSpotHarness(RateLimits(per_ten_seconds=3, daily=10_000, search_per_second=100))
    try:
        tight.seed(350)
        connector = HubSpotConnector(
            {"access_token": tight.emulator.token, "host": tight.emulator.base_url, "per_ten_seconds": 3},
        )
        started = time.monotonic()
        leads, _, _ = _pull_all(connector, Cursor("contact", None), PullNeeds(frozenset({"title"}), frozenset()))
        assert len(leads) == 350
        assert time.monotonic() - started >= 9.0  # the 4th call waited for the window
        assert Counter(r.status for r in tight.emulator.requests())[429] == 0
    finally:
        tight.close()


@pytest.mark.slow
def test_search_past_10000_results_loses_nothing() -> None:
    big = HubSpotHarness()
    try:
        ids = set(big.seed(10_450))
        connector = big.connector()
        leads, _, _ = _pull_all(connector, Cursor("contact", "2000-01-01T00:00:00.000Z"), PullNeeds(frozenset({"title"}), frozenset()))
        assert {lead.id for lead in leads} == ids
        assert connector.api_calls()["contacts.search"] >= math.ceil(10_450 / 200)
        assert Counter(r.status for r in big.emulator.requests())[400] == 0
    finally:
        big.close()


def test_failures_are_logged_specifically_and_counted(harness: HubSpotHarness) -> None:
    from structlog.testing import capture_logs

    ids = harness.seed(4)
    connector = harness.connector()
    connector.setup(WriteSpec(frozenset(WRITE_FIELDS), ["Cold", "Warm", "MQL", "SQL"]))
    harness.delete(ids[0])
    with capture_logs() as logs:
        connector.write([ScoreUpdate(ids[0], "contact", {"score": 5}), ScoreUpdate(ids[1], "contact", {"score": "x"})])
    failed = [entry for entry in logs if entry["event"] == "write.failed"]
    assert {entry["record_id"] for entry in failed} == {ids[0], ids[1]}
    assert all(entry["code"] and entry["message"] for entry in failed)
    assert sum(connector.failures().values()) == 2
    harness.revoke_token()
    with capture_logs() as logs, pytest.raises(AuthError):
        connector.write([ScoreUpdate(ids[2], "contact", {"score": 5})])
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["api.stopped"]
    assert connector.failures()["AuthError"] == 1
    assert harness.emulator.token not in repr(logs)


@pytest.mark.parametrize(("bucket", "number"), [("1-5", 1), ("100-500", 100), ("1000+", 1000), ("250", "250"), ("n/a", "n/a")])
def test_employee_buckets_read_as_their_lower_bound(bucket: str, number: Any) -> None:
    from leadscore.connectors.hubspot.pull import employees_from_bucket

    assert employees_from_bucket(bucket) == number


def test_pulled_employees_are_numbers_the_engine_can_compare(harness: HubSpotHarness) -> None:
    harness.seed(40)
    leads, _, _ = _pull_all(harness.connector(), Cursor("contact", None), PullNeeds(frozenset({"employees"}), frozenset()))
    sizes = [lead.fields["employees"] for lead in leads if "employees" in lead.fields]
    assert sizes and all(isinstance(v, int) for v in sizes)


def test_emulator_command_serves_until_interrupted() -> None:
    import signal
    import subprocess
    import sys

    from hubspot import HubSpot

    process = subprocess.Popen(
        [sys.executable, "-m", "leadscore.agent.cli", "emulator", "hubspot", "--port", "0", "--contacts", "25", "--seed", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        base_url = next(line.split(": ", 1)[1].strip() for line in lines if line.startswith("base URL"))
        token = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("token"))
        page = HubSpot(access_token=token, host=base_url).crm.contacts.basic_api.get_page(limit=100, _request_timeout=(2, 10))
        assert len(page.results) == 25
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_sdk_debug_logging_never_carries_contact_data(harness: HubSpotHarness) -> None:
    """The SDK logs whole response bodies at DEBUG; none of it reaches the application's
    handlers. (pytest's caplog attaches to non-propagating loggers too, so a plain root
    handler stands in for the application's.)"""
    import logging

    harness.seed(20)
    connector = harness.connector()
    root, sdk_rest, collect = logging.getLogger(), logging.getLogger("hubspot.crm.contacts.rest"), CollectingHandler()
    levels = root.level, sdk_rest.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    sdk_rest.setLevel(logging.DEBUG)  # as the SDK does itself under Configuration(debug=True)
    try:
        leads, _, _ = _pull_all(connector, Cursor("contact", None), PullNeeds(frozenset({"email"}), frozenset()))
        logging.getLogger("leadscore.test").debug("sentinel")
    finally:
        root.removeHandler(collect)
        root.setLevel(levels[0])
        sdk_rest.setLevel(levels[1])
    emails = [lead.fields["email"] for lead in leads if "email" in lead.fields]
    assert emails and "sentinel" in collect.messages  # the handler does see DEBUG records
    assert not any(email in message for message in collect.messages for email in emails)


def test_writing_to_a_missing_property_fails_clearly_per_record(harness: HubSpotHarness) -> None:
    from structlog.testing import capture_logs

    ids = harness.seed(3)
    connector = harness.connector(write={"score": "leadscore_score_never_created"})
    with capture_logs() as logs:
        results = connector.write([ScoreUpdate(i, "contact", {"score": 5}) for i in ids])
    assert [r.status for r in results] == [WriteStatus.PERMANENT] * 3
    assert {r.error_code for r in results} == {"PROPERTY_DOESNT_EXIST"}
    assert sum(1 for e in logs if e["event"] == "write.failed" and e["code"] == "PROPERTY_DOESNT_EXIST") == 3
    assert connector.failures()["PROPERTY_DOESNT_EXIST"] == 3
    assert connector.api_calls()["contacts.batch.update"] == 1  # a bad property is not bisected


def test_outcomes_label_customers_as_converted(harness: HubSpotHarness) -> None:
    ids = harness.seed(30)
    harness.emulator.update_contact(ids[0], {"lifecyclestage": "customer"})
    batches = list(harness.connector().pull_outcomes(Cursor(OUTCOMES, None)))
    own = {o.lead_id: o for b in batches for o in b.outcomes if o.source_id is None}
    assert set(own) == {ids[0]}  # only decided contacts: the rest are still leads
    assert own[ids[0]].kind is OutcomeKind.CONVERTED and own[ids[0]].occurred_at is not None


# --- count: the optional progress-bar estimate --------------------------------------------


def test_count_on_a_fresh_cursor_is_what_a_full_pull_yields(harness: HubSpotHarness) -> None:
    harness.seed(230)
    connector = harness.connector()
    counted = connector.count(Cursor("contact", None))
    leads, _, _ = _pull_all(connector, Cursor("contact", None), PullNeeds(frozenset({"title"}), frozenset()))
    assert counted == len(leads) == 230


def test_count_after_edits_is_small_and_costs_one_call(harness: HubSpotHarness) -> None:
    ids = harness.seed(230)
    connector = harness.connector()
    *_, cursor = _pull_all(connector, Cursor("contact", None), PullNeeds(frozenset({"title"}), frozenset()))
    time.sleep(0.01)
    for record_id in ids[:3]:
        harness.edit(record_id, "title", "Chief Technology Officer")
    before = sum(connector.api_calls().values())
    counted = connector.count(cursor)
    assert sum(connector.api_calls().values()) == before + 1
    assert counted is not None and 3 <= counted < 230 / 10
    leads, _, _ = _pull_all(connector, cursor, PullNeeds(frozenset({"title"}), frozenset()))
    assert counted == len(leads)


def test_count_honours_until(harness: HubSpotHarness) -> None:
    harness.seed(40)
    connector = harness.connector()
    since = Cursor("contact", "2000-01-01T00:00:00.000Z")
    assert connector.count(since) == 40
    assert connector.count(since, until=datetime(2001, 1, 1, tzinfo=timezone.utc)) == 0
