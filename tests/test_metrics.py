"""Metrics and health: the counters a run moves, and what /metrics and /healthz answer over HTTP."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from leadscore.agent.core.errors import ConfigError
from leadscore.agent.metrics import HealthState, Metrics, MetricsServer, serve

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def get(url: str) -> tuple[int, str, str]:
    """Status, content type and body, for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode("utf-8")


@pytest.fixture
def running() -> Iterator[tuple[Metrics, HealthState, MetricsServer, Clock]]:
    clock = Clock()
    metrics, health = Metrics(), HealthState(clock=clock)
    server = serve(metrics, health, port=0)
    yield metrics, health, server, clock
    server.close()


# --- metrics -----------------------------------------------------------------------------


def test_record_counts_add_up_per_connector() -> None:
    metrics = Metrics()
    metrics.records("hubspot", pulled=200, scored=200, written=37)
    metrics.records("hubspot", pulled=50, scored=50, written=3, failed=2)
    metrics.records("salesforce", pulled=9)
    value = metrics.registry.get_sample_value
    assert value("leadscore_records_pulled_total", {"connector": "hubspot"}) == 250
    assert value("leadscore_records_scored_total", {"connector": "hubspot"}) == 250
    assert value("leadscore_records_written_total", {"connector": "hubspot"}) == 40
    assert value("leadscore_records_failed_total", {"connector": "hubspot"}) == 2
    assert value("leadscore_records_pulled_total", {"connector": "salesforce"}) == 9
    assert value("leadscore_records_failed_total", {"connector": "salesforce"}) == 0  # exists from the first batch


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.records("hubspot", pulled=1)
    assert second.registry.get_sample_value("leadscore_records_pulled_total", {"connector": "hubspot"}) is None


def test_api_calls_add_deltas_per_family() -> None:
    metrics = Metrics()
    metrics.api_calls("hubspot", {"contacts.list": 3, "contacts.batch.update": 2, "contacts.search": 0})
    metrics.api_calls("hubspot", {"contacts.list": 1})
    value = metrics.registry.get_sample_value
    assert value("leadscore_api_calls_total", {"connector": "hubspot", "family": "contacts.list"}) == 4
    assert value("leadscore_api_calls_total", {"connector": "hubspot", "family": "contacts.batch.update"}) == 2
    assert value("leadscore_api_calls_total", {"connector": "hubspot", "family": "contacts.search"}) is None


def test_run_finished_counts_times_and_stamps_success() -> None:
    metrics = Metrics()
    before = time.time()
    metrics.run_finished("hubspot", "sync", "ok", 42.0)
    metrics.run_finished("hubspot", "sync", "failed", 3.0)
    metrics.run_finished("hubspot", "backfill", "failed", 5400.0)
    value = metrics.registry.get_sample_value
    sync = {"connector": "hubspot", "kind": "sync"}
    assert value("leadscore_runs_total", {**sync, "status": "ok"}) == 1
    assert value("leadscore_runs_total", {**sync, "status": "failed"}) == 1
    assert value("leadscore_run_duration_seconds_count", sync) == 2
    assert value("leadscore_run_duration_seconds_sum", sync) == 45.0
    assert value("leadscore_run_duration_seconds_bucket", {**sync, "le": "60.0"}) == 2
    assert value("leadscore_run_duration_seconds_bucket", {**sync, "le": "5.0"}) == 1
    backfill = {"connector": "hubspot", "kind": "backfill"}
    assert value("leadscore_run_duration_seconds_bucket", {**backfill, "le": "3600.0"}) == 0
    assert value("leadscore_run_duration_seconds_bucket", {**backfill, "le": "7200.0"}) == 1
    assert before <= value("leadscore_last_success_timestamp_seconds", sync) <= time.time()
    assert value("leadscore_last_success_timestamp_seconds", backfill) is None


def test_partial_counts_as_success_and_gauges_are_set() -> None:
    metrics = Metrics()
    metrics.run_finished("salesforce", "rescore", "partial", 1.0)
    metrics.pending_failures("salesforce", 17)
    metrics.quota_paused("salesforce", 1_800_000_000.0)
    metrics.quota_paused("hubspot", 1_800_000_000.0)
    metrics.quota_paused("hubspot", None)
    value = metrics.registry.get_sample_value
    assert value("leadscore_last_success_timestamp_seconds", {"connector": "salesforce", "kind": "rescore"}) > 0
    assert value("leadscore_pending_failures", {"connector": "salesforce"}) == 17
    assert value("leadscore_quota_paused_until_timestamp_seconds", {"connector": "salesforce"}) == 1_800_000_000.0
    assert value("leadscore_quota_paused_until_timestamp_seconds", {"connector": "hubspot"}) == 0


# --- health ------------------------------------------------------------------------------


def test_health_needs_a_running_scheduler() -> None:
    health = HealthState(clock=Clock())
    healthy, details = health.snapshot()
    assert not healthy and details["problems"] == ["scheduler is not running"]
    health.set_running(True)
    assert health.snapshot()[0]
    health.set_running(False)
    assert not health.snapshot()[0]


def test_a_job_is_overdue_after_its_window_without_success() -> None:
    health = HealthState(clock=Clock())
    health.set_running(True)
    health.expect("hubspot", "sync", timedelta(minutes=45))
    assert health.snapshot(T0 + timedelta(minutes=44))[0]  # counted from the start, not from the epoch
    healthy, details = health.snapshot(T0 + timedelta(minutes=46))
    assert not healthy and "hubspot sync: no successful run since" in details["problems"][0]
    assert details["connectors"]["hubspot"]["sync"]["overdue"] is True

    health.job_finished("hubspot", "sync", "ok", at=T0 + timedelta(minutes=46))
    health.job_finished("hubspot", "sync", "failed", error="HTTP 502", at=T0 + timedelta(minutes=60))
    healthy, details = health.snapshot(T0 + timedelta(minutes=90))
    assert healthy  # a transient failure within the window is not an alarm
    job = details["connectors"]["hubspot"]["sync"]
    assert job["last_status"] == "failed" and job["error"] == "HTTP 502"
    assert job["last_success_at"] == "2026-11-01T12:46:00Z"
    assert not health.snapshot(T0 + timedelta(minutes=92))[0]


def test_a_fatal_failure_is_unhealthy_until_the_job_succeeds() -> None:
    health = HealthState(clock=Clock())
    health.set_running(True)
    health.job_finished("salesforce", "sync", "failed", error="Salesforce refused the login", fatal=True)
    healthy, details = health.snapshot()
    assert not healthy and details["problems"] == ["salesforce sync: Salesforce refused the login"]
    health.job_finished("salesforce", "sync", "ok")
    healthy, details = health.snapshot()
    assert healthy and details["connectors"]["salesforce"]["sync"]["error"] is None


# --- the HTTP server ---------------------------------------------------------------------


def test_metrics_endpoint_serves_the_registry(running) -> None:
    metrics, _, server, _ = running
    metrics.records("hubspot", pulled=7, written=2)
    metrics.api_calls("hubspot", {"contacts.list": 1})
    metrics.run_finished("hubspot", "sync", "ok", 3.5)
    status, content_type, body = get(f"{server.url}/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    assert samples[("leadscore_records_pulled_total", (("connector", "hubspot"),))] == 7
    assert samples[("leadscore_records_written_total", (("connector", "hubspot"),))] == 2
    assert samples[("leadscore_api_calls_total", (("connector", "hubspot"), ("family", "contacts.list")))] == 1
    assert samples[("leadscore_runs_total", (("connector", "hubspot"), ("kind", "sync"), ("status", "ok")))] == 1
    assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0


def test_healthz_turns_503_when_a_job_is_overdue_or_auth_fails(running) -> None:
    _, health, server, clock = running
    health.set_running(True)
    health.expect("hubspot", "sync", timedelta(minutes=45))
    health.job_finished("hubspot", "sync", "ok")
    status, content_type, body = get(f"{server.url}/healthz")
    assert (status, content_type) == (200, "application/json")
    details: dict[str, Any] = json.loads(body)
    assert details["status"] == "ok" and details["connectors"]["hubspot"]["sync"]["last_status"] == "ok"

    clock.now = T0 + timedelta(hours=1)
    status, _, body = get(f"{server.url}/healthz")
    assert status == 503 and json.loads(body)["connectors"]["hubspot"]["sync"]["overdue"] is True

    health.job_finished("hubspot", "sync", "ok")
    assert get(f"{server.url}/healthz")[0] == 200
    health.job_finished("hubspot", "sync", "failed", error="HubSpot refused the access token", fatal=True)
    status, _, body = get(f"{server.url}/healthz")
    assert status == 503 and json.loads(body)["problems"] == ["hubspot sync: HubSpot refused the access token"]


def test_other_paths_are_404_and_other_methods_405(running) -> None:
    _, _, server, _ = running
    assert get(f"{server.url}/")[0] == 404
    assert get(f"{server.url}/metrics/extra")[0] == 404
    post = urllib.request.Request(f"{server.url}/healthz", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(post, timeout=5)
    assert caught.value.code == 405


def test_a_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            serve(Metrics(), HealthState(), port=port)
    message = str(caught.value)
    assert message.startswith("agent.metrics_port:") and f"127.0.0.1:{port}" in message


def test_close_frees_the_port() -> None:
    server = serve(Metrics(), HealthState(), port=0)
    port = server.port
    server.close()
    serve(Metrics(), HealthState(), port=port).close()
