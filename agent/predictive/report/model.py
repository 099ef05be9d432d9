"""What the evaluation report holds: every number on the page, as frozen records.

:func:`~leadscore.agent.predictive.report.builders.build_report` computes a :class:`Report`;
:func:`~leadscore.agent.predictive.report.html.render_html` only draws it. Tests read these
records directly, without HTML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Mapping

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.challenger import ChallengerComparison, ChallengerRecord
from leadscore.agent.predictive.config import HybridSettings
from leadscore.agent.predictive.evaluation import Evaluation

#: Every plot the page can hold, in page order (each is ``<section data-plot="NAME">``), with
#: its heading.
PLOT_TITLES: Mapping[str, str] = {
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
PLOTS: tuple[str, ...] = tuple(PLOT_TITLES)
#: The plots a report always has, whatever the outcomes (the rules-only evaluation).
RULES_PLOTS: tuple[str, ...] = ("score-distribution", "conversion-by-band", "conversion-by-stage", "calibration", "gains", "roc", "rule-lift")

PredictiveStatus = Literal["evaluated", "too_few_outcomes", "leakage"]


def num(value: float | None, digits: int = 3) -> str:
    """A metric as the page and the CLI show it (``n/a`` when undefined)."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    """A rate as the page shows it (``n/a`` when undefined)."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}%}"


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

    @property
    def ranking(self) -> NDArray[np.float64]:
        """What orders leads: the probability for a predictive model (finer than its rounded score)."""
        return self.probabilities if self.key.startswith("predictive") else self.scores


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
    """Every number on the page; :func:`~leadscore.agent.predictive.report.html.render_html` only draws it."""

    title: str
    generated_at: datetime
    as_of: datetime
    sources: Mapping[str, str]
    leads_read: int
    outcomes: int
    lead_ids: tuple[str, ...]
    y: NDArray[np.int64]
    banners: tuple[Banner, ...]
    #: The method section, one paragraph each: HTML (a ``markupsafe.Markup``) whose values were
    #: escaped when it was built.
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

    def distributed(self) -> list[Series]:
        """The plotted series whose score distribution and bands are drawn."""
        return [s for s in self.plotted() if s.key in ("rules", "predictive", "written")]

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

    def summary(self) -> str:
        """Each plotted score's AUC, one line (what ``leadscore report`` prints)."""
        return "; ".join(f"{s.name} AUC {num(s.evaluation.auc)}" for s in self.plotted())
