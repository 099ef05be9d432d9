"""The small ones of issue 12, each pinned: the state file is private and never created by a
command that fails first; ``validate`` reports missing secrets; CSV cells are escaped against
spreadsheet formulas; the HubSpot list call omits ``archived`` and a 200 without a body is
retried, never read as "nothing"; ``/healthz`` stays 200 while a connector is paused on quota."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

import pytest

from leadscore.agent.csvfiles import Issues, read_leads, safe_cell, unescape_cell, write_scores
from leadscore.agent.core.errors import QuotaExhausted, TransientError
from leadscore.agent.metrics import HealthState, serve
from leadscore.agent.core.records import ReasonPart, ScoreResult
from leadscore.agent.state import Desired, StateStore
from leadscore.agent.sync.pipeline import write_plan_csv
from leadscore.agent.core.contract import Cursor, ScoreUpdate, WriteResult

from .conftest import EXAMPLE_CONFIG
from .test_metrics import T0, Clock, get

MODEL = EXAMPLE_CONFIG.read_text(encoding="utf-8")


def run_cli(*args: str, cwd: Path, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "LEADSCORE_DEBUG"}
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    return subprocess.run([sys.executable, "-m", "leadscore.agent.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env=environment)


# --- the state file: 0600, and never created by a command that fails first -----------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_state_file_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual umask, which gave 0644
    try:
        db = tmp_path / "state.db"
        with StateStore.open(f"sqlite:///{db}") as store:
            store.set_meta("hubspot", "probe", {"x": 1})  # a write: the WAL and its index exist now
            wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
            assert wal.exists() and shm.exists()
            assert (mode(db), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
        default = tmp_path / "cwd"
        default.mkdir()
        with StateStore.open(path=default / "leadscore-state.db"):
            assert mode(default / "leadscore-state.db") == 0o600
    finally:
        os.umask(previous)


def test_an_existing_state_file_keeps_its_mode_with_a_warning(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    db = tmp_path / "state.db"
    StateStore.open(f"sqlite:///{db}").close()
    db.chmod(0o640)  # an admin's choice: not ours to undo
    with capture_logs() as logs:
        StateStore.open(f"sqlite:///{db}").close()
    assert mode(db) == 0o640
    assert [e["mode"] for e in logs if e["event"] == "state.readable_by_others"] == ["0o640"]


def test_a_sync_with_a_missing_secret_exits_2_and_creates_no_state_file(tmp_path: Path) -> None:
    (tmp_path / "leadscore.toml").write_text(MODEL + '\n[connectors.hubspot]\naccess_token_env = "LS_TEST_NOPE"\n',
                                             encoding="utf-8")
    for command in ("sync", "backfill", "rescore", "setup"):
        done = run_cli(command, cwd=tmp_path, env={"LS_TEST_NOPE": None})
        assert done.returncode == 2, done.stderr
        assert "connectors.hubspot.access_token_env: environment variable LS_TEST_NOPE is not set" in done.stderr
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "leadscore-state.db").exists(), command  # was: created in the working directory


# --- validate: missing secrets are problems -------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "env", "line"),
    [
        ('[connectors.hubspot]\naccess_token_env = "LS_TEST_NOPE"\n', {},
         "connectors.hubspot.access_token_env: environment variable LS_TEST_NOPE is not set"),
        ('[connectors.hubspot]\naccess_token_file = "missing-token"\n', {},
         "connectors.hubspot.access_token_file: cannot read missing-token"),
        ('[connectors.hubspot]\noauth = { client_id = "app", client_secret_env = "LS_TEST_SECRET", '
         'refresh_token_env = "LS_TEST_NOPE" }\n', {"LS_TEST_SECRET": "s"},
         "connectors.hubspot.oauth.refresh_token_env: environment variable LS_TEST_NOPE is not set"),
        ('[connectors.salesforce]\nauth = "client_credentials"\nclient_id = "app"\nclient_secret_env = "LS_TEST_NOPE"\n', {},
         "connectors.salesforce.client_secret_env: environment variable LS_TEST_NOPE is not set"),
        ('[connectors.salesforce]\nauth = "jwt"\nclient_id = "app"\nusername = "u@example.com"\n'
         'private_key_file = "missing.key"\n', {},
         "connectors.salesforce.private_key_file: cannot read missing.key"),
    ],
    ids=["hubspot-env", "hubspot-file", "hubspot-oauth", "salesforce-secret", "salesforce-key"],
)
def test_validate_reports_a_missing_secret_with_its_key_and_exit_2(tmp_path: Path, table: str, env: dict[str, str],
                                                                   line: str) -> None:
    (tmp_path / "leadscore.toml").write_text(MODEL + "\n" + table, encoding="utf-8")
    done = run_cli("validate", cwd=tmp_path, env={"LS_TEST_NOPE": None, **env})
    assert done.returncode == 2 and "OK" not in done.stdout, done.stdout + done.stderr
    assert any(l.startswith(line) for l in done.stderr.splitlines()), done.stderr


def test_validate_says_ok_once_the_secret_is_there(tmp_path: Path) -> None:
    (tmp_path / "leadscore.toml").write_text(MODEL + '\n[connectors.hubspot]\naccess_token_env = "LS_TEST_TOKEN"\n',
                                             encoding="utf-8")
    done = run_cli("validate", cwd=tmp_path, env={"LS_TEST_TOKEN": "pat-na1-0000"})
    assert done.returncode == 0 and done.stdout.strip() == "OK", done.stderr
    assert "pat-na1-0000" not in done.stdout + done.stderr


# --- CSV cells a spreadsheet would run ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"), ("+20 Visited pricing page", "'+20 Visited pricing page"), ("-10 Free email", "'-10 Free email"),
        ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("-2+3", "'-2+3"), ("-1e5x", "'-1e5x"),
        ("-5", "-5"), ("-0.25", "-0.25"), ("1e3", "1e3"), (-10, -10), (2.5, 2.5), ("CTO", "CTO"), ("", ""), (None, None),
        (float("-inf"), "'-inf"), ("'=x", "'=x"),
    ],
)
def test_safe_cell(value: Any, cell: Any) -> None:
    assert safe_cell(value) == cell


def test_unescape_undoes_exactly_what_safe_cell_did() -> None:
    for text in ("=1+2", "+20 x", "-10 y", "@z", "\tq", "plain", "'quoted", "-5", "'"):
        assert unescape_cell(str(safe_cell(text))) == text


def _result(lead_id: str, score: int, reason: str) -> ScoreResult:
    return ScoreResult(lead_id, score, score, 0, "Cold", None, (ReasonPart(score, reason, "fit"),), "v1",
                       datetime(2026, 11, 1, tzinfo=timezone.utc))


def test_scored_csv_cells_are_escaped_and_numbers_stay_numbers(tmp_path: Path) -> None:
    out = tmp_path / "scored.csv"
    write_scores(out, [_result("=cmd|' /C calc'!A0", -10, "Title: =HYPERLINK(\"http://evil\")")], 255)
    [row] = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert row["id"] == "'=cmd|' /C calc'!A0"
    assert row["reason"] == "'-10 Title: =HYPERLINK(\"http://evil\")"
    assert (row["score"], row["fit_score"]) == ("-10", "-10")  # a negative number, as a number


def test_score_out_end_to_end_and_its_leads_read_back(tmp_path: Path) -> None:
    leads = tmp_path / "leads.csv"
    leads.write_text('id,title,industry\n"=2+5",CTO,Technology\nw2,"@SUM(1,2)",Retail\n', encoding="utf-8")
    out = tmp_path / "scored.csv"
    done = run_cli("score", "--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--as-of", "2026-11-01T00:00:00Z",
                   "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [r["id"] for r in rows] == ["'=2+5", "w2"]
    for row in rows:
        for name, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or cell.lstrip("-").replace(".", "").isdigit(), (name, cell)
    # leadscore's own CSVs read back as they were written: the leads of a demo export, escaped
    from leadscore.agent.csvfiles import write_leads

    exported = tmp_path / "exported.csv"
    write_leads(exported, read_leads(leads, Issues()))
    assert "'=2+5" in exported.read_text(encoding="utf-8")
    assert [(lead.id, lead.fields.get("title")) for lead in read_leads(exported, Issues())] == [
        ("=2+5", "CTO"), ("w2", "@SUM(1,2)")]


def test_the_dry_run_csv_is_escaped_too() -> None:
    handle = io.StringIO()
    planned = [Desired("contact", "101", {"reason": "-10 Title: =1+1", "score": -10}, -10, "Cold", "m1",
                       previous={"reason": "+5 Old", "score": 5})]
    assert write_plan_csv(handle, "hubspot", planned) == 2
    rows = list(csv.reader(io.StringIO(handle.getvalue())))
    assert rows[1][-2:] == ["'+5 Old", "'-10 Title: =1+1"]
    assert rows[2][-2:] == ["5", "-10"]


def test_the_challenger_csv_is_escaped_and_reads_back(tmp_path: Path) -> None:
    from leadscore.agent.predictive.challenger import ChallengerRecord, read_challenger_csv, write_challenger_csv

    record = ChallengerRecord("=evil()", datetime(2026, 11, 1, tzinfo=timezone.utc), -3, "v1", 7, "v2")
    write_challenger_csv(tmp_path / "c.csv", [record])
    assert "'=evil()" in (tmp_path / "c.csv").read_text(encoding="utf-8")
    assert read_challenger_csv(tmp_path / "c.csv") == [record]


# --- HubSpot: no archived=False, and a 200 without a body is no answer -------------------------------


@pytest.fixture
def hubspot() -> Any:
    from .test_hubspot_connector import FAST, HubSpotHarness

    harness = HubSpotHarness(FAST)
    harness.seed(30)
    yield harness
    harness.close()


def answering(emulator: Any, answers: dict[str, list[bytes]]) -> list[str]:
    """Make the emulator answer the next requests to a path with these raw 200 bodies (then as
    ever); returns the targets (path and query) it was sent."""
    from leadscore.connectors.emulation import Answer

    targets: list[str] = []
    original = type(emulator).dispatch

    def dispatch(method: str, target: str, headers: Any, raw: bytes) -> Any:
        targets.append(target)
        path = target.split("?", 1)[0]
        queued = answers.get(path)
        if queued:
            return Answer(200, queued.pop(0), {"Content-Type": "application/json;charset=utf-8"})
        return original(emulator, method, target, headers, raw)

    emulator.dispatch = dispatch
    return targets


@pytest.mark.network
def test_the_contact_listing_omits_archived(hubspot: Any) -> None:
    targets = answering(hubspot.emulator, {})
    leads = [lead for batch in hubspot.connector().pull(Cursor("contact", None)) for lead in batch.leads]
    assert len(leads) == 30
    listings = [t for t in targets if t.startswith("/crm/v3/objects/contacts?") or t == "/crm/v3/objects/contacts"]
    assert listings and not any("archived" in t for t in listings), listings


@pytest.mark.network
@pytest.mark.parametrize("body", [b"null", b"", b'{"results": null}', b'{"total": 30, "results": null}'])
def test_a_200_without_results_is_retried_not_read_as_empty(hubspot: Any, body: bytes) -> None:
    connector = hubspot.connector()
    since = "2020-01-01T00:00:00Z"
    queued = {"/crm/v3/objects/contacts/search": [body, body]}
    answering(hubspot.emulator, queued)
    leads = [lead for batch in connector.pull(Cursor("contact", since)) for lead in batch.leads]
    assert len(leads) == 30 and not queued["/crm/v3/objects/contacts/search"]  # retried: every contact read
    assert connector.api_calls()["contacts.search"] == 3

    answering(hubspot.emulator, {"/crm/v3/objects/contacts/search": [body] * 20, "/crm/v3/objects/contacts": [body] * 20})
    with pytest.raises(TransientError, match="without"):
        list(hubspot.connector(retry_attempts=2).pull(Cursor("contact", since)))  # never "nothing changed"
    with pytest.raises(TransientError):
        list(hubspot.connector(retry_attempts=2).pull(Cursor("contact", None)))


@pytest.mark.network
def test_a_write_answered_without_a_body_is_retryable_not_done(hubspot: Any) -> None:
    connector = hubspot.connector(retry_attempts=1)
    [contact_id, *_] = sorted(hubspot.emulator.contacts(), key=int)
    queued = {"/crm/v3/objects/contacts/batch/update": [b"null"]}
    answering(hubspot.emulator, queued)
    [result] = connector.write([ScoreUpdate(contact_id, "contact", {"score": 5, "stage": "Cold", "reason": "+5 x"})])
    assert result.status.value == "retryable" and not result.ok and not queued["/crm/v3/objects/contacts/batch/update"]


@pytest.mark.network
def test_engagement_reads_answered_without_results_are_retried(hubspot: Any) -> None:
    connector = hubspot.connector()
    reference = [b for b in hubspot.connector().pull(Cursor("contact", None))]
    queued = {"/crm/v3/objects/calls/batch/read": [b'{"status": "COMPLETE", "results": null}'],
              "/crm/v4/associations/contacts/calls/batch/read": [b"null"]}
    answering(hubspot.emulator, queued)
    pulled = [b for b in connector.pull(Cursor("contact", None))]
    assert not any(queued.values()), "both empty answers were served"
    assert any(a.type == "call" for b in pulled for a in b.activities)
    assert sorted((a.lead_id, a.type, a.occurred_at) for b in pulled for a in b.activities) == sorted(
        (a.lead_id, a.type, a.occurred_at) for b in reference for a in b.activities)


# --- /healthz while paused on quota -------------------------------------------------------------------


def test_a_quota_pause_is_healthy_and_shown_until_it_ends() -> None:
    clock = Clock()
    health = HealthState(clock=clock)
    health.set_running(True)
    health.expect("hubspot", "sync", timedelta(minutes=45))
    health.job_finished("hubspot", "sync", "ok")
    clock.now = T0 + timedelta(minutes=10)
    health.job_finished("hubspot", "sync", "failed", error="HubSpot's daily API limit is spent (429 DAILY)")
    resume = T0 + timedelta(hours=12)
    health.quota_paused("hubspot", resume)

    clock.now = T0 + timedelta(hours=6)  # far past "expected every 45m": paused, not overdue
    healthy, details = health.snapshot()
    assert healthy and details["status"] == "paused" and not details["problems"]
    assert details["paused"] == {"hubspot": {"reason": "API quota spent", "until": "2026-11-02T00:00:00Z"}}
    assert details["connectors"]["hubspot"]["sync"]["overdue"] is False

    clock.now = resume + timedelta(minutes=10)  # the quota is back; the next tick has not run yet
    healthy, details = health.snapshot()
    assert healthy and details["status"] == "ok" and details["paused"] == {}
    clock.now = resume + timedelta(minutes=50)  # and no sync since the pause ended: overdue again
    assert not health.snapshot()[0]
    health.job_finished("hubspot", "sync", "ok")
    assert health.snapshot()[0]


def test_an_unhealthy_agent_stays_503_while_another_connector_is_paused() -> None:
    health = HealthState(clock=Clock())
    health.set_running(True)
    health.quota_paused("hubspot", None)  # until it resets, whenever that is
    health.job_finished("salesforce", "sync", "failed", error="Salesforce refused the login", fatal=True)
    healthy, details = health.snapshot()
    assert not healthy and details["status"] == "unhealthy" and details["paused"] == {"hubspot": {"reason": "API quota spent", "until": None}}


def test_healthz_answers_200_with_the_pause_for_a_job_paused_on_quota(tmp_path: Path) -> None:
    from leadscore.agent.metrics import Metrics

    from .test_sync import ScriptedCrm, jobs_for

    crm = ScriptedCrm(5)
    resume = datetime.now(timezone.utc) + timedelta(hours=3)

    def spent(updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        raise QuotaExhausted("daily API budget spent", resume_at=resume)

    crm.write = spent  # type: ignore[method-assign]
    health = HealthState()
    health.set_running(True)
    health.expect("scripted", "sync", timedelta(milliseconds=1))  # any wait is overdue
    with StateStore.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        jobs = jobs_for(crm, store, health=health, metrics=Metrics())
        [failed] = jobs.run("sync")
        assert failed.status == "failed"
        with serve(Metrics(), health, port=0) as server:
            status, _, body = get(f"{server.url}/healthz")
    details = json.loads(body)
    assert status == 200 and details["status"] == "paused", body
    assert details["paused"]["scripted"]["until"] == resume.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
