"""The evaluation report (``leadscore report``): how well each score predicts the outcomes, as
one self-contained HTML page.

What it answers, for the rules model, the predictive model, the learned points and what the
hybrid config writes: does the score rank converters first (ROC AUC, cumulative gains, lift)?
Can it be read as a probability (Brier, ECE, calibration curve)? What does each band and stage
convert at? Which rules earn their points (each rule's observed conversion lift)? What drives the
model (top factors, learned points)? And, with ``--challenger``, would a shadow model do better
than the one written (champion / challenger)?

Honesty rules, each stated on the page:

* every lead is scored **as of its outcome's time** (see :func:`build_training_set`), with only
  activities strictly before it, so a score never sees what the outcome caused;
* a model is never evaluated on the outcomes it learned from without saying so: without
  ``--model``, the predictive numbers are **out-of-fold** (cross-validation refits the feature
  spec, tuning and calibration without the fold it scores); a saved model whose training info
  matches these outcomes is re-validated the same way and its in-sample numbers are shown under
  a warning banner; one trained elsewhere is scored as given;
* points scores are not probabilities: their Brier, ECE and calibration come from Platt scaling
  fitted out of fold (:func:`~agent.predictive.challenger.calibrate_out_of_fold`);
* too few outcomes (``predictive.min_positives`` / ``min_negatives``), or probable leakage: the
  page says so in a banner and shows the rules-only evaluation.

:func:`build_report` computes every number (a :class:`Report`, testable without HTML);
:func:`render_html` draws it (:mod:`agent.predictive.plots`); :func:`report_command` is the CLI.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping, Optional, Sequence, cast

import numpy as np
import typer
from numpy.typing import NDArray

from agent.errors import ConfigError
from agent.predictive.challenger import ChallengerComparison, ChallengerRecord, calibrate_out_of_fold, compare_scores
from agent.predictive.config import HybridSettings, ModelKind, PredictiveConfig
from agent.predictive.dataset import OutcomeLike, TrainingSet, build_training_set
from agent.predictive.explain import percent_scores
from agent.predictive.errors import LeakageError
from agent.predictive.evaluation import (
    BandStat,
    Evaluation,
    calibration_bins,
    conversion_by_band,
    cumulative_gains,
    evaluate,
    roc_points,
)
from agent.predictive.features import humanise
from agent.predictive.hybrid import blend_scores, combined_version, uses_predictive
from agent.predictive.predictor import PredictiveModel
from agent.predictive.scorecard import Scorecard
from agent.predictive.train import SCORECARD, cross_validate, outcome_shortfall, train, train_scorecard
from agent.records import Activity, Lead, ScoreResult, group_by_lead
from agent.scoring.engine import ScoringEngine
from agent.scoring.model import FitRule
from agent.scoring.stages import StageLadder

#: Every plot the page can hold, in page order (each is ``<section data-plot="NAME">``).
PLOTS: tuple[str, ...] = (
    "score-distribution",
    "conversion-by-band",
    "conversion-by-stage",
    "calibration",
    "gains",
    "roc",
    "top-factors",
    "rule-lift",
    "champion-challenger",
)
#: The plots a report always has, whatever the outcomes (the rules-only evaluation).
RULES_PLOTS: tuple[str, ...] = ("score-distribution", "conversion-by-band", "conversion-by-stage", "calibration", "gains", "roc", "rule-lift")
#: Rules shown in the rule-lift plot (all are in its table): the ones firing on the most leads.
MAX_RULES_PLOTTED = 30
MAX_FACTORS = 15

PredictiveStatus = Literal["evaluated", "too_few_outcomes", "leakage"]


@dataclass(frozen=True)
class Banner:
    level: Literal["warning", "info", "error"]
    title: str
    text: str


@dataclass(frozen=True)
class Series:
    """One score evaluated on the report's leads."""

    key: str
    name: str
    version: str
    #: What ranks leads (the written score; for a predictive model its probability x 100).
    scores: NDArray[np.float64]
    probabilities: NDArray[np.float64]
    #: True when the scores live on 0-100 (bands 0-20-...-100 apply).
    percent_scale: bool
    #: How these numbers were obtained, one sentence for the page.
    method: str
    evaluation: Evaluation
    #: Conversion rate of the top 10% by score over the overall rate.
    top_decile_lift: float
    in_sample: bool = False


@dataclass(frozen=True)
class RuleStat:
    """A rules-model rule's observed conversion: leads it fired on vs leads it did not."""

    rule_id: str
    label: str
    kind: str
    points: str
    fires: int
    fires_converted: int
    silent: int
    silent_converted: int

    @property
    def rate_fires(self) -> float:
        return self.fires_converted / self.fires if self.fires else float("nan")

    @property
    def rate_silent(self) -> float:
        return self.silent_converted / self.silent if self.silent else float("nan")

    @property
    def lift(self) -> float:
        """Conversion rate when the rule fires over the rate when it does not."""
        if not self.fires or not self.silent or self.rate_silent == 0:
            return float("nan")
        return self.rate_fires / self.rate_silent

    @property
    def disagrees(self) -> bool:
        """Positive points on leads that convert less (or negative on leads that convert more)."""
        sign = -1 if self.points.strip().startswith("-") else 1
        return not math.isnan(self.lift) and ((sign > 0 and self.lift < 1) or (sign < 0 and self.lift > 1))


@dataclass(frozen=True)
class StageStats:
    key: str
    label: str
    counts: tuple[int, ...]
    conversions: tuple[int, ...]


@dataclass(frozen=True)
class FactorPanel:
    key: str
    title: str
    labels: tuple[str, ...]
    positive: tuple[float, ...]
    negative: tuple[float, ...]
    xlabel: str
    caption: str


@dataclass(frozen=True)
class Report:
    """Every number on the page; :func:`render_html` only draws it."""

    title: str
    generated_at: datetime
    as_of: datetime
    sources: Mapping[str, str]
    leads_read: int
    outcomes: int
    lead_ids: tuple[str, ...]
    y: NDArray[np.int64]
    banners: tuple[Banner, ...]
    method: tuple[str, ...]
    series: tuple[Series, ...]
    stages: tuple[str, ...]
    stage_stats: tuple[StageStats, ...]
    rules: tuple[RuleStat, ...]
    factors: tuple[FactorPanel, ...]
    predictive_status: PredictiveStatus
    hybrid: HybridSettings
    rules_version: str
    challenger: ChallengerComparison | None = None
    challenger_records: tuple[ChallengerRecord, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def evaluated(self) -> int:
        return int(self.y.size)

    @property
    def positives(self) -> int:
        return int(self.y.sum())

    @property
    def base_rate(self) -> float:
        return float(self.y.mean()) if self.y.size else float("nan")

    def plotted(self) -> list[Series]:
        return [s for s in self.series if not s.in_sample]

    def series_by_key(self, key: str) -> Series | None:
        return next((s for s in self.series if s.key == key), None)

    def plots(self) -> list[str]:
        """The plot sections this report draws (a subset of :data:`PLOTS`, in page order)."""
        out = list(RULES_PLOTS)
        if self.factors:
            out.append("top-factors")
        if self.challenger is not None:
            out.append("champion-challenger")
        return [p for p in PLOTS if p in out]


# --- building ----------------------------------------------------------------------------------


def trained_on(model: PredictiveModel, data: TrainingSet) -> bool:
    """Whether ``model`` was (as far as can be told) trained on these outcomes: its training
    info records exactly as many outcomes and conversions. A model does not store its training
    lead ids, so equal counts are taken as the same data, which errs on the side of a warning."""
    info = model.info or {}
    return info.get("n") == len(data) and info.get("positives") == data.positives


def _round_percent(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Probability -> the 0-100 score written, as floats for the evaluation arrays."""
    return percent_scores(p).astype(np.float64)


def _make_series(
    key: str, name: str, version: str, y: NDArray[np.int64], scores: NDArray[np.float64], probabilities: NDArray[np.float64] | None,
    percent_scale: bool, method: str, *, ranking: NDArray[np.float64] | None = None, in_sample: bool = False, seed: int = 0,
) -> Series:
    probs = calibrate_out_of_fold(scores, y, seed=seed) if probabilities is None else probabilities
    order = scores if ranking is None else ranking
    lift = cumulative_gains(y, order, 10)[0].lift if y.size else float("nan")
    return Series(key, name, version, scores, probs, percent_scale, method, evaluate(y, probs, order), lift, in_sample)


def build_report(
    engine: ScoringEngine,
    leads: Iterable[Lead],
    activities: Mapping[str, Sequence[Activity]] | Iterable[Activity],
    outcomes: Iterable[OutcomeLike],
    as_of: datetime,
    *,
    config: PredictiveConfig | None = None,
    model: PredictiveModel | None = None,
    challenger: PredictiveModel | None = None,
    label_field: str | None = None,
    force: bool = False,
    sources: Mapping[str, str] | None = None,
    title: str = "Lead scoring evaluation",
) -> Report:
    """Compute every number of the report (see the module docstring for what and why).

    Raises :class:`ConfigError` when no outcome matches a lead (nothing to evaluate). Too few
    outcomes and probable leakage are not errors: the report says so and evaluates the rules.
    """
    started = time.perf_counter()
    config = config or PredictiveConfig()
    settings = config.hybrid
    lead_list = list(leads)
    by_lead = group_by_lead(activities)
    data = build_training_set(lead_list, by_lead, outcomes, as_of, gap_days=config.gap_days, label_field=label_field)
    if not len(data):
        raise ConfigError("report: no outcome matches a lead, so there is nothing to evaluate (check that the outcomes' lead_id values are lead ids)")
    lead_by_id = {lead.id: lead for lead in lead_list}
    y_all = data.y.astype(np.int64)
    banners: list[Banner] = []
    notes = list(data.notes)

    # 1. The rules, each lead as of its outcome (the engine counts an activity at exactly its
    # as_of; the snapshot only those strictly before, hence the microsecond).
    rules_results: list[ScoreResult] = []
    for lead_id, snap in zip(data.lead_ids, data.snapshots):
        assert snap.at is not None
        rules_results.append(engine.score(lead_by_id[lead_id], by_lead.get(lead_id, ()), snap.at - timedelta(microseconds=1)))
    rules_all = np.array([r.score for r in rules_results], dtype=np.float64)

    # 2. The predictive model, behind the guard rails.
    mask = np.ones(y_all.size, dtype=bool)
    status: PredictiveStatus = "evaluated"
    predictive_p: NDArray[np.float64] | None = None
    predictive_version = ""
    predictive_method = ""
    predictive_name = "Predictive"
    learned: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
    in_sample_p: NDArray[np.float64] | None = None
    factor_model: PredictiveModel | None = None
    card: Scorecard | None = None
    validation = ""
    shortfall = outcome_shortfall(data, config)
    if shortfall:
        status = "too_few_outcomes"
        unused = " The saved model(s) given were not evaluated either: on so few outcomes their numbers would be noise." if (model or challenger) else ""
        banners.append(Banner("warning", "Too few outcomes: rules-only evaluation",
                              f"{shortfall[0].upper()}{shortfall[1:]} No predictive model is evaluated; every number below is the rules model's.{unused}"))
    else:
        kind = cast(ModelKind, model.kind) if model is not None else config.model
        holdout = model is not None and not trained_on(model, data)
        try:
            cv = cross_validate(data, config, kinds=() if holdout else (kind,), scorecard=True, force=force)
            mask = cv.validated.copy()
            folds = len(cv.folds)
            validation = (
                f"{folds}-fold time-ordered cross-validation (each fold trains on earlier outcomes only and scores the next block)"
                if cv.time_ordered else f"{folds}-fold stratified cross-validation"
            )
            sc = cv.results[SCORECARD]
            learned = (sc.ranking, sc.probabilities)
            card = train_scorecard(data, config, force=force).model
            if holdout:
                assert model is not None
                predictive_p = model.probabilities(data.snapshots)
                predictive_version = model.version
                predictive_name = f"Predictive ({model.kind}, saved)"
                predictive_method = (
                    f"The saved {model.kind} model {model.version}, scored at each lead's outcome time. Its training info "
                    f"({model.info.get('n', '?')} outcomes) does not match these {len(data)}, so they are taken as new data and its "
                    "own calibrated probabilities are evaluated as they are."
                )
                factor_model = model
                banners.append(Banner("info", "Saved model scored as given",
                                      f"The model in --model ({model.version}) was trained on {model.info.get('n', '?')} outcomes, not these "
                                      f"{len(data)}: it is evaluated as given. If these leads were part of its training data after all, its numbers are optimistic."))
            else:
                predictive_p = cv.results[kind].probabilities
                predictive_name = f"Predictive ({kind}, out of fold)"
                predictive_method = (
                    f"Out-of-fold probabilities of a calibrated {kind} model from {validation}: for every lead, the feature spec, the "
                    "tuning and the calibration were fitted on the other folds only."
                )
                if model is not None:
                    predictive_version = model.version
                    in_sample_p = model.probabilities(data.snapshots)
                    factor_model = model
                    auc_in = evaluate(y_all[mask], in_sample_p[mask]).auc
                    banners.append(Banner(
                        "warning", "Evaluating on training data",
                        f"The saved model {model.version} was trained on these {len(data)} outcomes (its training info records the same "
                        f"counts). Its own scores on them (AUC {auc_in:.3f}, the \u201cin sample\u201d row) are optimistic. Every plot and "
                        "every other number uses out-of-fold predictions: the same kind of model refitted in cross-validation with this "
                        "config's [predictive] settings, never scoring a lead it was fitted on."))
                else:
                    final = train(data, config, kind=kind, force=force)
                    factor_model = final.model
                    predictive_version = final.model.version if final.model is not None else ""
        except LeakageError as exc:
            status = "leakage"
            mask = np.ones(y_all.size, dtype=bool)
            predictive_p, learned, in_sample_p, factor_model, card = None, None, None, None, None
            names = ", ".join(exc.names)
            banners.append(Banner("error", "Probable leakage: rules-only evaluation",
                                  f"These inputs separate converted from non-converted leads almost perfectly, which usually means they were "
                                  f"filled in after the outcome: {names}. No predictive model was evaluated. Exclude them (predictive.exclude) "
                                  "or, if they are known before the outcome, run with --force."))
            notes.extend(f.describe() for f in exc.findings)
    if not mask.all():
        notes.append(f"{int((~mask).sum())} of the earliest outcomes are only ever trained on (time-ordered validation): every number "
                     f"and plot is over the {int(mask.sum())} later outcomes, for every score, so they compare like with like.")

    # 3. The series, all on the same leads.
    y = y_all[mask]
    ids = tuple(i for i, keep in zip(data.lead_ids, mask) if keep)
    rules_scores = rules_all[mask]
    rules_pct = bool(rules_scores.size) and rules_scores.min() >= 0 and rules_scores.max() <= 100
    series: list[Series] = [
        _make_series("rules", "Rules", engine.version, y, rules_scores, None, rules_pct,
                     f"The [scoring] rules model {engine.version}, scored at each lead's outcome time; probabilities by Platt scaling "
                     "of its points, fitted out of fold.", seed=config.random_state)
    ]
    predictive_scores: NDArray[np.float64] | None = None
    if predictive_p is not None:
        p = predictive_p[mask]
        predictive_scores = _round_percent(p)
        series.append(_make_series("predictive", predictive_name, predictive_version, y, predictive_scores, p, True,
                                   predictive_method, ranking=p))
    if in_sample_p is not None:
        p = in_sample_p[mask]
        series.append(_make_series("predictive_in_sample", "Predictive (saved model, in sample)", predictive_version, y,
                                   _round_percent(p), p, True, "The saved model's own scores on the outcomes it was trained on: optimistic.",
                                   ranking=p, in_sample=True))
    if learned is not None:
        points, probs = learned[0][mask], learned[1][mask]
        series.append(_make_series("learned_points", "Learned points (out of fold)", "", y, points, probs, False,
                                   f"Learned points (what leadscore learn-points writes) fitted in the same {validation}: each lead's points come from "
                                   "a card learned without it, its probability from that card's points-to-probability map."))

    # The hybrid: what the config writes and what drives the stage.
    ladder = StageLadder(engine.model)
    has_model = predictive_scores is not None
    wants = uses_predictive(settings, engine.model.grades is not None)
    hybrid_version = combined_version(engine.version, predictive_version or "oof", settings) if (wants and has_model) else engine.version
    written = rules_scores
    written_key = "rules"
    if predictive_scores is not None and settings.write == "predictive":
        written, written_key = predictive_scores, "predictive"
    elif has_model and settings.write == "blend":
        assert predictive_scores is not None
        written = blend_scores(rules_scores, predictive_scores, settings.blend_weight).astype(np.float64)
        written_key = "written"
        w = settings.blend_weight
        series.append(_make_series("written", f"Written: blend {1 - w:.0%} rules + {w:.0%} predictive", hybrid_version, y, written, None,
                                   bool(written.min() >= 0 and written.max() <= 100),
                                   f"What [predictive.hybrid] writes: round({1 - w:g} x rules + {w:g} x predictive) from the scores above; "
                                   "probabilities by Platt scaling fitted out of fold.", seed=config.random_state))
    if wants and not has_model:
        banners.append(Banner("info", "Hybrid settings fall back to the rules",
                              f"[predictive.hybrid] asks for write = \"{settings.write}\", stage_from = \"{settings.stage_from}\", but there is no "
                              "predictive model to evaluate here, so the rules score is what would be written and drive the stage."))

    stage_names = tuple(s.name for s in engine.model.stages)
    kept_results = [r for r, keep in zip(rules_results, mask) if keep]
    stage_stats = [_stage_stats("rules", "stage from the rules score", stage_names, [r.stage for r in kept_results], y)]
    if has_model and settings.stage_from != "rules" and not (settings.stage_from == "written" and written_key == "rules"):
        driver = {"written": written, "predictive": predictive_scores}[settings.stage_from]
        assert driver is not None
        stages = [ladder.decide(float(d), lead_by_id[i].fields).stage for d, i in zip(driver, ids)]
        source = "the written score" if settings.stage_from == "written" else "the predictive score"
        stage_stats.append(_stage_stats("written" if written_key == "written" else "predictive", f"stage from {source} (hybrid)",
                                        stage_names, stages, y))

    # 4. Rules' observed lift, factors, champion / challenger.
    rule_stats = _rule_stats(engine, kept_results, y)
    factors: list[FactorPanel] = []
    if factor_model is not None:
        factors.append(_model_factors(factor_model, [s for s, keep in zip(data.snapshots, mask) if keep]))
    if card is not None:
        panel = _card_factors(card)
        if panel.labels:
            factors.append(panel)

    comparison: ChallengerComparison | None = None
    records: tuple[ChallengerRecord, ...] = ()
    if challenger is not None and status == "evaluated":
        chal_p = challenger.probabilities([s for s, keep in zip(data.snapshots, mask) if keep])
        chal_scores = _round_percent(chal_p)
        champion_is_p = written_key == "predictive"
        champion_version = hybrid_version if written_key != "rules" else engine.version
        times = [s.at for s, keep in zip(data.snapshots, mask) if keep]
        records = tuple(
            ChallengerRecord(i, t, int(a), champion_version, int(b), challenger.version)  # type: ignore[arg-type]
            for i, t, a, b in zip(ids, times, written, chal_scores)
        )
        comparison = compare_scores(y, written, chal_scores, champion_is_probability=champion_is_p, challenger_is_probability=True,
                                    names=("Champion (written)", f"Challenger ({challenger.kind})"),
                                    versions=(champion_version, challenger.version), seed=config.random_state)
        if trained_on(challenger, data):
            banners.append(Banner("warning", "Challenger evaluated on its training data",
                                  f"The challenger {challenger.version} was trained on these {len(data)} outcomes: its numbers in the "
                                  "champion / challenger section are in sample and optimistic. Compare on outcomes that arrived after it was trained."))
    elif challenger is not None:
        notes.append("The challenger was not compared: " + ("too few outcomes." if status == "too_few_outcomes" else "probable leakage."))

    rules_learned = [r.id for r in engine.model.rules if r.id and r.id.startswith(config.scorecard.rule_id_prefix + ".")]
    if rules_learned:
        banners.append(Banner("info", "The rules include learned points",
                              f"{len(rules_learned)} rules are learned points ({config.scorecard.rule_id_prefix}.*). If they were learned from "
                              "these outcomes, the rules' numbers are in sample and optimistic; the \u201cLearned points (out of fold)\u201d row is the honest estimate."))

    method = _method(engine, data, len(y), status, validation, settings, has_model, written_key)
    return Report(
        title=title,
        generated_at=datetime.now(timezone.utc).replace(microsecond=0),
        as_of=as_of,
        sources=dict(sources or {}),
        leads_read=len(lead_list),
        outcomes=len(data),
        lead_ids=ids,
        y=y,
        banners=tuple(banners),
        method=tuple(method),
        series=tuple(series),
        stages=stage_names,
        stage_stats=tuple(stage_stats),
        rules=tuple(rule_stats),
        factors=tuple(factors),
        predictive_status=status,
        hybrid=settings,
        rules_version=engine.version,
        challenger=comparison,
        challenger_records=records,
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
    )


def _stage_stats(key: str, label: str, names: Sequence[str], stages: Sequence[str], y: NDArray[np.int64]) -> StageStats:
    counts = [0] * len(names)
    wins = [0] * len(names)
    index = {n: i for i, n in enumerate(names)}
    for stage, outcome in zip(stages, y):
        i = index[stage]
        counts[i] += 1
        wins[i] += int(outcome)
    return StageStats(key, label, tuple(counts), tuple(wins))


def _rule_stats(engine: ScoringEngine, results: Sequence[ScoreResult], y: NDArray[np.int64]) -> list[RuleStat]:
    """For each rule: leads it contributed points to (before caps) vs the rest."""
    fired = [{p.rule for p in r.reasons if p.kind in ("fit", "engagement")} for r in results]
    total, converted = len(results), int(y.sum())
    out = []
    for i, rule in enumerate(engine.model.rules):
        key = rule.id or f"rules[{i}]"
        hits = np.array([key in f for f in fired], dtype=bool)
        n = int(hits.sum())
        won = int(y[hits].sum()) if n else 0
        if isinstance(rule, FitRule):
            points, kind = f"{rule.points:+g}", "fit"
        else:
            points = (f"{rule.points:+g}" if rule.tiers is None else "tiers " + "/".join(f"{t:+g}" for t in rule.tiers))
            kind = "engagement"
        out.append(RuleStat(key, _rule_label(rule), kind, points, n, won, total - n, converted - won))
    return out


def _rule_label(rule: Any) -> str:
    """The rule's label, its ``{value}`` placeholder filled with what the rule tests for
    ("Industry: Technology, Software, ...") since the report is about the rule, not one lead."""
    label = str(rule.label)
    if "{value}" not in label:
        return label
    values = [rule.equals] if getattr(rule, "equals", None) is not None else list(getattr(rule, "in_", None) or [])
    if values:
        shown = ", ".join(str(v) for v in values[:3]) + (", \u2026" if len(values) > 3 else "")
    else:
        shown = f"<{getattr(rule, 'field', None) or 'value'}>"
    return label.replace("{value}", shown)


def _model_factors(model: PredictiveModel, snapshots: Sequence[Any]) -> FactorPanel:
    """Average score points each input adds and removes per lead, on the 0-100 scale: the same
    log-odds-share-of-the-probability-move attribution the reason parts use
    (:mod:`agent.predictive.explain`), averaged over the report's leads."""
    bias, contributions = model.input_contributions(snapshots)
    z = bias + contributions.sum(axis=1)
    p, p0 = model.calibrator(z), float(model.calibrator(np.array([bias]))[0])
    move = z - bias
    h = 1e-4
    local = float((model.calibrator(np.array([bias + h])) - model.calibrator(np.array([bias - h])))[0]) / (2 * h)
    slope = np.where(np.abs(move) > 1e-9, (p - p0) / np.where(np.abs(move) > 1e-9, move, 1.0), local)
    points = 100.0 * contributions * slope[:, None]
    positive = np.clip(points, 0, None).mean(axis=0)
    negative = np.clip(points, None, 0).mean(axis=0)
    ranked = np.argsort(-(positive - negative), kind="mergesort")[:MAX_FACTORS]
    order = [int(i) for i in ranked if positive[i] - negative[i] > 0.05]
    return FactorPanel(
        "predictive",
        f"Predictive model ({model.kind}): average points per lead",
        tuple(humanise(model.spec.inputs[i].name) for i in order),
        tuple(float(positive[i]) for i in order),
        tuple(float(negative[i]) for i in order),
        "average score points added (right) / removed (left) per lead",
        f"Model {model.version}. For each input (a field, or an activity type), the score points it moves each lead by, relative to "
        f"the average lead ({100 * p0:.0f}), exactly as in the reason parts; averaged over the leads below, its raises and its cuts "
        "shown apart. Longest bars: the inputs that move scores most.",
    )


def _card_factors(card: Scorecard) -> FactorPanel:
    """The learned points' largest bins (what ``leadscore learn-points`` would write)."""
    rows = []
    for variable, points in zip(card.variables, card.points):
        for label, value in zip(variable.bin_labels, points):
            if value:
                rows.append((abs(value), f"{humanise(variable.name)}: {label}", value))
    rows.sort(key=lambda r: -r[0])
    rows = rows[:MAX_FACTORS]
    return FactorPanel(
        "learned_points",
        "Learned points: the largest bins",
        tuple(r[1] for r in rows),
        tuple(float(max(r[2], 0)) for r in rows),
        tuple(float(min(r[2], 0)) for r in rows),
        f"points ({card.settings.points_to_double_odds:g} points double the odds)",
        f"The learned points fitted on every outcome here: each bin's points relative to its field's most common value (or no "
        f"activity), {card.settings.points_to_double_odds:g} points doubling the odds of converting. What \u201cleadscore learn-points\u201d writes.",
    )


def _method(
    engine: ScoringEngine, data: TrainingSet, evaluated: int, status: PredictiveStatus, validation: str,
    settings: HybridSettings, has_model: bool, written_key: str,
) -> list[str]:
    rate = data.positives / len(data)
    lines = [
        f"<b>Outcomes.</b> {len(data)} leads have an outcome ({data.positives} converted, {rate:.1%}). Each lead is scored "
        "<i>as of its outcome</i>: a converted lead when it converted, a lost one when it was lost, one still open at the as-of. "
        "Only activities strictly before that instant count, so nothing the outcome caused (the sales follow-up, the closing call) "
        "feeds any score.",
        f"<b>Rules.</b> The [scoring] model {engine.version} scores each lead at that instant. Points are not probabilities: for "
        "Brier, ECE and the calibration curve they are mapped to probabilities by Platt scaling (a logistic curve on the points) "
        "fitted <i>out of fold</i>: 5 stratified folds, each lead's probability from a curve fitted on the other four.",
    ]
    if status == "evaluated":
        lines.append(
            f"<b>Predictive.</b> Numbers come from {validation}" if validation else "<b>Predictive.</b> See the table for how each row was obtained"
        )
        lines[-1] += (": a model never scores a lead whose outcome it was fitted on (feature spec, tuning and calibration included). "
                      "The calibrated probability x 100 is the score.")
    elif status == "too_few_outcomes":
        lines.append("<b>Predictive.</b> Not evaluated: too few outcomes to learn from (see the banner). The agent keeps scoring with the rules.")
    else:
        lines.append("<b>Predictive.</b> Not evaluated: probable leakage (see the banner).")
    lines.append(
        "<b>Metrics.</b> ROC AUC: the chance a random converter outscores a random non-converter (0.5 is chance, ties count half). "
        "Brier: mean squared error of the probabilities (lower is better; guessing the base rate scores "
        f"{rate * (1 - rate):.3f}). ECE: the count-weighted mean gap between predicted and observed rates over 10 equal-width "
        "probability bins (0.03 is three points off on average). Log loss: mean negative log-likelihood. Lift at 10%: the "
        "conversion rate of the top-scored 10% of leads over the overall rate."
    )
    mode = {"rules": "the rules score", "predictive": "the predictive score",
            "blend": f"a blend, {1 - settings.blend_weight:g} x rules + {settings.blend_weight:g} x predictive"}[settings.write]
    effective = "" if (has_model or settings.write == "rules") else " (no model here, so the rules score)"
    lines.append(
        f"<b>Hybrid.</b> [predictive.hybrid] writes {mode}{effective}; the stage ladder reads the {settings.stage_from} score "
        f"(qualification gates still apply); the grade's fit band comes from the {settings.grade_fit_from} fit."
    )
    lines.append(f"<b>Leads evaluated.</b> {evaluated} (the same leads for every score, so rows compare like with like).")
    return lines


# --- rendering ---------------------------------------------------------------------------------

_TITLES = {
    "score-distribution": "Score distribution",
    "conversion-by-band": "Conversion rate by score band",
    "conversion-by-stage": "Conversion rate by stage",
    "calibration": "Calibration",
    "gains": "Cumulative gains and lift",
    "roc": "ROC curve",
    "top-factors": "Top factors",
    "rule-lift": "Each rule's observed conversion lift",
    "champion-challenger": "Champion versus challenger",
}

_CSS = """
:root { --ink:#22262d; --muted:#5b6472; --line:#e3e6ea; --soft:#f6f7f9; --accent:#3b6ea8; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif;
       color:var(--ink); background:#fff; }
main { max-width: 1040px; margin: 0 auto; padding: 28px 28px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 6px; padding-top: 6px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
.sub { color: var(--muted); margin: 0 0 18px; font-size: 14px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin: 12px 0 20px; }
.card { flex: 1 1 150px; background: var(--soft); border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card b { display:block; font-size: 22px; }
.card span { color: var(--muted); font-size: 13px; }
.banner { border-radius: 8px; padding: 12px 16px; margin: 12px 0; border: 1px solid; }
.banner strong { display:block; margin-bottom: 2px; }
.banner.warning { background:#fff7e6; border-color:#f0b54a; }
.banner.error { background:#fdecee; border-color:#d1495b; }
.banner.info { background:#eef4fb; border-color:#8fb0d9; }
section { margin: 30px 0; padding-top: 8px; border-top: 1px solid var(--line); }
figure { margin: 10px 0; }
p.caption { color: var(--muted); margin: 2px 0 8px; font-size: 14px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 8px 0; }
th, td { text-align: right; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
th { background: var(--soft); font-weight: 600; }
tr.insample td { color: #8a6d1d; background: #fffaf0; }
td.bad { color: #b3261e; font-weight: 600; }
.method li { margin: 4px 0; }
code { font-size: 12.5px; background: var(--soft); padding: 1px 4px; border-radius: 4px; }
details summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
footer { color: var(--muted); font-size: 12.5px; margin-top: 40px; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _pct(value: float, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}%}"


def nice_step(span: float, parts: int) -> float:
    raw = max(span / max(parts, 1), 1e-9)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * magnitude:
            return float(m * magnitude)
    return float(10 * magnitude)


def band_edges(scores: NDArray[np.float64], percent: bool) -> tuple[float, ...]:
    """0-20-...-100 for 0-100 scores, else about five round-numbered bands over the range."""
    if percent:
        return (0, 20, 40, 60, 80, 100)
    low, high = float(np.floor(scores.min())), float(np.ceil(scores.max()))
    if high <= low:
        high = low + 1
    step = max(1.0, nice_step(high - low, 5))
    start = math.floor(low / step) * step
    edges = [start]
    while edges[-1] < high:
        edges.append(edges[-1] + step)
    return tuple(edges)


def histogram_edges(scores: NDArray[np.float64], percent: bool) -> tuple[float, ...]:
    if percent:
        return tuple(float(v) for v in range(0, 105, 5))
    low, high = float(np.floor(scores.min())), float(np.ceil(scores.max())) + 1
    step = max(1.0, nice_step(high - low, 25))
    start = math.floor(low / step) * step
    edges = [start]
    while edges[-1] < high:
        edges.append(edges[-1] + step)
    return tuple(edges)


def _bands(series: Series, y: NDArray[np.int64]) -> list[BandStat]:
    return conversion_by_band(y, series.scores, band_edges(series.scores, series.percent_scale))


def render_html(report: Report) -> str:
    """The page: one file, inline CSS and SVG, no script, no external reference."""
    from agent.predictive import plots

    y = report.y
    plotted = report.plotted()
    sections: dict[str, str] = {}
    distribution = [s for s in plotted if s.key in ("rules", "predictive", "written")]

    sections["score-distribution"] = _section(
        "score-distribution",
        "How scores spread, converted leads (teal) stacked on the rest (grey). A useful score piles converters up on the right.",
        plots.score_distribution("score-distribution", [(s.name, s.scores, y, histogram_edges(s.scores, s.percent_scale)) for s in distribution]),
    )
    band_panels = [(s.key, s.name, _bands(s, y)) for s in distribution]
    band_tables = "".join(_band_table(name, bands) for _, name, bands in band_panels)
    sections["conversion-by-band"] = _section(
        "conversion-by-band",
        "Observed conversion rate of the leads in each score band (n = leads in the band); the dashed line is the overall rate. "
        "Rates should climb from left to right. 0-100 scores use fixed bands of 20; a points score, about five round-numbered bands over its range.",
        plots.conversion_by_band("conversion-by-band", band_panels, report.base_rate),
        _details("Band table", band_tables),
    )
    sections["conversion-by-stage"] = _section(
        "conversion-by-stage",
        "Observed conversion rate per stage of the [scoring] stage ladder (lowest stage first), stages decided as of each outcome "
        "with the qualification gates applied. With a hybrid config that stages on another score, both are shown.",
        plots.conversion_by_stage("conversion-by-stage", report.stages,
                                  [(st.key, st.label, st.counts, st.conversions) for st in report.stage_stats], report.base_rate),
        _stage_table(report),
    )
    sections["calibration"] = _section(
        "calibration",
        "Leads grouped into 10 equal-width bins by predicted probability: the mean prediction (x) against the observed conversion "
        "rate (y), marker area by the number of leads. On the diagonal, \u201c30%\u201d means 30% convert. ECE in the table is the "
        "count-weighted mean distance from it. Points scores are drawn with their out-of-fold Platt probabilities.",
        plots.calibration("calibration", [(s.key, s.name, calibration_bins(y, s.probabilities)) for s in plotted]),
    )
    sections["gains"] = _section(
        "gains",
        "Leads sorted by score, highest first. Left: the share of all conversions found after contacting the top x% "
        "(the diagonal is a random order). Right: lift, the conversion rate of the top x% over the overall rate.",
        plots.gains("gains", [(s.key, s.name, cumulative_gains(y, _ranking(s), 20)) for s in plotted]),
    )
    sections["roc"] = _section(
        "roc",
        "True positive rate against false positive rate at every threshold; the area under it is the AUC in the table.",
        plots.roc("roc", [(s.key, s.name, s.evaluation.auc, roc_points(y, _ranking(s))) for s in plotted]),
    )
    if report.factors:
        sections["top-factors"] = _section(
            "top-factors",
            " ".join(f.caption for f in report.factors),
            plots.top_factors("top-factors", [(f.key, f.title, f.labels, f.positive, f.negative, f.xlabel) for f in report.factors]),
        )
    shown = sorted((r for r in report.rules if r.fires), key=lambda r: -r.fires)[:MAX_RULES_PLOTTED]
    rule_plot = plots.rule_lift("rule-lift", [(f"{r.label} ({r.points})", r.rate_fires, r.rate_silent, r.fires, r.silent, r.disagrees) for r in shown],
                                report.base_rate) if shown else ""
    sections["rule-lift"] = _section(
        "rule-lift",
        "For each rule of the rules model: the conversion rate of the leads it fired on (it contributed points, before caps; filled "
        "dot) against the leads it did not fire on (hollow dot), with counts (fired / not). Lift = rate when it fires / rate when it "
        "does not. Red: the outcomes contradict the rule's points (positive points on leads that convert less, or negative points on leads that convert more)"
        + (f". The plot shows the {len(shown)} rules firing on the most leads; the table lists every rule." if len(report.rules) > len(shown) else "."),
        rule_plot or "<p><i>No rule fired on any of these leads.</i></p>",
        _rule_table(report.rules),
    )
    if report.challenger is not None:
        c = report.challenger
        sections["champion-challenger"] = _section(
            "champion-challenger",
            "The champion is what the config writes; the challenger a shadow model scored on the same leads at the same instants "
            "(one ChallengerRecord per lead). Left: each lead's two scores (jittered), coloured by outcome; right: both models' gains.",
            plots.champion_challenger("champion-challenger", (c.champion.name, c.challenger.name), c.champion.scores, c.challenger.scores,
                                      y, [("champion", c.champion.name, c.champion.gains), ("challenger", c.challenger.name, c.challenger.gains)]),
            _challenger_table(c),
        )

    cards = "".join(
        f'<div class="card"><b>{_e(v)}</b><span>{_e(k)}</span></div>'
        for k, v in (
            ("leads read", f"{report.leads_read:,}"),
            ("with an outcome", f"{report.outcomes:,}"),
            ("evaluated", f"{report.evaluated:,}"),
            ("converted (of evaluated)", f"{report.positives:,}"),
            ("conversion rate (of evaluated)", _pct(report.base_rate)),
        )
    )
    banners = "".join(
        f'<div class="banner {b.level}" role="{"alert" if b.level != "info" else "note"}" data-banner="{_e(b.title)}"><strong>{_e(b.title)}</strong>{_e(b.text)}</div>'
        for b in report.banners
    )
    sources = " \u00b7 ".join(f"{_e(k)}: <code>{_e(v)}</code>" for k, v in report.sources.items())
    notes = "".join(f"<li>{_e(n)}</li>" for n in report.notes)
    body = [
        "<main>",
        f"<h1>{_e(report.title)}</h1>",
        f'<p class="sub">As of {_e(report.as_of.isoformat())} \u00b7 generated {_e(report.generated_at.isoformat())} \u00b7 rules model '
        f"{_e(report.rules_version)}" + (f"<br>{sources}" if sources else "") + "</p>",
        banners,
        f'<div class="cards">{cards}</div>',
        '<section id="summary"><h2>Headline numbers</h2>',
        '<p class="caption">Every row is scored on the same leads. In-sample rows (shaded) are shown for reference only.</p>',
        _metrics_table(report),
        "</section>",
        '<section id="method"><h2>How these numbers were computed</h2><ul class="method">',
        "".join(f"<li>{line}</li>" for line in report.method),
        "<li><b>Each row of the table.</b><ul>" + "".join(f"<li><i>{_e(s.name)}</i>: {_e(s.method)}</li>" for s in report.series) + "</ul></li>",
        "</ul>" + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "") + "</section>",
        *(sections[name] for name in PLOTS if name in sections),
        f"<footer>leadscore report \u00b7 built in {report.seconds:.1f}s \u00b7 self-contained: no scripts, fonts or external references.</footer>",
        "</main>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_e(report.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _ranking(series: Series) -> NDArray[np.float64]:
    """What orders leads: the probability for a predictive model (finer than its rounded score)."""
    return series.probabilities if series.key.startswith("predictive") else series.scores


def _section(name: str, caption: str, svg: str, extra: str = "") -> str:
    return (
        f'<section class="plot" id="plot-{name}" data-plot="{name}">\n<h2>{_e(_TITLES[name])}</h2>\n'
        f'<p class="caption">{_e(caption)}</p>\n<figure>{svg}</figure>\n{extra}\n</section>'
    )


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{_e(summary)}</summary>{body}</details>"


def _metrics_table(report: Report) -> str:
    rows = []
    for s in report.series:
        e = s.evaluation
        rows.append(
            f'<tr class="{"insample" if s.in_sample else ""}" data-series="{_e(s.key)}"><td class="text">{_e(s.name)}'
            + (" <i>(in sample)</i>" if s.in_sample else "")
            + f'</td><td>{_num(e.auc)}</td><td>{_num(e.brier)}</td><td>{_num(e.ece)}</td><td>{_num(e.log_loss)}</td>'
            f'<td>{_num(s.top_decile_lift, 2)}</td><td class="text"><code>{_e(s.version or "-")}</code></td></tr>'
        )
    return (
        '<table class="metrics"><thead><tr><th class="text">score</th><th>ROC AUC</th><th>Brier</th><th>ECE</th><th>log loss</th>'
        '<th>lift at 10%</th><th class="text">version</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"
    )


def _band_table(name: str, bands: Sequence[BandStat]) -> str:
    rows = "".join(
        f"<tr><td>{b.low:g}\u2013{b.high:g}</td><td>{b.count}</td><td>{b.conversions}</td><td>{_pct(b.conversion_rate)}</td></tr>" for b in bands
    )
    return (f"<h3>{_e(name)}</h3><table><thead><tr><th>band</th><th>leads</th><th>converted</th><th>rate</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _stage_table(report: Report) -> str:
    head = "".join(f"<th>{_e(st.label)}: leads</th><th>rate</th>" for st in report.stage_stats)
    rows = []
    for i, stage in enumerate(report.stages):
        cells = "".join(
            f"<td>{st.counts[i]}</td><td>{_pct(st.conversions[i] / st.counts[i]) if st.counts[i] else 'n/a'}</td>" for st in report.stage_stats
        )
        rows.append(f"<tr><td>{_e(stage)}</td>{cells}</tr>")
    return _details("Stage table", f"<table><thead><tr><th>stage</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _rule_table(rules: Sequence[RuleStat]) -> str:
    rows = []
    for r in rules:
        lift = _num(r.lift, 2)
        rows.append(
            f'<tr><td class="text">{_e(r.label)}<br><code>{_e(r.rule_id)}</code></td><td class="text">{_e(r.kind)}</td><td>{_e(r.points)}</td>'
            f"<td>{r.fires}</td><td>{_pct(r.rate_fires)}</td><td>{r.silent}</td><td>{_pct(r.rate_silent)}</td>"
            f'<td class="{"bad" if r.disagrees else ""}">{lift}</td></tr>'
        )
    return _details(
        f"Rule table ({len(rules)} rules)",
        '<table><thead><tr><th class="text">rule</th><th class="text">kind</th><th>points</th><th>fires on</th><th>rate</th>'
        "<th>does not</th><th>rate</th><th>lift</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>",
    )


def _challenger_table(c: ChallengerComparison) -> str:
    def row(side: Any) -> str:
        e = side.evaluation
        how = "its own probability" if side.is_probability else "points, Platt-calibrated out of fold"
        return (f'<tr><td class="text">{_e(side.name)}</td><td>{_num(e.auc)}</td><td>{_num(e.brier)}</td><td>{_num(e.ece)}</td>'
                f'<td>{_num(side.top_decile_lift, 2)}</td><td class="text">{_e(how)}</td><td class="text"><code>{_e(side.version)}</code></td></tr>')

    a = c.agreement
    winner = {"champion": "The champion ranks better (higher AUC).", "challenger": "The challenger ranks better (higher AUC).",
              None: "Neither ranks clearly better (AUCs within 0.005)."}[c.winner]
    agreement = (
        f"<ul><li>Rank correlation (Spearman): <b>{_num(a.rank_correlation)}</b></li>"
        f"<li>Of the champion's top {a.top_share:.0%} ({a.top_count} leads), <b>{_pct(a.top_overlap)}</b> are also the challenger's "
        f"(those convert at {_pct(a.both_top_conversion)}).</li>"
        f"<li>Only the champion's top: {a.champion_only_count} leads, {a.champion_only_conversions} converted ({_pct(a.champion_only_rate)}); "
        f"only the challenger's top: {a.challenger_only_count} leads, {a.challenger_only_conversions} converted ({_pct(a.challenger_only_rate)}). "
        "Where they disagree, the side whose picks convert more is right.</li>"
        f"<li>Mean absolute difference of their probabilities: {_num(a.mean_abs_probability_difference, 1)} points.</li></ul>"
    )
    return (
        f"<p><b>{_e(winner)}</b> {c.n} leads, {c.positives} converted.</p>"
        '<table><thead><tr><th class="text">model</th><th>ROC AUC</th><th>Brier</th><th>ECE</th><th>lift at 10%</th>'
        '<th class="text">probability</th><th class="text">version</th></tr></thead><tbody>'
        + row(c.champion) + row(c.challenger) + "</tbody></table>" + agreement
    )


def write_report(path: str | Path, report: Report) -> Path:
    path = Path(path)
    path.write_text(render_html(report), encoding="utf-8")
    return path


# --- the CLI command (registered by agent.cli as `leadscore report`) ------------------------------


def report_command(
    leads: Annotated[Path, typer.Option("--leads", help="Lead CSV: id plus canonical field columns.")],
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the HTML report.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Agent config file (TOML).")] = Path("leadscore.toml"),
    activities: Annotated[Optional[Path], typer.Option("--activities", help="Activity CSV: lead_id,type,occurred_at plus property columns.")] = None,
    outcomes: Annotated[Optional[Path], typer.Option("--outcomes", help="Outcomes CSV: lead_id,converted[,occurred_at].")] = None,
    label_column: Annotated[Optional[str], typer.Option("--label-column", help="A lead column holding the outcome (e.g. custom.converted).")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Outcomes up to this ISO 8601 instant (default: now).")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="A saved predictive model (leadscore train --out) to evaluate.")] = None,
    challenger: Annotated[Optional[Path], typer.Option("--challenger", help="A second saved model to compare, as a shadow challenger.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Evaluate even on fields the leakage check flags.")] = False,
) -> None:
    """Write a self-contained HTML evaluation report: rules, predictive and learned points on outcomes."""
    from agent.config import load_config
    from agent.csvfiles import Issues, parse_timestamp, read_activities, read_leads
    from agent.predictive.artifacts import load_model
    from agent.predictive.dataset import outcomes_from_field, read_outcomes_csv

    if (outcomes is None) == (label_column is None):
        raise ConfigError("give exactly one of --outcomes (a lead_id,converted[,occurred_at] CSV) or --label-column")
    if as_of is None:
        moment = datetime.now(timezone.utc).replace(microsecond=0)
    else:
        parsed = parse_timestamp(as_of)
        if parsed is None:
            raise ConfigError(f"--as-of: expected an ISO 8601 instant such as 2026-11-01T00:00:00Z, got {as_of!r}")
        moment = parsed
    loaded = load_config(config)
    champion = load_model(model) if model is not None else None
    shadow = load_model(challenger) if challenger is not None else None
    issues = Issues()
    lead_rows = read_leads(leads, issues)
    by_lead = read_activities(activities, issues, {lead.id for lead in lead_rows}) if activities else {}
    labels = read_outcomes_csv(outcomes) if outcomes else outcomes_from_field(lead_rows, label_column or "")
    for line in issues.lines():
        typer.echo(f"warning: {line}", err=True)
    sources = {"config": str(config), "leads": str(leads)}
    if activities:
        sources["activities"] = str(activities)
    sources["outcomes"] = str(outcomes) if outcomes else f"column {label_column}"
    if model:
        sources["model"] = str(model)
    if challenger:
        sources["challenger"] = str(challenger)
    report = build_report(
        ScoringEngine(loaded.scoring), lead_rows, by_lead, labels, moment,
        config=loaded.predictive or PredictiveConfig(), model=champion, challenger=shadow,
        label_field=label_column, force=force, sources=sources,
    )
    write_report(out_path, report)
    for banner in report.banners:
        typer.echo(f"{banner.title}: {banner.text}", err=True)
    summary = "; ".join(f"{s.name} AUC {_num(s.evaluation.auc)}" for s in report.series if not s.in_sample)
    typer.echo(f"report on {report.evaluated} outcomes ({report.positives} converted): {summary} -> {out_path}", err=True)
