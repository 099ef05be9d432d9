"""Salesforce Accounts through the connector (``SupportsAccounts``), against the emulator over TLS
with simple-salesforce: a B2B org seeded with Accounts whose people are Contacts."""

from __future__ import annotations

import pytest

from leadscore.agent.core.contract import Cursor, PullNeeds, ScoreUpdate, SupportsAccounts, WriteSpec, WriteStatus
from leadscore.agent.core.records import ACCOUNT_FIELDS
from leadscore.connectors.salesforce import SalesforceConnector
from leadscore.connectors.salesforce.emulator.harness import STAGES, WRITE_FIELDS, SalesforceHarness
from tests.conftest import pull_all

pytestmark = pytest.mark.network

SPEC = WriteSpec(frozenset(WRITE_FIELDS), STAGES, accounts=True)


@pytest.fixture(scope="module")
def b2b():
    """One seeded B2B org for the module (seeding is the slow part); tests that change data
    change only what they assert on."""
    harness = SalesforceHarness(accounts=True)
    people = harness.emulator.seed(60, seed=11, accounts=True)
    yield harness, people
    harness.close()


def _connector(harness: SalesforceHarness, **overrides) -> SalesforceConnector:
    # No overlap: a pull from the cursor it returned re-reads nothing (the overlap re-reads by design).
    return harness.connector(overlap_seconds=0, **overrides)


def test_the_connector_supports_accounts_without_listing_them_as_an_object_type(b2b) -> None:
    connector = b2b[0].connector()
    assert isinstance(connector, SupportsAccounts) and connector.account_type == "account"
    assert "account" not in SalesforceConnector.object_types


def test_seeding_with_accounts_makes_known_companies_people_contacts_of_their_accounts(b2b) -> None:
    harness, people = b2b
    contacts = [i for i in people if i.startswith("003")]
    assert contacts and any(i.startswith("00Q") for i in people)  # free-mail people stay Leads
    accounts = harness.emulator.records("Account")
    for contact_id in contacts:
        contact = harness.emulator.record("Contact", contact_id)
        assert contact["AccountId"] in accounts
    tasks = [t for t in harness.emulator.records("Task").values() if str(t["WhoId"]).startswith("003")]
    members = [m for m in harness.emulator.records("CampaignMember").values() if m["ContactId"] in set(contacts)]
    assert tasks and members  # their history came with them


def test_seeding_without_accounts_is_unchanged() -> None:
    one, other = SalesforceHarness(), SalesforceHarness(accounts=True)
    try:
        plain = one.emulator.seed(30, seed=5)
        assert all(i.startswith("00Q") for i in plain)
        # Only conversions make Accounts in a default world.
        converted = [i for i in plain if one.emulator.record("Lead", i)["IsConverted"]]
        assert len(one.emulator.records("Account")) == len(converted)
        assert len(other.emulator.seed(30, seed=5, accounts=True)) == len(plain)
    finally:
        one.close()
        other.close()


def test_accounts_pull_incrementally_on_the_canonical_account_fields(b2b) -> None:
    harness, _ = b2b
    connector = _connector(harness)
    everything = pull_all(connector, Cursor("account", None), PullNeeds(frozenset({"email"}), frozenset()))
    org = harness.emulator.records("Account")
    assert {a.id for a in everything.leads} == set(org)
    assert not everything.activities
    assert connector.count(Cursor("account", None)) == len(org)
    sample = next(a for a in everything.leads if a.id in org and org[a.id]["BillingCity"])
    row = org[sample.id]
    assert sample.object_type == "account" and set(sample.fields) <= ACCOUNT_FIELDS
    assert sample.fields["company"] == row["Name"] and sample.fields["city"] == row["BillingCity"]
    assert sample.fields["industry"] == row["Industry"] and sample.fields["type"] == row["Type"]
    assert sample.account_id is None

    again = pull_all(connector, everything.cursor)
    assert not again.leads and not again.deleted

    edited = sample.id
    harness.emulator.update_record("Account", edited, {"Industry": "Banking", "AccountSource": "Web"})
    after_edit = pull_all(connector, again.cursor)
    assert [a.id for a in after_edit.leads] == [edited]
    assert after_edit.leads[0].fields["industry"] == "Banking" and after_edit.leads[0].fields["lead_source"] == "Web"
    assert not pull_all(connector, after_edit.cursor).leads


def test_a_deleted_account_is_reported_gone(b2b) -> None:
    harness, _ = b2b
    connector = harness.connector()  # with the overlap: stamps are whole seconds, and this one may share the cursor's
    start = pull_all(connector, Cursor("account", None)).cursor
    doomed = harness.emulator.create_record("Account", {"Name": "Shortlived Ltd"})
    harness.emulator.delete_record("Account", doomed)
    pulled = pull_all(connector, start)
    assert doomed in pulled.deleted and doomed not in {a.id for a in pulled.leads}


def test_every_contact_carries_its_account_whatever_the_needs_and_leads_none(b2b) -> None:
    harness, people = b2b
    connector = _connector(harness)
    needs = PullNeeds(frozenset({"title"}), frozenset({"meeting"}))
    contacts = pull_all(connector, Cursor("contact", None), needs).leads
    seeded = {i for i in people if i.startswith("003")}
    by_id = {c.id: c for c in contacts}
    assert seeded <= set(by_id)
    for contact_id in seeded:
        assert by_id[contact_id].account_id == harness.emulator.record("Contact", contact_id)["AccountId"]
    leads = pull_all(connector, Cursor("lead", None), needs).leads
    assert leads and all(lead.account_id is None for lead in leads)


def test_setup_creates_the_fields_on_accounts_idempotently_and_writes_land_there(b2b) -> None:
    harness, people = b2b
    connector = _connector(harness)
    first = connector.setup(SPEC)
    assert {f"Account.{api}" for api in WRITE_FIELDS.values()} <= set(first.created) and not first.todo
    second = _connector(harness).setup(SPEC)
    assert not second.created and {f"Account.{api}" for api in WRITE_FIELDS.values()} <= set(second.existing)
    assert connector.check().ok

    accounts = sorted(harness.emulator.records("Account"))[:5]
    before = {a: harness.emulator.record("Account", a) for a in accounts}
    contact = next(i for i in people if i.startswith("003"))
    lead = next(i for i in people if i.startswith("00Q"))
    updates = [ScoreUpdate(a, "account", {"score": 70 + n, "stage": "SQL", "reason": f"+{n} fit"})
               for n, a in enumerate(accounts)]
    updates += [ScoreUpdate(contact, "contact", {"score": 12}), ScoreUpdate(lead, "lead", {"score": 13})]
    results = connector.write(updates)
    assert all(r.ok for r in results) and [r.record_id for r in results] == [u.record_id for u in updates]
    for n, account in enumerate(accounts):
        after = harness.emulator.record("Account", account)
        assert int(float(after["Leadscore_Score__c"])) == 70 + n and after["Leadscore_Stage__c"] == "SQL"
        changed = {k for k in after if after[k] != before[account][k]}
        assert changed <= {*WRITE_FIELDS.values(), "LastModifiedDate", "LastModifiedById", "SystemModstamp"}
    assert harness.fields_written() <= harness.allowed_fields()

    read = dict(connector.read_back("account"))
    assert set(harness.emulator.records("Account")) == set(read)
    assert int(float(read[accounts[0]]["score"])) == 70 and read[accounts[0]]["stage"] == "SQL"


def test_bulk_writes_accounts_beside_leads_with_one_result_per_update(b2b) -> None:
    harness, people = b2b
    connector = _connector(harness, bulk_threshold=3)
    connector.setup(SPEC)
    accounts = sorted(harness.emulator.records("Account"))[5:10]
    lead = next(i for i in people if i.startswith("00Q"))
    gone = harness.emulator.create_record("Account", {"Name": "Gone Inc"})
    harness.emulator.delete_record("Account", gone)
    updates = [ScoreUpdate(a, "account", {"score": 40, "stage": "Warm"}) for a in accounts[:4]]
    updates += [ScoreUpdate(gone, "account", {"score": 1}), ScoreUpdate(lead, "lead", {"score": 41}),
                ScoreUpdate(accounts[4], "account", {"stage": "Nope"})]
    results = connector.write(updates)
    assert len(results) == len(updates)
    assert all(r.ok for r in results[:4]) and results[5].ok
    assert results[4].status is WriteStatus.PERMANENT and results[6].status is WriteStatus.PERMANENT
    assert connector.api_calls()["bulk2.update"] == 2  # one job per object
    assert all(harness.emulator.record("Account", a)["Leadscore_Stage__c"] == "Warm" for a in accounts[:4])
