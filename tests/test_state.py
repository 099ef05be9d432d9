"""The state store, on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``LEADSCORE_TEST_POSTGRES_URL`` when set (each test gets its own schema
there), else from a throwaway cluster this module starts from the installed server binaries
(``/usr/lib/postgresql/*/bin``) for the session; without either, the PostgreSQL cases skip and say
why. The crash cases kill a real child process inside an open transaction.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event

from leadscore.agent.core.errors import LeadscoreError
from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.state import (
    Baseline,
    Desired,
    LeaseHeld,
    RecordKey,
    StateError,
    StateStore,
    migrate,
)
from leadscore.agent.state.schema import VERSION_TABLE, metadata
from leadscore.agent.sync.diff import DiffPolicy, plan_writes
from leadscore.agent.core.contract import Cursor, PullBatch, WriteResult, WriteStatus
from tests.postgres import free_port

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
HS = "hubspot"


# --- fixtures ----------------------------------------------------------------------------------


class Clock:
    """A clock the test moves by hand, for lease expiry and timestamps."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[StateStore]:
    with StateStore.open(url, clock=clock) as opened:
        yield opened


def lead(lead_id: str, *, updated: datetime = T0, object_type: Any = "contact", **fields: Any) -> Lead:
    return Lead(lead_id, object_type, fields or {"email": f"{lead_id}@example.com"}, created_at=T0, updated_at=updated)


def activity(lead_id: str, kind: str = "page_view", minutes: int = 0, **properties: Any) -> Activity:
    return Activity(lead_id, kind, T0 + timedelta(minutes=minutes), properties)


def desired(
    record_id: str, score: int = 50, stage: str = "MQL", *, object_type: Any = "contact", **extra: Any
) -> Desired:
    values = {"score": score, "stage": stage, "reason": f"+{score} fit"} | extra
    return Desired(object_type, record_id, values, score, stage, "m1", f"+{score} fit")


POLICY = DiffPolicy()


def diff(store: StateStore, records: list[Desired], *, reread: tuple[RecordKey, ...] = ()) -> list[Desired]:
    """What the pipeline does: the store's baseline through the diff."""
    return plan_writes(records, store.baseline(HS, [r.key for r in records]), POLICY, reread=reread)


def ok(change: Desired, written_to: str | None = None) -> WriteResult:
    return WriteResult(change.update.record_id, WriteStatus.OK, written_to=written_to)


def failed(change: Desired, status: WriteStatus = WriteStatus.RETRYABLE, code: str = "RATE_LIMIT") -> WriteResult:
    return WriteResult(change.update.record_id, status, code, f"{code} happened")


def write_all(store: StateStore, *records: Desired) -> list[Desired]:
    changes = diff(store, list(records))
    store.record_writes(HS, changes, [ok(c) for c in changes])
    return changes


def batch(
    *leads: Lead, activities: tuple[Activity, ...] = (), deleted: tuple[str, ...] = (), cursor: str = "c1"
) -> PullBatch:
    return PullBatch(leads=leads, activities=activities, cursor=Cursor("contact", cursor), deleted_ids=deleted)


def table_count(store: StateStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def mirrored_activities(store: StateStore) -> int:
    """Activities the mirror holds (kept whole on their leads' rows)."""
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT coalesce(sum(activity_count), 0) FROM mirror_leads")).scalar_one())


# --- migrations --------------------------------------------------------------------------------


def test_migrations_build_the_schema_once(url: str) -> None:
    with StateStore.open(url) as first:
        assert migrate.current(first.engine) == (migrate.head(),)
        with first.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": VERSION_TABLE})
            assert compare_metadata(context, metadata) == []  # the migrations and schema.py agree
        first.reset_cursor(HS)
    with StateStore.open(url) as again:  # reopening finds the head and migrates nothing
        assert migrate.upgrade(again.engine, again.where) is False
        assert migrate.current(again.engine) == (migrate.head(),)
        with again.engine.begin() as conn:  # and the revisions go back down cleanly
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert migrate.current(again.engine) == ()
        assert set(sa.inspect(again.engine).get_table_names()) == {VERSION_TABLE}
    with StateStore.open(url) as rebuilt:
        assert rebuilt.cursor(HS, "contact") is None


def test_activities_move_between_rows_and_blobs_both_ways(url: str) -> None:
    """Revision 0007 keeps a lead's activities whole on its row; going down to 0006 puts them
    back in rows and coming up again folds them back, activity for activity."""
    acts = (activity("1", minutes=5, url="/pricing", n=3, note="caf\u00e9"), activity("1", "call", minutes=9),
            activity("2", "email_open", minutes=1))
    with StateStore.open(url) as store:
        store.record_batch(HS, batch(lead("1"), lead("2"), lead("3"), activities=acts))
        before = {m.lead.id: m.activities for m in store.mirror_leads(HS)}
        with store.engine.begin() as conn:
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
        assert table_count(store, "mirror_activities") == 3
    with StateStore.open(url) as store:  # opening migrates it up again
        assert {m.lead.id: m.activities for m in store.mirror_leads(HS)} == before
        assert mirrored_activities(store) == 3
        assert before["1"][0].properties == {"url": "/pricing", "n": 3, "note": "caf\u00e9"}
        # Pulled again unchanged, no row is written.
        assert store.record_batch(HS, batch(lead("1"), lead("2"), lead("3"), activities=acts)).activities == 0


def test_activity_blobs_change_layout_both_ways(url: str) -> None:
    """Revision 0008 codes the blobs of 0007 (zlib JSON lists) for the engine and back: down
    at 0007 they are 0007's, byte for byte, and up again a lead pulled again unchanged writes
    nothing (0008's blob of it is the one the store writes)."""
    import json
    import zlib

    acts = (activity("1", minutes=5, url="/pricing", n=3), activity("1", "call", minutes=9, url="/pricing"),
            activity("2", "call", minutes=9))
    raw = "SELECT lead_id, activities FROM mirror_leads WHERE activities IS NOT NULL ORDER BY lead_id"
    with StateStore.open(url) as store:
        store.record_batch(HS, batch(lead("1"), lead("2"), lead("3"), activities=acts))
        before = {m.lead.id: m.activities for m in store.mirror_leads(HS)}
        with store.engine.connect() as conn:
            coded = {r.lead_id: bytes(r.activities) for r in conn.execute(sa.text(raw))}
        with store.engine.begin() as conn:
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0007")
        with store.engine.connect() as conn:
            lists = {r.lead_id: json.loads(zlib.decompress(r.activities)) for r in conn.execute(sa.text(raw))}
        assert lists["1"]["type"] == ["call", "page_view"] or lists["1"]["type"] == ["page_view", "call"]
        assert lists["1"]["properties"]["url"] == ["/pricing", "/pricing"] and len(lists["1"]["properties"]["n"]) == 2
    with StateStore.open(url) as store:  # opening migrates it up again
        with store.engine.connect() as conn:
            assert {r.lead_id: bytes(r.activities) for r in conn.execute(sa.text(raw))} == coded
        assert {m.lead.id: m.activities for m in store.mirror_leads(HS)} == before
        assert store.record_batch(HS, batch(lead("1"), lead("2"), lead("3"), activities=acts)).activities == 0


def test_a_schema_from_a_newer_leadscore_is_refused(url: str) -> None:
    StateStore.open(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StateError, match="revision 9999, newer than this leadscore knows"):
        StateStore.open(url)


def test_default_path_is_a_sqlite_file(tmp_path: Path) -> None:
    with StateStore.open(path=tmp_path / "nested" / "state.db") as store:
        assert store.url.get_backend_name() == "sqlite"
        assert store.cursor(HS, "contact") is None
    assert (tmp_path / "nested" / "state.db").exists()


# --- cursors and batches -----------------------------------------------------------------------


def test_a_batch_mirrors_records_and_moves_the_cursor_in_one_commit(store: StateStore) -> None:
    assert store.cursor(HS, "contact") is None
    changes = diff(store, [desired("1"), desired("2")])
    outcome = store.record_batch(
        HS,
        batch(lead("1"), lead("2"), activities=(activity("1"),), cursor="2026-11-01T09:00:00Z"),
        changes,
        [ok(c) for c in changes],
        api_calls={"search": 1, "batch_update": 1},
    )
    assert store.cursor(HS, "contact") == "2026-11-01T09:00:00Z"
    assert store.cursor(HS, "lead") is None and store.cursor("salesforce", "contact") is None
    assert (outcome.mirrored, outcome.activities, outcome.written, outcome.history) == (2, 1, 2, 2)
    assert diff(store, [desired("1"), desired("2")]) == []
    assert store.api_calls(HS) == {T0.date(): {"batch_update": 1, "search": 1}}


def test_an_error_inside_a_batch_applies_nothing(store: StateStore) -> None:
    store.record_batch(HS, batch(lead("1"), cursor="c1"))
    changes = diff(store, [desired("2")])
    with pytest.raises(RuntimeError, match="boom"):
        with store.batch(HS, "contact") as tx:
            tx.mirror([lead("2")], [activity("2")], deleted_ids=["1"])
            tx.record_writes(changes, [ok(c) for c in changes])
            tx.advance("c2")
            raise RuntimeError("boom")
    assert store.cursor(HS, "contact") == "c1"
    assert [m.lead.id for m in store.mirror_leads(HS)] == ["1"]
    assert store.last_written(HS, [RecordKey("contact", "2")]) == {}
    with pytest.raises(RuntimeError, match="already committed or rolled back"):
        tx.advance("c3")


def test_a_failed_step_never_commits_even_when_its_error_is_swallowed(store: StateStore) -> None:
    store.record_batch(HS, batch(lead("1"), cursor="c1"))
    with pytest.raises(StateError, match="a step of it failed, and nothing of it was recorded"):
        with store.batch(HS, "contact") as tx:
            tx.mirror([lead("2")])
            with pytest.raises(
                StateError, match="cannot mirror the hubspot contact batch: .*type object cannot be stored"
            ):
                tx.mirror([lead("3", photo=object())])  # not JSON: the statement fails
            with pytest.raises(StateError, match="an earlier step of this batch failed"):
                tx.advance("c2")
    assert store.cursor(HS, "contact") == "c1"
    assert [m.lead.id for m in store.mirror_leads(HS)] == ["1"]


CRASH = """
import os, sys
from leadscore.agent.core.records import Lead
from leadscore.agent.state import StateStore
store = StateStore.open(sys.argv[1])
with store.batch("hubspot", "contact") as tx:
    tx.mirror([Lead("9", "contact", {"email": "nine@example.com"})])
    tx.advance("after-9")
    if sys.argv[2] == "before-commit":
        os._exit(3)  # the process dies inside the open transaction
os._exit(4)  # dies right after the commit, without any clean-up
"""


def test_a_crash_mid_transaction_leaves_nothing_and_one_after_commit_keeps_all(url: str) -> None:
    with StateStore.open(url) as store:
        store.record_batch(HS, batch(lead("1"), cursor="before-9"))
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    died = subprocess.run([sys.executable, "-c", CRASH, url, "before-commit"], cwd=ROOT, env=env, capture_output=True)
    assert died.returncode == 3, died.stderr
    with StateStore.open(url) as store:
        assert store.cursor(HS, "contact") == "before-9"
        assert [m.lead.id for m in store.mirror_leads(HS)] == ["1"]
    died = subprocess.run([sys.executable, "-c", CRASH, url, "after-commit"], cwd=ROOT, env=env, capture_output=True)
    assert died.returncode == 4, died.stderr
    with StateStore.open(url) as store:
        assert store.cursor(HS, "contact") == "after-9"
        assert [m.lead.id for m in store.mirror_leads(HS)] == ["1", "9"]


def test_a_backfill_keeps_its_own_position_and_resumes(store: StateStore, clock: Clock) -> None:
    store.record_batch(HS, batch(lead("1"), cursor="live-1"))
    since, until = T0 - timedelta(days=90), T0
    backfill = store.start_backfill(HS, "contact", since, until)
    assert backfill.position is None and not backfill.done
    store.record_batch(HS, batch(lead("old"), cursor="page-2"), backfill_id=backfill.id)
    assert store.cursor(HS, "contact") == "live-1"  # the live cursor never moves
    clock.advance(hours=1)
    resumed = store.start_backfill(HS, "contact", since, until)  # after an interruption
    assert (resumed.id, resumed.position, resumed.since, resumed.until) == (backfill.id, "page-2", since, until)
    assert [b.id for b in store.status(HS).backfills] == [backfill.id]
    store.finish_backfill(backfill.id)
    assert store.backfill(backfill.id).done  # type: ignore[union-attr]
    assert store.backfills(HS) == [] and len(store.backfills(HS, active_only=False)) == 1
    assert store.start_backfill(HS, "contact", since, until).id != backfill.id
    with pytest.raises(ValueError, match="is finished"):
        store.record_batch(HS, batch(lead("x"), cursor="page-3"), backfill_id=backfill.id)
    with pytest.raises(ValueError, match="no backfill"):
        store.record_batch(HS, batch(lead("x")), backfill_id="bf-missing")


# --- the diff, writes, history, failures --------------------------------------------------------


def test_the_baseline_is_what_was_last_written_and_the_kept_failures(store: StateStore) -> None:
    """The store loads what the diff compares with (the diff itself: tests/test_diff.py)."""
    scored = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
    first = diff(store, [desired("1", scored_at=scored), desired("2")])
    assert [c.previous for c in first] == [None, None]
    store.record_writes(HS, first, [ok(c) for c in first])
    refused = diff(store, [desired("2", 70, "SQL")])
    store.record_writes(HS, refused, [failed(refused[0], WriteStatus.PERMANENT, "INVALID_PICKLIST")])

    one, two, three = (RecordKey("contact", i) for i in "123")
    baseline = store.baseline(HS, [one, two, three, one])
    assert baseline.written == {
        one: {"score": 50, "stage": "MQL", "reason": "+50 fit", "scored_at": scored.isoformat()},
        two: {"score": 50, "stage": "MQL", "reason": "+50 fit"},
    }
    assert baseline.failed == {two: (WriteStatus.PERMANENT, {"score": 70, "stage": "SQL", "reason": "+70 fit"})}
    assert store.baseline(HS, []) == Baseline({}, {})
    # A datetime read back as its ISO text is the same value; scored_at alone is no change anyway.
    assert diff(store, [desired("1", scored_at=scored)]) == []
    assert diff(store, [desired("1", scored_at=scored + timedelta(hours=1))]) == []
    # The score changed: only what changed goes, with what the record carried before.
    [change] = diff(store, [desired("1", 60, scored_at=scored)])
    assert dict(change.update.values) == {"score": 60, "reason": "+60 fit", "scored_at": scored}
    assert change.previous is not None and change.previous["score"] == 50


def test_desired_values_come_from_a_score_result(store: StateStore, example_engine: ScoringEngine) -> None:
    result = example_engine.score(lead("1", title="VP Marketing", employees="250"), [], T0)
    wanted = Desired.from_result(result, "contact", {"score": result.score, "stage": result.stage})
    assert (wanted.key, wanted.score, wanted.model_version) == (
        RecordKey("contact", "1"),
        result.score,
        result.model_version,
    )
    assert wanted.reason == result.reason()
    write_all(store, wanted)
    [entry] = store.history(HS, wanted.key)
    assert (entry.score, entry.stage, entry.reason) == (result.score, result.stage, result.reason())


def test_written_values_history_and_failures(store: StateStore, clock: Clock) -> None:
    key = RecordKey("contact", "1")
    write_all(store, desired("1", 50))
    clock.advance(hours=1)
    # A retryable failure is kept, with its attempts, and comes back in the diff.
    change = diff(store, [desired("1", 70, "SQL")])
    store.record_writes(HS, change, [failed(change[0])])
    clock.advance(hours=1)
    change = diff(store, [desired("1", 70, "SQL")])
    assert len(change) == 1
    store.record_writes(HS, change, [failed(change[0], code="TIMEOUT")])
    [failure] = store.pending_failures(HS)
    assert (failure.key, failure.attempts, failure.error_code, failure.status) == (
        key,
        2,
        "TIMEOUT",
        WriteStatus.RETRYABLE,
    )
    assert (failure.first_failed_at, failure.last_failed_at) == (T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    assert failure.desired.score == 70 and dict(failure.values) == {"score": 70, "stage": "SQL", "reason": "+70 fit"}
    assert store.pending_failures(HS, failed_before=T0 + timedelta(hours=2)) == []
    assert store.last_written(HS, [key])[key].values["score"] == 50  # the CRM still shows 50
    # The retry lands: the failure is cleared and the history gains one entry.
    clock.advance(hours=1)
    outcome = store.record_writes(HS, [failure.resend], [ok(failure.resend)])
    assert (outcome.written, outcome.history) == (1, 1)
    assert store.pending_failures(HS) == []
    # The same change recorded twice (a batch redone after a crash) adds no history.
    assert store.record_writes(HS, [failure.resend], [ok(failure.resend)]).unchanged == 1
    history = store.history(HS, key)
    assert [(h.score, h.stage, h.at) for h in history] == [(50, "MQL", T0), (70, "SQL", T0 + timedelta(hours=3))]
    assert [h.score for h in store.history(HS, key, limit=1)] == [70]
    assert store.last_written(HS, [key])[key].written_at == T0 + timedelta(hours=3)
    assert store.status(HS).written == {"contact": 1}


def test_a_permanent_failure_is_not_retried_until_something_changes(store: StateStore) -> None:
    change = diff(store, [desired("1", 50)])
    store.record_writes(HS, change, [failed(change[0], WriteStatus.PERMANENT, "INVALID_PICKLIST")])
    assert store.pending_failures(HS) == []
    assert [f.error_code for f in store.pending_failures(HS, status=WriteStatus.PERMANENT)] == ["INVALID_PICKLIST"]
    assert diff(store, [desired("1", 50)]) == []  # would fail the same way again
    assert len(diff(store, [desired("1", 55)])) == 1  # other values: worth a try
    assert store.status(HS).failures == {"permanent": 1}
    assert store.clear_failures(HS, status=WriteStatus.PERMANENT) == 1  # the admin fixed the field
    assert len(diff(store, [desired("1", 50)])) == 1


def test_a_permanent_failure_of_a_record_read_again_is_tried_once_more_and_forgotten(store: StateStore) -> None:
    """A record the CRM answers a pull with changed there (or came back from its recycle bin):
    the diff sends it despite its permanent failure, and the batch forgets the failure."""
    key = RecordKey("contact", "1")
    change = diff(store, [desired("1", 50)])
    store.record_writes(HS, change, [failed(change[0], WriteStatus.PERMANENT, "ENTITY_IS_DELETED")])
    assert diff(store, [desired("1", 50)]) == []
    [again] = diff(store, [desired("1", 50)], reread=(key,))
    assert dict(again.update.values) == dict(desired("1", 50).values)
    # Recorded with the batch that read it (here the write is refused again, as a new failure).
    store.record_batch(HS, batch(lead("1")), [again], [failed(again, WriteStatus.PERMANENT, "INVALID_PICKLIST")],
                       reread=[key], substance=POLICY.substance)
    [kept] = store.pending_failures(HS, status=WriteStatus.PERMANENT)
    assert (kept.error_code, kept.attempts) == ("INVALID_PICKLIST", 1)
    # Read again with nothing to write: the failure is forgotten all the same.
    store.record_batch(HS, batch(lead("1"), cursor="c2"), reread=[key])
    assert store.failure_counts(HS) == {}
    # A retryable failure is not the batch's to forget: it is retried.
    change = diff(store, [desired("1", 60)])
    store.record_writes(HS, change, [failed(change[0])])
    store.record_batch(HS, batch(lead("1"), cursor="c3"), reread=[key])
    assert store.failure_counts(HS) == {"retryable": 1}


def test_after_a_failure_the_record_is_written_whole_even_back_at_its_old_values(store: StateStore) -> None:
    write_all(store, desired("1", 50))
    change = diff(store, [desired("1", 70, "SQL")])
    store.record_writes(HS, change, [failed(change[0], code="TIMEOUT")])  # may have landed
    [back] = diff(store, [desired("1", 50)])  # rescored back to what was last written
    assert dict(back.update.values) == dict(desired("1", 50).values)
    outcome = store.record_writes(HS, [back], [ok(back)])
    assert (outcome.written, outcome.history, outcome.unchanged) == (1, 0, 1)
    assert store.pending_failures(HS) == [] and diff(store, [desired("1", 50)]) == []


def test_a_redirected_write_is_recorded_where_it_landed(store: StateStore) -> None:
    changes = diff(store, [desired("00Q1", object_type="lead")])
    store.record_writes(HS, changes, [ok(changes[0], written_to="0031")])
    key = RecordKey("lead", "00Q1")
    assert store.last_written(HS, [key])[key].written_to == "0031"
    assert store.history(HS, key)[0].written_to == "0031"
    assert diff(store, [desired("00Q1", object_type="lead")]) == []


def test_results_must_match_changes(store: StateStore) -> None:
    changes = diff(store, [desired("1"), desired("2")])
    with pytest.raises(ValueError, match="1 write results for 2 changes"):
        store.record_writes(HS, changes, [ok(changes[0])])
    with pytest.raises(ValueError, match="expected"):
        store.record_writes(HS, changes, [ok(changes[1]), ok(changes[0])])


# --- the mirror --------------------------------------------------------------------------------


def test_the_mirror_feeds_a_rescore_with_activities(store: StateStore) -> None:
    leads = [lead(f"{i:03d}", employees=i, email=f"{i}@example.com") for i in range(7)]
    activities = tuple(
        activity(f"{i:03d}", "email_open", minutes=-m, campaign=f"c{m}") for i in range(7) for m in range(i % 3)
    )
    store.record_batch(HS, batch(*leads, activities=activities))
    store.record_batch("salesforce", PullBatch([lead("L1", object_type="lead")], [], Cursor("lead", "s1")))
    seen = list(store.mirror_leads(HS, "contact", page_size=3))  # pages of 3 across 7 leads
    assert [m.lead.id for m in seen] == [f"{i:03d}" for i in range(7)]
    assert seen[4].lead == leads[4]
    assert [len(m.activities) for m in seen] == [i % 3 for i in range(7)]
    assert [a.occurred_at for a in seen[2].activities] == [T0 - timedelta(minutes=1), T0]  # oldest first
    assert seen[2].activities[0] == Activity("002", "email_open", T0 - timedelta(minutes=1), {"campaign": "c1"})
    assert [m.lead.id for m in store.mirror_leads("salesforce")] == ["L1"]
    assert store.mirror_lead(HS, RecordKey("contact", "002")) == seen[2]
    assert store.mirror_lead(HS, RecordKey("contact", "nope")) is None
    status = store.status(HS)
    assert (status.mirrored_leads, status.mirrored_activities) == ({"contact": 7}, {"contact": 6})


def test_the_mirror_upserts_idempotently_and_never_goes_back(store: StateStore) -> None:
    visit = activity("1", minutes=5, url="/pricing")
    store.record_batch(HS, batch(lead("1", title="CTO"), activities=(visit, visit, activity("1", "call"))))
    store.record_batch(HS, batch(lead("1", title="CTO"), activities=(visit, activity("1", "call"))))  # redone
    [mirrored] = store.mirror_leads(HS)
    assert len(mirrored.activities) == 2
    # A newer pull replaces the fields and the activity set (the CRM deleted the call).
    later = T0 + timedelta(days=1)
    store.record_batch(HS, batch(lead("1", updated=later, title="CEO"), activities=(visit,)))
    [mirrored] = store.mirror_leads(HS)
    assert (mirrored.lead.fields["title"], mirrored.activities) == ("CEO", (visit,))
    # A backfill page holding the older record leaves the newer one alone; activities of a
    # mirrored lead not in the batch are added to it (those of a lead never mirrored come with it).
    store.record_batch(HS, batch(lead("2", updated=later)))
    outcome = store.record_batch(HS, batch(lead("1", title="CTO"), activities=(activity("2", "call"), activity("3", "call"))))
    assert (outcome.stale, outcome.mirrored) == (1, 0)
    assert store.mirror_lead(HS, RecordKey("contact", "1")).lead.fields["title"] == "CEO"  # type: ignore[union-attr]
    assert mirrored_activities(store) == 2
    assert [a.type for a in store.mirror_lead(HS, RecordKey("contact", "2")).activities] == ["call"]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="a contact batch holds lead records"):
        store.record_batch(HS, batch(lead("x", object_type="lead")))


def test_deletions_leave_the_mirror_and_the_failures(store: StateStore) -> None:
    store.record_batch(HS, batch(lead("1"), lead("2"), activities=(activity("1"), activity("2"))))
    write_all(store, desired("1"))
    change = diff(store, [desired("1", 80)])
    store.record_writes(HS, change, [failed(change[0])])
    outcome = store.record_batch(HS, batch(deleted=("1", "unknown"), cursor="c2"))
    assert outcome.deleted == 1
    assert [m.lead.id for m in store.mirror_leads(HS)] == ["2"]
    assert mirrored_activities(store) == 1
    assert store.pending_failures(HS) == []
    assert len(store.history(HS, RecordKey("contact", "1"))) == 1  # what was written stays on record


def test_datetimes_are_aware_utc_whatever_goes_in(store: StateStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    naive = datetime(2026, 11, 1, 9, 0)
    store.record_batch(
        HS,
        batch(
            Lead("1", "contact", {}, created_at=naive, updated_at=datetime(2026, 11, 1, 11, 0, tzinfo=plus_two)),
            activities=(Activity("1", "call", datetime(2026, 11, 1, 12, 0, tzinfo=plus_two)),),
        ),
    )
    [mirrored] = store.mirror_leads(HS)
    assert mirrored.lead.created_at == T0 and mirrored.lead.created_at.tzinfo == timezone.utc
    assert mirrored.lead.updated_at == T0 and mirrored.lead.updated_at.tzinfo == timezone.utc
    assert mirrored.activities[0].occurred_at == T0 + timedelta(hours=1)


# --- leases ------------------------------------------------------------------------------------


def test_a_lease_has_one_owner_until_it_expires_or_is_released(url: str, clock: Clock) -> None:
    with StateStore.open(url, clock=clock) as a, StateStore.open(url, clock=clock) as b:
        ttl = timedelta(minutes=5)
        assert a.acquire_lease(HS, "sync", "agent-a", ttl)
        assert not b.acquire_lease(HS, "sync", "agent-b", ttl)
        assert b.acquire_lease(HS, "backfill", "agent-b", ttl)  # another job of the connector
        assert b.acquire_lease("salesforce", "sync", "agent-b", ttl)  # another connector
        assert a.acquire_lease(HS, "sync", "agent-a", ttl)  # its own: extended
        clock.advance(minutes=4)
        assert a.renew_lease(HS, "sync", "agent-a", ttl)
        clock.advance(minutes=4)
        assert not b.acquire_lease(HS, "sync", "agent-b", ttl)  # renewed, still a's
        assert a.lease_holder(HS, "sync").owner == "agent-a"  # type: ignore[union-attr]
        clock.advance(minutes=2)  # a stopped renewing: expired, and taken over
        assert b.acquire_lease(HS, "sync", "agent-b", ttl)
        assert not a.renew_lease(HS, "sync", "agent-a", ttl)  # a learns it lost the lease
        assert not a.release_lease(HS, "sync", "agent-a")
        assert b.release_lease(HS, "sync", "agent-b")
        assert a.acquire_lease(HS, "sync", "agent-a", ttl)
        with pytest.raises(LeaseHeld, match="hubspot sync is already running by agent-a"):
            with b.hold(HS, "sync", "agent-b"):
                pass
        a.release_lease(HS, "sync", "agent-a")
        with b.hold(HS, "sync") as lease:
            assert a.lease_holder(HS, "sync").owner == lease.owner  # type: ignore[union-attr]
            assert [held.job for held in a.status(HS).leases] == ["sync"]  # the backfill lease expired
        assert a.lease_holder(HS, "sync") is None


def test_racing_agents_never_both_get_the_lease(url: str) -> None:
    stores = [StateStore.open(url) for _ in range(6)]
    start = threading.Barrier(len(stores))
    won: list[str] = []

    def race(store: StateStore, owner: str) -> None:
        start.wait()
        if store.acquire_lease(HS, "sync", owner, timedelta(minutes=1)):
            won.append(owner)

    threads = [threading.Thread(target=race, args=(s, f"agent-{i}")) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for store in stores:
        store.close()
    assert len(won) == 1


# --- runs, usage, status ------------------------------------------------------------------------


def test_the_run_log(store: StateStore, clock: Clock) -> None:
    crashed = store.start_run(HS, "sync")
    clock.advance(minutes=10)
    run = store.start_run(HS, "sync")  # under the lease: the earlier one's agent died
    clock.advance(seconds=1)
    backfill = store.start_run(HS, "backfill", backfill_id="bf-1")
    clock.advance(minutes=1)
    store.finish_run(run, "partial", {"written": 10, "retryable": 2}, error=None)
    latest = store.runs(HS)
    assert [(r.run_id, r.status) for r in latest] == [(backfill, "running"), (run, "partial"), (crashed, "interrupted")]
    assert latest[2].error == "the agent stopped before the run finished"
    assert (latest[1].counts, latest[1].started_at, latest[1].finished_at) == (
        {"written": 10, "retryable": 2},
        T0 + timedelta(minutes=10),
        T0 + timedelta(minutes=11, seconds=1),
    )
    assert [r.status for r in store.runs(HS, kind="sync")] == ["partial", "interrupted"]
    assert store.status(HS).last_runs["backfill"].backfill_id == "bf-1"
    with pytest.raises(ValueError):
        store.finish_run("nope", "ok")
    with pytest.raises(ValueError):
        store.start_run(HS, "bogus")  # type: ignore[arg-type]


def test_api_usage_per_day_and_the_status(store: StateStore, clock: Clock) -> None:
    store.add_api_calls(HS, {"search": 3, "batch_update": 1, "unused": 0})
    store.add_api_calls(HS, {"search": 2})
    store.add_api_calls(HS, {"search": 7}, day=date(2026, 10, 31))
    store.add_api_calls("salesforce", {"query": 5})
    assert store.api_calls(HS) == {date(2026, 10, 31): {"search": 7}, T0.date(): {"batch_update": 1, "search": 5}}
    assert store.api_calls(HS, since=T0.date()) == {T0.date(): {"batch_update": 1, "search": 5}}
    store.record_batch(HS, batch(lead("1"), cursor="c9"))
    status = store.status(HS)
    assert status.api_calls_today == {"batch_update": 1, "search": 5}
    assert status.cursors["contact"].value == "c9" and status.cursors["contact"].updated_at == T0
    assert store.status("nobody").cursors == {}


# --- failures of the database itself ------------------------------------------------------------


def _big_batch(n: int = 1000) -> PullBatch:
    leads = [lead(f"L{i:05d}", note="x" * 400, email=f"{i}@example.com") for i in range(n)]
    activities = tuple(activity(f"L{i:05d}", "page_view", minutes=m, url=f"/p/{m}") for i in range(n) for m in range(2))
    return batch(*leads, activities=activities, cursor="big")


def test_a_full_disk_is_one_state_error_and_applies_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with StateStore.open(url) as store:
        store.record_batch(HS, batch(lead("1"), cursor="c1"))
        with store.engine.connect() as conn:
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())

        @event.listens_for(store.engine, "connect")
        def _small_disk(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 4}")

        store.engine.dispose()
        with pytest.raises(StateError) as raised:
            store.record_batch(HS, _big_batch())
        assert isinstance(raised.value, LeadscoreError)
        message = str(raised.value)
        assert "cannot mirror the hubspot contact batch: database or disk is full" in message
        assert "\n" not in message and "INSERT" not in message
    with StateStore.open(url) as store:  # disk freed: the batch left no trace
        assert store.cursor(HS, "contact") == "c1"
        assert [m.lead.id for m in store.mirror_leads(HS)] == ["1"]


def test_a_dropped_postgres_connection_is_one_state_error_and_applies_nothing(
    postgres_url: str, postgres_admin: sa.Engine
) -> None:
    with StateStore.open(postgres_url) as store:
        store.record_batch(HS, batch(lead("1"), cursor="c1"))
        pids: list[int] = []
        event.listen(store.engine, "begin", lambda conn: pids.append(conn.connection.dbapi_connection.info.backend_pid))
        with pytest.raises(StateError, match="cannot advance the hubspot contact cursor"):
            with store.batch(HS, "contact") as tx:
                tx.mirror([lead("2")])
                with postgres_admin.connect() as admin:
                    admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[-1]})
                tx.advance("c2")
        assert store.cursor(HS, "contact") == "c1"  # the pool replaced the dead connection
        assert [m.lead.id for m in store.mirror_leads(HS)] == ["1"]


def test_an_unreachable_database_is_one_state_error_without_the_password(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(StateError) as raised:
        StateStore.open(f"postgresql://leadscore:s3cret@127.0.0.1:{port}/state")
    assert "s3cret" not in str(raised.value) and "cannot open" in str(raised.value)
    (tmp_path / "file").write_text("")
    with pytest.raises(StateError, match="cannot create its folder"):
        StateStore.open(path=tmp_path / "file" / "state.db")
    with pytest.raises(StateError, match="mysql is not supported"):
        StateStore.open("mysql://x@localhost/db")


# --- size ----------------------------------------------------------------------------------------


def test_a_thousand_record_batch_is_quick(store: StateStore) -> None:
    big = _big_batch()
    wanted = [desired(lead.id, 40 + i % 50) for i, lead in enumerate(big.leads)]
    started = time.perf_counter()
    changes = diff(store, wanted)
    outcome = store.record_batch(HS, big, changes, [ok(c) for c in changes])
    rescored = sum(1 for _ in store.mirror_leads(HS))
    again = diff(store, wanted)
    elapsed = time.perf_counter() - started
    assert (len(changes), outcome.mirrored, outcome.activities, outcome.history, rescored, again) == (
        1000,
        1000,
        2000,
        1000,
        1000,
        [],
    )
    assert elapsed < 5, f"a 1,000-record batch took {elapsed:.1f}s"
