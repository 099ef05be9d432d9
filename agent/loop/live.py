"""The champion against the live challenger, on outcomes that arrived after the challenger
started, and the stage thresholds those outcomes suggest.

**Which scores are compared.** For each record with a decided outcome (converted or won: 1; lost
or disqualified: 0) that occurred after the challenger's first shadow score, the champion's score
is the last one written to the CRM strictly before the outcome (``score_history``), the
challenger's the last shadow score strictly before it. So both are what each model said while the
outcome was still unknown - nothing either saw is later than the outcome - and both scored the same
records at the same instants (the sync shadow-scores what it scores). A record's first decided
outcome counts once. Records either side never scored before their outcome are counted and left out.

**The verdict.** No verdict before ``min_outcomes`` of each class. Then the challenger wins when the
lower end of the 95% interval of the paired AUC difference (DeLong) reaches ``promote_margin``: it
is better with confidence, not merely ahead. ``promote = "auto"`` promotes on that verdict.

**Thresholds.** Conversion by band of the champion's score before each decided outcome (all of
them, not only the live ones) and, per stage above the first, the lowest score at which the
records at or above it converted at the stage's target lift over the base rate, with at least
``min_outcomes`` records above. The targets spread the stages evenly (in log-lift) between the base
rate and the best rate any threshold reaches: with ``k`` stages above the first, stage ``i``'s
target lift is ``best_lift ** (i / (k + 1))`` - about 2x and 4.6x for MQL and SQL when the best
records convert at 10x the base rate - so the ladder adapts to how well the score separates. The admin accepts them by editing ``[[scoring.stages]]``: a new
scoring model version, logged in the score history of every record it moves.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from leadscore.agent.core.records import utc
from leadscore.agent.loop.training import DECIDED
from leadscore.agent.predictive.challenger import ChallengerComparison, compare_scores
from leadscore.agent.predictive.config import LoopSettings, PredictiveConfig
from leadscore.agent.predictive.evaluation import AucDifference, BandStat, auc_difference, auc_interval, conversion_by_band
from leadscore.agent.scoring.model import Stage
from leadscore.agent.scoring.modelset import model_name
from leadscore.agent.state import ShadowScore, StateStore, StoredOutcome, latest_before


@dataclass(frozen=True)
class Decided:
    """A record's first decided outcome; ``cutoff`` is the instant the models' scores must
    precede (see :func:`cutoff`)."""

    connector: str
    object_type: str
    record_id: str
    converted: bool
    occurred_at: datetime
    cutoff: datetime


def cutoff(outcome: StoredOutcome) -> datetime | None:
    """The instant an outcome was decided by, as far as its date tells: its time, or for a date
    without a time (Salesforce's ``ConvertedDate`` and ``CloseDate`` are days, read as midnight
    UTC) the end of that day or the moment the store first held it, whichever is first - a
    conversion "on the 7th" may have happened at 17:00, after scores given that morning."""
    if outcome.occurred_at is None:
        return None
    at = utc(outcome.occurred_at)
    if (at.hour, at.minute, at.second, at.microsecond) == (0, 0, 0, 0):
        return max(at, min(at + timedelta(days=1), utc(outcome.observed_at)))
    return at


def first_decided(outcomes: Iterable[StoredOutcome], since: datetime | None = None) -> list[Decided]:
    """Each record's earliest dated decided outcome (decided after ``since``, by :func:`cutoff`)."""
    earliest: dict[tuple[str, str], Decided] = {}
    for o in outcomes:
        when = cutoff(o)
        if when is None or o.occurred_at is None or o.kind.value == "open":
            continue
        if since is not None and when <= utc(since):
            continue
        key = (o.object_type, o.record_id)
        held = earliest.get(key)
        if held is None or utc(o.occurred_at) < utc(held.occurred_at):
            earliest[key] = Decided(o.connector, o.object_type, o.record_id, o.kind.positive, utc(o.occurred_at), when)
    return sorted(earliest.values(), key=lambda d: (d.occurred_at, d.record_id))


def _grouped(rows: Sequence[ShadowScore]) -> dict[tuple[str, str], list[ShadowScore]]:
    grouped: dict[tuple[str, str], list[ShadowScore]] = defaultdict(list)
    for row in rows:
        grouped[(row.object_type, row.record_id)].append(row)
    return grouped


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str


@dataclass(frozen=True)
class LiveComparison:
    """Both models on the outcomes decided since the challenger started."""

    challenger_version: str
    started_at: datetime | None
    y: np.ndarray
    champion: np.ndarray
    challenger: np.ndarray
    champion_versions: Mapping[str, int]
    champion_is_probability: bool
    #: Decided outcomes left out, by why.
    skipped: Mapping[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def positives(self) -> int:
        return int(self.y.sum())

    @property
    def negatives(self) -> int:
        return self.n - self.positives

    def difference(self) -> AucDifference:
        """Challenger minus champion, paired."""
        return auc_difference(self.y, self.challenger, self.champion)

    def intervals(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The champion's and the challenger's AUC 95% intervals."""
        if not self.positives or not self.negatives:
            nan = (float("nan"), float("nan"))
            return nan, nan
        return auc_interval(self.y, self.champion), auc_interval(self.y, self.challenger)

    def comparison(self) -> ChallengerComparison | None:
        """The full side-by-side (AUC, Brier, ECE, lift, agreement), once both classes are present."""
        if not self.positives or not self.negatives:
            return None
        return compare_scores(self.y, self.champion, self.challenger, champion_is_probability=self.champion_is_probability,
                              challenger_is_probability=True, versions=(self.champion_version, self.challenger_version))

    @property
    def champion_version(self) -> str:
        return max(self.champion_versions, key=lambda v: self.champion_versions[v]) if self.champion_versions else ""

    def verdict(self, settings: LoopSettings) -> Verdict:
        need = settings.min_outcomes
        if self.positives < need or self.negatives < need:
            return Verdict(False, f"waiting for outcomes: {self.positives} converted and {self.negatives} not since the "
                                  f"challenger started; {need} of each are needed")
        d = self.difference()
        low, high = d.interval
        if math.isnan(low):
            return Verdict(False, "the AUC difference cannot be measured on these outcomes")
        text = (f"challenger AUC {d.auc_a:.3f} vs champion {d.auc_b:.3f}: difference {d.difference:+.3f} "
                f"(95% CI {low:+.3f} to {high:+.3f}) on {self.n} outcomes")
        if low >= settings.promote_margin and d.difference > 0:
            return Verdict(True, f"{text}: better with 95% confidence by at least {settings.promote_margin:g}")
        return Verdict(False, f"{text}: not better with 95% confidence by {settings.promote_margin:g}")

    def summary(self) -> dict[str, Any]:
        d = self.difference() if self.positives and self.negatives else None
        (a_low, a_high), (b_low, b_high) = self.intervals()
        return {
            "challenger": self.challenger_version, "champion": self.champion_version, "n": self.n, "converted": self.positives,
            "champion_auc": d.auc_b if d else None, "challenger_auc": d.auc_a if d else None,
            "champion_auc_95": [a_low, a_high], "challenger_auc_95": [b_low, b_high],
            "difference": d.difference if d else None, "difference_95": list(d.interval) if d else None,
        }


def champion_is_probability(settings: PredictiveConfig | None) -> bool:
    """Whether the score the CRM shows is the champion model's calibrated probability x 100
    (``[predictive.hybrid] write = "predictive"``), rather than points (the rules, a blend)."""
    return bool(settings and settings.model_file and settings.hybrid.write == "predictive")


def live_comparison(
    store: StateStore, connectors: Sequence[str], challenger_version: str, *, champion_is_probability: bool = False
) -> LiveComparison:
    """The champion's written scores and the challenger's shadow scores before each outcome
    decided since the challenger started (see the module docstring)."""
    started = store.shadow_started(None, challenger_version)
    skipped: Counter[str] = Counter()
    y: list[int] = []
    a: list[float] = []
    b: list[float] = []
    versions: Counter[str] = Counter()
    if started is not None:
        for connector in connectors:
            arrived = store.outcomes(connector, kinds=DECIDED, observed_since=started)
            decided = first_decided(arrived, started)
            early = len({(o.object_type, o.record_id) for o in arrived}) - len(decided)
            if early > 0:
                skipped["decided before the challenger started (pulled after)"] += early
            ids = [d.record_id for d in decided]
            shadows = _grouped(store.shadow_score_rows(connector, challenger_version, ids))
            written = _grouped(store.written_score_rows(connector, ids))
            for d in decided:
                key = (d.object_type, d.record_id)
                champion = latest_before(written.get(key, []), d.cutoff)
                challenger = latest_before(shadows.get(key, []), d.cutoff)
                if champion is None or challenger is None:
                    skipped["no score from " + ("either model" if champion is None and challenger is None
                                                else "the champion" if champion is None else "the challenger")
                            + " before the outcome"] += 1
                    continue
                y.append(int(d.converted))
                a.append(champion.score)
                b.append(challenger.score)
                versions[champion.model_version] += 1
    return LiveComparison(challenger_version, started, np.array(y, dtype=np.int64), np.array(a, dtype=np.float64),
                          np.array(b, dtype=np.float64), dict(versions), champion_is_probability, dict(skipped))


# --- thresholds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdSuggestion:
    stage: str
    current: float | None
    suggested: float | None
    #: Conversion of the records at or above each threshold, and how many they were.
    current_rate: float
    current_count: int
    suggested_rate: float
    suggested_count: int
    target_lift: float

    @property
    def why_none(self) -> str:
        """Why no threshold is suggested (when none is)."""
        if not self.target_lift >= MIN_SUGGESTED_LIFT:
            return "the score does not separate converters"
        return "too few outcomes at that lift"


@dataclass(frozen=True)
class Thresholds:
    n: int
    positives: int
    bands: list[BandStat]
    suggestions: list[ThresholdSuggestion]

    @property
    def base_rate(self) -> float:
        return self.positives / self.n if self.n else float("nan")

    def toml(self, stages: Sequence[Stage], table: str = "scoring.stages") -> str:
        """The ``[[scoring.stages]]`` (or a named model's ``[[models.stages]]``) tables with the
        suggested thresholds, to review and paste."""
        by_name = {s.stage: s for s in self.suggestions}
        lines: list[str] = []
        for stage in stages:
            lines.append(f"[[{table}]]")
            lines.append(f'name = "{stage.name}"')
            suggestion = by_name.get(stage.name)
            value = suggestion.suggested if suggestion and suggestion.suggested is not None else stage.min_score
            if value is not None:
                lines.append(f"min_score = {value:g}")
            if stage.requires:
                lines.append("requires = [" + ", ".join(f'"{r}"' for r in stage.requires) + "]")
            lines.append("")
        return "\n".join(lines)


#: Below this target lift a threshold would not tell a stage from the one below it: no suggestion.
MIN_SUGGESTED_LIFT = 1.2


def scores_before_outcomes(
    store: StateStore, connectors: Sequence[str], model: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every decided outcome's label and the champion's written score just before it, when
    ``model`` wrote that score (a named model of ``[[models]]``; None: ``[scoring]``): scores of
    different models are on different scales, so each model's bands and thresholds are its own."""
    y: list[int] = []
    s: list[float] = []
    for connector in connectors:
        decided = first_decided(store.outcomes(connector, kinds=DECIDED))
        written = _grouped(store.written_score_rows(connector, [d.record_id for d in decided]))
        for d in decided:
            row = latest_before(written.get((d.object_type, d.record_id), []), d.cutoff)
            if row is not None and model_name(row.model_version) == model:
                y.append(int(d.converted))
                s.append(row.score)
    return np.array(y, dtype=np.int64), np.array(s, dtype=np.float64)


def suggest_thresholds(y: np.ndarray, scores: np.ndarray, stages: Sequence[Stage], min_count: int = 30) -> Thresholds:
    """Conversion by score band and a threshold per stage (see the module docstring)."""
    n, positives = int(y.size), int(y.sum())
    top = max(100.0, float(scores.max()) if scores.size else 100.0)
    edges = [float(e) for e in np.linspace(0.0, math.ceil(top / 10.0) * 10.0, 11)]
    bands = conversion_by_band(y, scores, edges) if n else []
    base = positives / n if n else float("nan")
    candidates = sorted(set(float(v) for v in scores))

    def above(threshold: float | None) -> tuple[float, int]:
        if threshold is None:
            return (base, n)
        mask = scores >= threshold
        count = int(mask.sum())
        return (float(y[mask].mean()) if count else float("nan"), count)

    reachable = [rate for rate, count in (above(v) for v in candidates) if count >= min_count]
    best_lift = max(reachable) / base if reachable and base > 0 else float("nan")
    above_first = len(stages) - 1
    suggestions: list[ThresholdSuggestion] = []
    for i, stage in enumerate(stages):
        if i == 0:
            continue
        lift = best_lift ** (i / (above_first + 1)) if best_lift == best_lift else float("nan")
        chosen = None
        for value in (candidates if lift >= MIN_SUGGESTED_LIFT else ()):  # a score that does not separate suggests nothing
            rate, count = above(value)
            if count < min_count:
                break
            if rate >= lift * base:
                chosen = value
                break
        current_rate, current_count = above(stage.min_score)
        rate, count = above(chosen) if chosen is not None else (float("nan"), 0)
        suggestions.append(ThresholdSuggestion(stage.name, stage.min_score, chosen, current_rate, current_count, rate, count, lift))
    return Thresholds(n, positives, bands, suggestions)
