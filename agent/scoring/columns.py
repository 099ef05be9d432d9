"""Columnar inputs for batch scoring: leads' values and activities as arrays, each text value once.

The engine tests a condition once per *distinct* value rather than once per lead or activity, so
every column it reads is factorised: an array of integer codes plus the list of distinct values
the codes point at. Thousands of activities on one ``/pricing`` URL cost one ``contains`` test.

Values keep their Python type through factorising (``1``, ``1.0``, ``True`` and ``"1"`` are four
distinct values), because the engine's lenient coercions read them differently. A missing value
and ``None`` are the same value: every condition reads them alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from leadscore.agent.core.records import Activity

class Held:
    """A value that cannot be a dict key (a list, a dict), as a key: equal only to itself (the
    same object), so it is its own distinct value."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return other.__class__ is Held and other.value is self.value  # type: ignore[attr-defined]


def value_key(value: Any) -> Any:
    """A dict key that keeps the value's type: ``1``, ``1.0`` and ``True`` compare equal in
    Python, but a condition reads them differently. Text is its own key (most CRM values);
    :func:`key_value` gives the value back."""
    if value.__class__ is str:
        return value
    try:
        hash(value)
    except TypeError:
        return Held(value)
    return (value.__class__, value)


def key_value(key: Any) -> Any:
    """The value :func:`value_key` made ``key`` of."""
    return key if key.__class__ is str else key.value if key.__class__ is Held else key[1]


@dataclass(frozen=True, slots=True)
class Factorized:
    """A column as ``codes`` into its distinct ``values`` (``values[codes[i]]`` is row ``i``'s)."""

    codes: np.ndarray
    values: list[Any]


def factorize(column: Sequence[Any]) -> Factorized:
    """``column``'s distinct values and each row's code, in one pass. Strings (most CRM values)
    are their own key; anything else is keyed with its type (see :func:`value_key`)."""
    try:
        distinct = dict.fromkeys(column)  # in C: the common case, text and None only
    except TypeError:
        distinct = {Held: None}  # not all text: keyed below
    if all(v is None or v.__class__ is str for v in distinct):  # no 1 == 1.0 == True to keep apart
        lookup = {v: i for i, v in enumerate(distinct)}
        return Factorized(np.fromiter(map(lookup.__getitem__, column), np.int64, len(column)), list(distinct))
    index: dict[Any, int] = {}
    setdefault = index.setdefault
    try:
        codes = [setdefault(v if v.__class__ is str else (v.__class__, v), len(index)) for v in column]
    except TypeError:  # an unhashable value: key each one apart
        index.clear()
        codes = [setdefault(v if v.__class__ is str else value_key(v), len(index)) for v in column]
    return Factorized(np.array(codes, dtype=np.int64), [key_value(k) for k in index])


def field_column(fields: Sequence[Mapping[str, Any]], name: str) -> Factorized:
    """Lead field ``name`` over a batch (missing reads as ``None``)."""
    return factorize([f.get(name) for f in fields])


@dataclass(frozen=True, slots=True)
class ActivityColumns:
    """A batch's activities, one array per attribute, sorted by lead and then newest first.

    ``lead`` indexes the batch's leads; ``type`` indexes ``types``; ``occurred`` is epoch seconds
    (NaN where the activity had no usable time); ``properties`` maps a property name to its
    factorised column (``None`` where an activity lacks it: every condition reads an absent
    property as ``None``). Only the properties some ``where`` condition reads are kept.
    """

    lead: np.ndarray
    type: np.ndarray
    types: tuple[str, ...]
    occurred: np.ndarray
    properties: Mapping[str, Factorized]

    def __len__(self) -> int:
        return len(self.lead)

    @classmethod
    def of(
        cls,
        lead_ids: Sequence[str],
        activities: Mapping[str, Iterable[Activity]],
        *,
        types: Iterable[str] | None = None,
        properties: Iterable[str] = (),
    ) -> ActivityColumns:
        """Columns for the activities of ``lead_ids`` (``activities`` maps lead id to them),
        keeping only ``types`` when given and the named ``properties``."""
        wanted = frozenset(types) if types is not None else None
        names = tuple(properties)
        values: tuple[list[Any], ...] = tuple([] for _ in names)
        pairs = tuple(zip(names, values))
        leads: list[int] = []
        kinds: list[str] = []
        stamps: list[float] = []
        # One pass, each activity touched once: at a million leads, walking the objects is
        # the cost (memory, not arithmetic).
        add_lead, add_kind, add_stamp = leads.append, kinds.append, stamps.append
        for i, lead_id in enumerate(lead_ids):
            for activity in activities.get(lead_id, ()):
                try:
                    kind = activity.type
                    if wanted is not None and kind not in wanted:
                        continue
                    occurred = activity.occurred_at
                    stamp = occurred.timestamp() if occurred.tzinfo is not None else _epoch(occurred)
                except (AttributeError, TypeError, ValueError, OverflowError):
                    kind = getattr(activity, "type", None)
                    if kind is None or (wanted is not None and kind not in wanted):
                        continue
                    stamp = _epoch(getattr(activity, "occurred_at", None))
                add_lead(i)
                add_kind(kind)
                add_stamp(stamp)
                if pairs:
                    found = getattr(activity, "properties", None)
                    if found.__class__ is not dict:
                        found = found if isinstance(found, Mapping) else {}
                    for name, column in pairs:
                        column.append(found.get(name))
        return cls.build(leads, kinds, stamps, dict(pairs))

    @classmethod
    def build(
        cls, leads: Sequence[int], kinds: Sequence[str], stamps: Sequence[float], properties: Mapping[str, Sequence[Any]],
    ) -> ActivityColumns:
        """Columns from parallel lists (``properties``: name -> one value per activity),
        sorted by lead then newest first (stable)."""
        lead = np.asarray(leads, dtype=np.int64)
        occurred = np.asarray(stamps, dtype=np.float64)
        type_index = {k: i for i, k in enumerate(dict.fromkeys(kinds))}
        codes = np.fromiter(map(type_index.__getitem__, kinds), dtype=np.int64, count=len(kinds))
        # Newest first within a lead; an activity with no usable time (NaN) sorts last.
        order = np.lexsort((np.nan_to_num(-occurred, nan=np.inf), lead))
        columns = {}
        for name, values in properties.items():
            column = factorize(values)
            columns[name] = Factorized(column.codes[order], column.values)
        return cls(lead[order], codes[order], tuple(type_index), occurred[order], columns)


def _epoch(moment: Any) -> float:
    """Epoch seconds of an activity's time (naive times are UTC); NaN when unusable."""
    try:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return float(moment.timestamp())
    except (AttributeError, TypeError, ValueError, OverflowError):
        return float("nan")


__all__ = ["ActivityColumns", "Factorized", "factorize", "field_column"]
