"""A model's own fields in Salesforce (``ScoreUpdate.fields``, ``WriteSpec.field_sets``), against the
emulator over TLS with simple-salesforce: ``setup`` creates them beside the ``write`` map's, on Lead,
Contact and Account, with the same types, owner mark and grants, idempotently; a batch mixing updates
with and without their own fields lands each on its own fields and nothing else, through sObject
Collections and through Bulk API 2.0; a field leadscore does not own is never written."""

from __future__ import annotations

from typing import Any

import pytest

from leadscore.agent.core.contract import ScoreUpdate, WriteSpec, WriteStatus
from leadscore.agent.core.errors import ConfigError
from leadscore.connectors.salesforce.config import MANAGED_DESCRIPTION
from leadscore.connectors.salesforce.emulator.harness import STAGES, WRITE_FIELDS, SalesforceHarness
from leadscore.connectors.salesforce.setup import PERMISSION_SET

pytestmark = pytest.mark.network

#: A second model's own fields.
MODEL = {"score": "Churn_Score__c", "stage": "Churn_Stage__c", "reason": "Churn_Reason__c"}
SPEC = WriteSpec(frozenset(WRITE_FIELDS), STAGES, reason_max_length=2000, accounts=True, field_sets=[MODEL])
OBJECTS = ("Lead", "Contact", "Account")
SYSTEM = {"LastModifiedDate", "LastModifiedById", "SystemModstamp"}


@pytest.fixture(scope="module")
def org():
    """One seeded B2B org, set up once with the model's fields; tests use disjoint records."""
    harness = SalesforceHarness(accounts=True)
    people = harness.emulator.seed(60, seed=11, accounts=True)
    report = harness.connector().setup(SPEC)
    pools = {
        "lead": [i for i in people if i.startswith("00Q") and not harness.emulator.record("Lead", i)["IsConverted"]]
        + [harness.emulator.create_record("Lead", {"LastName": f"Extra {n}", "Company": f"Extra {n} Ltd"})
           for n in range(30)],
        "contact": [i for i in people if i.startswith("003")],
        "account": sorted(harness.emulator.records("Account")),
    }
    yield harness, report, pools
    harness.close()


def _take(pools: dict[str, list[str]], kind: str, n: int) -> list[str]:
    taken, pools[kind][:] = pools[kind][:n], pools[kind][n:]
    assert len(taken) == n, f"the seeded org ran out of {kind}s"
    return taken


def _sobject(kind: str) -> str:
    return {"lead": "Lead", "contact": "Contact", "account": "Account"}[kind]


def test_setup_creates_the_model_fields_beside_the_write_maps_on_every_object_idempotently(org) -> None:
    harness, first, _ = org
    wanted = {f"{o}.{api}" for o in OBJECTS for api in [*WRITE_FIELDS.values(), *MODEL.values()]}
    assert set(first.created) == wanted and not first.todo

    harness.emulator.reset_log()
    again = harness.connector().setup(SPEC)
    assert not again.created and set(again.existing) == wanted and not again.todo
    counts = harness.emulator.call_counts()
    assert not counts["tooling.customfield"] and not counts["sobject.create"] and not counts["sobject.update"]

    connector = harness.connector()
    sf = connector.client.sf
    for sobject in OBJECTS:
        described = {f["name"]: f for f in connector._fields.describe(sobject)["fields"]}
        score, stage, reason = (described[MODEL[v]] for v in ("score", "stage", "reason"))
        assert score["type"] == described[WRITE_FIELDS["score"]]["type"] == "double" and score["updateable"]
        assert stage["type"] == "picklist" and stage["restrictedPicklist"] and stage["updateable"]
        assert [v["value"] for v in stage["picklistValues"]] == STAGES
        assert reason["type"] == "textarea" and reason["length"] >= 2000 and reason["updateable"]
    listing = sf.toolingexecute("query", params={"q": "SELECT DeveloperName, TableEnumOrId, Description FROM CustomField "
                                                      "WHERE DeveloperName LIKE 'Churn%'"})["records"]
    assert len(listing) == 9 and all(r["Description"].startswith(MANAGED_DESCRIPTION) for r in listing)
    [ps] = sf.query(f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'")["records"]
    granted = sf.query(f"SELECT Field, PermissionsEdit FROM FieldPermissions WHERE ParentId = '{ps['Id']}'")["records"]
    assert {f"{o}.{api}" for o in OBJECTS for api in MODEL.values()} <= {r["Field"] for r in granted if r["PermissionsEdit"]}


@pytest.mark.parametrize("path", ["collections", "bulk"])
def test_a_mixed_batch_lands_each_update_on_its_own_fields_and_nothing_else(org, path: str) -> None:
    harness, _, pools = org
    connector = harness.connector(bulk_threshold=2 if path == "bulk" else 2000)
    ids = {kind: _take(pools, kind, 4) for kind in ("lead", "contact", "account")}
    updates, own = [], set()
    for kind, records in ids.items():
        for n, record_id in enumerate(records):
            values = {"score": 40 + n, "stage": "MQL", "reason": f"+{n} {kind}"}
            if n % 2:
                updates.append(ScoreUpdate(record_id, kind, values, fields=MODEL))
                own.add(record_id)
            else:
                updates.append(ScoreUpdate(record_id, kind, values))
    before = {u.record_id: harness.emulator.record(_sobject(u.object_type), u.record_id) for u in updates}
    counted = harness.emulator.field_writes()

    results = connector.write(updates)
    assert [r.record_id for r in results] == [u.record_id for u in updates] and all(r.ok for r in results)
    calls = connector.api_calls()
    if path == "bulk":  # one job per object and field map
        assert calls["bulk2.update"] == 6 and "composite.sobjects" not in calls
    else:
        assert calls["composite.sobjects"] == 1 and "bulk2.update" not in calls
    for update in updates:
        after = harness.emulator.record(_sobject(update.object_type), update.record_id)
        fields = MODEL if update.record_id in own else WRITE_FIELDS
        other = WRITE_FIELDS if update.record_id in own else MODEL
        assert int(float(after[fields["score"]])) == update.values["score"]
        assert after[fields["stage"]] == "MQL" and after[fields["reason"]] == update.values["reason"]
        assert all(after[api] == before[update.record_id][api] for api in other.values())
        changed = {k for k in after if after[k] != before[update.record_id][k]}
        assert changed <= {*fields.values(), *SYSTEM}
    written = {name for name, count in (harness.emulator.field_writes() - counted).items() if count}
    assert written == {f"{o}.{api}" for o in OBJECTS for api in [*WRITE_FIELDS.values(), *MODEL.values()]}

    # A later update carries only what changed: the rest of the model's fields are left as they are,
    # and None clears a field on either path.
    partial = [ScoreUpdate(u.record_id, u.object_type, {"score": 7, "reason": None}, fields=MODEL)
               for u in updates if u.record_id in own]
    partial.append(ScoreUpdate(updates[0].record_id, updates[0].object_type, {"score": 8}))
    assert all(r.ok for r in connector.write(partial))
    for update in partial[:-1]:
        after = harness.emulator.record(_sobject(update.object_type), update.record_id)
        assert int(float(after[MODEL["score"]])) == 7 and after[MODEL["reason"]] is None
        assert after[MODEL["stage"]] == "MQL"
    assert int(float(harness.emulator.record("Lead", updates[0].record_id)[WRITE_FIELDS["score"]])) == 8


def test_one_models_updates_share_a_bulk_job_whatever_values_each_carries(org) -> None:
    harness, _, pools = org
    connector = harness.connector(bulk_threshold=2)
    leads = _take(pools, "lead", 3)
    updates = [ScoreUpdate(leads[0], "lead", {"score": 1}, fields={"score": MODEL["score"]}),
               ScoreUpdate(leads[1], "lead", {"stage": "Warm"}, fields=MODEL),
               ScoreUpdate(leads[2], "lead", {"score": 3, "reason": "+3"}, fields={"score": MODEL["score"],
                                                                                   "reason": MODEL["reason"]})]
    assert all(r.ok for r in connector.write(updates))
    assert connector.api_calls()["bulk2.update"] == 1
    assert harness.emulator.record("Lead", leads[1])[MODEL["stage"]] == "Warm"
    assert harness.emulator.record("Lead", leads[0])[MODEL["stage"]] is None


def test_a_lead_converted_since_it_was_pulled_takes_its_own_fields_on_its_contact(org) -> None:
    harness, _, pools = org
    [lead] = _take(pools, "lead", 1)
    contact = harness.emulator.convert_lead(lead)
    before = harness.emulator.record("Contact", contact)
    [result] = harness.connector().write([ScoreUpdate(lead, "lead", {"score": 77, "stage": "SQL"}, fields=MODEL)])
    assert result.ok and result.written_to == contact and result.written_to_type == "contact"
    after = harness.emulator.record("Contact", contact)
    assert int(float(after[MODEL["score"]])) == 77 and after[MODEL["stage"]] == "SQL"
    assert after[WRITE_FIELDS["score"]] == before[WRITE_FIELDS["score"]]


def test_lead_status_follows_the_stage_whichever_field_holds_it(org) -> None:
    harness, _, pools = org
    lead, other = _take(pools, "lead", 2)
    for record_id in (lead, other):
        harness.emulator.update_record("Lead", record_id, {"Status": "Open - Not Contacted"})
    connector = harness.connector(lead_status={"MQL": "Working - Contacted"})
    results = connector.write([ScoreUpdate(lead, "lead", {"stage": "MQL"}, fields=MODEL),
                               ScoreUpdate(other, "lead", {"stage": "Warm"}, fields=MODEL)])
    assert all(r.ok for r in results)
    assert harness.emulator.record("Lead", lead)["Status"] == "Working - Contacted"
    assert harness.emulator.record("Lead", other)["Status"] == "Open - Not Contacted"
    assert harness.emulator.record("Lead", lead)[MODEL["stage"]] == "MQL"


def test_model_fields_are_checked_once_per_connector(org) -> None:
    harness, _, pools = org
    leads = _take(pools, "lead", 2)
    connector = harness.connector()
    harness.emulator.reset_log()
    assert connector.write([ScoreUpdate(leads[0], "lead", {"score": 1}, fields=MODEL)])[0].ok
    assert connector.write([ScoreUpdate(leads[1], "lead", {"score": 2}, fields=MODEL)])[0].ok
    assert harness.emulator.call_counts()["tooling.query"] == 1


def _refused(harness: SalesforceHarness, connector: Any, updates: list[ScoreUpdate], match: str) -> None:
    harness.emulator.reset_log()
    writes = harness.emulator.field_writes()
    with pytest.raises(ConfigError, match=match):
        connector.write(updates)
    assert harness.emulator.field_writes() == writes
    counts = harness.emulator.call_counts()
    assert not counts["composite.sobjects"] and not counts["bulk2.update"]


def test_a_field_leadscore_does_not_own_is_never_written(org) -> None:
    harness, _, pools = org
    lead, plain = _take(pools, "lead", 2)
    [account] = _take(pools, "account", 1)
    # Someone else's field (the org's BANT Budget__c), on Leads; the whole batch is refused, as an
    # unowned write-map field refuses it, even the update that names no field of its own.
    theirs = {"score": "Budget__c"}
    for connector in (harness.connector(), harness.connector(bulk_threshold=1)):
        _refused(harness, connector, [ScoreUpdate(plain, "lead", {"score": 5}),
                                      ScoreUpdate(lead, "lead", {"score": 5}, fields=theirs)],
                 r"model field Budget__c \(score\): Lead\.Budget__c already exists and leadscore did not create it")
    # A field setup never made is not written either, on Accounts as on people.
    _refused(harness, harness.connector(), [ScoreUpdate(account, "account", {"score": 5}, fields={"score": "Nowhere__c"})],
             r"model field Nowhere__c \(score\): Account\.Nowhere__c does not exist.*setup")
    sf = harness.connector().client.sf
    sf.toolingexecute("sobjects/CustomField", method="POST", data={
        "FullName": "Account.Their_Score__c", "Metadata": {"label": "Theirs", "type": "Number", "precision": 18, "scale": 0}})
    harness.emulator.grant_field_access("Account.Their_Score__c")
    _refused(harness, harness.connector(), [ScoreUpdate(account, "account", {"score": 5}, fields={"score": "Their_Score__c"})],
             r"Account\.Their_Score__c already exists and leadscore did not create it")
    # ... unless the admin adopts it by name.
    adopting = harness.connector(adopt=["Their_Score__c"])
    assert adopting.write([ScoreUpdate(account, "account", {"score": 6}, fields={"score": "Their_Score__c"})])[0].ok
    assert int(float(harness.emulator.record("Account", account)["Their_Score__c"])) == 6


@pytest.mark.parametrize("name", ["Bad Name__c", "Title", "X__c FROM Lead--", "Two__Under__Scores__c"])
def test_a_model_field_name_outside_the_api_name_grammar_never_reaches_a_request(org, name: str) -> None:
    harness, _, pools = org
    [lead] = _take(pools, "lead", 1)
    connector = harness.connector()
    connector.client.sf  # logged in: the only requests after this would be the write's
    harness.emulator.reset_log()
    with pytest.raises(ConfigError, match=r"model field .* \(score\): .*(not a Salesforce API name|not a custom field)"):
        connector.write([ScoreUpdate(lead, "lead", {"score": 1}, fields={"score": name})])
    assert not sum(harness.emulator.call_counts().values())
    with pytest.raises(ConfigError, match=r"model field .* \(score\)"):
        connector.setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES, field_sets=[{"score": name}]))


def test_setup_refuses_a_model_field_it_did_not_create_before_changing_anything(org) -> None:
    harness, _, _ = org
    harness.emulator.reset_log()
    spec = WriteSpec(frozenset(WRITE_FIELDS), STAGES, field_sets=[{"score": "Fresh_Score__c", "reason": "Timeline__c"}])
    with pytest.raises(ConfigError, match=r"model field Timeline__c \(reason\): Lead\.Timeline__c already exists"):
        harness.connector().setup(spec)
    assert not harness.emulator.call_counts()["tooling.customfield"]
    with pytest.raises(ConfigError, match=r"Leadscore_Score__c is also connectors\.salesforce\.write\.score, for score"):
        harness.connector().setup(WriteSpec(frozenset(WRITE_FIELDS), STAGES, field_sets=[{"reason": "Leadscore_Score__c"}]))


def test_a_write_of_a_model_field_reports_per_record_errors_as_the_write_map_does(org) -> None:
    harness, _, pools = org
    leads = _take(pools, "lead", 3)
    harness.emulator.delete_record("Lead", leads[1])
    updates = [ScoreUpdate(i, "lead", {"stage": "Nope" if n == 2 else "Warm"}, fields=MODEL) for n, i in enumerate(leads)]
    verdicts = [[(r.status, r.error_code) for r in c.write(updates)]
                for c in (harness.connector(), harness.connector(bulk_threshold=1))]
    assert verdicts[0] == verdicts[1] == [(WriteStatus.OK, None), (WriteStatus.PERMANENT, "ENTITY_IS_DELETED"),
                                          (WriteStatus.PERMANENT, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")]
