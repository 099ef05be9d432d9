"""``leadscore demo``: the whole agent on the embedded default, no CRM account needed.

It starts the HubSpot and Salesforce emulators in this process (real HTTP; the real SDKs talk to
them), seeds each with generated leads and their activity, writes a config naming them, then does
what an admin does on day one: ``setup`` (create the score fields), a ``backfill`` into both CRMs,
and a second ``sync``, which must write nothing. The summary is read back from the emulated CRMs,
so what it shows is what landed there.

It imports the emulators (the ``[emulators]`` extra): the ``demo`` command loads this module
through :func:`leadscore.agent.core.extras.load`, once it runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from leadscore.agent.config import AgentConfig, load_config
from leadscore.agent.core.contract import WriteSpec
from leadscore.agent.logs import configure_logging
from leadscore.agent.sync import Agent, JobOutcome
from leadscore.connectors.hubspot.emulator import HubSpotEmulator
from leadscore.connectors.salesforce.emulator import SalesforceEmulator

HUBSPOT_FIELDS = {"budget": "budget", "authority": "authority", "need": "need", "timeline": "timeline"}


@dataclass
class Written:
    """One record as the CRM now shows it."""

    connector: str
    record_id: str
    name: str
    score: int
    stage: str
    reason: str


def demo_config_text(model: Path, hubspot: Any, salesforce: Any, state: Path) -> str:
    """The example model with both emulators as connectors: the admin's ``leadscore.toml``."""
    creds = salesforce.credentials
    text = model.read_text(encoding="utf-8")
    key = creds.private_key_pem.strip()
    return (
        text
        + f"""

# --- written by `leadscore demo`: the local emulators it started (gone once it exits) ---------

[agent]
state_url = "sqlite:///{state.as_posix()}"
metrics_port = 0

[connectors.hubspot]
host = "{hubspot.base_url}"
access_token = "{hubspot.token}"
fields = {{ budget = "budget", authority = "authority", need = "need", timeline = "timeline" }}

[connectors.salesforce]
auth = "jwt"
login_url = "{salesforce.login_url}"
client_id = "{creds.client_id}"
username = "{creds.username}"
lead_fields = {{ budget = "Budget__c", authority = "Authority__c", need = "Need__c", timeline = "Timeline__c" }}
ca_bundle = "{Path(salesforce.ca_bundle).as_posix()}"
private_key = \"\"\"
{key}
\"\"\"
"""
    )


def run_demo(
    *,
    leads: int,
    seed: int,
    model: Path,
    out_dir: Path,
    console: Console,
    backfill: Callable[[Agent], list[JobOutcome]],
) -> int:
    """Run the demo; returns the exit code (0 when everything landed and the second sync wrote nothing).

    ``backfill`` runs the backfill of each of the agent's connectors (the CLI's, with progress bars).
    """
    configure_logging("console", "warning")  # the summary speaks; the log only for trouble
    # Seeded an hour back: the generated records' modified stamps (made distinct by whole seconds)
    # then all lie before the backfill starts, as in a CRM nobody edits during the demo.
    as_of = datetime.now(timezone.utc) - timedelta(hours=1)
    for leftover in ("state.db", "state.db-wal", "state.db-shm"):  # each demo starts afresh
        (out_dir / leftover).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    hubspot = HubSpotEmulator().start()
    salesforce = SalesforceEmulator().start()
    agent: Agent | None = None
    try:
        console.rule(f"leadscore demo: HubSpot and Salesforce emulators, {leads:,} generated leads each")
        hubspot.seed(leads, seed=seed, as_of=as_of)
        salesforce.seed(leads, seed=seed, as_of=as_of)
        config_path = out_dir / "leadscore.toml"
        config_path.write_text(demo_config_text(model, hubspot, salesforce, (out_dir / "state.db").resolve()), encoding="utf-8")
        config = load_config(config_path)
        console.print(f"HubSpot emulator at {hubspot.base_url}; Salesforce emulator at {salesforce.instance_url}", highlight=False)
        console.print(f"config: {config_path} (model {config.scoring.name!r}); state: {out_dir / 'state.db'}", highlight=False)

        agent = Agent.open(config)
        console.print("\n[bold]1. setup[/]: create the score fields")
        for name, jobs in agent.jobs.items():
            crm = jobs.connector()
            report = crm.setup(
                WriteSpec(frozenset(crm.write_values), [s.name for s in config.scoring.stages], config.scoring.reason_max_length)
            )
            console.print(f"  {name}: created {', '.join(report.created) or 'nothing'}", highlight=False)

        console.print("\n[bold]2. backfill[/]: pull everything, score, write")
        outcomes = backfill(agent)
        _print_runs(console, outcomes)

        written = _read_back(hubspot, salesforce, agent, config)
        _summary(console, config, written)
        calls = {name: sum(agent.store.status(name).api_calls_today.values()) for name in agent.jobs}
        console.print(
            "API calls used: " + ", ".join(f"{name} {n}" for name, n in calls.items())
            + f" for {leads:,} leads each (reads and writes together)",
            highlight=False,
        )

        console.print(
            "\n[bold]3. sync[/]: nothing changed in the CRMs since, so nothing is written. It still re-reads every "
            "record the backfill wrote: a write moves the record's modified stamp, and the CRM cannot tell the "
            "agent's own writes from a user's edit, so a real org costs the same re-read."
        )
        second: list[JobOutcome] = []
        for jobs in agent.jobs.values():
            second += jobs.run("sync")
        _print_runs(console, second)
        for o in second:
            console.print(f"  {o.connector}: re-read {o.counts.pulled:,} records and checked outcomes with "
                          f"{o.counts.api_calls} calls - "
                          + REREAD_FLOOR.get(o.connector, ""), highlight=False, markup=False)
        rewritten = sum(o.counts.written + o.counts.failed for o in second)
        failed = [o for o in outcomes + second if o.status == "failed"]
        console.print(
            f"second sync wrote {rewritten} records" + (" - as it should." if rewritten == 0 else " - UNEXPECTED"),
            highlight=False,
        )
        _next_steps(console, config_path)
        return 1 if failed or rewritten else 0
    finally:
        if agent is not None:
            agent.close()
        hubspot.stop()
        salesforce.stop()


#: How cheap each CRM's re-read of a written record set can be, as the demo states it.
REREAD_FLOOR = {
    "hubspot": "searches of 200 contacts each, none read twice (keyset on the record id), plus the engagement reads",
    "salesforce": "one query pass in pages of 2,000 records, plus their activity (one query per object per 500)",
}


def _print_runs(console: Console, outcomes: list[JobOutcome]) -> None:
    for o in outcomes:
        c = o.counts
        line = (
            f"  {o.connector} {o.kind}: {o.status}; pulled {c.pulled:,}, scored {c.scored:,}, written {c.written:,}, "
            f"failed {c.failed}, API calls {c.api_calls} in {o.seconds:.1f}s"
        )
        console.print(line + (f" - {o.error}" if o.error else ""), highlight=False, markup=False)


def _read_back(hubspot: Any, salesforce: Any, agent: Agent, config: AgentConfig) -> list[Written]:
    """Every scored record as the emulated CRM shows it now."""
    rows: list[Written] = []
    hs = agent.jobs["hubspot"].connector().config.write  # type: ignore[attr-defined]
    for mirrored in agent.store.mirror_leads("hubspot"):
        props = hubspot.contact(mirrored.lead.id)
        if props.get(hs.score) in (None, ""):
            continue
        name = f"{props.get('firstname') or ''} {props.get('lastname') or ''}".strip()
        rows.append(Written("hubspot", mirrored.lead.id, name, int(float(props[hs.score])), props.get(hs.stage) or "", props.get(hs.reason) or ""))
    sf = agent.jobs["salesforce"].connector().config.write  # type: ignore[attr-defined]
    for mirrored in agent.store.mirror_leads("salesforce"):
        sobject = "Lead" if mirrored.lead.object_type == "lead" else "Contact"
        values = salesforce.record(sobject, mirrored.lead.id)
        if values.get(sf.score) is None:
            continue
        name = f"{values.get('FirstName') or ''} {values.get('LastName') or ''}".strip()
        rows.append(Written("salesforce", mirrored.lead.id, name, int(float(values[sf.score])), values.get(sf.stage) or "", values.get(sf.reason) or ""))
    return rows


def _summary(console: Console, config: AgentConfig, written: list[Written]) -> None:
    stages = [s.name for s in reversed(config.scoring.stages)]
    by = {name: Counter(w.stage for w in written if w.connector == name) for name in ("hubspot", "salesforce")}
    dist = Table(title="Stage distribution, read back from the CRMs", title_justify="left")
    dist.add_column("stage")
    for name, counts in by.items():
        dist.add_column(name, justify="right")
        dist.add_column("share", justify="right")
    for stage in stages:
        row = [stage]
        for counts in by.values():
            total = sum(counts.values()) or 1
            row += [f"{counts[stage]:,}", f"{counts[stage] / total:.1%}"]
        dist.add_row(*row)
    console.print(dist)
    top = Table(title="Top ten leads, with the reason a rep sees", title_justify="left")
    for column in ("CRM", "record", "name", "score", "stage", "reason"):
        top.add_column(column, overflow="fold")
    for w in sorted(written, key=lambda w: (-w.score, w.connector, w.record_id))[:10]:
        top.add_row(w.connector, w.record_id, w.name, str(w.score), w.stage, w.reason)
    console.print(top)


def _next_steps(console: Console, config_path: Path) -> None:
    console.print("\n[bold]Try next[/] (activate the environment first: source .venv/bin/activate)")
    for line in (
        f"leadscore status --config {config_path}                 # runs, cursors, mirror, API calls used today",
        f"cp {config_path} new.toml   # change a rule's points, then:",
        f"leadscore preview --config new.toml --current {config_path}   # stage shifts and biggest movers, writes nothing",
        "leadscore emulator hubspot --contacts 500          # a HubSpot emulator to point your own config at",
        "leadscore demo --offline                            # score a generated CSV export without any CRM",
        "cp config.example.toml leadscore.toml   # then add [connectors.hubspot] or [connectors.salesforce] (README)",
    ):
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
