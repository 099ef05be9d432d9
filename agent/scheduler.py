"""``leadscore run``: each connector's jobs on APScheduler 3, until SIGTERM.

Per connector: the incremental sync (every ``sync_every``, or on ``sync_cron``), the rescore pass
(on ``rescore_cron``, nightly by default), drift repair (``reconcile_cron``, weekly by default)
and, when ``backfill_cron`` is given, a full backfill. With ``[predictive.loop]`` (a champion
model file named), the feedback loop's retrain (weekly) and check (daily) run beside them. All run under the connector's lease, one at
a time: a backfill or a reconcile never overlaps the connector's syncs. APScheduler keeps a job from overlapping
itself (``max_instances=1``), folds ticks missed while it ran into one (``coalesce``) and skips
a tick later than ``misfire_grace``; the connector's lease in the state store keeps a second agent
process off its jobs, and the connector's in-process lock makes its rescore wait for its sync.

SIGTERM (or SIGINT) sets the stop event: each running job finishes the batch in flight, records
it, and returns; the scheduler is shut down waiting for them; the process exits 0.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timezone
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from leadscore.agent.core import extras
from leadscore.agent.settings import ResolvedSchedule, Schedule
from leadscore.agent.state import RunKind
from leadscore.agent.sync.agent import Agent
from leadscore.agent.sync.jobs import ConnectorJobs

log = structlog.get_logger("leadscore.scheduler")


def sync_trigger(schedule: ResolvedSchedule) -> Any:
    if schedule.sync_cron is not None:
        return CronTrigger.from_crontab(schedule.sync_cron, timezone=schedule.timezone)
    assert schedule.sync_every is not None
    return IntervalTrigger(seconds=schedule.sync_every.total_seconds(), timezone=schedule.timezone)


def build_scheduler(agent: Agent, schedule: Schedule) -> BackgroundScheduler:
    """The scheduler with every connector's jobs added (not started)."""
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=max(2, 2 * len(agent.jobs)))},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(schedule.misfire_grace.total_seconds()),
        },
        timezone=schedule.timezone,
    )
    now = datetime.now(timezone.utc)
    for name, jobs in agent.jobs.items():
        resolved = schedule.for_connector(name)
        first: dict[str, Any] = {"next_run_time": now} if schedule.sync_on_start else {}
        scheduler.add_job(_sync, sync_trigger(resolved), args=[jobs], id=f"{name}:sync", name=f"{name} sync", **first)
        if resolved.rescore:
            scheduler.add_job(
                _rescore,
                CronTrigger.from_crontab(resolved.rescore_cron, timezone=resolved.timezone),
                args=[jobs],
                id=f"{name}:rescore",
                name=f"{name} rescore",
            )
        for kind, cron in (("backfill", resolved.backfill_cron), ("reconcile", resolved.reconcile_cron)):
            if cron is not None:
                scheduler.add_job(_run_kind, CronTrigger.from_crontab(cron, timezone=resolved.timezone),
                                  args=[jobs, kind], id=f"{name}:{kind}", name=f"{name} {kind}")
        if agent.health is not None and resolved.sync_every is not None:
            agent.health.expect(name, "sync", 3 * resolved.sync_every)
    _add_loop_jobs(scheduler, agent, schedule)
    return scheduler


def _add_loop_jobs(scheduler: BackgroundScheduler, agent: Agent, schedule: Schedule) -> None:
    """The feedback loop's retrain and check (:mod:`leadscore.agent.loop.retrain`), when
    ``[predictive]`` names a champion file and a retrain schedule (see ``[predictive.loop]``)."""
    predictive = agent.config.predictive
    if predictive is None or not predictive.loop_enabled:
        return
    loop = extras.load("leadscore.agent.loop.retrain", "predictive", "[predictive.loop] (the scheduled retrain)")
    settings = predictive.loop
    for job, every, cron, run in (("retrain", settings.retrain_every, settings.retrain_cron, loop.run_retrain),
                                  ("check", settings.check_every, settings.check_cron, loop.run_check)):
        if every is not None:
            trigger: Any = IntervalTrigger(seconds=every.total_seconds(), timezone=schedule.timezone)
        elif cron:
            trigger = CronTrigger.from_crontab(cron, timezone=schedule.timezone)
        else:
            continue
        scheduler.add_job(run, trigger, args=[agent.config, agent.store], id=f"loop:{job}", name=f"model {job}")


def _sync(jobs: ConnectorJobs) -> None:
    jobs.run("sync")


def _rescore(jobs: ConnectorJobs) -> None:
    jobs.run("rescore")  # waits for the connector's sync in this process, if one runs


def _run_kind(jobs: ConnectorJobs, kind: RunKind) -> None:
    jobs.run(kind)  # waits for the connector's other jobs in this process, as the lease does across processes


def serve(agent: Agent, schedule: Schedule, *, install_signals: bool = True) -> int:
    """Run the jobs until :attr:`Agent.stop` is set (by SIGTERM/SIGINT, or a test); 0 when
    stopped cleanly."""
    scheduler = build_scheduler(agent, schedule)
    signals = (
        agent.stopped_by_signals(lambda name: log.info("agent.stopping", signal=name)) if install_signals else nullcontext()
    )
    with signals:
        scheduler.start()
        if agent.health is not None:
            agent.health.set_running(True)
        log.info(
            "agent.started",
            connectors=sorted(agent.jobs),
            jobs=[f"{job.id} next {job.next_run_time.isoformat() if job.next_run_time else 'paused'}" for job in scheduler.get_jobs()],
        )
        try:
            agent.stop.wait()
        finally:
            if agent.health is not None:
                agent.health.set_running(False)
            scheduler.shutdown(wait=True)  # running jobs finish their batch in flight first
    log.info("agent.stopped")
    return 0
