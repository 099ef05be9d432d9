"""Accounts end to end through the agent: pulled, rolled up from their people, written to the
account record; a person's activity rescoring its account at the next sync; a Contact's fit rule
on its Account's industry. Against the Salesforce emulator over HTTPS with simple-salesforce."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from leadscore.agent.config import parse_config
from leadscore.agent.settings import AgentSettings
from leadscore.agent.state import RecordKey, StateStore
from leadscore.agent.sync import build_scorer
from leadscore.agent.sync.jobs import ConnectorJobs
from leadscore.connectors.salesforce.emulator.harness import SalesforceHarness
from tests.conftest import named_model, stage_ladder, toml_tables

pytestmark = pytest.mark.network

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)

CONFIG = (
    '[scoring]\nname = "people"\n'
    + toml_tables(
        "scoring.rules",
        {"kind": "fit", "id": "account-tech", "label": "Account industry: {value}", "field": "account.industry",
         "in": ["Technology", "Software"], "points": 25},
        {"kind": "engagement", "label": "Meeting", "activity": "meeting", "points": 30},
        {"kind": "engagement", "label": "Email click", "activity": "email_click", "points": 2, "max_points": 10},
    )
    + stage_ladder("Cold", ("MQL", 30))
    + named_model(
        "accounts",
        {"kind": "fit", "label": "Large account", "field": "employees", "gte": 1000, "points": 15},
        {"kind": "rollup", "label": "Best contact", "aggregate": "best", "weight": 0.5},
        {"kind": "rollup", "label": "Engaged contacts", "aggregate": "count", "stages": ["MQL"], "weight": 10,
         "max_points": 30},
        stages=("Cold", ("Target", 40)),
        applies_to="accounts",
    )
)


@pytest.fixture()
def org(tmp_path: Path):
    harness = SalesforceHarness(accounts=True)
    harness.emulator.seed(150, seed=11, as_of=T0, accounts=True)
    config = parse_config(CONFIG)
    table = harness.config()
    store = StateStore.open(f"sqlite:///{tmp_path / 's.db'}")
    jobs = ConnectorJobs("salesforce", table, store, build_scorer(config), AgentSettings())
    yield harness, config, jobs, store
    jobs.close() if hasattr(jobs, "close") else None
    harness.close()


def test_a_backfill_writes_account_scores_that_roll_up_their_people(org) -> None:
    harness, config, jobs, store = org
    crm = jobs.connector()
    report = crm.setup(config.write_spec(frozenset(crm.write_values)))
    assert any("Account." in name for name in report.created)
    [run] = jobs.run("backfill", as_of=T0)
    assert run.status == "ok", run.error
    accounts = harness.emulator.records("Account")
    scored = {i: a for i, a in accounts.items() if a.get("Leadscore_Score__c") is not None}
    assert len(scored) == len(accounts) > 10
    # Each account's written score is its account model over its mirrored people, as of the run.
    scorer = build_scorer(config)
    members = store.mirror_members("salesforce", list(scored))
    for account_id, row in list(scored.items())[:25]:
        people = [scorer.score(_joined(m.lead, accounts[account_id]), m.activities, T0) for m in members.get(account_id, [])]
        best = max((p.score for p in people), default=0)
        engaged = sum(p.stage == "MQL" for p in people)
        large = 15 if (accounts[account_id].get("NumberOfEmployees") or 0) >= 1000 else 0
        from leadscore.agent.scoring.engine import round_points
        expected = large + (round_points(best * 0.5) if people else 0) + min(engaged * 10, 30)
        assert row["Leadscore_Score__c"] == expected, account_id
        assert row["Leadscore_Stage__c"] == ("Target" if expected >= 40 else "Cold")
        reason = row["Leadscore_Reason__c"] or ""
        assert sum(int(p.split(" ")[0]) for p in reason.split(" | ") if p[:1] in ("+", "-")) == expected


def test_a_contacts_fit_rule_on_its_accounts_industry_fires(org) -> None:
    harness, config, jobs, store = org
    crm = jobs.connector()
    crm.setup(config.write_spec(frozenset(crm.write_values)))
    [run] = jobs.run("backfill", as_of=T0)
    assert run.status == "ok", run.error
    accounts = harness.emulator.records("Account")
    contacts = harness.emulator.records("Contact")
    tech = [c for c in contacts.values() if accounts.get(c["AccountId"], {}).get("Industry") == "Technology"]
    other = [c for c in contacts.values() if c["AccountId"] in accounts and accounts[c["AccountId"]].get("Industry") != "Technology"]
    assert tech and other
    for contact in tech[:10]:
        assert "+25 Account industry: Technology" in contact["Leadscore_Reason__c"]
    for contact in other[:10]:
        assert "Account industry" not in (contact["Leadscore_Reason__c"] or "")
    # The account moves out of tech: its contacts lose the points at the next sync, though Salesforce
    # does not stamp them (the agent joins the account it pulled).
    contact = tech[0]
    harness.emulator.update_record("Account", contact["AccountId"], {"Industry": "Retail"})
    [sync] = jobs.run("sync")
    assert sync.status == "ok", sync.error
    assert "Account industry" not in (harness.emulator.record("Contact", contact["Id"])["Leadscore_Reason__c"] or "")


def test_an_activity_on_one_contact_changes_its_accounts_score_at_the_next_sync(org) -> None:
    harness, config, jobs, store = org
    crm = jobs.connector()
    crm.setup(config.write_spec(frozenset(crm.write_values)))
    [run] = jobs.run("sync")
    assert run.status == "ok", run.error
    accounts = harness.emulator.records("Account")
    contacts = harness.emulator.records("Contact")
    quiet = next(c for c in contacts.values() if c["AccountId"] in accounts and accounts[c["AccountId"]]["Leadscore_Score__c"] is not None
                 and "Meeting" not in (c["Leadscore_Reason__c"] or "") and "Engaged" not in (accounts[c["AccountId"]]["Leadscore_Reason__c"] or ""))
    before = accounts[quiet["AccountId"]]["Leadscore_Score__c"]
    now = datetime.now(timezone.utc)
    harness.emulator.create_record("Event", {
        "WhoId": quiet["Id"], "Subject": "Discovery call", "StartDateTime": (now - timedelta(hours=1)).isoformat(),
        "EndDateTime": (now - timedelta(minutes=30)).isoformat(), "ActivityDateTime": (now - timedelta(hours=1)).isoformat(),
        "DurationInMinutes": 30,
    })
    [sync] = jobs.run("sync")
    assert sync.status == "ok", sync.error
    after = harness.emulator.record("Account", quiet["AccountId"])
    assert after["Leadscore_Score__c"] > before
    assert "Engaged contacts" in after["Leadscore_Reason__c"]
    held = store.mirror_lead("salesforce", RecordKey("contact", quiet["Id"]))
    assert held is not None and held.lead.account_id == quiet["AccountId"]


def _joined(lead, account_row):
    from dataclasses import replace
    return replace(lead, fields={**lead.fields, "account.industry": account_row.get("Industry")})
