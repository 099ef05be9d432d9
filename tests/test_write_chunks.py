"""Issue 16 item 3, "calls at the floor": write calls carried across pulled batches and flushed full.

A CRM's write call takes a chunk of records (HubSpot's batch update 100, Salesforce's sObject
Collections 200) and costs as much for one. The pipeline carries changes across pulled batches
(:class:`leadscore.agent.sync.pipeline.Carried`) and writes whole chunks, the rest at the end of
the pass, so a sync, a rescore or a backfill makes at most ``ceil(changed / chunk) + 1`` write
calls, counted by the emulators (every HTTP request they served); and a Salesforce pass whose
changes reach ``bulk_threshold`` writes them through Bulk API 2.0 though no batch alone does.

A change carried past its batch's commit is kept in the store as a deferred write: a process
killed with changes carried loses none (the next sync writes them), and they never count as
failed writes.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pytest

from leadscore.agent.core.contract import ScoreUpdate, WriteResult, WriteSpec, WriteStatus
from leadscore.agent.core.errors import TransientError
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.scoring.model import ScoringModel
from leadscore.agent.state import Desired, RecordKey, StateStore
from leadscore.agent.sync.pipeline import MAX_HELD, Carried, SyncPipeline, WriteChunks
from leadscore.connectors.base import SupportsWriteChunks
from leadscore.connectors.hubspot.connector import HubSpotConnector
from leadscore.connectors.hubspot.emulator.harness import HubSpotHarness
from leadscore.connectors.salesforce.connector import SalesforceConnector
from leadscore.connectors.salesforce.emulator.harness import STAGES, SalesforceHarness
from leadscore.connectors.testing import AS_OF, SUITE_MODEL
from tests.conftest import closing_fixture

#: HubSpot contacts per pulled batch (the connector's ``pull_batch_size``), and per rescore page:
#: fewer than a batch update takes, so writing each batch's changes would cost a partial call each.
HUBSPOT_BATCH = 70
HUBSPOT_RECORDS = 450
#: Salesforce: 1,200 seeded leads are about 1,070 Leads and 130 Contacts (converted), one pulled
#: batch of each.
SALESFORCE_RECORDS = 1200
SALESFORCE_PAGE = 150

HUBSPOT_WRITES = ("contacts.batch.update", "companies.batch.update")
COLLECTIONS = "composite.sobjects"


def variant(bump: int) -> ScoringModel:
    """The suite's model with every rule worth ``bump`` more points and relabelled: another
    model version, under which nearly every record's values change (a rescore's, a backfill's)."""
    data = SUITE_MODEL.model_dump(mode="json", exclude_none=True)
    data["name"] = f"{data['name']}-{bump}"
    for rule in data["rules"]:
        rule["points"] += bump if rule["points"] > 0 else -bump
        rule["label"] = f"{rule['label']} ({bump})"
    return ScoringModel.model_validate(data)


class WriteLog:
    """The sizes of the ``write`` calls the pipeline made of a connector."""

    def __init__(self, connector: Any) -> None:
        self.sizes: list[int] = []
        real: Callable[[Sequence[ScoreUpdate]], list[WriteResult]] = connector.write

        def write(updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
            self.sizes.append(len(updates))
            return real(updates)

        connector.write = write


def floor_plus_one(changed: int, chunk: int) -> int:
    return math.ceil(changed / chunk) + 1


# --- the carried changes, alone ----------------------------------------------------------------------


def change(record_id: str, score: int = 50, object_type: Any = "contact") -> Desired:
    return Desired(object_type, record_id, {"score": score}, score, "MQL", "m1", None)


def sizes(writes: Sequence[Sequence[Desired]]) -> list[int]:
    return [len(write) for write in writes]


def test_without_a_declared_chunk_every_batch_is_written_whole() -> None:
    carried = Carried(WriteChunks.of(object()))
    carried.add([change(str(n)) for n in range(7)])
    assert sizes(carried.due()) == [7] and len(carried) == 0
    carried.add([change(str(n)) for n in range(7)])
    assert carried.due(hold=8) == [] and sizes(carried.due(hold=7)) == [7]


def test_whole_chunks_of_each_object_type_are_due_and_the_rest_carried() -> None:
    carried = Carried(WriteChunks(size=100))
    carried.add([change(f"c{n}") for n in range(250)] + [change(f"a{n}", object_type="company") for n in range(130)])
    [due] = carried.due()
    assert Counter(d.object_type for d in due) == {"contact": 200, "company": 100}
    assert len(carried) == 80
    assert carried.due() == []  # 50 + 30: no type fills a call
    assert sizes(carried.take_all()) == [80] and len(carried) == 0


def test_a_newer_change_of_a_record_replaces_the_carried_one_and_must_be_kept_again() -> None:
    carried = Carried(WriteChunks(size=100))
    carried.add([change("1", 10), change("2", 20)], kept=True)
    assert carried.unkept() == []
    carried.add([change("1", 11)])
    assert [(d.record_id, d.score) for d in carried.unkept()] == [("1", 11)]
    carried.mark_kept()
    assert carried.unkept() == []
    carried.drop([RecordKey("contact", "2"), RecordKey("contact", "9")])
    assert [[(d.record_id, d.score) for d in write] for write in carried.take_all()] == [[("1", 11)]]


def test_with_a_bulk_path_an_object_type_is_held_until_the_pass_has_enough_of_it() -> None:
    carried = Carried(WriteChunks(size=200, bulk_threshold=2000))
    carried.add([change(f"l{n}", object_type="lead") for n in range(1500)] + [change(f"c{n}") for n in range(600)])
    assert carried.due() == []  # no object type at the threshold: its job would cost more than its calls
    carried.add([change(f"l{n}", object_type="lead") for n in range(1500, 2100)])
    [bulk] = carried.due()  # one write of the Leads: the bulk path
    assert len(bulk) == 2100 and {d.object_type for d in bulk} == {"lead"}
    assert len(carried) == 600
    # The end of a pass: what is left goes in whole chunks, in writes kept below the threshold.
    carried.add([change(f"a{n}", object_type="account") for n in range(1500)])
    assert sizes(carried.take_all()) == [1800, 300]
    # A threshold set past what is worth holding (to turn the bulk path off): whole chunks again.
    huge = Carried(WriteChunks(size=200, bulk_threshold=10**9))
    huge.add([change(str(n)) for n in range(MAX_HELD + 50)])
    assert sizes(huge.due()) == [MAX_HELD] and len(huge) == 50


def test_the_crm_connectors_declare_their_write_chunks() -> None:
    assert WriteChunks.of(HubSpotConnector) == WriteChunks(size=100)
    assert SalesforceConnector.write_chunk == 200  # and bulk_threshold, from its config

    class Declared:
        write_chunk = 50
        bulk_threshold = None

    assert isinstance(Declared(), SupportsWriteChunks) and WriteChunks.of(Declared()) == WriteChunks(size=50)
    odd = type("Odd", (), {"write_chunk": True, "bulk_threshold": 0})
    assert WriteChunks.of(odd) == WriteChunks()  # not a chunk size: written as before


# --- deferred writes in the store -----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with StateStore.open(url) as opened:
        yield opened


def test_a_deferred_write_is_pending_at_once_and_no_failure(store: StateStore) -> None:
    name = "hubspot"
    failed = change("1", 40)
    store.record_writes(name, [failed], [WriteResult("1", WriteStatus.RETRYABLE, "RATE_LIMIT", "429")])
    store.defer_writes(name, [failed, change("2", 60)])  # "1" carried again, "2" never tried
    soon = store.now() - timedelta(hours=1)  # a retry's cutoff: deferred writes never wait
    pending = store.pending_failures(name, failed_before=soon)
    assert [(f.key.record_id, f.deferred, f.attempts) for f in pending] == [("1", True, 1), ("2", True, 0)]
    assert store.failure_counts(name) == {} == dict(store.status(name).failures)
    assert store.waiting_writes(name) == 2
    assert store.clear_failures(name) == 0 and store.waiting_writes(name) == 2  # not the admin's to clear
    # Paging: the page after the first record.
    assert [f.key.record_id for f in store.pending_failures(name, after=pending[0])] == ["2"]
    # The write that carries them records what became of them.
    outcome = store.record_writes(name, [failed, change("2", 60)],
                                  [WriteResult("1", WriteStatus.OK), WriteResult("2", WriteStatus.PERMANENT, "BAD", "no")])
    assert (outcome.written, outcome.permanent) == (1, 1)
    assert store.waiting_writes(name) == 0 and store.failure_counts(name) == {"permanent": 1}
    [kept] = store.pending_failures(name, status=WriteStatus.PERMANENT)
    assert kept.attempts == 1  # its first real attempt


# --- real passes against the emulators ---------------------------------------------------------------


hubspot = closing_fixture(HubSpotHarness)
salesforce = closing_fixture(SalesforceHarness)


def hubspot_writes(harness: HubSpotHarness) -> int:
    counts = harness.emulator.call_counts()
    return sum(counts.get(family, 0) for family in HUBSPOT_WRITES)


def salesforce_writes(harness: SalesforceHarness) -> Counter[str]:
    return Counter({family: n for family, n in harness.emulator.call_counts().items()
                    if family == COLLECTIONS or family.startswith("bulk2.")})


def hubspot_pipeline(harness: HubSpotHarness, store: StateStore, model: ScoringModel = SUITE_MODEL,
                     **kw: Any) -> tuple[SyncPipeline, WriteLog]:
    """A pipeline on a fresh HubSpot connector (no overlap: a sync re-reads only what changed
    since the last, so what a crash left unwritten is not re-read by chance)."""
    connector = harness.connector(pull_batch_size=HUBSPOT_BATCH, overlap_seconds=0)
    connector.setup(WriteSpec(frozenset(connector.write_values), STAGES))
    log = WriteLog(connector)
    kw.setdefault("as_of", AS_OF)
    return SyncPipeline("hubspot", connector, store, ScoringEngine(model), write_batch=HUBSPOT_BATCH, **kw), log


def synced_once(harness: HubSpotHarness, store: StateStore) -> list[str]:
    """Seed the portal and sync it once. The sync's writes stamp every contact, so the next sync
    re-reads them all, in search pages of 200, where a new model changes most but not all of each
    page: the partial calls a batch-by-batch write would make."""
    ids = harness.seed(HUBSPOT_RECORDS)
    first = hubspot_pipeline(harness, store)[0].sync()
    assert first.written == HUBSPOT_RECORDS and first.failed == 0
    return ids


@pytest.mark.network
def test_hubspot_sync_rescore_and_backfill_write_at_the_floor(hubspot: HubSpotHarness, tmp_path: Path) -> None:
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        synced_once(hubspot, store)
        runs: dict[str, tuple[int, int]] = {}
        for bump, kind in enumerate(("sync", "rescore", "backfill"), start=1):
            pipeline, log = hubspot_pipeline(hubspot, store, variant(bump))
            hubspot.emulator.reset_log()
            counts = getattr(pipeline, kind)()
            assert counts.failed == 0 and counts.written == counts.changed, (kind, counts)
            assert all(size % 100 == 0 for size in log.sizes[:-1]), (kind, log.sizes)  # whole, but the last
            runs[kind] = (counts.changed, hubspot_writes(hubspot))
        print("HubSpot write calls (changed, calls):", runs)
        for kind, (changed, calls) in runs.items():
            assert changed > 3 * 100, (kind, changed)  # several pulled batches' and pages' worth
            assert calls <= floor_plus_one(changed, 100), (kind, changed, calls)
            assert calls == math.ceil(changed / 100), (kind, changed, calls)
        assert store.waiting_writes("hubspot") == 0 and store.failure_counts("hubspot") == {}


@pytest.mark.network
@pytest.mark.parametrize("threshold", [2000, 10**9], ids=["bulk-threshold-unreached", "bulk-off"])
def test_salesforce_sync_rescore_and_backfill_write_at_the_collections_floor(
    salesforce: SalesforceHarness, tmp_path: Path, threshold: int
) -> None:
    salesforce.seed(SALESFORCE_RECORDS)
    connector = salesforce.connector(bulk_threshold=threshold)
    connector.setup(WriteSpec(frozenset(connector.write_values), STAGES))
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        runs: dict[str, tuple[int, int]] = {}
        for kind, model in (("sync", SUITE_MODEL), ("rescore", variant(1)), ("backfill", variant(2))):
            pipeline = SyncPipeline("salesforce", connector, store, ScoringEngine(model), as_of=AS_OF,
                                    write_batch=SALESFORCE_PAGE)
            salesforce.emulator.reset_log()
            counts = getattr(pipeline, kind)()
            assert counts.failed == 0 and counts.written == counts.changed, (kind, counts)
            writes = salesforce_writes(salesforce)
            assert set(writes) <= {COLLECTIONS}, (kind, writes)  # below the threshold: Collections only
            runs[kind] = (counts.changed, writes[COLLECTIONS])
        print(f"Salesforce Collections calls, bulk_threshold {threshold} (changed, calls):", runs)
        for kind, (changed, calls) in runs.items():
            assert changed > 5 * 200, (kind, changed)
            assert calls <= floor_plus_one(changed, 200), (kind, changed, calls)
        assert runs["sync"][1] == math.ceil(runs["sync"][0] / 200)


@pytest.mark.network
def test_salesforce_writes_through_bulk_when_the_pass_total_reaches_the_threshold(
    salesforce: SalesforceHarness, tmp_path: Path
) -> None:
    """2,500 seeded leads are about 2,230 Leads, pulled in pages of 2,000 and the rest, and 270
    Contacts. No pulled batch reaches 2,100 changes; the sync's Leads do, and go in one write:
    Bulk API 2.0, one job. The Contacts, too few for a job to pay, go in Collections calls."""
    salesforce.seed(2500)
    connector = salesforce.connector(bulk_threshold=2100)
    connector.setup(WriteSpec(frozenset(connector.write_values), STAGES))
    log = WriteLog(connector)
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        salesforce.emulator.reset_log()
        counts = SyncPipeline("salesforce", connector, store, ScoringEngine(SUITE_MODEL), as_of=AS_OF).sync()
        assert counts.failed == 0 and counts.written == counts.changed == 2500
        people = Counter(m.lead.object_type for m in store.mirror_leads("salesforce"))
        assert people["lead"] > 2100 > people["contact"]
        writes = salesforce_writes(salesforce)
        print("Salesforce write requests, bulk_threshold 2100:", dict(writes))
        assert log.sizes == [people["lead"], people["contact"]]
        assert writes["bulk2.create"] == 1 and writes[COLLECTIONS] == math.ceil(people["contact"] / 200)
        bulk = sum(n for family, n in writes.items() if family.startswith("bulk2."))
        assert bulk + writes[COLLECTIONS] <= floor_plus_one(counts.changed, 200)


# --- nothing carried is lost -----------------------------------------------------------------------


class Killed(BaseException):
    """Stands in for ``kill -9``: nothing of the pipeline runs after it (see ``no_cleanup``)."""


def no_cleanup(pipeline: SyncPipeline) -> None:
    """What a killed process does after the kill: nothing. (The pipeline keeps what it carried
    when a pass fails; a killed one cannot, so the batches must have kept it already.)"""
    pipeline._keep_carried = lambda: None  # type: ignore[method-assign]


def expected_scores(store: StateStore, model: ScoringModel) -> dict[str, int]:
    engine = ScoringEngine(model)
    return {m.lead.id: engine.score(m.lead, m.activities, AS_OF).score for m in store.mirror_leads("hubspot")}


def held_scores(harness: HubSpotHarness, ids: Sequence[str]) -> dict[str, int | None]:
    held = {i: harness.written(i)["score"] for i in ids}
    return {i: None if v in (None, "") else int(float(v)) for i, v in held.items()}


@pytest.mark.network
def test_a_process_killed_with_changes_carried_loses_none(hubspot: HubSpotHarness, tmp_path: Path) -> None:
    model = variant(1)
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        ids = synced_once(hubspot, store)
        handled: list[int] = []

        def progress(records: int) -> None:  # after each batch's commit
            handled.append(records)
            if len(handled) == 2:
                raise Killed

        pipeline, log = hubspot_pipeline(hubspot, store, model, progress=progress)
        no_cleanup(pipeline)
        with pytest.raises(Killed):
            pipeline.sync()
        assert sum(handled) == 400 and log.sizes and all(size % 100 == 0 for size in log.sizes)
        # What the two batches changed beyond their whole calls is kept with the batches that
        # moved the cursor past those records; not as failures.
        waiting = store.waiting_writes("hubspot")
        assert waiting > 0
        assert store.failure_counts("hubspot") == {} == dict(store.status("hubspot").failures)
        wanted = expected_scores(store, model)
        assert sum(held != wanted[i] for i, held in held_scores(hubspot, ids).items()) > waiting

        after, _ = hubspot_pipeline(hubspot, store, model)
        counts = after.sync()
        assert counts.failed == 0 and counts.retried == waiting
        assert held_scores(hubspot, ids) == wanted
        assert store.waiting_writes("hubspot") == 0 and store.failure_counts("hubspot") == {}


@pytest.mark.network
def test_a_write_refused_with_changes_carried_stops_the_pass_and_loses_none(hubspot: HubSpotHarness, tmp_path: Path) -> None:
    """The CRM fails a full call: its records are retryable failures, the carried ones stay
    deferred (no further call to a CRM that just failed), and the next sync writes them all."""
    model = variant(1)
    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        ids = synced_once(hubspot, store)
        pipeline, log = hubspot_pipeline(hubspot, store, model)
        written = pipeline.connector.write

        def write(updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
            if len(log.sizes) == 1:  # the second call, in the second pulled batch
                log.sizes.append(len(updates))
                raise TransientError("the CRM answered 503 three times")
            return written(updates)

        pipeline.connector.write = write  # type: ignore[method-assign]
        with pytest.raises(TransientError):
            pipeline.sync()
        first, refused = log.sizes
        assert first % 100 == 0 and refused % 100 == 0
        assert store.failure_counts("hubspot") == {"retryable": refused}
        waiting = store.waiting_writes("hubspot")
        assert waiting > 0

        after, _ = hubspot_pipeline(hubspot, store, model, retry_after=timedelta(0))
        counts = after.sync()
        assert counts.failed == 0 and counts.retried == refused + waiting
        assert held_scores(hubspot, ids) == expected_scores(store, model)
        assert store.waiting_writes("hubspot") == 0 and store.failure_counts("hubspot") == {}
