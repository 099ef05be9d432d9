"""``leadscore run`` as an admin installs it: a process that syncs on its schedule, serves
``/metrics`` and ``/healthz``, logs JSON lines, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits

ROOT = Path(__file__).resolve().parent.parent
LEADSCORE = Path(sys.executable).parent / "leadscore"

pytestmark = pytest.mark.network


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def emulator() -> Iterator[HubSpotEmulator]:
    emu = HubSpotEmulator(limits=RateLimits(per_ten_seconds=100_000, daily=10_000_000, search_per_second=10_000)).start()
    emu.seed(400, seed=9, as_of=datetime(2026, 11, 1, tzinfo=timezone.utc))
    yield emu
    emu.stop()


def write_config(tmp_path: Path, emulator: HubSpotEmulator, *, token: str, agent: str = "") -> Path:
    """The example model, state in ``tmp_path``, the emulator as the HubSpot connector; ``agent``
    adds lines to the ``[agent]`` table (and may open further tables)."""
    config = tmp_path / "leadscore.toml"
    config.write_text(
        (ROOT / "config.example.toml").read_text()
        + f'\n[agent]\nstate_url = "sqlite:///{tmp_path / "state.db"}"\n{agent}'
        + f'\n[connectors.hubspot]\nhost = "{emulator.base_url}"\naccess_token = "{token}"\n'
        + "per_ten_seconds = 100000\nsearch_per_second = 10000\n"
    )
    return config


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_run_syncs_serves_metrics_and_health_and_stops_on_sigterm(tmp_path: Path, emulator: HubSpotEmulator) -> None:
    port = free_port()
    config = write_config(
        tmp_path, emulator, token="${HS_TOKEN}",
        agent=f'metrics_port = {port}\nlog_format = "json"\n[schedule]\nsync_every = "1s"\nrescore_cron = "0 3 * * *"\n',
    )
    env = {**os.environ, "HS_TOKEN": emulator.token}
    setup = subprocess.run([str(LEADSCORE), "setup", "--config", str(config)], env=env, capture_output=True, text=True, timeout=60)
    assert setup.returncode == 0, setup.stderr
    agent = subprocess.Popen([str(LEADSCORE), "run", "--config", str(config)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        written = 0.0
        while time.monotonic() < deadline:
            try:
                status, body = get(f"http://127.0.0.1:{port}/metrics")
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
                continue
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(body)
                for s in family.samples
            }
            written = samples.get(("leadscore_records_written_total", (("connector", "hubspot"),)), 0.0)
            runs = sum(v for (name, labels), v in samples.items() if name == "leadscore_runs_total" and ("status", "ok") in labels)
            if written >= 400 and runs >= 2:
                break
            time.sleep(0.2)
        assert written == 400, "the first sync did not write every contact (or a later one rewrote them)"
        assert samples.get(("leadscore_api_calls_total", (("connector", "hubspot"), ("family", "contacts.batch.update")))) == 4
        health, detail = get(f"http://127.0.0.1:{port}/healthz")
        assert health == 200, detail
        assert json.loads(detail)["status"] == "ok"
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=60)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.communicate()
    assert agent.returncode == 0, stderr[-2000:]
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert lines and len(lines) == len([l for l in stderr.splitlines() if l.strip()]), "a log line was not JSON"
    finished = [l for l in lines if l.get("event") == "run.finished"]
    assert finished and all(l.get("connector") == "hubspot" and l.get("run_id") for l in finished)
    assert any(l.get("event") == "agent.stopped" for l in lines)
    assert emulator.token not in stderr


def test_backfill_dry_run_writes_a_csv_of_changes_and_touches_nothing(tmp_path: Path, emulator: HubSpotEmulator) -> None:
    import csv

    config = write_config(tmp_path, emulator, token=emulator.token)

    def leadscore(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(LEADSCORE), *args, "--config", str(config)], capture_output=True, text=True, timeout=120)

    assert leadscore("setup").returncode == 0
    plan = tmp_path / "plan.csv"
    dry = leadscore("backfill", "--dry-run", str(plan), "--as-of", "2026-11-02T00:00:00Z")
    assert dry.returncode == 0, dry.stderr
    rows = list(csv.DictReader(plan.open()))
    assert len(rows) == 400 * 3 and {r["value"] for r in rows} == {"score", "stage", "reason"}
    assert all(r["connector"] == "hubspot" and r["before"] == "" for r in rows)
    assert not any(emulator.property_writes().get(p) for p in ("leadscore_score", "leadscore_stage", "leadscore_reason"))
    from leadscore.agent.state import StateStore

    with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        assert store.runs("hubspot") == [] and store.cursor("hubspot", "contact") is None
    assert leadscore("backfill", "--as-of", "2026-11-02T00:00:00Z").returncode == 0
    again = leadscore("backfill", "--dry-run", str(plan), "--as-of", "2026-11-02T00:00:00Z")
    assert again.returncode == 0 and "dry run: 0 value changes" in again.stdout
