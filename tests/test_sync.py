"""The sync pipeline and its jobs: pull -> score -> diff -> write -> record, against a scripted CRM
(exact control over failures and crashes) and against the HubSpot emulator (the real SDK)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pytest
from typer.testing import CliRunner

from leadscore.agent.config import AgentConfig, parse_config
from leadscore.agent.core.errors import TransientError
from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.settings import AgentSettings
from leadscore.agent.state import RecordKey, StateStore
from leadscore.agent.sync import Agent, SyncPipeline
from leadscore.agent.sync.jobs import ConnectorJobs
from leadscore.agent.core.contract import Cursor, PullBatch, PullNeeds, ScoreUpdate, WriteResult, WriteSpec, WriteStatus
from tests.conftest import ConnectorDouble

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)

MODEL = """
[scoring]
name = "sync-test"
[[scoring.rules]]
kind = "fit"
id = "vp"
label = "Title: {value}"
field = "title"
contains = "VP"
points = 30
[[scoring.rules]]
kind = "engagement"
id = "meeting"
label = "Meeting"
activity = "meeting"
points = 40
decay = { kind = "step", after_days = 30, factor = 0.5 }
[[scoring.stages]]
name = "Cold"
[[scoring.stages]]
name = "MQL"
min_score = 40
"""
THRESHOLD, LOWER_THRESHOLD = "min_score = 40", "min_score = 30"


# --- a scripted CRM ------------------------------------------------------------------------------


@dataclass
class Record:
    fields: dict[str, Any]
    modified: datetime
    activities: list[Activity] = field(default_factory=list)
    written: dict[str, Any] = field(default_factory=dict)


class ScriptedCrm(ConnectorDouble):
    """A connector over an in-memory CRM: cursors are ISO instants of the last modified record,
    batches of ``batch_size``; ``refuse`` ids fail their writes, ``fail_calls`` make whole write
    calls raise, ``crash_after_writes`` raises after that many write calls landed."""

    name = "scripted"
    object_types = ("lead",)

    def __init__(self, count: int = 0, batch_size: int = 10) -> None:
        self.records: dict[str, Record] = {}
        self.batch_size = batch_size
        self.refuse: dict[str, WriteStatus] = {}
        self.fail_calls = 0
        self.calls: Counter[str] = Counter()
        self.updates: list[ScoreUpdate] = []
        self.bad_score: set[str] = set()
        for n in range(count):
            self.add(f"L{n:05d}", {"title": "VP Sales" if n % 3 == 0 else "Engineer"}, T0 - timedelta(days=60) + timedelta(minutes=n))

    @property
    def write_values(self) -> frozenset[str]:
        return frozenset({"score", "stage", "reason"})

    def add(self, record_id: str, fields: dict[str, Any], modified: datetime, activities: Sequence[str] = ()) -> None:
        acts = [Activity(record_id, kind, modified - timedelta(days=1)) for kind in activities]
        self.records[record_id] = Record(fields, modified, acts)

    def check(self) -> Any:
        raise NotImplementedError

    def setup(self, spec: WriteSpec) -> Any:
        raise NotImplementedError

    def pull(self, cursor: Cursor, *, until: datetime | None = None, needs: PullNeeds | None = None) -> Iterator[PullBatch]:
        since = datetime.fromisoformat(cursor.value.replace("Z", "+00:00")) if cursor.value else None
        rows = sorted(
            ((rid, r) for rid, r in self.records.items() if (since is None or r.modified > since) and (until is None or r.modified <= until)),
            key=lambda x: (x[1].modified, x[0]),
        )
        for start in range(0, len(rows), self.batch_size):
            self.calls["pull"] += 1
            page = rows[start : start + self.batch_size]
            leads = [Lead(rid, "lead", dict(r.fields), updated_at=r.modified) for rid, r in page]
            acts = [a for _, r in page for a in r.activities]
            yield PullBatch(leads, acts, Cursor("lead", page[-1][1].modified.isoformat()))

    def pull_outcomes(self, cursor: Cursor, *, until: datetime | None = None) -> Iterator[Any]:
        return iter(())

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        self.calls["write"] += 1
        if self.fail_calls:
            self.fail_calls -= 1
            raise TransientError("the CRM answered 503 three times")
        results = []
        for update in updates:
            self.updates.append(update)
            status = self.refuse.get(update.record_id)
            if status is not None:
                results.append(WriteResult(update.record_id, status, "REFUSED", "scripted refusal"))
                continue
            self.records[update.record_id].written.update(update.values)
            results.append(WriteResult(update.record_id, WriteStatus.OK))
        return results

    def api_calls(self) -> Mapping[str, int]:
        return dict(self.calls)


class Crash(Exception):
    """Stands in for the process dying (kill -9) at a chosen point."""


def config(extra: str = "", model: str = MODEL) -> AgentConfig:
    """The config, validated as the agent does - except that the scripted connector is not an
    installed entry point, so its table is not looked up."""
    import tomllib

    return AgentConfig.model_validate(tomllib.loads(model + extra))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """The pipeline's tests run on both backends (PostgreSQL: a real server, see tests/postgres.py)."""
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = StateStore.open(url)
    yield s
    s.close()


def pipeline(crm: ScriptedCrm, store: StateStore, cfg: AgentConfig | None = None, **kw: Any) -> SyncPipeline:
    cfg = cfg or config()
    kw.setdefault("as_of", T0)
    kw.setdefault("retry_after", timedelta(0))
    return SyncPipeline("scripted", crm, store, ScoringEngine(cfg.scoring), **kw)  # type: ignore[arg-type]


def expected(crm: ScriptedCrm, cfg: AgentConfig | None = None, at: datetime = T0) -> dict[str, tuple[int, str]]:
    engine = ScoringEngine((cfg or config()).scoring)
    out = {}
    for rid, r in crm.records.items():
        result = engine.score(Lead(rid, "lead", r.fields), r.activities, at)
        out[rid] = (result.score, result.stage)
    return out


def crm_state(crm: ScriptedCrm) -> dict[str, tuple[int, str]]:
    return {rid: (r.written.get("score"), r.written.get("stage")) for rid, r in crm.records.items()}  # type: ignore[misc]


# --- the pipeline --------------------------------------------------------------------------------


def test_first_sync_writes_everything_and_the_second_nothing(store: StateStore) -> None:
    crm = ScriptedCrm(45)
    first = pipeline(crm, store).sync()
    assert (first.pulled, first.written, first.batches) == (45, 45, 5)
    assert crm_state(crm) == expected(crm)
    writes = crm.calls["write"]
    second = pipeline(crm, store).sync()
    assert second.pulled == 0 and second.written == 0 and crm.calls["write"] == writes
    assert store.cursor("scripted", "lead") == max(r.modified for r in crm.records.values()).isoformat()


def test_an_edit_is_pulled_and_only_it_is_written(store: StateStore) -> None:
    crm = ScriptedCrm(30)
    pipeline(crm, store).sync()
    crm.records["L00001"].fields["title"] = "VP Marketing"
    crm.records["L00001"].modified = T0 - timedelta(days=1)
    crm.updates.clear()
    counts = pipeline(crm, store).sync()
    assert counts.pulled == 1 and [u.record_id for u in crm.updates] == ["L00001"]
    assert crm.records["L00001"].written["score"] == 30


def test_a_crash_before_the_batch_is_recorded_redoes_only_that_batch(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    crm = ScriptedCrm(50)
    real = store.record_batch
    recorded = 0

    def dying(*args: Any, **kw: Any) -> Any:
        nonlocal recorded
        if recorded == 2:
            raise Crash("killed after the third batch's write, before its commit")
        recorded += 1
        return real(*args, **kw)

    monkeypatch.setattr(store, "record_batch", dying)
    with pytest.raises(Crash):
        pipeline(crm, store).sync()
    monkeypatch.setattr(store, "record_batch", real)
    after_crash = len(crm.updates)
    assert after_crash == 30  # three batches written, two recorded
    pipeline(crm, store).sync()
    assert crm_state(crm) == expected(crm)
    rewritten = Counter(u.record_id for u in crm.updates)
    assert len(crm.updates) == 50 + 10 and sum(1 for n in rewritten.values() if n == 2) == 10  # one batch, once more


def test_refused_writes_are_kept_and_the_next_run_retries_them(store: StateStore) -> None:
    crm = ScriptedCrm(20)
    crm.refuse = {"L00003": WriteStatus.RETRYABLE, "L00004": WriteStatus.PERMANENT}
    first = pipeline(crm, store).sync()
    assert (first.written, first.retryable, first.permanent, first.status) == (18, 1, 1, "partial")
    assert store.failure_counts("scripted") == {"retryable": 1, "permanent": 1} == dict(store.status("scripted").failures)
    crm.refuse = {}
    crm.updates.clear()
    second = pipeline(crm, store).sync()
    # The retryable one is retried; the permanent one waits for a change (or the admin).
    assert [u.record_id for u in crm.updates] == ["L00003"] and second.retried == 1
    assert crm.records["L00003"].written and not crm.records["L00004"].written
    assert [f.key.record_id for f in store.pending_failures("scripted", status=WriteStatus.PERMANENT)] == ["L00004"]


def test_a_failed_write_call_keeps_the_batch_as_retryable_and_stops(store: StateStore) -> None:
    crm = ScriptedCrm(25)
    crm.fail_calls = 1
    with pytest.raises(TransientError):
        pipeline(crm, store).sync()
    # The batch was recorded with its writes kept for later; the run stopped there.
    assert len(store.pending_failures("scripted")) == 10
    assert store.cursor("scripted", "lead") is not None
    pipeline(crm, store).sync()
    assert crm_state(crm) == expected(crm) and not store.pending_failures("scripted")


def test_a_record_the_engine_cannot_score_is_counted_and_the_rest_written(store: StateStore) -> None:
    crm = ScriptedCrm(12)
    p = pipeline(crm, store)
    real = p.scorer.score

    def flaky(lead: Lead, *a: Any, **k: Any) -> Any:
        if lead.id == "L00005":
            raise ValueError("a value the engine chokes on")
        return real(lead, *a, **k)

    p.scorer = type("S", (), {"score": staticmethod(flaky), "version": real.__self__.version, "engine": real.__self__})()  # type: ignore[attr-defined]
    counts = p.sync()
    assert (counts.bad, counts.written, counts.status) == (1, 11, "partial")
    assert not crm.records["L00005"].written


def test_rescore_writes_exactly_the_records_decay_moved(store: StateStore) -> None:
    crm = ScriptedCrm(0)
    for n in range(40):  # meetings 29.5 days old for the first 8: their points halve by T0 + 1 day
        age = timedelta(days=29.5) if n < 8 else timedelta(days=5)
        crm.add(f"M{n:03d}", {"title": "Engineer"}, T0 - age + timedelta(days=1), ["meeting"])
    pipeline(crm, store).sync()
    crm.updates.clear()
    calls = crm.calls.copy()
    same_day = pipeline(crm, store).rescore(T0 + timedelta(hours=2))
    assert same_day.changed == 0 and crm.calls == calls, "an unchanged rescore must make no CRM call"
    next_day = pipeline(crm, store).rescore(T0 + timedelta(days=1))
    assert sorted(u.record_id for u in crm.updates) == [f"M{n:03d}" for n in range(8)]
    assert next_day.written == 8 and next_day.pulled == 0 and crm.calls["pull"] == calls["pull"]


def test_reason_ages_alone_do_not_make_a_write(store: StateStore) -> None:
    crm = ScriptedCrm(0)
    crm.add("A", {"title": "VP"}, T0 - timedelta(days=3), ["meeting"])
    pipeline(crm, store).sync()
    before = crm.records["A"].written["reason"]
    crm.updates.clear()
    pipeline(crm, store).rescore(T0 + timedelta(days=2))
    assert not crm.updates and "(4d ago)" in before


def test_a_new_model_version_rescores_the_mirror_first(tmp_path: Path) -> None:
    crm = ScriptedCrm(20)
    agent = Agent.open(config('\n[connectors.scripted]\n[agent]\nstate_url = "sqlite:///' + str(tmp_path / "s.db") + '"\n'))
    jobs = agent.jobs["scripted"]
    jobs._factory = lambda table: crm  # type: ignore[assignment]
    assert [o.kind for o in jobs.run("sync")] == ["sync"]
    changed = MODEL.replace("points = 30", "points = 45")
    agent2 = Agent.open(config(model=changed, extra='\n[connectors.scripted]\n[agent]\nstate_url = "sqlite:///' + str(tmp_path / "s.db") + '"\n'))
    jobs2 = agent2.jobs["scripted"]
    jobs2._factory = lambda table: crm  # type: ignore[assignment]
    pulls = crm.calls["pull"]
    outcomes = jobs2.run("sync")
    assert [o.kind for o in outcomes] == ["rescore", "sync"]
    assert outcomes[0].counts.written == 7 and crm.calls["pull"] == pulls  # the VPs, from the mirror
    assert [o.kind for o in jobs2.run("sync")] == ["sync"]
    # A model reading a field the mirror lacks needs a re-pull: a backfill, once.
    reads_more = changed + '[[scoring.rules]]\nkind = "fit"\nlabel = "Tech"\nfield = "industry"\nequals = "Tech"\npoints = 5\n'
    agent3 = Agent.open(config(model=reads_more, extra='\n[connectors.scripted]\n[agent]\nstate_url = "sqlite:///' + str(tmp_path / "s.db") + '"\n'))
    jobs3 = agent3.jobs["scripted"]
    jobs3._factory = lambda table: crm  # type: ignore[assignment]
    assert [o.kind for o in jobs3.run("sync")] == ["backfill", "sync"]
    assert [o.kind for o in jobs3.run("sync")] == ["sync"]
    for a in (agent, agent2, agent3):
        a.close()


def test_backfill_resumes_where_it_was_stopped(store: StateStore) -> None:
    crm = ScriptedCrm(60)
    stops = iter([False, False, True])  # before the pass, after batch 1, after batch 2
    first = pipeline(crm, store, should_stop=lambda: next(stops, False)).backfill()
    assert first.interrupted and first.pulled == 20
    assert store.cursor("scripted", "lead") is None, "a backfill never moves the live cursor while it runs"
    second = pipeline(crm, store).backfill()
    assert not second.interrupted and second.pulled == 40
    assert crm_state(crm) == expected(crm)
    assert [b.done for b in store.backfills("scripted", active_only=False)] == [True]
    # The finished full backfill hands its end to the live sync, which then has nothing to pull.
    assert pipeline(crm, store).sync().pulled == 0


def test_dry_run_plans_changes_and_touches_nothing(store: StateStore) -> None:
    crm = ScriptedCrm(15)
    planned = list(pipeline(crm, store).plan())
    assert {p.record_id for p in planned} == set(crm.records)
    assert {name for p in planned for name, _before, _after in p.planned()} == {"score", "stage", "reason"}
    assert crm.calls["write"] == 0 and not any(r.written for r in crm.records.values())
    assert store.cursor("scripted", "lead") is None and not list(store.mirror_leads("scripted"))
    assert not store.runs("scripted")


def test_only_configured_values_are_sent(store: StateStore) -> None:
    crm = ScriptedCrm(5)
    pipeline(crm, store).sync()
    assert {name for u in crm.updates for name in u.values} == {"score", "stage", "reason"}


# --- jobs, leases, the scheduler -----------------------------------------------------------------


def jobs_for(crm: ScriptedCrm, store: StateStore, **kw: Any) -> ConnectorJobs:
    cfg = config()
    return ConnectorJobs("scripted", {}, store, ScoringEngine(cfg.scoring), AgentSettings(lease="2s", retry_after="0.01s"), factory=lambda t: crm, **kw)  # type: ignore[arg-type]


def test_a_second_agent_skips_a_connector_whose_lease_is_held(store: StateStore) -> None:
    crm = ScriptedCrm(10)
    mine, theirs = jobs_for(crm, store, owner="agent-a"), jobs_for(crm, store, owner="agent-b")
    assert store.acquire_lease("scripted", "pipeline", "agent-a", timedelta(seconds=30))
    [skipped] = theirs.run("sync")
    assert skipped.status == "skipped" and "agent-a" in (skipped.error or "")
    store.release_lease("scripted", "pipeline", "agent-a")
    assert [o.status for o in theirs.run("sync")] == ["ok"] and [o.status for o in mine.run("sync")] == ["ok"]


def test_a_long_job_keeps_its_lease_alive(store: StateStore) -> None:
    crm = ScriptedCrm(30, batch_size=1)
    slow = crm.write

    def slow_write(updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        time.sleep(0.1)
        return slow(updates)

    crm.write = slow_write  # type: ignore[method-assign]
    jobs = jobs_for(crm, store, owner="agent-a")
    thief = jobs_for(crm, store, owner="agent-b")
    results: list[Any] = []
    t = threading.Thread(target=lambda: results.extend(jobs.run("sync")))
    t.start()
    while t.is_alive() and store.lease_holder("scripted", "pipeline") is None:
        time.sleep(0.01)
    deadline = time.monotonic() + 2.8  # longer than the 2 s lease: renewed meanwhile
    taken = []
    while t.is_alive() and time.monotonic() < deadline:
        taken += [o.status for o in thief.run("sync")]
        time.sleep(0.2)
    t.join()
    assert results[0].status == "ok" and set(taken) == {"skipped"}


def test_the_service_runs_jobs_and_stops_cleanly(tmp_path: Path) -> None:
    from leadscore.agent.metrics import HealthState, Metrics
    from leadscore.agent.scheduler import serve

    crm = ScriptedCrm(10)
    cfg = config('\n[connectors.scripted]\n[agent]\nstate_url = "sqlite:///' + str(tmp_path / "s.db") + '"\n[schedule]\nsync_every = "0.2s"\n')
    agent = Agent.open(cfg, metrics=Metrics(), health=HealthState())
    agent.jobs["scripted"]._factory = lambda table: crm  # type: ignore[assignment]
    code: list[int] = []
    runner = threading.Thread(target=lambda: code.append(serve(agent, cfg.schedule, install_signals=False)))
    runner.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum(r.status == "ok" for r in agent.store.runs("scripted")) < 3:
        time.sleep(0.05)
    agent.stop.set()
    runner.join(timeout=10)
    statuses = [r.status for r in agent.store.runs("scripted")]
    # A tick under way when the stop came finishes its batch and ends "interrupted"; nothing fails.
    assert code == [0] and statuses.count("ok") >= 3 and set(statuses) <= {"ok", "interrupted"}, statuses
    assert crm_state(crm) == {rid: v for rid, v in expected(crm, cfg, at=crm_state_time(agent)).items()}
    samples = agent.metrics.registry.get_sample_value("leadscore_records_written_total", {"connector": "scripted"})  # type: ignore[union-attr]
    assert samples == 10
    agent.close()


def crm_state_time(agent: Agent) -> datetime:
    return agent.store.now()


# --- the CLI on the state: preview and status ------------------------------------------------------


def test_preview_and_status_read_the_state_and_write_nothing(tmp_path: Path) -> None:
    from leadscore.agent.cli import app

    crm = ScriptedCrm(30)
    # The CLI validates connector tables against installed connectors: the state is kept under
    # the hubspot name, and the scripted CRM stands in for it (preview and status never call it).
    tail = '\n[connectors.hubspot]\naccess_token = "x"\n[agent]\nstate_url = "sqlite:///' + str(tmp_path / "s.db") + '"\n'
    (tmp_path / "leadscore.toml").write_text(MODEL + tail)
    (tmp_path / "new.toml").write_text(MODEL.replace("points = 30", "points = 45") + tail)
    agent = Agent.open(config(tail))
    agent.jobs["hubspot"]._factory = lambda table: crm  # type: ignore[assignment]
    agent.jobs["hubspot"].run("sync")
    agent.close()
    writes = crm.calls["write"]
    runner = CliRunner()
    shown = runner.invoke(app, ["preview", "--config", str(tmp_path / "new.toml"), "--current", str(tmp_path / "leadscore.toml")])
    assert shown.exit_code == 0, shown.output
    assert "30 mirrored records" in shown.output and "10 records change score, 10 change stage" in shown.output
    assert "30 -> 45 (+15)" in shown.output
    assert crm.calls["write"] == writes, "preview wrote something"
    # Only a threshold moved: stages change, no score does, and preview says so.
    (tmp_path / "thresholds.toml").write_text(MODEL.replace(THRESHOLD, LOWER_THRESHOLD) + tail)
    shown = runner.invoke(app, ["preview", "--config", str(tmp_path / "thresholds.toml"), "--current", str(tmp_path / "leadscore.toml")])
    assert shown.exit_code == 0, shown.output
    assert "0 records change score, 10 change stage" in shown.output
    status = runner.invoke(app, ["status", "--config", str(tmp_path / "leadscore.toml")])
    assert status.exit_code == 0, status.output
    assert "mirrored: 30 leads" in status.output and "written: 30 leads" in status.output and "failed writes: none" in status.output


# --- the real SDK, the HubSpot emulator --------------------------------------------------------------


@pytest.mark.network
def test_hubspot_sync_through_the_emulator_logs_no_secret(tmp_path: Path) -> None:
    from leadscore.agent.logs import configure_logging, register_config_secrets
    from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits

    emulator = HubSpotEmulator(limits=RateLimits(per_ten_seconds=100_000, daily=10_000_000, search_per_second=10_000)).start()
    try:
        ids = emulator.seed(300, seed=5, as_of=T0)
        table = {"access_token": emulator.token, "host": emulator.base_url, "per_ten_seconds": 100_000, "search_per_second": 10_000}
        stream = io.StringIO()
        configure_logging("json", "debug", stream=stream)
        register_config_secrets({"hubspot": table})
        cfg = parse_config(MODEL)
        store = StateStore.open(f"sqlite:///{tmp_path / 's.db'}")
        jobs = ConnectorJobs("hubspot", table, store, ScoringEngine(cfg.scoring), AgentSettings())
        crm = jobs.connector()
        crm.setup(WriteSpec(frozenset(crm.write_values), ["Cold", "MQL"]))
        [first] = jobs.run("sync", as_of=T0)
        [second] = jobs.run("sync", as_of=T0)
        assert first.status == "ok" and first.counts.written == 300
        assert second.counts.written == 0
        engine = ScoringEngine(cfg.scoring)
        for record_id in ids[:50]:
            mirrored = store.mirror_lead("hubspot", RecordKey("contact", record_id))
            assert mirrored is not None
            result = engine.score(mirrored.lead, mirrored.activities, T0)
            shown = emulator.contact(record_id)
            assert (int(float(shown["leadscore_score"] or "nan")), shown["leadscore_stage"]) == (result.score, result.stage)
        assert {p for p, n in emulator.property_writes().items() if n} == {"leadscore_score", "leadscore_stage", "leadscore_reason"}
        lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
        assert any(line.get("event") == "run.finished" and line.get("connector") == "hubspot" and line.get("run_id") for line in lines)
        assert emulator.token not in stream.getvalue()
        store.close()
    finally:
        configure_logging("console", "warning")
        emulator.stop()



def test_a_write_redirected_to_another_record_is_remembered_for_it(store: StateStore) -> None:
    """A Salesforce lead converted between pull and write: its values land on the Contact, which
    then carries them - its first sync must not write the same values again."""
    crm = ScriptedCrm(3)
    real = crm.write

    def converting(updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        results = real(updates)
        return [
            WriteResult(r.record_id, r.status, written_to="C-1", written_to_type="contact") if r.record_id == "L00001" else r
            for r in results
        ]

    crm.write = converting  # type: ignore[method-assign]
    pipeline(crm, store).sync()
    lead = store.last_written("scripted", [RecordKey("lead", "L00001")])[RecordKey("lead", "L00001")]
    contact = store.last_written("scripted", [RecordKey("contact", "C-1")])
    assert lead.written_to == "C-1"
    assert contact[RecordKey("contact", "C-1")].values == lead.values


def test_a_redirected_write_is_remembered_for_its_target_as_what_was_sent(store: StateStore) -> None:
    """The lead was written before; only its changed values are sent, and they land on a Contact
    that never carried the rest: the Contact is remembered with what it got, so its own diff sends
    the rest (a Contact was left without its stage, found by the convergence test)."""
    crm = ScriptedCrm(3)
    pipeline(crm, store).sync()
    crm.add("L00001", {"title": "VP Sales"}, T0 - timedelta(days=1), activities=["demo_request"])
    real = crm.write

    def converting(updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        results = real(updates)
        return [WriteResult(r.record_id, r.status, written_to="C-1", written_to_type="contact") for r in results]

    crm.write = converting  # type: ignore[method-assign]
    pipeline(crm, store).sync()
    [sent] = [u for u in crm.updates if u.record_id == "L00001"][-1:]
    lead = store.last_written("scripted", [RecordKey("lead", "L00001")])[RecordKey("lead", "L00001")]
    contact = store.last_written("scripted", [RecordKey("contact", "C-1")])[RecordKey("contact", "C-1")]
    assert set(sent.values) < set(lead.values), "the scenario needs a partial update"
    assert contact.values == dict(sent.values)


def test_a_spent_quota_pauses_the_connector_until_it_resets(store: StateStore) -> None:
    from leadscore.agent.core.errors import QuotaExhausted

    crm = ScriptedCrm(15)
    resume = datetime.now(timezone.utc) + timedelta(hours=3)

    def spent(updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        crm.calls["write"] += 1
        raise QuotaExhausted("daily API budget spent", resume_at=resume)

    crm.write = spent  # type: ignore[method-assign]
    jobs = jobs_for(crm, store)
    [failed] = jobs.run("sync")
    assert failed.status == "failed" and "budget" in (failed.error or "")
    assert len(store.pending_failures("scripted")) == 10, "the batch's writes are kept for later"
    calls = crm.calls.copy()
    [paused] = jobs.run("sync")
    assert paused.status == "skipped" and "paused until" in (paused.error or "") and crm.calls == calls
    jobs.paused_until = datetime.now(timezone.utc) - timedelta(seconds=1)  # the allocation resets
    time.sleep(0.05)  # past the kept failures' retry wait (retry_after = 0.01 s)
    crm.write = ScriptedCrm.write.__get__(crm)  # type: ignore[method-assign]
    [ok] = jobs.run("sync")
    assert ok.status == "ok" and crm_state(crm) == expected(crm, at=ok_time(store))


def ok_time(store: StateStore) -> datetime:
    return store.now()


def test_a_one_shot_sync_says_so_and_exits_3_when_another_agent_runs_the_connector(tmp_path: Path) -> None:
    from leadscore.agent.cli import app

    url = f"sqlite:///{tmp_path / 's.db'}"
    (tmp_path / "leadscore.toml").write_text(MODEL + f'\n[connectors.hubspot]\naccess_token = "x"\n[agent]\nstate_url = "{url}"\n')
    with StateStore.open(url) as store:
        assert store.acquire_lease("hubspot", "pipeline", "host-b:42:abc", timedelta(minutes=2))
        result = CliRunner().invoke(app, ["sync", "--config", str(tmp_path / "leadscore.toml")])
        assert result.exit_code == 3, result.output
        assert "host-b:42:abc" in result.output and "run it again" in result.output
        assert store.runs("hubspot") == []


def test_the_nightly_rescore_prunes_old_bookkeeping_and_keeps_history(store: StateStore) -> None:
    crm = ScriptedCrm(5)
    jobs = jobs_for(crm, store)
    jobs.run("sync")
    old = store.start_run("scripted", "sync")
    store.finish_run(old, "ok", {})
    store.add_api_calls("scripted", {"query": 3}, day=(datetime.now(timezone.utc) - timedelta(days=200)).date())
    pruned = store.prune("scripted", datetime.now(timezone.utc) + timedelta(seconds=1))
    assert pruned["runs"] == 2 and pruned["api_usage_days"] == 1
    assert store.history("scripted", RecordKey("lead", "L00000")), "score history is kept"
    jobs.run("sync")
    jobs.settings = AgentSettings(lease="2s", keep_runs="1s")
    time.sleep(1.1)
    jobs.run("rescore")
    assert [r.kind for r in store.runs("scripted")] == ["rescore"]
