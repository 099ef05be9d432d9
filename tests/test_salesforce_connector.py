"""The Salesforce connector against the Salesforce emulator, through simple-salesforce over TLS."""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone

import pytest

from leadscore.agent.core.errors import AuthError, ConfigError, QuotaExhausted
from leadscore.agent.core.contract import OUTCOMES, Cursor, OutcomeKind, PullNeeds, ScoreUpdate, WriteSpec, WriteStatus
from leadscore.connectors.salesforce import SalesforceConnector
from leadscore.connectors.salesforce.emulator.harness import STAGES, WRITE_FIELDS, SalesforceHarness
from tests.conftest import CollectingHandler, closing_fixture, pull_all

pytestmark = pytest.mark.network

# The suite's checks run for every installed connector in tests/test_conformance.py.


harness = closing_fixture(SalesforceHarness)


def _pull_all(connector: SalesforceConnector, cursor: Cursor, needs: PullNeeds | None = None):
    p = pull_all(connector, cursor, needs)
    return p.leads, p.activities, p.deleted, p.cursor


def test_contacts_carry_the_history_of_the_leads_they_were_converted_from(harness: SalesforceHarness) -> None:
    ids = harness.emulator.seed(200, seed=11)
    converted = [i for i in ids if harness.emulator.record("Lead", i).get("IsConverted")]
    assert converted
    connector = harness.connector()
    pulled = pull_all(connector, Cursor("lead", None))
    # A converted Lead is read-only and merged into its Contact: retired (kept as history), not deleted.
    assert set(converted) <= set(pulled.retired) and not set(converted) & ({lead.id for lead in pulled.leads} | set(pulled.deleted))
    contacts, activities, _, _ = _pull_all(connector, Cursor("contact", None))
    contact_of = {i: harness.emulator.record("Lead", i)["ConvertedContactId"] for i in converted}
    assert set(contact_of.values()) <= {c.id for c in contacts}
    assert {a.lead_id for a in activities} <= {c.id for c in contacts}


def test_a_lead_converted_mid_run_has_its_score_written_to_its_contact(harness: SalesforceHarness) -> None:
    ids = harness.seed(20)
    connector = harness.connector()
    connector.setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES))
    leads, _, _, _ = _pull_all(connector, Cursor("lead", None))
    contact_id = harness.emulator.convert_lead(ids[0])
    results = connector.write([ScoreUpdate(ids[0], "lead", {"score": 42, "stage": "MQL", "reason": "+42"})])
    assert results[0].ok and results[0].written_to == contact_id
    assert int(float(harness.emulator.record("Contact", contact_id)["Leadscore_Score__c"])) == 42


def test_collections_and_bulk_write_the_same_values(harness: SalesforceHarness) -> None:
    ids = harness.seed(60)
    small = harness.connector()
    small.setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES))
    bulk = harness.connector(bulk_threshold=10)
    updates = [ScoreUpdate(i, "lead", {"score": n, "stage": "Warm", "reason": f"+{n} x"}) for n, i in enumerate(ids)]
    updates[5] = ScoreUpdate(ids[5], "lead", {"score": 5, "stage": "Nope", "reason": "+5"})
    harness.delete(ids[7])
    for connector in (small, bulk):
        results = connector.write(updates)
        assert results[5].status is WriteStatus.PERMANENT and results[5].error_code
        assert results[7].status is WriteStatus.PERMANENT and results[7].error_code
        assert all(r.ok for n, r in enumerate(results) if n not in (5, 7))
    assert small.api_calls()["composite.sobjects"] == math.ceil(len(ids) / 200)
    assert bulk.api_calls()["bulk2.update"] == 1 and "composite.sobjects" not in bulk.api_calls()
    assert harness.written(ids[9])["score"] in ("9", "9.0")


def test_an_expired_session_mid_run_logs_in_again_once(harness: SalesforceHarness) -> None:
    harness.seed(30)
    connector = harness.connector()
    batches = connector.pull(Cursor("lead", None))
    next(batches)
    harness.emulator.expire_sessions()
    list(batches)
    list(connector.pull(Cursor("contact", None)))
    assert connector.client.logins == 2


def test_spent_daily_allocation_stops_writes_cleanly() -> None:
    h = SalesforceHarness(daily_limit=1_000)
    try:
        ids = h.seed(10)
        connector = h.connector()
        connector.setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES))
        h.emulator.set_api_usage(1_000)  # someone else spent it
        results = connector.write([ScoreUpdate(i, "lead", {"score": 1}) for i in ids])
        assert {r.status for r in results} == {WriteStatus.RETRYABLE}
        assert {r.error_code for r in results} == {"QUOTA_EXHAUSTED"}
        assert connector.failures()["QuotaExhausted"] == 1
        assert not h.fields_written()
    finally:
        h.close()


def test_budget_stops_before_the_allocation_is_gone() -> None:
    h = SalesforceHarness(daily_limit=1_000)
    try:
        h.seed(10)
        connector = h.connector(daily_budget=0.5)
        h.emulator.set_api_usage(498)
        with pytest.raises(QuotaExhausted, match="daily API budget spent"):
            for _ in range(5):
                connector.check()  # learns the org's usage from each answer's Sforce-Limit-Info
        assert h.emulator.api_usage() <= 500  # never past the budget
    finally:
        h.close()


def test_setup_reports_the_admin_steps_when_it_may_not_grant_field_level_security() -> None:
    h = SalesforceHarness(fls_auto_grant=False)
    try:
        h.emulator.allow_permission_management(False)
        connector = h.connector()
        report = connector.setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES))
        assert len(report.created) == 6
        assert any("INSUFFICIENT_ACCESS_OR_READONLY" in step for step in report.todo)
        assert any("Leads > Edit" in step and "Leadscore_Score__c" in step for step in report.todo)
        assert any("Manage Assignments" in step and h.emulator.credentials.username in step for step in report.todo)
        h.emulator.grant_field_access("Lead.Leadscore_Score__c")
        assert not any("Lead.Leadscore_Score__c" in p for p in connector.check().problems)
        assert any("Contact.Leadscore_Score__c" in p for p in connector.check().problems)
    finally:
        h.close()


def test_bad_credentials_are_an_auth_error_naming_the_keys(harness: SalesforceHarness) -> None:
    connector = harness.connector(auth="password", password="wrong", client_secret=harness.emulator.credentials.client_secret)
    with pytest.raises(AuthError, match="connectors.salesforce.client_id"):
        connector.check()


def test_missing_secret_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch, harness: SalesforceHarness) -> None:
    monkeypatch.delenv("SALESFORCE_CLIENT_SECRET", raising=False)
    config = harness.config(auth="client_credentials")
    config.pop("private_key")
    with pytest.raises(ConfigError, match="client_secret_env: environment variable SALESFORCE_CLIENT_SECRET is not set"):
        SalesforceConnector(config).check()


def test_write_fields_must_be_custom_fields() -> None:
    with pytest.raises(ConfigError, match="leadscore writes only its own fields"):
        SalesforceConnector({"client_id": "x", "username": "u", "private_key": "k", "write": {"score": "Rating"}})


def test_incremental_pull_reads_changes_and_deletions(harness: SalesforceHarness) -> None:
    ids = harness.seed(80)
    connector = harness.connector()
    *_, cursor = _pull_all(connector, Cursor("lead", None), PullNeeds(frozenset({"title"}), frozenset()))
    time.sleep(0.01)
    harness.edit(ids[1], "title", "CEO")
    harness.delete(ids[2])
    leads, _, deleted, _ = _pull_all(
        harness.connector(overlap_seconds=0), cursor, PullNeeds(frozenset({"title"}), frozenset())
    )
    assert ids[1] in {lead.id for lead in leads} and ids[2] in deleted
    assert len(leads) < 10


def test_the_next_run_resumes_once_the_allocation_frees(harness: SalesforceHarness) -> None:
    ids = harness.seed(5)
    first = harness.connector()
    first.setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES))
    harness.emulator.set_api_usage(100_000)
    assert {r.error_code for r in first.write([ScoreUpdate(ids[0], "lead", {"score": 1})])} == {"QUOTA_EXHAUSTED"}
    harness.emulator.set_api_usage(10)  # the rolling 24 hours moved on
    assert all(r.ok for r in harness.connector().write([ScoreUpdate(ids[0], "lead", {"score": 1})]))


def test_faults_expiry_and_conversion_mid_run_lose_nothing(harness: SalesforceHarness) -> None:
    """A backfill under 20% faults, with the session expiring and a lead converted between its
    pull and its write: every record ends with its score on the right object."""
    from leadscore.connectors.testing import MiniSync

    ids = harness.seed(250)
    connector = harness.connector()
    connector.setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES))
    harness.faults(error_rate=0.2, drop_rate=0.05)
    sync = MiniSync(connector)
    real_write = connector.write
    converted: dict[str, str] = {}

    def write_with_surprises(updates):
        if not converted:
            lead = updates[0].record_id
            converted[lead] = harness.emulator.convert_lead(lead)
            harness.emulator.expire_sessions()
        return real_write(updates)

    connector.write = write_with_surprises  # type: ignore[method-assign]
    for _ in range(6):
        sync.run("lead")
        if len(sync.last_written) == len(ids) and not sync.failed:
            break
        sync.cursor = None
    harness.faults()
    assert harness.faults_served() >= 1 and connector.client.logins >= 2
    assert set(sync.last_written) == set(ids)
    for lead_id in ids:
        sobject, record_id = ("Contact", converted[lead_id]) if lead_id in converted else ("Lead", lead_id)
        value = harness.emulator.record(sobject, record_id)["Leadscore_Score__c"]
        assert value is not None and int(float(value)) == sync.last_written[lead_id]["score"], (sobject, record_id)
    assert harness.fields_written() <= harness.allowed_fields()


def test_emulator_command_prints_what_a_client_needs() -> None:
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "leadscore.agent.cli", "emulator", "salesforce", "--port", "0", "--leads", "20", "--seed", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        seen = ""
        while "Ctrl-C" not in seen:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            seen += line
        assert "https://localhost:" in seen and ".pem" in seen and "client" in seen.lower()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_secrets_never_reach_the_logs(harness: SalesforceHarness) -> None:
    import logging

    from structlog.testing import capture_logs

    harness.seed(20)
    collect, root = CollectingHandler(), logging.getLogger()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        with capture_logs() as events:
            connector = harness.connector(auth="password", password=harness.emulator.credentials.password,
                                          client_secret=harness.emulator.credentials.client_secret)
            _pull_all(connector, Cursor("lead", None))
            harness.emulator.expire_sessions()
            _pull_all(connector, Cursor("contact", None))
    finally:
        root.removeHandler(collect)
        root.setLevel(level)
    text = "\n".join(collect.messages) + repr(events)
    token = connector.client._session.access_token
    for secret in (harness.emulator.credentials.password, harness.emulator.credentials.client_secret, token):
        assert secret not in text


def test_new_activity_on_an_unchanged_lead_is_pulled(harness: SalesforceHarness) -> None:
    ids = harness.seed(40)
    connector = harness.connector(overlap_seconds=0)
    needs = PullNeeds(frozenset({"title"}), frozenset({"meeting", "call"}))
    *_, cursor = _pull_all(connector, Cursor("lead", None), needs)
    time.sleep(1.1)  # SystemModstamp has whole seconds
    harness.emulator.create_record("Event", {"WhoId": ids[4], "Subject": "Demo", "StartDateTime": "2026-11-20T10:00:00.000+0000",
                                             "DurationInMinutes": 30})
    leads, activities, _, after = _pull_all(connector, cursor, needs)
    assert [lead.id for lead in leads] == [ids[4]]
    assert any(a.lead_id == ids[4] and a.type == "meeting" and a.properties.get("subject") == "Demo" for a in activities)
    assert after.value and after.value >= (cursor.value or "")


def test_outcomes_from_conversions_and_won_opportunities(harness: SalesforceHarness) -> None:
    ids = harness.emulator.seed(150, seed=11)
    outcomes = [o for b in harness.connector().pull_outcomes(Cursor(OUTCOMES, None)) for o in b.outcomes]
    own = {o.lead_id: o for o in outcomes if o.object_type == "lead" and o.source_id is None}
    converted = [i for i in ids if harness.emulator.record("Lead", i).get("IsConverted")]
    assert converted and all(own[i].kind is OutcomeKind.CONVERTED and own[i].occurred_at for i in converted)
    assert all(o.kind is OutcomeKind.DISQUALIFIED for i, o in own.items() if i not in converted)
    won = [o for o in outcomes if o.kind is OutcomeKind.WON]
    assert won and {o.object_type for o in won} == {"lead", "contact"}
    for outcome in won:
        assert harness.emulator.record("Opportunity", outcome.source_id)["IsWon"] and outcome.amount
        if outcome.object_type == "lead":
            assert harness.emulator.record("Lead", outcome.lead_id)["ConvertedOpportunityId"] == outcome.source_id


# --- count: the optional progress-bar estimate --------------------------------------------


def test_count_on_a_fresh_cursor_is_what_a_full_pull_yields(harness: SalesforceHarness) -> None:
    harness.seed(120)
    connector = harness.connector()
    needs = PullNeeds(frozenset({"title"}), frozenset())
    for object_type in ("lead", "contact"):
        counted = connector.count(Cursor(object_type, None))  # type: ignore[arg-type]
        pulled = pull_all(connector, Cursor(object_type, None), needs)  # type: ignore[arg-type]
        assert counted == len(pulled.leads) + len(pulled.deleted) + len(pulled.retired) and counted > 0, object_type


def test_count_after_edits_is_small_and_costs_one_call(harness: SalesforceHarness) -> None:
    ids = harness.seed(120)
    connector = harness.connector(overlap_seconds=0)
    needs = PullNeeds(frozenset({"title"}), frozenset())
    total, _, deleted, cursor = _pull_all(connector, Cursor("lead", None), needs)
    time.sleep(1.1)  # SystemModstamp has whole seconds
    for record_id in ids[:3]:
        harness.edit(record_id, "title", "Chief Technology Officer")
    before = sum(connector.api_calls().values())
    counted = connector.count(cursor)
    assert sum(connector.api_calls().values()) == before + 1
    assert counted is not None and 3 <= counted < (len(total) + len(deleted)) / 10
    leads, _, _, _ = _pull_all(connector, cursor, needs)
    assert counted == len(leads)


def test_count_honours_until(harness: SalesforceHarness) -> None:
    harness.seed(30)
    connector = harness.connector()
    assert connector.count(Cursor("lead", None), until=datetime(2001, 1, 1, tzinfo=timezone.utc)) == 0


def test_the_session_id_obtained_at_login_is_redacted_from_logs() -> None:
    from leadscore.agent.logs import redact_text

    harness = SalesforceHarness()
    try:
        connector = harness.connector()
        connector.check()  # logs in
        session = connector.client._session.access_token  # type: ignore[union-attr]
        assert session and redact_text(f"sid={session}!") == "sid=[REDACTED]!"
    finally:
        harness.close()
