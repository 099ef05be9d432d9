"""Safe to point at a real org (issue 12, Salesforce): the JWT audience whatever the login URL,
Bulk 2.0 failures classified like Collections results, empty values meaning the same on both
write paths, field-level security granted through a permission set (or the admin's steps), and
owned fields only, with every configured field name checked against the API name grammar."""

from __future__ import annotations

import time
from typing import Any, Iterator

import jwt
import pytest
from simple_salesforce.exceptions import SalesforceOperationError

import tests.test_salesforce_connector as sfc
from leadscore.agent.core.errors import AuthError, ConfigError
from leadscore.agent.core.contract import ScoreUpdate, WriteSpec, WriteStatus
from leadscore.connectors.salesforce import SalesforceConnector
from leadscore.connectors.salesforce.auth import _jwt_assertion
from leadscore.connectors.salesforce.client import BulkJobFailed, bulk_failure
from leadscore.connectors.salesforce.config import SalesforceConfig
from leadscore.connectors.salesforce.emulator.tls import requests_session_trusting
from leadscore.connectors.salesforce.setup import PERMISSION_SET
from leadscore.connectors.salesforce.write import _bulk_error, classify

pytestmark = pytest.mark.network

WRITE_FIELDS = sfc.WRITE_FIELDS
SPEC = WriteSpec(frozenset(WRITE_FIELDS), sfc.STAGES)
TOKEN = "/services/oauth2/token"


@pytest.fixture
def harness() -> Iterator[sfc.SalesforceHarness]:
    h = sfc.SalesforceHarness()
    yield h
    h.close()


def minimal(**overrides: Any) -> dict[str, Any]:
    return {"client_id": "x", "username": "u@example.com", "private_key": "k", **overrides}


def token_answer(h: sfc.SalesforceHarness, aud: str) -> Any:
    c = h.emulator.credentials
    assertion = jwt.encode({"iss": c.client_id, "sub": c.username, "aud": aud, "exp": int(time.time()) + 180},
                           c.private_key_pem, algorithm="RS256")
    http = requests_session_trusting(h.emulator.ca_bundle, timeout=(2, 10))
    return http.post(h.emulator.login_url + TOKEN, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                         "assertion": assertion})


# --- 1. JWT audience ----------------------------------------------------------------------------------


def test_jwt_against_a_my_domain_login_url_uses_the_login_host_as_audience(harness: sfc.SalesforceHarness) -> None:
    # The emulator serves the token endpoint at its own https://localhost:port, as a My Domain does.
    connector = harness.connector()
    claims = jwt.decode(_jwt_assertion(connector.config), options={"verify_signature": False})
    assert claims["aud"] == "https://login.salesforce.com"
    connector.check()  # logs in: an AuthError if the audience were refused
    assert connector.client.logins == 1
    assert harness.emulator.call_counts()["oauth.token"] == 1


def test_the_emulator_refuses_any_other_audience_with_salesforces_body(harness: sfc.SalesforceHarness) -> None:
    for aud in (harness.emulator.login_url, "https://acme.my.salesforce.com", "https://test.salesforce.com"):
        answer = token_answer(harness, aud)
        assert answer.status_code == 400
        assert answer.json() == {"error": "invalid_grant", "error_description": "audience is invalid"}
    assert token_answer(harness, "https://login.salesforce.com").status_code == 200


def test_a_sandbox_wants_the_test_host_and_the_connector_sends_it_when_told() -> None:
    h = sfc.SalesforceHarness()
    try:
        h.emulator.use_sandbox()
        assert token_answer(h, "https://login.salesforce.com").json()["error_description"] == "audience is invalid"
        with pytest.raises(AuthError, match="audience is invalid"):
            h.connector(retry_attempts=1).check()
        sandbox = h.connector(sandbox=True)
        sandbox.check()
        assert sandbox.client.logins == 1
    finally:
        h.close()


def test_the_audience_follows_the_sandbox_key_or_the_login_host() -> None:
    def audience(**overrides: Any) -> str:
        return SalesforceConfig.model_validate(minimal(**overrides)).audience

    assert audience() == "https://login.salesforce.com"
    assert audience(login_url="https://acme.my.salesforce.com") == "https://login.salesforce.com"
    assert audience(login_url="https://test.salesforce.com") == "https://test.salesforce.com"
    assert audience(login_url="https://acme--uat.sandbox.my.salesforce.com") == "https://test.salesforce.com"
    assert audience(login_url="https://acme--uat.sandbox.my.salesforce.com", sandbox=False) == \
        "https://login.salesforce.com"
    assert audience(login_url="https://acme.my.salesforce.com", sandbox=True) == "https://test.salesforce.com"
    with pytest.raises(ConfigError, match=r"connectors\.salesforce\.sandbox: .*sandbox login host"):
        SalesforceConnector(minimal(login_url="https://test.salesforce.com", sandbox=False))


# --- 2. Bulk 2.0 failures classified like Collections results -----------------------------------------


def test_a_bulk_job_failing_as_a_whole_for_a_permanent_reason_is_permanent_and_not_retried() -> None:
    h = sfc.SalesforceHarness()
    try:
        ids = h.seed(30)
        h.emulator.allow_permission_management(False)  # setup creates the fields but cannot grant access
        first = h.connector()
        first.setup(SPEC)
        updates = [ScoreUpdate(i, "lead", {"score": 7, "stage": "Warm", "reason": "+7"}) for i in ids]
        h.emulator.reset_log()
        bulk = h.connector(bulk_threshold=5)
        results = bulk.write(updates)
        assert {r.status for r in results} == {WriteStatus.PERMANENT}
        assert {r.error_code for r in results} == {"InvalidBatch"}
        assert "Field name not found" in (results[0].message or "")
        assert h.emulator.call_counts()["bulk2.create"] == 1  # one job, no retries of it
        small = h.connector().write(updates[:3])  # Collections: the same records, the same verdict
        assert {r.status for r in small} == {WriteStatus.PERMANENT}
        assert not h.fields_written()
    finally:
        h.close()


def test_bulk_job_failures_and_row_errors_are_classified_by_code() -> None:
    permanent = bulk_failure("bulk2.update", SalesforceOperationError(
        "Job failure. Response content: InvalidBatch : Field name not found : Leadscore_Score__c"))
    assert isinstance(permanent, BulkJobFailed) and permanent.state == "PERMANENT" and permanent.code == "InvalidBatch"
    for code in ("Timeout", "TooManyLockFailure", "Unknown"):
        assert not isinstance(bulk_failure("bulk2.update", SalesforceOperationError(
            f"Job failure. Response content: {code} : try again")), BulkJobFailed)
    assert not isinstance(bulk_failure("bulk2.update", SalesforceOperationError("Job timeout. Job status: InProgress")),
                          BulkJobFailed)
    assert _bulk_error("ENTITY_IS_DELETED:entity is deleted: --") == ("ENTITY_IS_DELETED", "entity is deleted")
    assert _bulk_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:Stage: bad value for restricted picklist field: "
                       "Nope:Leadscore_Stage__c --") == ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                                         "Stage: bad value for restricted picklist field: Nope")
    assert classify("UNABLE_TO_LOCK_ROW") == "RETRYABLE"
    for code in ("ENTITY_IS_DELETED", "INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE", "CANNOT_UPDATE_CONVERTED_LEAD"):
        assert classify(code) == "PERMANENT"


def test_per_record_bulk_errors_match_collections(harness: sfc.SalesforceHarness) -> None:
    ids = harness.seed(20)
    harness.connector().setup(SPEC)
    harness.delete(ids[3])
    updates = [ScoreUpdate(i, "lead", {"score": n, "stage": "Nope" if n == 5 else "Warm"}) for n, i in enumerate(ids)]
    verdicts = []
    for connector in (harness.connector(), harness.connector(bulk_threshold=5)):
        results = connector.write(updates)
        verdicts.append([(r.status, r.error_code) for r in results])
    assert verdicts[0] == verdicts[1]
    assert verdicts[0][3] == (WriteStatus.PERMANENT, "ENTITY_IS_DELETED")
    assert verdicts[0][5] == (WriteStatus.PERMANENT, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")


# --- 3. empty values ----------------------------------------------------------------------------------


def test_none_clears_a_field_on_both_paths_and_absent_values_are_left_alone(harness: sfc.SalesforceHarness) -> None:
    ids = harness.seed(12)
    harness.connector().setup(SPEC)
    small, bulk = harness.connector(), harness.connector(bulk_threshold=2)
    halves = {"collections": (small, ids[:6]), "bulk": (bulk, ids[6:])}
    for connector, part in halves.values():
        first = connector.write([ScoreUpdate(i, "lead", {"score": 10, "stage": "Warm", "reason": "+10 x"}) for i in part])
        assert all(r.ok for r in first)
        # reason cleared, score changed, stage not in this update: left as it is
        second = connector.write([ScoreUpdate(i, "lead", {"score": 11, "reason": None}) for i in part])
        assert all(r.ok for r in second)
    after = {name: [harness.written(i) for i in part] for name, (_, part) in halves.items()}
    expected = {"score": "11.0", "stage": "Warm", "reason": None}
    assert all(values == expected for values in after["collections"])
    assert all(values == expected for values in after["bulk"])


def test_bulk_ingest_leaves_empty_cells_and_clears_na_cells(harness: sfc.SalesforceHarness) -> None:
    ids = harness.seed(3)
    harness.emulator.update_record("Lead", ids[0], {"Title": "Keep", "Phone": "555"})
    harness.emulator.update_record("Lead", ids[1], {"Title": "Drop", "Phone": "556"})
    sf = harness.connector().client.sf
    [outcome] = sf.bulk2.Lead.update(records=[{"Id": ids[0], "Title": "", "Phone": "1"},
                                              {"Id": ids[1], "Title": "#N/A", "Phone": "2"}], wait=0.01)
    assert outcome["numberRecordsFailed"] == 0
    assert harness.emulator.record("Lead", ids[0])["Title"] == "Keep"
    assert harness.emulator.record("Lead", ids[1])["Title"] is None


# --- 4. field-level security --------------------------------------------------------------------------


def test_setup_grants_access_through_a_permission_set_and_stays_idempotent(harness: sfc.SalesforceHarness) -> None:
    ids = harness.seed(5)
    connector = harness.connector()
    report = connector.setup(SPEC)
    assert len(report.created) == 6 and not report.todo
    assert connector.check().ok
    sf = connector.client.sf
    [ps] = sf.query(f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")["records"]
    granted = sf.query(f"SELECT Field, PermissionsRead, PermissionsEdit FROM FieldPermissions WHERE ParentId = '{ps['Id']}'")
    assert {r["Field"] for r in granted["records"]} == {f"{o}.{f}" for o in ("Lead", "Contact") for f in WRITE_FIELDS.values()}
    assert all(r["PermissionsRead"] and r["PermissionsEdit"] for r in granted["records"])
    assert sf.query(f"SELECT COUNT() FROM PermissionSetAssignment WHERE PermissionSetId = '{ps['Id']}'")["totalSize"] == 1
    harness.emulator.reset_log()
    again = harness.connector().setup(SPEC)
    assert not again.created and not again.todo
    counts = harness.emulator.call_counts()
    assert not counts["sobject.create"] and not counts["tooling.customfield"] and not counts["sobject.update"]
    assert all(r.ok for r in harness.connector().write([ScoreUpdate(ids[0], "lead", {"score": 3})]))


def test_setup_completes_a_half_made_permission_set(harness: sfc.SalesforceHarness) -> None:
    connector = harness.connector()
    connector.setup(SPEC)
    sf = connector.client.sf
    [ps] = sf.query(f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")["records"]
    [row] = sf.query(f"SELECT Id FROM FieldPermissions WHERE ParentId = '{ps['Id']}' AND "
                     "Field = 'Contact.Leadscore_Reason__c'")["records"]
    sf.restful(f"sobjects/FieldPermissions/{row['Id']}", method="PATCH", json={"PermissionsEdit": False})
    [assignment] = sf.query("SELECT Id FROM PermissionSetAssignment")["records"]
    sf.restful(f"sobjects/PermissionSetAssignment/{assignment['Id']}", method="DELETE")
    assert not harness.connector().check().ok
    report = harness.connector().setup(SPEC)
    assert not report.todo and harness.connector().check().ok


def test_without_permission_management_setup_prints_the_admin_steps() -> None:
    h = sfc.SalesforceHarness()
    try:
        h.emulator.allow_permission_management(False)
        connector = h.connector()
        report = connector.setup(SPEC)
        assert report.created and report.todo
        text = "\n".join(report.todo)
        assert "INSUFFICIENT_ACCESS_OR_READONLY" in text and f"API Name '{PERMISSION_SET}'" in text
        assert "Object Settings > Contacts > Edit" in text and "Leadscore_Reason__c" in text
        assert h.emulator.credentials.username in text and "run leadscore setup again" in text
        assert not connector.check().ok
        # the admin follows the steps (here through the emulator's handle), then setup checks
        for obj in ("Lead", "Contact"):
            for field in WRITE_FIELDS.values():
                h.emulator.grant_field_access(f"{obj}.{field}")
        again = h.connector().setup(SPEC)
        assert not again.created and not again.todo
    finally:
        h.close()


def test_the_emulators_permission_objects_follow_the_object_reference(harness: sfc.SalesforceHarness) -> None:
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    sf = harness.connector().client.sf
    sf.toolingexecute("sobjects/CustomField", method="POST", data={
        "FullName": "Lead.Probe__c", "Metadata": {"label": "Probe", "type": "Number", "precision": 3, "scale": 0}})

    def fields() -> dict[str, Any]:
        return {f["name"]: f for f in sf.Lead.describe()["fields"]}

    def refused(call: Any) -> str:
        with pytest.raises(SalesforceMalformedRequest) as caught:
            call()
        return caught.value.content[0]["errorCode"]

    assert "Probe__c" not in fields()  # a new field: no access until granted
    ps = sf.PermissionSet.create({"Name": "Probe_Access", "Label": "Probe"})["id"]
    assert refused(lambda: sf.PermissionSet.create({"Name": "probe_access", "Label": "Again"})) == "DUPLICATE_VALUE"
    assert refused(lambda: sf.PermissionSet.create({"Name": "Bad__Name", "Label": "x"})) == "FIELD_INTEGRITY_EXCEPTION"
    assert refused(lambda: sf.FieldPermissions.create({"ParentId": ps, "SobjectType": "Lead", "Field": "Lead.Probe__c",
                                                       "PermissionsEdit": True})) == "FIELD_INTEGRITY_EXCEPTION"
    assert refused(lambda: sf.FieldPermissions.create({"ParentId": ps, "SobjectType": "Lead", "Field": "Lead.Nope__c",
                                                       "PermissionsRead": True})) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    row = sf.FieldPermissions.create({"ParentId": ps, "SobjectType": "Lead", "Field": "lead.probe__c",
                                      "PermissionsRead": True})["id"]
    assert "Probe__c" not in fields()  # granted, but the set is not assigned to the user
    user = harness.connector().client
    user.sf
    user_id = (user.session.identity_url or "").rsplit("/", 1)[-1]
    sf.PermissionSetAssignment.create({"AssigneeId": user_id, "PermissionSetId": ps})
    assert refused(lambda: sf.PermissionSetAssignment.create({"AssigneeId": user_id, "PermissionSetId": ps})) == \
        "DUPLICATE_VALUE"
    assert fields()["Probe__c"]["updateable"] is False  # read only
    sf.FieldPermissions.update(row, {"PermissionsEdit": True})
    assert fields()["Probe__c"]["updateable"] is True
    harness.emulator.allow_permission_management(False)
    assert refused(lambda: sf.PermissionSet.create({"Name": "Other", "Label": "x"})) == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert refused(lambda: sf.FieldPermissions.delete(row)) == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert sf.query(f"SELECT Id FROM PermissionSet WHERE Id = '{ps}'")["totalSize"] == 1  # reads still work


# --- 5. owned fields only -----------------------------------------------------------------------------


def test_setup_refuses_an_existing_field_it_did_not_create_before_changing_anything(harness: sfc.SalesforceHarness) -> None:
    ids = harness.seed(3)
    connector = harness.connector(write={**WRITE_FIELDS, "reason": "Budget__c"})
    with pytest.raises(ConfigError, match=r"connectors\.salesforce\.write\.reason: Lead\.Budget__c already exists.*adopt"):
        connector.setup(SPEC)
    assert not harness.emulator.call_counts()["tooling.customfield"]
    with pytest.raises(ConfigError, match=r"connectors\.salesforce\.write\.reason"):
        connector.write([ScoreUpdate(ids[0], "lead", {"reason": "+1"})])
    assert not harness.fields_written()


def test_an_adopted_field_is_written_and_never_redefined(harness: sfc.SalesforceHarness) -> None:
    ids = harness.seed(3)
    before = harness.emulator.call_counts()["tooling.customfield"]
    # Timeline__c is the admin's (the demo org's BANT field, on Lead and Contact); adopted, it is
    # written, and never redefined
    connector = harness.connector(write={**WRITE_FIELDS, "reason": "Timeline__c"}, adopt=["Timeline__c"])
    report = connector.setup(SPEC)
    assert {"Lead.Timeline__c", "Contact.Timeline__c"} <= set(report.existing)
    assert not any("Timeline__c" in name for name in report.created)
    assert harness.emulator.call_counts()["tooling.customfield"] - before == 4  # score and stage, on Lead and Contact
    assert all(r.ok for r in connector.write([ScoreUpdate(ids[0], "lead", {"score": 4, "reason": "+4 adopted"})]))
    assert harness.emulator.record("Lead", ids[0])["Timeline__c"] == "+4 adopted"


def test_a_field_someone_else_made_under_leadscores_name_is_refused_and_ownership_survives_a_lost_state(
        harness: sfc.SalesforceHarness) -> None:
    harness.seed(3)
    sf = harness.connector().client.sf
    sf.toolingexecute("sobjects/CustomField", method="POST", data={
        "FullName": "Contact.Leadscore_Stage__c", "Metadata": {"label": "Someone's", "type": "Text", "length": 40}})
    with pytest.raises(ConfigError, match=r"connectors\.salesforce\.write\.stage: Contact\.Leadscore_Stage__c"):
        harness.connector().setup(SPEC)
    other = sfc.SalesforceHarness()
    try:
        other.seed(3)
        other.connector().setup(SPEC)
        fresh = other.connector()  # a new instance, no state: the fields' Description says whose they are
        assert fresh.check().ok
        assert all(r.ok for r in fresh.write([ScoreUpdate(i, "lead", {"score": 1}) for i in other.seed(2)]))
        fresh.write([ScoreUpdate(i, "lead", {"score": 2}) for i in other.seed(2)])
        assert other.emulator.call_counts()["tooling.query"] == 2  # setup's listing, then once for `fresh`
    finally:
        other.close()


@pytest.mark.parametrize(("table", "path"), [
    ({"write": {"reason": "Bad Name__c"}}, r"connectors\.salesforce\.write\.reason: 'Bad Name__c' is not a Salesforce API name"),
    ({"write": {"reason": "Title"}}, r"connectors\.salesforce\.write\.reason: 'Title' is not a custom field"),
    ({"lead_fields": {"budget": "Budget__c FROM Lead--"}}, r"connectors\.salesforce\.lead_fields\.budget: "),
    ({"contact_fields": {"title": "Title__x"}}, r"connectors\.salesforce\.contact_fields\.title: "),
    ({"adopt": ["Leadscore_Score__c", "Industry"]}, r"connectors\.salesforce\.adopt\[1\]: 'Industry' is not a custom field"),
    ({"write": {"score": "a" * 41 + "__c"}}, r"connectors\.salesforce\.write\.score: "),
    ({"write": {"score": "Two__Under__Scores__c"}}, r"connectors\.salesforce\.write\.score: "),
])
def test_every_configured_field_name_is_checked_against_the_api_name_grammar(table: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError, match=path):
        SalesforceConnector(minimal(**table))


def test_valid_names_pass_the_grammar() -> None:
    config = SalesforceConfig.model_validate(minimal(
        write={"score": "acme__Lead_Score__c"}, lead_fields={"budget": "Budget__c", "employees": "NumberOfEmployees"},
        adopt=["acme__Lead_Score__c"]))
    assert config.adopted("ACME__lead_score__C")
