"""Deals: the emulator's deal object and the connector's deal outcomes (won, lost, open), through
the real ``hubspot-api-client`` SDK over real HTTP."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from hubspot import HubSpot
from urllib3.util.retry import Retry

from leadscore.agent.core.contract import OUTCOMES, Cursor, OutcomeKind
from leadscore.connectors.hubspot import HubSpotConnector
from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits
from leadscore.connectors.kit.times import parse_hubspot_time

pytestmark = pytest.mark.network

T = (2, 10)
AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
ROOMY = RateLimits(per_ten_seconds=100_000, daily=10_000_000, search_per_second=100_000)
CLOSE = "2026-06-15T10:30:00.000Z"


@pytest.fixture
def emu() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(limits=ROOMY) as emulator:
        yield emulator


def connector_for(emu: HubSpotEmulator) -> HubSpotConnector:
    return HubSpotConnector(
        {"access_token": emu.token, "host": emu.base_url, "per_ten_seconds": 100_000, "search_per_second": 10_000,
         "retry_attempts": 3, "connect_timeout": 2, "read_timeout": 10},
        sleep=lambda s: time.sleep(min(s, 0.02)),
    )


def crm(emu: HubSpotEmulator) -> Any:
    return HubSpot(access_token=emu.token, host=emu.base_url, retry=Retry(total=False, redirect=False)).crm


def contact(emu: HubSpotEmulator, email: str, stage: str = "lead") -> str:
    return emu.create_contact({"email": email, "lifecyclestage": stage})


# --- emulator ----------------------------------------------------------------------------------


def test_deal_batch_read_derives_hs_is_closed_won_and_refuses_writing_it(emu: HubSpotEmulator) -> None:
    owner = contact(emu, "a@example.com")
    won = emu.create_deal({"dealname": "Won", "dealstage": "closedwon", "closedate": CLOSE, "amount": "1200"},
                          contacts=[owner])
    open_ = emu.create_deal({"dealname": "Open", "dealstage": "qualifiedtobuy"}, contacts=[owner])
    api = crm(emu)
    response = api.deals.batch_api.read(
        {"inputs": [{"id": won}, {"id": open_}, {"id": "999"}], "properties": ["hs_is_closed_won", "closedate",
                                                                              "dealstage", "pipeline"]},
        _request_timeout=T,
    )
    by_id = {r.id: r.properties for r in response.results}
    assert by_id[won]["hs_is_closed_won"] == "true" and by_id[won]["closedate"] == CLOSE
    assert by_id[open_]["hs_is_closed_won"] == "false" and by_id[open_]["pipeline"] == "default"
    assert [e.context["ids"] for e in response.errors] == [["999"]]  # 207 multi-status, as for contacts
    # A stage move recalculates it; writing it directly is refused (read-only).
    api.deals.basic_api.update(open_, {"properties": {"dealstage": "closedwon"}}, _request_timeout=T)
    assert api.deals.basic_api.get_by_id(open_, properties=["hs_is_closed_won"],
                                         _request_timeout=T).properties["hs_is_closed_won"] == "true"
    with pytest.raises(Exception) as refused:
        api.deals.basic_api.update(won, {"properties": {"hs_is_closed_won": "false"}}, _request_timeout=T)
    assert getattr(refused.value, "status", None) == 400
    with pytest.raises(ValueError):
        emu.create_deal({"dealname": "no stage"})


def test_contact_deal_associations_use_hubspot_type_ids(emu: HubSpotEmulator) -> None:
    owner = contact(emu, "b@example.com")
    deal = emu.create_deal({"dealname": "D", "dealstage": "closedlost"}, contacts=[owner])
    batch = crm(emu).associations.v4.batch_api
    forward = batch.get_page("contacts", "deals", {"inputs": [{"id": owner}]}, _request_timeout=T).results[0]
    assert [(str(t.to_object_id), [a.type_id for a in t.association_types]) for t in forward.to] == [(deal, [4])]
    back = batch.get_page("deals", "contacts", {"inputs": [{"id": deal}]}, _request_timeout=T).results[0]
    assert [(str(t.to_object_id), [a.type_id for a in t.association_types]) for t in back.to] == [(owner, [3])]
    assert [r.endpoint for r in emu.requests()][-2:] == ["associations.batch.read"] * 2


def test_seeded_deals_are_deterministic_and_some_are_won() -> None:
    def deals(emulator: HubSpotEmulator, ids: list[str]) -> dict[str, list[str]]:
        return {i: emulator.associations(i, "deals") for i in ids if emulator.associations(i, "deals")}

    with HubSpotEmulator() as one, HubSpotEmulator() as two:
        ids = one.seed(120, seed=11, as_of=AS_OF)
        assert two.seed(120, seed=11, as_of=AS_OF) == ids
        first, second = deals(one, ids), deals(two, ids)
        assert first == second and 0 < len(first) < len(ids)
        stages = Counter(
            crm(one).deals.basic_api.get_by_id(d, properties=["dealstage"], _request_timeout=T).properties["dealstage"]
            for found in first.values() for d in found
        )
        assert stages["closedwon"] > 0 and set(stages) <= {"closedwon", "closedlost", "contractsent", "qualifiedtobuy"}


# --- connector ---------------------------------------------------------------------------------


def test_deals_decide_won_and_lost_outcomes_dated_by_their_close_dates(emu: HubSpotEmulator) -> None:
    won_lead = contact(emu, "won@example.com")
    lost_lead = contact(emu, "lost@example.com")
    plain = contact(emu, "plain@example.com")
    customer = contact(emu, "customer@example.com", stage="customer")
    first_loss = emu.create_deal({"dealname": "Lost first", "dealstage": "closedlost",
                                  "closedate": "2026-03-01T00:00:00.000Z"}, contacts=[won_lead])
    won = emu.create_deal({"dealname": "Won", "dealstage": "closedwon", "closedate": CLOSE, "amount": "1200"},
                          contacts=[won_lead])
    lost = emu.create_deal({"dealname": "Lost", "dealstage": "closedlost", "closedate": CLOSE}, contacts=[lost_lead])
    open_ = emu.create_deal({"dealname": "Open", "dealstage": "qualifiedtobuy"}, contacts=[plain])

    connector = connector_for(emu)
    batches = list(connector.pull_outcomes(Cursor(OUTCOMES, None), until=datetime.now(timezone.utc)))
    found = {(o.lead_id, o.source_id): o for b in batches for o in b.outcomes}
    assert set(found) == {(won_lead, first_loss), (won_lead, won), (lost_lead, lost), (plain, open_), (customer, None)}
    assert found[(won_lead, won)].kind is OutcomeKind.WON and found[(won_lead, won)].amount == 1200.0
    assert found[(won_lead, won)].occurred_at == datetime(2026, 6, 15, 10, 30, tzinfo=timezone.utc)
    assert found[(won_lead, first_loss)].kind is OutcomeKind.LOST
    assert found[(lost_lead, lost)].kind is OutcomeKind.LOST and found[(lost_lead, lost)].amount is None
    assert found[(plain, open_)].kind is OutcomeKind.OPEN and found[(plain, open_)].started_at is not None
    assert found[(customer, None)].kind is OutcomeKind.CONVERTED  # the lifecycle stage decided it
    assert found[(customer, None)].occurred_at == parse_hubspot_time(emu.contact(customer)["hs_lifecyclestage_customer_date"])
    assert dict(connector.api_calls()) == {"contacts.search": 1, "deals.search": 1, "associations.deals.contacts": 1}

    emu.update_deal(open_, {"dealstage": "closedlost", "closedate": "2026-11-02T00:00:00.000Z"})  # lost after all
    later = [o for b in connector.pull_outcomes(batches[-1].cursor, until=datetime.now(timezone.utc)) for o in b.outcomes]
    changed = [(o.lead_id, o.source_id, o.kind) for o in later if found.get((o.lead_id, o.source_id)) != o]
    assert changed == [(plain, open_, OutcomeKind.LOST)]  # the rest is the overlap (60 s) read again


def test_outcome_calls_are_one_search_page_per_200_deals_and_one_associations_read_per_1000(emu: HubSpotEmulator) -> None:
    ids = emu.seed(120, seed=11, as_of=AS_OF)
    for n in range(1050):  # enough deals for two associations reads
        emu.create_deal({"dealname": f"extra {n}", "dealstage": ("closedwon", "closedlost", "contractsent")[n % 3],
                         "closedate": CLOSE}, contacts=[ids[n % len(ids)]])
    deals = len({d for i in ids for d in emu.associations(i, "deals")})
    connector = connector_for(emu)
    outcomes = [o for b in connector.pull_outcomes(Cursor(OUTCOMES, None), until=datetime.now(timezone.utc))
                for o in b.outcomes]
    assert len({o.source_id for o in outcomes}) == deals
    assert connector.api_calls() == {"contacts.search": 1, "deals.search": math.ceil(deals / 200),
                                     "associations.deals.contacts": math.ceil(deals / 1000)}
