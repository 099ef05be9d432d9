"""Models' own fields in HubSpot: a model may write its values to properties of its own
(``ScoreUpdate.fields``) instead of the connector's ``write`` map. Setup creates them
(``WriteSpec.field_sets``) exactly as the ``write`` map's, on contacts and companies; writes send
each update to its own properties, mixed in one batch call; and those properties obey the owned
fields rule (built-ins never, someone else's custom property only when adopted). Against the
emulator over real HTTP with the real SDK."""

from __future__ import annotations

import pytest

from leadscore.agent.core.contract import ScoreUpdate, WriteSpec, WriteStatus
from leadscore.agent.core.errors import ConfigError
from leadscore.connectors.hubspot.emulator.harness import WRITE_FIELDS, HubSpotHarness
from leadscore.connectors.hubspot.setup import OWNED_MARK
from tests.conftest import closing_fixture

pytestmark = pytest.mark.network

STAGES = ["Cold", "Warm", "MQL", "SQL"]
#: A model's own fields: the same values as the ``write`` map, other properties.
OWN = {"score": "fit_model_score", "stage": "fit_model_stage", "reason": "fit_model_reason"}
SPEC = WriteSpec(frozenset(WRITE_FIELDS), STAGES, field_sets=[OWN])
SPEC_ACCOUNTS = WriteSpec(frozenset(WRITE_FIELDS), STAGES, accounts=True, field_sets=[OWN])

harness = closing_fixture(HubSpotHarness)


def _definition(harness: HubSpotHarness, object_type: str, name: str):  # noqa: ANN202 - the SDK's Property
    return harness.connector().client.properties.get_by_name(object_type, name)


def _written(harness: HubSpotHarness) -> set[str]:
    return {name for name, count in harness.emulator.property_writes().items() if count}


# --- setup -------------------------------------------------------------------------------------


def test_setup_creates_a_field_set_like_the_write_map_once(harness: HubSpotHarness) -> None:
    harness.seed(3)
    first = harness.connector().setup(SPEC)
    assert set(first.created) == {"group leadscore", *WRITE_FIELDS.values(), *OWN.values()}
    assert not first.todo and not any(name.startswith("company ") for name in first.created)
    for value, prop in OWN.items():
        own, shared = _definition(harness, "contacts", prop), _definition(harness, "contacts", WRITE_FIELDS[value])
        assert (own.type, own.field_type, own.group_name) == (shared.type, shared.field_type, "leadscore")
        assert OWNED_MARK in own.description
    assert [o.value for o in _definition(harness, "contacts", OWN["stage"]).options] == STAGES

    second = harness.connector().setup(SPEC)
    assert not second.created and not second.todo
    assert set(second.existing) == {"group leadscore", *WRITE_FIELDS.values(), *OWN.values()}
    # A set naming the write map's own properties for the same values adds nothing.
    third = harness.connector().setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES, field_sets=[OWN, WRITE_FIELDS]))
    assert not third.created and not third.todo


def test_setup_with_accounts_creates_the_field_set_on_companies_too(harness: HubSpotHarness) -> None:
    harness.seed(3)
    report = harness.connector().setup(SPEC_ACCOUNTS)
    assert {f"company {p}" for p in OWN.values()} <= set(report.created)
    stage = _definition(harness, "companies", OWN["stage"])
    assert [o.value for o in stage.options] == STAGES and OWNED_MARK in stage.description
    again = harness.connector().setup(SPEC_ACCOUNTS)
    assert not again.created and {f"company {p}" for p in OWN.values()} <= set(again.existing)


def test_setup_refuses_a_field_set_it_may_not_write_before_changing_anything(harness: HubSpotHarness) -> None:
    harness.emulator.add_property("fit_model_score", type_="number", field_type="number", description="The team's")
    connector = harness.connector()
    with pytest.raises(ConfigError) as refused:
        connector.setup(SPEC)
    assert refused.value.problems == [
        "model write field score: contact property 'fit_model_score' exists and leadscore did not create it: add it "
        "to connectors.hubspot.adopt to let leadscore write it, or map score to a new property"]
    with pytest.raises(ConfigError, match="model write field reason: 'jobtitle' is a HubSpot built-in contact property"):
        connector.setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES, field_sets=[{"reason": "jobtitle"}]))
    with pytest.raises(ConfigError, match="property 'leadscore_score' is also where connectors.hubspot.write.score"):
        connector.setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES, field_sets=[{"reason": "leadscore_score"}]))
    assert not [r for r in harness.emulator.requests() if r.method in {"POST", "PATCH"}]

    adopted = harness.connector(adopt=["fit_model_score"]).setup(SPEC)
    assert "fit_model_score" in adopted.existing and "fit_model_stage" in adopted.created


# --- writes ------------------------------------------------------------------------------------


def test_a_mixed_batch_writes_each_update_to_its_own_properties_in_one_call(harness: HubSpotHarness) -> None:
    ids = harness.seed(6, accounts=True)
    companies = sorted(harness.emulator.companies())
    connector = harness.connector()
    connector.setup(SPEC_ACCOUNTS)
    before = {i: harness.emulator.contact(i) for i in ids[:4]}
    updates = [
        ScoreUpdate(ids[0], "contact", {"score": 81, "stage": "SQL", "reason": "+40 title"}),
        ScoreUpdate(ids[1], "contact", {"score": 22, "stage": "Warm"}, fields=OWN),
        ScoreUpdate(ids[2], "contact", {"reason": "+5 visits"}, fields=OWN),
        ScoreUpdate(companies[0], "company", {"score": 64}, fields=OWN),
        ScoreUpdate(ids[3], "contact", {"score": 9}),
        ScoreUpdate(companies[1], "company", {"score": 12}),
    ]
    connector.client.calls.clear()
    results = connector.write(updates)
    assert [(r.record_id, r.status) for r in results] == [(u.record_id, WriteStatus.OK) for u in updates]
    assert connector.api_calls() == {"contacts.batch.update": 1, "companies.batch.update": 1}
    assert harness.emulator.property_writes() == {
        "leadscore_score": 3, "leadscore_stage": 1, "leadscore_reason": 1,
        "fit_model_score": 2, "fit_model_stage": 1, "fit_model_reason": 1,
    }
    contact = harness.emulator.contact
    assert (contact(ids[0])["leadscore_score"], contact(ids[0])["fit_model_score"]) == ("81", None)
    assert (contact(ids[1])["fit_model_score"], contact(ids[1])["fit_model_stage"], contact(ids[1])["leadscore_score"]) == ("22", "Warm", None)
    assert (contact(ids[2])["fit_model_reason"], contact(ids[2])["leadscore_reason"]) == ("+5 visits", None)
    assert (contact(ids[3])["leadscore_score"], contact(ids[3])["fit_model_score"]) == ("9", None)
    for i in ids[:4]:
        changed = {k for k, v in contact(i).items() if v != before[i].get(k)}
        assert changed <= {*WRITE_FIELDS.values(), *OWN.values(), "lastmodifieddate", "hs_lastmodifieddate"}
    company = harness.emulator.company
    assert (company(companies[0])["fit_model_score"], company(companies[0])["leadscore_score"]) == ("64", None)
    assert (company(companies[1])["leadscore_score"], company(companies[1])["fit_model_score"]) == ("12", None)


def test_lifecycle_follows_the_stage_value_whatever_its_property(harness: HubSpotHarness) -> None:
    ids = harness.seed(3)
    connector = harness.connector(lifecycle={"SQL": "salesqualifiedlead"})
    connector.setup(SPEC)
    assert all(r.ok for r in connector.write([ScoreUpdate(ids[0], "contact", {"stage": "SQL"}, fields=OWN)]))
    written = harness.emulator.contact(ids[0])
    assert (written["fit_model_stage"], written["lifecyclestage"], written["leadscore_stage"]) == ("SQL", "salesqualifiedlead", None)


def test_an_update_naming_a_property_leadscore_does_not_own_is_not_written(harness: HubSpotHarness) -> None:
    """Refused like a foreign ``write`` target: a ConfigError naming the property, raised before
    anything of the call is written; adopting it lets it through."""
    ids = harness.seed(4)
    harness.connector().setup(SPEC)
    harness.emulator.add_property("team_rating", type_="number", field_type="number", description="Rated by sales")
    foreign = {"score": "team_rating"}
    updates = [ScoreUpdate(ids[0], "contact", {"score": 5}), ScoreUpdate(ids[1], "contact", {"score": 7}, fields=foreign)]
    connector = harness.connector()
    for _ in range(2):  # refused every time, not only the first
        with pytest.raises(ConfigError) as refused:
            connector.write(updates)
        assert refused.value.problems == [
            "model write field score: contact property 'team_rating' exists and leadscore did not create it: add it "
            "to connectors.hubspot.adopt to let leadscore write it, or map score to a new property"]
    assert not _written(harness)

    # A built-in is refused by name, without a call.
    fresh = harness.connector()
    with pytest.raises(ConfigError, match="model write field score: 'hubspotscore' is a HubSpot built-in"):
        fresh.write([ScoreUpdate(ids[0], "contact", {"score": 5}, fields={"score": "hubspotscore"})])
    assert not fresh.api_calls()
    # One HubSpot defines, unknown by name: refused online, even adopted.
    harness.emulator.add_property("partner_fit", type_="number", field_type="number", hubspot_defined=True)
    with pytest.raises(ConfigError, match="model write field score: 'partner_fit' is a HubSpot built-in contact property"):
        harness.connector(adopt=["partner_fit"]).write([ScoreUpdate(ids[0], "contact", {"score": 5}, fields={"score": "partner_fit"})])
    # A property that does not exist fails its own updates, not their neighbours'.
    results = harness.connector().write([ScoreUpdate(ids[2], "contact", {"score": 3}, fields={"score": "nowhere_score"}),
                                         ScoreUpdate(ids[3], "contact", {"score": 4}, fields=OWN)])
    assert [(r.status, r.error_code) for r in results] == [(WriteStatus.PERMANENT, "PROPERTY_DOESNT_EXIST"), (WriteStatus.OK, None)]
    assert _written(harness) == {"fit_model_score"}

    adopted = harness.connector(adopt=["team_rating"])
    assert all(r.ok for r in adopted.write(updates))
    assert harness.emulator.contact(ids[1])["team_rating"] == "7" and harness.emulator.contact(ids[1])["leadscore_score"] is None


def test_company_updates_need_company_properties_leadscore_owns(harness: HubSpotHarness) -> None:
    harness.seed(4, accounts=True)
    company = sorted(harness.emulator.companies())[0]
    harness.connector().setup(SPEC_ACCOUNTS)
    harness.emulator.add_property("account_tier_score", type_="number", field_type="number",
                                  group="companyinformation", object_type="companies")
    with pytest.raises(ConfigError, match="model write field score: company property 'account_tier_score' exists"):
        harness.connector().write([ScoreUpdate(company, "company", {"score": 5}, fields={"score": "account_tier_score"})])
    assert not _written(harness)


def test_each_own_property_is_verified_once_per_connector(harness: HubSpotHarness) -> None:
    ids = harness.seed(4)
    harness.connector().setup(SPEC)
    other = {"score": "leadscore_score", "stage": "fit_model_stage"}
    connector = harness.connector()
    assert all(r.ok for r in connector.write([ScoreUpdate(ids[0], "contact", {"score": 1}),
                                              ScoreUpdate(ids[1], "contact", {"score": 2}, fields=OWN)]))
    assert all(r.ok for r in connector.write([ScoreUpdate(ids[2], "contact", {"score": 3}, fields=OWN)]))
    # The write map's and OWN's properties are known: a set of them costs no listing either.
    assert all(r.ok for r in connector.write([ScoreUpdate(ids[3], "contact", {"score": 4, "stage": "MQL"}, fields=other)]))
    assert dict(connector.api_calls()) == {"properties.list": 1, "contacts.batch.update": 3}

    after_setup = harness.connector()
    after_setup.setup(SPEC)
    after_setup.client.calls.clear()
    assert all(r.ok for r in after_setup.write([ScoreUpdate(ids[0], "contact", {"score": 5}, fields=OWN)]))
    assert dict(after_setup.api_calls()) == {"contacts.batch.update": 1}
