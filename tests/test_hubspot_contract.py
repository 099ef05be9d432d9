"""The HubSpot contract check itself (tests/hubspot_contract.py): that it catches what it must,
lets through only what GAPS lists, and that a whole connector run against the emulator meets
HubSpot's OpenAPI documents. Skipped where ../shared/specs/hubspot (or openapi-core) is absent;
the session-wide check in tests/conftest.py skips alike."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadscore.connectors.emulation import Answer
from tests import hubspot_contract
from tests.hubspot_contract import GAPS, SPECS, ContractChecker

needs_specs = pytest.mark.skipif(hubspot_contract.available() is not None,
                                 reason=hubspot_contract.available() or "")

AUTH = {"Authorization": "Bearer pat-x", "Content-Type": "application/json"}
STARTED = {"status": "COMPLETE", "startedAt": "2026-11-01T00:00:00.000Z", "completedAt": "2026-11-01T00:00:00.100Z"}
CONTACT = {"id": "101", "properties": {"email": "a@b.c"}, "createdAt": "2026-11-01T00:00:00.000Z",
           "updatedAt": "2026-11-01T00:00:00.000Z", "archived": False}
ERROR = {"status": "error", "message": "bad", "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
         "category": "VALIDATION_ERROR"}


def exchange(checker: ContractChecker, method: str, target: str, body: Any = None, *, status: int = 200,
             answer: Any = None, headers: dict[str, str] | None = None) -> list[str]:
    """Observe one request and its answer; the violations it added."""
    before = set(checker.violations)
    raw = json.dumps(body).encode() if body is not None else b""
    reply = answer if isinstance(answer, Answer) else Answer(status, answer)
    checker.observe(method, target, headers if headers is not None else AUTH, raw, reply)
    return [str(v) for k, v in checker.violations.items() if k not in before]


@needs_specs
def test_every_gap_is_still_in_the_documents_and_has_a_reason() -> None:
    checker = ContractChecker()
    assert checker.stale_gaps() == []
    assert len({g.id for g in GAPS}) == len(GAPS)
    assert all(g.spec and g.documentation for g in GAPS)
    listed = {g.id for g in GAPS if g.listed}  # the README's known gaps, each one entry
    assert listed == {"search-after-sorts-required", "search-sorts-are-objects",
                      "batch-read-properties-with-history-required", "batch-inputs-max-items", "error-bodies-typed-any"}


@needs_specs
def test_deals_may_borrow_the_contacts_document() -> None:
    """The v3 object documents differ in paths, descriptions and examples only, which is what
    validating deal calls against contacts.json relies on."""
    def shapes(name: str) -> Any:
        def strip(node: Any) -> Any:
            if isinstance(node, dict):
                return {k: strip(v) for k, v in node.items() if k not in ("description", "example", "title")}
            if isinstance(node, list):
                return [strip(v) for v in node]
            return node
        return strip(json.loads((SPECS / f"{name}.json").read_text())["components"]["schemas"])

    contacts = shapes("contacts")
    for name in ("companies", "calls", "emails", "meetings", "notes", "tasks"):
        other = shapes(name)
        assert {k: v for k, v in other.items() if k in contacts} == {k: v for k, v in contacts.items() if k in other}, name


@needs_specs
def test_the_documented_search_validates_and_a_wrong_one_does_not() -> None:
    checker = ContractChecker()
    page = {"total": 1, "results": [CONTACT]}
    assert exchange(checker, "POST", "/crm/v3/objects/contacts/search",
                    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "a@b.c"}]}],
                     "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}], "limit": 200,
                     "properties": ["email"]}, answer=page) == []
    assert exchange(checker, "POST", "/crm/v3/objects/contacts/search", {}, answer=page) == []  # "{}" is documented
    assert exchange(checker, "POST", "/crm/v3/objects/deals/search", {"query": "x"}, answer=page) == []
    found = exchange(checker, "POST", "/crm/v3/objects/contacts/search",
                     {"sorts": [{"propertyName": "email", "direction": "UP"}],
                      "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQUALS"}]}]}, answer=page)
    assert any("sorts[0]" in v for v in found) and any("EQUALS" in v for v in found)
    assert any("'total' is a required property" in v
               for v in exchange(checker, "POST", "/crm/v3/objects/contacts/search", {}, answer={"results": []}))


@needs_specs
def test_requests_the_emulator_refuses_are_not_violations_but_accepted_ones_are() -> None:
    checker = ContractChecker()
    oversized = {"inputs": [{"id": str(i)} for i in range(101)], "properties": ["email"]}
    assert exchange(checker, "POST", "/crm/v3/objects/contacts/batch/read", oversized, status=400, answer=ERROR) == []
    assert checker.refused == 1
    accepted = exchange(checker, "POST", "/crm/v3/objects/contacts/batch/read", oversized,
                        answer={**STARTED, "results": [CONTACT]})
    assert any("inputs" in v and "too long" in v for v in accepted)
    # 1,000 on a v4 association read is allowed; 1,001 is not.
    fine = {"inputs": [{"id": str(i)} for i in range(1000)]}
    assert exchange(checker, "POST", "/crm/v4/associations/contacts/emails/batch/read", fine,
                    answer={**STARTED, "results": []}) == []


@needs_specs
def test_query_parameters_are_typed_and_auth_is_a_bearer_token() -> None:
    checker = ContractChecker()
    page = {"results": [CONTACT]}
    assert exchange(checker, "GET", "/crm/v3/objects/contacts?limit=10&archived=false&properties=email&properties=city",
                    answer=page) == []
    assert any("archived" in v for v in exchange(checker, "GET", "/crm/v3/objects/contacts?archived=maybe", answer=page))
    assert any("limit" in v for v in exchange(checker, "GET", "/crm/v3/objects/contacts?limit=ten", answer=page))
    assert any(v.startswith("request") and "security" in v
               for v in exchange(checker, "GET", "/crm/v3/objects/contacts", headers={}, answer=page))
    unauthorized = {**ERROR, "category": "INVALID_AUTHENTICATION"}
    assert exchange(checker, "GET", "/crm/v3/objects/contacts", headers={}, status=401, answer=unauthorized) == []


@needs_specs
def test_error_bodies_are_held_to_the_error_schema() -> None:
    checker = ContractChecker()
    assert exchange(checker, "GET", "/crm/v3/objects/contacts/1", status=404, answer={**ERROR, "category": "OBJECT_NOT_FOUND"}) == []
    missing = exchange(checker, "GET", "/crm/v3/objects/contacts/1", status=404, answer={"status": "error", "message": "x"})
    assert any("correlationId" in v for v in missing) and any("category" in v for v in missing)
    rate = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT",
            "correlationId": ERROR["correlationId"], "policyName": "TEN_SECONDLY_ROLLING"}
    assert exchange(checker, "GET", "/crm/v3/objects/contacts", status=429, answer=rate) == []  # as documented
    page = Answer(502, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"})
    assert exchange(checker, "GET", "/crm/v3/objects/contacts", answer=page) == []
    assert exchange(checker, "POST", "/oauth/v1/token", answer={"access_token": "x"}) == []
    assert checker.uncovered["POST /oauth/v1/token"] == 1


@needs_specs
def test_a_whole_connector_run_meets_the_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """setup (and a PATCH of leadscore's own stage options), a backfill with engagement, a write
    with lifecycle, an incremental sync, outcomes (deals): every exchange validated, none off."""
    from datetime import datetime, timezone

    from leadscore.agent.core.contract import OUTCOMES, Cursor, PullNeeds, ScoreUpdate, WriteSpec
    from leadscore.connectors.hubspot import HubSpotConnector
    from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits

    checker = ContractChecker()
    through = HubSpotEmulator.dispatch
    targets: list[str] = []

    def dispatch(emulator, method, target, headers, raw):  # noqa: ANN001, ANN202
        answer = through(emulator, method, target, headers, raw)
        checker.observe(method, target, headers, raw, answer)
        targets.append(target)
        return answer

    monkeypatch.setattr(HubSpotEmulator, "dispatch", dispatch)
    with HubSpotEmulator(limits=RateLimits(per_ten_seconds=100_000, daily=10_000_000, search_per_second=10_000)) as emu:
        emu.seed(150, as_of=datetime(2026, 11, 1, tzinfo=timezone.utc))
        connector = HubSpotConnector({"access_token": emu.token, "host": emu.base_url, "per_ten_seconds": 100_000,
                                      "search_per_second": 10_000, "lifecycle": {"MQL": "marketingqualifiedlead"},
                                      "write": {"grade": "leadscore_grade", "scored_at": "leadscore_scored_at"}})
        values = frozenset({"score", "stage", "reason", "grade", "scored_at"})
        connector.setup(WriteSpec(values, ["Cold", "MQL"]))
        connector.setup(WriteSpec(values, ["Cold", "Warm", "MQL"]))  # PATCHes its own options
        leads = []
        cursor = Cursor("contact", None)
        for batch in connector.pull(cursor, needs=None):
            leads.extend(batch.leads)
            cursor = batch.cursor
        now = datetime.now(timezone.utc)
        results = connector.write([ScoreUpdate(lead.id, "contact", {"score": 40, "stage": "MQL", "reason": "+40 Fit",
                                                                   "grade": "A1", "scored_at": now}) for lead in leads])
        assert len(results) == 150 and all(r.ok for r in results)
        list(connector.pull(cursor, needs=PullNeeds(frozenset({"title"}), frozenset({"meeting"}))))
        assert connector.count(cursor) is not None
        assert any(b.outcomes for b in connector.pull_outcomes(Cursor(OUTCOMES, None), until=now))  # deals, searched
        connector.close()
    assert checker.violations == {}, "\n".join(map(str, checker.violations.values()))
    documents = set(checker.by_document)
    assert {"contacts", "properties", "associations", "emails", "calls", "meetings"} <= documents
    assert checker.requests > 20 and checker.responses == checker.requests
    # `archived` defaults to false; the SDK would write Python's "False" for a documented boolean.
    assert not [t for t in targets if "archived=" in t]


def test_without_the_documents_the_check_says_why_it_skips(tmp_path) -> None:  # noqa: ANN001
    assert hubspot_contract.available(tmp_path) == f"HubSpot OpenAPI documents not found at {tmp_path}"
