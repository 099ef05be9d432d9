"""The leakage check: inputs that separate the outcomes almost perfectly are probably not causes.

A field a sales rep fills in while closing ("Tags: Closed by Horizzon", "Lead Quality: Worst"),
or a timestamp set on conversion, predicts the outcome because it *records* it. A model trained
on it looks superb offline and is useless on new leads, where the field is still blank. Two
statistics catch the usual cases, each computed per input (lead field or activity type) on its
own, before any model is trained:

* **single-input ROC AUC**, with the direction that makes it highest. Categories are
  target-encoded *out of fold* (5 folds, smoothed toward the base rate) so an identifier with one
  value per lead scores ~0.5 instead of a memorised 1.0. Numbers are ranked with missing values
  placed lowest and highest, and the better of the two is kept. Activities: the better of count
  and recency.
* **purity**: values held by at least ``min_level_count`` leads that are at least ``purity`` one
  class, where even the upper end of the 95% (Wilson) interval of the other class's rate is at
  most a quarter of that class's overall rate (so chance purity of small values, common when
  one class is rare, does not count), and which together hold at least ``min_class_share`` of
  that class. For numbers the "values" are missing and
  present-in-a-bin; for activities, none and some. This catches fields like ``Tags`` whose AUC
  is merely high but whose values name the outcome for large groups of leads.

On X Education (see ``bench/predictive.py``) it flags ``Tags`` (values that are 97%+ one class
hold 50% of the non-converted leads) and ``Lead Quality`` ("Worst": 98% not converted, 10% of
them), and nothing the README calls honest: the purest honest value, ``Lead Source = Welingak
Website`` (98.6% converted), holds 3.9% of the converted leads.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.config import FeatureSettings, LeakageSettings
from leadscore.agent.predictive.dataset import TrainingSet
from leadscore.agent.predictive.evaluation import roc_auc
from leadscore.agent.predictive.features import (
    MISSING,
    activity_arrays,
    activity_input_name,
    candidate_inputs,
    field_numbers,
    field_texts,
    profile_field,
    quantile_edges,
)
from leadscore.agent.predictive.splits import stratified_folds

_SMOOTHING = 10.0


@dataclass(frozen=True, slots=True)
class PureValue:
    value: str
    count: int
    #: The share of these leads in the class they are pure for.
    purity: float


@dataclass(frozen=True, slots=True)
class InputCheck:
    """The statistics of one input, flagged or not (a report lists them all)."""

    name: str
    auc: float
    #: "converted" or "not converted": the class the pure values are pure for (None: none).
    pure_class: str | None
    class_share: float
    pure_values: tuple[PureValue, ...]
    flagged_by: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        return bool(self.flagged_by)

    def describe(self) -> str:
        reasons = []
        if "auc" in self.flagged_by:
            reasons.append(f"single-input AUC {self.auc:.3f}")
        if "purity" in self.flagged_by:
            examples = ", ".join(f"{v.value!r} {v.purity:.1%} of {v.count}" for v in self.pure_values[:3])
            more = f" and {len(self.pure_values) - 3} more" if len(self.pure_values) > 3 else ""
            reasons.append(
                f"values that are almost always {self.pure_class} hold {self.class_share:.0%} of the {self.pure_class} leads "
                f"({examples}{more}); AUC {self.auc:.3f}"
            )
        return f"{self.name}: {'; '.join(reasons)}"


LeakageFinding = InputCheck


@dataclass(frozen=True)
class LeakageReport:
    checks: tuple[InputCheck, ...]
    #: Excluded names that matched no field or activity type (a typo excludes nothing).
    unmatched_exclusions: tuple[str, ...] = ()

    @property
    def findings(self) -> tuple[InputCheck, ...]:
        return tuple(c for c in self.checks if c.flagged)

    @property
    def flagged_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.findings)


def check_leakage(
    data: TrainingSet,
    exclude: Iterable[str] = (),
    settings: LeakageSettings | None = None,
    feature_settings: FeatureSettings | None = None,
    seed: int = 0,
) -> LeakageReport:
    """Check every input the model would learn from (what is not excluded and not dropped as
    constant or identifier-like). Findings are sorted worst first."""
    settings = settings or LeakageSettings()
    feature_settings = feature_settings or FeatureSettings()
    excluded = set(exclude) | set(data.always_excluded)
    fields, kinds, unmatched = candidate_inputs(data.snapshots, excluded)
    unmatched = [u for u in unmatched if u not in data.always_excluded]
    y = data.y.astype(np.int64)
    checks: list[InputCheck] = []
    if len(np.unique(y)) < 2:
        return LeakageReport((), tuple(unmatched))
    folds = stratified_folds(y, 5, seed)
    for name in fields:
        profile = profile_field(data.snapshots, name, feature_settings)
        if profile.dropped is not None:
            continue
        if profile.kind == "numeric":
            numbers, missing = field_numbers(data.snapshots, name)
            auc = _numeric_auc(y, numbers)
            levels = _numeric_levels(numbers)
        else:
            texts = field_texts(data.snapshots, name)
            spelling: dict[str, str] = {}
            for t in texts:
                if t is not None:
                    spelling.setdefault(t.casefold(), t)
            # Grouped ignoring case (as the engine compares), shown as first written.
            levels = [MISSING if t is None else spelling[t.casefold()] for t in texts]
            auc = _directionless(roc_auc(y, _out_of_fold_encoding(levels, y, folds)))
        checks.append(_check(name, auc, levels, y, settings))
    for kind in kinds:
        counts, recency = activity_arrays(data.snapshots, kind)
        auc = max(_directionless(roc_auc(y, counts)), _numeric_auc(y, recency))
        levels = ["none" if c == 0 else "some" for c in counts]
        checks.append(_check(activity_input_name(kind), auc, levels, y, settings))
    checks.sort(key=lambda c: (not c.flagged, -max(c.auc, c.class_share)))
    return LeakageReport(tuple(checks), tuple(unmatched))


def _directionless(auc: float) -> float:
    return float("nan") if np.isnan(auc) else max(auc, 1.0 - auc)


def _numeric_auc(y: NDArray[np.int64], values: NDArray[np.float64]) -> float:
    """AUC of a number with missing values ranked lowest, then highest; the best of either
    direction of either."""
    if np.isnan(values).all():
        return 0.5
    low = np.where(np.isnan(values), -np.inf, values)
    high = np.where(np.isnan(values), np.inf, values)
    return max(_directionless(roc_auc(y, low)), _directionless(roc_auc(y, high)))


def _numeric_levels(values: NDArray[np.float64]) -> list[str]:
    """Missing, each distinct value when there are at most 20, else decile bins."""
    distinct = np.unique(values[~np.isnan(values)])
    if distinct.size <= 20:
        return [MISSING if np.isnan(v) else f"{v:g}" for v in values]
    edges = np.asarray(quantile_edges(values, 10))
    index = np.searchsorted(edges, values, side="right")
    names = [f"< {edges[0]:g}"] + [f"{a:g} to {b:g}" for a, b in zip(edges, edges[1:])] + [f">= {edges[-1]:g}"] if edges.size else ["all"]
    return [MISSING if np.isnan(v) else names[i] for v, i in zip(values, index)]


def _out_of_fold_encoding(levels: Sequence[str], y: NDArray[np.int64], folds: list[tuple[NDArray[np.int64], NDArray[np.int64]]]) -> NDArray[np.float64]:
    """Each lead's value replaced by the conversion rate of that value in the *other* folds,
    smoothed toward the base rate: memorising an identifier earns nothing."""
    encoded = np.empty(len(levels), dtype=np.float64)
    for train, valid in folds:
        prior = float(y[train].mean())
        sums: dict[str, float] = defaultdict(float)
        counts: Counter[str] = Counter()
        for i in train:
            sums[levels[i]] += float(y[i])
            counts[levels[i]] += 1
        for i in valid:
            n = counts.get(levels[i], 0)
            encoded[i] = (sums.get(levels[i], 0.0) + _SMOOTHING * prior) / (n + _SMOOTHING)
    return encoded


def _wilson_upper(successes: int, trials: int, z: float = 1.96) -> float:
    """Upper end of the 95% Wilson interval of a rate: how frequent the *other* class could
    still be in a value. A value of 40 leads with no conversion when 2.5% convert is chance,
    not leakage; 600 leads with 2% when 38% convert is not."""
    if trials == 0:
        return 1.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return (centre + spread) / (1 + z * z / trials)


def _check(name: str, auc: float, levels: Sequence[str], y: NDArray[np.int64], settings: LeakageSettings) -> InputCheck:
    n = len(levels)
    base = float(y.mean())
    totals: Counter[str] = Counter(levels)
    positives: Counter[str] = Counter(level for level, label in zip(levels, y) if label == 1)
    best: tuple[float, str, list[PureValue]] = (0.0, "", [])
    total_positives = int(y.sum())
    for cls, base_rate, class_total in (("converted", base, total_positives), ("not converted", 1.0 - base, n - total_positives)):
        pure: list[PureValue] = []
        held = 0
        for level, count in totals.items():
            if count < settings.min_level_count:
                continue
            members = positives[level] if cls == "converted" else count - positives[level]
            rate = members / count
            if rate >= settings.purity and _wilson_upper(count - members, count) <= 0.25 * (1.0 - base_rate):
                pure.append(PureValue(level, count, rate))
                held += members
        share = held / class_total if class_total else 0.0
        if share > best[0]:
            best = (share, cls, sorted(pure, key=lambda v: -v.count))
    share, cls, pure = best
    flagged: list[str] = []
    if not np.isnan(auc) and auc >= settings.max_auc:
        flagged.append("auc")
    if share >= settings.min_class_share:
        flagged.append("purity")
    return InputCheck(
        name=name,
        auc=float(auc),
        pure_class=cls or None,
        class_share=float(share),
        pure_values=tuple(pure),
        flagged_by=tuple(flagged),
    )
