"""How good a score is: discrimination, calibration and the curves a report plots.

Everything here takes plain arrays (outcomes 0/1, probabilities or scores) and returns plain
numbers or small frozen records, so the same functions serve the benchmark, the tests, the
training summary and, later, the HTML report (``leadscore report``), which only has to plot what
these return. numpy only: no scikit-learn, so a report can be rendered from saved predictions on
a machine that never trains.

Conventions: ``y`` is 1 for converted; a higher score means more likely to convert; ties in the
score are handled exactly (average ranks for AUC, grouped thresholds for curves).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

_EPS = 1e-15


def _arrays(y: ArrayLike, s: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y_arr = np.asarray(y, dtype=np.float64).ravel()
    s_arr = np.asarray(s, dtype=np.float64).ravel()
    if y_arr.shape != s_arr.shape:
        raise ValueError(f"outcomes and scores differ in length: {y_arr.size} vs {s_arr.size}")
    if y_arr.size and not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("outcomes must be 0 or 1")
    return y_arr, s_arr


def _ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks with ties given their average rank (what the Mann-Whitney U needs)."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(values.size, dtype=np.float64)
    # Start of each run of equal values, and its length.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], values.size]
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def roc_auc(y: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve: the chance a random converter outscores a random non-converter
    (ties count one half). NaN when only one class is present."""
    y_arr, s_arr = _arrays(y, scores)
    positives = float(y_arr.sum())
    negatives = float(y_arr.size - positives)
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = _ranks(s_arr)
    return float((ranks[y_arr == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


@dataclass(frozen=True, slots=True)
class RocPoint:
    threshold: float
    false_positive_rate: float
    true_positive_rate: float


def roc_points(y: ArrayLike, scores: ArrayLike) -> list[RocPoint]:
    """The ROC curve from (0, 0) to (1, 1), one point per distinct score (highest first)."""
    y_arr, s_arr = _arrays(y, scores)
    positives = y_arr.sum()
    negatives = y_arr.size - positives
    order = np.argsort(-s_arr, kind="mergesort")
    s_sorted, y_sorted = s_arr[order], y_arr[order]
    last_of_run = np.r_[s_sorted[1:] != s_sorted[:-1], True] if s_sorted.size else np.array([], dtype=bool)
    tp = np.cumsum(y_sorted)[last_of_run]
    fp = np.cumsum(1 - y_sorted)[last_of_run]
    thresholds = s_sorted[last_of_run]
    points = [RocPoint(float("inf"), 0.0, 0.0)]
    for threshold, f, t in zip(thresholds, fp, tp):
        points.append(
            RocPoint(
                float(threshold),
                float(f / negatives) if negatives else 0.0,
                float(t / positives) if positives else 0.0,
            )
        )
    return points


def brier_score(y: ArrayLike, probabilities: ArrayLike) -> float:
    """Mean squared error of the probabilities (0 is perfect; always guessing the base rate
    scores ``rate * (1 - rate)``)."""
    y_arr, p_arr = _arrays(y, probabilities)
    return float(np.mean((p_arr - y_arr) ** 2)) if y_arr.size else float("nan")


def log_loss(y: ArrayLike, probabilities: ArrayLike) -> float:
    y_arr, p_arr = _arrays(y, probabilities)
    p_arr = np.clip(p_arr, _EPS, 1 - _EPS)
    return float(-np.mean(y_arr * np.log(p_arr) + (1 - y_arr) * np.log(1 - p_arr))) if y_arr.size else float("nan")


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One equal-width probability bin: what the model said on average, and what happened."""

    low: float
    high: float
    count: int
    mean_predicted: float
    observed_rate: float


def calibration_bins(y: ArrayLike, probabilities: ArrayLike, bins: int = 10) -> list[CalibrationBin]:
    """Equal-width bins over [0, 1] (the last includes 1.0). Empty bins are kept with count 0
    so a plot's x-axis is stable; their means are NaN."""
    y_arr, p_arr = _arrays(y, probabilities)
    if bins < 1:
        raise ValueError("bins must be at least 1")
    index = np.minimum((np.clip(p_arr, 0.0, 1.0) * bins).astype(np.int64), bins - 1)
    out: list[CalibrationBin] = []
    for k in range(bins):
        mask = index == k
        count = int(mask.sum())
        out.append(
            CalibrationBin(
                low=k / bins,
                high=(k + 1) / bins,
                count=count,
                mean_predicted=float(p_arr[mask].mean()) if count else float("nan"),
                observed_rate=float(y_arr[mask].mean()) if count else float("nan"),
            )
        )
    return out


def expected_calibration_error(y: ArrayLike, probabilities: ArrayLike, bins: int = 10) -> float:
    """ECE over equal-width bins: the count-weighted mean gap between predicted and observed
    rates. 0.03 means "on average three points off" on the 0-100 score."""
    y_arr, _ = _arrays(y, probabilities)
    if not y_arr.size:
        return float("nan")
    return float(
        sum(b.count * abs(b.mean_predicted - b.observed_rate) for b in calibration_bins(y, probabilities, bins) if b.count)
        / y_arr.size
    )


@dataclass(frozen=True, slots=True)
class GainsPoint:
    """After contacting the top ``fraction_contacted`` of leads by score, the share of all
    conversions found, and the lift over contacting at random."""

    fraction_contacted: float
    fraction_of_conversions: float
    lift: float


def cumulative_gains(y: ArrayLike, scores: ArrayLike, points: int = 10) -> list[GainsPoint]:
    """Cumulative gains and lift at ``points`` equal steps of the ranked list (deciles by
    default). Ties in the score are broken by input order, which is stable and documented."""
    y_arr, s_arr = _arrays(y, scores)
    n = y_arr.size
    total = y_arr.sum()
    order = np.argsort(-s_arr, kind="mergesort")
    found = np.cumsum(y_arr[order])
    out = []
    for k in range(1, points + 1):
        fraction = k / points
        upto = max(1, int(round(fraction * n)))
        share = float(found[upto - 1] / total) if total else float("nan")
        out.append(GainsPoint(fraction, share, share / fraction if total else float("nan")))
    return out


@dataclass(frozen=True, slots=True)
class BandStat:
    """Leads whose 0-100 score falls in ``[low, high)`` (the last band includes its top)."""

    low: float
    high: float
    count: int
    conversions: int
    conversion_rate: float


def conversion_by_band(
    y: ArrayLike, scores: ArrayLike, edges: Sequence[float] = (0, 20, 40, 60, 80, 100)
) -> list[BandStat]:
    """Observed conversion rate per score band: the table sales trusts more than an AUC."""
    y_arr, s_arr = _arrays(y, scores)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError("band edges must ascend and give at least one band")
    out = []
    for i, (low, high) in enumerate(zip(edges, edges[1:])):
        last = i == len(edges) - 2
        mask = (s_arr >= low) & ((s_arr <= high) if last else (s_arr < high))
        count = int(mask.sum())
        conversions = int(y_arr[mask].sum())
        out.append(BandStat(float(low), float(high), count, conversions, conversions / count if count else float("nan")))
    return out


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The headline numbers for one set of predictions; curves are computed on demand."""

    n: int
    positives: int
    auc: float
    brier: float
    ece: float
    log_loss: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"AUC {self.auc:.4f}  Brier {self.brier:.4f}  ECE {self.ece:.4f}  (n={self.n}, converted={self.positives})"


def evaluate(y: ArrayLike, probabilities: ArrayLike, ranking_scores: ArrayLike | None = None) -> Evaluation:
    """AUC (of ``ranking_scores`` when given, e.g. integer scorecard points, else of the
    probabilities), Brier, ECE (10 equal-width bins) and log-loss of the probabilities."""
    y_arr, p_arr = _arrays(y, probabilities)
    return Evaluation(
        n=int(y_arr.size),
        positives=int(y_arr.sum()),
        auc=roc_auc(y_arr, p_arr if ranking_scores is None else ranking_scores),
        brier=brier_score(y_arr, p_arr),
        ece=expected_calibration_error(y_arr, p_arr),
        log_loss=log_loss(y_arr, p_arr),
    )
