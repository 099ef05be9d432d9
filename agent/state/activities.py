"""A mirrored lead's activities as one compact blob on its row.

A row per activity cost the mirror most of a backfill: twenty inserts, an index entry and a JSON
text each, deleted and inserted again whenever the lead was pulled, then twenty rows to read back
and parse for every rescore. A lead's activities are read and written whole anyway (a connector
pulls a lead with all its activities), so they are kept whole on the lead's row: one
zlib-compressed JSON object of columns, ``type``, ``at`` (microseconds since the epoch) and one
per property name under ``properties`` (``null`` where an activity has none: a property with no
value is the same as no property, as every condition reads it), oldest first.

The blob is canonical: keys are sorted, duplicates (an event pulled twice: the same type, instant
and properties) are kept once, and the order is fixed by time and then the activity's own text,
so the same set of activities is the same bytes, and "did anything change" is one comparison: an
unchanged lead costs no write.

:func:`columns` decodes blobs straight into the engine's columns, with no :class:`Activity`
object in between: a nightly rescore of a million leads never builds twenty million of them.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import orjson

from leadscore.agent.core.records import Activity, utc
from leadscore.agent.state.canonical import json_default
from leadscore.agent.scoring.columns import ActivityColumns, Factorized, factorize

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
#: zlib level 1: most of the saving (JSON of repeated keys and URLs) at a fraction of the CPU.
_LEVEL = 1
EMPTY = zlib.compress(orjson.dumps({"at": [], "properties": {}, "type": []}), _LEVEL)


def _item(activity: Activity) -> tuple[bytes, tuple[str, int, Any]]:
    """An activity's canonical text (what makes two pulls of it one) and its entry."""
    micros = (utc(activity.occurred_at) - EPOCH) // _MICRO
    props = {k: v for k, v in (activity.properties or {}).items() if v is not None}  # no value: absent
    return orjson.dumps([activity.type, micros, props], default=json_default, option=_OPTIONS), (activity.type, micros, props)


def encode(activities: Iterable[Activity]) -> tuple[bytes, int]:
    """The blob of ``activities`` (duplicates once) and how many it holds."""
    return _pack(dict(map(_item, activities)))


def merge(blob: bytes | None, activities: Iterable[Activity]) -> tuple[bytes, int]:
    """``blob`` with ``activities`` added (those it holds already are not added twice)."""
    items = {item_key(entry): tuple(entry) for entry in decode(blob)}
    items.update(map(_item, activities))
    return _pack(items)


def _pack(items: dict[bytes, tuple[str, int, Any]]) -> tuple[bytes, int]:
    """Columns, oldest first (ties by text): ``{"at": [...], "properties": {name: [...]},
    "type": [...]}``, a property's list ``null`` where an activity has none. Columns decode into
    the engine's columns by concatenation, with no loop per activity in Python."""
    ordered = [items[text] for text in sorted(items, key=lambda text: (items[text][1], text))]
    names = sorted({str(k) for e in ordered for k in e[2]})
    props = [{str(k): v for k, v in e[2].items()} for e in ordered]
    body = {"type": [e[0] for e in ordered], "at": [e[1] for e in ordered],
            "properties": {name: [p.get(name) for p in props] for name in names}}
    return zlib.compress(orjson.dumps(body, default=json_default, option=_OPTIONS), _LEVEL), len(ordered)


def item_key(entry: Sequence[Any]) -> bytes:
    """An entry's canonical text: the same event is the same text."""
    return orjson.dumps(list(entry), default=json_default, option=_OPTIONS)


def _columns(blob: bytes | None) -> dict[str, Any]:
    return orjson.loads(zlib.decompress(blob)) if blob else {"type": [], "at": [], "properties": {}}


def _entries(body: dict[str, Any]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    columns = body["properties"].items()
    for j, (kind, micros) in enumerate(zip(body["type"], body["at"])):
        yield kind, micros, {name: values[j] for name, values in columns if values[j] is not None}


def decode(blob: bytes | None) -> list[list[Any]]:
    """The ``[type, microseconds, properties]`` entries of a blob, oldest first."""
    return [list(entry) for entry in _entries(_columns(blob))]


def activities_of(lead_id: str, blob: bytes | None) -> tuple[Activity, ...]:
    """A blob as :class:`Activity` objects (UTC times, to the microsecond)."""
    return tuple(Activity(lead_id, kind, EPOCH + micros * _MICRO, props) for kind, micros, props in _entries(_columns(blob)))


def columns(blobs: Sequence[bytes | None], *, types: Iterable[str] | None = None,
            properties: Iterable[str] = ()) -> ActivityColumns:
    """The engine's columns for the leads whose blobs these are (lead ``i`` is ``blobs[i]``),
    keeping only ``types`` when given and the named ``properties``. The blobs are columns
    already: they are concatenated, never walked an activity at a time in Python."""
    names = tuple(properties)
    kinds: list[str] = []
    micros: list[int] = []
    values: dict[str, list[Any]] = {name: [] for name in names}
    sizes = np.zeros(len(blobs), np.int64)
    for i, blob in enumerate(blobs):
        if blob:
            body = orjson.loads(zlib.decompress(blob))
            size = len(body["type"])
            kinds += body["type"]
            micros += body["at"]
            sizes[i] = size
            held = body["properties"]
            for name, column in values.items():
                column += held.get(name) or [None] * size
    lead = np.repeat(np.arange(len(blobs), dtype=np.int64), sizes)
    type_index = {kind: i for i, kind in enumerate(dict.fromkeys(kinds))}
    codes = np.fromiter(map(type_index.__getitem__, kinds), np.int64, len(kinds))
    stamps = np.asarray(micros, dtype=np.int64) / 1e6 if micros else np.zeros(0)
    keep = None
    if types is not None:  # only the types the model scores
        wanted = [type_index[t] for t in frozenset(types) if t in type_index]
        if len(wanted) < len(type_index):
            keep = np.flatnonzero(np.isin(codes, wanted))
            lead, codes, stamps = lead[keep], codes[keep], stamps[keep]
    columns: dict[str, Factorized] = {}
    for name in names:
        column = factorize(values[name])
        columns[name] = Factorized(column.codes if keep is None else column.codes[keep], column.values)
    # Oldest first in a blob; the engine reads each lead's newest first.
    order = np.lexsort((-stamps, lead))
    return ActivityColumns(lead[order], codes[order], tuple(type_index), stamps[order],
                           {name: Factorized(c.codes[order], c.values) for name, c in columns.items()})
