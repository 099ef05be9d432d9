"""Learned points: a credit-scorecard style points model, emitted as ``[scoring]`` rules.

The admin keeps the rules engine (transparent, editable, no model file in production) but lets
the outcomes set the points. From the same training set:

1. every input is binned: numeric fields into quantile bins (edges rounded to readable values,
   whole numbers for whole-number fields) plus "missing"; category fields into their common
   values plus "other" and "missing"; each activity type into count bins (0, 1, 2-3, 4-7, 8+)
   and recency windows (within 7 / 30 / 90 days);
2. a regularised logistic regression is fitted on the one-hot bins (L2 strength by inner CV);
3. each bin's coefficient, relative to its input's reference bin (the most common value for a
   field; no activity for an activity type), becomes whole points:
   ``points = round((coef - coef_ref) * factor)`` with ``factor = PDO / ln 2``, so ``PDO``
   points (20 by default) double the odds of converting. (Credit scorecards write ``-coef``
   because they model default; here the modelled event, converting, is the good one.)

:meth:`Scorecard.to_toml` writes the bins that earn points as ``[[scoring.rules]]`` the engine
runs unchanged: fit rules with ``equals`` / ``missing`` / ``gte`` + ``lt`` / ``all`` + ``not in``
on the canonical or ``custom.`` field; engagement rules with ``tiers`` + ``max_occurrences`` for
count bins (the tiers are the step-to-step differences, so the engine's running sum is the bin's
points) and ``lookback_days`` + ``max_occurrences = 1`` for recency windows (nested windows whose
points add up to each window's). The engine's score of a lead equals :meth:`Scorecard.points` of
its snapshot, which is what the reported AUC is computed from.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.config import PredictiveConfig, ScorecardSettings
from leadscore.agent.predictive.dataset import TrainingSet
from leadscore.agent.predictive.evaluation import roc_auc
from leadscore.agent.predictive.features import (
    CategoricalInput,
    Snapshot,
    fit_categorical,
    activity_arrays,
    candidate_inputs,
    field_numbers,
    humanise,
    profile_field,
    text_key,
)
from leadscore.agent.predictive.models import Calibrator, logit_log_loss
from leadscore.agent.predictive.splits import Fold
from leadscore.agent.scoring.engine import round_points


def _nice(value: float, whole: bool) -> float:
    """A readable bin edge: whole numbers for whole-number fields, else two significant digits."""
    if whole:
        return float(math.ceil(value))
    if value == 0:
        return 0.0
    digits = 1 - int(math.floor(math.log10(abs(value))))
    return float(round(value, digits))


def _fmt(value: float) -> str:
    return f"{int(value)}" if float(value).is_integer() else f"{value:g}"


# --- binned variables --------------------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    """One input, binned. ``assign`` gives each snapshot its bin (-1: no bin, earns nothing,
    as with a non-number in a numeric field, which no engine rule matches either)."""

    name: str
    bin_labels: tuple[str, ...]
    reference: int

    def assign(self, snapshots: Sequence[Snapshot]) -> NDArray[np.int64]:
        raise NotImplementedError

    def rules(self, points: Sequence[int], prefix: str) -> list[dict[str, Any]]:
        raise NotImplementedError


@dataclass(frozen=True)
class CategoricalVariable(Variable):
    source: CategoricalInput | None = None

    @classmethod
    def build(cls, source: CategoricalInput) -> CategoricalVariable:
        labels = [*source.labels] + (["other"] if source.has_other else []) + (["missing"] if source.has_missing else [])
        return cls(source.name, tuple(labels), 0, source)

    def assign(self, snapshots: Sequence[Snapshot]) -> NDArray[np.int64]:
        src = self.source
        assert src is not None
        position = {k: i for i, k in enumerate(src.keys)}
        other = len(src.keys) if src.has_other else -1
        missing = len(src.keys) + src.has_other if src.has_missing else -1
        out = np.empty(len(snapshots), dtype=np.int64)
        for row, snap in enumerate(snapshots):
            key = text_key(snap.fields.get(self.name))
            out[row] = missing if key is None else position.get(key, other)
        return out

    def rules(self, points: Sequence[int], prefix: str) -> list[dict[str, Any]]:
        src = self.source
        assert src is not None
        out = []
        title = humanise(self.name)
        for i, label in enumerate(self.bin_labels):
            if points[i] == 0:
                continue
            if i < len(src.keys):
                condition: dict[str, Any] = {"field": self.name, "equals": src.labels[i]}
                text = f"{title}: {label}"
            elif label == "other":
                condition = {
                    "all": [
                        {"field": self.name, "exists": True},
                        {"not": {"field": self.name, "in": list(src.labels)}},
                    ]
                }
                text = f"{title}: other value"
            else:
                condition = {"field": self.name, "missing": True}
                text = f"{title}: missing"
            out.append({"kind": "fit", "id": _rule_id(prefix, self.name, label), "label": _label(text), **condition, "points": points[i]})
        return out


@dataclass(frozen=True)
class NumericVariable(Variable):
    edges: tuple[float, ...] = ()
    has_missing: bool = False

    @classmethod
    def build(cls, name: str, snapshots: Sequence[Snapshot], bins: int) -> NumericVariable:
        numbers, missing = field_numbers(snapshots, name)
        present = numbers[~np.isnan(numbers)]
        whole = bool(present.size) and bool(np.all(present == np.round(present)))
        edges: list[float] = []
        if present.size and bins >= 2:
            for q in np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]):
                e = _nice(float(q), whole)
                if e > present.min() and (not edges or e > edges[-1]):
                    edges.append(e)
        labels = _range_labels(edges) + (["missing"] if missing.any() else [])
        counts = np.bincount(np.searchsorted(np.asarray(edges), present, side="right"), minlength=len(edges) + 1)
        reference = int(np.argmax(counts)) if present.size else 0
        if missing.any() and missing.sum() > counts.max(initial=0):
            reference = len(edges) + 1
        return cls(name, tuple(labels), reference, tuple(edges), bool(missing.any()))

    def assign(self, snapshots: Sequence[Snapshot]) -> NDArray[np.int64]:
        numbers, missing = field_numbers(snapshots, self.name)
        index = np.searchsorted(np.asarray(self.edges), np.nan_to_num(numbers), side="right").astype(np.int64)
        index = np.where(np.isnan(numbers), -1, index)
        if self.has_missing:
            index = np.where(missing, len(self.edges) + 1, index)
        return index

    def rules(self, points: Sequence[int], prefix: str) -> list[dict[str, Any]]:
        out = []
        title = humanise(self.name)
        n = len(self.edges)
        for i, label in enumerate(self.bin_labels):
            if points[i] == 0:
                continue
            condition: dict[str, Any] = {"field": self.name}
            if i == n + 1:
                condition["missing"] = True
            else:
                if i > 0:
                    condition["gte"] = self.edges[i - 1]
                if i < n:
                    condition["lt"] = self.edges[i]
            out.append({"kind": "fit", "id": _rule_id(prefix, self.name, label), "label": _label(f"{title}: {label}"), **condition, "points": points[i]})
        return out


def _range_labels(edges: Sequence[float]) -> list[str]:
    if not edges:
        return ["any value"]
    labels = [f"under {_fmt(edges[0])}"]
    labels += [f"{_fmt(a)} to under {_fmt(b)}" for a, b in zip(edges, edges[1:])]
    labels.append(f"{_fmt(edges[-1])} or more")
    return labels


@dataclass(frozen=True)
class CountVariable(Variable):
    """Activities of one type before the snapshot: 0 (reference), then bins from ``edges``."""

    edges: tuple[int, ...] = ()

    @classmethod
    def build(cls, kind: str, snapshots: Sequence[Snapshot], edges: Sequence[int]) -> CountVariable:
        counts, _ = activity_arrays(snapshots, kind)
        top = int(counts.max()) if counts.size else 0
        kept = tuple(e for e in sorted(set(int(e) for e in edges)) if 1 <= e <= max(1, top))
        if not kept or kept[0] != 1:
            kept = (1, *kept)
        labels = ["none"] + [f"{a}" if b == a + 1 else f"{a}-{b - 1}" for a, b in zip(kept, kept[1:])] + [f"{kept[-1]}+"]
        return cls(kind, tuple(labels), 0, kept)

    def assign(self, snapshots: Sequence[Snapshot]) -> NDArray[np.int64]:
        counts, _ = activity_arrays(snapshots, self.name)
        return np.searchsorted(np.asarray(self.edges), counts, side="right").astype(np.int64)

    def rules(self, points: Sequence[int], prefix: str) -> list[dict[str, Any]]:
        # tiers[k-1] = points(bin of k) - points(bin of k-1): the engine's running sum over the
        # newest occurrences then equals the bin's points; max_occurrences stops at the last bin.
        last = self.edges[-1]
        tiers = []
        for k in range(1, last + 1):
            now = points[int(np.searchsorted(self.edges, k, side="right"))]
            before = points[int(np.searchsorted(self.edges, k - 1, side="right"))]
            tiers.append(now - before)
        if not any(tiers):
            return []
        return [
            {
                "kind": "engagement",
                "id": _rule_id(prefix, self.name, "count"),
                "label": _label(f"{humanise(self.name)} (learned count bins {', '.join(self.bin_labels[1:])})"),
                "activity": self.name,
                "tiers": tiers,
                "max_occurrences": last,
            }
        ]


@dataclass(frozen=True)
class RecencyVariable(Variable):
    """Days since the newest activity of one type: within each window, else (reference)."""

    windows: tuple[float, ...] = ()

    @classmethod
    def build(cls, kind: str, windows: Sequence[float]) -> RecencyVariable:
        kept = tuple(sorted(set(float(w) for w in windows)))
        labels = [f"within {_fmt(w)} days" for w in kept] + ["older or none"]
        return cls(kind, tuple(labels), len(kept), kept)

    def assign(self, snapshots: Sequence[Snapshot]) -> NDArray[np.int64]:
        _, recency = activity_arrays(snapshots, self.name)
        # The engine's lookback counts an activity when its age <= lookback_days.
        index = np.searchsorted(np.asarray(self.windows), np.nan_to_num(recency, nan=np.inf), side="left")
        return index.astype(np.int64)

    def rules(self, points: Sequence[int], prefix: str) -> list[dict[str, Any]]:
        out = []
        n = len(self.windows)
        for i in range(n - 1, -1, -1):  # widest window first: it carries the base of the nest
            delta = points[i] - (points[i + 1] if i + 1 < n else 0)
            if delta == 0:
                continue
            out.append(
                {
                    "kind": "engagement",
                    "id": _rule_id(prefix, self.name, f"within_{_fmt(self.windows[i])}d"),
                    "label": _label(f"{humanise(self.name)} within {_fmt(self.windows[i])} days"),
                    "activity": self.name,
                    "points": delta,
                    "max_occurrences": 1,
                    "lookback_days": self.windows[i],
                }
            )
        return out


def _label(text: str) -> str:
    return text if len(text) <= 120 else text[:119] + "\u2026"


def _rule_id(prefix: str, name: str, label: str) -> str:
    """``learned.lead_source.google``: letters, digits, ``_`` and ``.`` only (the engine's id rule)."""

    def slug(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_") or "x"

    return f"{prefix}.{slug(name.removeprefix('custom.'))}.{slug(label)}"[:100]


def build_variables(snapshots: Sequence[Snapshot], exclude: Sequence[str], config: PredictiveConfig) -> list[Variable]:
    fields, kinds, _ = candidate_inputs(snapshots, exclude)
    settings = config.scorecard
    out: list[Variable] = []
    for name in fields:
        profile = profile_field(snapshots, name, config.features)
        if profile.dropped is not None:
            continue
        if profile.kind == "numeric":
            out.append(NumericVariable.build(name, snapshots, settings.numeric_bins))
        else:
            source = fit_categorical(snapshots, name, config.features)
            variable = CategoricalVariable.build(source)
            counts = np.bincount(variable.assign(snapshots) + 1, minlength=len(variable.bin_labels) + 1)[1:]
            out.append(CategoricalVariable(variable.name, variable.bin_labels, int(np.argmax(counts)), source))
    for kind in kinds:
        out.append(CountVariable.build(kind, snapshots, settings.count_edges))
        if settings.recency_windows_days:
            out.append(RecencyVariable.build(kind, settings.recency_windows_days))
    return out


def _design(variables: Sequence[Variable], snapshots: Sequence[Snapshot]) -> tuple[NDArray[np.float64], list[NDArray[np.int64]]]:
    assigned = [v.assign(snapshots) for v in variables]
    width = sum(len(v.bin_labels) for v in variables)
    X = np.zeros((len(snapshots), width), dtype=np.float64)
    offset = 0
    rows = np.arange(len(snapshots))
    for v, idx in zip(variables, assigned):
        ok = idx >= 0
        X[rows[ok], offset + idx[ok]] = 1.0
        offset += len(v.bin_labels)
    return X, assigned


def _fit_bins(X: NDArray[np.float64], y: NDArray[np.integer], C: float) -> tuple[NDArray[np.float64], float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, solver="newton-cholesky", max_iter=200, tol=1e-6).fit(X, y)
    return model.coef_.ravel(), float(model.intercept_[0])


def _to_points(variables: Sequence[Variable], coef: NDArray[np.float64], factor: float) -> list[list[int]]:
    out = []
    offset = 0
    for v in variables:
        block = coef[offset : offset + len(v.bin_labels)]
        out.append([round_points((b - block[v.reference]) * factor) for b in block])
        offset += len(v.bin_labels)
    return out


def _sum_points(points: Sequence[Sequence[int]], assigned: Sequence[NDArray[np.int64]], n: int) -> NDArray[np.int64]:
    total = np.zeros(n, dtype=np.int64)
    for pts, idx in zip(points, assigned):
        table = np.asarray(list(pts) + [0], dtype=np.int64)  # index -1 -> the appended 0
        total += table[idx]
    return total


# --- the scorecard -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scorecard:
    variables: tuple[Variable, ...]
    points: tuple[tuple[int, ...], ...]
    factor: float
    #: Points -> probability: ``1 / (1 + exp(-(a * points + b)))``, fitted out of fold.
    calibrator: Calibrator
    settings: ScorecardSettings
    info: Mapping[str, Any] = field(default_factory=dict)

    def score(self, snapshots: Sequence[Snapshot]) -> NDArray[np.int64]:
        """Total points per snapshot: what the engine gives with :meth:`to_toml`'s rules."""
        assigned = [v.assign(snapshots) for v in self.variables]
        return _sum_points(self.points, assigned, len(snapshots))

    def probabilities(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        return self.calibrator(self.score(snapshots).astype(np.float64))

    def score_for_probability(self, p: float) -> float | None:
        """The points at which the calibrated conversion probability reaches ``p``."""
        if self.calibrator.method != "sigmoid" or self.calibrator.a <= 0:
            return None
        return (math.log(p / (1 - p)) - self.calibrator.b) / self.calibrator.a

    def rules(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for v, pts in zip(self.variables, self.points):
            out.extend(v.rules(pts, self.settings.rule_id_prefix))
        seen: dict[str, int] = {}
        for rule in out:  # ids must be unique; slugs of distinct labels can collide
            base = rule["id"]
            seen[base] = seen.get(base, 0) + 1
            if seen[base] > 1:
                rule["id"] = f"{base}.{seen[base]}"
        return out

    def to_toml(self) -> str:
        """``[[scoring.rules]]`` entries to paste into a ``[scoring]`` table, with a header that
        says where the points came from and how they map to probabilities."""
        info = self.info
        lines = [
            "# --- learned points (leadscore predictive scorecard) ---",
            f"# Fitted on {info.get('n', '?')} outcomes ({info.get('positives', '?')} converted).",
            f"# {self.settings.points_to_double_odds:g} points double the odds of converting; the most common value of each field "
            "(and no activity) earns 0.",
        ]
        auc = info.get("inner_auc")
        if isinstance(auc, float) and not math.isnan(auc):
            lines.append(f"# Out-of-fold ROC AUC of these points (inner cross-validation): {auc:.3f}.")
        if self.calibrator.method == "sigmoid":
            a, b = self.calibrator.a, self.calibrator.b
            lines.append(f"# Conversion probability ~= 1 / (1 + exp(-({a:.5f} * score {'-' if b < 0 else '+'} {abs(b):.4f}))).")
            marks = [(p, self.score_for_probability(p)) for p in (0.25, 0.5, 0.75)]
            lines.append("# Scores for stage thresholds: " + ", ".join(f"{p:.0%} at {s:.0f}" for p, s in marks if s is not None) + ".")
        if info.get("excluded"):
            lines.append(f"# Not used (excluded): {', '.join(info['excluded'])}.")
        lines.append("# Review before pasting: points follow the data, including its biases.")
        for rule in self.rules():
            lines.append("")
            lines.append("[[scoring.rules]]")
            for key, value in rule.items():
                lines.append(f"{key} = {_toml(value)}")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Bins and points as plain data (for the report's tables)."""
        return {
            "factor": self.factor,
            "calibration": {"a": self.calibrator.a, "b": self.calibrator.b},
            "variables": [
                {"name": v.name, "type": type(v).__name__, "reference": v.bin_labels[v.reference], "bins": dict(zip(v.bin_labels, pts))}
                for v, pts in zip(self.variables, self.points)
            ],
            "info": dict(self.info),
        }


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("TOML cannot hold a non-finite number")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string for everything json escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def fit_scorecard(
    data: TrainingSet, config: PredictiveConfig, folds: Sequence[Fold], exclude: Sequence[str] = ()
) -> Scorecard:
    """Bin, choose the L2 strength by inner-CV log-loss, fit, round to points, and map points to
    probabilities with Platt scaling fitted on out-of-fold *points* (what the engine will emit)."""
    excluded = sorted(set(exclude) | set(data.always_excluded))
    snapshots = data.snapshots
    y = data.y.astype(np.int64)
    settings = config.scorecard
    factor = settings.points_to_double_odds / math.log(2.0)
    variables = build_variables(snapshots, excluded, config)
    X, assigned = _design(variables, snapshots)
    covered = np.zeros(y.size, dtype=bool)
    for _, valid in folds:
        covered[valid] = True
    best = (np.inf, config.scorecard_c[0], np.zeros(y.size, dtype=np.int64))
    losses = {}
    for C in config.scorecard_c:
        oof_logit = np.zeros(y.size)
        oof_points = np.zeros(y.size, dtype=np.int64)
        for train, valid in folds:
            coef, intercept = _fit_bins(X[train], y[train], C)
            oof_logit[valid] = intercept + X[valid] @ coef
            pts = _to_points(variables, coef, factor)
            oof_points[valid] = _sum_points(pts, [a[valid] for a in assigned], valid.size)
        loss = logit_log_loss(y[covered], oof_logit[covered]) if covered.any() else 0.0
        losses[f"C={C:g}"] = loss
        if loss < best[0]:
            best = (loss, C, oof_points)
    _, C, oof_points = best
    coef, _ = _fit_bins(X, y, C)
    points = _to_points(variables, coef, factor)
    calibrator = Calibrator.fit(oof_points[covered].astype(np.float64), y[covered], "sigmoid")
    info = {
        "n": int(y.size),
        "positives": int(y.sum()),
        "C": C,
        "inner_log_loss": losses,
        "inner_auc": roc_auc(y[covered], oof_points[covered]) if covered.any() else float("nan"),
        "excluded": excluded,
    }
    return Scorecard(tuple(variables), tuple(tuple(p) for p in points), factor, calibrator, settings, info)
