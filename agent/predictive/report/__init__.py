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

The modules: :mod:`.model` holds the result types (a :class:`Report` is every number, testable
without HTML); :mod:`.builders` computes them (:func:`build_report`); :mod:`.html` draws them
(:func:`render_html`: the Jinja2 template ``report.html.j2`` around the plots of
:mod:`leadscore.agent.predictive.plots`). The command is ``leadscore report``
(:mod:`leadscore.agent.cli.predictive`). Everything here needs the ``[predictive]`` extra.
"""

from leadscore.agent.predictive.report.builders import band_edges, build_report, histogram_edges, trained_on
from leadscore.agent.predictive.report.html import render_html, write_report
from leadscore.agent.predictive.report.model import (
    PLOT_TITLES,
    PLOTS,
    RULES_PLOTS,
    Banner,
    FactorPanel,
    PredictiveStatus,
    Report,
    RuleStat,
    Series,
    StageStats,
)

__all__ = [
    "PLOTS",
    "PLOT_TITLES",
    "RULES_PLOTS",
    "Banner",
    "FactorPanel",
    "PredictiveStatus",
    "Report",
    "RuleStat",
    "Series",
    "StageStats",
    "band_edges",
    "build_report",
    "histogram_edges",
    "render_html",
    "trained_on",
    "write_report",
]
