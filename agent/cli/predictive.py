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
    ConnectorOption,
    LabelOption,
    OutcomesOption,
    as_of_or_now,
    err,
    out,
    StoreOrLeadsOption,
    loop_modules,
    predictive_modules,
    print_issues,
    read_export,
)
from leadscore.agent.config import AgentConfig, load_config
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.records import Lead
from leadscore.agent.predictive.config import PredictiveConfig
from leadscore.agent.predictive.errors import ArtifactError
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.state import StateStore

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


def _rows(command: str, dataset: ModuleType, loaded: AgentConfig, settings: PredictiveConfig, leads: Path | None,
          activities: Path | None, outcomes: Path | None, label_column: str | None, as_of: str | None,
          connectors: Sequence[str] | None) -> Any:
    """The training rows: from a CSV export when ``--leads`` is given, else from the state store."""
    if leads is not None:
        if connectors:
            raise ConfigError("--connector: reads the state store; it cannot be combined with --leads")
        return _training_set(dataset, leads, activities, outcomes, label_column, as_of)
    given = [name for name, value in (("--activities", activities), ("--outcomes", outcomes), ("--label-column", label_column)) if value]
    if given:
        raise ConfigError(f"{given[0]}: reads a CSV export, give --leads too (without --leads, {command} reads the state store)")
    (store_training,) = loop_modules(command, "training")
    names = list(connectors or loaded.connectors)
    unknown = [name for name in names if name not in loaded.connectors]
    if unknown or not names:
        raise ConfigError(f"--connector: no [connectors.{unknown[0]}] table" if unknown
                          else "connectors: no [connectors.NAME] table: the state store holds nothing to train on")
    with StateStore.open(loaded.agent.state_url) as store:
        built = store_training.store_training_set(store, names, settings, as_of_or_now(as_of))
    err.print(built.describe(), highlight=False, markup=False, soft_wrap=True)
    for note in built.data.notes:
        err.print(f"  {note}", highlight=False, markup=False, soft_wrap=True)
    return built.data


def train(
    leads: StoreOrLeadsOption = None,
    out_path: Annotated[Optional[Path], typer.Option(
        "--out", help="Where to save the model (JSON, plus .npz when large). Default: the config's predictive.model_file.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    connector: ConnectorOption = None,
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
    """Train a calibrated predictive model on the state store's history and outcomes (or a CSV export), print its held-out quality and never replace a better one; too few outcomes keeps the rules scoring."""
    dataset, training, artifacts = predictive_modules("leadscore train", "dataset", "training", "artifacts")
    loaded = load_config(config)
    settings = loaded.predictive or PredictiveConfig()
    out_path = _out_path(out_path, settings)
    data = _rows("leadscore train", dataset, loaded, settings, leads, activities, outcomes, label_column, as_of, connector)
    if model not in (None, *MODEL_KINDS):
        raise ConfigError(f"--model: expected logistic or gradient_boosting, got {model!r}")
    current_path = _current_model_path(out_path, settings)
    current = _current_model(artifacts, current_path, allow_worse)  # before training: an unreadable one fails fast
    candidates = MODEL_KINDS if compare else ()
    result = training.train(data, settings, kind=model, force=force, holdout=holdout, candidates=candidates)
    if result.fallback_to_rules:
        err.print(f"not trained: {result.message}", highlight=False, markup=False)
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


def _out_path(given: Path | None, settings: PredictiveConfig) -> Path:
    if given is not None:
        return given
    if settings.model_file:
        return Path(settings.model_file)
    raise ConfigError("--out: where to save the model? Give --out, or set [predictive] model_file")


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
    leads: StoreOrLeadsOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
    connector: ConnectorOption = None,
    activities: ActivitiesOption = None,
    outcomes: OutcomesOption = None,
    label_column: LabelOption = None,
    as_of: AsOfOption = None,
    force: ForceOption = False,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the TOML snippet here (default: stdout).")] = None,
) -> None:
    """Learn points from outcomes (the state store's, or a CSV export's) and print them as scoring rules (TOML) to review and paste."""
    dataset, training = predictive_modules("leadscore learn-points", "dataset", "training")
    loaded = load_config(config)
    settings = loaded.predictive or PredictiveConfig()
    data = _rows("leadscore learn-points", dataset, loaded, settings, leads, activities, outcomes, label_column, as_of, connector)
    result = training.train_scorecard(data, settings, force=force)
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
    leads: StoreOrLeadsOption = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Where to write the HTML report (needed with --leads).")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    activities: ActivitiesOption = None,
    outcomes: OutcomesOption = None,
    label_column: LabelOption = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Outcomes up to this ISO 8601 instant (default: now).")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="A saved predictive model (leadscore train --out) to evaluate.")] = None,
    challenger: Annotated[Optional[Path], typer.Option("--challenger", help="A second saved model to compare, as a shadow challenger.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Evaluate even on fields the leakage check flags.")] = False,
) -> None:
    """The champion against the live challenger on the state store's outcomes, conversion by band and suggested thresholds (or, with --leads, an HTML evaluation of rules, predictive and learned points on a CSV export)."""
    if leads is None:
        given = [name for name, value in (("--activities", activities), ("--outcomes", outcomes), ("--label-column", label_column),
                                          ("--model", model), ("--challenger", challenger)) if value]
        if given:
            raise ConfigError(f"{given[0]}: evaluates a CSV export, give --leads too (without --leads, report reads the state store)")
        _store_report(config, out_path, as_of)
        return
    if out_path is None:
        raise ConfigError("--out: where to write the HTML report?")
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


def _store_report(config: Path, out_path: Path | None, as_of: str | None) -> None:
    (pages,) = loop_modules("leadscore report", "report")
    loaded = load_config(config)
    with StateStore.open(loaded.agent.state_url) as store:
        built = pages.build_store_report(store, loaded, as_of_or_now(as_of))
    _print_store_report(built)
    if out_path is not None:
        pages.write_html(out_path, built)
        err.print(f"report -> {out_path}", highlight=False, markup=False)


def _print_store_report(built: Any) -> None:
    models = Table(title="Models", title_justify="left", show_edge=False)
    for name in ("role", "version", "held-out AUC", "ECE", "file"):
        models.add_column(name, justify="right" if name in ("held-out AUC", "ECE") else "left")
    for slot in built.slots:
        held = slot.held_out
        models.add_row(slot.role, slot.version or "-", _num(held.get("auc", float("nan"))), _num(held.get("ece", float("nan"))),
                       f"{slot.path}{' (' + slot.note + ')' if slot.note else ''}")
    out.print(models)
    live, comparison = built.live, built.comparison
    if live is not None:
        started = live.started_at.isoformat() if live.started_at else "not yet shadow-scoring"
        out.print(f"live since the challenger started ({started}): {live.n} decided outcomes scored by both, "
                  f"{live.positives} converted" + (f"; left out: {dict(live.skipped)}" if live.skipped else ""),
                  highlight=False, markup=False, soft_wrap=True)
    if comparison is not None:
        summary = live.summary()
        table = Table(title="Champion and challenger on live outcomes", title_justify="left", show_edge=False)
        for name in ("model", "version", "AUC (95% CI)", "Brier", "ECE", "lift@10%"):
            table.add_column(name, justify="left" if name in ("model", "version") else "right")
        for side, key in ((comparison.champion, "champion_auc_95"), (comparison.challenger, "challenger_auc_95")):
            low, high = summary[key]
            table.add_row(side.name, side.version, f"{_num(side.evaluation.auc)} ({_num(low)}-{_num(high)})",
                          _num(side.evaluation.brier), _num(side.evaluation.ece), f"{_num(side.top_decile_lift, 2)}x")
        out.print(table)
        out.print(f"({built.champion_meaning})", highlight=False, markup=False, soft_wrap=True)
        low, high = summary["difference_95"]
        out.print(f"AUC difference, challenger - champion: {summary['difference']:+.3f} (95% CI {low:+.3f} to {high:+.3f})",
                  highlight=False, markup=False)
    out.print(f"verdict ({built.promote_mode}): {'promote' if built.verdict.promote else 'no promotion'}: {built.verdict.reason}",
              highlight=False, markup=False, soft_wrap=True)
    _print_thresholds(built.thresholds, built.thresholds_toml, "[scoring]", "[[scoring.stages]]")
    for name, found, toml in built.per_model:
        _print_thresholds(found, toml, f"model {name}", f"model {name}'s [[models.stages]]")


def _print_thresholds(thresholds: Any, toml: str, whose: str, table: str) -> None:
    """One model's conversion by band of its written scores before outcomes, and its thresholds."""
    base = f"{thresholds.base_rate:.1%}" if thresholds.n else "n/a"
    bands = Table(title=f"{whose}: conversion by written score before the outcome ({thresholds.n} outcomes, base rate {base})",
                  title_justify="left", show_edge=False)
    for name in ("score", "outcomes", "converted", "rate"):
        bands.add_column(name, justify="right")
    for band in thresholds.bands:
        if band.count:
            bands.add_row(f"{band.low:g}-{band.high:g}", str(band.count), str(band.conversions), f"{band.conversion_rate:.0%}")
    out.print(bands)
    suggestions = Table(title=f"{whose}: suggested stage thresholds (the lowest score whose records at or above convert at the stage's target lift)", title_justify="left", show_edge=False)
    for name in ("stage", "target lift", "current", "converted at or above", "suggested", "converted at or above "):
        suggestions.add_column(name, justify="left" if name == "stage" else "right")
    def share(rate: float, count: int) -> str:
        return f"{rate:.1%} of {count}" if count else "-"

    for t in thresholds.suggestions:
        suggestions.add_row(t.stage, f"{_num(t.target_lift, 1)}x", "-" if t.current is None else f"{t.current:g}",
                            share(t.current_rate, t.current_count),
                            f"none ({t.why_none})" if t.suggested is None else f"{t.suggested:g}",
                            share(t.suggested_rate, t.suggested_count))
    out.print(suggestions)
    out.print(f"to accept, replace {table} with:\n" + toml, highlight=False, markup=False, soft_wrap=True)


def promote(
    config: ConfigOption = DEFAULT_CONFIG,
    only_if_better: Annotated[bool, typer.Option(
        "--only-if-better", help="Promote only when the live check says the challenger has earned it (as promote = \"auto\" does).",
    )] = False,
) -> None:
    """Make the live challenger the champion: its file replaces predictive.model_file (the old one is kept as .previous.json), logged in the model history; a running agent picks it up at its next job."""
    retrain, registry = loop_modules("leadscore promote", "retrain", "registry")
    loaded = load_config(config)
    with StateStore.open(loaded.agent.state_url) as store:
        checked = retrain.check(store, loaded, allow_auto=False)
        out.print(f"live check: {checked.verdict.reason}", highlight=False, markup=False, soft_wrap=True)
        if only_if_better and not checked.verdict.promote:
            err.print("not promoted (--only-if-better)", highlight=False, markup=False)
            raise typer.Exit(1)
        detail = {"verdict": checked.verdict.reason, **(checked.comparison.summary() if checked.comparison else {})}
        done = registry.promote(store, registry.ModelSlots.of(loaded.predictive), by="manual", detail=detail)
    previous = f"; the previous champion {done.previous_version} is kept as {done.previous}" if done.previous else ""
    out.print(f"promoted {done.version} -> {done.champion}{previous}", highlight=False, markup=False, soft_wrap=True)
