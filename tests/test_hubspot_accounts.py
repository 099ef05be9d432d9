"""HubSpot companies as accounts: the emulator's companies and contact-company associations, and
the connector's account pulls, writes, setup and read-back, through the real SDK over real HTTP."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from leadscore.agent.core.contract import Cursor, PullNeeds, ScoreUpdate, SupportsAccounts, WriteSpec, WriteStatus
from leadscore.agent.core.records import ACCOUNT_FIELDS
from leadscore.connectors.hubspot import HubSpotConnector
from leadscore.connectors.hubspot.emulator.harness import WRITE_FIELDS, HubSpotHarness
from leadscore.connectors.hubspot.setup import OWNED_MARK
from leadscore.connectors.sample import generate_accounts, generate_leads
from tests.conftest import closing_fixture, pull_all

pytestmark = pytest.mark.network

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
STAGES = ["Cold", "Warm", "MQL", "SQL"]
SPEC = WriteSpec(frozenset(WRITE_FIELDS), STAGES, accounts=True)

harness = closing_fixture(HubSpotHarness)


def seeded(harness: HubSpotHarness, count: int = 60) -> tuple[list[str], dict[str, dict[str, str | None]]]:
    """``count`` contacts with their companies; the contact ids and the companies by id."""
    ids = harness.seed(count, accounts=True)
    return ids, harness.emulator.companies()


# --- the emulator ----------------------------------------------------------------------------


def test_seeding_accounts_makes_each_account_a_company_and_its_members_primary_contacts(harness: HubSpotHarness) -> None:
    ids, companies = seeded(harness)
    samples = list(generate_leads(60, seed=11, as_of=AS_OF))
    accounts = generate_accounts(samples, seed=11)
    assert len(companies) == len(accounts)
    by_name = {c["name"]: (cid, c) for cid, c in companies.items()}
    contact_of = {s.lead.id: cid for s, cid in zip(samples, ids)}
    for account in accounts:
        company_id, company = by_name[account.account.fields["company"]]
        assert company["num_associated_contacts"] == str(len(account.members))
        assert company["domain"] and company["industry"] and company["type"] in {"PROSPECT", "PARTNER", "OTHER"}
        assert company["createdate"] <= company["hs_lastmodifieddate"] <= "2026-11-01T00:00:00.000Z"
        for member in account.members:
            assert harness.emulator.contact(contact_of[member])["associatedcompanyid"] == company_id
    members = {m for a in accounts for m in a.members}
    loners = [contact_of[s.lead.id] for s in samples if s.lead.id not in members]
    assert loners and all(harness.emulator.contact(i)["associatedcompanyid"] is None for i in loners)


def test_seeding_without_accounts_is_the_world_it_was(harness: HubSpotHarness) -> None:
    harness.seed(30)
    assert harness.emulator.companies() == {}
    assert all(c["associatedcompanyid"] is None for c in harness.emulator.contacts().values())


def test_v4_lists_the_primary_company_beside_the_unlabeled_type(harness: HubSpotHarness) -> None:
    from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest

    ids, _ = seeded(harness, 30)
    contact = next(i for i in ids if harness.emulator.contact(i)["associatedcompanyid"])
    company = harness.emulator.contact(contact)["associatedcompanyid"]
    client = harness.connector().client
    body = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": contact}])
    [result] = client.associations.get_page("contacts", "companies", batch_input_public_fetch_associations_batch_request=body).results
    [target] = result.to
    assert str(target.to_object_id) == company
    assert {(t.type_id, t.label) for t in target.association_types} == {(1, "Primary"), (279, None)}
    body = BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": company}])
    [result] = client.associations.get_page("companies", "contacts", batch_input_public_fetch_associations_batch_request=body).results
    types = {str(t.to_object_id): {a.type_id for a in t.association_types} for t in result.to}
    assert types[contact] == {2, 280}


def test_changing_the_primary_company_moves_the_contact_and_keeps_the_old_association(harness: HubSpotHarness) -> None:
    """``associatedcompanyid`` follows the primary association; its change is a property update,
    so the contact's last-modified dates move, and an incremental pull reads the contact again
    with its new account."""
    ids, companies = seeded(harness, 30)
    connector = harness.connector()
    contact = next(i for i in ids if harness.emulator.contact(i)["associatedcompanyid"])
    before = harness.emulator.contact(contact)
    other = next(cid for cid in companies if cid != before["associatedcompanyid"])
    cursor = pull_all(connector, Cursor("contact", None)).cursor
    assert not pull_all(connector, cursor).leads

    harness.emulator.set_primary_company(contact, other)
    after = harness.emulator.contact(contact)
    assert after["associatedcompanyid"] == other
    assert after["lastmodifieddate"] > before["lastmodifieddate"]
    assert set(harness.emulator.associations(contact, "companies")) == {before["associatedcompanyid"], other}
    changed = pull_all(connector, cursor, PullNeeds(frozenset({"title"}), frozenset())).leads
    assert [(lead.id, lead.account_id) for lead in changed] == [(contact, other)]


def test_the_labelled_v4_put_sets_the_primary_company_too(harness: HubSpotHarness) -> None:
    from hubspot.crm.associations.v4 import AssociationSpec

    ids, companies = seeded(harness, 30)
    contact = next(i for i in ids if harness.emulator.contact(i)["associatedcompanyid"])
    before = harness.emulator.contact(contact)
    other = next(cid for cid in companies if cid != before["associatedcompanyid"])
    basic = harness.connector().client._sdk.crm.associations.v4.basic_api
    answer = basic.create("contacts", contact, "companies", other,
                          association_spec=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)])
    assert answer.labels == ["Primary"]
    after = harness.emulator.contact(contact)
    assert after["associatedcompanyid"] == other and after["lastmodifieddate"] > before["lastmodifieddate"]


# --- the connector: pulls ----------------------------------------------------------------------


def test_the_connector_supports_accounts_as_companies() -> None:
    assert HubSpotConnector.account_type == "company"
    assert "company" not in HubSpotConnector.object_types
    assert isinstance(HubSpotConnector({"access_token": "x"}), SupportsAccounts)


def test_companies_pull_as_accounts_on_the_canonical_account_fields(harness: HubSpotHarness) -> None:
    _, companies = seeded(harness)
    connector = harness.connector()
    pulled = pull_all(connector, Cursor("company", None), PullNeeds(frozenset({"title"}), frozenset()))
    assert not pulled.activities
    assert {lead.id for lead in pulled.leads} == set(companies)
    for lead in pulled.leads:
        company = companies[lead.id]
        assert lead.object_type == "company" and lead.account_id is None and not lead.problems
        assert set(lead.fields) <= ACCOUNT_FIELDS
        assert lead.fields["company"] == company["name"]
        assert lead.fields["employees"] == company["numberofemployees"]
        assert lead.fields["annual_revenue"] == company["annualrevenue"]
        assert lead.fields["website"] == company["website"]
        assert lead.updated_at is not None and lead.updated_at.isoformat()[:19] == company["hs_lastmodifieddate"][:19]
    # Enumerations read as their labels, as users see and write them.
    assert {lead.fields["type"] for lead in pulled.leads} <= {"Prospect", "Partner", "Other"}
    labels = {"COMPUTER_SOFTWARE": "Computer Software", "HOSPITAL_HEALTH_CARE": "Hospital & Health Care",
              "RETAIL": "Retail", "FINANCIAL_SERVICES": "Financial Services", "MACHINERY": "Machinery",
              "EDUCATION_MANAGEMENT": "Education Management", "GOVERNMENT_ADMINISTRATION": "Government Administration",
              "INFORMATION_TECHNOLOGY_AND_SERVICES": "Information Technology and Services"}
    assert {lead.id: lead.fields["industry"] for lead in pulled.leads} == {
        cid: labels[c["industry"]] for cid, c in companies.items()}
    assert connector.api_calls()["companies.list"] == 1 and connector.api_calls()["properties.list"] == 1


def test_company_pulls_are_incremental(harness: HubSpotHarness) -> None:
    """As contacts: a listing, then search windows on ``hs_lastmodifieddate`` from its cursor (no
    overlap here, so a window re-reads nothing it already read)."""
    _, companies = seeded(harness)
    connector = harness.connector(overlap_seconds=0)
    cursor = pull_all(connector, Cursor("company", None)).cursor
    assert cursor.object_type == "company"
    again = pull_all(connector, cursor)
    assert not again.leads and again.cursor.value
    assert connector.count(again.cursor) == 0

    edited = sorted(companies)[3]
    harness.emulator.update_company(edited, {"industry": "HOSPITAL_HEALTH_CARE"})
    assert connector.count(again.cursor) == 1
    # As the agent pulls: up to the sync's start, which the finished window's cursor becomes.
    changed = [b for b in connector.pull(again.cursor, until=datetime.now(timezone.utc))]
    assert [(lead.id, lead.fields["industry"]) for b in changed for lead in b.leads] == [(edited, "Hospital & Health Care")]
    assert not pull_all(connector, changed[-1].cursor).leads
    assert connector.count(Cursor("company", None)) == len(companies)


def test_every_contact_carries_its_account_whatever_the_needs(harness: HubSpotHarness) -> None:
    ids, _ = seeded(harness)
    connector = harness.connector()
    for needs in (None, PullNeeds(frozenset({"title"}), frozenset())):
        for cursor in (Cursor("contact", None), Cursor("contact", "2000-01-01T00:00:00Z")):
            leads = pull_all(connector, cursor, needs).leads
            assert {lead.id: lead.account_id for lead in leads} == {
                i: harness.emulator.contact(i)["associatedcompanyid"] for i in ids}
            assert any(lead.account_id for lead in leads) and any(lead.account_id is None for lead in leads)


def test_a_company_without_a_website_reads_its_domain_as_one(harness: HubSpotHarness) -> None:
    company = harness.emulator.create_company({"name": "Initech", "domain": "initech.com", "type": "VENDOR"})
    [lead] = pull_all(harness.connector(), Cursor("company", None)).leads
    assert lead.id == company and lead.fields == {"company": "Initech", "website": "initech.com", "type": "Vendor"}


# --- the connector: setup, writes, read-back -----------------------------------------------------


def test_setup_with_accounts_creates_the_company_properties_once(harness: HubSpotHarness) -> None:
    harness.seed(5)
    connector = harness.connector()
    plain = connector.setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES))
    assert not any(name.startswith("company ") for name in [*plain.created, *plain.existing])
    first = connector.setup(SPEC)
    assert set(first.created) == {"company group leadscore", *(f"company {p}" for p in WRITE_FIELDS.values())}
    assert not first.todo
    second = harness.connector().setup(SPEC)
    assert not second.created and not second.todo
    assert set(second.existing) >= {f"company {p}" for p in WRITE_FIELDS.values()}
    stage = harness.connector().client.properties.get_by_name("companies", WRITE_FIELDS["stage"])
    assert [o.value for o in stage.options] == STAGES and OWNED_MARK in stage.description
    assert stage.group_name == "leadscore"


def test_writes_to_companies_and_contacts_in_one_call_land_on_their_own_records(harness: HubSpotHarness) -> None:
    ids, companies = seeded(harness, 30)
    connector = harness.connector()
    connector.setup(SPEC)
    company_ids = sorted(companies)[:3]
    before = {cid: harness.emulator.company(cid) for cid in company_ids}
    updates = [
        ScoreUpdate(company_ids[0], "company", {"score": 81, "stage": "SQL", "reason": "+40 industry"}),
        ScoreUpdate(ids[0], "contact", {"score": 12, "stage": "Cold"}),
        ScoreUpdate(company_ids[1], "company", {"score": 35, "stage": "Warm"}),
        ScoreUpdate("29999999999", "company", {"score": 1}),
        ScoreUpdate(company_ids[2], "company", {}),
    ]
    connector.client.calls.clear()
    results = connector.write(updates)
    assert [r.record_id for r in results] == [u.record_id for u in updates]
    assert [r.status for r in results] == [WriteStatus.OK, WriteStatus.OK, WriteStatus.OK, WriteStatus.PERMANENT, WriteStatus.OK]
    assert results[3].error_code == "OBJECT_NOT_FOUND"
    # Setup already checked both types' properties: the writes cost one batch per type.
    assert connector.api_calls() == {"contacts.batch.update": 1, "companies.batch.update": 1}
    written = harness.emulator.company(company_ids[0])
    assert (written["leadscore_score"], written["leadscore_stage"], written["leadscore_reason"]) == ("81", "SQL", "+40 industry")
    assert harness.emulator.contact(ids[0])["leadscore_score"] == "12"
    assert harness.emulator.contact(ids[0])["leadscore_stage"] == "Cold"
    for cid in company_ids:
        after = harness.emulator.company(cid)
        changed = {k for k in after if after[k] != before[cid].get(k)}
        assert changed <= {*WRITE_FIELDS.values(), "hs_lastmodifieddate"}
    assert harness.emulator.company(company_ids[2]) == before[company_ids[2]] | {
        k: None for k in WRITE_FIELDS.values()}


def test_company_writes_need_company_properties_leadscore_owns(harness: HubSpotHarness) -> None:
    from leadscore.agent.core.errors import ConfigError

    _, companies = seeded(harness, 10)
    harness.emulator.add_property("leadscore_score", type_="number", field_type="number",
                                  group="companyinformation", object_type="companies")
    connector = harness.connector()
    with pytest.raises(ConfigError, match="company property 'leadscore_score' exists"):
        connector.write([ScoreUpdate(next(iter(companies)), "company", {"score": 5})])
    assert harness.emulator.property_writes()["leadscore_score"] == 0


def test_read_back_of_companies_returns_their_owned_values(harness: HubSpotHarness) -> None:
    _, companies = seeded(harness, 30)
    connector = harness.connector()
    connector.setup(SPEC)
    target = sorted(companies)[0]
    assert all(r.ok for r in connector.write([ScoreUpdate(target, "company", {"score": 64, "stage": "MQL"})]))
    back: dict[str, dict[str, Any]] = dict(connector.read_back("company"))
    assert set(back) == set(companies)
    assert back[target] == {"score": "64", "stage": "MQL", "reason": None}
    assert all(values == {"score": None, "stage": None, "reason": None} for cid, values in back.items() if cid != target)
