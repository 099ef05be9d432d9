"""Scoring a CSV export offline: ``score`` (every lead, optionally with a saved predictive model
and a shadow challenger) and ``explain`` (one lead's full breakdown)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from leadscore.agent.cli.options import (
    DEFAULT_CONFIG,
    ActivitiesOption,
    AsOfOption,
    ConfigOption,
    LeadsOption,
    as_of_or_now,
    err,
    out,
    predictive_modules,
    print_issues,
    read_export,
)
from leadscore.agent.config import load_config
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.records import ScoreResult
from leadscore.agent.csvfiles import Issues, read_activities, read_leads, write_scores
from leadscore.agent.scoring import ScoringEngine


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
    err.print("stages: " + ", ".join(f"{s.name} {stages.get(s.name, 0)}" for s in engine.model.stages), highlight=False)
    print_issues(issues)


def _score_files(
    config: Path, leads: Path, activities: Path | None, as_of: str | None, model: Path | None = None,
    challenger: Path | None = None, challenger_out: Path | None = None,
) -> tuple[Any, list[ScoreResult], Issues, datetime]:
    """Score an export with the rules, or with the hybrid of rules and a saved predictive model
    that ``[predictive.hybrid]`` describes; optionally shadow-score with a challenger model."""
    loaded = load_config(config)
    engine = ScoringEngine(loaded.scoring)
    scorer: Any = engine
    if model is not None:
        hybrid, artifacts = predictive_modules("leadscore score --model", "hybrid", "artifacts")
        settings = loaded.predictive.hybrid if loaded.predictive else None
        scorer = hybrid.HybridScorer(engine, artifacts.load_model(model), settings)
    moment = as_of_or_now(as_of)
    issues, lead_rows, by_lead = read_export(leads, activities)
    results = []
    for result in scorer.score_all(lead_rows, by_lead, moment):
        for warning in result.warnings:
            issues.add(f"bad values: {warning.split(':', 1)[0]}", f"lead {result.lead_id}: {warning}")
        results.append(result)
    if challenger is not None:
        if challenger_out is None:
            raise ConfigError("--challenger needs --challenger-out, the CSV where both models' scores are recorded")
        artifacts, shadowing = predictive_modules("leadscore score --challenger", "artifacts", "challenger")
        shadow = list(artifacts.load_model(challenger).score_all(lead_rows, by_lead, moment))
        rows = shadowing.write_challenger_csv(challenger_out, shadowing.records_from_results(results, shadow, moment))
        err.print(f"recorded {rows} champion/challenger pairs -> {challenger_out}", highlight=False)
    return scorer, results, issues, moment


def explain(
    lead_id: Annotated[str, typer.Option("--id", help="The lead to explain.")],
    leads: LeadsOption,
    config: ConfigOption = DEFAULT_CONFIG,
    activities: ActivitiesOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Print the full breakdown of one lead's score: every rule, cap and gate."""
    engine = ScoringEngine(load_config(config).scoring)
    moment = as_of_or_now(as_of)
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
