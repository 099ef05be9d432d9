"""Outcomes from the CRM into the state store, with each sync: what became of records (converted,
won, lost, disqualified), pulled incrementally from a cursor of their own, kept once per record and
source, through the real pipeline against both emulators over real HTTP.

Also: the store's natural-key upserts, a failing outcome pull that leaves the record sync alone
(and pauses the connector on a spent allocation), and the ``[connectors.*.outcomes]`` config."""

from __future__ import annotations

import textwrap
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from leadscore.agent.config import parse_config
from leadscore.agent.core.contract import OUTCOMES, Connector, Cursor, WriteSpec
from leadscore.agent.core.errors import ConfigError, QuotaExhausted, TransientError
from leadscore.agent.core.records import Outcome, OutcomeKind
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.settings import AgentSettings
from leadscore.agent.state import StateStore, StoredOutcome
from leadscore.agent.sync import SyncPipeline
from leadscore.agent.sync.jobs import ConnectorJobs
from leadscore.connectors.hubspot.config import HubSpotConfig
from leadscore.connectors.hubspot.emulator.harness import HubSpotHarness
from leadscore.connectors.kit.times import parse_hubspot_time
from leadscore.connectors.salesforce.config import SalesforceConfig
from leadscore.connectors.salesforce.emulator.harness import SalesforceHarness
from leadscore.connectors.testing import SUITE_MODEL

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as opened:
        yield opened


def pipeline_for(connector: Connector, store: StateStore) -> SyncPipeline:
    connector.setup(WriteSpec(frozenset(connector.write_values), [s.name for s in SUITE_MODEL.stages]))
    return SyncPipeline(connector.name, connector, store, ScoringEngine(SUITE_MODEL), as_of=T0)


def rows(store: StateStore, connector: str) -> dict[tuple[str, str, str | None], StoredOutcome]:
    return {(r.object_type, r.record_id, r.source_id): r for r in store.outcomes(connector)}


def same(before: dict[Any, StoredOutcome], after: dict[Any, StoredOutcome]) -> bool:
    """The rows hold the same outcomes, observed at the same instants (nothing re-added)."""
    return {k: (r.kind, r.occurred_at, r.amount, r.observed_at) for k, r in before.items()} == {
        k: (r.kind, r.occurred_at, r.amount, r.observed_at) for k, r in after.items()}


# --- HubSpot, end to end -----------------------------------------------------------------------


@pytest.mark.network
def test_hubspot_sync_records_outcomes_once_then_only_what_changed(store: StateStore) -> None:
    harness = HubSpotHarness()
    try:
        emu = harness.emulator
        ids = emu.seed(15, seed=3, as_of=T0)
        seeded = {d: c for c in ids for d in emu.associations(c, "deals")}  # the seed's own deals
        won = emu.create_deal({"dealname": "Won", "dealstage": "closedwon", "closedate": "2026-10-20T09:00:00.000Z",
                               "amount": "4200"}, contacts=[ids[0]])
        emu.update_contact(ids[1], {"hs_lead_status": "UNQUALIFIED"})
        emu.update_contact(ids[2], {"lifecyclestage": "customer"})
        connector = harness.connector()
        pipeline = pipeline_for(connector, store)

        first = pipeline.sync()
        held = rows(store, "hubspot")
        assert first.outcomes == len(held) and first.outcome_errors == 0 and first.written >= len(ids)
        assert held[("contact", ids[0], won)].kind is OutcomeKind.WON
        assert held[("contact", ids[0], won)].occurred_at == datetime(2026, 10, 20, 9, tzinfo=timezone.utc)
        assert held[("contact", ids[0], won)].amount == 4200.0
        disqualified = held[("contact", ids[1], None)]
        assert disqualified.kind is OutcomeKind.DISQUALIFIED and disqualified.estimated
        converted = held[("contact", ids[2], None)]
        assert converted.kind is OutcomeKind.CONVERTED
        assert converted.occurred_at == parse_hubspot_time(emu.contact(ids[2])["hs_lifecyclestage_customer_date"])
        assert {k[2] for k in held if k[2]} == {won, *seeded}  # every deal, open ones as open
        assert all(r.started_at is not None for k, r in held.items() if k[2])  # each deal's createdate
        assert store.cursor("hubspot", OUTCOMES)

        second = pipeline.sync()  # the overlap re-reads them all: nothing new
        assert second.outcomes == 0 and same(held, rows(store, "hubspot"))

        later = emu.create_deal({"dealname": "Later", "dealstage": "closedwon", "closedate": "2026-11-30T00:00:00.000Z",
                                 "amount": "900"}, contacts=[ids[3]])
        emu.update_deal(won, {"dealstage": "contractsent"})  # reopened: its win is withdrawn
        third = pipeline.sync()
        now = rows(store, "hubspot")
        assert third.outcomes == 2  # one new, one changed
        assert now[("contact", ids[3], later)].kind is OutcomeKind.WON and now[("contact", ids[3], later)].amount == 900.0
        assert now[("contact", ids[0], won)].kind is OutcomeKind.OPEN and now[("contact", ids[0], won)].occurred_at is None
        assert set(now) == set(held) | {("contact", ids[3], later)}
        labels = store.outcomes("hubspot", kinds=[k for k in OutcomeKind if k is not OutcomeKind.OPEN])
        assert ("contact", ids[0], won) not in {(r.object_type, r.record_id, r.source_id) for r in labels}
    finally:
        harness.close()


# --- Salesforce, end to end --------------------------------------------------------------------


@pytest.mark.network
def test_salesforce_sync_records_conversions_opportunities_and_statuses(store: StateStore) -> None:
    harness = SalesforceHarness()
    try:
        emu = harness.emulator
        leads = harness.seed(15)  # unconverted ones
        close = date(2026, 11, 20)
        contact = emu.convert_lead(leads[0], opportunity={"StageName": "Closed Won", "CloseDate": close.isoformat(),
                                                          "Amount": 7500})
        deal = emu.record("Lead", leads[0])["ConvertedOpportunityId"]
        emu.update_record("Lead", leads[1], {"Status": "Closed - Not Converted"})
        connector = harness.connector()
        pipeline = pipeline_for(connector, store)

        first = pipeline.sync()
        held = rows(store, "salesforce")
        assert first.outcomes == len(held) and first.outcome_errors == 0
        converted = held[("lead", leads[0], None)]
        assert converted.kind is OutcomeKind.CONVERTED
        assert converted.occurred_at == datetime.combine(date.fromisoformat(emu.record("Lead", leads[0])["ConvertedDate"]),
                                                         datetime.min.time(), timezone.utc)
        midnight = datetime(close.year, close.month, close.day, tzinfo=timezone.utc)
        for key in (("lead", leads[0], deal), ("contact", contact, deal)):  # the converted Opportunity, and its role
            assert held[key].kind is OutcomeKind.WON and held[key].occurred_at == midnight and held[key].amount == 7500.0
        assert held[("lead", leads[1], None)].kind is OutcomeKind.DISQUALIFIED and held[("lead", leads[1], None)].estimated

        second = pipeline.sync()
        assert second.outcomes == 0 and same(held, rows(store, "salesforce"))

        # An Opportunity on the converted Account, without contact roles: lost, for the Account's Contact.
        account = emu.record("Contact", contact)["AccountId"]
        lost = emu.create_record("Opportunity", {"Name": "Renewal", "AccountId": account, "StageName": "Closed Lost",
                                                 "CloseDate": "2026-12-01", "Amount": 300})
        third = pipeline.sync()
        now = rows(store, "salesforce")
        assert now[("contact", contact, lost)].kind is OutcomeKind.LOST
        assert now[("lead", leads[0], lost)].kind is OutcomeKind.LOST  # the Lead converted into that Contact
        assert third.outcomes == 2 and set(now) - set(held) == {("contact", contact, lost), ("lead", leads[0], lost)}
    finally:
        harness.close()


def test_a_converted_salesforce_lead_is_retired_with_its_history_and_trains_as_converted(store: StateStore) -> None:
    """Salesforce makes a converted Lead read-only and merges it into its Contact: the mirror keeps
    it retired - out of every rescore and write, its history kept - so its conversion is a label
    of a lead the training set knows."""
    harness = SalesforceHarness()
    try:
        emu = harness.emulator
        leads = harness.seed(12)
        pipeline = pipeline_for(harness.connector(), store)
        pipeline.sync()
        emu.convert_lead(leads[0])
        pipeline.sync()
        live = {m.lead.id for m in store.mirror_leads("salesforce", "lead")}
        history = {h.lead.id: h for h in store.lead_history("salesforce", "lead")}
        assert leads[0] not in live and leads[0] in history and set(leads[1:]) <= live
        assert history[leads[0]].versions  # its fields over time are kept
        assert store.status("salesforce").mirrored_leads.get("lead") == len(leads) - 1
        scored_live = sum(1 for _ in store.mirror_leads("salesforce"))  # live leads and Contacts (the new one too)
        assert pipeline.rescore().scored == scored_live and scored_live == sum(store.status("salesforce").mirrored_leads.values())
        converted = {o.record_id for o in store.outcomes("salesforce", kinds=["converted"], object_type="lead")}
        assert leads[0] in converted and converted <= set(history)  # every conversion is of a lead the history holds
    finally:
        harness.close()


# --- a failing outcome pull ----------------------------------------------------------------------


@pytest.mark.network
def test_a_failing_outcome_pull_leaves_the_record_sync_and_the_next_sync_catches_up(store: StateStore) -> None:
    harness = HubSpotHarness()
    try:
        ids = harness.emulator.seed(8, seed=3, as_of=T0)
        harness.emulator.update_contact(ids[0], {"lifecyclestage": "customer"})
        connector = harness.connector()
        pipeline = pipeline_for(connector, store)
        working = connector.pull_outcomes

        def down(cursor: Cursor, *, until: datetime | None = None) -> Iterator[Any]:
            raise TransientError("HubSpot answered 503 five times")
            yield  # a generator, as a real pull is

        connector.pull_outcomes = down  # type: ignore[method-assign]
        failed = pipeline.sync()
        assert failed.status == "ok" and failed.written >= len(ids) and failed.outcome_errors == 1
        assert store.outcomes("hubspot") == [] and store.cursor("hubspot", OUTCOMES) is None
        assert all(store.cursor("hubspot", kind) for kind in connector.object_types)  # the records moved on

        connector.pull_outcomes = working  # type: ignore[method-assign]
        caught_up = pipeline.sync()
        assert caught_up.outcome_errors == 0 and ("contact", ids[0], None) in rows(store, "hubspot")
    finally:
        harness.close()


@pytest.mark.network
def test_a_spent_allocation_in_the_outcome_pull_pauses_the_connector_like_a_pull(store: StateStore) -> None:
    harness = HubSpotHarness()
    try:
        harness.emulator.seed(5, seed=3, as_of=T0)
        connector = harness.connector()
        connector.setup(WriteSpec(frozenset(connector.write_values), [s.name for s in SUITE_MODEL.stages]))
        resume = datetime.now(timezone.utc) + timedelta(hours=3)

        def spent(cursor: Cursor, *, until: datetime | None = None) -> Iterator[Any]:
            raise QuotaExhausted("HubSpot's daily allocation is spent", resume_at=resume)
            yield

        connector.pull_outcomes = spent  # type: ignore[method-assign]
        jobs = ConnectorJobs("hubspot", {}, store, ScoringEngine(SUITE_MODEL), AgentSettings(), factory=lambda _: connector)
        [outcome] = jobs.run("sync")
        assert outcome.status == "ok" and outcome.counts.outcome_errors == 1
        assert jobs.paused_until == resume
        assert [o.status for o in jobs.run("sync")] == ["skipped"]
    finally:
        harness.close()


# --- the store -----------------------------------------------------------------------------------


def test_the_store_keeps_one_row_per_record_and_source(any_store: StateStore) -> None:
    store = any_store
    won = Outcome.of(OutcomeKind.WON, "c1", "contact", T0, amount=100.0, source_id="d1")
    status = Outcome.of(OutcomeKind.DISQUALIFIED, "c2", "contact", T0, estimated=True)
    first = store.record_outcomes("crm", [won, status, Outcome.of("converted", "c1", "contact", T0)],
                                  cursor=Cursor(OUTCOMES, "v1"), api_calls={"search": 2})
    assert (first.new, first.changed, first.unchanged) == (3, 0, 0)
    assert store.cursor("crm", OUTCOMES) == "v1" and store.api_calls("crm")[store.now().date()] == {"search": 2}
    again = store.record_outcomes("crm", [won, status])
    assert (again.new, again.changed, again.unchanged) == (0, 0, 2)
    # A later sighting of an undated status keeps the earlier date; an edited amount is the row's new state.
    changed = store.record_outcomes("crm", [Outcome.of("disqualified", "c2", "contact", T0 + timedelta(days=2), estimated=True),
                                            Outcome.of("won", "c1", "contact", T0, amount=250.0, source_id="d1")])
    assert (changed.changed, changed.unchanged) == (1, 1)
    held = rows(store, "crm")
    assert held[("contact", "c2", None)].occurred_at == T0 and held[("contact", "c1", "d1")].amount == 250.0
    # A deal reopened turns its row back to open (withdrawn); an open deal is a row of its own.
    opened = T0 - timedelta(days=30)
    reopened = store.record_outcomes("crm", [Outcome.of("open", "c1", "contact", amount=250.0, source_id="d1", started_at=opened),
                                             Outcome.of("open", "c3", "contact", source_id="d9", started_at=opened)])
    assert (reopened.new, reopened.changed, reopened.withdrawn) == (1, 1, 1)
    held = rows(store, "crm")
    assert held[("contact", "c1", "d1")].kind is OutcomeKind.OPEN and held[("contact", "c1", "d1")].occurred_at is None
    assert held[("contact", "c3", "d9")].started_at == opened
    assert store.outcome_counts("crm") == {"converted": 1, "disqualified": 1, "open": 2}
    assert [o.kind for o in store.outcomes("crm", since=T0)] == [OutcomeKind.CONVERTED, OutcomeKind.DISQUALIFIED]
    assert len(store.outcomes("crm", kinds=["won", "lost", "converted", "disqualified"])) == 2
    assert store.outcomes("crm", since=T0 + timedelta(days=1)) == []
    assert held[("contact", "c3", "d9")].outcome() == Outcome.of("open", "c3", "contact", source_id="d9", started_at=opened)
    assert store.forget("crm")["outcomes"] == 4 and store.outcomes("crm") == []


def test_an_outcome_from_a_label_alone_takes_its_kind_from_it() -> None:
    assert Outcome("a", "lead", True).kind is OutcomeKind.CONVERTED
    assert Outcome("a", "lead", False, T0).kind is OutcomeKind.LOST
    assert Outcome("a", "lead", False).kind is OutcomeKind.OPEN
    assert Outcome.of("won", "a", "contact", T0, amount=5.0, source_id="d").converted
    with pytest.raises(ValueError, match="converted"):
        Outcome("a", "lead", False, T0, kind=OutcomeKind.WON)


# --- config ----------------------------------------------------------------------------------------


MODEL = ('[scoring]\nname = "x"\n[[scoring.rules]]\nkind = "fit"\nlabel = "Tech"\nfield = "industry"\n'
         'equals = "Technology"\npoints = 20\n[[scoring.stages]]\nname = "Cold"\n')


def problems(connectors: str) -> list[str]:
    text = MODEL + textwrap.dedent(connectors)
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.problems


def test_outcome_mappings_default_sensibly() -> None:
    hubspot = HubSpotConfig(access_token="t").outcomes
    assert (hubspot.converted_stages, hubspot.disqualified_lead_status, hubspot.deals) == (
        ["customer", "evangelist"], ["UNQUALIFIED"], True)
    salesforce = SalesforceConfig(client_id="c", auth="client_credentials", client_secret="s").outcomes
    assert (salesforce.disqualified_status, salesforce.opportunities, salesforce.opportunities_by_account) == (
        ["Closed - Not Converted"], True, True)
    parse_config(MODEL + '[connectors.hubspot]\naccess_token = "t"\n'
                 '[connectors.hubspot.outcomes]\nconverted_stages = ["customer"]\ndeals = false\n')  # valid


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('[connectors.hubspot]\naccess_token = "t"\n[connectors.hubspot.outcomes]\nconverted_stages = ["Customer"]\n',
         "connectors.hubspot.outcomes.converted_stages[0]: 'Customer' is not one of HubSpot's default lifecycle stages"),
        ('[connectors.hubspot]\naccess_token = "t"\n[connectors.hubspot.outcomes]\ndisqualified_lead_status = [" "]\n',
         "connectors.hubspot.outcomes.disqualified_lead_status[0]: ' ' is not a hs_lead_status value"),
        ('[connectors.hubspot]\naccess_token = "t"\n[connectors.hubspot.outcomes]\ndisqualified = ["UNQUALIFIED"]\n',
         "connectors.hubspot.outcomes.disqualified: unknown key"),
        ('[connectors.salesforce]\nclient_id = "c"\nauth = "client_credentials"\nclient_secret = "s"\n'
         '[connectors.salesforce.outcomes]\ndisqualified_status = ["Closed - Not Converted", "closed - not converted"]\n',
         "connectors.salesforce.outcomes: disqualified_status lists a value twice"),
        ('[connectors.salesforce]\nclient_id = "c"\nauth = "client_credentials"\nclient_secret = "s"\n'
         '[connectors.salesforce.outcomes]\nopportunities = "sometimes"\n',
         "connectors.salesforce.outcomes.opportunities:"),
    ],
    ids=["hubspot-stage", "hubspot-status", "hubspot-unknown-key", "salesforce-twice", "salesforce-not-a-flag"],
)
def test_validate_names_the_outcome_key_at_fault(table: str, expected: str) -> None:
    found = problems(table)
    assert any(line.startswith(expected) for line in found), found
