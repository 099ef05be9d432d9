"""Champion / challenger: score every lead with the written model and a shadow model, keep both,
and compare them once outcomes are known.

A new model should earn the right to be written to the CRM. Shadowing it scores the same leads
at the same instants as the champion (the one written), without writing anything, so when
outcomes arrive the two can be compared on exactly the same leads: nothing about the population,
the season or the funnel differs between them, only the model.

* :func:`shadow_score` scores leads with both and returns one :class:`ChallengerRecord` per lead
  (lead id, both scores, both versions, the instant). Recording is a function returning records,
  plus :func:`write_challenger_csv` / :func:`read_challenger_csv`, so the state store can persist
  them however it likes.
* :func:`compare_records` (records + outcomes) and :func:`compare_scores` (aligned arrays) give
  each side's AUC, Brier, ECE and lift, and how much the two agree (rank correlation, overlap of
  their top leads, and what happened to the leads only one of them ranks on top: the number that
  decides a promotion).

Brier and ECE need probabilities. A predictive model's score divided by 100 is its calibrated
probability and is evaluated as such; a points score (the rules, a blend) is not a probability,
so it is mapped to one by Platt scaling fitted *out of fold* (:func:`calibrate_out_of_fold`):
each lead's probability comes from a map fitted on the other folds, never on its own outcome.
That measures how well the points *could* be read as probabilities, and is said so in the report.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping, Protocol, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from leadscore.agent.csvfiles import parse_timestamp, safe_cell, unescape_cell
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.predictive.dataset import OutcomeLike
from leadscore.agent.predictive.evaluation import Evaluation, GainsPoint, cumulative_gains, evaluate
from leadscore.agent.predictive.features import snapshots_at
from leadscore.agent.predictive.predictor import PredictiveModel
from leadscore.agent.predictive.splits import stratified_folds
from leadscore.agent.core.records import Activity, Lead, utc

CSV_COLUMNS = ("lead_id", "as_of", "champion_score", "champion_version", "challenger_score", "challenger_version")


@dataclass(frozen=True, slots=True)
class ChallengerRecord:
    """One lead scored by both models at one instant."""

    lead_id: str
    as_of: datetime
    champion_score: int
    champion_version: str
    challenger_score: int
    challenger_version: str

    @property
    def difference(self) -> int:
        return self.challenger_score - self.champion_score


class _Scored(Protocol):
    @property
    def lead_id(self) -> str: ...
    @property
    def score(self) -> int: ...
    @property
    def model_version(self) -> str: ...


class LeadScorer(Protocol):
    """Anything that scores many leads at one instant: :class:`~agent.scoring.ScoringEngine`,
    :class:`~agent.predictive.PredictiveModel`, :class:`~agent.predictive.hybrid.HybridScorer`."""

    def score_all(
        self, leads: Iterable[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None = None
    ) -> Iterable[_Scored]: ...


def shadow_score(
    champion: LeadScorer,
    challenger: LeadScorer,
    leads: Iterable[Lead],
    activities: Mapping[str, Sequence[Activity]],
    as_of: datetime | None = None,
) -> list[ChallengerRecord]:
    """Score ``leads`` with both models at one instant; one record per lead, in lead order."""
    moment = utc(as_of) if as_of is not None else datetime.now(timezone.utc).replace(microsecond=0)
    lead_list = list(leads)
    return records_from_results(
        list(champion.score_all(lead_list, activities, moment)), list(challenger.score_all(lead_list, activities, moment)), moment
    )


def records_from_results(
    champion: Sequence[_Scored], challenger: Sequence[_Scored], as_of: datetime | Sequence[datetime]
) -> list[ChallengerRecord]:
    """Pair two runs' results by lead id (champion order); leads one side lacks are left out.
    ``as_of`` is one instant, or one per champion result (the report scores each lead when its
    outcome happened)."""
    by_id = {r.lead_id: r for r in challenger}
    instants = [as_of] * len(champion) if isinstance(as_of, datetime) else list(as_of)
    if len(instants) != len(champion):
        raise ValueError("one as_of per champion result, or a single instant")
    out = []
    for result, moment in zip(champion, instants):
        other = by_id.get(result.lead_id)
        if other is None:
            continue
        out.append(
            ChallengerRecord(result.lead_id, utc(moment), int(result.score), result.model_version, int(other.score), other.model_version)
        )
    return out


def write_challenger_csv(path: str | Path, records: Iterable[ChallengerRecord]) -> int:
    """Write records as CSV (``CSV_COLUMNS``); returns the number of rows."""
    rows = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for r in records:
            writer.writerow([safe_cell(cell) for cell in (  # no cell a spreadsheet would run as a formula
                r.lead_id, r.as_of.isoformat(), r.champion_score, r.champion_version, r.challenger_score, r.challenger_version
            )])
            rows += 1
    return rows


def read_challenger_csv(path: str | Path) -> list[ChallengerRecord]:
    """Read what :func:`write_challenger_csv` wrote; a malformed row is a :class:`ConfigError`
    naming its line (a half-read comparison would be worse than none)."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            moment = parse_timestamp(row["as_of"])
            try:
                champion, challenger = int(row["champion_score"]), int(row["challenger_score"])
            except (TypeError, ValueError):
                raise ConfigError(f"{path}: line {line}: scores must be whole numbers") from None
            if moment is None or not row["lead_id"]:
                raise ConfigError(f"{path}: line {line}: needs a lead_id and an ISO 8601 as_of")
            out.append(ChallengerRecord(unescape_cell(row["lead_id"]), moment, champion, row["champion_version"], challenger,
                                        row["challenger_version"]))
    return out


# --- probabilities for points scores -------------------------------------------------------------


def _platt(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """Fit ``p = sigmoid(a x + b)`` by Newton's method (a whisper of L2 keeps a perfectly
    separating score finite). numpy only, like :mod:`agent.predictive.evaluation`."""
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    a, b = 0.0, math.log(rate / (1 - rate))
    ridge = 1e-4
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * x + b, -35, 35)))
        w = p * (1 - p)
        g_a = float(np.dot(p - y, x)) + ridge * a
        g_b = float(np.sum(p - y))
        h_aa = float(np.dot(w, x * x)) + ridge
        h_ab = float(np.dot(w, x))
        h_bb = float(np.sum(w)) + 1e-12
        det = h_aa * h_bb - h_ab * h_ab
        if det <= 0:
            break
        step_a = (h_bb * g_a - h_ab * g_b) / det
        step_b = (h_aa * g_b - h_ab * g_a) / det
        a, b = a - step_a, b - step_b
        if abs(step_a) < 1e-10 and abs(step_b) < 1e-10:
            break
    return a, b


def calibrate_out_of_fold(scores: ArrayLike, y: ArrayLike, folds: int = 5, seed: int = 0) -> NDArray[np.float64]:
    """Probabilities for a points score: Platt scaling fitted on the other folds (stratified),
    applied to each fold. A fold whose training part has one class gets that part's rate."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(y, dtype=np.float64).ravel()
    out = np.full(s.size, float(labels.mean()) if labels.size else float("nan"))
    if s.size < 4 or len(np.unique(labels)) < 2:
        return out
    scale = float(s.std()) or 1.0
    x = (s - float(s.mean())) / scale
    for train, valid in stratified_folds(labels.astype(np.int64), folds, seed):
        if len(np.unique(labels[train])) < 2:
            out[valid] = labels[train].mean()
            continue
        a, b = _platt(x[train], labels[train])
        out[valid] = 1.0 / (1.0 + np.exp(-np.clip(a * x[valid] + b, -35, 35)))
    return out


# --- live shadow scoring ---------------------------------------------------------------------


@dataclass(frozen=True)
class ShadowModel:
    """A saved model as the sync's live challenger: its calibrated probability x 100 for each lead,
    computed in one batch, to three decimals - not rounded to the whole percent a written score
    is, since at a low base rate most leads would tie at 0 or 1 and the comparison could not see
    its ranking. No reasons: nothing it says reaches the CRM."""

    model: PredictiveModel

    @property
    def version(self) -> str:
        return self.model.version

    def scores(self, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime) -> list[float]:
        snapshots = snapshots_at(leads, activities, utc(as_of))
        if not snapshots:
            return []
        return [round(float(p) * 100.0, 3) for p in self.model.probabilities(snapshots)]


# --- comparing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SideEvaluation:
    """One model's numbers on the compared leads."""

    name: str
    version: str
    #: True when score / 100 is the model's own calibrated probability.
    is_probability: bool
    scores: NDArray[np.float64]
    probabilities: NDArray[np.float64]
    evaluation: Evaluation
    gains: tuple[GainsPoint, ...]

    @property
    def top_decile_lift(self) -> float:
        """Conversion rate of the top 10% by score over the overall rate."""
        return self.gains[0].lift if self.gains else float("nan")


@dataclass(frozen=True)
class Agreement:
    """How alike the two rankings are, and who was right where they differ."""

    #: Spearman rank correlation of the two scores (1: the same order).
    rank_correlation: float
    #: The share of leads each side calls "top" (its highest scores).
    top_share: float
    top_count: int
    #: The share of the champion's top leads that are also the challenger's.
    top_overlap: float
    both_top_conversion: float
    #: Leads only the champion ranks on top, and how many of them converted.
    champion_only_count: int
    champion_only_conversions: int
    challenger_only_count: int
    challenger_only_conversions: int
    #: Mean absolute difference of the two probabilities, x 100 (points of probability).
    mean_abs_probability_difference: float

    @property
    def champion_only_rate(self) -> float:
        return self.champion_only_conversions / self.champion_only_count if self.champion_only_count else float("nan")

    @property
    def challenger_only_rate(self) -> float:
        return self.challenger_only_conversions / self.challenger_only_count if self.challenger_only_count else float("nan")


@dataclass(frozen=True)
class ChallengerComparison:
    n: int
    positives: int
    champion: SideEvaluation
    challenger: SideEvaluation
    agreement: Agreement
    #: Records left out because their lead has no outcome yet.
    without_outcome: int = 0

    @property
    def winner(self) -> str | None:
        """The side with the higher AUC, or None when they tie within 0.005 (or cannot be told)."""
        a, b = self.champion.evaluation.auc, self.challenger.evaluation.auc
        if math.isnan(a) or math.isnan(b) or abs(a - b) < 0.005:
            return None
        return "challenger" if b > a else "champion"


def _average_ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]]) if values.size else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], values.size]
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def rank_correlation(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman's rho (Pearson correlation of average ranks); NaN when either is constant."""
    x = _average_ranks(np.asarray(a, dtype=np.float64).ravel())
    z = _average_ranks(np.asarray(b, dtype=np.float64).ravel())
    if x.size < 2 or x.std() == 0 or z.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, z)[0, 1])


def _top(scores: NDArray[np.float64], count: int) -> NDArray[np.bool_]:
    """The ``count`` highest scores (ties broken by input order, as the gains curve does)."""
    mask = np.zeros(scores.size, dtype=bool)
    mask[np.argsort(-scores, kind="mergesort")[:count]] = True
    return mask


def _side(name: str, version: str, y: NDArray[np.int64], scores: NDArray[np.float64], is_probability: bool, seed: int) -> SideEvaluation:
    probabilities = np.clip(scores / 100.0, 0.0, 1.0) if is_probability else calibrate_out_of_fold(scores, y, seed=seed)
    return SideEvaluation(
        name, version, is_probability, scores, probabilities, evaluate(y, probabilities, scores), tuple(cumulative_gains(y, scores, 10))
    )


def compare_scores(
    y: ArrayLike,
    champion: ArrayLike,
    challenger: ArrayLike,
    *,
    champion_is_probability: bool = False,
    challenger_is_probability: bool = True,
    names: tuple[str, str] = ("champion", "challenger"),
    versions: tuple[str, str] = ("", ""),
    top_share: float = 0.2,
    seed: int = 0,
) -> ChallengerComparison:
    """Compare two aligned score arrays on outcomes ``y`` (1 converted)."""
    labels = np.asarray(y, dtype=np.int64).ravel()
    a = np.asarray(champion, dtype=np.float64).ravel()
    b = np.asarray(challenger, dtype=np.float64).ravel()
    if not (labels.size == a.size == b.size):
        raise ValueError("outcomes and both score arrays must have one length")
    if not 0 < top_share < 1:
        raise ValueError("top_share must be between 0 and 1")
    left = _side(names[0], versions[0], labels, a, champion_is_probability, seed)
    right = _side(names[1], versions[1], labels, b, challenger_is_probability, seed)
    count = max(1, int(math.ceil(top_share * labels.size))) if labels.size else 0
    top_a, top_b = _top(a, count), _top(b, count)
    both = top_a & top_b
    only_a, only_b = top_a & ~top_b, top_b & ~top_a
    agreement = Agreement(
        rank_correlation=rank_correlation(a, b),
        top_share=top_share,
        top_count=count,
        top_overlap=float(both.sum() / count) if count else float("nan"),
        both_top_conversion=float(labels[both].mean()) if both.any() else float("nan"),
        champion_only_count=int(only_a.sum()),
        champion_only_conversions=int(labels[only_a].sum()),
        challenger_only_count=int(only_b.sum()),
        challenger_only_conversions=int(labels[only_b].sum()),
        mean_abs_probability_difference=float(np.mean(np.abs(left.probabilities - right.probabilities)) * 100) if labels.size else float("nan"),
    )
    return ChallengerComparison(int(labels.size), int(labels.sum()), left, right, agreement)


def compare_records(
    records: Iterable[ChallengerRecord],
    outcomes: Mapping[str, bool] | Iterable[OutcomeLike],
    *,
    champion_is_probability: bool = False,
    challenger_is_probability: bool = True,
    top_share: float = 0.2,
    seed: int = 0,
) -> ChallengerComparison:
    """Compare recorded scores on outcomes (``{lead_id: converted}`` or outcome objects; a
    conversion wins over a loss for a lead with several). Records without an outcome are
    counted in ``without_outcome`` and left out. The versions shown are the most frequent ones
    (a long shadow run can span retrains)."""
    labels: dict[str, bool] = {}
    if isinstance(outcomes, Mapping):
        labels = {str(k): bool(v) for k, v in outcomes.items()}
    else:
        for o in outcomes:
            labels[o.lead_id] = labels.get(o.lead_id, False) or bool(o.converted)
    all_records = list(records)
    kept = [r for r in all_records if r.lead_id in labels]
    without = len(all_records) - len(kept)
    y = np.array([labels[r.lead_id] for r in kept], dtype=np.int64)
    comparison = compare_scores(
        y,
        [r.champion_score for r in kept],
        [r.challenger_score for r in kept],
        champion_is_probability=champion_is_probability,
        challenger_is_probability=challenger_is_probability,
        versions=(_most_common(r.champion_version for r in kept), _most_common(r.challenger_version for r in kept)),
        top_share=top_share,
        seed=seed,
    )
    return ChallengerComparison(comparison.n, comparison.positives, comparison.champion, comparison.challenger, comparison.agreement, without)


def _most_common(values: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else ""
