"""A mirrored lead's activities as one compact blob on its row.

A row per activity cost the mirror most of a backfill: twenty inserts, an index entry and a JSON
text each, deleted and inserted again whenever the lead was pulled, then twenty rows to read back
and parse for every rescore. A lead's activities are read and written whole anyway (a connector
pulls a lead with all its activities), so they are kept whole on the lead's row, oldest first, as
columns already coded the way the engine reads them (revision 0008; 0007 kept JSON lists):

- a small JSON header: ``n`` activities, the distinct ``types`` and, per property name, the
  distinct values (``properties``), each in order of first appearance;
- ``at``: ``n`` little-endian int64, microseconds since the epoch;
- ``type``: ``n`` uint32, each an index into ``types``;
- per property name (in the header's sorted order): ``n`` uint32, 0 where an activity has no
  value for it (a property with no value is the same as no property, as every condition reads
  it), else 1 + an index into its values;

all behind the header's length (uint32) and compressed as one LZ4 block. A rescore reads every
blob every night: :func:`columns` turns a page of them into the engine's columns with one small
JSON parse per lead and a few array operations per page, never an :class:`Activity` object nor
a Python value per activity.

The blob is canonical: keys are sorted, duplicates (an event pulled twice: the same type, instant
and properties) are kept once, and the order is fixed by time and then the activity's own text,
so the same set of activities is the same bytes, and "did anything change" is one comparison: an
unchanged lead costs no write.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Sequence

import lz4.block
import numpy as np
import orjson

from leadscore.agent.core.records import Activity, utc
from leadscore.agent.state.canonical import json_default
from leadscore.agent.scoring.columns import ActivityColumns, Factorized, key_value, value_key

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICRO = timedelta(microseconds=1)
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_LENGTH = struct.Struct("<I")
_AT, _CODE = np.dtype("<i8"), np.dtype("<u4")


def _compress(body: bytes) -> bytes:
    """An LZ4 block, its size in front: inflated in 0.6 us where zlib took 5 (a tenth of a
    nightly rescore, which inflates every blob)."""
    return lz4.block.compress(body, store_size=True)


def _inflate(blob: bytes) -> bytes:
    return lz4.block.decompress(blob)


def _item(activity: Activity) -> tuple[bytes, tuple[str, int, Any]]:
    """An activity's canonical text (what makes two pulls of it one) and its entry."""
    micros = (utc(activity.occurred_at) - EPOCH) // _MICRO
    props = {str(k): v for k, v in (activity.properties or {}).items() if v is not None}  # no value: absent
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
    """The blob of the entries ``items`` (by canonical text): oldest first, ties by text."""
    ordered = [items[text] for text in sorted(items, key=lambda text: (items[text][1], text))]
    types: dict[str, int] = {}
    type_codes = [types.setdefault(kind, len(types)) for kind, _, _ in ordered]
    values: dict[str, list[Any]] = {}
    codes: list[list[int]] = []
    for name in sorted({k for _, _, props in ordered for k in props}):
        seen: dict[bytes, int] = {}  # a value's JSON text: 1 and True stay apart, as in the engine
        distinct: list[Any] = []
        column = []
        for _, _, props in ordered:
            value = props.get(name)
            if value is None:
                column.append(0)
                continue
            text = orjson.dumps(value, default=json_default, option=_OPTIONS)
            code = seen.get(text)
            if code is None:
                code = seen[text] = len(distinct) + 1
                distinct.append(value)
            column.append(code)
        values[name] = distinct
        codes.append(column)
    header = orjson.dumps({"n": len(ordered), "properties": values, "types": list(types)}, default=json_default,
                          option=_OPTIONS)
    body = b"".join([_LENGTH.pack(len(header)), header, np.array([e[1] for e in ordered], _AT).tobytes(),
                     np.array(type_codes, _CODE).tobytes(), *(np.array(c, _CODE).tobytes() for c in codes)])
    return _compress(body), len(ordered)


EMPTY = _pack({})[0]


def item_key(entry: Sequence[Any]) -> bytes:
    """An entry's canonical text: the same event is the same text."""
    return orjson.dumps(list(entry), default=json_default, option=_OPTIONS)


def _open(blob: bytes) -> tuple[bytes, dict[str, Any], int]:
    """A blob's bytes inflated, its header, and where its columns start."""
    body = _inflate(blob)
    (length,) = _LENGTH.unpack_from(body)
    return body, orjson.loads(body[4:4 + length]), 4 + length


def _entries(blob: bytes | None) -> Iterator[tuple[str, int, dict[str, Any]]]:
    if not blob:
        return
    body, header, at = _open(blob)
    n = header["n"]
    micros = np.frombuffer(body, _AT, n, at).tolist()
    kinds = [header["types"][c] for c in np.frombuffer(body, _CODE, n, at + 8 * n).tolist()]
    columns = [(name, values, np.frombuffer(body, _CODE, n, at + 12 * n + 4 * n * j).tolist())
               for j, (name, values) in enumerate(header["properties"].items())]
    for i in range(n):
        yield kinds[i], micros[i], {name: values[codes[i] - 1] for name, values, codes in columns if codes[i]}


def decode(blob: bytes | None) -> list[list[Any]]:
    """The ``[type, microseconds, properties]`` entries of a blob, oldest first."""
    return [list(entry) for entry in _entries(blob)]


def activities_of(lead_id: str, blob: bytes | None) -> tuple[Activity, ...]:
    """A blob as :class:`Activity` objects (UTC times, to the microsecond)."""
    return tuple(Activity(lead_id, kind, EPOCH + micros * _MICRO, props) for kind, micros, props in _entries(blob))


def columns(blobs: Sequence[bytes | None], *, types: Iterable[str] | None = None,
            properties: Iterable[str] = ()) -> ActivityColumns:
    """The engine's columns for the leads whose blobs these are (lead ``i`` is ``blobs[i]``),
    keeping only ``types`` when given and the named ``properties``.

    Each blob's codes point into its own distinct values; its values are looked up once in the
    page's (keyed by type, so ``1``, ``1.0``, ``True`` and ``"1"`` stay four values, as
    :func:`~leadscore.agent.scoring.columns.factorize` keeps them), and every code is then
    translated by one array index over the whole page."""
    names = tuple(properties)
    sizes = np.zeros(len(blobs), np.int64)
    stamps_raw: list[bytes] = []
    type_raw: list[bytes] = []
    type_index: dict[str, int] = {}
    type_lut: list[int] = []  # each blob's local type codes as the page's, blob after blob
    type_base: list[int] = []
    # Per property: its codes (bytes, blob after blob), where each blob's part of the look-up
    # table starts, the table (a blob's "no value" first), and the page's values by key.
    props = [(name, [], [], [], {}) for name in names]
    for i, blob in enumerate(blobs):
        if not blob:
            continue
        body, header, at = _open(blob)
        n = header["n"]
        if not n:
            continue
        sizes[i] = n
        stamps_raw.append(body[at:at + 8 * n])
        type_raw.append(body[at + 8 * n:at + 12 * n])
        type_base.append(len(type_lut))
        type_lut += [type_index.setdefault(kind, len(type_index)) for kind in header["types"]]
        if not props:
            continue
        held = header["properties"]
        position = {name: j for j, name in enumerate(held)}
        start = at + 12 * n
        for name, raw, base, lut, index in props:
            base.append(len(lut))
            lut.append(0)
            j = position.get(name)
            if j is None:
                raw.append(bytes(4 * n))
                continue
            raw.append(body[start + 4 * n * j:start + 4 * n * (j + 1)])
            add = index.setdefault
            lut += [add(v if v.__class__ is str else value_key(v), len(index) + 1) for v in held[name]]
    lead = np.repeat(np.arange(len(blobs), dtype=np.int64), sizes)
    stamps = np.frombuffer(b"".join(stamps_raw), _AT).astype(np.int64) / 1e6
    codes = _translate(type_raw, type_lut, type_base, sizes)
    rows: np.ndarray | None = None  # the activities kept, when some types are not scored
    if types is not None:
        wanted = [type_index[t] for t in frozenset(types) if t in type_index]
        if len(wanted) < len(type_index):
            rows = np.flatnonzero(np.isin(codes, wanted))
    order = _newest_first(lead, stamps) if rows is None else rows[_newest_first(lead[rows], stamps[rows])]
    return ActivityColumns(
        lead[order], codes[order], tuple(type_index), stamps[order],
        {name: Factorized(_translate(raw, lut, base, sizes)[order], [None, *map(key_value, index)])
         for name, raw, base, lut, index in props},
    )


def _translate(raw: list[bytes], lut: list[int], base: list[int], sizes: np.ndarray) -> np.ndarray:
    """Blobs' local codes (``raw``, blob after blob) as the page's: ``lut[base[b] + code]``."""
    local = np.frombuffer(b"".join(raw), _CODE).astype(np.int64)
    if not len(local):
        return local
    offsets = np.repeat(np.asarray(base, np.int64), sizes[sizes > 0])
    return np.asarray(lut, np.int64)[local + offsets]


def _newest_first(lead: np.ndarray, stamps: np.ndarray) -> np.ndarray:
    """The order that puts each lead's activities newest first, ties in blob order: what
    ``np.lexsort((-stamps, lead))`` gives (the engine's order), in a tenth of its time. Blobs
    hold each lead's activities oldest first, so the runs of equal instants are only reversed,
    never sorted; a column that is not in that order (none should be) is sorted after all."""
    size = len(lead)
    if size == 0:
        return np.zeros(0, np.int64)
    same_lead = lead[1:] == lead[:-1]
    if (lead[1:] < lead[:-1]).any() or (same_lead & (stamps[1:] < stamps[:-1])).any():
        return np.lexsort((-stamps, lead))
    starts = np.ones(size, bool)
    starts[1:] = ~same_lead | (stamps[1:] != stamps[:-1])
    runs = np.flatnonzero(starts)  # runs of one lead and one instant
    lengths = np.diff(np.append(runs, size))
    first_of_lead = np.ones(len(runs), bool)
    first_of_lead[1:] = ~same_lead[runs[1:] - 1]
    firsts = np.flatnonzero(first_of_lead)
    lasts = np.append(firsts[1:], len(runs)) - 1
    group = np.cumsum(first_of_lead) - 1
    reversed_runs = firsts[group] + lasts[group] - np.arange(len(runs))  # each lead's runs, newest first
    begin, count = runs[reversed_runs], lengths[reversed_runs]
    return np.arange(size) + np.repeat(begin - np.concatenate(([0], np.cumsum(count)[:-1])), count)
