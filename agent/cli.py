"""The ``leadscore`` command line.

Exit codes: 0 success, 2 a problem a person must fix (bad config, missing secret, refused
credentials, unreadable file, bad option), 1 any other failure (the CRM unreachable, the state
store unwritable, or unexpected: one line, no traceback; ``LEADSCORE_DEBUG=1`` shows it).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from agent.config import AgentConfig, load_config, require_secrets
from agent.csvfiles import Issues, parse_timestamp, read_activities, read_leads, write_activities, write_leads, write_scores
from agent.errors import AuthError, ConfigError, LeadscoreError
from agent.state.errors import LockHeld
from agent.predictive.report import report_command  # matplotlib loads only when a page renders
from agent.records import ScoreResult
from agent.scoring import ScoringEngine
from agent.sync_commands import register as register_sync_commands

app = typer.Typer(
    name="leadscore",
    help="Transparent, versioned lead scoring as code, synced to your CRM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DEFAULT_CONFIG = Path("leadscore.toml")
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Agent config file (TOML).")]


def _load(path: Path) -> AgentConfig:
    return load_config(path)


def _as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(timezone.utc).replace(microsecond=0)
    moment = parse_timestamp(value)
    if moment is None:
        raise ConfigError(f"--as-of: expected an ISO 8601 instant such as 2026-11-01T00:00:00Z, got {value!r}")
    return moment


@app.command()
def validate(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Check a config file and the secrets it names; print OK, or one line per problem with its
    key path (exit 2)."""
    loaded = _load(config)
    require_secrets(loaded)  # an unset *_env variable, an unreadable secret file
    engine = ScoringEngine(loaded.scoring)
    out.print("OK", highlight=False)
    err.print(
        f"model {loaded.scoring.name!r} version {engine.version}: {len(loaded.scoring.rules)} rules, "
        f"{len(loaded.scoring.stages)} stages",
        highlight=False,
    )


def _score_files(
    config: Path, leads: Path, activities: Path | None, as_of: str | None, model: Path | None = None,
    challenger: Path | None = None, challenger_out: Path | None = None,
) -> tuple[Any, list[ScoreResult], Issues, datetime]:
    """Score an export with the rules, or with the hybrid of rules and a saved predictive model
    that ``[predictive.hybrid]`` describes; optionally shadow-score with a challenger model."""
    loaded = _load(config)
    engine = ScoringEngine(loaded.scoring)
    scorer: Any = engine
    if model is not None:
        from agent.predictive import HybridScorer, load_model

        settings = loaded.predictive.hybrid if loaded.predictive else None
        scorer = HybridScorer(engine, load_model(model), settings)
    moment = _as_of(as_of)
    issues = Issues()
    lead_rows = read_leads(leads, issues)
    by_lead = read_activities(activities, issues, {lead.id for lead in lead_rows}) if activities else {}
    results = []
    for result in scorer.score_all(lead_rows, by_lead, moment):
        for warning in result.warnings:
            issues.add(f"bad values: {warning.split(':', 1)[0]}", f"lead {result.lead_id}: {warning}")
        results.append(result)
    if challenger is not None:
        from agent.predictive import load_model, records_from_results, write_challenger_csv

        if challenger_out is None:
            raise ConfigError("--challenger needs --challenger-out, the CSV where both models' scores are recorded")
        shadow = list(load_model(challenger).score_all(lead_rows, by_lead, moment))
        rows = write_challenger_csv(challenger_out, records_from_results(results, shadow, moment))
        err.print(f"recorded {rows} champion/challenger pairs -> {challenger_out}", highlight=False)
    return scorer, results, issues, moment


def _print_issues(issues: Issues) -> None:
    if issues:
        err.print(f"[yellow]warnings ({sum(issues.counts.values())}); these rows were scored with what was usable or skipped:[/]")
        for line in issues.lines():
            err.print(f"  {line}", highlight=False, markup=False)


LeadsOption = Annotated[Path, typer.Option("--leads", help="Lead CSV: id plus canonical field columns.")]
ActivitiesOption = Annotated[
    Optional[Path], typer.Option("--activities", help="Activity CSV: lead_id,type,occurred_at plus property columns.")
]
AsOfOption = Annotated[Optional[str], typer.Option("--as-of", help="Score as of this ISO 8601 instant (default: now).")]


@app.command()
def score(
    leads: LeadsOption,
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the scored CSV.")],
    config: ConfigOption = DEFAULT_CONFIG,
    activities: ActivitiesOption = None,
    as_of: AsOfOption = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="A saved predictive model: score as [predictive.hybrid] says.")] = None,
    challenger: Annotated[Optional[Path], typer.Option("--challenger", help="A second model scored in the shadow.")] = None,
    challenger_out: Annotated[Optional[Path], typer.Option("--challenger-out", help="CSV of both models' scores per lead.")] = None,
) -> None:
    """Score a CSV export offline and write id,score,fit_score,engagement_score,stage,grade,reason,model_version."""
    started = time.perf_counter()
    scorer, results, issues, moment = _score_files(config, leads, activities, as_of, model, challenger, challenger_out)
    engine = scorer if isinstance(scorer, ScoringEngine) else scorer.engine
    rows = write_scores(out_path, results, engine.model.reason_max_length)
    elapsed = time.perf_counter() - started
    stages = Counter(r.stage for r in results)
    err.print(
        f"scored {rows} leads as of {moment.isoformat()} with model {scorer.version} in {elapsed:.2f}s -> {out_path}",
        highlight=False,
    )
    err.print("stages: " + ", ".join(f"{s} {stages.get(s.name, 0)}" for s in engine.model.stages), highlight=False)
    _print_issues(issues)


@app.command()
def explain(
    lead_id: Annotated[str, typer.Option("--id", help="The lead to explain.")],
    leads: LeadsOption,
    config: ConfigOption = DEFAULT_CONFIG,
    activities: ActivitiesOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Print the full breakdown of one lead's score: every rule, cap and gate."""
    engine = ScoringEngine(_load(config).scoring)
    moment = _as_of(as_of)
    issues = Issues()
    lead = next((x for x in read_leads(leads, issues) if x.id == lead_id), None)
    if lead is None:
        raise ConfigError(f"--id: no lead with id {lead_id!r} in {leads}")
    acts = read_activities(activities, issues, {lead_id}).get(lead_id, []) if activities else []
    _print_breakdown(engine.score(lead, acts, moment), engine, len(acts))


def _print_breakdown(result: ScoreResult, engine: ScoringEngine, activity_count: int) -> None:
    table = Table(title=f"Lead {result.lead_id} as of {result.as_of.isoformat()}", title_justify="left")
    table.add_column("points", justify="right")
    table.add_column("part")
    table.add_column("rule")
    table.add_column("kind")
    for part in result.reasons:
        points = "" if part.kind == "gate" else f"{part.points:+d}"
        label = part.label + (f" ({part.detail})" if part.detail else "")
        table.add_row(points, label, part.rule or "", f"{part.component}/{part.kind}")
    out.print(table)
    out.print(
        f"fit {result.fit_score} + engagement {result.engagement_score}"
        + "".join(f" {p.points:+d} ({p.label})" for p in result.reasons if p.component == "total" and p.kind == "cap")
        + f" = [bold]{result.score}[/]",
        highlight=False,
    )
    out.print(f"stage [bold]{result.stage}[/]" + (f", grade [bold]{result.grade}[/]" if result.grade else ""), highlight=False)
    out.print(f"model {engine.model.name!r} version {result.model_version}; {activity_count} activities read", highlight=False)
    out.print("reason: " + result.reason(engine.model.reason_max_length), highlight=False, markup=False)
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _example_config() -> Path:
    local = Path("config.example.toml")
    if local.is_file():
        return local
    return Path(str(resources.files("agent") / "example_config.toml"))


@app.command()
def demo(
    leads: Annotated[int, typer.Option("--leads", min=1, help="How many leads to generate.")] = 3000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the generated data.")] = 7,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Model to score with (default: the shipped example).")] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where the demo's config, state and CSVs are written.")] = Path("out/demo"),
    offline: Annotated[bool, typer.Option("--offline", help="No emulators: score a generated CSV export only.")] = False,
) -> None:
    """Run the agent on local HubSpot and Salesforce emulators: setup, backfill, a second sync."""
    config = config or _example_config()
    if not offline:
        from agent.demo import run_demo

        raise typer.Exit(run_demo(leads=leads, seed=seed, model=config, out_dir=out_dir, console=out))
    _offline_demo(leads, seed, config, out_dir)


def _offline_demo(leads: int, seed: int, config: Path, out_dir: Path) -> None:
    """Generate a sample of leads with activities, score them offline and show the result."""
    from agent.sample import generate_leads

    engine = ScoringEngine(_load(config).scoring)
    moment = datetime(2026, 11, 1, tzinfo=timezone.utc)
    sample = list(generate_leads(leads, seed=seed, as_of=moment))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_leads(out_dir / "leads.csv", (s.lead for s in sample))
    write_activities(out_dir / "activities.csv", (a for s in sample for a in s.activities))

    started = time.perf_counter()
    results = [engine.score(s.lead, s.activities, moment) for s in sample]
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
    out.print("(activate the environment first: source .venv/bin/activate)", highlight=False)


def _training_set(config: AgentConfig, leads: Path, activities: Path | None, outcomes: Path | None,
                  label_column: str | None, as_of: str | None) -> Any:
    from agent.predictive import build_training_set, outcomes_from_field, read_outcomes_csv

    if (outcomes is None) == (label_column is None):
        raise ConfigError("give exactly one of --outcomes (a lead_id,converted[,occurred_at] CSV) or --label-column")
    issues = Issues()
    lead_rows = read_leads(leads, issues)
    by_lead = read_activities(activities, issues, {lead.id for lead in lead_rows}) if activities else {}
    labels = read_outcomes_csv(outcomes) if outcomes else outcomes_from_field(lead_rows, label_column or "")
    _print_issues(issues)
    return build_training_set(lead_rows, by_lead, labels, _as_of(as_of), label_field=label_column)


OutcomesOption = Annotated[Optional[Path], typer.Option("--outcomes", help="Outcomes CSV: lead_id,converted[,occurred_at].")]
LabelOption = Annotated[Optional[str], typer.Option("--label-column", help="A lead column holding the outcome (e.g. custom.converted).")]
ForceOption = Annotated[bool, typer.Option("--force", help="Train even on fields the leakage check flags.")]


@app.command()
def train(
    leads: LeadsOption,
    out_path: Annotated[Path, typer.Option("--out", help="Where to save the model (JSON, plus .npz when large).")],
    config: ConfigOption = DEFAULT_CONFIG,
    activities: ActivitiesOption = None,
    outcomes: OutcomesOption = None,
    label_column: LabelOption = None,
    as_of: AsOfOption = None,
    model: Annotated[Optional[str], typer.Option("--model", help="logistic (default) or gradient_boosting.")] = None,
    force: ForceOption = False,
) -> None:
    """Train a calibrated predictive model on outcomes; too few outcomes keeps the rules scoring."""
    from agent.predictive import PredictiveConfig, save_model
    from agent.predictive import train as train_model

    loaded = _load(config)
    data = _training_set(loaded, leads, activities, outcomes, label_column, as_of)
    if model not in (None, "logistic", "gradient_boosting"):
        raise ConfigError(f"--model: expected logistic or gradient_boosting, got {model!r}")
    result = train_model(data, loaded.predictive or PredictiveConfig(), kind=model, force=force)  # type: ignore[arg-type]
    if result.fallback_to_rules:
        err.print(f"not trained: {result.message}; the rules model keeps scoring", highlight=False, markup=False)
        return
    trained = result.require_model()
    save_model(trained, out_path)
    out.print(f"{result.message} -> {out_path}", highlight=False, markup=False)


@app.command("learn-points")
def learn_points(
    leads: LeadsOption,
    config: ConfigOption = DEFAULT_CONFIG,
    activities: ActivitiesOption = None,
    outcomes: OutcomesOption = None,
    label_column: LabelOption = None,
    as_of: AsOfOption = None,
    force: ForceOption = False,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the TOML snippet here (default: stdout).")] = None,
) -> None:
    """Learn points from outcomes and print them as scoring rules (TOML) to review and paste."""
    from agent.predictive import PredictiveConfig, train_scorecard

    loaded = _load(config)
    data = _training_set(loaded, leads, activities, outcomes, label_column, as_of)
    result = train_scorecard(data, loaded.predictive or PredictiveConfig(), force=force)
    if result.fallback_to_rules:
        err.print(f"no points learned: {result.message}", highlight=False, markup=False)
        return
    snippet = result.require_model().to_toml()
    if out_path is None:
        print(snippet)
    else:
        out_path.write_text(snippet, encoding="utf-8")
        err.print(f"{result.message} -> {out_path}", highlight=False, markup=False)


app.command("report")(report_command)
register_sync_commands(app)


@app.command()
def emulator(
    name: Annotated[str, typer.Argument(help="Which CRM's emulator: an installed leadscore.emulators entry point.")],
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")] = 0,
    records: Annotated[int, typer.Option("--contacts", "--leads", min=0, help="How many generated records to seed.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the generated records.")] = 7,
) -> None:
    """Serve a local emulator of a CRM's API (no account needed) until Ctrl-C."""
    from importlib.metadata import entry_points

    found = {ep.name: ep for ep in entry_points(group="leadscore.emulators")}
    if name not in found:
        raise ConfigError(f"emulator: no emulator named {name!r} (installed: {', '.join(sorted(found)) or 'none'})")
    found[name].load()(port=port, contacts=records, seed=seed)


def main() -> None:
    """Console-script entry point: user errors exit 2 with their message, never a traceback."""
    try:
        app()  # standalone: usage errors exit 2 and --help exits 0 inside; ours propagate here
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(problem, highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except (AuthError, LockHeld) as exc:
        err.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except LeadscoreError as exc:  # the CRM unreachable, the state store unwritable: may pass
        err.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except OSError as exc:
        err.print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), highlight=False, markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if os.environ.get("LEADSCORE_DEBUG"):
            raise
        err.print(f"error: unexpected {type(exc).__name__}: {exc} (set LEADSCORE_DEBUG=1 for details)", markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
