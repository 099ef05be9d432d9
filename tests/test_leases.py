"""One connector's jobs never run twice at once: the lease in the state store keeps a second agent
(another ``leadscore run``, a ``leadscore sync`` by hand) off them; and SIGTERM stops a sync after
its batch in flight, leaving a cursor the next sync resumes from exactly."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from leadscore.agent.config import parse_config
from leadscore.agent.core.records import Lead
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.settings import AgentSettings
from leadscore.agent.state import LeaseHeld, StateStore
from leadscore.agent.sync.jobs import LEASE_JOB, ConnectorJobs
from leadscore.agent.core.contract import Cursor, PullBatch, ScoreUpdate, WriteResult, WriteStatus
from leadscore.connectors.hubspot.emulator import HubSpotEmulator
from tests.cli_agent import (
    TIMELESS_MODEL,
    CliAgent,
    json_events,
    records_written,
    start_emulator,
    wait_for,
    written_values,
)
from tests.conftest import ConnectorDouble

# --- in process: two agents, one store ---------------------------------------------------------


class GatedConnector(ConnectorDouble):
    """A connector whose pull blocks until ``release`` is set, so a test holds a job mid-run."""

    name = "fake"
    object_types = ("contact",)

    def __init__(self, release: threading.Event | None = None) -> None:
        self.release = release
        self.entered = threading.Event()
        self.writes: list[ScoreUpdate] = []

    @property
    def write_values(self) -> frozenset[str]:
        return frozenset({"score", "stage", "reason"})

    def pull(self, cursor: Cursor, *, until: Any = None, needs: Any = None) -> Iterator[PullBatch]:
        self.entered.set()
        if self.release is not None:
            assert self.release.wait(30), "the test never released the pull"
        if cursor.value is None:
            lead = Lead("1", "contact", {"industry": "Technology", "title": "CEO"})
            yield PullBatch([lead], [], Cursor("contact", "2026-11-01T00:00:00Z"))

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        self.writes.extend(updates)
        return [WriteResult(u.record_id, WriteStatus.OK) for u in updates]

    def api_calls(self) -> dict[str, int]:
        return {}


def test_a_job_under_another_agents_lease_is_skipped_without_touching_the_crm(tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    scorer = ScoringEngine(parse_config(TIMELESS_MODEL).scoring)
    settings = AgentSettings(lease=timedelta(seconds=30))
    release = threading.Event()
    holding, waiting = GatedConnector(release), GatedConnector()
    built: list[str] = []

    def jobs(owner: str, connector: GatedConnector) -> ConnectorJobs:
        def factory(_table: Any) -> GatedConnector:
            built.append(owner)
            return connector

        return ConnectorJobs("fake", {}, store, scorer, settings, owner=owner, factory=factory)

    first, second = jobs("agent-a", holding), jobs("agent-b", waiting)
    outcomes: list[Any] = []
    runner = threading.Thread(target=lambda: outcomes.extend(first.run("sync")))
    runner.start()
    try:
        assert holding.entered.wait(10), "the first agent's sync never started"
        assert store.lease_holder("fake", LEASE_JOB).owner == "agent-a"  # type: ignore[union-attr]

        skipped = second.run("sync")
        assert [(o.kind, o.status) for o in skipped] == [("sync", "skipped")]
        assert "agent-a" in (skipped[0].error or "")
        with pytest.raises(LeaseHeld) as held:
            second.run("backfill", raise_errors=True)
        assert held.value.owner == "agent-a"
        assert built == ["agent-a"]  # the skipped agent never even built its connector
        assert [r.status for r in store.runs("fake")] == ["running"]  # and logged no run
    finally:
        release.set()
        runner.join(30)
    assert [(o.kind, o.status) for o in outcomes] == [("sync", "ok")]
    assert [u.record_id for u in holding.writes] == ["1"]
    assert store.lease_holder("fake", LEASE_JOB) is None  # released at the end of the job

    after = second.run("sync")  # free now: the other agent's incremental sync runs
    assert [(o.kind, o.status) for o in after] == [("sync", "ok")]
    assert built == ["agent-a", "agent-b"] and not waiting.writes
    store.close()


# --- two services on one store -------------------------------------------------------------------


def _overlaps(store: StateStore) -> list[tuple[Any, Any]]:
    runs = sorted(store.runs("hubspot", limit=1000), key=lambda r: r.started_at)
    return [(a, b) for a, b in zip(runs, runs[1:]) if a.finished_at is None or a.finished_at > b.started_at]


class Editor:
    """Changes contacts in the CRM while the agents run, so every sync has work to do."""

    def __init__(self, emulator: HubSpotEmulator, ids: list[str]) -> None:
        self.emulator, self.ids = emulator, ids
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._edit, daemon=True)

    def _edit(self) -> None:
        rng = random.Random(5)
        titles = ["CEO", "Analyst", "Engineering Manager", "Student"]
        while not self.done.wait(0.3):
            for contact_id in rng.sample(self.ids, 100):
                self.emulator.update_contact(contact_id, {"jobtitle": rng.choice(titles)})

    def __enter__(self) -> Editor:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join(10)


@pytest.mark.network
@pytest.mark.slow
def test_two_services_on_one_store_never_run_one_connectors_job_at_once(
    tmp_path: Path
) -> None:
    emulator = start_emulator(3000)
    try:
        agent = CliAgent.for_emulator(
            tmp_path, emulator, schedule={"sync_every": "1s"}, connector={"pull_batch_size": 100}
        )
        agent.setup()
        ids = sorted(emulator.contacts())
        with Editor(emulator, ids):
            services = [agent.start("run"), agent.start("run")]
            try:
                with agent.store() as store:
                    # Let them compete for a while: until eight syncs have finished between them.
                    wait_for(
                        lambda: all(s.poll() is None for s in services)
                        and sum(1 for r in store.runs("hubspot", limit=1000) if r.finished_at) >= 8,
                        timeout=60, what="eight finished syncs", interval=0.2,
                    )
            finally:
                codes = [s.stop() for s in services]
        logs = [s.stderr for s in services]
        assert codes == [0, 0], f"exit codes {codes}:\n" + "\n".join(log[-2000:] for log in logs)

        with agent.store() as store:
            runs = store.runs("hubspot", limit=1000)
            assert not _overlaps(store), "two runs of the connector overlapped"
        assert all(r.status in ("ok", "interrupted") for r in runs), [(r.status, r.error) for r in runs]
        assert all(r.finished_at is not None for r in runs)

        events = [json_events(log) for log in logs]
        started = [sum(1 for e in ev if e.get("event") == "run.started") for ev in events]
        skipped = [sum(1 for e in ev if e.get("event") == "job.skipped") for ev in events]
        assert sum(started) == len(runs)  # every run in the log is one of theirs
        assert all(s + k > 0 for s, k in zip(started, skipped)), (started, skipped)  # both took part
        assert sum(skipped) >= 1, "never did one agent find the other running"
        assert not any("Traceback" in log for log in logs)
    finally:
        emulator.stop()


# --- SIGTERM in the middle of a sync -------------------------------------------------------------


@pytest.mark.network
def test_sigterm_mid_sync_finishes_the_batch_in_flight_and_the_next_sync_resumes(
    tmp_path: Path
) -> None:
    total, batch = 3000, 100
    clean_crm, crm = start_emulator(total), start_emulator(total)
    try:
        settings: dict[str, Any] = {"model": TIMELESS_MODEL, "connector": {"pull_batch_size": batch}}
        clean = CliAgent.for_emulator(tmp_path / "clean", clean_crm, **settings)
        agent = CliAgent.for_emulator(tmp_path / "stopped", crm, **settings)
        clean.setup()
        agent.setup()
        clean.run("sync", check=True)

        sync = agent.start("sync")
        try:
            wait_for(lambda: sync.poll() is not None or records_written(crm) >= total // 4, timeout=120,
                     what="a quarter of the contacts written")
            assert sync.poll() is None, f"the sync ended before it was signalled:\n{sync.stderr[-3000:]}"
        finally:
            signalled = time.monotonic()
            code = sync.stop(timeout=30)
        assert time.monotonic() - signalled < 10, "SIGTERM must stop a pull within seconds"
        assert code == 0, sync.stderr[-3000:]
        assert "Traceback" not in sync.stderr
        assert "stopped after the batch in flight" in sync.stderr

        with agent.store() as store:
            (run,) = store.runs("hubspot")
            assert run.status == "interrupted", (run.status, run.error)
            mirrored = store.status("hubspot").mirrored_leads.get("contact", 0)
            written = store.status("hubspot").written.get("contact", 0)
        assert 0 < mirrored < total and mirrored % batch == 0
        # The batch in flight was finished and recorded: every record written is known as written.
        assert written == mirrored == records_written(crm) == run.counts["written"]

        resumed = agent.run("sync", check=True)
        assert "Traceback" not in resumed.stderr
        with agent.store() as store:
            last = store.runs("hubspot", limit=1)[0]
            assert last.status == "ok"
            assert last.counts["pulled"] == total - mirrored  # from the cursor on: nothing twice, nothing skipped
            assert store.status("hubspot").mirrored_leads == {"contact": total}
            facts = {key: store.meta("hubspot", key) for key in ("scored_version", "mirror_needs")}
        assert records_written(crm) == total  # no record written twice
        assert written_values(crm) == written_values(clean_crm)
        with clean.store() as store:
            assert facts == {key: store.meta("hubspot", key) for key in facts}
    finally:
        clean_crm.stop()
        crm.stop()
