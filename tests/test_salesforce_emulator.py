"""The Salesforce emulator, driven through the real ``simple-salesforce`` over real TLS.

What these tests pin down is Salesforce's documented behaviour (OAuth flows and error bodies,
SOQL syntax, paging and errors, describe, sObject Collections SaveResults, the Bulk API 2.0 job
lifecycle and result CSVs, API allocation, sessions, Tooling ``CustomField`` and field-level
security), plus the emulator's own knobs (faults, request log, seeding, the Python handle).
"""

from __future__ import annotations

import base64
import csv
import io
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import jwt
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from leadscore.connectors.salesforce.emulator import SalesforceEmulator, requests_session_trusting
from leadscore.connectors.salesforce.emulator.ids import normalise, to18

pytestmark = pytest.mark.network

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
TOKEN = "/services/oauth2/token"
SCORE_FIELD = {"FullName": "Lead.Leadscore_Score__c",
               "Metadata": {"label": "Leadscore Score", "type": "Number", "precision": 3, "scale": 0}}
STAGE_FIELD = {"FullName": "Lead.Leadscore_Stage__c", "Metadata": {
    "label": "Leadscore Stage", "type": "Picklist", "valueSet": {"restricted": True, "valueSetDefinition": {"value": [
        {"fullName": "Cold", "default": True, "label": "Cold"}, {"fullName": "Warm", "default": False, "label": "Warm"},
        {"fullName": "MQL", "default": False, "label": "MQL"}]}}}}
REASON_FIELD = {"FullName": "Lead.Leadscore_Reason__c",
                "Metadata": {"label": "Leadscore Reason", "type": "LongTextArea", "length": 1000, "visibleLines": 3}}


# --- fixtures and helpers ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def http_for(emu: SalesforceEmulator) -> requests.Session:
    return requests_session_trusting(emu.ca_bundle, timeout=(2, 10))


def password_login(emu: SalesforceEmulator, http: requests.Session | None = None, **overrides: str) -> requests.Response:
    c = emu.credentials
    form = {"grant_type": "password", "client_id": c.client_id, "client_secret": c.client_secret,
            "username": c.username, "password": c.password, **overrides}
    return (http or http_for(emu)).post(emu.login_url + TOKEN, data=form)


def sf_for(emu: SalesforceEmulator, token: str | None = None) -> Salesforce:
    http = http_for(emu)
    token = token or password_login(emu, http).json()["access_token"]
    return Salesforce(instance_url=emu.instance_url, session_id=token, session=http, version=emu.api_version)


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[SalesforceEmulator, Salesforce, list[str]]]:
    """One read-only org of 300 seeded leads shared by the read tests."""
    with SalesforceEmulator() as emu:
        ids = emu.seed(300, seed=7, as_of=AS_OF)
        yield emu, sf_for(emu), ids


@pytest.fixture
def fresh() -> Iterator[tuple[SalesforceEmulator, Salesforce]]:
    """A new org per test, for tests that write, meter or break things."""
    with SalesforceEmulator() as emu:
        emu.seed(40, seed=3, as_of=AS_OF)
        yield emu, sf_for(emu)


def refused(call: Callable[[], Any], kind: type[Exception] = SalesforceMalformedRequest) -> Any:
    with pytest.raises(kind) as caught:
        call()
    return caught.value.content  # simple-salesforce keeps the decoded error body


def collection(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool = False) -> list[dict[str, Any]]:
    return sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": all_or_none, "records": records})


def lead_update(lead_id: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Lead"}, "id": lead_id, **fields}


def live_leads(sf: Salesforce, where: str = "IsConverted = false") -> list[dict[str, Any]]:
    return sf.query_all(f"SELECT Id, Title, LastModifiedDate, SystemModstamp FROM Lead WHERE {where} ORDER BY Id")[
        "records"]


# --- OAuth -------------------------------------------------------------------------------------------------


def test_password_flow_answers_the_documented_token_fields(fresh):
    emu, _ = fresh
    response = password_login(emu)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert body["instance_url"] == emu.instance_url and body["token_type"] == "Bearer"
    assert body["id"].startswith(f"{emu.login_url}/id/00D")
    import hashlib
    import hmac

    expected = hmac.new(emu.credentials.client_secret.encode(), (body["id"] + body["issued_at"]).encode(),
                        hashlib.sha256).digest()
    assert base64.b64decode(body["signature"]) == expected
    assert "Sforce-Limit-Info" not in response.headers  # a login is not an API call
    assert emu.api_usage() == 0


def test_client_credentials_in_the_body_or_as_basic_auth(fresh):
    emu, _ = fresh
    c, http = emu.credentials, http_for(emu)
    by_body = http.post(emu.login_url + TOKEN, data={"grant_type": "client_credentials", "client_id": c.client_id,
                                                     "client_secret": c.client_secret})
    basic = base64.b64encode(f"{c.client_id}:{c.client_secret}".encode()).decode()
    by_header = http.post(emu.login_url + TOKEN, data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {basic}"})
    for response in (by_body, by_header):
        assert response.status_code == 200 and response.json()["scope"] == "api"
        assert sf_for(emu, response.json()["access_token"]).query("SELECT COUNT() FROM Lead")["totalSize"] == 40


def _assertion(emu: SalesforceEmulator, key: str | None = None, **claims: Any) -> str:
    c = emu.credentials
    body = {"iss": c.client_id, "sub": c.username, "aud": "https://login.salesforce.com", "exp": int(time.time()) + 180,
            **claims}
    return jwt.encode(body, key or c.private_key_pem, algorithm="RS256")


def test_jwt_bearer_flow_verifies_signature_issuer_audience_expiry_and_subject(fresh):
    emu, _ = fresh
    http = http_for(emu)

    def token(assertion: str) -> requests.Response:
        return http.post(emu.login_url + TOKEN, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                      "assertion": assertion})

    ok = token(_assertion(emu))
    assert ok.status_code == 200 and "signature" not in ok.json() and ok.json()["scope"] == "api"
    assert sf_for(emu, ok.json()["access_token"]).query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1
    # simple-salesforce sends exp as a numeric string and aud https://login.salesforce.com: both accepted
    assert token(_assertion(emu, exp=f"{time.time() + 180:.0f}", aud="https://login.salesforce.com")).status_code == 200

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    cases = [
        (_assertion(emu, key=other), "invalid_grant", "invalid assertion"),
        (_assertion(emu, iss="3MVG9someoneelse"), "invalid_client_id", "client identifier invalid"),
        (_assertion(emu, aud="https://example.com"), "invalid_grant", "audience is invalid"),
        # the token endpoint's own URL (a My Domain) is never an audience; a production org
        # accepts only https://login.salesforce.com
        (_assertion(emu, aud=emu.login_url), "invalid_grant", "audience is invalid"),
        (_assertion(emu, aud="https://test.salesforce.com"), "invalid_grant", "audience is invalid"),
        (_assertion(emu, exp=int(time.time()) - 5), "invalid_grant", "expired authorization code"),
        (_assertion(emu, sub="someone@else.example"), "invalid_grant", "user hasn't approved this consumer"),
        ("not-a-jwt", "invalid_grant", "invalid assertion"),
    ]
    for assertion, error, description in cases:
        answer = token(assertion)
        assert answer.status_code == 400
        assert answer.json() == {"error": error, "error_description": description}


def test_bad_credentials_answer_documented_oauth_errors(fresh):
    emu, _ = fresh
    cases = [
        ({"client_id": "3MVG9unknown"}, "invalid_client_id", "client identifier invalid"),
        ({"client_secret": "wrong"}, "invalid_client", "invalid client credentials"),
        ({"password": "wrong"}, "invalid_grant", "authentication failure"),
        ({"username": "nobody@example.com"}, "invalid_grant", "authentication failure"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type", "grant type not supported"),
    ]
    for overrides, error, description in cases:
        response = password_login(emu, **overrides)
        assert response.status_code == 400
        assert response.json() == {"error": error, "error_description": description}


# --- sessions and the API allocation ------------------------------------------------------------------


def test_unknown_and_expired_sessions_answer_401_invalid_session_id(fresh):
    emu, sf = fresh
    body = refused(lambda: sf_for(emu, token="00Dbogus!token").query("SELECT Id FROM Lead"),
                   SalesforceExpiredSession)
    assert body == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    sf.query("SELECT Id FROM Lead LIMIT 1")
    emu.expire_sessions()
    body = refused(lambda: sf.query("SELECT Id FROM Lead LIMIT 1"), SalesforceExpiredSession)
    assert body[0]["errorCode"] == "INVALID_SESSION_ID"
    assert sf_for(emu).query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1  # a new login works


def test_sessions_time_out_after_inactivity_and_use_extends_them():
    clock = FakeClock(time.time())
    with SalesforceEmulator(clock=clock, session_ttl=600) as emu:
        sf = sf_for(emu)
        for _ in range(3):  # each use restarts the timeout
            clock.now += 500
            sf.query("SELECT COUNT() FROM Lead")
        clock.now += 601
        assert refused(lambda: sf.query("SELECT COUNT() FROM Lead"), SalesforceExpiredSession)[0]["errorCode"] == \
            "INVALID_SESSION_ID"


def test_limit_info_header_limits_resource_and_request_limit_exceeded():
    with SalesforceEmulator(daily_limit=50) as emu:
        sf = sf_for(emu)
        sf.query("SELECT COUNT() FROM Lead")
        assert sf.api_usage["api-usage"].used == 1 and sf.api_usage["api-usage"].total == 50
        limits = sf.limits()  # counts too
        assert limits["DailyApiRequests"] == {"Max": 50, "Remaining": 48}
        assert {"DailyBulkApiBatches", "DailyBulkV2QueryJobs"} <= set(limits)
        emu.set_api_usage(49)
        sf.query("SELECT COUNT() FROM Lead")
        assert sf.api_usage["api-usage"].used == 50
        body = refused(lambda: sf.query("SELECT COUNT() FROM Lead"), SalesforceRefusedRequest)
        assert body == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        assert emu.api_usage() == 50  # a refused call does not count
        versions = http_for(emu).get(emu.instance_url + "/services/data/")
        assert versions.status_code == 200 and {"version": "60.0", "url": "/services/data/v60.0",
                                                "label": "Spring '24"} in versions.json()


# --- SOQL ------------------------------------------------------------------------------------------------


def test_soql_filters_on_datetimes_strings_numbers_booleans_and_nulls(seeded):
    emu, sf, ids = seeded
    everything = sf.query_all("SELECT Id, Email, Industry, NumberOfEmployees, AnnualRevenue, IsConverted, "
                              "CreatedDate, Country FROM Lead")["records"]
    assert len(everything) == 300

    def ids_where(clause: str) -> set[str]:
        return {r["Id"] for r in sf.query_all(f"SELECT Id FROM Lead WHERE {clause}")["records"]}

    cutoff = datetime(2026, 6, 1, tzinfo=timezone.utc)
    after = {r["Id"] for r in everything
             if datetime.strptime(r["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z") > cutoff}
    assert 0 < len(after) < 300
    assert ids_where("CreatedDate > 2026-06-01T00:00:00Z") == after
    assert ids_where("CreatedDate > 2026-06-01T00:00:00.000+0000") == after
    assert ids_where("CreatedDate > 2026-06-01T02:00:00+02:00") == after  # the same instant
    tech = {r["Id"] for r in everything if r["Industry"] in ("Technology", "Software")}
    assert ids_where("Industry IN ('technology', 'SOFTWARE')") == tech  # strings compare case-insensitively
    big = {r["Id"] for r in everything if (r["NumberOfEmployees"] or 0) >= 1200 and r["Country"] == "United States"}
    assert ids_where("NumberOfEmployees >= 1200 AND Country = 'United States'") == big
    assert ids_where("(NumberOfEmployees >= 1200 AND Country = 'United States') OR IsConverted = true") == \
        big | {r["Id"] for r in everything if r["IsConverted"]}
    no_size = {r["Id"] for r in everything if r["NumberOfEmployees"] is None}
    assert no_size and ids_where("NumberOfEmployees = null") == no_size
    assert ids_where("NOT (NumberOfEmployees = null)") == {r["Id"] for r in everything} - no_size
    not_tech = {r["Id"] for r in everything if r["Industry"] not in ("Technology", "Software")}
    assert ids_where("Industry NOT IN ('Technology', 'Software')") == not_tech  # nulls included
    assert ids_where("AnnualRevenue > 100000000.5") == {r["Id"] for r in everything if r["AnnualRevenue"] > 1e8}
    one = everything[0]
    assert ids_where(f"Id = '{one['Id'][:15]}'") == {one["Id"]}  # 15-character ids work too
    assert ids_where("Email LIKE '%@gmail.com'") == {r["Id"] for r in everything if r["Email"].endswith("@gmail.com")}


def test_soql_string_escapes(fresh):
    emu, sf = fresh
    lead = emu.create_record("Lead", {"LastName": "O'Brien \\ \"Quoted\"", "Company": "Escapes Inc"})
    found = sf.query(r"SELECT Id, LastName FROM Lead WHERE LastName = 'O\'Brien \\ \"Quoted\"'")
    assert [r["Id"] for r in found["records"]] == [lead]


def test_soql_order_by_several_fields_nulls_and_limit(seeded):
    _, sf, _ = seeded
    rows = sf.query("SELECT Id, NumberOfEmployees, CreatedDate FROM Lead "
                    "ORDER BY NumberOfEmployees DESC NULLS LAST, CreatedDate ASC LIMIT 250")["records"]
    assert len(rows) == 250
    keys = [(-(r["NumberOfEmployees"] if r["NumberOfEmployees"] is not None else -1), r["CreatedDate"]) for r in rows]
    assert keys == sorted(keys)
    default = sf.query("SELECT Id, NumberOfEmployees FROM Lead ORDER BY NumberOfEmployees LIMIT 5")["records"]
    assert default[0]["NumberOfEmployees"] is None  # nulls sort first by default


def test_paging_with_next_records_url_batch_size_and_query_more(seeded):
    emu, sf, _ = seeded
    total = sf.query("SELECT COUNT() FROM Task")["totalSize"]
    assert total > 450
    first = sf.query("SELECT Id, Subject FROM Task ORDER BY Id", headers={"Sforce-Query-Options": "batchSize=200"})
    assert first["totalSize"] == total and not first["done"] and len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith("/services/data/v60.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-200")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["nextRecordsUrl"].endswith("-400") and len(second["records"]) == 200
    everything = sf.query_all("SELECT Id FROM Task ORDER BY Id", headers={"Sforce-Query-Options": "batchSize=5"})
    assert len(everything["records"]) == total  # batchSize below 200 is raised to 200
    assert [r["Id"] for r in everything["records"]] == sorted(r["Id"] for r in everything["records"])
    default = sf.query("SELECT Id FROM Task")
    assert default["done"] == (total <= 2000)
    body = refused(lambda: sf.query_more("/services/data/v60.0/query/01g5g0000000000AAA-200", identifier_is_url=True))
    assert body[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_returns_deleted_records_and_query_does_not(fresh):
    emu, sf = fresh
    victim = live_leads(sf)[0]["Id"]
    emu.delete_record("Lead", victim)
    assert victim not in {r["Id"] for r in sf.query_all("SELECT Id FROM Lead")["records"]}
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Lead WHERE IsDeleted = true", include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in deleted] == [(victim, True)]
    assert emu.record("Lead", victim)["IsDeleted"] is True
    refused(lambda: sf.Lead.get(victim), SalesforceResourceNotFound)


def test_malformed_queries_and_unknown_fields_answer_like_salesforce(seeded):
    _, sf, _ = seeded
    body = refused(lambda: sf.query("SELECT Id, Foo__c FROM Lead"))
    assert body[0]["errorCode"] == "INVALID_FIELD"
    assert body[0]["message"] == (
        "\nSELECT Id, Foo__c FROM Lead\n           ^\nERROR at Row:1:Column:12\nNo such column 'Foo__c' on entity "
        "'Lead'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field "
        "name. Please reference your WSDL or the describe call for the appropriate names.")
    assert refused(lambda: sf.query("SELECT Id FROM"))[0]["message"].endswith("unexpected token: <EOF>")
    assert refused(lambda: sf.query("SELECT Id FROM Lead WHERE"))[0]["errorCode"] == "MALFORMED_QUERY"
    mixed = refused(lambda: sf.query("SELECT Id FROM Lead WHERE IsConverted = true AND Title = 'CEO' OR City = 'X'"))
    assert mixed[0]["errorCode"] == "MALFORMED_QUERY" and "unexpected token: 'OR'" in mixed[0]["message"]
    quoted = refused(lambda: sf.query("SELECT Id FROM Lead WHERE CreatedDate > '2026-01-01T00:00:00Z'"))
    assert quoted[0]["errorCode"] == "INVALID_FIELD"
    assert quoted[0]["message"].endswith("value of filter criterion for field 'CreatedDate' must be of type "
                                         "dateTime and should not be enclosed in quotes")
    assert refused(lambda: sf.query("SELECT Id FROM Leed"))[0]["errorCode"] == "INVALID_TYPE"
    assert refused(lambda: sf.query("SELECT Id FROM Lead WHERE Id = 'nope'"))[0]["errorCode"] == \
        "INVALID_QUERY_FILTER_OPERATOR"


# --- describe and records ----------------------------------------------------------------------------------


def test_describe_reports_standard_and_custom_fields(seeded):
    _, sf, _ = seeded
    described = sf.Lead.describe()
    assert described["name"] == "Lead" and described["keyPrefix"] == "00Q"
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["LastName"]["type"] == "string" and fields["LastName"]["length"] == 80
    assert not fields["LastName"]["nillable"]
    assert fields["Name"]["updateable"] is False and fields["IsConverted"]["updateable"] is False
    assert fields["SystemModstamp"]["type"] == "datetime" and fields["NumberOfEmployees"]["type"] == "int"
    assert fields["Budget__c"]["custom"] is True and fields["Budget__c"]["type"] == "string"
    assert "Working - Contacted" in [p["value"] for p in fields["Status"]["picklistValues"]]
    for name in ("Task", "Event", "CampaignMember", "EmailMessage", "Opportunity", "Campaign", "Contact"):
        assert getattr(sf, name).describe()["name"] == name
    assert {f["name"] for f in sf.Task.describe()["fields"]} >= {"TaskSubtype", "CallType", "CallDurationInSeconds"}


def test_record_get_and_single_update(fresh):
    emu, sf = fresh
    lead = live_leads(sf)[0]
    before = emu.record("Lead", lead["Id"])
    assert sf.Lead.update(lead["Id"], {"Title": "Chief Scoring Officer"}) == 204
    got = sf.Lead.get(lead["Id"])
    assert got["Title"] == "Chief Scoring Officer" and got["attributes"]["type"] == "Lead"
    assert got["SystemModstamp"] > before["SystemModstamp"]
    assert emu.field_writes() == {"Lead.Title": 1}
    assert refused(lambda: sf.Lead.update(lead["Id"], {"Bogus__c": 1}))[0]["errorCode"] == "INVALID_FIELD"
    refused(lambda: sf.Lead.get("00Q5g0000009999AAA"), SalesforceResourceNotFound)


# --- sObject Collections ---------------------------------------------------------------------------------


def test_collection_update_applies_bumps_stamps_and_counts_writes(fresh):
    emu, sf = fresh
    leads = live_leads(sf)[:3]
    results = collection(sf, [lead_update(l["Id"], Title=f"VP {n}") for n, l in enumerate(leads)])
    assert results == [{"id": l["Id"], "success": True, "errors": []} for l in leads]
    after = {r["Id"]: r for r in live_leads(sf)}
    for n, lead in enumerate(leads):
        assert after[lead["Id"]]["Title"] == f"VP {n}"
        assert after[lead["Id"]]["LastModifiedDate"] > lead["LastModifiedDate"]
        assert after[lead["Id"]]["SystemModstamp"] > lead["SystemModstamp"]
    assert len({after[l["Id"]]["SystemModstamp"] for l in leads}) == 1  # one transaction, one stamp
    assert emu.field_writes()["Lead.Title"] == 3


def test_collection_reports_each_per_record_error(fresh):
    emu, sf = fresh
    sf.toolingexecute("sobjects/CustomField", method="POST", data=STAGE_FIELD)
    emu.grant_field_access("Lead.Leadscore_Stage__c")  # a new field is visible to no one until granted
    leads = [l["Id"] for l in live_leads(sf)]
    converted = leads[0]
    emu.convert_lead(converted)
    deleted = leads[1]
    emu.delete_record("Lead", deleted)
    ok = leads[2]
    contact = sf.query("SELECT Id FROM Contact LIMIT 1")["records"][0]["Id"]
    unknown = to18("00Q5g0000009ZZZ")
    results = collection(sf, [
        lead_update(converted, Title="x"),
        lead_update(deleted, Title="x"),
        lead_update(unknown, Title="x"),
        lead_update(contact, Title="x"),
        lead_update(ok, IsConverted=True),
        lead_update(ok, Leadscore_Stage__c="Scorching"),
        lead_update(ok, LastName=None),
        lead_update(ok, Title="x" * 129),
        lead_update(ok, Leadscore_Stage__c="Warm"),
    ])
    codes = [(r["success"], [e["statusCode"] for e in r["errors"]]) for r in results]
    assert codes == [
        (False, ["CANNOT_UPDATE_CONVERTED_LEAD"]), (False, ["ENTITY_IS_DELETED"]),
        (False, ["INVALID_CROSS_REFERENCE_KEY"]), (False, ["MALFORMED_ID"]),
        (False, ["INVALID_FIELD_FOR_INSERT_UPDATE"]), (False, ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"]),
        (False, ["REQUIRED_FIELD_MISSING"]), (False, ["STRING_TOO_LONG"]), (True, []),
    ]
    assert results[0]["errors"][0] == {"statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
                                       "message": "cannot reference converted lead", "fields": []}
    assert "id" not in results[3] and results[3]["errors"][0]["fields"] == ["Id"]
    assert results[4]["errors"][0]["fields"] == ["IsConverted"]
    assert results[5]["errors"][0]["message"] == "Leadscore Stage: bad value for restricted picklist field: Scorching"
    assert emu.record("Lead", ok)["Leadscore_Stage__c"] == "Warm"
    assert emu.field_writes() == {"Lead.Leadscore_Stage__c": 1}


def test_collection_all_or_none_rolls_every_record_back(fresh):
    emu, sf = fresh
    leads = [l["Id"] for l in live_leads(sf)[:3]]
    emu.delete_record("Lead", leads[2])
    results = collection(sf, [lead_update(i, Title="rolled") for i in leads], all_or_none=True)
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK", "ALL_OR_NONE_OPERATION_ROLLED_BACK", "ENTITY_IS_DELETED"]
    assert all(not r["success"] for r in results)
    assert all(emu.record("Lead", i)["Title"] != "rolled" for i in leads)
    assert emu.field_writes() == {}


def test_collection_whole_request_errors(fresh):
    emu, sf = fresh
    lead = live_leads(sf)[0]["Id"]
    too_many = [lead_update(lead, Title="x")] * 201
    assert refused(lambda: collection(sf, too_many))[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    body = refused(lambda: collection(sf, [lead_update(lead, Title="ok"), lead_update(lead, Score_Typo__c=5)]))
    assert body == [{"message": "No such column 'Score_Typo__c' on sobject of type Lead", "errorCode": "INVALID_FIELD"}]
    body = refused(lambda: collection(sf, [lead_update(lead, NumberOfEmployees="lots")]))
    assert body[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert body[0]["message"].startswith("Cannot deserialize instance of int from VALUE_STRING value lots")
    assert collection(sf, [lead_update(lead, NumberOfEmployees="42")])[0]["success"]  # numeric strings coerce
    assert refused(lambda: collection(sf, [{"id": lead, "Title": "x"}]))[0]["errorCode"] == "INVALID_TYPE"
    assert emu.record("Lead", lead)["Title"] != "ok"


# --- Bulk API 2.0 -----------------------------------------------------------------------------------------


def test_bulk2_update_through_simple_salesforce_with_successful_and_failed_results(fresh):
    emu, sf = fresh
    leads = [l["Id"] for l in live_leads(sf)[:4]]
    emu.convert_lead(leads[3])
    rows = [{"Id": leads[0], "Title": "Bulk One", "NumberOfEmployees": "12"},
            {"Id": leads[1], "Title": "Bulk Two", "NumberOfEmployees": ""},
            {"Id": leads[2], "Title": "Bulk Three", "NumberOfEmployees": "lots"},
            {"Id": leads[3], "Title": "Bulk Four", "NumberOfEmployees": "7"}]
    emu.reset_log()
    [outcome] = sf.bulk2.Lead.update(records=rows, wait=0.01)
    assert outcome["numberRecordsProcessed"] == 4 and outcome["numberRecordsFailed"] == 2
    results = sf.bulk2.Lead.get_all_ingest_records(outcome["job_id"])
    successes = {r["sf__Id"]: r for r in results["successfulRecords"]}
    assert set(successes) == {leads[0], leads[1]} and successes[leads[0]]["sf__Created"] == "false"
    assert successes[leads[0]]["Title"] == "Bulk One"  # the uploaded columns follow
    failures = {r["Id"]: r["sf__Error"] for r in results["failedRecords"]}
    assert failures[leads[2]] == "INVALID_TYPE_ON_FIELD_IN_RECORD:Employees: value not of required type: lots:" \
                                 "NumberOfEmployees --"
    assert failures[leads[3]].startswith("CANNOT_UPDATE_CONVERTED_LEAD:cannot reference converted lead:")
    assert results["unprocessedRecords"] == []
    assert emu.record("Lead", leads[0])["Title"] == "Bulk One" and emu.record("Lead", leads[0])["NumberOfEmployees"] == 12
    assert emu.record("Lead", leads[1])["Title"] == "Bulk Two"  # an empty cell leaves the field alone
    assert emu.field_writes() == {"Lead.Title": 2, "Lead.NumberOfEmployees": 1}
    counts = emu.call_counts()
    assert counts["bulk2.create"] == counts["bulk2.upload"] == counts["bulk2.close"] == 1
    assert counts["bulk2.poll"] >= 2 and counts["bulk2.results"] == 3


def test_bulk2_job_lifecycle_and_refusals(fresh):
    emu, sf = fresh
    http, base = sf.session, f"{emu.instance_url}/services/data/v60.0/jobs/ingest"
    headers = {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"}
    lead = live_leads(sf)[0]["Id"]
    job = http.post(base, json={"object": "Lead", "operation": "update", "contentType": "CSV", "lineEnding": "LF"},
                    headers=headers).json()
    assert job["state"] == "Open" and job["id"].startswith("750")
    assert job["contentUrl"] == f"services/data/v60.0/jobs/ingest/{job['id']}/batches"
    csv_headers = {**headers, "Content-Type": "text/csv"}
    upload = http.put(f"{base}/{job['id']}/batches", data=f"Id,Title\n{lead},Lifecycle\n", headers=csv_headers)
    assert upload.status_code == 201 and "Sforce-Limit-Info" in upload.headers
    again = http.put(f"{base}/{job['id']}/batches", data=f"Id,Title\n{lead},Twice\n", headers=csv_headers)
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "BULK_API_ERROR"
    closed = http.patch(f"{base}/{job['id']}", json={"state": "UploadComplete"}, headers=headers).json()
    assert closed["state"] == "UploadComplete"
    states = [http.get(f"{base}/{job['id']}", headers=headers).json()["state"] for _ in range(3)]
    assert states == ["InProgress", "JobComplete", "JobComplete"]
    assert emu.record("Lead", lead)["Title"] == "Lifecycle"
    info = http.get(f"{base}/{job['id']}", headers=headers).json()
    assert info["numberRecordsProcessed"] == 1 and info["numberRecordsFailed"] == 0 and info["jobType"] == "V2Ingest"
    late = http.put(f"{base}/{job['id']}/batches", data=f"Id,Title\n{lead},Late\n", headers=csv_headers)
    assert late.status_code == 409

    bad = http.post(base, json={"object": "Lead", "operation": "update"}, headers=headers).json()
    http.put(f"{base}/{bad['id']}/batches", data=f"Id,Titel\n{lead},x\n", headers=csv_headers)
    http.patch(f"{base}/{bad['id']}", json={"state": "UploadComplete"}, headers=headers)
    http.get(f"{base}/{bad['id']}", headers=headers)
    failed = http.get(f"{base}/{bad['id']}", headers=headers).json()
    assert failed["state"] == "Failed" and failed["errorMessage"] == "InvalidBatch : Field name not found : Titel"
    unprocessed = http.get(f"{base}/{bad['id']}/unprocessedrecords/", headers=headers).text
    assert list(csv.reader(io.StringIO(unprocessed))) == [["Id", "Titel"], [lead, "x"]]

    crlf = http.post(base, json={"object": "Lead", "operation": "update"}, headers=headers).json()
    http.put(f"{base}/{crlf['id']}/batches", data=f"Id,Title\r\n{lead},x\r\n", headers=csv_headers)
    http.patch(f"{base}/{crlf['id']}", json={"state": "UploadComplete"}, headers=headers)
    http.get(f"{base}/{crlf['id']}", headers=headers)
    assert "LineEnding is invalid" in http.get(f"{base}/{crlf['id']}", headers=headers).json()["errorMessage"]
    unknown = http.post(base, json={"object": "Leed", "operation": "update"}, headers=headers)
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALIDENTITY"


# --- Tooling API and field-level security -------------------------------------------------------------


def test_tooling_custom_field_create_duplicate_describe_and_query(fresh):
    emu, sf = fresh
    created = sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
    assert created["success"] is True and created["id"].startswith("00N")
    sf.toolingexecute("sobjects/CustomField", method="POST", data=REASON_FIELD)
    duplicate = refused(lambda: sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD))
    assert duplicate == [{"message": "There is already a field named Leadscore_Score on Lead.",
                          "errorCode": "DUPLICATE_DEVELOPER_NAME", "fields": []}]
    assert "Leadscore_Score__c" not in {f["name"] for f in sf.Lead.describe()["fields"]}  # no access by default
    emu.grant_field_access("Lead.Leadscore_Score__c")
    emu.grant_field_access("Lead.Leadscore_Reason__c")
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert fields["Leadscore_Score__c"]["type"] == "double" and fields["Leadscore_Score__c"]["precision"] == 3
    assert fields["Leadscore_Reason__c"]["type"] == "textarea" and fields["Leadscore_Reason__c"]["length"] == 1000
    listed = sf.toolingexecute("query", params={
        "q": "SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE TableEnumOrId IN ('Lead', 'Contact')"})
    names = {r["DeveloperName"] for r in listed["records"]}
    assert {"Leadscore_Score", "Leadscore_Reason", "Budget"} <= names and listed["entityTypeName"] == "CustomField"
    one = sf.toolingexecute("query", params={
        "q": "SELECT FullName, Metadata FROM CustomField WHERE DeveloperName = 'Leadscore_Score'"})
    assert one["records"][0]["FullName"] == "Lead.Leadscore_Score__c"
    assert one["records"][0]["Metadata"]["precision"] == 3
    too_wide = refused(lambda: sf.toolingexecute("query", params={"q": "SELECT FullName FROM CustomField"}))
    assert too_wide[0]["errorCode"] == "MALFORMED_QUERY"
    lead = live_leads(sf)[0]["Id"]
    assert collection(sf, [lead_update(lead, Leadscore_Score__c=87)])[0]["success"]
    assert sf.query(f"SELECT Leadscore_Score__c FROM Lead WHERE Id = '{lead}'")["records"][0]["Leadscore_Score__c"] \
        == 87.0
    assert refused(lambda: sf.query("SELECT Id FROM Lead WHERE Leadscore_Reason__c = 'x'"))[0]["errorCode"] == \
        "INVALID_FIELD"  # long text areas cannot be filtered
    bad_type = refused(lambda: sf.toolingexecute("sobjects/CustomField", method="POST", data={
        "FullName": "Lead.Other__c", "Metadata": {"label": "Other", "type": "Long Text Area"}}))
    assert bad_type[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_fls_knob_hides_new_fields_until_access_is_granted():
    with SalesforceEmulator(fls_auto_grant=False) as emu:
        emu.seed(5, as_of=AS_OF)
        sf = sf_for(emu)
        sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE_FIELD)
        lead = live_leads(sf)[0]["Id"]
        assert "Leadscore_Score__c" not in {f["name"] for f in sf.Lead.describe()["fields"]}
        assert refused(lambda: sf.query("SELECT Leadscore_Score__c FROM Lead"))[0]["errorCode"] == "INVALID_FIELD"
        assert refused(lambda: collection(sf, [lead_update(lead, Leadscore_Score__c=5)]))[0]["errorCode"] == \
            "INVALID_FIELD"
        emu.grant_field_access("Lead.Leadscore_Score__c", editable=False)
        field = {f["name"]: f for f in sf.Lead.describe()["fields"]}["Leadscore_Score__c"]
        assert field["updateable"] is False
        result = collection(sf, [lead_update(lead, Leadscore_Score__c=5)])[0]
        assert result["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
        emu.grant_field_access("Lead.Leadscore_Score__c")
        assert collection(sf, [lead_update(lead, Leadscore_Score__c=5)])[0]["success"]


# --- the Python handle ------------------------------------------------------------------------------------


def test_convert_lead_creates_contact_and_blocks_updates(fresh):
    emu, sf = fresh
    lead_id = live_leads(sf)[0]["Id"]
    lead = emu.record("Lead", lead_id)
    contact_id = emu.convert_lead(lead_id)
    converted = emu.record("Lead", lead_id)
    assert converted["IsConverted"] is True and converted["ConvertedContactId"] == contact_id
    assert converted["ConvertedDate"] and converted["Status"] == "Closed - Converted"
    contact = sf.Contact.get(contact_id)
    assert (contact["Email"], contact["LastName"], contact["Title"]) == (lead["Email"], lead["LastName"], lead["Title"])
    body = refused(lambda: sf.Lead.update(lead_id, {"Title": "after"}))
    assert body == [{"message": "cannot reference converted lead", "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD",
                     "fields": []}]
    assert sf.query(f"SELECT COUNT() FROM Task WHERE WhoId = '{lead_id}'")["totalSize"] == 0  # moved to the Contact


def test_update_record_is_a_user_edit_stamped_with_the_org_clock():
    clock = FakeClock(datetime(2026, 11, 10, 9, 30, tzinfo=timezone.utc).timestamp())  # after the seeded data
    with SalesforceEmulator(clock=clock) as emu:
        lead = emu.seed(3, as_of=AS_OF)[0]
        before = emu.record("Lead", lead)
        emu.update_record("Lead", lead, {"Title": "Edited"})
        after = emu.record("Lead", lead)
        assert after["Title"] == "Edited" and emu.field_writes() == {}
        assert after["LastModifiedDate"] == after["SystemModstamp"] == "2026-11-10T09:30:00.000+0000"
        assert before["SystemModstamp"] < after["SystemModstamp"]
        with pytest.raises(ValueError, match="ahead of the emulator's clock"):
            emu.seed(3, seed=99, as_of=datetime(2026, 11, 11, tzinfo=timezone.utc))
        with pytest.raises(ValueError):
            emu.update_record("Lead", lead, {"IsConverted": True})


def test_seed_is_deterministic_and_salesforce_shaped():
    with SalesforceEmulator() as one, SalesforceEmulator() as two:
        first, second = one.seed(200, seed=11, as_of=AS_OF), two.seed(200, seed=11, as_of=AS_OF)
        assert first == second and all(normalise(i) == i and i.startswith("00Q") for i in first)
        assert [one.record("Lead", i) for i in first[:20]] == [two.record("Lead", i) for i in first[:20]]
        sf = sf_for(one)
        leads = sf.query_all("SELECT Id, IsConverted, ConvertedContactId, ConvertedOpportunityId, CreatedDate, "
                             "LastModifiedDate, SystemModstamp, Budget__c FROM Lead")["records"]
        converted = [r for r in leads if r["IsConverted"]]
        assert 8 <= len(converted) <= 35 and all(r["ConvertedContactId"].startswith("003") for r in converted)
        assert any(r["ConvertedOpportunityId"] for r in converted)
        won = sf.query("SELECT Id, IsWon, StageName FROM Opportunity")["records"]
        assert won and all(o["IsWon"] and o["StageName"] == "Closed Won" for o in won)
        assert len({r["LastModifiedDate"] for r in leads}) == len(leads)
        assert len({r["SystemModstamp"] for r in leads}) == len(leads)
        assert all(r["CreatedDate"] <= r["LastModifiedDate"] <= r["SystemModstamp"] <= "2026-11-01T00:00:00.000+0000"
                   for r in leads)
        assert any(r["Budget__c"] for r in leads)
        subtypes = {r["TaskSubtype"] for r in sf.query_all("SELECT TaskSubtype FROM Task")["records"]}
        assert subtypes == {"Email", "Call"}
        calls = sf.query("SELECT CallType, CallDurationInSeconds FROM Task WHERE TaskSubtype = 'Call' LIMIT 5")
        assert all(r["CallType"] in ("Inbound", "Outbound") and r["CallDurationInSeconds"] > 0 for r in calls["records"])
        statuses = {r["Status"] for r in sf.query_all("SELECT Status FROM CampaignMember")["records"]}
        assert {"Registered", "Attended"} <= statuses
        types = {r["Type"] for r in sf.query_all("SELECT Type FROM Campaign")["records"]}
        assert {"Webinar", "Event"} <= types
        replies = sf.query_all("SELECT ActivityId, Incoming FROM EmailMessage")["records"]
        assert replies and all(r["Incoming"] and r["ActivityId"].startswith("00T") for r in replies)
        assert sf.query("SELECT COUNT() FROM Event")["totalSize"] > 0


def test_ids_are_18_character_salesforce_ids():
    assert to18("001D000000ISUr3") == "001D000000ISUr3IAH"  # the guide's example Account id
    assert normalise("001D000000ISUr3") == "001D000000ISUr3IAH"
    assert normalise("not an id") is None


# --- faults and the request log -------------------------------------------------------------------------


def test_error_rate_one_answers_only_fault_statuses_and_applies_nothing(fresh):
    emu, sf = fresh
    lead = live_leads(sf)[0]["Id"]
    used = emu.api_usage()
    emu.set_faults(error_rate=1.0, seed=1)
    statuses = set()
    for _ in range(12):
        response = sf.session.patch(f"{emu.instance_url}/services/data/v60.0/composite/sobjects",
                                    json={"records": [lead_update(lead, Title="faulted")]},
                                    headers={"Authorization": f"Bearer {sf.session_id}"})
        statuses.add(response.status_code)
    assert statuses <= {500, 502, 503} and len(statuses) > 1
    assert emu.record("Lead", lead)["Title"] != "faulted" and emu.api_usage() == used
    emu.set_faults()
    assert collection(sf, [lead_update(lead, Title="healthy")])[0]["success"]


def test_drop_rate_one_closes_connections_without_answering(fresh):
    emu, sf = fresh
    emu.set_faults(drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        sf.query("SELECT Id FROM Lead LIMIT 1")
    assert emu.requests()[-1].status == 0
    emu.set_faults()
    assert sf.query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1


def test_request_log_counts_by_endpoint_family(fresh):
    emu, sf = fresh
    emu.seed(60, seed=4, as_of=AS_OF)
    emu.reset_log()
    sf.query_all("SELECT Id FROM Task", headers={"Sforce-Query-Options": "batchSize=200"})
    sf.Lead.describe()
    sf.limits()
    sf.toolingexecute("query", params={"q": "SELECT Id FROM CustomField"})
    collection(sf, [lead_update(live_leads(sf)[0]["Id"], Title="x")])
    password_login(emu)
    counts = emu.call_counts()
    assert counts["query"] == 2 and counts["queryMore"] >= 1
    assert counts["describe"] == counts["limits"] == counts["tooling.query"] == counts["composite.sobjects"] == 1
    assert counts["oauth.token"] == 1
    logged = emu.requests()[-1]
    assert (logged.method, logged.path, logged.status, logged.endpoint) == ("POST", TOKEN, 200, "oauth.token")


def test_serve_forever_prints_how_to_connect(monkeypatch, capsys):
    from leadscore.connectors.salesforce.emulator import cli

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_wait_forever", interrupted)
    cli.serve_forever(port=0, contacts=5, seed=7)
    out = capsys.readouterr().out
    assert "serving 5 leads" in out and "https://localhost:" in out and "CA bundle:" in out
    assert "client id:" in out and "BEGIN PRIVATE KEY" in out


def test_soql_offset_and_date_literals_use_the_org_clock():
    clock = FakeClock(datetime(2026, 11, 10, 12, tzinfo=timezone.utc).timestamp())
    with SalesforceEmulator(clock=clock) as emu:
        emu.seed(30, as_of=AS_OF)
        today = emu.create_record("Lead", {"LastName": "Today", "Company": "Now Inc"})
        sf = sf_for(emu)
        assert [r["Id"] for r in sf.query("SELECT Id FROM Lead WHERE CreatedDate = TODAY")["records"]] == [today]
        recent = sf.query("SELECT COUNT() FROM Lead WHERE LastModifiedDate = LAST_N_DAYS:30")["totalSize"]
        explicit = sf.query("SELECT COUNT() FROM Lead WHERE LastModifiedDate >= 2026-10-11T00:00:00Z")["totalSize"]
        assert recent == explicit > 1
        ordered = [r["Id"] for r in sf.query("SELECT Id FROM Lead ORDER BY Id")["records"]]
        assert [r["Id"] for r in sf.query("SELECT Id FROM Lead ORDER BY Id LIMIT 5 OFFSET 10")["records"]] == \
            ordered[10:15]
        assert refused(lambda: sf.query("SELECT Id FROM Lead OFFSET 2001"))[0]["errorCode"] == \
            "NUMBER_OUTSIDE_VALID_RANGE"


@pytest.mark.slow
def test_large_org_pages_by_2000_and_bulk_counts_batches():
    with SalesforceEmulator() as emu:
        ids = emu.seed(2_600, seed=5, as_of=AS_OF)
        sf = sf_for(emu)
        first = sf.query("SELECT Id, Title FROM Lead")
        assert len(first["records"]) == 2000 and first["nextRecordsUrl"].endswith("-2000")
        assert len(sf.query_all("SELECT Id FROM Lead")["records"]) == 2_600
        open_leads = [r["Id"] for r in live_leads(sf)]
        [outcome] = sf.bulk2.Lead.update(records=[{"Id": i, "Title": "Bulk"} for i in open_leads], wait=0.01)
        assert outcome["numberRecordsProcessed"] == len(open_leads) and outcome["numberRecordsFailed"] == 0
        assert sf.limits()["DailyBulkApiBatches"]["Remaining"] == 15_000 - 1
        stamps = {emu.record("Lead", i)["SystemModstamp"] for i in open_leads}
        assert len(stamps) == 1  # one chunk of up to 10,000 records, one transaction
        assert len(ids) == 2_600


def test_revoked_credentials_no_longer_log_in_but_live_tokens_work(fresh):
    emu, sf = fresh
    emu.revoke_credentials()
    assert password_login(emu).json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    jwt_answer = http_for(emu).post(emu.login_url + TOKEN, data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": _assertion(emu)})
    assert jwt_answer.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 40
