"""Running one connector's jobs: under its lease, in the run log, with logs, metrics and health.

The CLI's one-shot commands (``sync``, ``backfill``, ``rescore``) and the service's scheduled jobs
all go through :class:`ConnectorJobs.run`, so a run started by hand and a scheduled one can never
overlap: the lease in the state store keeps a second process off the connector, and an in-process
lock makes the service's rescore of a connector wait for its sync.

A job never raises: every failure ends the run as ``failed`` with one line in the run log and the
logs, and the next tick tries again; the commands turn the outcomes into messages and an exit
code. ``raise_errors=True`` hands the error back instead, for callers that want the exception.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping

import structlog

from leadscore.agent.core.errors import AuthError, ConfigError, LeadscoreError, QuotaExhausted
from leadscore.agent.settings import AgentSettings
from leadscore.agent.state import LeaseHeld, RunKind, StateError, StateStore, new_owner_id
from leadscore.agent.sync.pipeline import RunCounts, SyncPipeline
from leadscore.agent.sync.reconcile import Drift
from leadscore.agent.sync.models import ModelFiles, ShadowScorer
from leadscore.agent.sync.values import Scorer
from leadscore.agent.core.contract import Connector, load_connector

if TYPE_CHECKING:
    from leadscore.agent.metrics import HealthState, Metrics

#: The connector fact naming the CRM the state store belongs to (``hubspot:<portal>``...).
CRM_IDENTITY = "crm_identity"

log = structlog.get_logger("leadscore.jobs")

#: The lease name: one for all of a connector's jobs, since each of them writes to the CRM and
#: to the connector's last-written values.
LEASE_JOB = "pipeline"


@dataclass
class JobOutcome:
    """How one job ended. ``status``: ok, partial, failed, interrupted or skipped (lease held)."""

    connector: str
    kind: str
    status: str
    counts: RunCounts = field(default_factory=RunCounts)
    error: str | None = None
    run_id: str | None = None
    seconds: float = 0.0
    #: The error was one a person must fix (config, credentials): retrying will not help.
    fatal: bool = False


class _FrozenHeap:
    """While any job runs, what the process held before it is out of the cyclic garbage
    collector's sight (``gc.freeze``), and back in when the last running job ends (``gc.unfreeze``).

    A job allocates millions of short-lived containers (a rescore decodes a million leads), so
    the collector runs thousands of times, and each of its older passes walked every object the
    imports and the config had made: a fifth of a nightly rescore's CPU. Frozen, those objects are
    never walked, and the job's own garbage is still collected as before. Unfreezing afterwards
    (rather than freezing once for good) means nothing frozen can be kept alive forever when it
    later becomes a garbage cycle; jobs overlapping in the scheduler's threads share one freeze."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0

    def __enter__(self) -> None:
        with self._lock:
            if self._running == 0:
                gc.freeze()
            self._running += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                gc.unfreeze()


_frozen_heap = _FrozenHeap()


class Heartbeat:
    """Renews a lease every third of its length while a job runs. A lease that cannot be renewed
    before it expires is lost - another agent may take the connector - so ``lost`` stops the job
    after its batch in flight."""

    def __init__(self, store: StateStore, connector: str, owner: str, ttl: timedelta) -> None:
        self._store, self._connector, self._owner, self._ttl = store, connector, owner, ttl
        self._done = threading.Event()
        self.lost = threading.Event()
        self._expires = time.monotonic() + ttl.total_seconds()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{connector}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        interval = max(self._ttl.total_seconds() / 3, 0.05)
        while not self._done.wait(interval):
            try:
                renewed = self._store.renew_lease(self._connector, LEASE_JOB, self._owner, self._ttl)
            except StateError as exc:
                renewed = None
                log.warning("lease.renew_failed", connector=self._connector, error=str(exc))
            if renewed:
                self._expires = time.monotonic() + self._ttl.total_seconds()
            elif renewed is False or time.monotonic() >= self._expires:
                log.error("lease.lost", connector=self._connector, owner=self._owner)
                self.lost.set()
                return


class ConnectorJobs:
    """One connector's jobs in one agent process. The connector is built on first use and kept
    (its HTTP sessions and rate-limit windows outlive a run); it is built again after a failure
    of its credentials, so a fixed secret file is picked up without a restart."""

    def __init__(
        self,
        name: str,
        table: Mapping[str, Any],
        store: StateStore,
        scorer: Scorer,
        settings: AgentSettings,
        *,
        reason_budget: int = 255,
        metrics: Metrics | None = None,
        health: HealthState | None = None,
        stop: threading.Event | None = None,
        owner: str | None = None,
        factory: Callable[[Mapping[str, Any]], Connector] | None = None,
        models: ModelFiles | None = None,
        learns: bool = False,
    ) -> None:
        self.name = name
        self.table = table
        self.store = store
        self.scorer = scorer
        #: The live challenger (shadow scores only), when the config has one.
        self.shadow: ShadowScorer | None = models.shadow if models is not None else None
        #: Where the champion and challenger come from; asked again at each job.
        self.models = models
        #: Pull every field (the config trains models from the state store).
        self.learns = learns
        self.settings = settings
        self.reason_budget = reason_budget
        self.metrics = metrics
        self.health = health
        self.stop = stop or threading.Event()
        self.owner = owner or new_owner_id()
        self._factory = factory
        self._connector: Connector | None = None
        #: The connector whose CRM identity was checked against the store (see _check_identity).
        self._identified: Connector | None = None
        self._busy = threading.Lock()
        #: Set when the CRM's API allocation is spent: jobs are skipped until then, not retried.
        self.paused_until: datetime | None = None

    # --- the connector -----------------------------------------------------------------------

    def connector(self) -> Connector:
        if self._connector is None:
            factory = self._factory or load_connector(self.name)
            self._connector = factory(self.table)
        return self._connector

    def close(self) -> None:
        if self._connector is not None:
            try:
                self._connector.close()
            finally:
                self._connector = None

    def pipeline(
        self,
        connector: Connector,
        should_stop: Callable[[], bool],
        progress: Callable[[int], None] | None = None,
        as_of: datetime | None = None,
    ) -> SyncPipeline:
        return SyncPipeline(
            self.name,
            connector,
            self.store,
            self.scorer,
            shadow=self.shadow,
            learns=self.learns,
            reason_budget=self.reason_budget,
            write_batch=self.settings.rescore_batch,
            retry_after=self.settings.retry_after,
            metrics=self.metrics,
            should_stop=should_stop,
            progress=progress,
            as_of=as_of,
        )

    # --- running -----------------------------------------------------------------------------

    def run(
        self,
        kind: RunKind,
        *,
        since: datetime | None = None,
        raise_errors: bool = False,
        progress: Callable[[int], None] | None = None,
        on_start: Callable[[Connector], None] | None = None,
        as_of: datetime | None = None,
        dry_run: bool = False,
        report: Callable[[Drift], None] | None = None,
    ) -> list[JobOutcome]:
        """Run ``kind`` now, under the connector's lease (``dry_run`` and ``report``: a reconcile
        that only reports the drift it finds). A sync first brings the mirror up to
        the model: a full backfill when the model reads data the mirror lacks, a rescore when the
        model version changed. Waits for another job of this connector running in this process.
        Returns one outcome per run logged."""
        now = datetime.now(timezone.utc)
        if self.paused_until is not None and now < self.paused_until:
            message = f"the {self.name} API allocation is spent; paused until {self.paused_until.isoformat()}"
            log.info("job.paused", connector=self.name, kind=kind, until=self.paused_until.isoformat())
            return [JobOutcome(self.name, kind, "skipped", error=message)]
        with self._busy:
            return self._leased(kind, since, raise_errors, progress, on_start, as_of, dry_run, report)

    def _leased(
        self,
        kind: RunKind,
        since: datetime | None,
        raise_errors: bool,
        progress: Callable[[int], None] | None,
        on_start: Callable[[Connector], None] | None,
        as_of: datetime | None = None,
        dry_run: bool = False,
        report: Callable[[Drift], None] | None = None,
    ) -> list[JobOutcome]:
        ttl = self.settings.lease
        if self.models is not None:  # a promotion or retrain since the last job is picked up here
            self.scorer, self.shadow = self.models.refresh()
        try:
            acquired = self.store.acquire_lease(self.name, LEASE_JOB, self.owner, ttl)
        except StateError as exc:
            return [self._failed_to_start(kind, exc, raise_errors)]
        if not acquired:
            holder = self.store.lease_holder(self.name, LEASE_JOB)
            message = f"{self.name} jobs are running in another agent ({holder.owner if holder else 'unknown'})"
            log.info("job.skipped", connector=self.name, kind=kind, reason=message)
            if raise_errors:
                raise LeaseHeld(message, owner=holder.owner if holder else None, expires_at=holder.expires_at if holder else None)
            return [JobOutcome(self.name, kind, "skipped", error=message)]
        outcomes: list[JobOutcome] = []
        try:
            with Heartbeat(self.store, self.name, self.owner, ttl) as beat:
                should_stop = lambda: self.stop.is_set() or beat.lost.is_set()  # noqa: E731
                try:
                    connector = self.connector()
                    self._check_identity(connector)
                    if on_start is not None:
                        on_start(connector)
                except LeadscoreError as exc:
                    outcomes.append(self._failed_to_start(kind, exc, raise_errors))
                    return outcomes
                pipeline = self.pipeline(connector, should_stop, progress, as_of)
                steps: list[tuple[RunKind, Callable[[], RunCounts]]] = []
                if kind == "sync":
                    if not pipeline.mirror_covers_model():
                        log.warning(
                            "model.needs_repull", connector=self.name,
                            detail="the model reads fields or activities the mirror was not pulled with; a full backfill refreshes it",
                        )
                        steps.append(("backfill", pipeline.backfill))
                    elif pipeline.model_changed():
                        log.info("model.changed", connector=self.name, version=self.scorer.version)
                        steps.append(("rescore", pipeline.rescore))
                    steps.append(("sync", pipeline.sync))
                elif kind == "rescore":
                    if not pipeline.mirror_covers_model():
                        message = "the model reads data the mirror lacks: the next sync re-pulls it first"
                        log.warning("rescore.skipped", connector=self.name, reason=message)
                        return [JobOutcome(self.name, kind, "skipped", error=message)]
                    steps.append(("rescore", pipeline.rescore))
                    self._prune()
                elif kind == "reconcile":
                    if not pipeline.mirror_covers_model():
                        message = "the model reads data the mirror lacks: the next sync re-pulls it first"
                        log.warning("reconcile.skipped", connector=self.name, reason=message)
                        return [JobOutcome(self.name, kind, "skipped", error=message)]
                    steps.append(("reconcile", lambda: pipeline.reconcile(dry_run=dry_run, report=report)))
                else:
                    steps.append(("backfill", lambda: pipeline.backfill(since)))
                for step_kind, step in steps:
                    outcome = self._logged(step_kind, step, raise_errors)
                    outcomes.append(outcome)
                    if outcome.status in ("failed", "interrupted"):
                        break
                if pipeline.quota_stop is not None:  # met by the outcome pull, after the records synced
                    self._pause(pipeline.quota_stop)
        finally:
            try:
                self.store.release_lease(self.name, LEASE_JOB, self.owner)
            except StateError as exc:  # it expires by itself
                log.warning("lease.not_released", connector=self.name, error=str(exc))
        return outcomes

    def _check_identity(self, connector: Connector) -> None:
        """Once per connector built: is the state store this CRM's? A store kept for another
        portal or org (a copied state file, a config pointed elsewhere, a sandbox refreshed into a
        new org) holds a mirror and "last written" values that are not this CRM's; trusting them
        would leave every record unwritten. It is forgotten, loudly, and the next sync starts
        afresh (a full pull that writes every record)."""
        if self._identified is connector:
            return
        try:
            current = connector.identity()
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"connectors.{self.name}: could not tell which CRM this is ({exc})") from None
        if current is None:  # the connector cannot tell: nothing to compare
            self._identified = connector
            return
        stored = self.store.meta(self.name, CRM_IDENTITY)
        if stored is not None and stored != current:
            forgotten = self.store.forget(self.name)
            log.warning("state.other_crm", connector=self.name, stored=stored, current=current,
                        detail="the state store was kept for another CRM: its mirror, cursors and written values "
                               "are forgotten and the next sync pulls and writes everything", **forgotten)
        if stored != current:
            self.store.set_meta(self.name, CRM_IDENTITY, current)
        self._identified = connector

    def _prune(self) -> None:
        """The nightly housekeeping: bookkeeping older than ``keep_runs`` goes."""
        try:
            pruned = self.store.prune(self.name, datetime.now(timezone.utc) - self.settings.keep_runs)
        except StateError as exc:
            log.warning("state.not_pruned", connector=self.name, error=str(exc))
            return
        if any(pruned.values()):
            log.info("state.pruned", connector=self.name, **pruned)

    def _logged(self, kind: RunKind, step: Callable[[], RunCounts], raise_errors: bool) -> JobOutcome:
        """One run: in the run log, with its counts, its duration and its error."""
        started = time.monotonic()
        structlog.contextvars.clear_contextvars()  # a pooled worker thread may carry the last job's
        structlog.contextvars.bind_contextvars(connector=self.name, kind=kind)
        outcome = JobOutcome(self.name, kind, "failed")
        error: BaseException | None = None
        try:
            run_id = self.store.start_run(self.name, kind)
            structlog.contextvars.bind_contextvars(run_id=run_id)
            outcome.run_id = run_id
            log.info("run.started")
            with _frozen_heap:
                counts = step()
            outcome.counts = counts
            outcome.status = "interrupted" if counts.interrupted else counts.status
        except LeadscoreError as exc:
            error = exc
            outcome.error = _one_line(exc)
            outcome.fatal = _is_fatal(exc)
            if isinstance(exc, AuthError):
                self.close()  # rebuilt, with its secrets read again, on the next run
        except Exception as exc:  # noqa: BLE001 - a scheduled job must never take the service down
            error = exc
            outcome.error = f"unexpected {type(exc).__name__}: {exc}"
            log.exception("run.crashed", error=outcome.error)
        outcome.seconds = time.monotonic() - started
        try:
            if outcome.run_id is not None:
                self.store.finish_run(outcome.run_id, outcome.status, outcome.counts.as_dict(), outcome.error)  # type: ignore[arg-type]
        except (StateError, ValueError) as exc:
            log.error("run.not_logged", error=str(exc))
            error = error or exc
            outcome.status, outcome.error = "failed", outcome.error or str(exc)
        self._report(outcome, error)
        structlog.contextvars.unbind_contextvars("connector", "kind", "run_id")
        if error is not None and raise_errors:
            raise error
        return outcome

    def _failed_to_start(self, kind: str, exc: BaseException, raise_errors: bool) -> JobOutcome:
        outcome = JobOutcome(self.name, kind, "failed", error=_one_line(exc), fatal=_is_fatal(exc))
        if not isinstance(exc, StateError):
            try:  # in the run log too, so `status` shows why nothing ran (a missing secret...)
                outcome.run_id = self.store.start_run(self.name, kind)  # type: ignore[arg-type]
                self.store.finish_run(outcome.run_id, "failed", {}, outcome.error)
            except (StateError, ValueError):
                pass
        self._report(outcome, exc)
        if raise_errors:
            raise exc
        return outcome

    def _report(self, outcome: JobOutcome, error: BaseException | None) -> None:
        counts = outcome.counts.as_dict()
        fields: dict[str, Any] = {"status": outcome.status, "seconds": round(outcome.seconds, 3), **counts}
        if outcome.error:
            fields["error"] = outcome.error
        if isinstance(error, QuotaExhausted):
            fields["resume_at"] = error.resume_at.isoformat() if error.resume_at else None
        level = "error" if outcome.status == "failed" else "warning" if outcome.status != "ok" else "info"
        getattr(log, level)("run.finished", connector=self.name, kind=outcome.kind, **fields)
        if self.metrics is not None:
            self.metrics.run_finished(self.name, outcome.kind, outcome.status, outcome.seconds)
            try:
                self.metrics.pending_failures(self.name, sum(self.store.failure_counts(self.name).values()))
            except StateError:
                pass  # the run's own error already says the store is unwell
        if self.health is not None:
            self.health.job_finished(self.name, outcome.kind, outcome.status, outcome.error, fatal=outcome.fatal)
        if isinstance(error, QuotaExhausted):
            self._pause(error)

    def _pause(self, error: QuotaExhausted) -> None:
        """The CRM's API allocation is spent: skip this connector's jobs until it resets, rather
        than calling again (a pull's, a write's or the outcome pull's spent allocation alike)."""
        self.paused_until = error.resume_at
        if self.metrics is not None:
            self.metrics.quota_paused(self.name, error.resume_at.timestamp() if error.resume_at else None)
        if self.health is not None:  # paused, as it should be: /healthz stays 200
            self.health.quota_paused(self.name, error.resume_at)


def _is_fatal(exc: BaseException) -> bool:
    """A person must fix it (the config, a credential): the next tick will fail the same way."""
    return isinstance(exc, (ConfigError, AuthError))


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ConfigError):
        return "; ".join(exc.problems)
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
