"""Building the evaluation report from leads, activities and outcomes: every number, no HTML.

:func:`build_report` runs the steps in order, each a small function: score the rules as of each
outcome (:func:`_score_rules`), evaluate the predictive model behind the guard rails
(:func:`_evaluate_predictive`), put every score on the same leads (:func:`_series`), work out
what the hybrid config writes (:func:`_hybrid`), then the stage, rule, factor and champion /
challenger numbers. The package docstring says why each number is computed as it is.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence, cast

import numpy as np
from markupsafe import Markup
from numpy.typing import NDArray

from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.records import Activity, Lead, ScoreResult, group_by_lead
from leadscore.agent.predictive.challenger import ChallengerComparison, ChallengerRecord, calibrate_out_of_fold, compare_scores
from leadscore.agent.predictive.config import HybridSettings, ModelKind, PredictiveConfig
from leadscore.agent.predictive.dataset import OutcomeLike, TrainingSet, build_training_set
from leadscore.agent.predictive.errors import LeakageError
from leadscore.agent.predictive.evaluation import BandStat, conversion_by_band, cumulative_gains, evaluate
from leadscore.agent.predictive.explain import percent_scores
from leadscore.agent.predictive.features import Snapshot, humanise
from leadscore.agent.predictive.hybrid import blend_scores, combined_version, uses_predictive
from leadscore.agent.predictive.predictor import PredictiveModel
from leadscore.agent.predictive.report.model import (
    Banner,
    FactorPanel,
    PredictiveStatus,
    Report,
    RuleStat,
    Series,
    StageStats,
)
from leadscore.agent.predictive.scorecard import Scorecard
from leadscore.agent.predictive.training import SCORECARD, cross_validate, outcome_shortfall, train, train_scorecard
from leadscore.agent.scoring.engine import ScoringEngine
from leadscore.agent.scoring.model import FitRule
from leadscore.agent.scoring.stages import StageLadder

#: Inputs (or learned bins) shown in a top-factors panel.
MAX_FACTORS = 15


def trained_on(model: PredictiveModel, data: TrainingSet) -> bool:
    """Whether ``model`` was (as far as can be told) trained on these outcomes: its training
    info records exactly as many outcomes and conversions. A model does not store its training
    lead ids, so equal counts are taken as the same data, which errs on the side of a warning."""
    info = model.info or {}
    return info.get("n") == len(data) and info.get("positives") == data.positives


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
    """Compute every number of the report (see the package docstring for what and why).

    Raises :class:`ConfigError` when no outcome matches a lead (nothing to evaluate). Too few
    outcomes and probable leakage are not errors: the report says so and evaluates the rules.
    """
    started = time.perf_counter()
    config = config or PredictiveConfig()
    lead_list = list(leads)
    by_lead = group_by_lead(activities)
    data = build_training_set(lead_list, by_lead, outcomes, as_of, gap_days=config.gap_days, label_field=label_field)
    if not len(data):
        raise ConfigError("report: no outcome matches a lead, so there is nothing to evaluate (check that the outcomes' lead_id values are lead ids)")
    lead_by_id = {lead.id: lead for lead in lead_list}
    rules_results = _score_rules(engine, data, lead_by_id, by_lead)
    predictive = _evaluate_predictive(data, config, model, challenger, force)
    mask = predictive.mask
    banners = list(predictive.banners)
    notes = [*data.notes, *predictive.notes]
    if not mask.all():
        notes.append(f"{int((~mask).sum())} of the earliest outcomes are only ever trained on (time-ordered validation): every number "
                     f"and plot is over the {int(mask.sum())} later outcomes, for every score, so they compare like with like.")

    # Every score on the same leads: those the validation scored.
    y = data.y.astype(np.int64)[mask]
    ids = tuple(i for i, keep in zip(data.lead_ids, mask) if keep)
    snapshots = [s for s, keep in zip(data.snapshots, mask) if keep]
    kept_results = [r for r, keep in zip(rules_results, mask) if keep]
    rules_scores = np.array([r.score for r in rules_results], dtype=np.float64)[mask]
    series = _series(engine, predictive, y, rules_scores, config.random_state)
    predictive_scores = next((s.scores for s in series if s.key == "predictive"), None)
    hybrid = _hybrid(engine, config.hybrid, predictive.version, y, rules_scores, predictive_scores, config.random_state)
    series.extend(hybrid.series)
    banners.extend(hybrid.banners)

    stage_names = tuple(s.name for s in engine.model.stages)
    stage_stats = _stages(engine, config.hybrid, hybrid, predictive_scores, stage_names, kept_results, [lead_by_id[i] for i in ids], y)
    comparison, records = None, ()
    if challenger is not None and predictive.status == "evaluated":
        comparison, records = _compare_challenger(challenger, hybrid, engine.version, ids, snapshots, y, config.random_state)
        if trained_on(challenger, data):
            banners.append(Banner("warning", "Challenger evaluated on its training data",
                                  f"The challenger {challenger.version} was trained on these {len(data)} outcomes: its numbers in the "
                                  "champion / challenger section are in sample and optimistic. Compare on outcomes that arrived after it was trained."))
    elif challenger is not None:
        notes.append("The challenger was not compared: " + ("too few outcomes." if predictive.status == "too_few_outcomes" else "probable leakage."))
    banners.extend(_learned_rules_banners(engine, config))

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
        method=tuple(_method(engine, data, len(y), predictive, config.hybrid, predictive_scores is not None)),
        series=tuple(series),
        stages=stage_names,
        stage_stats=tuple(stage_stats),
        rules=tuple(_rule_stats(engine, kept_results, y)),
        factors=tuple(_factors(predictive, snapshots)),
        predictive_status=predictive.status,
        hybrid=config.hybrid,
        rules_version=engine.version,
        challenger=comparison,
        challenger_records=records,
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
    )


# --- 1. the rules --------------------------------------------------------------------------------


def _score_rules(
    engine: ScoringEngine, data: TrainingSet, lead_by_id: Mapping[str, Lead], by_lead: Mapping[str, Sequence[Activity]],
) -> list[ScoreResult]:
    """Each lead scored by the rules as of its outcome (the engine counts an activity at exactly
    its as_of; the snapshot only those strictly before, hence the microsecond)."""
    results = []
    for lead_id, snap in zip(data.lead_ids, data.snapshots):
        assert snap.at is not None
        results.append(engine.score(lead_by_id[lead_id], by_lead.get(lead_id, ()), snap.at - timedelta(microseconds=1)))
    return results


# --- 2. the predictive model, behind the guard rails ----------------------------------------------


@dataclass
class _Predictive:
    """What the predictive evaluation found, over all outcomes (``mask``: those validated)."""

    mask: NDArray[np.bool_]
    status: PredictiveStatus = "evaluated"
    probabilities: NDArray[np.float64] | None = None
    version: str = ""
    name: str = "Predictive"
    method: str = ""
    #: The learned points' out-of-fold (ranking, probabilities).
    learned: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
    #: A saved model's own probabilities on the outcomes it was trained on.
    in_sample: NDArray[np.float64] | None = None
    factor_model: PredictiveModel | None = None
    card: Scorecard | None = None
    validation: str = ""
    banners: list[Banner] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _evaluate_predictive(
    data: TrainingSet, config: PredictiveConfig, model: PredictiveModel | None, challenger: PredictiveModel | None, force: bool,
) -> _Predictive:
    shortfall = outcome_shortfall(data, config)
    if shortfall:
        return _too_few_outcomes(len(data), shortfall, given=model is not None or challenger is not None)
    try:
        return _cross_validated(data, config, model, force)
    except LeakageError as exc:
        return _leakage(len(data), exc)


def _too_few_outcomes(size: int, shortfall: str, *, given: bool) -> _Predictive:
    unused = " The saved model(s) given were not evaluated either: on so few outcomes their numbers would be noise." if given else ""
    banner = Banner("warning", "Too few outcomes: rules-only evaluation",
                    f"{shortfall[0].upper()}{shortfall[1:]} No predictive model is evaluated; every number below is the rules model's.{unused}")
    return _Predictive(np.ones(size, dtype=bool), status="too_few_outcomes", banners=[banner])


def _leakage(size: int, exc: LeakageError) -> _Predictive:
    banner = Banner("error", "Probable leakage: rules-only evaluation",
                    f"These inputs separate converted from non-converted leads almost perfectly, which usually means they were "
                    f"filled in after the outcome: {', '.join(exc.names)}. No predictive model was evaluated. Exclude them (predictive.exclude) "
                    "or, if they are known before the outcome, run with --force.")
    return _Predictive(np.ones(size, dtype=bool), status="leakage", banners=[banner], notes=[f.describe() for f in exc.findings])


def _cross_validated(data: TrainingSet, config: PredictiveConfig, model: PredictiveModel | None, force: bool) -> _Predictive:
    """Cross-validation of the model kind (unless a saved model is scored as given) and of the
    learned points; raises :class:`LeakageError` on probable leakage."""
    kind = cast(ModelKind, model.kind) if model is not None else config.model
    holdout = model is not None and not trained_on(model, data)
    cv = cross_validate(data, config, kinds=() if holdout else (kind,), scorecard=True, force=force)
    folds = len(cv.folds)
    sc = cv.results[SCORECARD]
    found = _Predictive(
        cv.validated.copy(),
        learned=(sc.ranking, sc.probabilities),
        validation=(
            f"{folds}-fold time-ordered cross-validation (each fold trains on earlier outcomes only and scores the next block)"
            if cv.time_ordered else f"{folds}-fold stratified cross-validation"
        ),
        card=train_scorecard(data, config, force=force).model,
    )
    if holdout:
        assert model is not None
        _score_as_given(found, model, data)
        return found
    found.probabilities = cv.results[kind].probabilities
    found.name = f"Predictive ({kind}, out of fold)"
    found.method = (
        f"Out-of-fold probabilities of a calibrated {kind} model from {found.validation}: for every lead, the feature spec, the "
        "tuning and the calibration were fitted on the other folds only."
    )
    if model is not None:
        _score_in_sample(found, model, data)
    else:
        final = train(data, config, kind=kind, force=force)
        found.factor_model = final.model
        found.version = final.model.version if final.model is not None else ""
    return found


def _score_as_given(found: _Predictive, model: PredictiveModel, data: TrainingSet) -> None:
    """A saved model trained on other outcomes: its own probabilities are the evaluation."""
    found.probabilities = model.probabilities(data.snapshots)
    found.version = model.version
    found.name = f"Predictive ({model.kind}, saved)"
    found.method = (
        f"The saved {model.kind} model {model.version}, scored at each lead's outcome time. Its training info "
        f"({model.info.get('n', '?')} outcomes) does not match these {len(data)}, so they are taken as new data and its "
        "own calibrated probabilities are evaluated as they are."
    )
    found.factor_model = model
    found.banners.append(Banner("info", "Saved model scored as given",
                                f"The model in --model ({model.version}) was trained on {model.info.get('n', '?')} outcomes, not these "
                                f"{len(data)}: it is evaluated as given. If these leads were part of its training data after all, its numbers are optimistic."))


def _score_in_sample(found: _Predictive, model: PredictiveModel, data: TrainingSet) -> None:
    """A saved model trained on these outcomes: its own scores are shown, under a warning, beside
    the out-of-fold ones."""
    found.version = model.version
    found.in_sample = model.probabilities(data.snapshots)
    found.factor_model = model
    auc_in = evaluate(data.y.astype(np.int64)[found.mask], found.in_sample[found.mask]).auc
    found.banners.append(Banner(
        "warning", "Evaluating on training data",
        f"The saved model {model.version} was trained on these {len(data)} outcomes (its training info records the same "
        f"counts). Its own scores on them (AUC {auc_in:.3f}, the \u201cin sample\u201d row) are optimistic. Every plot and "
        "every other number uses out-of-fold predictions: the same kind of model refitted in cross-validation with this "
        "config's [predictive] settings, never scoring a lead it was fitted on."))


# --- 3. the series, all on the same leads ---------------------------------------------------------


def round_percent(p: NDArray[np.float64]) -> NDArray[np.float64]:
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


def _series(
    engine: ScoringEngine, predictive: _Predictive, y: NDArray[np.int64], rules_scores: NDArray[np.float64], seed: int,
) -> list[Series]:
    """The rules, the predictive model (and a saved model in sample), the learned points."""
    mask = predictive.mask
    rules_pct = bool(rules_scores.size) and rules_scores.min() >= 0 and rules_scores.max() <= 100
    series = [
        _make_series("rules", "Rules", engine.version, y, rules_scores, None, rules_pct,
                     f"The [scoring] rules model {engine.version}, scored at each lead's outcome time; probabilities by Platt scaling "
                     "of its points, fitted out of fold.", seed=seed)
    ]
    if predictive.probabilities is not None:
        p = predictive.probabilities[mask]
        series.append(_make_series("predictive", predictive.name, predictive.version, y, round_percent(p), p, True,
                                   predictive.method, ranking=p))
    if predictive.in_sample is not None:
        p = predictive.in_sample[mask]
        series.append(_make_series("predictive_in_sample", "Predictive (saved model, in sample)", predictive.version, y,
                                   round_percent(p), p, True, "The saved model's own scores on the outcomes it was trained on: optimistic.",
                                   ranking=p, in_sample=True))
    if predictive.learned is not None:
        points, probs = predictive.learned[0][mask], predictive.learned[1][mask]
        series.append(_make_series("learned_points", "Learned points (out of fold)", "", y, points, probs, False,
                                   f"Learned points (what leadscore learn-points writes) fitted in the same {predictive.validation}: each lead's points come from "
                                   "a card learned without it, its probability from that card's points-to-probability map."))
    return series


# --- 4. what the hybrid config writes -------------------------------------------------------------


@dataclass
class _Hybrid:
    """The score [predictive.hybrid] writes (``key``: rules, predictive or written, a blend)."""

    scores: NDArray[np.float64]
    key: str
    version: str
    series: list[Series] = field(default_factory=list)
    banners: list[Banner] = field(default_factory=list)


def _hybrid(
    engine: ScoringEngine, settings: HybridSettings, predictive_version: str, y: NDArray[np.int64], rules_scores: NDArray[np.float64],
    predictive_scores: NDArray[np.float64] | None, seed: int,
) -> _Hybrid:
    has_model = predictive_scores is not None
    wants = uses_predictive(settings, engine.model.grades is not None)
    version = combined_version(engine.version, predictive_version or "oof", settings) if (wants and has_model) else engine.version
    found = _Hybrid(rules_scores, "rules", version)
    if predictive_scores is not None and settings.write == "predictive":
        found.scores, found.key = predictive_scores, "predictive"
    elif predictive_scores is not None and settings.write == "blend":
        w = settings.blend_weight
        found.scores, found.key = blend_scores(rules_scores, predictive_scores, w).astype(np.float64), "written"
        found.series.append(_make_series("written", f"Written: blend {1 - w:.0%} rules + {w:.0%} predictive", version, y, found.scores, None,
                                         bool(found.scores.min() >= 0 and found.scores.max() <= 100),
                                         f"What [predictive.hybrid] writes: round({1 - w:g} x rules + {w:g} x predictive) from the scores above; "
                                         "probabilities by Platt scaling fitted out of fold.", seed=seed))
    if wants and not has_model:
        found.banners.append(Banner("info", "Hybrid settings fall back to the rules",
                                    f"[predictive.hybrid] asks for write = \"{settings.write}\", stage_from = \"{settings.stage_from}\", but there is no "
                                    "predictive model to evaluate here, so the rules score is what would be written and drive the stage."))
    return found


# --- 5. stages, rules, factors, champion / challenger ---------------------------------------------


def _stages(
    engine: ScoringEngine, settings: HybridSettings, hybrid: _Hybrid, predictive_scores: NDArray[np.float64] | None,
    names: Sequence[str], results: Sequence[ScoreResult], leads: Sequence[Lead], y: NDArray[np.int64],
) -> list[StageStats]:
    """Conversion per stage from the rules, and from the hybrid's score when that drives the stage."""
    stats = [_stage_stats("rules", "stage from the rules score", names, [r.stage for r in results], y)]
    if predictive_scores is None or settings.stage_from == "rules" or (settings.stage_from == "written" and hybrid.key == "rules"):
        return stats
    driver = hybrid.scores if settings.stage_from == "written" else predictive_scores
    ladder = StageLadder(engine.model)
    stages = [ladder.decide(float(d), lead.fields).stage for d, lead in zip(driver, leads)]
    source = "the written score" if settings.stage_from == "written" else "the predictive score"
    stats.append(_stage_stats("written" if hybrid.key == "written" else "predictive", f"stage from {source} (hybrid)", names, stages, y))
    return stats


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


def _factors(predictive: _Predictive, snapshots: Sequence[Snapshot]) -> list[FactorPanel]:
    factors = []
    if predictive.factor_model is not None:
        factors.append(_model_factors(predictive.factor_model, snapshots))
    if predictive.card is not None:
        panel = _card_factors(predictive.card)
        if panel.labels:
            factors.append(panel)
    return factors


def _model_factors(model: PredictiveModel, snapshots: Sequence[Snapshot]) -> FactorPanel:
    """Average score points each input adds and removes per lead, on the 0-100 scale: the same
    log-odds-share-of-the-probability-move attribution the reason parts use
    (:mod:`leadscore.agent.predictive.explain`), averaged over the report's leads."""
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


def _compare_challenger(
    challenger: PredictiveModel, hybrid: _Hybrid, rules_version: str, ids: Sequence[str], snapshots: Sequence[Snapshot],
    y: NDArray[np.int64], seed: int,
) -> tuple[ChallengerComparison, tuple[ChallengerRecord, ...]]:
    """The shadow model scored on the same leads at the same instants as what the config writes."""
    chal_scores = round_percent(challenger.probabilities(snapshots))
    champion_version = hybrid.version if hybrid.key != "rules" else rules_version
    records = tuple(
        ChallengerRecord(i, s.at, int(a), champion_version, int(b), challenger.version)  # type: ignore[arg-type]
        for i, s, a, b in zip(ids, snapshots, hybrid.scores, chal_scores)
    )
    comparison = compare_scores(y, hybrid.scores, chal_scores, champion_is_probability=hybrid.key == "predictive",
                                challenger_is_probability=True, names=("Champion (written)", f"Challenger ({challenger.kind})"),
                                versions=(champion_version, challenger.version), seed=seed)
    return comparison, records


def _learned_rules_banners(engine: ScoringEngine, config: PredictiveConfig) -> list[Banner]:
    prefix = config.scorecard.rule_id_prefix
    learned = [r.id for r in engine.model.rules if r.id and r.id.startswith(prefix + ".")]
    if not learned:
        return []
    return [Banner("info", "The rules include learned points",
                   f"{len(learned)} rules are learned points ({prefix}.*). If they were learned from these outcomes, the rules' numbers "
                   "are in sample and optimistic; the \u201cLearned points (out of fold)\u201d row is the honest estimate.")]


# --- 6. how it was computed -----------------------------------------------------------------------


def _method(
    engine: ScoringEngine, data: TrainingSet, evaluated: int, predictive: _Predictive, settings: HybridSettings, has_model: bool,
) -> list[Markup]:
    """The method section's paragraphs (HTML; every value interpolated is escaped)."""
    rate = data.positives / len(data)
    lines = [
        Markup("<b>Outcomes.</b> {n} leads have an outcome ({positives} converted, {rate:.1%}). Each lead is scored "
               "<i>as of its outcome</i>: a converted lead when it converted, a lost one when it was lost, one still open at the as-of. "
               "Only activities strictly before that instant count, so nothing the outcome caused (the sales follow-up, the closing call) "
               "feeds any score.").format(n=len(data), positives=data.positives, rate=rate),
        Markup("<b>Rules.</b> The [scoring] model {version} scores each lead at that instant. Points are not probabilities: for "
               "Brier, ECE and the calibration curve they are mapped to probabilities by Platt scaling (a logistic curve on the points) "
               "fitted <i>out of fold</i>: 5 stratified folds, each lead's probability from a curve fitted on the other four.").format(
                   version=engine.version),
    ]
    if predictive.status == "evaluated":
        source = (Markup("<b>Predictive.</b> Numbers come from {}").format(predictive.validation) if predictive.validation
                  else Markup("<b>Predictive.</b> See the table for how each row was obtained"))
        lines.append(source + Markup(": a model never scores a lead whose outcome it was fitted on (feature spec, tuning and "
                                     "calibration included). The calibrated probability x 100 is the score."))
    elif predictive.status == "too_few_outcomes":
        lines.append(Markup("<b>Predictive.</b> Not evaluated: too few outcomes to learn from (see the banner). The agent keeps scoring with the rules."))
    else:
        lines.append(Markup("<b>Predictive.</b> Not evaluated: probable leakage (see the banner)."))
    lines.append(Markup(
        "<b>Metrics.</b> ROC AUC: the chance a random converter outscores a random non-converter (0.5 is chance, ties count half). "
        "Brier: mean squared error of the probabilities (lower is better; guessing the base rate scores "
        "{guess:.3f}). ECE: the count-weighted mean gap between predicted and observed rates over 10 equal-width "
        "probability bins (0.03 is three points off on average). Log loss: mean negative log-likelihood. Lift at 10%: the "
        "conversion rate of the top-scored 10% of leads over the overall rate.").format(guess=rate * (1 - rate)))
    mode = {"rules": "the rules score", "predictive": "the predictive score",
            "blend": f"a blend, {1 - settings.blend_weight:g} x rules + {settings.blend_weight:g} x predictive"}[settings.write]
    effective = "" if (has_model or settings.write == "rules") else " (no model here, so the rules score)"
    lines.append(Markup(
        "<b>Hybrid.</b> [predictive.hybrid] writes {mode}{effective}; the stage ladder reads the {stage_from} score "
        "(qualification gates still apply); the grade's fit band comes from the {grade_fit_from} fit.").format(
            mode=mode, effective=effective, stage_from=settings.stage_from, grade_fit_from=settings.grade_fit_from))
    lines.append(Markup("<b>Leads evaluated.</b> {} (the same leads for every score, so rows compare like with like).").format(evaluated))
    return lines


# --- score bands, for the plots and tables --------------------------------------------------------


def nice_step(span: float, parts: int) -> float:
    raw = max(span / max(parts, 1), 1e-9)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * magnitude:
            return float(m * magnitude)
    return float(10 * magnitude)


def _edges(scores: NDArray[np.float64], high_pad: float, parts: int) -> tuple[float, ...]:
    """Round-numbered edges of about ``parts`` bands over the scores' range."""
    low, high = float(np.floor(scores.min())), float(np.ceil(scores.max())) + high_pad
    if high <= low:
        high = low + 1
    step = max(1.0, nice_step(high - low, parts))
    edges = [math.floor(low / step) * step]
    while edges[-1] < high:
        edges.append(edges[-1] + step)
    return tuple(edges)


def band_edges(scores: NDArray[np.float64], percent: bool) -> tuple[float, ...]:
    """0-20-...-100 for 0-100 scores, else about five round-numbered bands over the range."""
    return (0, 20, 40, 60, 80, 100) if percent else _edges(scores, 0, 5)


def histogram_edges(scores: NDArray[np.float64], percent: bool) -> tuple[float, ...]:
    """Bins of 5 for 0-100 scores, else about 25 round-numbered bins over the range."""
    return tuple(float(v) for v in range(0, 105, 5)) if percent else _edges(scores, 1, 25)


def conversion_bands(series: Series, y: NDArray[np.int64]) -> list[BandStat]:
    """The conversion rate per score band of ``series``."""
    return conversion_by_band(y, series.scores, band_edges(series.scores, series.percent_scale))
