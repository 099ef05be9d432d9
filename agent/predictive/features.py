"""From a lead and its activities, at one instant, to a row of numbers a model can learn from.

Two steps, kept apart on purpose:

1. :func:`take_snapshot` freezes what was known about a lead at an instant: its fields, and per
   activity type the count of activities strictly *before* that instant and the age of the newest.
   Training snapshots are taken at the outcome's time (or the as-of for leads still open), which
   is what keeps the label out of the features; serving snapshots are taken now. Lead fields are
   their current values (CRMs rarely keep field history), which is why the leakage check exists.
2. :class:`FeatureSpec` is *fitted* on training snapshots (which fields are numbers, which
   category values are common enough to keep, medians, bin edges) and then turns any snapshot
   into the same columns. It is plain data and round-trips through JSON, so a saved model
   rebuilds its inputs exactly, and a field value never seen in training still maps somewhere
   ("(other)").

Values are read the way the rules engine reads them (:func:`text_value`, :func:`number_value`:
blank is missing, ``"1,200"`` is 1200, text compares case-insensitively), so a learned points
model and the engine that later runs it agree on every lead.

Columns per input, chosen on the X Education benchmark (see ``bench/predictive.py``):

* numeric field: signed ``log1p`` of the value (median-imputed), a missing indicator, and one-hot
  quantile bins, so a linear model can bend (time on site is far from log-linear);
* category field: one-hot of the kept values plus "(other)" and "(missing)";
* activity type: ``log1p(count)``, "any", and ``log1p(days since the newest)`` capped.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.config import FeatureSettings
from leadscore.agent.core.records import CUSTOM_PREFIX, NUMERIC_FIELDS, Activity, Lead, utc
from leadscore.agent.scoring.conditions import number_value, text_value

_DAY = 86400.0
ACTIVITY_PREFIX = "activity:"
OTHER = "(other)"
MISSING = "(missing)"


# --- snapshots -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What was known about one lead at ``at``: its fields, and per activity type the number of
    activities before ``at`` and the age in days of the newest of them."""

    lead_id: str
    at: datetime | None
    fields: Mapping[str, Any]
    counts: Mapping[str, int] = field(default_factory=dict)
    recency_days: Mapping[str, float] = field(default_factory=dict)


def take_snapshot(lead: Lead, activities: Iterable[Activity], at: datetime, gap_days: float = 0.0) -> Snapshot:
    """Freeze ``lead`` at ``at - gap_days``: only activities strictly before that instant count.

    Strictly before, because the activity that *is* the conversion (a demo request, a signed
    trial) must not explain the conversion; ``gap_days`` widens the margin further for outcomes
    whose timestamp lags the real decision.
    """
    cutoff = utc(at) - timedelta(days=gap_days)
    limit = cutoff.timestamp()
    counts: Counter[str] = Counter()
    newest: dict[str, float] = {}
    for activity in activities:
        try:
            when = utc(activity.occurred_at).timestamp()
        except (AttributeError, TypeError, ValueError, OverflowError):
            continue
        if when >= limit:
            continue
        counts[activity.type] += 1
        if when > newest.get(activity.type, -math.inf):
            newest[activity.type] = when
    return Snapshot(
        lead_id=lead.id,
        at=cutoff,
        fields=lead.fields if lead.fields is not None else {},
        counts=dict(counts),
        recency_days={t: (limit - when) / _DAY for t, when in newest.items()},
    )


# --- reading values as the engine does -----------------------------------------------------


def text_key(value: Any) -> str | None:
    """The case-folded text of a value (the engine compares text ignoring case), or None."""
    text = text_value(value)
    return None if text is None else text.casefold()


def field_texts(snapshots: Sequence[Snapshot], name: str) -> list[str | None]:
    return [text_value(s.fields.get(name)) for s in snapshots]


def field_numbers(snapshots: Sequence[Snapshot], name: str) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The field as numbers (NaN where missing or not a number) and a mask of *missing* values
    (blank), which differs from NaN for text that is present but not a number."""
    raw = [s.fields.get(name) for s in snapshots]
    numbers = np.array([np.nan if (n := number_value(v)) is None else n for v in raw], dtype=np.float64)
    missing = np.array([text_value(v) is None for v in raw], dtype=bool)
    return numbers, missing


def activity_arrays(snapshots: Sequence[Snapshot], kind: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Counts of activity type ``kind`` and days since the newest (NaN where none)."""
    counts = np.array([s.counts.get(kind, 0) for s in snapshots], dtype=np.float64)
    recency = np.array([s.recency_days.get(kind, np.nan) for s in snapshots], dtype=np.float64)
    return counts, recency


def activity_input_name(kind: str) -> str:
    return ACTIVITY_PREFIX + kind


def humanise(name: str) -> str:
    """``custom.lead_quality`` -> ``Lead quality``; ``activity:email_open`` -> ``Email open``."""
    base = name.removeprefix(ACTIVITY_PREFIX).removeprefix(CUSTOM_PREFIX)
    text = re.sub(r"[_.\s]+", " ", base).strip()
    return text[:1].upper() + text[1:] if text else name


# --- profiling fields: which are numbers, which are categories, which are unusable ------------

FieldKind = Literal["numeric", "categorical"]


@dataclass(frozen=True, slots=True)
class FieldProfile:
    name: str
    kind: FieldKind | None
    present: int
    distinct: int
    #: Why the field is not used (None when it is).
    dropped: str | None = None


def profile_field(snapshots: Sequence[Snapshot], name: str, settings: FeatureSettings) -> FieldProfile:
    """Decide how a field is read. A field is numeric when it is a canonical numeric field, or
    when at least 97% of its present values are numbers and there are at least three distinct
    ones (so yes/no coded 0/1 stays a category). Text fields with about one value per lead
    (emails, phone numbers, ids) identify rather than describe: they are dropped."""
    texts = field_texts(snapshots, name)
    present = [t for t in texts if t is not None]
    if not present:
        return FieldProfile(name, None, 0, 0, "always empty")
    numbers = [n for t in present if (n := number_value(t)) is not None]
    distinct_numbers = len(set(numbers))
    if name in NUMERIC_FIELDS or (len(numbers) >= 0.97 * len(present) and distinct_numbers >= 3):
        if distinct_numbers <= 1 and len(present) == len(texts):
            return FieldProfile(name, "numeric", len(present), distinct_numbers, "constant")
        return FieldProfile(name, "numeric", len(present), distinct_numbers)
    keys = {t.casefold() for t in present}
    if len(keys) > 20 and len(keys) > settings.max_distinct_share * len(present):
        return FieldProfile(name, "categorical", len(present), len(keys), f"identifier-like ({len(keys)} distinct values)")
    if len(keys) <= 1 and len(present) == len(texts):
        return FieldProfile(name, "categorical", len(present), len(keys), "constant")
    return FieldProfile(name, "categorical", len(present), len(keys))


def candidate_inputs(snapshots: Sequence[Snapshot], exclude: Iterable[str]) -> tuple[list[str], list[str], list[str]]:
    """Field names and activity types seen in ``snapshots`` that are not excluded, and the
    excluded names that matched nothing (worth a warning: a typo excludes nothing)."""
    excluded = set(exclude)
    fields = sorted({name for s in snapshots for name in s.fields})
    kinds = sorted({kind for s in snapshots for kind in s.counts})
    used_fields = [f for f in fields if f not in excluded]
    used_kinds = [k for k in kinds if k not in excluded and activity_input_name(k) not in excluded]
    known = set(fields) | set(kinds) | {activity_input_name(k) for k in kinds}
    return used_fields, used_kinds, sorted(excluded - known)


# --- the fitted feature spec ---------------------------------------------------------------


def _signed_log(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.sign(x) * np.log1p(np.abs(x))


def quantile_edges(values: NDArray[np.float64], bins: int) -> tuple[float, ...]:
    """Inner edges of up to ``bins`` quantile bins of ``values`` (non-NaN), without duplicates
    or an edge at the minimum (which would make an empty first bin)."""
    values = values[~np.isnan(values)]
    if bins < 2 or values.size == 0:
        return ()
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    return tuple(float(e) for e in edges if e > values.min())


@dataclass(frozen=True, slots=True)
class NumericInput:
    name: str
    median: float
    edges: tuple[float, ...]
    has_missing: bool

    def columns(self) -> list[str]:
        cols = [f"{self.name}:log"]
        if self.has_missing:
            cols.append(f"{self.name}:missing")
        cols += [f"{self.name}:bin{k}" for k in range(len(self.edges) + 1)] if self.edges else []
        return cols

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        numbers, _ = field_numbers(snapshots, self.name)
        absent = np.isnan(numbers)
        value = np.where(absent, self.median, numbers)
        blocks = [_signed_log(value)[:, None]]
        if self.has_missing:
            blocks.append(absent.astype(np.float64)[:, None])
        if self.edges:
            index = np.searchsorted(np.asarray(self.edges), value, side="right")
            blocks.append((index[:, None] == np.arange(len(self.edges) + 1)[None, :]).astype(np.float64))
        return np.hstack(blocks)

    def describe(self, snapshot: Snapshot) -> str:
        value = number_value(snapshot.fields.get(self.name))
        return "missing" if value is None else f"{value:g}"


@dataclass(frozen=True, slots=True)
class CategoricalInput:
    name: str
    #: Case-folded values kept as their own column, and how each was first written.
    keys: tuple[str, ...]
    labels: tuple[str, ...]
    has_other: bool
    has_missing: bool

    def columns(self) -> list[str]:
        cols = [f"{self.name}={label}" for label in self.labels]
        if self.has_other:
            cols.append(f"{self.name}={OTHER}")
        if self.has_missing:
            cols.append(f"{self.name}={MISSING}")
        return cols

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        position = {k: i for i, k in enumerate(self.keys)}
        width = len(self.keys) + self.has_other + self.has_missing
        out = np.zeros((len(snapshots), width), dtype=np.float64)
        other = len(self.keys) if self.has_other else -1
        missing = len(self.keys) + self.has_other if self.has_missing else -1
        for row, snap in enumerate(snapshots):
            key = text_key(snap.fields.get(self.name))
            column = missing if key is None else position.get(key, other)
            if column >= 0:
                out[row, column] = 1.0
        return out

    def describe(self, snapshot: Snapshot) -> str:
        text = text_value(snapshot.fields.get(self.name))
        return "missing" if text is None else _short(text)


@dataclass(frozen=True, slots=True)
class ActivityInput:
    kind: str
    recency_cap_days: float

    @property
    def name(self) -> str:
        return activity_input_name(self.kind)

    def columns(self) -> list[str]:
        return [f"{self.name}:count_log", f"{self.name}:any", f"{self.name}:recency_log"]

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        counts, recency = activity_arrays(snapshots, self.kind)
        capped = np.where(np.isnan(recency), self.recency_cap_days, np.minimum(recency, self.recency_cap_days))
        return np.column_stack([np.log1p(counts), (counts > 0).astype(np.float64), np.log1p(np.maximum(capped, 0.0))])

    def describe(self, snapshot: Snapshot) -> str:
        count = snapshot.counts.get(self.kind, 0)
        if not count:
            return "none"
        days = int(snapshot.recency_days.get(self.kind, 0.0))
        return f"x{count}, last {'today' if days == 0 else f'{days}d ago'}"


Input = NumericInput | CategoricalInput | ActivityInput


@dataclass(frozen=True)
class FeatureSpec:
    """The fitted recipe from snapshots to model columns. Plain data: JSON in, JSON out."""

    inputs: tuple[Input, ...]
    #: Inputs seen but not used, and why (excluded by the admin, identifier-like, constant).
    dropped: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def fit(
        cls, snapshots: Sequence[Snapshot], exclude: Iterable[str] = (), settings: FeatureSettings | None = None
    ) -> FeatureSpec:
        settings = settings or FeatureSettings()
        fields, kinds, _ = candidate_inputs(snapshots, exclude)
        dropped: dict[str, str] = {name: "excluded" for name in sorted(set(exclude))}
        inputs: list[Input] = []
        for name in fields:
            profile = profile_field(snapshots, name, settings)
            if profile.dropped is not None:
                dropped[name] = profile.dropped
                continue
            if profile.kind == "numeric":
                numbers, missing = field_numbers(snapshots, name)
                present = numbers[~np.isnan(numbers)]
                inputs.append(
                    NumericInput(
                        name=name,
                        median=float(np.median(present)) if present.size else 0.0,
                        edges=quantile_edges(numbers, settings.numeric_bins),
                        has_missing=bool(np.isnan(numbers).any()),
                    )
                )
            else:
                inputs.append(fit_categorical(snapshots, name, settings))
        inputs += [ActivityInput(kind, settings.recency_cap_days) for kind in kinds]
        return cls(tuple(inputs), dropped)

    # --- shape ---

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @property
    def columns(self) -> list[str]:
        return [c for i in self.inputs for c in i.columns()]

    @property
    def column_input(self) -> NDArray[np.int64]:
        """For each column, the index of the input it belongs to (to sum contributions)."""
        return np.repeat(np.arange(len(self.inputs)), [len(i.columns()) for i in self.inputs])

    def input_kind(self, index: int) -> Literal["fit", "engagement"]:
        return "engagement" if isinstance(self.inputs[index], ActivityInput) else "fit"

    def transform(self, snapshots: Sequence[Snapshot]) -> NDArray[np.float64]:
        if not self.inputs:
            return np.zeros((len(snapshots), 0), dtype=np.float64)
        return np.hstack([i.transform(snapshots) for i in self.inputs])

    def describe(self, index: int, snapshot: Snapshot) -> str:
        """``Lead source: Google``, ``Visits: 5``, ``Email open: x3, last 2d ago``."""
        item = self.inputs[index]
        return f"{humanise(item.name)}: {item.describe(snapshot)}"

    # --- JSON ---

    def to_dict(self) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        for i in self.inputs:
            if isinstance(i, NumericInput):
                items.append({"type": "numeric", "name": i.name, "median": i.median, "edges": list(i.edges), "has_missing": i.has_missing})
            elif isinstance(i, CategoricalInput):
                items.append(
                    {"type": "categorical", "name": i.name, "keys": list(i.keys), "labels": list(i.labels),
                     "has_other": i.has_other, "has_missing": i.has_missing}
                )
            else:
                items.append({"type": "activity", "kind": i.kind, "recency_cap_days": i.recency_cap_days})
        return {"inputs": items, "dropped": dict(sorted(self.dropped.items()))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Rebuild from :meth:`to_dict` output; raises ``ValueError``/``KeyError``/``TypeError``
        on anything malformed (the artifact loader turns those into one clear error)."""
        inputs: list[Input] = []
        for item in data["inputs"]:
            kind = item["type"]
            if kind == "numeric":
                edges = tuple(float(e) for e in item["edges"])
                if any(b <= a for a, b in zip(edges, edges[1:])):
                    raise ValueError(f"bin edges of {item['name']!r} do not ascend")
                inputs.append(NumericInput(_str(item["name"]), float(item["median"]), edges, bool(item["has_missing"])))
            elif kind == "categorical":
                keys = tuple(_str(k) for k in item["keys"])
                labels = tuple(_str(k) for k in item["labels"])
                if len(keys) != len(labels):
                    raise ValueError(f"keys and labels of {item['name']!r} differ in length")
                inputs.append(CategoricalInput(_str(item["name"]), keys, labels, bool(item["has_other"]), bool(item["has_missing"])))
            elif kind == "activity":
                inputs.append(ActivityInput(_str(item["kind"]), float(item["recency_cap_days"])))
            else:
                raise ValueError(f"unknown input type {kind!r}")
        dropped = {_str(k): _str(v) for k, v in dict(data.get("dropped", {})).items()}
        return cls(tuple(inputs), dropped)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def fit_categorical(snapshots: Sequence[Snapshot], name: str, settings: FeatureSettings) -> CategoricalInput:
    """Keep values seen at least ``min_level_count`` times (at most ``max_levels``, most frequent
    first); pool the rest as "(other)". Rare values pooled rather than dropped: a one-hot of 200
    values seen twice each is noise a model can memorise."""
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    missing = False
    for text in field_texts(snapshots, name):
        if text is None:
            missing = True
            continue
        key = text.casefold()
        counts[key] += 1
        spelling.setdefault(key, text)
    kept = [k for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= settings.min_level_count]
    kept = kept[: settings.max_levels]
    return CategoricalInput(
        name=name,
        keys=tuple(kept),
        labels=tuple(spelling[k] for k in kept),
        has_other=len(kept) < len(counts),
        has_missing=missing,
    )
