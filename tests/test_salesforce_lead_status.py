"""``connectors.salesforce.lead_status``: a Lead's Status follows its stage forward only, against the
emulator over TLS with simple-salesforce."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from leadscore.agent.core.contract import ScoreUpdate, WriteSpec
from leadscore.connectors.salesforce.config import SalesforceConfig
from leadscore.connectors.salesforce.emulator.harness import STAGES, WRITE_FIELDS, SalesforceHarness

pytestmark = pytest.mark.network

MAPPING = {"Warm": "Open - Not Contacted", "MQL": "Working - Contacted", "SQL": "Closed - Not Converted"}


@pytest.fixture(scope="module")
def org():
    harness = SalesforceHarness()
    leads = harness.seed(24)
    harness.connector().setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES))
    yield harness, leads
    harness.close()


def _status(harness: SalesforceHarness, lead_id: str) -> str:
    return harness.emulator.record("Lead", lead_id)["Status"]


def _set(harness: SalesforceHarness, lead_id: str, status: str) -> None:
    harness.emulator.update_record("Lead", lead_id, {"Status": status})


def test_config_refuses_empty_stages_and_values() -> None:
    base = {"auth": "client_credentials", "client_id": "x", "client_secret": "y"}
    for mapping in ({"MQL": ""}, {"MQL": "  "}, {"": "Working - Contacted"}):
        with pytest.raises(ValidationError):
            SalesforceConfig.model_validate({**base, "lead_status": mapping})
    assert SalesforceConfig.model_validate({**base, "lead_status": MAPPING}).lead_status == MAPPING


def test_status_moves_forward_never_back(org) -> None:
    harness, leads = org
    opened, working, closed = leads[0], leads[1], leads[2]
    _set(harness, opened, "Open - Not Contacted")
    _set(harness, working, "Working - Contacted")
    _set(harness, closed, "Closed - Not Converted")
    connector = harness.connector(lead_status=MAPPING)
    assert "stage" in connector.write_values
    results = connector.write([
        ScoreUpdate(opened, "lead", {"stage": "MQL", "score": 60}),   # forward
        ScoreUpdate(working, "lead", {"stage": "Warm", "score": 20}),  # would be backwards
        ScoreUpdate(closed, "lead", {"stage": "MQL", "score": 61}),    # would be backwards
    ])
    assert all(r.ok for r in results)
    assert _status(harness, opened) == "Working - Contacted"
    assert _status(harness, working) == "Working - Contacted"
    assert _status(harness, closed) == "Closed - Not Converted"
    assert int(float(harness.emulator.record("Lead", working)["Leadscore_Score__c"])) == 20  # the score still lands
    # Bulk moves the same way.
    _set(harness, opened, "Open - Not Contacted")
    bulk = harness.connector(lead_status=MAPPING, bulk_threshold=1)
    assert all(r.ok for r in bulk.write([ScoreUpdate(opened, "lead", {"stage": "SQL"}),
                                         ScoreUpdate(working, "lead", {"stage": "Warm"})]))
    assert _status(harness, opened) == "Closed - Not Converted" and _status(harness, working) == "Working - Contacted"


def test_a_status_outside_the_picklist_order_is_left_alone(org) -> None:
    harness, leads = org
    odd = leads[3]
    _set(harness, odd, "Nurturing")  # standard picklists are unrestricted: a value an import left
    assert harness.connector(lead_status=MAPPING).write([ScoreUpdate(odd, "lead", {"stage": "MQL"})])[0].ok
    assert _status(harness, odd) == "Nurturing"


def test_status_is_written_only_when_mapped_and_counts_as_a_configured_field(org) -> None:
    harness, leads = org
    lead = leads[4]
    _set(harness, lead, "Open - Not Contacted")
    before = harness.emulator.field_writes()["Lead.Status"]
    harness.connector().write([ScoreUpdate(lead, "lead", {"stage": "MQL"})])  # no mapping: never Status
    assert harness.emulator.field_writes()["Lead.Status"] == before and _status(harness, lead) == "Open - Not Contacted"
    harness.connector(lead_status={"MQL": "Working - Contacted"}).write([ScoreUpdate(lead, "lead", {"stage": "MQL"})])
    assert harness.emulator.field_writes()["Lead.Status"] == before + 1
    assert harness.fields_written() <= harness.allowed_fields() | {"Status"}


def test_contacts_and_converted_leads_never_get_a_status(org) -> None:
    harness, leads = org
    lead = leads[5]
    _set(harness, lead, "Open - Not Contacted")
    contact = harness.emulator.convert_lead(lead)  # converted since it was pulled
    connector = harness.connector(lead_status=MAPPING)
    result = connector.write([ScoreUpdate(lead, "lead", {"stage": "MQL", "score": 77})])[0]
    assert result.ok and result.written_to == contact  # the score follows; the Status stays the Lead's
    assert _status(harness, lead) == "Closed - Converted"
    assert int(float(harness.emulator.record("Contact", contact)["Leadscore_Score__c"])) == 77
    assert connector.write([ScoreUpdate(contact, "contact", {"stage": "SQL", "score": 78})])[0].ok
    assert int(float(harness.emulator.record("Contact", contact)["Leadscore_Score__c"])) == 78
    assert "Contact.Status" not in harness.emulator.field_writes()


def test_check_reports_a_converted_or_unknown_mapped_status(org) -> None:
    harness, _ = org
    assert harness.connector(lead_status=MAPPING).check().ok
    report = harness.connector(lead_status={"MQL": "Qualified", "SQL": "Closed - Converted"}).check()
    assert not report.ok
    assert any("lead_status.SQL" in p and "converted" in p for p in report.problems)
    assert any("lead_status.MQL" in p and "not an active value" in p for p in report.problems)


def test_a_converted_status_is_never_written_and_salesforce_refuses_it(org) -> None:
    harness, leads = org
    lead = leads[6]
    _set(harness, lead, "Open - Not Contacted")
    connector = harness.connector(lead_status={"SQL": "Closed - Converted"})
    assert connector.write([ScoreUpdate(lead, "lead", {"stage": "SQL"})])[0].ok
    assert _status(harness, lead) == "Open - Not Contacted" and not harness.emulator.record("Lead", lead)["IsConverted"]
    # Only conversion sets a converted status: a plain update is refused (the emulator's reading).
    saved = connector.client.call("composite.sobjects", lambda sf: sf.restful("composite/sobjects", method="PATCH", json={
        "allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "id": lead, "Status": "Closed - Converted"}]}))
    assert not saved[0]["success"] and saved[0]["errors"][0]["statusCode"] == "FIELD_INTEGRITY_EXCEPTION"
