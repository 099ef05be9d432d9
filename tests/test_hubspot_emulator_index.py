"""The HubSpot emulator's indexes (issue 16: an emulator that scales) answer every listing and
search exactly as the full scan they replace: random searches and listings over a world with
edits, deletions, restores and an import sharing one stamp, with index blocks of 3 ids so every
request crosses many of them."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from typing import Any

import pytest

from leadscore.connectors.hubspot.emulator import HubSpotEmulator
from leadscore.connectors.hubspot.emulator import index as index_module
from leadscore.connectors.hubspot.emulator import search as search_module
from leadscore.connectors.hubspot.emulator.api import Call
from leadscore.connectors.hubspot.emulator.errors import ApiError
from leadscore.connectors.hubspot.emulator.schema import resolve_object_type

PROPERTIES = ["lastmodifieddate", "hs_lastmodifieddate", "hs_object_id", "createdate"]
OPERATORS = ["GT", "GTE", "LT", "LTE", "EQ", "BETWEEN", "NEQ"]


@pytest.fixture()
def world(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(index_module, "BLOCK", 3)
    emulator = HubSpotEmulator().start()
    emulator.seed(300, seed=3, as_of=datetime(2026, 1, 1, tzinfo=timezone.utc), accounts=True)
    rng = random.Random(1)
    ids = list(emulator.contacts())
    for record_id in rng.sample(ids, 40):
        emulator.update_contact(record_id, {"jobtitle": "x"})
    for record_id in rng.sample(ids, 20):
        emulator.delete_contact(record_id)
    for record_id in [i for i in ids if i not in emulator.contacts()][:5]:
        emulator.restore_contact(record_id)
    emulator.import_contacts([{"email": f"imp{i}@example.com"} for i in range(30)])  # one stamp for all
    yield emulator
    emulator.stop()


def _answer(store: Any, kind: Any, body: dict[str, Any]) -> Any:
    store.search_cache.clear()
    try:
        return search_module.search(store, kind, body)
    except ApiError as exc:
        return ("error", exc.status, json.dumps(exc.body.get("message")))


def test_indexed_search_answers_as_the_scan_does(world: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    store = world._store
    kind = resolve_object_type("contacts")
    records = list(store._records["contacts"].values())
    stamps = sorted(int(store._comparable("contacts", "lastmodifieddate", r.properties["lastmodifieddate"])) for r in records)
    ids = sorted(int(r.id) for r in records)
    rng = random.Random(7)
    indexed = search_module._indexed
    used = 0
    for _ in range(800):
        filters = []
        for _ in range(rng.randint(0, 3)):
            prop, operator = rng.choice(PROPERTIES), rng.choice(OPERATORS)
            source = ids if prop == "hs_object_id" else stamps
            value = lambda: str(rng.choice(source) + rng.choice([-1, 0, 0, 1]))  # noqa: E731
            found: dict[str, Any] = {"propertyName": prop, "operator": operator, "value": value()}
            if operator == "BETWEEN":
                found["highValue"] = value()
            filters.append(found)
        body: dict[str, Any] = {"limit": rng.choice([0, 1, 5, 10, 200]), "after": rng.choice([None, 0, 3, 17, 100])}
        if filters:
            body["filterGroups"] = [{"filters": filters}]
        if rng.random() < 0.6:
            body["sorts"] = [{"propertyName": rng.choice(PROPERTIES + ["email"]),
                              "direction": rng.choice(["ASCENDING", "DESCENDING"])}]
        fast = _answer(store, kind, body)
        monkeypatch.setattr(search_module, "_indexed", lambda *args, **kwargs: None)
        scanned = _answer(store, kind, body)
        monkeypatch.setattr(search_module, "_indexed", indexed)
        assert fast == scanned, body
        if not isinstance(fast, tuple):
            store.search_cache.clear()
            predicate = search_module._predicate(store, kind, body)
            order = search_module._order(store, kind, body.get("sorts"))
            used += indexed(store, kind, body, predicate, order, int(body.get("after") or 0), body["limit"]) is not None
    assert used > 200  # the indexes answered a good share, not only the fallback


def test_indexed_listing_pages_as_the_scan_does(world: HubSpotEmulator) -> None:
    store = world._store
    kind = resolve_object_type("contacts")
    ids = sorted(int(r.id) for r in store.records("contacts"))
    for archived in (False, True):
        for after in [None, "0", str(ids[5]), str(ids[100]), str(ids[-1]), str(ids[-1] + 5)]:
            for limit in (1, 10, 100):
                query = {"limit": [str(limit)], **({"after": [after]} if after else {}),
                         **({"archived": ["true"]} if archived else {})}
                answer = world._api.list_objects(kind, Call("GET", "/crm/v3/objects/contacts", query, None)).body
                records = sorted(store.records("contacts", archived=archived), key=lambda r: int(r.id))
                if after is not None:
                    records = [r for r in records if int(r.id) >= int(after)]
                assert [r["id"] for r in answer["results"]] == [r.id for r in records[:limit]]
                assert ("paging" in answer) == (len(records) > limit)
                if len(records) > limit:
                    assert answer["paging"]["next"]["after"] == records[limit].id
