"""Deals: the emulator's deal object and the connector's won-deal conversion labels, through the
real ``hubspot-api-client`` SDK over real HTTP."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from hubspot import HubSpot
from urllib3.util.retry import Retry

from leadscore.connectors.hubspot import HubSpotConnector
from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits

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


def test_won_deal_converts_a_lead_dated_by_its_close_date(emu: HubSpotEmulator) -> None:
    won_lead = contact(emu, "won@example.com")
    lost_lead = contact(emu, "lost@example.com")
    plain = contact(emu, "plain@example.com")
    customer = contact(emu, "customer@example.com", stage="customer")
    emu.create_deal({"dealname": "Lost first", "dealstage": "closedlost", "closedate": "2026-03-01T00:00:00.000Z"},
                    contacts=[won_lead])
    emu.create_deal({"dealname": "Won", "dealstage": "closedwon", "closedate": CLOSE}, contacts=[won_lead])
    emu.create_deal({"dealname": "Won later", "dealstage": "closedwon", "closedate": "2026-09-01T00:00:00.000Z"},
                    contacts=[won_lead])
    emu.create_deal({"dealname": "Lost", "dealstage": "closedlost", "closedate": CLOSE}, contacts=[lost_lead])

    connector = connector_for(emu)
    outcomes = {o.lead_id: o for o in connector.pull_outcomes()}
    assert set(outcomes) == {won_lead, lost_lead, plain, customer}
    won = outcomes[won_lead]
    assert won.converted and won.detail == "won deal"
    assert won.occurred_at == datetime(2026, 6, 15, 10, 30, tzinfo=timezone.utc)  # the earliest won deal
    assert not outcomes[lost_lead].converted and outcomes[lost_lead].occurred_at is None
    assert not outcomes[plain].converted and outcomes[plain].detail is None
    assert outcomes[customer].converted and outcomes[customer].detail is None  # lifecycle decided it
    # `since` drops conversions dated before it, as for lifecycle conversions.
    later = {o.lead_id for o in connector.pull_outcomes(since=datetime(2026, 7, 1, tzinfo=timezone.utc))}
    assert won_lead not in later and lost_lead in later
    calls = connector.api_calls()
    assert calls["associations.deals"] == 2 and calls["deals.batch.read"] == 2 and calls["contacts.list"] == 2


def test_outcome_calls_are_bounded_per_page(emu: HubSpotEmulator) -> None:
    """Per page of 100 contacts: one associations call and ceil(deals / 100) deal batch reads."""
    ids = emu.seed(230, seed=11, as_of=AS_OF)
    pages = [sorted(ids, key=int)[start:start + 100] for start in range(0, len(ids), 100)]
    for contact_id in pages[0]:  # 200+ deals on the first page: three reads
        for n, stage in enumerate(("closedwon", "closedlost")):
            emu.create_deal({"dealname": f"extra {n}", "dealstage": stage, "closedate": CLOSE}, contacts=[contact_id])
    expected_reads = sum(math.ceil(len({d for c in page for d in emu.associations(c, "deals")}) / 100)
                         for page in pages)
    assert expected_reads >= 4

    connector = connector_for(emu)
    outcomes = list(connector.pull_outcomes())
    assert len(outcomes) == 230
    assert all(o.converted and o.detail == "won deal" for o in outcomes if o.lead_id in set(pages[0]))
    assert connector.api_calls() == {"contacts.list": len(pages), "associations.deals": len(pages),
                                     "deals.batch.read": expected_reads}
    served = Counter(r.endpoint for r in emu.requests())
    assert served["deals.batch.read"] == expected_reads and served["associations.batch.read"] == len(pages)
