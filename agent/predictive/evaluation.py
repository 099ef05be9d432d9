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


# --- the training summary: held-out quality a person can read at a glance ----------------------

#: Two-sided 95% normal quantile (the CI of an AUC).
_Z95 = 1.959963984540054


def _auc_components(y_arr: NDArray[np.float64], s_arr: NDArray[np.float64]) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """DeLong's structural components (Sun & Xu's rank form): the AUC, then for each converter the
    share of non-converters it outscores (``v10``) and for each non-converter the share of
    converters that outscore it (``v01``); ties count one half."""
    pos, neg = s_arr[y_arr == 1], s_arr[y_arr == 0]
    m, n = pos.size, neg.size
    both = _ranks(np.concatenate([pos, neg]))
    v10 = (both[:m] - _ranks(pos)) / n
    v01 = 1.0 - (both[m:] - _ranks(neg)) / m
    return float(v10.mean()), v10, v01


def auc_standard_error(y: ArrayLike, scores: ArrayLike) -> float:
    """DeLong's standard error of the AUC: ``sqrt(var(v10) / m + var(v01) / n)`` over the
    structural components (sample variances). NaN with fewer than two of either class."""
    y_arr, s_arr = _arrays(y, scores)
    m = int(y_arr.sum())
    n = int(y_arr.size - m)
    if m < 2 or n < 2:
        return float("nan")
    _, v10, v01 = _auc_components(y_arr, s_arr)
    return float(np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n))


def auc_interval(y: ArrayLike, scores: ArrayLike) -> tuple[float, float]:
    """95% DeLong confidence interval of the AUC, clipped to [0, 1] (NaNs when it has no SE)."""
    auc, se = roc_auc(y, scores), auc_standard_error(y, scores)
    if not np.isfinite(se):
        return float("nan"), float("nan")
    return max(0.0, auc - _Z95 * se), min(1.0, auc + _Z95 * se)


@dataclass(frozen=True, slots=True)
class AucDifference:
    """``auc_a - auc_b`` on the same examples, with DeLong's paired standard error (the two
    scores' components are correlated, so this is much tighter than either AUC's own SE)."""

    auc_a: float
    auc_b: float
    difference: float
    standard_error: float

    @property
    def interval(self) -> tuple[float, float]:
        return self.difference - _Z95 * self.standard_error, self.difference + _Z95 * self.standard_error


def auc_difference(y: ArrayLike, scores_a: ArrayLike, scores_b: ArrayLike) -> AucDifference:
    """Compare two scores of the same examples (DeLong's paired test, without the p-value)."""
    y_arr, a_arr = _arrays(y, scores_a)
    _, b_arr = _arrays(y, scores_b)
    m = int(y_arr.sum())
    n = int(y_arr.size - m)
    if m < 1 or n < 1:
        return AucDifference(float("nan"), float("nan"), float("nan"), float("nan"))
    auc_a, a10, a01 = _auc_components(y_arr, a_arr)
    auc_b, b10, b01 = _auc_components(y_arr, b_arr)
    se = float(np.sqrt((a10 - b10).var(ddof=1) / m + (a01 - b01).var(ddof=1) / n)) if m >= 2 and n >= 2 else float("nan")
    return AucDifference(auc_a, auc_b, auc_a - auc_b, se)


def lift_at(y: ArrayLike, scores: ArrayLike, fraction: float = 0.1) -> float:
    """Conversion rate among the top ``fraction`` of leads by score over the overall rate (2.0:
    the top decile converts twice as often as the average lead). The top is
    ``max(1, round(fraction * n))`` leads; leads tied at the cut count in proportion (each tied
    lead counts as the tied group's average outcome), so the result never depends on input order.
    NaN when nothing converted."""
    y_arr, s_arr = _arrays(y, scores)
    if not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    n = y_arr.size
    total = y_arr.sum()
    if n == 0 or total == 0:
        return float("nan")
    k = max(1, int(round(fraction * n)))
    threshold = np.sort(s_arr)[::-1][k - 1]
    above = s_arr > threshold
    tied = s_arr == threshold
    found = y_arr[above].sum() + (k - above.sum()) * y_arr[tied].mean()
    return float((found / k) / (total / n))


@dataclass(frozen=True, slots=True)
class ScoreBand:
    """One band of leads ranked by score, best first: the ``[top_from, top_to)`` share of the
    ranking, the lowest and highest probability in it, and what happened to its leads."""

    top_from: float
    top_to: float
    low: float
    high: float
    count: int
    conversions: int
    conversion_rate: float
    mean_predicted: float


def score_bands(y: ArrayLike, probabilities: ArrayLike, bands: int = 10) -> list[ScoreBand]:
    """Leads ranked by probability (highest first) and cut into ``bands`` equal shares (deciles
    by default). Leads with equal probabilities stay together in the band where the first of them
    falls, so a band can be larger than its share and a later one empty (empty bands are left
    out). ``top_from``/``top_to`` are the shares of leads ranked before the band's first lead and
    up to its last."""
    y_arr, p_arr = _arrays(y, probabilities)
    if bands < 1:
        raise ValueError("bands must be at least 1")
    n = y_arr.size
    if n == 0:
        return []
    order = np.argsort(-p_arr, kind="mergesort")
    p_sorted, y_sorted = p_arr[order], y_arr[order]
    starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    band = np.minimum(run_start * bands // n, bands - 1)
    out = []
    for b in range(bands):
        members = np.flatnonzero(band == b)
        if not members.size:
            continue
        conversions = int(y_sorted[members].sum())
        out.append(
            ScoreBand(
                top_from=float(members[0] / n),
                top_to=float((members[-1] + 1) / n),
                low=float(p_sorted[members].min()),
                high=float(p_sorted[members].max()),
                count=int(members.size),
                conversions=conversions,
                conversion_rate=conversions / members.size,
                mean_predicted=float(p_sorted[members].mean()),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Quality:
    """What ``leadscore train`` prints for one model on held-out outcomes: ranking (AUC with its
    95% DeLong interval), calibration (ECE), the top decile's lift and conversion by score band."""

    n: int
    positives: int
    auc: float
    auc_low: float
    auc_high: float
    ece: float
    lift_at_10: float
    bands: tuple[ScoreBand, ...]

    @property
    def base_rate(self) -> float:
        return self.positives / self.n if self.n else float("nan")

    def summary(self) -> dict[str, Any]:
        """The headline figures as plain JSON-able numbers (saved in the model's info)."""
        return {
            "n": self.n,
            "positives": self.positives,
            "auc": self.auc,
            "auc_95": [self.auc_low, self.auc_high],
            "ece": self.ece,
            "lift_at_10": self.lift_at_10,
        }


def quality(y: ArrayLike, probabilities: ArrayLike, bands: int = 10) -> Quality:
    """The :class:`Quality` of calibrated ``probabilities`` against outcomes ``y``."""
    y_arr, p_arr = _arrays(y, probabilities)
    low, high = auc_interval(y_arr, p_arr)
    return Quality(
        n=int(y_arr.size),
        positives=int(y_arr.sum()),
        auc=roc_auc(y_arr, p_arr),
        auc_low=low,
        auc_high=high,
        ece=expected_calibration_error(y_arr, p_arr),
        lift_at_10=lift_at(y_arr, p_arr, 0.1),
        bands=tuple(score_bands(y_arr, p_arr, bands)),
    )
