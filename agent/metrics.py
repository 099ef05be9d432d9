"""What the running service reports: Prometheus metrics on ``/metrics``, its health on ``/healthz``.

Why it is built this way:

- Each :class:`Metrics` has its own ``CollectorRegistry``, not prometheus_client's global one, so
  tests (and two agents in one process) never see each other's counts.
- Health means "the CRM is getting its scores", not "the process is up": the scheduler runs, no
  expected job has gone without a successful run for longer than it should, and no connector's
  last run failed for a reason only a person can fix (a bad config, refused credentials). A
  transient failure is not unhealthy on its own; it becomes so when it lasts past the deadline.
- The server is the standard library's WSGI server with a thread per request (a slow scrape
  never blocks a health check), on daemon threads so it never holds the process up at exit.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable, Mapping
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from leadscore.agent.core.errors import ConfigError

#: Run durations from a one-second incremental sync to a two-hour backfill.
RUN_DURATION_BUCKETS: tuple[float, ...] = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

#: Statuses that count as the job having done its work (a partial run wrote what it could and
#: left the rest for a retry).
SUCCESS_STATUSES = frozenset({"ok", "partial"})

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Metrics:
    """The agent's Prometheus metrics. Every method is safe to call from any thread."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._pulled = Counter("leadscore_records_pulled", "Records read from the CRM.", ["connector"], registry=r)
        self._scored = Counter("leadscore_records_scored", "Records scored.", ["connector"], registry=r)
        self._written = Counter("leadscore_records_written", "Records whose values were written.", ["connector"], registry=r)
        self._failed = Counter("leadscore_records_failed", "Records whose write failed.", ["connector"], registry=r)
        self._problems = Counter(
            "leadscore_records_with_problems",
            "Records with values that could not be used: kind=warned (scored with the usable ones), "
            "kind=bad (not scored at all).",
            ["connector", "kind"], registry=r,
        )
        self._api_calls = Counter("leadscore_api_calls", "CRM API calls, by family.", ["connector", "family"], registry=r)
        self._duration = Histogram(
            "leadscore_run_duration_seconds", "How long a job ran.", ["connector", "kind"],
            buckets=RUN_DURATION_BUCKETS, registry=r,
        )
        self._runs = Counter("leadscore_runs", "Jobs finished, by status.", ["connector", "kind", "status"], registry=r)
        self._last_success = Gauge(
            "leadscore_last_success_timestamp_seconds", "When a job last finished ok or partial (Unix time).",
            ["connector", "kind"], registry=r,
        )
        self._pending = Gauge("leadscore_pending_failures", "Failed writes waiting for a retry.", ["connector"], registry=r)
        self._paused = Gauge(
            "leadscore_quota_paused_until_timestamp_seconds",
            "Until when a spent API quota pauses the connector (Unix time; 0 when not paused).",
            ["connector"], registry=r,
        )

    def records(self, connector: str, *, pulled: int = 0, scored: int = 0, written: int = 0, failed: int = 0) -> None:
        """Add one batch's counts. Every series is touched, so it exists (at 0) from the first
        batch on and ``rate()`` sees its first increase. A negative count raises ValueError."""
        self._pulled.labels(connector).inc(pulled)
        self._scored.labels(connector).inc(scored)
        self._written.labels(connector).inc(written)
        self._failed.labels(connector).inc(failed)
        self.record_problems(connector)  # the problem series exist (at 0) from the first batch too

    def record_problems(self, connector: str, *, warned: int = 0, bad: int = 0) -> None:
        """Add records scored with unusable values (``warned``) and records that could not be
        scored at all (``bad``). Both series are touched, so each exists (at 0) from the first report."""
        self._problems.labels(connector, "warned").inc(warned)
        self._problems.labels(connector, "bad").inc(bad)

    def api_calls(self, connector: str, counts: Mapping[str, int]) -> None:
        """Add API calls made since the last report (deltas, e.g. of ``Connector.api_calls()``)."""
        for family, count in counts.items():
            if count:
                self._api_calls.labels(connector, family).inc(count)

    def run_finished(self, connector: str, kind: str, status: str, seconds: float) -> None:
        self._duration.labels(connector, kind).observe(max(seconds, 0.0))
        self._runs.labels(connector, kind, status).inc()
        if status in SUCCESS_STATUSES:
            self._last_success.labels(connector, kind).set(time.time())

    def pending_failures(self, connector: str, count: int) -> None:
        self._pending.labels(connector).set(count)

    def quota_paused(self, connector: str, until_ts: float | None) -> None:
        self._paused.labels(connector).set(until_ts or 0)


# --- health ------------------------------------------------------------------------------


@dataclass
class _Job:
    within: timedelta | None = None
    last_status: str | None = None
    last_finished_at: datetime | None = None
    last_success_at: datetime | None = None
    error: str | None = None
    fatal: bool = False


class HealthState:
    """What ``/healthz`` answers from: the scheduler's state and each job's last outcome.

    Errors given to :meth:`job_finished` are shown as they are: pass messages already safe to
    publish (the agent's error messages never carry secrets; the endpoint is not redacted).
    """

    def __init__(self, clock: Clock = _utcnow) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._running = False
        self._started_at: datetime | None = None
        self._jobs: dict[tuple[str, str], _Job] = {}
        #: Connector -> until when its spent API quota pauses it (None: until a run succeeds).
        self._paused: dict[str, datetime | None] = {}
        #: Connector -> when its last pause ended (a job is not overdue for the time it was paused).
        self._resumed: dict[str, datetime] = {}

    def quota_paused(self, connector: str, until: datetime | None) -> None:
        """The connector's API allocation is spent: its jobs are skipped until ``until`` (None:
        unknown; until a run of it finishes otherwise). A pause is the agent working as it
        should, so it is shown on ``/healthz`` but keeps it 200: restarting would not bring the
        quota back. Ended by the next finished job of the connector."""
        with self._lock:
            self._paused[connector] = until

    def set_running(self, running: bool) -> None:
        with self._lock:
            if running and not self._running:
                self._started_at = self._clock()
            self._running = running

    def expect(self, connector: str, kind: str, within: timedelta) -> None:
        """Declare that ``kind`` jobs of ``connector`` should succeed at least every ``within``
        (a few times the sync interval, so one failed or slow run is not an alarm)."""
        with self._lock:
            self._jobs.setdefault((connector, kind), _Job()).within = within

    def job_finished(
        self,
        connector: str,
        kind: str,
        status: str,
        error: str | None = None,
        at: datetime | None = None,
        *,
        fatal: bool = False,
    ) -> None:
        """Record a finished job. ``fatal``: it failed for a reason retrying cannot fix (a config
        or auth error), which makes the service unhealthy until a later run of it succeeds."""
        at = at or self._clock()
        ok = status in SUCCESS_STATUSES
        with self._lock:
            if connector in self._paused:  # it ran again: the pause is over (or is set again)
                del self._paused[connector]
                self._resumed[connector] = at
            job = self._jobs.setdefault((connector, kind), _Job())
            job.last_status = status
            job.last_finished_at = at
            job.error = None if ok else error
            job.fatal = fatal and not ok
            if ok:
                job.last_success_at = at

    def snapshot(self, now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
        """Whether the service is healthy, and the details ``/healthz`` shows."""
        now = now or self._clock()
        problems: list[str] = []
        connectors: dict[str, dict[str, Any]] = {}
        paused: dict[str, str | None] = {}
        with self._lock:
            running, started_at = self._running, self._started_at
            jobs = sorted(self._jobs.items())
            if not running:
                problems.append("scheduler is not running")
            for connector, until in self._paused.items():
                if until is None or until > now:
                    paused[connector] = _iso(until)
            for (connector, kind), job in jobs:
                overdue = False
                if job.within is not None and running and started_at is not None and connector not in paused:
                    since = max(started_at, job.last_success_at) if job.last_success_at else started_at
                    # The time a quota pause lasted is not the job's fault: count from its end.
                    ended = self._paused[connector] if connector in self._paused else self._resumed.get(connector)
                    if ended is not None:
                        since = max(since, min(ended, now))
                    overdue = now - since > job.within
                    if overdue:
                        problems.append(
                            f"{connector} {kind}: no successful run since {_iso(since)} "
                            f"(expected every {_duration(job.within)})"
                        )
                if job.fatal:
                    problems.append(f"{connector} {kind}: {job.error or job.last_status}")
                connectors.setdefault(connector, {})[kind] = {
                    "last_status": job.last_status,
                    "last_finished_at": _iso(job.last_finished_at),
                    "last_success_at": _iso(job.last_success_at),
                    "error": job.error,
                    "fatal": job.fatal,
                    "expected_every_seconds": job.within.total_seconds() if job.within else None,
                    "overdue": overdue,
                }
        healthy = not problems
        return healthy, {
            "status": ("paused" if paused else "ok") if healthy else "unhealthy",
            "running": running,
            # Connectors whose API allocation is spent, and until when (null: until it resets).
            "paused": {connector: {"reason": "API quota spent", "until": until} for connector, until in sorted(paused.items())},
            "started_at": _iso(started_at),
            "checked_at": _iso(now),
            "problems": problems,
            "connectors": connectors,
        }


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if at else None


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- the HTTP server ---------------------------------------------------------------------


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # Rebinding the port of an agent that just stopped must work; a live listener still refuses.
    allow_reuse_address = True


class _ThreadingWSGIServer6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: every scrape would be a line outside the structured logs."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        pass


def _wsgi_app(metrics: Metrics, health: HealthState) -> Callable[..., Iterable[bytes]]:
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path not in ("/metrics", "/healthz"):
            return _plain(start_response, "404 Not Found", b"not found: try /metrics or /healthz\n")
        if method not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", b"GET only\n", [("Allow", "GET, HEAD")])
        if path == "/metrics":
            return prometheus(environ, start_response)
        healthy, details = health.snapshot()
        body = json.dumps(details, indent=2).encode("utf-8") + b"\n"
        start_response("200 OK" if healthy else "503 Service Unavailable", [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ])
        return [body]

    return app


def _plain(start_response: Callable[..., Any], status: str, body: bytes,
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                            *(headers or [])])
    return [body]


class MetricsServer:
    """``/metrics`` and ``/healthz`` served from a background thread until :meth:`close`."""

    def __init__(self, server: WSGIServer, host: str) -> None:
        self._server = server
        self.host = host
        #: The port actually bound (the one the OS chose when asked for port 0).
        self.port: int = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="leadscore-metrics", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(metrics: Metrics, health: HealthState, host: str = "127.0.0.1", port: int = 9464) -> MetricsServer:
    """Start serving; raise :class:`ConfigError` when the address cannot be bound, which is a
    config problem (another process holds the port, or the host is not this machine's)."""
    server_class = _ThreadingWSGIServer6 if ":" in host else _ThreadingWSGIServer
    try:
        server = make_server(host, port, _wsgi_app(metrics, health), server_class=server_class,
                             handler_class=_QuietHandler)
    except OSError as exc:
        bad_host = isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL
        key = "agent.metrics_host" if bad_host else "agent.metrics_port"
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise ConfigError(
            f"{key}: cannot listen on {host}:{port} for /metrics and /healthz ({reason}); "
            "choose another metrics_port, or 0 to turn them off"
        ) from None
    return MetricsServer(server, host)
