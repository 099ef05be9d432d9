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
from rich.table import Table

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
from leadscore.agent.predictive.errors import ArtifactError
from leadscore.agent.scoring import ScoringEngine

ForceOption = Annotated[bool, typer.Option("--force", help="Train even on fields the leakage check flags.")]
MODEL_KINDS = ("logistic", "gradient_boosting")


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
    allow_worse: Annotated[bool, typer.Option(
        "--allow-worse",
        help="Save even when the new model's held-out AUC is below the current model's (the file at --out, else "
             "predictive.model_file) by more than --auc-tolerance. (--force is only for the leakage check.)",
    )] = False,
    auc_tolerance: Annotated[float, typer.Option(
        "--auc-tolerance", min=0.0, max=1.0, help="How much lower an AUC still counts as not worse than the current model's.",
    )] = 0.005,
    holdout: Annotated[float, typer.Option(
        "--holdout", min=0.05, max=0.5,
        help="Share of the latest outcomes held out to measure the models on (a stratified share when outcomes have no times).",
    )] = 0.2,
    compare: Annotated[bool, typer.Option(
        "--compare/--no-compare", help="Also measure the other model kind on the held-out outcomes.",
    )] = True,
) -> None:
    """Train a calibrated predictive model on outcomes, print its held-out quality and never replace a better one; too few outcomes keeps the rules scoring."""
    dataset, training, artifacts = predictive_modules("leadscore train", "dataset", "training", "artifacts")
    loaded = load_config(config)
    settings = loaded.predictive or PredictiveConfig()
    data = _training_set(dataset, leads, activities, outcomes, label_column, as_of)
    if model not in (None, *MODEL_KINDS):
        raise ConfigError(f"--model: expected logistic or gradient_boosting, got {model!r}")
    current_path = _current_model_path(out_path, settings)
    current = _current_model(artifacts, current_path, allow_worse)  # before training: an unreadable one fails fast
    candidates = MODEL_KINDS if compare else ()
    result = training.train(data, settings, kind=model, force=force, holdout=holdout, candidates=candidates)
    if result.fallback_to_rules:
        err.print(f"not trained: {result.message}; the rules model keeps scoring", highlight=False, markup=False)
        return
    trained = result.require_model()
    if result.validation is not None:
        _print_quality(result.validation, auc_tolerance)
    if current_path is not None and current is not None:
        replacement = training.compare_with_current(result, data, current, auc_tolerance)
        verdict = _replacement_line(replacement, current_path)
        if replacement.worse and not allow_worse:
            err.print(
                f"refused: the new model's held-out AUC {replacement.new_auc:.4f} is below the current model's "
                f"{replacement.current_auc:.4f} ({current_path}) by more than {auc_tolerance:g}; nothing saved "
                "(--allow-worse saves it anyway)",
                highlight=False, markup=False, soft_wrap=True,
            )
            err.print(f"  compared on {replacement.describe_basis()}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(1)
        out.print(verdict, highlight=False, markup=False, soft_wrap=True)
        trained = training.note_replacement(trained, replacement, replacement.worse)
    artifacts.save_model(trained, out_path)
    out.print(f"{result.message} -> {out_path}", highlight=False, markup=False, soft_wrap=True)


def _current_model_path(out_path: Path, settings: PredictiveConfig) -> Path | None:
    """The model a new one would replace: the file at ``--out``, else ``[predictive] model_file``."""
    if out_path.exists():
        return out_path
    if settings.model_file and Path(settings.model_file).is_file():
        return Path(settings.model_file)
    return None


def _current_model(artifacts: ModuleType, path: Path | None, allow_worse: bool) -> Any:
    """The current model, or None when there is none; one that cannot be read is an error unless
    ``--allow-worse`` (then it is replaced without a comparison)."""
    if path is None:
        return None
    try:
        return artifacts.load_model(path)
    except ArtifactError as exc:
        if not allow_worse:
            raise ArtifactError(f"cannot compare with the current model: {exc}; nothing saved (--allow-worse replaces it)") from None
        err.print(f"warning: cannot compare with the current model: {exc}; replacing it (--allow-worse)",
                  highlight=False, markup=False, soft_wrap=True)
        return None


def _num(value: float, digits: int = 3) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"  # NaN: one class only


def _setting(setting: Mapping[str, Any]) -> str:
    if "C" in setting:
        return f"C={setting['C']:g}"
    if "max_iter" in setting:
        return f"{setting['max_iter']} trees/{setting.get('max_leaf_nodes')} leaves"
    return ", ".join(f"{k}={v}" for k, v in setting.items())


def _print_quality(validation: Any, tolerance: float) -> None:
    """The held-out figures: one row per candidate (the chosen one starred), then the chosen
    model's conversion by score band."""
    out.print(validation.describe(), highlight=False, markup=False, soft_wrap=True)
    table = Table(title="Held-out quality (* the model trained and saved)", title_justify="left", show_edge=False)
    table.add_column("model")
    table.add_column("tuned")
    for name in ("AUC (95% CI)", "ECE", "lift@10%"):
        table.add_column(name, justify="right")
    for kind, candidate in validation.candidates.items():
        q = candidate.quality
        table.add_row(f"{kind} *" if kind == validation.chosen else kind, _setting(candidate.setting),
                      f"{_num(q.auc)} ({_num(q.auc_low)}-{_num(q.auc_high)})", _num(q.ece), f"{_num(q.lift_at_10, 2)}x")
    out.print(table)
    q = validation.chosen_quality().quality
    bands = Table(title=f"Conversion by score band ({validation.chosen}, held-out outcomes)", title_justify="left", show_edge=False,
                  caption=f"all: {q.positives:,} of {q.n:,} converted ({q.base_rate:.0%})", caption_justify="left")
    bands.add_column("leads ranked")
    for name in ("score", "leads", "converted", "rate", "predicted"):
        bands.add_column(name, justify="right")
    for band in q.bands:
        ranked = f"top {band.top_to:.0%}" if band.top_from == 0 else f"{band.top_from * 100:.0f}-{band.top_to:.0%}"
        bands.add_row(ranked, f"{band.low * 100:.0f}-{band.high * 100:.0f}", str(band.count), str(band.conversions),
                      f"{band.conversion_rate:.0%}", f"{band.mean_predicted:.0%}")
    out.print(bands)
    best = validation.best()
    if best.kind != validation.chosen and best.quality.auc > q.auc + tolerance:
        out.print(f"{best.kind} ranked the held-out outcomes better (AUC {best.quality.auc:.3f} vs {q.auc:.3f}): "
                  f"try --model {best.kind}", highlight=False, markup=False, soft_wrap=True)


def _replacement_line(replacement: Any, current_path: Path) -> str:
    if replacement.comparison.difference == 0 and replacement.comparison.standard_error == 0:
        return f"against the current model ({current_path}): the same held-out AUC {replacement.new_auc:.4f}"
    low, high = replacement.comparison.interval
    verdict = "worse, saved with --allow-worse" if replacement.worse else "not worse"
    return (f"against the current model {replacement.current_version} ({current_path}): held-out AUC {replacement.new_auc:.4f} "
            f"vs {replacement.current_auc:.4f} (difference {replacement.comparison.difference:+.4f}, 95% CI {low:+.4f} to {high:+.4f}) "
            f"on {replacement.describe_basis()}: {verdict}")


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
