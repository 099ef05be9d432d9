"""Trying leadscore without a CRM account: ``demo`` (the agent on local emulators, or
``--offline`` a generated CSV export scored) and ``emulator`` (one CRM's emulator, served).

The emulators are the ``[emulators]`` extra: :mod:`leadscore.agent.demo` (which starts them) and
the emulator entry points are loaded once a command needs them, through
:mod:`leadscore.agent.core.extras`.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timezone
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from leadscore.agent.cli.options import out
from leadscore.agent.cli.sync import run_jobs
from leadscore.agent.config import load_config
from leadscore.agent.core import extras
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.csvfiles import write_activities, write_leads, write_scores
from leadscore.agent.hints import activation_hint, example_config
from leadscore.agent.scoring import ScoringEngine
from leadscore.connectors.sample import generate_leads


def demo(
    leads: Annotated[int, typer.Option("--leads", min=1, help="How many leads to generate.")] = 3000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the generated data.")] = 7,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Model to score with (default: the shipped example).")] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where the demo's config, state and CSVs are written.")] = Path("out/demo"),
    offline: Annotated[bool, typer.Option("--offline", help="No emulators: score a generated CSV export only.")] = False,
) -> None:
    """Run the agent on local HubSpot and Salesforce emulators: setup, backfill, a second sync, then the feedback loop (a model trained from the mirror, a shadow-scoring challenger, the report)."""
    config = config or example_config()
    if not offline:
        runner = extras.load("leadscore.agent.demo", "emulators", "leadscore demo (without --offline)")
        raise typer.Exit(runner.run_demo(leads=leads, seed=seed, model=config, out_dir=out_dir, console=out,
                                         backfill=lambda agent: run_jobs(agent, "backfill", bars=True)))
    _offline_demo(leads, seed, config, out_dir)


def _offline_demo(leads: int, seed: int, config: Path, out_dir: Path) -> None:
    """Generate a sample of leads with activities, score them offline and show the result."""
    engine = ScoringEngine(load_config(config).scoring)
    moment = datetime(2026, 11, 1, tzinfo=timezone.utc)
    sample = list(generate_leads(leads, seed=seed, as_of=moment))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_leads(out_dir / "leads.csv", (s.lead for s in sample))
    write_activities(out_dir / "activities.csv", (a for s in sample for a in s.activities))

    started = time.perf_counter()
    results = engine.score_many([s.lead for s in sample], {s.lead.id: s.activities for s in sample}, moment)
    elapsed = time.perf_counter() - started
    write_scores(out_dir / "scored.csv", results, engine.model.reason_max_length)
    activity_count = sum(len(s.activities) for s in sample)

    out.rule(f"leadscore demo: {len(sample)} generated leads, {activity_count} activities, as of {moment.date()}")
    out.print(f"model {engine.model.name!r} version {engine.version} from {config}", highlight=False)
    out.print(f"scored in {elapsed:.2f}s ({len(sample) / max(elapsed, 1e-9):,.0f} leads/s)", highlight=False)
    stages = Counter(r.stage for r in results)
    grades = Counter(r.grade for r in results if r.grade)
    dist = Table(title="Stage distribution", title_justify="left")
    dist.add_column("stage")
    dist.add_column("leads", justify="right")
    dist.add_column("share", justify="right")
    for stage in reversed(engine.model.stages):
        n = stages.get(stage.name, 0)
        dist.add_row(stage.name, str(n), f"{n / len(results):.1%}")
    out.print(dist)
    if grades:
        out.print("grades: " + ", ".join(f"{g} {n}" for g, n in sorted(grades.items())), highlight=False)
    top = Table(title="Top 10 leads", title_justify="left", show_lines=False)
    for column in ("id", "score", "stage", "grade", "reason"):
        top.add_column(column, overflow="fold")
    for r in sorted(results, key=lambda r: (-r.score, r.lead_id))[:10]:
        top.add_row(r.lead_id, str(r.score), r.stage, r.grade or "", r.reason(engine.model.reason_max_length))
    out.print(top)
    warned = sum(1 for r in results if r.warnings)
    if warned:
        out.print(f"{warned} leads had unusable values (scored with what was usable), e.g. {next(r.warnings[0] for r in results if r.warnings)}", highlight=False)
    best = min(results, key=lambda r: (-r.score, r.lead_id))
    out.print("\n[bold]Try next:[/]")
    for line in (
        f"leadscore explain --config {config} --leads {out_dir}/leads.csv --activities {out_dir}/activities.csv --as-of {moment.isoformat()} --id {best.lead_id}",
        f"leadscore score --config {config} --leads {out_dir}/leads.csv --activities {out_dir}/activities.csv --as-of {moment.isoformat()} --out {out_dir}/scored.csv",
        f"edit a copy of {config}, then: leadscore validate --config my.toml",
    ):
        out.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    activate = activation_hint()
    if activate:
        out.print(f"(activate the environment first: {activate})", highlight=False)


def emulator(
    name: Annotated[str, typer.Argument(help="Which CRM's emulator: an installed leadscore.emulators entry point.")],
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = 0,
    records: Annotated[int, typer.Option("--contacts", "--leads", min=0, help="How many generated records to seed.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the generated records.")] = 7,
    accounts: Annotated[bool, typer.Option("--accounts", help="Also seed accounts (companies), their people at known companies.")] = False,
) -> None:
    """Serve a local emulator of a CRM's API (no account needed) until Ctrl-C."""
    extras.require("emulators", "leadscore emulator")
    found = {ep.name: ep for ep in entry_points(group="leadscore.emulators")}
    if name not in found:
        raise ConfigError(f"emulator: no emulator named {name!r} (installed: {', '.join(sorted(found)) or 'none'})")
    options = {"accounts": True} if accounts else {}  # a third-party emulator need not take it
    found[name].load()(port=port, contacts=records, seed=seed, **options)
