"""Predictive scoring: models learned from outcomes, next to (not instead of) the rules engine.

The path, module by module:

* :mod:`~agent.predictive.dataset`: leads + activities + outcomes (or a labelled CSV through a
  column mapping) -> a :class:`TrainingSet` of snapshots taken before each outcome;
* :mod:`~agent.predictive.features`: snapshots -> model columns (a fitted, JSON-able spec);
* :mod:`~agent.predictive.leakage`: inputs that separate the classes almost perfectly are refused;
* :mod:`~agent.predictive.models`: calibrated logistic regression (default) and gradient boosting,
  as numpy arrays; :mod:`~agent.predictive.explain`: contributions -> reason parts;
* :mod:`~agent.predictive.scorecard`: learned points emitted as ``[scoring]`` rules;
* :mod:`~agent.predictive.evaluation`: AUC, Brier, ECE and the curves a report plots;
* :mod:`~agent.predictive.artifacts`: safe, versioned save/load (JSON + npz, never pickle);
* :mod:`~agent.predictive.train`: guard rails, training and cross-validation;
* :mod:`~agent.predictive.hybrid`: rules, predictive or a blend written, either driving the stage;
* :mod:`~agent.predictive.challenger`: a shadow model scored beside the written one, compared on outcomes;
* :mod:`~agent.predictive.report` (with :mod:`~agent.predictive.plots`): the HTML evaluation report.
"""

from agent.predictive.artifacts import load_model, save_model
from agent.predictive.challenger import (
    ChallengerComparison,
    ChallengerRecord,
    compare_records,
    compare_scores,
    read_challenger_csv,
    shadow_score,
    records_from_results,
    write_challenger_csv,
)
from agent.predictive.config import HybridSettings, PredictiveConfig
from agent.predictive.dataset import (
    X_EDUCATION_LEAKY_FIELDS,
    X_EDUCATION_MAPPING,
    ColumnMapping,
    LabeledLeads,
    TrainingSet,
    build_training_set,
    load_csv_dataset,
    outcomes_from_field,
    read_outcomes_csv,
)
from agent.predictive.errors import ArtifactError, InsufficientOutcomesError, LeakageError, PredictiveError
from agent.predictive.evaluation import evaluate
from agent.predictive.explain import PredictiveScore
from agent.predictive.features import FeatureSpec, Snapshot, take_snapshot
from agent.predictive.hybrid import HybridScore, HybridScorer
from agent.predictive.leakage import LeakageReport, check_leakage
from agent.predictive.predictor import PredictiveModel
from agent.predictive.scorecard import Scorecard
from agent.predictive.train import CrossValidation, TrainingResult, cross_validate, train, train_scorecard

__all__ = [
    "ArtifactError",
    "ChallengerComparison",
    "ChallengerRecord",
    "ColumnMapping",
    "CrossValidation",
    "FeatureSpec",
    "HybridScore",
    "HybridScorer",
    "HybridSettings",
    "InsufficientOutcomesError",
    "LabeledLeads",
    "LeakageError",
    "LeakageReport",
    "PredictiveConfig",
    "PredictiveError",
    "PredictiveModel",
    "PredictiveScore",
    "Scorecard",
    "Snapshot",
    "TrainingResult",
    "TrainingSet",
    "X_EDUCATION_LEAKY_FIELDS",
    "X_EDUCATION_MAPPING",
    "build_training_set",
    "check_leakage",
    "compare_records",
    "compare_scores",
    "cross_validate",
    "evaluate",
    "load_csv_dataset",
    "load_model",
    "outcomes_from_field",
    "read_challenger_csv",
    "read_outcomes_csv",
    "save_model",
    "shadow_score",
    "take_snapshot",
    "train",
    "train_scorecard",
    "write_challenger_csv",
]
