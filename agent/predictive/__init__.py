"""Predictive scoring: models learned from outcomes, next to (not instead of) the rules engine.

The path, module by module:

* :mod:`~leadscore.agent.predictive.dataset`: leads + activities + outcomes (or a labelled CSV through a
  column mapping) -> a :class:`TrainingSet` of snapshots taken before each outcome;
* :mod:`~leadscore.agent.predictive.pointintime`: leads' histories (field versions, activities) +
  outcomes -> a :class:`TrainingSet` of leads as they looked when they were scored, labelled by a
  conversion within a horizon;
* :mod:`~leadscore.agent.predictive.features`: snapshots -> model columns (a fitted, JSON-able spec);
* :mod:`~leadscore.agent.predictive.leakage`: inputs that separate the classes almost perfectly are refused;
* :mod:`~leadscore.agent.predictive.models`: calibrated logistic regression (default) and gradient boosting,
  as numpy arrays; :mod:`~leadscore.agent.predictive.explain`: contributions -> reason parts;
* :mod:`~leadscore.agent.predictive.scorecard`: learned points emitted as ``[scoring]`` rules;
* :mod:`~leadscore.agent.predictive.evaluation`: AUC, Brier, ECE and the curves a report plots;
* :mod:`~leadscore.agent.predictive.artifacts`: safe, versioned save/load (JSON + npz, never pickle);
* :mod:`~leadscore.agent.predictive.training`: guard rails, training and cross-validation;
* :mod:`~leadscore.agent.predictive.hybrid`: rules, predictive or a blend written, either driving the stage;
* :mod:`~leadscore.agent.predictive.challenger`: a shadow model scored beside the written one, compared on outcomes;
* :mod:`~leadscore.agent.predictive.report` (with :mod:`~leadscore.agent.predictive.plots`): the HTML evaluation report.

Everything here needs numpy and scikit-learn (the ``[predictive]`` extra), so this package imports
nothing until a name is asked for: ``from leadscore.agent.predictive import train`` loads
:mod:`~leadscore.agent.predictive.training` then, and ``leadscore.agent.predictive.config`` (which the
agent's config reads) loads no numpy.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the submodule defining it. (No submodule shares a name with what it exports:
#: once imported, a submodule is an attribute of this package and would shadow the name.)
_EXPORTS: dict[str, str] = {
    "ActivityRule": "config",
    "ArtifactError": "errors",
    "ChallengerComparison": "challenger",
    "ChallengerRecord": "challenger",
    "ColumnMapping": "dataset",
    "CrossValidation": "training",
    "DealState": "features",
    "FeatureSpec": "features",
    "HybridScore": "hybrid",
    "HybridScorer": "hybrid",
    "HybridSettings": "config",
    "InsufficientOutcomesError": "errors",
    "LabeledLeads": "dataset",
    "LeadHistory": "pointintime",
    "LeakageError": "errors",
    "LeakageReport": "leakage",
    "PointInTimeSettings": "config",
    "PredictiveConfig": "config",
    "PredictiveError": "errors",
    "PredictiveModel": "predictor",
    "PredictiveScore": "explain",
    "Scorecard": "scorecard",
    "Snapshot": "features",
    "TrainingResult": "training",
    "TrainingSet": "dataset",
    "X_EDUCATION_LEAKY_FIELDS": "dataset",
    "X_EDUCATION_MAPPING": "dataset",
    "build_point_in_time_set": "pointintime",
    "build_training_set": "dataset",
    "check_leakage": "leakage",
    "compare_records": "challenger",
    "compare_scores": "challenger",
    "cross_validate": "training",
    "evaluate": "evaluation",
    "lead_at": "pointintime",
    "load_csv_dataset": "dataset",
    "load_model": "artifacts",
    "outcomes_from_field": "dataset",
    "read_challenger_csv": "challenger",
    "read_outcomes_csv": "dataset",
    "records_from_results": "challenger",
    "save_model": "artifacts",
    "shadow_score": "challenger",
    "take_snapshot": "features",
    "train": "training",
    "train_scorecard": "training",
    "write_challenger_csv": "challenger",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # PEP 562: the named lazy load of this heavy package's names
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
