"""The Salesforce emulator's indexes (issue 16: an emulator that scales) answer every query
exactly as the full evaluation they replace, and as the emulator answered before them.

A seeded org is edited (updates, deletions, restores, conversions, new records, activity moved
between people, many saves sharing one stamp), with index blocks of 3 keys so every walk
crosses many of them. Random SOQL queries - the connector's own shapes and others - run through
``/query`` and ``/queryAll`` with the indexes, with them bypassed (the full scan), and as the
emulator evaluated them before (every row rendered when the query ran); every page of the
answer, followed through its query locator, must be identical, including when records change
between a query and its later pages. The indexes kept in step with the edits must equal ones
built afresh.
"""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from leadscore.connectors.salesforce.emulator import SalesforceEmulator
from leadscore.connectors.salesforce.emulator import index as index_module
from leadscore.connectors.salesforce.emulator import seeding, soql, values
from leadscore.connectors.salesforce.emulator.api import Call, render_row, row_renderer
from leadscore.connectors.salesforce.emulator.errors import ApiError
from leadscore.connectors.salesforce.emulator.ids import IdFactory
from leadscore.connectors.salesforce.emulator.index import ReferenceIndex, SortedKeys, StampIndex

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
STAMPS = ["SystemModstamp", "LastModifiedDate", "CreatedDate"]
SELECTS = {
    "Lead": "Id, SystemModstamp, IsDeleted, CreatedDate, LastModifiedDate, Email, Title, Status, IsConverted, "
            "ConvertedContactId, LastActivityDate",
    "Task": "Id, WhoId, TaskSubtype, Subject, Status, ActivityDate, CreatedDate, SystemModstamp, IsDeleted",
    "Contact": "Id, AccountId, Email, SystemModstamp, LastModifiedDate, IsDeleted",
    "CampaignMember": "Id, LeadId, ContactId, CampaignId, Status, HasResponded, SystemModstamp",
}
REFERENCES = {"Lead": ["ConvertedContactId"], "Task": ["WhoId"], "Contact": ["AccountId"],
              "CampaignMember": ["LeadId", "ContactId", "CampaignId"]}
TEXT = {"Lead": ("Email", "Title", "Status"), "Task": ("Subject", "TaskSubtype", "Status"), "Contact": ("Email",),
        "CampaignMember": ("Status",)}
BATCH = {"Sforce-Query-Options": "batchSize=200"}


class Clock:
    def __init__(self, at: float) -> None:
        self.now = at

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def world(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(index_module, "BLOCK", 3)
    clock = Clock(datetime(2026, 11, 3, 9, tzinfo=timezone.utc).timestamp())
    emulator = SalesforceEmulator(clock=clock)
    emulator.seed(240, seed=5, as_of=AS_OF)
    emulator.clock = clock  # type: ignore[attr-defined]
    yield emulator


def _ids(emulator: SalesforceEmulator, sobject: str) -> list[str]:
    return list(emulator._store.records[sobject])


def _edit(emulator: SalesforceEmulator, rng: random.Random, count: int, steps: tuple[int, ...] = (1, 1, 60, 3600)) -> None:
    """Saves of every kind, most in the same second as the one before (equal stamps); the
    clock moves by one of ``steps`` seconds now and then."""
    clock = emulator.clock  # type: ignore[attr-defined]
    store = emulator._store
    leads, tasks = _ids(emulator, "Lead"), _ids(emulator, "Task")
    people = leads + _ids(emulator, "Contact")
    for _ in range(count):
        if rng.random() < 0.3:
            clock.now += rng.choice(steps)
        roll = rng.random()
        lead = store.get("Lead", rng.choice(leads), deleted=True)
        assert lead is not None
        if roll < 0.3 and not lead.deleted and not lead.values.get("IsConverted"):
            emulator.update_record("Lead", lead.id, {"Title": rng.choice(["CTO", "Analyst", None])})
        elif roll < 0.4 and not lead.deleted:
            emulator.delete_record("Lead", lead.id)
        elif roll < 0.5 and lead.deleted:
            emulator.undelete_record("Lead", lead.id)
        elif roll < 0.55 and not lead.deleted and not lead.values.get("IsConverted"):
            emulator.convert_lead(lead.id, opportunity={"StageName": "Closed Won"} if rng.random() < 0.5 else None)
        elif roll < 0.7:
            task = store.get("Task", rng.choice(tasks))
            if task is not None:
                changes: dict[str, Any] = {"Subject": f"Edited {rng.randint(0, 9)}"}
                if rng.random() < 0.5:
                    changes["WhoId"] = rng.choice(people)  # the activity moves to someone else
                emulator.update_record("Task", task.id, changes)
        elif roll < 0.8:
            task = store.get("Task", rng.choice(tasks))
            if task is not None:
                emulator.delete_record("Task", task.id)
        elif roll < 0.9:
            emulator.create_record("Task", {"WhoId": rng.choice(people), "Subject": "Call", "TaskSubtype": "Call",
                                            "Status": rng.choice(["Completed", "Not Started"]),
                                            "ActivityDate": values.date_of_ms(store.now_ms())})
        else:
            back = datetime.fromtimestamp(clock.now - rng.randint(0, 90 * 86400), tz=timezone.utc)
            if rng.random() < 0.5:  # on a day's edge, where date literals' ranges start and end
                day = clock.now - clock.now % 86400 - rng.choice([0, 86400, 2 * 86400])
                back = datetime.fromtimestamp(day + rng.choice([-1, 0, 0, 1]), tz=timezone.utc)
            emulator.create_record("Lead", {"LastName": "New", "Company": "Initech", "LastModifiedDate": back,
                                            "CreatedDate": back})


def _stamp(rng: random.Random, stamps: list[int]) -> str:
    ms = rng.choice(stamps) + rng.choice([-1000, 0, 0, 0, 1000])
    text = values.iso_ms(ms)
    return text.replace(".000+0000", "Z") if rng.random() < 0.5 else text


def _condition(rng: random.Random, emulator: SalesforceEmulator, sobject: str) -> str:
    store = emulator._store
    records = list(store.records[sobject].values())
    roll = rng.random()
    if roll < 0.45:
        name = rng.choice(STAMPS)
        stamps = [r.values[name] for r in records]
        op = rng.choice(["=", "<", "<=", ">", ">=", ">", "<=", "!="])
        if rng.random() < 0.1:
            return f"{name} {op} {rng.choice(['TODAY', 'YESTERDAY', 'LAST_N_DAYS:3', 'LAST_N_DAYS:40'])}"
        if rng.random() < 0.03:
            return f"{name} {rng.choice(['=', '!='])} null"
        return f"{name} {op} {_stamp(rng, stamps)}"
    if roll < 0.6:
        chosen = [r.id for r in rng.sample(records, min(len(records), rng.randint(1, 6)))]
        chosen = [i[:15] if rng.random() < 0.2 else i for i in chosen] + (["00Q5g000000ZZZZ"] if rng.random() < 0.2 else [])
        if len(chosen) == 1 and rng.random() < 0.5:
            return f"Id = '{chosen[0]}'"
        return "Id IN (" + ", ".join(f"'{i}'" for i in chosen) + ")"
    if roll < 0.78:
        name = rng.choice(REFERENCES[sobject])
        held = [r.values.get(name) for r in records if r.values.get(name)] or [store.org_id]
        chosen = rng.sample(held, min(len(held), rng.randint(1, 5)))
        if rng.random() < 0.05:
            return f"{name} IN ('{chosen[0]}', null)"
        if rng.random() < 0.05:
            return f"{name} = null"
        if len(chosen) == 1:
            return f"{name} = '{chosen[0]}'"
        return f"{name} IN (" + ", ".join(f"'{i}'" for i in chosen) + ")"
    if roll < 0.85:
        return f"IsDeleted = {rng.choice(['true', 'false'])}"
    name = rng.choice(TEXT[sobject])
    held = [str(r.values.get(name)) for r in records if r.values.get(name)] or ["x"]
    if rng.random() < 0.3:
        return f"{name} LIKE '{rng.choice(held)[:2]}%'"
    return f"{name} = '{rng.choice(held).replace(chr(39), '')}'"


def _query(rng: random.Random, emulator: SalesforceEmulator) -> str:
    sobject = rng.choice(["Lead", "Lead", "Lead", "Task", "Task", "Contact", "CampaignMember"])
    select = "COUNT()" if rng.random() < 0.15 else SELECTS[sobject]
    if rng.random() < 0.35:  # the connector's pull: a stamp window ordered by stamp and Id
        bounds = []
        stamps = [r.values["SystemModstamp"] for r in emulator._store.records[sobject].values()]
        if rng.random() < 0.8:
            bounds.append(f"SystemModstamp > {_stamp(rng, stamps)}")
        if rng.random() < 0.8:
            bounds.append(f"SystemModstamp <= {_stamp(rng, stamps)}")
        where = " WHERE " + " AND ".join(bounds) if bounds else ""
        order = " ORDER BY SystemModstamp, Id" if rng.random() < 0.8 else ""
        return f"SELECT {select} FROM {sobject}{where}{order}"
    parts = [_condition(rng, emulator, sobject) for _ in range(rng.choice([0, 1, 1, 2, 2, 3]))]
    if len(parts) >= 2 and rng.random() < 0.2:
        parts = [f"({parts[0]} OR {parts[1]})", *parts[2:]]
    if parts and rng.random() < 0.08:
        parts[0] = f"NOT ({parts[0]})"
    where = " WHERE " + " AND ".join(parts) if parts else ""
    order = ""
    if rng.random() < 0.7:
        first = rng.choice([*STAMPS, *STAMPS, "Id", rng.choice(TEXT[sobject])])
        items = [first + rng.choice(["", "", " ASC", " DESC"]) + rng.choice(["", "", " NULLS LAST", " NULLS FIRST"])]
        if first != "Id" and rng.random() < 0.7:
            items.append("Id" + rng.choice(["", " DESC"]))
        elif rng.random() < 0.2:
            items.append("Email" if sobject in ("Lead", "Contact") else "Status")
        order = " ORDER BY " + ", ".join(items)
    tail = ""
    if rng.random() < 0.4:
        tail += f" LIMIT {rng.choice([0, 1, 5, 50, 250, 5000])}"
    if rng.random() < 0.2:
        tail += f" OFFSET {rng.choice([1, 7, 300])}"
    return f"SELECT {select} FROM {sobject}{where}{order}{tail}"


def _call(text: str | None = None) -> Call:
    return Call("GET", "/services/data/v60.0/query", {"q": [text]} if text is not None else {}, BATCH, b"", "60.0")


def _first(emulator: SalesforceEmulator, text: str, deleted: bool) -> Any:
    try:
        return emulator._api.query(_call(text), deleted=deleted).body
    except ApiError as exc:
        return ("error", exc.status, json.dumps(exc.body))


def _rest(emulator: SalesforceEmulator, page: Any) -> list[Any]:
    """The pages after ``page``, through its query locator."""
    pages = []
    while isinstance(page, dict) and not page["done"]:
        loc = page["nextRecordsUrl"].rsplit("/", 1)[1]
        page = emulator._api.query_more(_call(), loc).body
        pages.append(page)
    return pages


def _reference(emulator: SalesforceEmulator, text: str, deleted: bool) -> Any:
    """What the emulator answered before its indexes: every row evaluated and rendered at once."""
    store = emulator._store
    try:
        plan = soql.bind(soql.parse(text), store.sobject, store.visible, store.now_ms())
    except ApiError as exc:
        return ("error", exc.status, json.dumps(exc.body))
    matched = soql.run(plan, [r.values for r in store.rows(plan.sobject.name, deleted=deleted)])
    if plan.query.count_only:
        return {"totalSize": len(matched), "done": True, "records": []}
    return [render_row(plan.sobject, row, plan.fields, "60.0") for row in matched]


def _pages_of(first: Any, rest: list[Any]) -> Any:
    if not isinstance(first, dict):
        return first
    pages = [first, *rest]
    return [re.sub(r"/(query|queryAll)/[0-9A-Za-z]+-", r"/\1/LOCATOR-", json.dumps(p, sort_keys=True)) for p in pages]


def _expected_pages(reference: Any, word: str) -> Any:
    """The pages the reference answer comes in (batches of 200), as :func:`_pages_of` gives them."""
    if not isinstance(reference, list):
        return reference if isinstance(reference, tuple) else [json.dumps(reference, sort_keys=True)]
    if len(reference) <= 200:
        return [json.dumps({"totalSize": len(reference), "done": True, "records": reference}, sort_keys=True)]
    pages = []
    for start in range(0, len(reference), 200):
        page: dict[str, Any] = {"totalSize": len(reference), "done": start + 200 >= len(reference)}
        if not page["done"]:
            page["nextRecordsUrl"] = f"/services/data/v60.0/{word}/LOCATOR-{start + 200}"
        page["records"] = reference[start:start + 200]
        pages.append(json.dumps(page, sort_keys=True))
    return pages


def test_indexed_queries_answer_as_the_scan_and_as_before(world: SalesforceEmulator,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(11)
    store = world._store
    indexed = soql.indexed
    # Some indexes built before the edits (kept in step), the rest built lazily after some.
    for text in ("SELECT Id FROM Lead ORDER BY SystemModstamp, Id LIMIT 1",
                 "SELECT Id FROM Task WHERE WhoId = '00Q5g0000004C92EAE'",
                 "SELECT COUNT() FROM Task WHERE SystemModstamp > 2026-01-01T00:00:00Z"):
        _first(world, text, True)
    _edit(world, rng, 60)
    answered = total = 0
    for n in range(700):
        text = _query(rng, world)
        deleted = rng.random() < 0.6
        reference = _reference(world, text, deleted)
        fast = _first(world, text, deleted)
        monkeypatch.setattr(soql, "indexed", lambda *args, **kwargs: None)
        scanned = _first(world, text, deleted)
        monkeypatch.setattr(soql, "indexed", indexed)
        if rng.random() < 0.3:  # records change between a query and its later pages
            _edit(world, rng, rng.randint(1, 8), steps=(1, 1, 30))
        fast_pages = _pages_of(fast, _rest(world, fast))
        scanned_pages = _pages_of(scanned, _rest(world, scanned))
        if rng.random() < 0.03:
            world.clock.now += 16 * 60  # type: ignore[attr-defined]  # idle locators expire
        assert fast_pages == scanned_pages, text
        assert fast_pages == _expected_pages(reference, "queryAll" if deleted else "query"), text
        if isinstance(fast, dict):
            plan = soql.bind(soql.parse(text), store.sobject, store.visible, store.now_ms())
            total += 1
            answered += indexed(plan, store.tables[plan.sobject.name], deleted=deleted) is not None
        if n % 100 == 99:
            _edit(world, rng, 20)
    assert total > 500
    assert answered > total * 0.6, (answered, total)  # the indexes answer most, not only the fallback
    _assert_indexes_in_step(world)


def _assert_indexes_in_step(emulator: SalesforceEmulator, at_least: int = 6) -> None:
    """Every index kept in step with the edits equals one built afresh."""
    built = 0
    for table in emulator._store.tables.values():
        assert table.deleted == sum(r.deleted for r in table.records.values())
        assert [r.seq for r in table.records.values()] == sorted(r.seq for r in table.records.values())
        for name, index in table.stamps.items():
            fresh = StampIndex(name, table.records.values())
            assert _keys(index.keys) == _keys(fresh.keys), (table.name, name)
            assert _keys(index.deleted) == _keys(fresh.deleted), (table.name, name)
            assert (index.nulls, index.odd) == (fresh.nulls, fresh.odd)
            assert all(len(block) <= 2 * index_module.BLOCK for block in index.keys.blocks)
            assert index.keys.maxes == [block[-1] for block in index.keys.blocks]
            built += 1
        for name, reference in table.references.items():
            again = ReferenceIndex(name, table.records.values())
            assert _buckets(reference) == _buckets(again), (table.name, name)
            built += 1
    assert built >= at_least


def _keys(keys: SortedKeys) -> list[tuple[Any, str]]:
    return [(k[0], k[1]) for block in keys.blocks for k in block]


def _buckets(index: ReferenceIndex) -> dict[Any, list[str]]:
    return {value: sorted(r.id for r in index.get(value)) for value in index.found}


def test_a_locator_pages_the_rows_as_they_were_when_the_query_ran(world: SalesforceEmulator) -> None:
    """Later pages read the records as the query found them, whatever changed since, for each
    of several locators made between changes (and what they kept is let go once they expire)."""
    text = f"SELECT {SELECTS['Lead']} FROM Lead ORDER BY SystemModstamp, Id"
    leads = _ids(world, "Lead")
    idle = _first(world, text, True)  # left idle: it expires while the others are read
    world.clock.now += 10 * 60  # type: ignore[attr-defined]
    locators = []
    for round in range(3):
        before = _expected_pages(_reference(world, text, True), "queryAll")
        assert len(before) > 1
        locators.append((_first(world, text, True), before))
        for record_id in leads[round * 20:round * 20 + 120]:  # each changed twice, some in more than one round
            world.clock.now += 1  # type: ignore[attr-defined]
            world.update_record("Lead", record_id, {"Title": f"Changed {round}"})
            world.update_record("Lead", record_id, {"Title": f"Changed again {round}"})
        for record_id in leads[200 + round * 5:205 + round * 5]:
            world.delete_record("Lead", record_id)
    world.clock.now += 6 * 60  # type: ignore[attr-defined]
    with pytest.raises(ApiError, match="INVALID_QUERY_LOCATOR"):
        _rest(world, idle)
    assert len(world._store.snapshots.live) == 3
    for first, before in locators:
        assert _pages_of(first, _rest(world, first)) == before
    assert world._store.snapshots.undo
    world.clock.now += 16 * 60  # type: ignore[attr-defined]
    _first(world, "SELECT Id FROM Lead LIMIT 1", False)  # any query lets idle locators go
    assert not world._store.snapshots.live and not world._store.snapshots.undo


def test_connector_shapes_are_answered_from_the_indexes(world: SalesforceEmulator) -> None:
    store = world._store
    stamps = sorted(r.values["SystemModstamp"] for r in store.records["Lead"].values())
    low, high = values.iso_ms(stamps[50]), values.iso_ms(stamps[-1])
    leads = ", ".join(f"'{i}'" for i in _ids(world, "Lead")[:20])
    for text in (f"SELECT Id FROM Lead WHERE SystemModstamp > {low} AND SystemModstamp <= {high} ORDER BY SystemModstamp, Id",
                 "SELECT Id, IsDeleted FROM Lead ORDER BY SystemModstamp, Id",
                 f"SELECT COUNT() FROM Lead WHERE SystemModstamp > {low} AND SystemModstamp <= {high}",
                 "SELECT COUNT() FROM Lead",
                 f"SELECT WhoId, SystemModstamp FROM Task WHERE SystemModstamp > {low} AND SystemModstamp <= {high}",
                 f"SELECT Id FROM Lead WHERE Id IN ({leads})",
                 f"SELECT Id, WhoId FROM Task WHERE WhoId IN ({leads}) AND TaskSubtype IN ('Call', 'Email')",
                 f"SELECT Id FROM CampaignMember WHERE LeadId IN ({leads})"):
        plan = soql.bind(soql.parse(text), store.sobject, store.visible, store.now_ms())
        for deleted in (False, True):
            assert soql.indexed(plan, store.tables[plan.sobject.name], deleted=deleted) is not None, text


def test_ids_out_of_creation_order_are_answered_as_the_scan_does(world: SalesforceEmulator,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ids do not ascend with creation (ties in a stamp fall in the default order, which
    is then not Id's), the indexes leave those orders to the scan."""
    store = world._store
    early = IdFactory(start=5)
    ids = [early.new("Lead") for _ in range(5)]  # below every seeded id
    world.update_record("Lead", _ids(world, "Lead")[3], {"Title": "CTO"})
    for record_id in reversed(ids):  # created last, descending, sharing the update's stamp
        store.create("Lead", {"LastName": "Early", "Company": "Globex"}, by=store.sales_user,
                     at_ms=store.stamp(), record_id=record_id)
    assert not store.tables["Lead"].monotonic
    indexed = soql.indexed
    for text in ("SELECT Id FROM Lead ORDER BY SystemModstamp", "SELECT Id FROM Lead ORDER BY SystemModstamp DESC",
                 "SELECT Id FROM Lead ORDER BY SystemModstamp, Id DESC", "SELECT Id FROM Lead ORDER BY Id LIMIT 3",
                 "SELECT Id FROM Lead ORDER BY Id DESC", "SELECT Id FROM Lead LIMIT 300"):
        fast = _first(world, text, True)
        monkeypatch.setattr(soql, "indexed", lambda *args, **kwargs: None)
        scanned = _first(world, text, True)
        monkeypatch.setattr(soql, "indexed", indexed)
        fast_pages = _pages_of(fast, _rest(world, fast))
        assert fast_pages == _pages_of(scanned, _rest(world, scanned)), text
        assert fast_pages == _expected_pages(_reference(world, text, True), "queryAll"), text


def test_records_without_a_stamp_sort_as_the_scan_sorts_them(world: SalesforceEmulator,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The API never leaves a stamp empty; were one empty, where it sorts is the scan's business."""
    store = world._store
    for text in ("SELECT Id FROM Lead ORDER BY LastModifiedDate, Id", "SELECT COUNT() FROM Lead"):
        _first(world, text, True)  # the indexes are built, then kept in step
    for record_id in _ids(world, "Lead")[10:14]:
        store.records["Lead"][record_id].values["LastModifiedDate"] = None
    indexed = soql.indexed
    for text in ("SELECT Id FROM Lead ORDER BY LastModifiedDate, Id", "SELECT Id FROM Lead ORDER BY LastModifiedDate DESC",
                 "SELECT Id FROM Lead ORDER BY LastModifiedDate NULLS LAST, Id LIMIT 300",
                 "SELECT Id FROM Lead WHERE LastModifiedDate > 2026-01-01T00:00:00Z ORDER BY LastModifiedDate, Id",
                 "SELECT COUNT() FROM Lead WHERE LastModifiedDate < 2027-01-01T00:00:00Z",
                 "SELECT Id FROM Lead WHERE LastModifiedDate = null"):
        for deleted in (False, True):
            fast = _first(world, text, deleted)
            monkeypatch.setattr(soql, "indexed", lambda *args, **kwargs: None)
            scanned = _first(world, text, deleted)
            monkeypatch.setattr(soql, "indexed", indexed)
            assert _pages_of(fast, _rest(world, fast)) == _pages_of(scanned, _rest(world, scanned)), text
    _assert_indexes_in_step(world, at_least=1)


def test_date_literals_on_a_days_edges_are_answered_as_the_scan_does(world: SalesforceEmulator,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    clock = world.clock  # type: ignore[attr-defined]
    midnight = clock.now - clock.now % 86400
    for day in (0, 1, 2, 3):
        for offset in (-1, 0, 1):
            at = datetime.fromtimestamp(midnight - day * 86400 + offset, tz=timezone.utc)
            world.create_record("Lead", {"LastName": "Edge", "Company": "Acme", "CreatedDate": at, "LastModifiedDate": at})
    indexed = soql.indexed
    for name in ("CreatedDate", "LastModifiedDate"):
        for literal in ("TODAY", "YESTERDAY", "LAST_N_DAYS:2", "TOMORROW"):
            for op in ("=", "<", "<=", ">", ">=", "!="):
                for select in ("COUNT()", "Id"):
                    text = f"SELECT {select} FROM Lead WHERE {name} {op} {literal}"
                    fast = _first(world, text, False)
                    monkeypatch.setattr(soql, "indexed", lambda *args, **kwargs: None)
                    scanned = _first(world, text, False)
                    monkeypatch.setattr(soql, "indexed", indexed)
                    assert _pages_of(fast, _rest(world, fast)) == _pages_of(scanned, _rest(world, scanned)), text


def test_sorted_keys_find_what_a_sorted_list_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "BLOCK", 2)
    rng = random.Random(5)
    keys, plain = SortedKeys(), []
    views: list[tuple[Any, list[Any]]] = []
    for step in range(3000):
        if plain and rng.random() < 0.4:
            key = plain.pop(rng.randrange(len(plain)))
            keys.remove(key)
        else:
            key = (rng.randint(0, 60), f"{step:06d}", step)
            keys.add(key)
            plain.append(key)
            plain.sort(key=lambda k: k[:2])
        if step % 10:
            continue
        interval = index_module.Interval()
        if rng.random() < 0.7:
            interval.above(rng.randint(-1, 61), rng.random() < 0.5)
        if rng.random() < 0.7:
            interval.below(rng.randint(-1, 61), rng.random() < 0.5)
        start, end = interval.positions(keys)
        inside = [k for k in plain if (interval.lo is None or k[0] > interval.lo or (k[0] == interval.lo and not interval.lo_strict))
                  and (interval.hi is None or k[0] < interval.hi or (k[0] == interval.hi and not interval.hi_strict))]
        assert list(keys.between(start, end)) == inside
        assert list(keys.between(start, end, descending=True)) == inside[::-1]
        assert keys.count(start, end) == len(inside)
        assert keys.records(start, end) == [k[2] for k in inside]
        view = keys.view(start, end)
        assert len(view) == len(inside) and list(view) == [k[2] for k in inside]
        for _ in range(5):
            a, b = rng.randint(-3, len(inside) + 3), rng.randint(-3, len(inside) + 3)
            assert view[a:b] == [k[2] for k in inside][a:b]
        if inside:
            assert view[-1] == inside[-1][2] and view[0] == inside[0][2]
        views.append((view, [k[2] for k in inside]))
    for view, held in views:  # as the keys were when each view was taken, whatever changed since
        assert list(view) == held
        assert len(keys) == len(plain)


def _distinct_by_steps(stamp: int, used: set[int], floor: int) -> int:
    """Seeding's distinct stamps as they were first written: a second at a time."""
    candidate = stamp
    while candidate in used and candidate - 1000 >= floor:
        candidate -= 1000
    while candidate in used:
        candidate += 1000
    used.add(candidate)
    return candidate


def test_distinct_stamps_are_the_ones_stepping_gives() -> None:
    rng = random.Random(3)
    fast, slow = seeding._Seconds(), set()
    for _ in range(3_000):
        stamp = rng.randint(0, 400) * 1000
        floor = stamp - rng.choice([0, 1000, 5000, 50_000, 10**6])
        assert seeding._distinct(stamp, fast, floor) == _distinct_by_steps(stamp, slow, floor)


def test_stamps_render_as_strftime_renders_them() -> None:
    rng = random.Random(9)
    edges = [0, -1, 999, 1000, 86_399_999, 86_400_000, -86_400_000, 1_790_000_000_000, 253_402_300_799_999]
    for ms in edges + [rng.randint(-10**12, 4 * 10**12) for _ in range(5000)]:
        moment = values.EPOCH + timedelta(milliseconds=ms)
        assert values.iso_ms(ms) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000", ms


def test_rows_render_as_each_value_renders(world: SalesforceEmulator) -> None:
    store = world._store
    for name in ("Lead", "Task", "Opportunity", "CustomField"):
        sobject = store.sobject(name) or store.tooling_sobject(name)
        fields = list(sobject.fields.values())
        render = row_renderer(sobject, fields, "60.0", tooling=name == "CustomField")
        for record in list(store.records[name].values())[:50]:
            base = "/services/data/v60.0/tooling/sobjects" if name == "CustomField" else "/services/data/v60.0/sobjects"
            expected = {"attributes": {"type": name, "url": f"{base}/{name}/{record.id}"}}
            expected.update({d.name: values.render(d, record.values.get(d.name)) for d in fields})
            assert json.dumps(render(record.values)) == json.dumps(expected)
