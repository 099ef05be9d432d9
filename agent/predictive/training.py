"""Training and validating predictive models, with the guard rails in front.

Order of business, for every entry point:

1. **Enough outcomes?** Fewer than ``min_positives`` converted (or ``min_negatives`` not
   converted) outcomes: no model. :func:`train` returns a result that says so
   (``fallback_to_rules``) instead of a model that would only have learned noise, and the agent
   keeps scoring with the rules.
2. **Leakage gate.** :func:`agent.predictive.leakage.check_leakage` on every input not excluded;
   findings stop training with :class:`LeakageError` naming the inputs and the statistic, unless
   ``force=True`` (recorded in the model's info).
3. **Fit**: feature spec on the training data only, then tuning + calibration by inner CV
   (time-ordered when the examples have times), then the final fit.

:func:`cross_validate` runs steps 3 inside each outer fold (the spec, the tuning and the
calibration never see the fold they are scored on), for every model kind and the learned points
on the same folds, so their numbers are comparable pair by pair.

:func:`train` with ``holdout`` also measures the model before it is trained on everything: the
latest share of the outcomes is held out (:func:`~agent.predictive.splits.holdout_split`), each
candidate kind is tuned and trained on the outcomes before them and scored on them
(:func:`validate_holdout`, figures from :func:`~agent.predictive.evaluation.quality`), and the
saved model records those figures and the time of its latest outcome (``trained_through``).
:func:`compare_with_current` then scores the model in production on the same held-out outcomes,
so ``leadscore train`` can refuse to replace it with a worse one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Generic, Literal, Mapping, Sequence, TypeVar

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.config import ModelKind, PredictiveConfig
from leadscore.agent.predictive.dataset import TrainingSet
from leadscore.agent.predictive.errors import InsufficientOutcomesError, LeakageError
from leadscore.agent.predictive.evaluation import AucDifference, Evaluation, Quality, auc_difference, evaluate, quality, roc_auc
from leadscore.agent.predictive.features import FeatureSpec
from leadscore.agent.predictive.leakage import LeakageReport, check_leakage
from leadscore.agent.predictive.models import fit_calibrated
from leadscore.agent.predictive.predictor import PredictiveModel
from leadscore.agent.predictive.scorecard import Scorecard, fit_scorecard
from leadscore.agent.predictive.splits import Fold, choose_folds, holdout_split, make_folds

M = TypeVar("M")
SCORECARD = "learned_points"
#: The share of the latest outcomes ``leadscore train`` holds out to measure models on.
HOLDOUT = 0.2
#: The held-out outcomes later than the current model's training are a fair basis for comparing
#: it with a new model when they hold at least this many converted and this many not converted.
MIN_UNSEEN_PER_CLASS = 10


@dataclass(frozen=True)
class TrainingResult(Generic[M]):
    """What training produced: a model, or the reason there is none and the rules keep scoring."""

    status: Literal["trained", "fallback"]
    message: str
    model: M | None
    positives: int
    negatives: int
    leakage: LeakageReport | None = None
    #: The held-out figures of every candidate (``train(..., holdout=...)``).
    validation: HoldoutValidation | None = None

    @property
    def fallback_to_rules(self) -> bool:
        return self.status == "fallback"

    def require_model(self) -> M:
        if self.model is None:
            raise InsufficientOutcomesError(self.message)
        return self.model


def outcome_shortfall(data: TrainingSet, config: PredictiveConfig) -> str | None:
    """Why ``data`` is too small to learn from, or None when it is enough."""
    problems = []
    if data.positives < config.min_positives:
        problems.append(f"{data.positives} converted outcomes (at least {config.min_positives} needed: predictive.min_positives)")
    if data.negatives < config.min_negatives:
        problems.append(f"{data.negatives} non-converted outcomes (at least {config.min_negatives} needed: predictive.min_negatives)")
    if not problems:
        return None
    return "too few outcomes to learn from: " + "; ".join(problems) + ". The rules model keeps scoring."


def _excluded(data: TrainingSet, config: PredictiveConfig) -> list[str]:
    return sorted(set(config.exclude) | set(data.always_excluded))


def leakage_gate(data: TrainingSet, config: PredictiveConfig, force: bool) -> LeakageReport:
    """Run the leakage check; raise :class:`LeakageError` on findings unless forced."""
    report = check_leakage(data, _excluded(data, config), config.leakage, config.features, config.random_state)
    if report.findings and not force:
        raise LeakageError(report.findings)
    return report


def _inner_folds(data: TrainingSet, config: PredictiveConfig) -> list[Fold]:
    return make_folds(data.y, config.inner_folds, data.order_at, config.random_state)


def _fit(data: TrainingSet, kinds: Sequence[ModelKind], config: PredictiveConfig, extra_info: Mapping[str, Any]) -> dict[str, PredictiveModel]:
    """Fit one spec and, on its columns, one calibrated model per kind."""
    excluded = _excluded(data, config)
    spec = FeatureSpec.fit(data.snapshots, excluded, config.features)
    X = spec.transform(data.snapshots)
    y = data.y.astype(np.int64)
    folds, strategy = choose_folds(y, config.inner_folds, data.order_at, config.random_state)
    out: dict[str, PredictiveModel] = {}
    for kind in kinds:
        fitted = fit_calibrated(kind, X, y, folds, config)
        info = {
            "kind": kind,
            "n": int(y.size),
            "positives": int(y.sum()),
            "negatives": int(y.size - y.sum()),
            "columns": X.shape[1],
            "inputs": spec.input_names,
            "excluded": excluded,
            "dropped": dict(spec.dropped),
            "validation": strategy,
            "tuning": fitted.tuning,
            "calibration": config.calibration,
            **extra_info,
        }
        out[kind] = PredictiveModel(spec, fitted.scorer, fitted.calibrator, config.explain_top, info)
    return out


def _training_info(force: bool, report: LeakageReport | None) -> dict[str, Any]:
    import sklearn

    info: dict[str, Any] = {
        "trained_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "scikit_learn": sklearn.__version__,
    }
    if report is not None and report.findings:
        info["forced_despite_leakage"] = [f.describe() for f in report.findings] if force else []
    return info


def train(
    data: TrainingSet,
    config: PredictiveConfig | None = None,
    *,
    kind: ModelKind | None = None,
    force: bool = False,
    holdout: float | None = None,
    candidates: Sequence[ModelKind] = (),
) -> TrainingResult[PredictiveModel]:
    """Train one calibrated model (``config.model`` unless ``kind`` is given).

    Returns a ``fallback`` result (no model) when there are too few outcomes; raises
    :class:`LeakageError` when inputs look leaky and ``force`` is false. With ``holdout`` (a
    share, e.g. :data:`HOLDOUT`), the chosen kind and each of ``candidates`` are first measured
    on the latest outcomes (:func:`validate_holdout`); the result carries the figures and the
    model's info records the chosen kind's.
    """
    config = config or PredictiveConfig()
    kind = kind or config.model
    shortfall = outcome_shortfall(data, config)
    if shortfall:
        return TrainingResult("fallback", shortfall, None, data.positives, data.negatives)
    report = leakage_gate(data, config, force)
    validation = None
    if holdout:
        validation = validate_holdout(data, config, [kind, *(k for k in candidates if k != kind)], holdout)
    info = {**_training_info(force, report), **_window_info(data, validation)}
    model = _fit(data, [kind], config, info)[kind]
    message = f"trained {kind} on {len(data)} outcomes ({data.positives} converted); version {model.version}"
    return TrainingResult("trained", message, model, data.positives, data.negatives, report, validation)


def _window_info(data: TrainingSet, validation: HoldoutValidation | None) -> dict[str, Any]:
    """What a later run needs to compare fairly: the time of the latest outcome trained on, and
    the held-out figures of this model's kind."""
    info: dict[str, Any] = {}
    if data.order_at is not None and len(data.order_at):
        info["trained_through"] = datetime.fromtimestamp(float(np.max(data.order_at)), timezone.utc).isoformat()
    if validation is not None:
        chosen = validation.candidates[validation.chosen]
        info["held_out"] = {"strategy": validation.strategy, "setting": dict(chosen.setting), **chosen.quality.summary()}
    return info


def train_scorecard(data: TrainingSet, config: PredictiveConfig | None = None, *, force: bool = False) -> TrainingResult[Scorecard]:
    """Learn points for the rules engine (see :mod:`agent.predictive.scorecard`), behind the same
    guard rails as :func:`train`."""
    config = config or PredictiveConfig()
    shortfall = outcome_shortfall(data, config)
    if shortfall:
        return TrainingResult("fallback", shortfall, None, data.positives, data.negatives)
    report = leakage_gate(data, config, force)
    card = fit_scorecard(data, config, _inner_folds(data, config), _excluded(data, config))
    return TrainingResult("trained", f"learned points from {len(data)} outcomes", card, data.positives, data.negatives, report)


# --- cross-validation ------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelValidation:
    """Out-of-fold predictions of one model and their evaluation."""

    name: str
    #: Calibrated probability per example (NaN where the example was never validated).
    probabilities: NDArray[np.float64]
    #: What ranks leads: the probability, or the integer points for the learned points.
    ranking: NDArray[np.float64]
    evaluation: Evaluation
    fold_auc: tuple[float, ...]
    seconds: float

    @property
    def mean_fold_auc(self) -> float:
        """The usual "k-fold AUC": the mean of the per-fold AUCs (``evaluation.auc`` pools all
        out-of-fold predictions, which also penalises scales that differ between folds)."""
        return float(np.mean(self.fold_auc)) if self.fold_auc else float("nan")


@dataclass(frozen=True)
class CrossValidation:
    y: NDArray[np.int8]
    folds: tuple[Fold, ...]
    validated: NDArray[np.bool_]
    time_ordered: bool
    results: Mapping[str, ModelValidation]
    leakage: LeakageReport
    notes: tuple[str, ...] = field(default=())

    def best_model(self) -> ModelValidation:
        """The full model (not the learned points) with the highest AUC."""
        candidates = [r for name, r in self.results.items() if name != SCORECARD]
        return max(candidates, key=lambda r: r.mean_fold_auc)


def cross_validate(
    data: TrainingSet,
    config: PredictiveConfig | None = None,
    *,
    kinds: Sequence[ModelKind] = ("logistic", "gradient_boosting"),
    scorecard: bool = True,
    force: bool = False,
) -> CrossValidation:
    """Outer ``config.folds``-fold validation of each model kind and of the learned points.

    Raises :class:`InsufficientOutcomesError` when there are too few outcomes (nothing to
    validate) and :class:`LeakageError` like :func:`train`.
    """
    config = config or PredictiveConfig()
    shortfall = outcome_shortfall(data, config)
    if shortfall:
        raise InsufficientOutcomesError(shortfall)
    report = leakage_gate(data, config, force)
    y = data.y.astype(np.int64)
    folds, strategy = choose_folds(y, config.folds, data.order_at, config.random_state)
    names = list(kinds) + ([SCORECARD] if scorecard else [])
    prob = {name: np.full(y.size, np.nan) for name in names}
    rank = {name: np.full(y.size, np.nan) for name in names}
    seconds = {name: 0.0 for name in names}
    fold_auc: dict[str, list[float]] = {name: [] for name in names}
    validated = np.zeros(y.size, dtype=bool)
    for train_idx, valid_idx in folds:
        part = data.subset(train_idx)
        held = [data.snapshots[i] for i in valid_idx]
        validated[valid_idx] = True
        for kind in kinds:
            started = time.perf_counter()
            model = _fit(part, [kind], config, {})[kind]
            p = model.probabilities(held)
            seconds[kind] += time.perf_counter() - started
            prob[kind][valid_idx] = rank[kind][valid_idx] = p
            fold_auc[kind].append(roc_auc(y[valid_idx], p))
        if scorecard:
            started = time.perf_counter()
            card = fit_scorecard(part, config, _inner_folds(part, config), _excluded(data, config))
            points = card.score(held).astype(np.float64)
            seconds[SCORECARD] += time.perf_counter() - started
            rank[SCORECARD][valid_idx] = points
            prob[SCORECARD][valid_idx] = card.calibrator(points)
            fold_auc[SCORECARD].append(roc_auc(y[valid_idx], points))
    results = {
        name: ModelValidation(
            name,
            prob[name],
            rank[name],
            evaluate(y[validated], prob[name][validated], rank[name][validated]),
            tuple(fold_auc[name]),
            seconds[name],
        )
        for name in names
    }
    return CrossValidation(data.y, tuple(folds), validated, strategy == "time-ordered", results, report, data.notes)


# --- held-out figures and the comparison with the model in production ---------------------------


@dataclass(frozen=True)
class CandidateQuality:
    """One model kind, tuned and trained on the outcomes before the held-out ones, scored on them."""

    kind: str
    quality: Quality
    #: The setting its inner CV chose (``C``, or the boosting settings).
    setting: Mapping[str, Any]
    #: Its calibrated probabilities of the held-out outcomes (aligned with ``held_index``).
    probabilities: NDArray[np.float64]
    seconds: float


@dataclass(frozen=True)
class HoldoutValidation:
    """The held-out split and every candidate's figures on it; ``chosen`` is the kind trained."""

    strategy: str
    train_index: NDArray[np.int64]
    held_index: NDArray[np.int64]
    #: The held-out outcomes (aligned with ``held_index``).
    y: NDArray[np.int8]
    candidates: Mapping[str, CandidateQuality]
    chosen: str

    @property
    def time_ordered(self) -> bool:
        return self.strategy == "time-ordered"

    def chosen_quality(self) -> CandidateQuality:
        return self.candidates[self.chosen]

    def best(self) -> CandidateQuality:
        """The candidate with the highest held-out AUC (the chosen one on a tie)."""
        return max(self.candidates.values(), key=lambda c: (c.quality.auc, c.kind == self.chosen))

    def describe(self) -> str:
        held, before = self.held_index.size, self.train_index.size
        converted = int(self.y.sum())
        if self.time_ordered:
            return (f"held out the latest {held:,} of {held + before:,} outcomes ({converted:,} converted); "
                    f"each model was tuned and trained on the {before:,} before them")
        return (f"held out a stratified random {held:,} of {held + before:,} outcomes ({converted:,} converted): the outcomes "
                "have no usable times, so the split cannot follow time and the figures may flatter the models")


def validate_holdout(
    data: TrainingSet, config: PredictiveConfig, kinds: Sequence[ModelKind], fraction: float = HOLDOUT
) -> HoldoutValidation:
    """Hold out the latest ``fraction`` of ``data`` (:func:`holdout_split`), fit each kind on the
    rest exactly as :func:`train` would (spec, tuning and calibration see no held-out outcome),
    and measure each on the held-out outcomes. ``kinds[0]`` is the chosen one. No guard rails:
    call it after :func:`outcome_shortfall` and :func:`leakage_gate` (as :func:`train` does)."""
    if not kinds:
        raise ValueError("no model kind to validate")
    y = data.y.astype(np.int64)
    ids = data.lead_ids
    groups = np.asarray(ids) if len(set(ids)) < len(ids) else None  # several rows per lead (scoring_times)
    (train_idx, held_idx), strategy = holdout_split(y, fraction, data.order_at, config.random_state, groups)
    part = data.subset(train_idx)
    held = [data.snapshots[i] for i in held_idx]
    out: dict[str, CandidateQuality] = {}
    for kind in kinds:
        started = time.perf_counter()
        model = _fit(part, [kind], config, {})[kind]
        p = model.probabilities(held)
        setting = model.info.get("tuning", {}).get("chosen", {})
        out[kind] = CandidateQuality(kind, quality(y[held_idx], p), setting, p, time.perf_counter() - started)
    return HoldoutValidation(strategy, train_idx, held_idx, data.y[held_idx], out, kinds[0])


Basis = Literal["unseen", "seen", "unknown"]


@dataclass(frozen=True)
class Replacement:
    """The new model against the current one on the same held-out outcomes (AUC ``a`` = new,
    ``b`` = current). ``basis``: ``"unseen"`` - outcomes later than the current model's training,
    scored by the new model trained before them (out of sample for both); ``"seen"`` - the current
    model was trained on (most of) them, so the new model trained on all outcomes is scored too;
    ``"unknown"`` - the current model does not record its training window, compared as ``"seen"``."""

    current_version: str
    basis: Basis
    n: int
    positives: int
    comparison: AucDifference
    tolerance: float

    @property
    def new_auc(self) -> float:
        return self.comparison.auc_a

    @property
    def current_auc(self) -> float:
        return self.comparison.auc_b

    @property
    def worse(self) -> bool:
        """The new model's AUC is lower than the current one's by more than the tolerance."""
        return bool(self.comparison.difference < -self.tolerance)

    def describe_basis(self) -> str:
        outcomes = f"{self.n:,} held-out outcomes ({self.positives:,} converted)"
        if self.basis == "unseen":
            return f"{outcomes} later than the current model's training, scored by the new model trained before them"
        if self.basis == "seen":
            return f"{outcomes} the current model was trained on, so scored by the new model trained on all outcomes too"
        return (f"{outcomes}, scored by the new model trained on all outcomes: the current model does not record "
                "what it was trained on and may have seen them")

    def summary(self) -> dict[str, Any]:
        low, high = self.comparison.interval
        return {
            "version": self.current_version,
            "basis": self.basis,
            "n": self.n,
            "auc_new": self.new_auc,
            "auc_current": self.current_auc,
            "difference_95": [low, high],
            "tolerance": self.tolerance,
        }


def _trained_through(info: Mapping[str, Any]) -> float | None:
    value = info.get("trained_through")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def compare_with_current(
    result: TrainingResult[PredictiveModel], data: TrainingSet, current: PredictiveModel, tolerance: float = 0.005
) -> Replacement:
    """Score ``current`` and the new model of ``result`` (trained with ``holdout``) on the same
    held-out outcomes of ``data``; see :class:`Replacement` for which outcomes and predictions."""
    validation = result.validation
    new = result.require_model()
    if validation is None:
        raise ValueError("compare_with_current needs a result trained with holdout")
    held = validation.held_index
    through = _trained_through(current.info)
    basis: Basis = "unknown"
    if through is not None and data.order_at is not None:
        unseen = data.order_at[held] > through + 1e-3
        y_unseen = validation.y[unseen]
        if min(int(y_unseen.sum()), int(y_unseen.size - y_unseen.sum())) >= MIN_UNSEEN_PER_CLASS:
            index = held[unseen]
            new_p = validation.chosen_quality().probabilities[unseen]
            current_p = current.probabilities([data.snapshots[i] for i in index])
            return Replacement(current.version, "unseen", int(index.size), int(y_unseen.sum()),
                               auc_difference(y_unseen, new_p, current_p), tolerance)
        basis = "seen"
    snapshots = [data.snapshots[i] for i in held]
    comparison = auc_difference(validation.y, new.probabilities(snapshots), current.probabilities(snapshots))
    return Replacement(current.version, basis, int(held.size), int(validation.y.sum()), comparison, tolerance)


def note_replacement(model: PredictiveModel, replacement: Replacement, saved_despite_worse: bool) -> PredictiveModel:
    """``model`` with the comparison recorded in its info (the version does not change)."""
    record = {**replacement.summary(), "saved_despite_worse": saved_despite_worse}
    return replace(model, info={**model.info, "replaced": record})
