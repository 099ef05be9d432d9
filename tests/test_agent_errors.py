"""Invalid config, a missing secret, an unreachable CRM or a full disk: each ends ``leadscore sync``
with one clear message and a non-zero exit, never a traceback or lost state; ``leadscore run``
logs the failure, tries again on the next tick and still stops cleanly on SIGTERM.

Exit codes: 2 for what a person must fix (config, credentials), 1 for the rest.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli_agent import (
    TIMELESS_MODEL,
    CliAgent,
    human_lines,
    json_events,
    start_emulator,
    wait_for,
    written_values,
)

CLOSED_PORT = "http://127.0.0.1:1"
#: Fail fast against a closed port: two attempts, a short connect timeout.
QUICK_FAILURE = {"retry_attempts": 2, "connect_timeout": 0.5}


def unreachable_agent(root: Path, **kwargs: Any) -> CliAgent:
    root.mkdir(parents=True, exist_ok=True)
    connector = {**QUICK_FAILURE, **kwargs.pop("connector", {})}
    return CliAgent(root, CLOSED_PORT, "pat-unreachable-0000", connector=connector, **kwargs)


def assert_clean_failure(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """``done`` exited ``code`` with one human-readable line on stderr holding every needle (the
    rest is JSON log lines), and no traceback anywhere. Returns that line."""
    output = done.stdout + done.stderr
    assert done.returncode == code, f"exit {done.returncode}, expected {code}:\n{output[-3000:]}"
    assert "Traceback" not in output
    lines = human_lines(done.stderr)
    assert len(lines) == 1, f"expected one message, got {lines}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


# --- config and secrets: exit 2 before anything is touched ----------------------------------------


@pytest.mark.parametrize(
    ("command", "key", "settings"),
    [
        ("sync", "connectors.hubspot.tier", {"connector": {"tier": "gold"}}),
        ("sync", "agent.lease", {"agent": {"lease": "soon"}}),
        ("backfill", "connectors.hubspot.host", {"connector": {"host": "ftp://crm.example"}}),
        ("run", "schedule.sync_every", {"schedule": {"sync_every": "often"}}),
    ],
)
def test_an_invalid_config_exits_2_naming_the_key(
    tmp_path: Path, command: str, key: str, settings: dict[str, Any]
) -> None:
    agent = unreachable_agent(tmp_path, **settings)
    started = time.monotonic()
    done = agent.run(command, timeout=60)
    assert_clean_failure(done, 2, key)
    assert time.monotonic() - started < 30  # at once: a service does not start to wait for a fix
    assert not agent.db.exists()  # the state store was not even opened


@pytest.mark.parametrize("command", ["sync", "run"])
def test_a_secret_referenced_from_an_unset_variable_exits_2_naming_both(tmp_path: Path, command: str) -> None:
    agent = unreachable_agent(tmp_path)  # access_token = "${HS_TOKEN}"
    done = agent.run(command, env={"HS_TOKEN": None}, timeout=60)
    assert_clean_failure(done, 2, "connectors.hubspot.access_token", "HS_TOKEN")
    assert not agent.db.exists()


def test_an_unset_access_token_env_exits_2_naming_it(tmp_path: Path) -> None:
    agent = unreachable_agent(tmp_path, connector={"access_token": None, "access_token_env": "NOPE"})
    done = agent.run("sync", env={"NOPE": None}, timeout=60)
    assert_clean_failure(done, 2, "connectors.hubspot.access_token_env", "NOPE")
    assert not agent.db.exists()  # checked before the state store is opened (or created)


# --- an unreachable CRM: exit 1, the run logged failed, the cursor where it was ---------------------


@pytest.mark.network
def test_an_unreachable_crm_fails_the_sync_in_one_line_and_loses_nothing(
    tmp_path: Path
) -> None:
    with start_emulator(300) as emulator:
        agent = CliAgent.for_emulator(tmp_path, emulator, model=TIMELESS_MODEL, connector=dict(QUICK_FAILURE))
        agent.setup()
        agent.run("sync", check=True)
        with agent.store() as store:
            cursor, before = store.cursor("hubspot", "contact"), store.status("hubspot")
        assert cursor is not None and before.written == {"contact": 300}
        edited = [cid for cid, props in emulator.contacts().items() if "CEO" not in (props.get("jobtitle") or "")][:40]
        for contact_id in edited:
            emulator.update_contact(contact_id, {"jobtitle": "CEO"})

        agent.host = CLOSED_PORT
        done = agent.run("sync", timeout=60)
        assert_clean_failure(done, 1, "hubspot sync failed", "connection failed")
        with agent.store() as store:
            run = store.runs("hubspot", limit=1)[0]
            assert (run.kind, run.status) == ("sync", "failed") and "connection failed" in (run.error or "")
            assert store.cursor("hubspot", "contact") == cursor
            after = store.status("hubspot")
            assert (after.mirrored_leads, after.written, after.failures) == (before.mirrored_leads, before.written, {})

        agent.host = emulator.base_url  # back: the next sync catches up
        agent.run("sync", check=True)
        reasons = {cid: emulator.contact(cid)["leadscore_reason"] or "" for cid in edited}
        assert all("Title: CEO" in reason for reason in reasons.values()), reasons


# --- a full disk: exit 1 naming the state store; the next sync redoes the batch ---------------------


def file_size_limit(limit: int) -> list[str]:
    """A command prefix that runs the rest with files unable to grow past ``limit`` bytes, as on a
    full disk: Python ignores SIGXFSZ, so a write past it fails with EFBIG, which SQLite reports
    as an I/O error. (A trampoline rather than ``preexec_fn``, which is unsafe to fork with the
    emulator's threads running.)"""
    code = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", code]


@pytest.mark.network
def test_a_full_disk_fails_the_sync_naming_the_state_store_and_loses_nothing(
    tmp_path: Path
) -> None:
    # One batch of 1,000 holds every contact an incremental sync pulls here: a search window
    # spanning several batches loses records to the agent's own writes (see test_durability).
    total = 900
    with start_emulator(total) as clean_crm, start_emulator(total) as crm:
        settings: dict[str, Any] = {"model": TIMELESS_MODEL}
        clean = CliAgent.for_emulator(tmp_path / "clean", clean_crm, **settings)
        agent = CliAgent.for_emulator(tmp_path / "full", crm, **settings)
        for each in (clean, agent):
            each.setup()
            each.run("sync", check=True)
        with agent.store() as store:
            cursor = store.cursor("hubspot", "contact")
        # The same changes in both CRMs, for the next sync to write.
        ids = sorted(clean_crm.contacts(), key=int)[:600]
        for emulator in (clean_crm, crm):
            for n, contact_id in enumerate(ids):
                emulator.update_contact(contact_id, {"jobtitle": ("CEO", "Student")[n % 2], "industry": "Software"})
        clean.run("sync", check=True)

        # Files may not grow past 64 KiB: the new write-ahead log takes the run's start, not a batch.
        done = agent.run("sync", timeout=120, prefix=file_size_limit(64 * 1024))
        line = assert_clean_failure(done, 1, f"state store {agent.state_url}")
        assert "disk" in line or "full" in line, line
        with agent.store() as store:
            run = store.runs("hubspot", limit=1)[0]
            assert run.status == "failed" and agent.state_url in (run.error or "")
            assert store.cursor("hubspot", "contact") == cursor  # the batch was not recorded...

        agent.run("sync", check=True)  # ... so the next sync, with room again, does it again
        assert written_values(crm) == written_values(clean_crm)
        with agent.store() as store, clean.store() as reference:
            assert store.status("hubspot").written == reference.status("hubspot").written == {"contact": total}
            assert not store.status("hubspot").failures


# --- service mode: logged, retried on the next tick, stopped cleanly --------------------------------


def _failed_ticks(stderr: str) -> list[dict[str, Any]]:
    return [e for e in json_events(stderr) if e.get("event") == "run.finished" and e.get("status") == "failed"]


@pytest.mark.parametrize(
    ("connector", "error", "logged"),
    [
        ({}, "connection failed", True),
        ({"access_token": None, "access_token_env": "NOPE"}, "environment variable NOPE is not set", False),
    ],
    ids=["unreachable", "missing-secret"],
)
def test_the_service_logs_each_failed_tick_retries_and_stops_on_sigterm(
    tmp_path: Path, connector: dict[str, Any], error: str, logged: bool
) -> None:
    agent = unreachable_agent(tmp_path, connector=connector, schedule={"sync_every": "1s"})
    service = agent.start("run", env={"NOPE": None})
    try:
        wait_for(lambda: service.poll() is not None or len(_failed_ticks(service.stderr)) >= 3, timeout=60,
                 what="three failed ticks", interval=0.1)
        assert service.poll() is None, f"the service exited {service.poll()}:\n{service.stderr[-3000:]}"
    finally:
        code = service.stop()
    assert code == 0, service.stderr[-3000:]
    assert "Traceback" not in service.stderr
    ticks = _failed_ticks(service.stderr)
    assert len(ticks) >= 3 and all(error in tick["error"] for tick in ticks), ticks
    assert not human_lines(service.stderr), human_lines(service.stderr)  # a service's stderr is its JSON log
    with agent.store() as store:
        runs = store.runs("hubspot", limit=100)
        assert store.cursor("hubspot", "contact") is None and not store.status("hubspot").mirrored_leads
    if logged:  # the CRM was called and failed: each tick is a failed run in the run log
        assert len(runs) >= 3 and {r.status for r in runs} == {"failed"}
