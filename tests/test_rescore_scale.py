"""The nightly rescore at scale: on 100,000 mirrored leads with no change it makes no CRM call; when
decay moves 5% of them it writes exactly those. A day passing moves every reason's activity ages
("(3d ago)"), which on purpose is not a change worth a write (``agent.sync.diff.reason_substance``).

The claim is about CRM calls, so most of this runs against a recording fake connector; one test runs
the real HubSpot connector against the emulator and counts the requests it served.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from leadscore.agent.config import load_config, parse_config
from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.settings import AgentSettings
from leadscore.agent.state import StateStore
from leadscore.agent.sync.jobs import ConnectorJobs
from leadscore.agent.sync.pipeline import SyncPipeline
from leadscore.agent.sync.diff import reason_substance
from leadscore.connectors.base import CheckReport, Cursor, OutcomeBatch, PullBatch, PullNeeds, ScoreUpdate, SetupReport
from leadscore.connectors.base import WriteResult, WriteSpec, WriteStatus
from leadscore.connectors.hubspot import HubSpotConnector
from tests.conftest import ConnectorDouble, EXAMPLE_CONFIG
from tests.cli_agent import start_emulator

#: The nightly rescore's instants: T1 is a day after T0.
T0 = datetime(2026, 11, 1, 2, 30, tzinfo=timezone.utc)
T1 = T0 + timedelta(days=1)

#: Demo requests are worth 40 points, halved once 30 days old: a lead whose demo request is 29.5
#: days old at T0 loses 20 points by T1; one whose request is 10 or 100 days old keeps its score.
MODEL = """
[scoring]
name = "rescore-scale"

[[scoring.rules]]
kind = "fit"
id = "industry-tech"
label = "Industry: {value}"
field = "industry"
equals = "Technology"
points = 20

[[scoring.rules]]
kind = "engagement"
id = "demo"
label = "Demo requested"
activity = "demo_request"
points = 40
decay = { kind = "step", after_days = 30, factor = 0.5 }

[[scoring.stages]]
name = "Cold"

[[scoring.stages]]
name = "Warm"
min_score = 30

[[scoring.stages]]
name = "Hot"
min_score = 50
"""


class RecordingConnector(ConnectorDouble):
    """A :class:`leadscore.agent.core.contract.Connector` that answers every write OK and counts every call the
    agent makes of it: CRM calls are what the rescore must not spend."""

    name = "fake"
    object_types = ("contact",)

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.written: list[ScoreUpdate] = []

    @property
    def write_values(self) -> frozenset[str]:
        return frozenset({"score", "stage", "reason"})

    def check(self) -> CheckReport:
        self.calls["check"] += 1
        return CheckReport(ok=True)

    def setup(self, spec: WriteSpec) -> SetupReport:
        self.calls["setup"] += 1
        return SetupReport()

    def pull(
        self, cursor: Cursor, *, until: datetime | None = None, needs: PullNeeds | None = None
    ) -> Iterator[PullBatch]:
        self.calls["pull"] += 1
        return iter(())

    def pull_outcomes(self, cursor: Cursor, *, until: datetime | None = None) -> Iterator[OutcomeBatch]:
        self.calls["pull_outcomes"] += 1
        return iter(())

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        self.calls["records.batch.update"] += -(-len(updates) // 100)  # a CRM takes 100 a call
        self.written.extend(updates)
        return [WriteResult(u.record_id, WriteStatus.OK) for u in updates]

    def api_calls(self) -> dict[str, int]:
        return dict(self.calls)

    def take(self) -> tuple[Counter[str], list[ScoreUpdate]]:
        """The calls and writes since the last take."""
        calls, written = self.calls, self.written
        self.calls, self.written = Counter(), []
        return calls, written


def demo_age_days(n: int, *, movers_every: int | None) -> float:
    """Lead ``n``'s demo request age at T0: 29.5 days (about to decay) for every
    ``movers_every``-th lead, else 10 or 100 days (a day from T0 crosses no step)."""
    if movers_every is not None and n % movers_every == 0:
        return 29.5
    return 10.0 if n % 2 else 100.0


def mirrored_leads(count: int, *, movers_every: int | None) -> tuple[list[Lead], list[Activity]]:
    created = T0 - timedelta(days=400)
    leads, activities = [], []
    for n in range(count):
        lead_id = f"{n + 1:07d}"
        industry = "Technology" if n % 3 == 0 else "Retail"
        leads.append(Lead(lead_id, "contact", {"industry": industry}, created_at=created, updated_at=created))
        age = timedelta(days=demo_age_days(n, movers_every=movers_every))
        activities.append(Activity(lead_id, "demo_request", T0 - age))
    return leads, activities


def load_mirror(store: StateStore, leads: list[Lead], activities: list[Activity], *, per_batch: int = 20_000) -> None:
    """Mirror the leads as a pull would have, in large batches (one transaction each)."""
    for start in range(0, len(leads), per_batch):
        cursor = Cursor("contact", f"2026-10-01T00:00:{start // per_batch:02d}Z")
        part = slice(start, start + per_batch)
        store.record_batch("fake", PullBatch(leads[part], activities[part], cursor))


def nightly_jobs(store: StateStore, connector: RecordingConnector, scorer: ScoringEngine) -> ConnectorJobs:
    """The connector's jobs as ``leadscore run`` builds them: its rescore is the nightly one."""
    return ConnectorJobs("fake", {}, store, scorer, AgentSettings(), factory=lambda _table: connector)


def rescore(jobs: ConnectorJobs, as_of: datetime) -> dict[str, int]:
    (outcome,) = jobs.run("rescore", as_of=as_of)
    assert outcome.status == "ok", outcome.error
    return outcome.counts.as_dict()


def total_calls(store: StateStore) -> int:
    return sum(n for day in store.api_calls("fake").values() for n in day.values())


@pytest.mark.slow
def test_nightly_rescore_of_100000_leads_costs_nothing_unchanged_and_writes_exactly_the_decayed(tmp_path: Path) -> None:
    total, movers_every = 100_000, 20
    scorer = ScoringEngine(parse_config(MODEL).scoring)
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    leads, activities = mirrored_leads(total, movers_every=movers_every)
    load_mirror(store, leads, activities)
    movers = {lead.id for n, lead in enumerate(leads) if n % movers_every == 0}
    assert len(movers) == total * 5 // 100

    crm = RecordingConnector()
    jobs = nightly_jobs(store, crm, scorer)

    # The first rescore writes every lead: what the agent last wrote is then on record.
    counts = rescore(jobs, T0)
    calls, written = crm.take()
    assert counts["written"] == total and len({u.record_id for u in written}) == total
    assert calls == {"records.batch.update": total // 100}

    # The same night again: nothing changed, no call at all - not even a read.
    recorded_calls = total_calls(store)
    counts = rescore(jobs, T0)
    calls, written = crm.take()
    assert not calls and not written
    assert counts["scored"] == total and counts["changed"] == 0 and counts["api_calls"] == 0
    assert total_calls(store) == recorded_calls

    # The next night: decay halved the demo points of exactly the 5% whose request turned 30 days
    # old. Everyone else's reason now reads a day older, which is not worth a write.
    counts = rescore(jobs, T1)
    calls, written = crm.take()
    assert {u.record_id for u in written} == movers
    assert len(written) == len(movers) == counts["written"] == counts["changed"]
    # Only writes; at most one call per 1,000-lead page of the mirror (the unit of work).
    assert set(calls) == {"records.batch.update"}
    assert len(movers) // 100 <= calls["records.batch.update"] <= total // 1000
    by_id = {lead.id: (lead, activity) for lead, activity in zip(leads, activities)}
    for update in written[:50]:
        lead, activity = by_id[update.record_id]
        assert update.values["score"] == scorer.score(lead, [activity], T0).score - 20
    stayed = [by_id[lead_id] for lead_id in ("0000002", "0000003")]  # 10 and 100 days old at T0
    for lead, activity in stayed:
        before, after = scorer.score(lead, [activity], T0), scorer.score(lead, [activity], T1)
        assert (before.score, before.stage) == (after.score, after.stage)
        assert before.reason() != after.reason()  # its age moved ...
        assert reason_substance(before.reason()) == reason_substance(after.reason())  # ... and nothing else
    store.close()


def test_a_day_passing_writes_nothing_when_only_reason_ages_move(tmp_path: Path) -> None:
    total = 2000
    scorer = ScoringEngine(parse_config(MODEL).scoring)
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    leads, activities = mirrored_leads(total, movers_every=None)
    load_mirror(store, leads, activities)
    crm = RecordingConnector()
    jobs = nightly_jobs(store, crm, scorer)
    rescore(jobs, T0)
    _, written = crm.take()
    assert len(written) == total
    reasons_t0 = {u.record_id: u.values["reason"] for u in written}

    counts = rescore(jobs, T1)
    calls, written = crm.take()
    assert not calls and not written and counts["changed"] == 0
    # Every reason did move: written again it would read a day older.
    reasons_t1 = {lead.id: scorer.score(lead, [activity], T1).reason() for lead, activity in zip(leads, activities)}
    assert all(reasons_t1[i] != reasons_t0[i] for i in reasons_t0)
    assert all(reason_substance(reasons_t1[i]) == reason_substance(reasons_t0[i]) for i in reasons_t0)

    # A real change still gets through: a lead's industry changes in the CRM and is pulled.
    lead = leads[1]
    changed = Lead(lead.id, "contact", {"industry": "Technology"}, created_at=lead.created_at, updated_at=T1)
    store.record_batch("fake", PullBatch([changed], [activities[1]], Cursor("contact", "2026-11-02T00:00:00Z")))
    rescore(jobs, T1)
    _, written = crm.take()
    assert [(u.record_id, u.values["score"]) for u in written] == [(lead.id, 60)]
    store.close()


@pytest.mark.network
@pytest.mark.slow
def test_rescore_of_10000_unchanged_hubspot_contacts_sends_the_crm_no_request(
    tmp_path: Path
) -> None:
    total = 10_000
    emulator = start_emulator(total)
    try:
        connector = HubSpotConnector({
            "access_token": emulator.token,
            "host": emulator.base_url,
            "per_ten_seconds": 100_000,
            "search_per_second": 10_000,
        })
        config = load_config(EXAMPLE_CONFIG)
        scorer = ScoringEngine(config.scoring)
        stages = [stage.name for stage in config.scoring.stages]
        connector.setup(WriteSpec(connector.write_values, stages, config.scoring.reason_max_length))
        store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
        pipeline = SyncPipeline("hubspot", connector, store, scorer, as_of=T0)
        filled = pipeline.backfill()
        assert filled.written == total

        emulator.reset_log()
        counts: Any = pipeline.rescore(as_of=T0)
        assert counts.scored == total and counts.changed == 0 and counts.api_calls == 0
        assert emulator.requests() == []
        store.close()
        connector.close()
    finally:
        emulator.stop()
