"""Drift repair (issue 12): values overwritten in the CRM behind the agent's back are found by
``leadscore reconcile`` and rewritten; ``--dry-run`` only reports them; a state store kept for
another CRM is not trusted; ``run`` schedules backfills that never overlap a sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.connectors.hubspot.emulator import HubSpotEmulator
from tests.cli_agent import SCORE_AS_OF, SEEDED_AS_OF, TIMELESS_MODEL, CliAgent, start_emulator, wait_for, written_values

pytestmark = pytest.mark.network

DRIFTED = 40


def _overwrite(emulator: HubSpotEmulator, ids: list[str]) -> None:
    """What a user, a workflow or a restore does: score 999 and stage MQL, not through leadscore."""
    for contact_id in ids:
        emulator.update_contact(contact_id, {"leadscore_score": "999", "leadscore_stage": "MQL"})


def test_reconcile_restores_records_overwritten_in_the_crm_and_dry_run_only_reports(tmp_path: Path) -> None:
    emulator = start_emulator(300)
    try:
        agent = CliAgent.for_emulator(tmp_path, emulator, model=TIMELESS_MODEL)
        agent.setup()
        agent.run("backfill", "--as-of", SCORE_AS_OF, check=True)
        good = written_values(emulator)
        victims = sorted(good)[:DRIFTED]
        _overwrite(emulator, victims)
        # The diff compares with what the agent last wrote, so neither a sync nor a rescore sees it.
        agent.run("sync", check=True)
        agent.run("rescore", check=True)
        assert all(written_values(emulator)[v][:2] == ("999", "MQL") for v in victims)

        emulator.reset_log()
        dry = agent.run("reconcile", "--dry-run", check=True)
        assert f"{DRIFTED} drifted, would rewrite {DRIFTED}" in dry.stdout
        assert all(written_values(emulator)[v][:2] == ("999", "MQL") for v in victims)
        assert not any(r.method in ("PATCH", "POST") and "batch/update" in r.path for r in emulator.requests())
        # One listing pass of the owned properties: ceil(300 / 100) reads, plus the account check.
        assert emulator.call_counts()["contacts.list"] == 3

        fixed = agent.run("reconcile", check=True)
        assert f"{DRIFTED} drifted, rewrote {DRIFTED}" in fixed.stdout
        assert written_values(emulator) == good
        again = agent.run("reconcile", check=True)
        assert "0 drifted" in again.stdout
    finally:
        emulator.stop()


def test_a_state_store_kept_for_another_portal_is_forgotten_and_everything_written(tmp_path: Path) -> None:
    first = start_emulator(120)
    agent = CliAgent.for_emulator(tmp_path, first, model=TIMELESS_MODEL)
    try:
        agent.setup()
        agent.run("backfill", "--as-of", SCORE_AS_OF, check=True)
    finally:
        first.stop()
    # A fresh portal (a sandbox, another account) seeded alike: the old store's "last written"
    # values name the same ids, but this portal holds none of them.
    second = HubSpotEmulator(limits=first.limits, portal_id=99_000_001).start()
    try:
        second.seed(120, seed=11, as_of=SEEDED_AS_OF)
        agent.host, agent.token = second.base_url, second.token
        agent.setup()
        done = agent.run("sync", check=True)
        assert "another CRM" in done.stderr or "other_crm" in done.stderr
        values = written_values(second)
        assert sum(1 for v in values.values() if v[0] is not None) == 120
    finally:
        second.stop()


@pytest.mark.slow
def test_run_schedules_a_backfill_that_status_shows_and_no_sync_overlaps(tmp_path: Path) -> None:
    emulator = start_emulator(400)
    try:
        agent = CliAgent.for_emulator(tmp_path, emulator, model=TIMELESS_MODEL,
                                      schedule={"sync_every": "1s", "backfill_cron": "* * * * *"})
        agent.setup()
        service = agent.start("run")
        try:
            def backfilled() -> bool:
                with agent.store() as store:
                    runs = store.status("hubspot").last_runs
                return "backfill" in runs and runs["backfill"].status in ("ok", "partial")

            wait_for(backfilled, 75, "a scheduled backfill")
        finally:
            assert service.stop() == 0
        status = agent.run("status", check=True).stdout
        assert "scheduled backfill: '* * * * *'" in status and "next " in status
        # No sync ran while the backfill did: the runs never overlap (one lease per connector).
        spans = _run_spans(agent)
        backfills = [s for s in spans if s[0] == "backfill"]
        syncs = [s for s in spans if s[0] == "sync"]
        assert backfills and syncs
        for _, b_start, b_end in backfills:
            for _, s_start, s_end in syncs:
                assert s_end <= b_start or s_start >= b_end, "a sync overlapped the scheduled backfill"
    finally:
        emulator.stop()


def _run_spans(agent: CliAgent) -> list[tuple[str, float, float]]:
    import sqlalchemy as sa

    engine = sa.create_engine(agent.state_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT kind, started_at, finished_at FROM runs WHERE connector = 'hubspot' AND finished_at IS NOT NULL"
            )).all()
    finally:
        engine.dispose()
    from datetime import datetime

    def ts(value: object) -> float:
        return value.timestamp() if isinstance(value, datetime) else datetime.fromisoformat(str(value)).timestamp()

    return [(kind, ts(start), ts(end)) for kind, start, end in rows]


def test_status_shows_the_weekly_reconcile(tmp_path: Path) -> None:
    emulator = start_emulator(5)
    try:
        agent = CliAgent.for_emulator(tmp_path, emulator, model=TIMELESS_MODEL)
        agent.setup()
        agent.run("sync", check=True)
        status = agent.run("status", check=True).stdout
        assert "scheduled reconcile: '0 4 * * 0'" in status and "scheduled backfill: off" in status
    finally:
        emulator.stop()
