"""Learning from outcomes: ``train`` (a predictive model), ``learn-points`` (scoring rules) and
``report`` (the HTML evaluation report).

Each needs the ``[predictive]`` extra (numpy, scikit-learn, matplotlib, Jinja2) and loads its
modules through :func:`~leadscore.agent.cli.options.predictive_modules` once it runs, so
``leadscore --help`` and the sync commands never import numpy, and a missing extra is one line
naming what to install.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Mapping, Optional, Sequence

import typer

from leadscore.agent.cli.options import (
    DEFAULT_CONFIG,
    ActivitiesOption,
    AsOfOption,
    ConfigOption,
    LabelOption,
    LeadsOption,
    OutcomesOption,
    as_of_or_now,
    err,
    out,
    predictive_modules,
    print_issues,
    read_export,
)
from leadscore.agent.config import load_config
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.records import Lead
from leadscore.agent.predictive.config import PredictiveConfig
from leadscore.agent.scoring import ScoringEngine

ForceOption = Annotated[bool, typer.Option("--force", help="Train even on fields the leakage check flags.")]


def _check_label_source(outcomes: Path | None, label_column: str | None) -> None:
    if (outcomes is None) == (label_column is None):
        raise ConfigError("give exactly one of --outcomes (a lead_id,converted[,occurred_at] CSV) or --label-column")


def _labels(dataset: ModuleType, lead_rows: Sequence[Lead], outcomes: Path | None, label_column: str | None) -> Any:
    """The outcomes: from their CSV, or from a lead column."""
    return dataset.read_outcomes_csv(outcomes) if outcomes else dataset.outcomes_from_field(lead_rows, label_column or "")


def _training_set(dataset: ModuleType, leads: Path, activities: Path | None, outcomes: Path | None,
                  label_column: str | None, as_of: str | None) -> Any:
    _check_label_source(outcomes, label_column)
    issues, lead_rows, by_lead = read_export(leads, activities)
    labels = _labels(dataset, lead_rows, outcomes, label_column)
    print_issues(issues)
    return dataset.build_training_set(lead_rows, by_lead, labels, as_of_or_now(as_of), label_field=label_column)


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
    dataset, training, artifacts = predictive_modules("leadscore train", "dataset", "training", "artifacts")
    loaded = load_config(config)
    data = _training_set(dataset, leads, activities, outcomes, label_column, as_of)
    if model not in (None, "logistic", "gradient_boosting"):
        raise ConfigError(f"--model: expected logistic or gradient_boosting, got {model!r}")
    result = training.train(data, loaded.predictive or PredictiveConfig(), kind=model, force=force)
    if result.fallback_to_rules:
        err.print(f"not trained: {result.message}; the rules model keeps scoring", highlight=False, markup=False)
        return
    trained = result.require_model()
    artifacts.save_model(trained, out_path)
    out.print(f"{result.message} -> {out_path}", highlight=False, markup=False)


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
    dataset, training = predictive_modules("leadscore learn-points", "dataset", "training")
    loaded = load_config(config)
    data = _training_set(dataset, leads, activities, outcomes, label_column, as_of)
    result = training.train_scorecard(data, loaded.predictive or PredictiveConfig(), force=force)
    if result.fallback_to_rules:
        err.print(f"no points learned: {result.message}", highlight=False, markup=False)
        return
    snippet = result.require_model().to_toml()
    if out_path is None:
        print(snippet)
    else:
        out_path.write_text(snippet, encoding="utf-8")
        err.print(f"{result.message} -> {out_path}", highlight=False, markup=False)


def report(
    leads: LeadsOption,
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the HTML report.")],
    config: ConfigOption = DEFAULT_CONFIG,
    activities: ActivitiesOption = None,
    outcomes: OutcomesOption = None,
    label_column: LabelOption = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Outcomes up to this ISO 8601 instant (default: now).")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="A saved predictive model (leadscore train --out) to evaluate.")] = None,
    challenger: Annotated[Optional[Path], typer.Option("--challenger", help="A second saved model to compare, as a shadow challenger.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Evaluate even on fields the leakage check flags.")] = False,
) -> None:
    """Write a self-contained HTML evaluation report: rules, predictive and learned points on outcomes."""
    dataset, artifacts, pages = predictive_modules("leadscore report", "dataset", "artifacts", "report")
    _check_label_source(outcomes, label_column)
    moment = as_of_or_now(as_of)
    loaded = load_config(config)
    champion = artifacts.load_model(model) if model is not None else None
    shadow = artifacts.load_model(challenger) if challenger is not None else None
    issues, lead_rows, by_lead = read_export(leads, activities)
    labels = _labels(dataset, lead_rows, outcomes, label_column)
    for line in issues.lines():
        typer.echo(f"warning: {line}", err=True)
    built = pages.build_report(
        ScoringEngine(loaded.scoring), lead_rows, by_lead, labels, moment,
        config=loaded.predictive or PredictiveConfig(), model=champion, challenger=shadow,
        label_field=label_column, force=force, sources=_sources(config, leads, activities, outcomes, label_column, model, challenger),
    )
    pages.write_report(out_path, built)
    for banner in built.banners:
        typer.echo(f"{banner.title}: {banner.text}", err=True)
    typer.echo(f"report on {built.evaluated} outcomes ({built.positives} converted): {built.summary()} -> {out_path}", err=True)


def _sources(config: Path, leads: Path, activities: Path | None, outcomes: Path | None, label_column: str | None,
             model: Path | None, challenger: Path | None) -> Mapping[str, str]:
    """What the report was built from, as its page lists it."""
    sources = {"config": str(config), "leads": str(leads)}
    if activities:
        sources["activities"] = str(activities)
    sources["outcomes"] = str(outcomes) if outcomes else f"column {label_column}"
    if model:
        sources["model"] = str(model)
    if challenger:
        sources["challenger"] = str(challenger)
    return sources
