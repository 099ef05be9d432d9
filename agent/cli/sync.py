"""The sync agent's commands: ``run``, ``sync``, ``backfill``, ``rescore``, ``reconcile``, ``status``, ``preview``.

Each loads the config (``--config``, default ``./leadscore.toml``), opens the state store it names
and works on every configured connector (or those given with ``--connector``). Failures of one
connector are reported on one line each and do not stop the others; the exit code is 0 when all
went well (or were stopped cleanly by SIGTERM), 2 when a person must fix the config or a
credential, 1 for any other failure (CRM unreachable, state store unwritable), 3 when a connector
was skipped because another agent holds its lease (a crashed agent's lease runs out within
``[agent] lease``).
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Iterable, Iterator, Mapping, Optional, Sequence, TypeVar

import typer
from apscheduler.triggers.cron import CronTrigger
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from leadscore.agent.cli.options import (
    DEFAULT_CONFIG,
    ConfigOption,
    ConnectorOption,
    err,
    now,
    out,
    parse_instant,
    prepare,
)
from leadscore.agent.config import AgentConfig, load_config, require_secrets
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.reasons import SEPARATOR
from leadscore.agent.core.contract import Connector, Cursor, load_connector
from leadscore.agent.metrics import HealthState, Metrics, serve
from leadscore.agent.scheduler import serve as serve_jobs
from leadscore.agent.state import RunKind
from leadscore.agent.sync import Agent, JobOutcome, build_scorer, write_plan_csv
from leadscore.agent.scoring.modelset import model_name
from leadscore.agent.sync.accounts import AccountScoring, account_type_for
from leadscore.agent.sync.agent import open_store
from leadscore.agent.sync.pipeline import SCORED_VERSION, since_cursor
from leadscore.agent.sync.reconcile import Drift

T = TypeVar("T")

#: A one-shot command found the connector's jobs running in another agent (or paused for quota):
#: nothing was done; run it again later. Distinct from 0 so a script does not take it for done.
EXIT_BUSY = 3
DRIFT_SHOWN = 20


# --- shared plumbing ---------------------------------------------------------------------------


def say_stopping(signal_name: str) -> None:
    err.print(f"{signal_name}: finishing the batch in flight, then stopping", highlight=False)


def _exit_code(outcomes: Sequence[JobOutcome]) -> int:
    failed = [o for o in outcomes if o.status == "failed"]
    if any(o.fatal for o in failed):
        return 2
    if failed:
        return 1
    return EXIT_BUSY if any(o.status == "skipped" for o in outcomes) else 0


def _print_outcomes(outcomes: Sequence[JobOutcome]) -> None:
    table = Table(title_justify="left")
    for column in ("connector", "run", "status", "pulled", "scored", "warned", "bad", "written", "failed", "API calls", "seconds"):
        table.add_column(column, justify="left" if column in ("connector", "run", "status") else "right")
    for o in outcomes:
        c = o.counts
        table.add_row(
            o.connector, o.kind, o.status, str(c.pulled), str(c.scored), str(c.warned), str(c.bad), str(c.written),
            str(c.failed), str(c.api_calls), f"{o.seconds:.1f}",
        )
    out.print(table)
    for o in outcomes:
        if o.error:
            colour = "red" if o.status == "failed" else "yellow"
            err.print(f"[{colour}]{o.connector} {o.kind} {o.status}:[/] {o.error}", highlight=False)
        if o.status == "skipped":
            err.print(f"{o.connector}: nothing done; run it again once that finishes", highlight=False)
        if o.status == "interrupted":
            err.print(f"{o.connector} {o.kind} stopped after the batch in flight; run it again to resume", highlight=False)
        if o.counts.retryable:
            err.print(f"{o.connector}: {o.counts.retryable} writes failed and are kept; the next run retries them", highlight=False)
        if o.counts.permanent:
            err.print(
                f"{o.connector}: {o.counts.permanent} writes were refused by the CRM (see the log; `leadscore status`)",
                highlight=False,
            )


def progress_bars() -> Progress:
    """The bars of long work: records done of the estimate, rate, elapsed time and ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


class ProgressBar:
    """A progress task fed by the pipeline, with a records/s rate."""

    def __init__(self, progress: Progress, description: str) -> None:
        self.progress = progress
        self.task = progress.add_task(description, total=None, rate="")

    def total(self, connector: Connector, since: datetime | None) -> None:
        total = 0
        try:
            for object_type in connector.object_types:
                n = connector.count(Cursor(object_type, since_cursor(since)))
                if n is None:
                    return
                total += n
        except Exception:  # noqa: BLE001 - an estimate must never stop the work
            return
        self.progress.update(self.task, total=total)

    def finish(self) -> None:
        """The pass ended: the bar shows what was done (the total was an estimate)."""
        task = self.progress.tasks[self.task]
        self.progress.update(self.task, total=task.completed)

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)
        task = self.progress.tasks[self.task]
        speed = task.speed
        self.progress.update(self.task, rate=f"{speed:,.0f} records/s" if speed else "")


def open_agent(config: Path, connector: Sequence[str] | None) -> tuple[AgentConfig, Agent]:
    """The config, checked for its secrets before the state store is opened (or created), and the agent."""
    loaded = prepare(config)
    require_secrets(loaded, connector or None)
    return loaded, Agent.open(loaded, only=connector)


# --- commands ----------------------------------------------------------------------------------


def run(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Run the agent as a service: every connector's sync and nightly rescore, until SIGTERM."""
    loaded = prepare(config, service=True)
    metrics, health = Metrics(), HealthState()
    agent = Agent.open(loaded, metrics=metrics, health=health)
    server = None
    try:
        if loaded.agent.metrics_port:
            server = serve(metrics, health, loaded.agent.metrics_host, loaded.agent.metrics_port)
        code = serve_jobs(agent, loaded.schedule)
    finally:
        if server is not None:
            server.close()
        agent.close()
    raise typer.Exit(code)


def sync(
    config: ConfigOption = DEFAULT_CONFIG,
    connector: ConnectorOption = None,
    as_of: Annotated[
        Optional[str], typer.Option("--as-of", help="Score as of this instant (default: now); what changed is read up to now.")
    ] = None,
) -> None:
    """One incremental pass now: retry kept failures, pull what changed, score, write the changes."""
    _run_each(config, connector, "sync", bars=False, as_of=parse_instant("--as-of", as_of))


def backfill(
    config: ConfigOption = DEFAULT_CONFIG,
    connector: ConnectorOption = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only records changed since this date or instant (ISO 8601).")] = None,
    dry_run: Annotated[
        Optional[Path], typer.Option("--dry-run", help="Write the changes it would make to this CSV; write nothing to the CRM or state.")
    ] = None,
    as_of: Annotated[
        Optional[str], typer.Option("--as-of", help="Score as of this instant (default: now), for a reproducible backfill.")
    ] = None,
) -> None:
    """Full pull and rescore, writing what changed; resumable: run it again after an interruption."""
    moment = parse_instant("--since", since)
    scoring_time = parse_instant("--as-of", as_of)
    if dry_run is not None:
        _dry_run(config, connector, moment, dry_run, scoring_time)
        return
    _run_each(config, connector, "backfill", bars=True, since=moment, as_of=scoring_time)


def rescore(
    config: ConfigOption = DEFAULT_CONFIG,
    connector: ConnectorOption = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Score as of this instant (default: now).")] = None,
) -> None:
    """Score the mirror again now (what the nightly pass does) and write only what changed; no CRM read."""
    _run_each(config, connector, "rescore", bars=True, as_of=parse_instant("--as-of", as_of))


def reconcile(
    config: ConfigOption = DEFAULT_CONFIG,
    connector: ConnectorOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report the drift; write nothing.")] = False,
) -> None:
    """Read the score fields back from the CRM and rewrite every record whose values there differ
    from what the model computes now (drift from users, workflows, restores); weekly in `run`."""
    _, agent = open_agent(config, connector)
    outcomes: list[JobOutcome] = []
    drift: list[Drift] = []
    try:
        with agent.stopped_by_signals(say_stopping):
            for name, jobs in agent.jobs.items():
                outcomes.extend(jobs.run("reconcile", dry_run=dry_run, report=drift.append))
                if agent.stop.is_set():
                    break
    finally:
        agent.close()
    _print_outcomes(outcomes)
    for o in outcomes:
        c = o.counts
        if o.status in ("ok", "partial"):
            verb = "would rewrite" if dry_run else "rewrote"
            out.print(f"{o.connector}: {c.scored:,} records checked, {c.drifted:,} drifted, {verb} "
                      f"{c.drifted if dry_run else c.written:,}; {c.missing:,} no longer in the CRM", highlight=False)
    if drift:
        table = Table(title=f"drifted values (first {min(len(drift), DRIFT_SHOWN)} of {len(drift):,})", title_justify="left")
        for column in ("record", "value", "in the CRM", "computed"):
            table.add_column(column, overflow="fold")
        for d in drift[:DRIFT_SHOWN]:
            table.add_row(f"{d.object_type} {d.record_id}", d.value, _shown(d.crm), _shown(d.computed))
        out.print(table)
    raise typer.Exit(_exit_code(outcomes))


def _shown(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _run_each(
    config: Path,
    connector: Sequence[str] | None,
    kind: RunKind,
    *,
    bars: bool,
    since: datetime | None = None,
    as_of: datetime | None = None,
) -> None:
    """Run one kind of job for each connector in turn, under its lease; print what each did and
    exit with the code of the worst outcome. SIGTERM stops after the batch in flight."""
    _, agent = open_agent(config, connector)
    try:
        with agent.stopped_by_signals(say_stopping):
            outcomes = run_jobs(agent, kind, bars=bars, since=since, as_of=as_of)
    finally:
        agent.close()
    _print_outcomes(outcomes)
    raise typer.Exit(_exit_code(outcomes))


def run_jobs(
    agent: Agent, kind: RunKind, *, bars: bool, since: datetime | None = None, as_of: datetime | None = None,
) -> list[JobOutcome]:
    """Run one kind of job for each of the agent's connectors in turn (optionally with progress
    bars) until the agent is told to stop; what each did."""
    outcomes: list[JobOutcome] = []
    with (progress_bars() if bars else nullcontext()) as progress:
        for name, jobs in agent.jobs.items():
            bar = ProgressBar(progress, f"{name} {kind}") if progress is not None else None
            if bar is not None and kind == "rescore":
                progress.update(bar.task, total=sum(agent.store.status(name).mirrored_leads.values()))
            estimate = (lambda c, b=bar: b.total(c, since)) if bar is not None and kind == "backfill" else None
            outcomes.extend(
                jobs.run(kind, since=since, as_of=as_of, progress=bar.advance if bar else None, on_start=estimate)
            )
            if bar is not None:
                bar.finish()
            if agent.stop.is_set():
                break
    return outcomes


def _dry_run(config: Path, connector: Sequence[str] | None, since: datetime | None, path: Path, as_of: datetime | None) -> None:
    """What a backfill would change, as CSV; nothing is written to the CRM or the state."""
    _, agent = open_agent(config, connector)
    rows = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with agent.stopped_by_signals(say_stopping), progress_bars() as progress, path.open("w", newline="", encoding="utf-8") as handle:
            for index, (name, jobs) in enumerate(agent.jobs.items()):
                bar = ProgressBar(progress, f"{name} dry run")
                crm = jobs.connector()
                bar.total(crm, since)
                pipeline = jobs.pipeline(crm, agent.stop.is_set, bar.advance, as_of)
                rows += write_plan_csv(handle, name, pipeline.plan(since), header=index == 0)
                bar.finish()
    finally:
        agent.close()
    out.print(f"dry run: {rows} value changes would be written -> {path} (nothing was written)", highlight=False)


def history(
    record_id: Annotated[str, typer.Argument(help="The CRM record id (a HubSpot contact id, a Salesforce Lead or Contact id).")],
    config: ConfigOption = DEFAULT_CONFIG,
    connector: ConnectorOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines: one object per change, oldest first.")] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the latest N changes.")] = None,
) -> None:
    """A record's score history: each change of its written score, stage or reason, with the model version and what changed."""
    loaded = load_config(config)
    store = open_store(loaded)
    try:
        found = store.history_keys(record_id, connector or list(loaded.connectors))
        if not found:
            raise ConfigError(f"RECORD_ID: no score history for {record_id!r} in the state store "
                              f"({', '.join(connector or list(loaded.connectors))}); was it ever scored and written?")
        for name, key in found:
            read = store.history(name, key, limit=None if limit is None else limit + 1)  # one more: what the first shown changed
            changes = [history_changes(before, after) for before, after in zip([None, *read], read)]
            if limit is not None and len(read) > limit:
                read, changes = read[1:], changes[1:]
            entries = read
            if as_json:
                for entry, changed in zip(entries, changes):
                    print(json.dumps({"connector": name, "object_type": key.object_type, "record_id": key.record_id,
                                      "at": entry.at.isoformat(), "score": entry.score, "stage": entry.stage,
                                      "model_version": entry.model_version, "reason": entry.reason,
                                      "written_to": entry.written_to, "changed": changed}, ensure_ascii=False))
                continue
            table = Table(title=f"{name} {key.object_type} {record_id}: {len(entries)} changes, oldest first",
                          title_justify="left")
            for column in ("when (UTC)", "score", "stage", "model", "what changed", "reason"):
                table.add_column(column, overflow="fold", justify="right" if column == "score" else "left")
            for entry, changed in zip(entries, changes):
                table.add_row(entry.at.strftime("%Y-%m-%d %H:%M:%S"), str(entry.score), entry.stage, entry.model_version,
                              "; ".join(describe_change(k, v) for k, v in changed.items()), entry.reason or "")
            out.print(table)
    finally:
        store.close()


def history_changes(before: Any, after: Any) -> dict[str, Any]:
    """What moved from one history entry to the next: score, stage, model version, and the reason
    parts that appeared or went (the first entry: everything is new)."""
    if before is None:
        return {"first": True}
    changed: dict[str, Any] = {}
    if after.score != before.score:
        changed["score"] = after.score - before.score
    if after.stage != before.stage:
        changed["stage"] = [before.stage, after.stage]
    if after.model_version != before.model_version:
        changed["model_version"] = [before.model_version, after.model_version]
    old = (before.reason or "").split(SEPARATOR)
    new = (after.reason or "").split(SEPARATOR)
    added = [part for part in new if part and part not in old]
    gone = [part for part in old if part and part not in new]
    if added:
        changed["reason_added"] = added
    if gone:
        changed["reason_gone"] = gone
    return changed


def describe_change(key: str, value: Any) -> str:
    if key == "first":
        return "first written"
    if key == "score":
        return f"score {value:+d}"
    if key in ("stage", "model_version"):
        return f"{'stage' if key == 'stage' else 'model'} {value[0]} -> {value[1]}"
    sign = "+" if key == "reason_added" else "-"
    return ", ".join(f"{sign}[{part}]" for part in value)


def status(config: ConfigOption = DEFAULT_CONFIG, connector: ConnectorOption = None) -> None:
    """Per connector: last runs, cursors, mirrored records, outcomes, failures, API calls used today, leases."""
    loaded = load_config(config)
    names = connector or list(loaded.connectors)
    store = open_store(loaded)
    try:
        for name in names:
            st = store.status(name)
            out.rule(f"{name}  (state: {store.where})")
            runs = Table(title="last runs", title_justify="left")
            for column in ("run", "status", "started", "took", "pulled", "warned", "bad", "written", "failed", "error"):
                runs.add_column(column, overflow="fold")
            for kind, r in sorted(st.last_runs.items()):
                took = f"{(r.finished_at - r.started_at).total_seconds():.1f}s" if r.finished_at else "running"
                failed = int(r.counts.get("retryable", 0)) + int(r.counts.get("permanent", 0))
                runs.add_row(
                    kind, r.status, r.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"), took,
                    str(r.counts.get("pulled", 0)), str(r.counts.get("warned", 0)), str(r.counts.get("bad", 0)),
                    str(r.counts.get("written", 0)), str(failed), r.error or "",
                )
            out.print(runs if st.last_runs else "no runs yet")
            for object_type, cursor in sorted(st.cursors.items()):
                out.print(f"cursor {object_type}: {cursor.value} (moved {cursor.updated_at:%Y-%m-%d %H:%M:%S} UTC)", highlight=False)
            out.print(
                "mirrored: " + (", ".join(f"{n} {_plural(t)}" for t, n in sorted(st.mirrored_leads.items())) or "nothing")
                + f"; activities: {sum(st.mirrored_activities.values())}"
                + "; written: " + (", ".join(f"{n} {_plural(t)}" for t, n in sorted(st.written.items())) or "nothing"),
                highlight=False,
            )
            held = store.outcome_counts(name)
            out.print("outcomes: " + (", ".join(f"{n} {kind}" for kind, n in sorted(held.items())) or "none yet"), highlight=False)
            scored = store.meta(name, SCORED_VERSION)
            if scored:
                out.print(f"every mirrored record last scored in full with model version {scored}", highlight=False)
            failures = ", ".join(f"{n} {s}" for s, n in sorted(st.failures.items())) or "none"
            out.print(f"failed writes: {failures}", highlight=False)
            waiting = store.waiting_writes(name)
            if waiting:
                out.print(f"waiting to be written: {waiting} (a stopped pass left them; the next sync writes them)",
                          highlight=False)
            calls = sum(st.api_calls_today.values())
            detail = ", ".join(f"{f} {n}" for f, n in sorted(st.api_calls_today.items()))
            out.print(f"API calls today: {calls}" + (f" ({detail})" if detail else ""), highlight=False)
            for b in st.backfills:
                out.print(f"unfinished backfill {b.id} of {_plural(b.object_type)} since {b.since or 'the beginning'}: at {b.position}", highlight=False)
            for kind, line in _scheduled(loaded, name, st.last_runs).items():
                out.print(f"{kind}: {line}", highlight=False)
            for lease in st.leases:
                out.print(f"running: {lease.job} held by {lease.owner} until {lease.expires_at:%H:%M:%S} UTC", highlight=False)
    finally:
        store.close()


def _scheduled(config: AgentConfig, name: str, last_runs: Mapping[str, Any]) -> dict[str, str]:
    """The scheduled passes of ``leadscore run`` beside the sync (backfill, rescore, reconcile):
    the last one and the next one, from the config's schedule."""
    resolved = config.schedule.for_connector(name)
    crons = {"backfill": resolved.backfill_cron, "rescore": resolved.rescore_cron if resolved.rescore else None,
             "reconcile": resolved.reconcile_cron}
    current = datetime.now(timezone.utc)
    lines: dict[str, str] = {}
    for kind, cron in crons.items():
        last = last_runs.get(kind)
        shown = f"last {last.started_at:%Y-%m-%d %H:%M} UTC ({last.status})" if last is not None else "never run"
        if cron is None:
            lines[f"scheduled {kind}"] = f"off; {shown}"
            continue
        following = CronTrigger.from_crontab(cron, timezone=resolved.timezone).get_next_fire_time(None, current)
        upcoming = following.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if following else "never"
        lines[f"scheduled {kind}"] = f"'{cron}' ({resolved.timezone}): next {upcoming}; {shown}"
    return lines


def _plural(object_type: str) -> str:
    """``contacts``, ``companies``: an object type's name as a count reads it."""
    return object_type[:-1] + "ies" if object_type.endswith("y") and object_type[-2:-1] not in "aeiou" else object_type + "s"


def _account_type_of(name: str) -> str | None:
    """The account object type of connector ``name``'s class (None: it reads no accounts)."""
    try:
        factory = load_connector(name)
    except ConfigError:
        return None
    found = getattr(factory, "account_type", None)
    return found if isinstance(found, str) else None


def _pages(items: Iterable[T], size: int) -> Iterator[list[T]]:
    page: list[T] = []
    for item in items:
        page.append(item)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def preview(
    config: Annotated[Path, typer.Option("--config", "-c", help="The changed config whose model to try.")],
    current: Annotated[Path, typer.Option("--current", help="The config in use now (its model is the 'before').")] = DEFAULT_CONFIG,
    connector: ConnectorOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many of the biggest movers to show.")] = 10,
) -> None:
    """Score the mirror with a changed model and compare with the current one; writes nothing."""
    new_config, old_config = load_config(config), load_config(current)
    new_scorer, old_scorer = build_scorer(new_config), build_scorer(old_config)
    store = open_store(old_config)
    as_of = now()
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    moves: list[tuple[int, str, str, Any, Any]] = []
    total = 0
    per_model: Counter[str] = Counter()
    moved_model: Counter[str] = Counter()
    try:
        for name in connector or list(old_config.connectors):
            held = _account_type_of(name)
            old_scoring = AccountScoring(store, name, old_scorer, account_type_for(old_scorer, held))
            new_scoring = AccountScoring(store, name, new_scorer, account_type_for(new_scorer, held))
            for page in _pages(store.mirror_leads(name), 500):
                olds, news = old_scoring.score_mirrored(page, as_of), new_scoring.score_mirrored(page, as_of)
                for key, new in news.items():
                    old = olds.get(key)
                    if old is None:
                        continue
                    before[old.stage] += 1
                    after[new.stage] += 1
                    total += 1
                    model = model_name(new.model_version) or new_config.scoring.name
                    per_model[model] += 1
                    if new.score != old.score or new.stage != old.stage:
                        moves.append((new.score - old.score, name, key.record_id, old, new))
                        moved_model[model] += new.score != old.score
    finally:
        store.close()
    if not total:
        err.print("the mirror is empty: run `leadscore sync` or `leadscore backfill` first", highlight=False)
        raise typer.Exit(1)
    engine = getattr(new_scorer, "engine", new_scorer)
    out.print(f"{total} mirrored records scored as of {as_of.isoformat()}: model {old_scorer.version} -> {new_scorer.version}", highlight=False)
    dist = Table(title="Stage distribution", title_justify="left")
    for column in ("stage", "before", "after", "change"):
        dist.add_column(column, justify="left" if column == "stage" else "right")
    names = [s.name for m in reversed([new_config.scoring, *new_config.models]) for s in reversed(m.stages)]
    names = list(dict.fromkeys(names))
    names += [s for s in sorted(set(before) | set(after)) if s not in names]
    for stage in names:
        dist.add_row(stage, str(before[stage]), str(after[stage]), f"{after[stage] - before[stage]:+d}")
    out.print(dist)
    changed_stage = sum(1 for m in moves if m[3].stage != m[4].stage)
    changed_score = sum(1 for m in moves if m[0] != 0)
    out.print(f"{changed_score} records change score, {changed_stage} change stage; nothing was written", highlight=False)
    if len(per_model) > 1:
        for model, count in sorted(per_model.items()):
            out.print(f"  model {model}: {count} records, {moved_model[model]} change score", highlight=False)
    movers = Table(title=f"Biggest movers (top {top}: score changes first, then stage changes alone)", title_justify="left")
    for column in ("connector", "record", "score", "stage", "reason (new)"):
        movers.add_column(column, overflow="fold")
    for delta, name, record_id, old, new in sorted(moves, key=lambda m: (-abs(m[0]), m[2]))[:top]:
        stage = old.stage if old.stage == new.stage else f"{old.stage} -> {new.stage}"
        movers.add_row(name, record_id, f"{old.score} -> {new.score} ({delta:+d})", stage, new.reason(engine.model.reason_max_length))
    out.print(movers)
