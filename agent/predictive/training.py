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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, Literal, Mapping, Sequence, TypeVar

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.config import ModelKind, PredictiveConfig
from leadscore.agent.predictive.dataset import TrainingSet
from leadscore.agent.predictive.errors import InsufficientOutcomesError, LeakageError
from leadscore.agent.predictive.evaluation import Evaluation, evaluate, roc_auc
from leadscore.agent.predictive.features import FeatureSpec
from leadscore.agent.predictive.leakage import LeakageReport, check_leakage
from leadscore.agent.predictive.models import fit_calibrated
from leadscore.agent.predictive.predictor import PredictiveModel
from leadscore.agent.predictive.scorecard import Scorecard, fit_scorecard
from leadscore.agent.predictive.splits import Fold, choose_folds, make_folds

M = TypeVar("M")
SCORECARD = "learned_points"


@dataclass(frozen=True)
class TrainingResult(Generic[M]):
    """What training produced: a model, or the reason there is none and the rules keep scoring."""

    status: Literal["trained", "fallback"]
    message: str
    model: M | None
    positives: int
    negatives: int
    leakage: LeakageReport | None = None

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
    data: TrainingSet, config: PredictiveConfig | None = None, *, kind: ModelKind | None = None, force: bool = False
) -> TrainingResult[PredictiveModel]:
    """Train one calibrated model (``config.model`` unless ``kind`` is given).

    Returns a ``fallback`` result (no model) when there are too few outcomes; raises
    :class:`LeakageError` when inputs look leaky and ``force`` is false.
    """
    config = config or PredictiveConfig()
    kind = kind or config.model
    shortfall = outcome_shortfall(data, config)
    if shortfall:
        return TrainingResult("fallback", shortfall, None, data.positives, data.negatives)
    report = leakage_gate(data, config, force)
    model = _fit(data, [kind], config, _training_info(force, report))[kind]
    message = f"trained {kind} on {len(data)} outcomes ({data.positives} converted); version {model.version}"
    return TrainingResult("trained", message, model, data.positives, data.negatives, report)


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
