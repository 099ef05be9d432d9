"""Accounts and several models as a new user meets them: the CLI (``setup``, ``backfill``,
``sync``, ``history``, ``validate``) in subprocesses against both emulators, with the shipped
example model and a regional people model added to it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from leadscore.agent.demo import demo_config_text
from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits
from leadscore.connectors.salesforce.emulator import SalesforceEmulator
from tests.conftest import named_model

pytestmark = pytest.mark.network

LEADSCORE = Path(sys.executable).with_name("leadscore")
ROOT = Path(__file__).resolve().parent.parent
FAST = RateLimits(per_ten_seconds=100_000, daily=10_000_000, search_per_second=10_000)

#: A second people model, for Europe: it takes the people whose country is European; the rest stay
#: with [scoring]. Its own stages, so a record's stage shows which model scored it.
EUROPE = named_model(
    "europe",
    {"kind": "fit", "id": "eu-title", "label": "Title: {value}", "field": "title",
     "regex": r"\b(CEO|CTO|VP|Head of|Director)\b", "points": 30},
    {"kind": "engagement", "id": "eu-meeting", "label": "Meeting", "activity": "meeting", "points": 20},
    stages=("Cold", ("EU MQL", 30)),
    when={"field": "country", "in": ["United Kingdom", "Germany", "France", "Netherlands"]},
    # its own fields in HubSpot; the shared set in Salesforce
    write={"hubspot": {"score": "eu_score", "stage": "eu_stage", "reason": "eu_reason"}},
)


def leadscore(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LEADSCORE), *args, "--config", str(config)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env={**__import__("os").environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def crms(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("accounts")
    as_of = datetime.now(timezone.utc) - timedelta(hours=1)
    hubspot = HubSpotEmulator(limits=FAST).start()
    salesforce = SalesforceEmulator().start()
    hubspot.seed(400, seed=3, as_of=as_of, accounts=True)
    salesforce.seed(400, seed=3, as_of=as_of, accounts=True)
    config = root / "leadscore.toml"
    text = demo_config_text(ROOT / "config.example.toml", hubspot, salesforce, root / "state.db", EUROPE)
    config.write_text(text, encoding="utf-8")
    setup = leadscore(config, "setup")
    backfill = leadscore(config, "backfill")
    yield hubspot, salesforce, config, setup, backfill
    hubspot.stop()
    salesforce.stop()


def test_setup_creates_the_account_fields_in_both_crms(crms) -> None:
    _, _, _, setup, _ = crms
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "company leadscore_score" in setup.stdout and "company leadscore_reason" in setup.stdout
    assert "eu_score" in setup.stdout and "company eu_score" in setup.stdout  # the Europe model's own fields
    assert "Account.Leadscore_Score__c" in setup.stdout and "Account.Leadscore_Reason__c" in setup.stdout


def test_a_backfill_writes_account_scores_in_both_crms(crms) -> None:
    hubspot, salesforce, _, _, backfill = crms
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    companies = hubspot.companies()
    accounts = salesforce.records("Account")
    assert companies and all(c.get("leadscore_score") not in (None, "") for c in companies.values())
    assert accounts and all(a.get("Leadscore_Score__c") is not None for a in accounts.values())
    assert any("Best contact" in (c.get("leadscore_reason") or "") for c in companies.values())
    assert any("Best contact" in (a.get("Leadscore_Reason__c") or "") for a in accounts.values())
    stages = {c.get("leadscore_stage") for c in companies.values()} | {a.get("Leadscore_Stage__c") for a in accounts.values()}
    assert stages <= {"Cold", "Warm", "Target"} and "Target" in stages


def test_a_salesforce_contacts_rule_on_its_accounts_industry_fires(crms) -> None:
    _, salesforce, _, _, _ = crms
    accounts = salesforce.records("Account")
    tech = [c for c in salesforce.records("Contact").values()
            if accounts.get(c.get("AccountId"), {}).get("Industry") in ("Technology", "Software")]
    assert tech
    fired = [c for c in tech if "Account industry:" in (c.get("Leadscore_Reason__c") or "")]
    # The rule fires for every such Contact the [scoring] model takes (the Europe model has no such rule).
    europe = {"United Kingdom", "Germany", "France", "Netherlands"}
    assert fired and len(fired) == sum(1 for c in tech if c.get("MailingCountry") not in europe)


def test_two_models_split_by_when_score_disjoint_sets(crms) -> None:
    hubspot, _, config, _, _ = crms
    europe = {"United Kingdom", "Germany", "France", "Netherlands"}
    contacts = hubspot.contacts()
    european = [i for i, c in contacts.items() if c.get("country") in europe]
    others = [i for i, c in contacts.items() if c.get("country") not in europe]
    assert european and others
    # In HubSpot the Europe model writes its own fields, and nothing into the shared set.
    assert {contacts[i].get("eu_stage") for i in european} <= {"Cold", "EU MQL"} and all(contacts[i].get("eu_score") for i in european)
    assert not any(contacts[i].get("leadscore_score") for i in european)
    assert not any(contacts[i].get("eu_score") for i in others) and all(contacts[i].get("leadscore_score") for i in others)
    # In Salesforce it writes the shared set: stages name the model ("EU MQL" is the Europe model's alone).
    leads = {**crms[1].records("Lead"), **crms[1].records("Contact")}
    sf_europe = [v for v in leads.values() if (v.get("Country") or v.get("MailingCountry")) in europe and not v.get("IsConverted")]
    assert sf_europe and {v.get("Leadscore_Stage__c") for v in sf_europe} <= {"Cold", "EU MQL"}
    for record_id, prefix in ((european[0], "europe:"), (others[0], None)):
        shown = leadscore(config, "history", record_id, "--connector", "hubspot", "--json")
        assert shown.returncode == 0, shown.stderr
        versions = {json.loads(line)["model_version"] for line in shown.stdout.splitlines() if line.strip()}
        assert versions and all(v.startswith(prefix) if prefix else ":" not in v for v in versions), versions
    overlapping = config.with_name("overlap.toml")
    overlapping.write_text(config.read_text(encoding="utf-8").replace(
        '[[models]]\nname = "europe"\n', '[[models]]\nname = "europe"\nobjects = ["company", "contact"]\n', 1)
        + EUROPE.replace('name = "europe"', 'name = "uk"').replace('"Germany", "France", "Netherlands"', '"Ireland"')
        .replace('"eu_', '"uk_'), encoding="utf-8")
    done = leadscore(overlapping, "validate")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "models 'europe' and 'uk' may both take the same record" in done.stderr


def test_an_activity_on_one_contact_changes_its_accounts_score_at_the_next_sync(crms) -> None:
    hubspot, _, config, _, _ = crms
    companies = hubspot.companies()
    contacts = hubspot.contacts()
    europe = {"United Kingdom", "Germany", "France", "Netherlands"}
    quiet = next(i for i, c in sorted(contacts.items())
                 if c.get("associatedcompanyid") in companies and c.get("country") not in europe
                 and "Meeting" not in (c.get("leadscore_reason") or "")
                 and "Meetings across" not in (companies[c["associatedcompanyid"]].get("leadscore_reason") or ""))
    company = contacts[quiet]["associatedcompanyid"]
    before = float(companies[company]["leadscore_score"])
    at = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    hubspot.log_engagement(quiet, {"type": "meetings", "properties": {
        "hs_timestamp": at, "hs_meeting_title": "Discovery", "hs_meeting_outcome": "COMPLETED"}})
    done = leadscore(config, "sync")
    assert done.returncode == 0, done.stdout + done.stderr
    after = hubspot.company(company)
    assert float(after["leadscore_score"]) > before
    assert "Meetings across the account" in after["leadscore_reason"]
    assert "Meeting with sales" in hubspot.contact(quiet)["leadscore_reason"]
