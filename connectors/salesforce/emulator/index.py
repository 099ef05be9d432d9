"""Per-sObject tables: the records in the org's default order, the indexes kept beside them, and
the snapshots query locators read, so a query page costs little more than the page it answers,
whatever the org's size.

- :class:`Table` holds one sObject's records by id, in creation order (the order a query
  without ``ORDER BY`` answers), each with a sequence number.
- :class:`StampIndex` holds the records' values of an audit stamp (``SystemModstamp``,
  ``LastModifiedDate``, ``CreatedDate``) in :class:`SortedKeys`, ascending ``(stamp, Id)``, beside
  those of the records in the recycle bin, so a stamp window is a bisect, its count a few, and
  ``ORDER BY SystemModstamp, Id`` a walk from the window's start.
- a reference index (``WhoId``, ``LeadId``, ``ActivityId``...) maps a value to the records
  holding it, for ``WHERE WhoId IN (...)`` and the store's own roll-ups and conversions.
- :class:`Snapshots` keeps, while a query locator lives, what a record held when the query ran
  (an undo log of the fields locators read), so later pages answer the rows as they were
  without rendering every row up front.

Indexes are built the first time a query needs them (one sort or pass over the table; seeding
builds the ones the connector reads) and kept in step with every write after: a record's values
are a :class:`Values`, a ``dict`` that tells its table of each change before it happens, however
the change is made. Only the standard library (``bisect``).

The indexes change nothing the API answers: :mod:`.soql` reads them only for the queries whose
answer they determine exactly (a superset of the matches, filtered by the query's own predicate
and sorted as the query sorts), scanning every record for the rest.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from leadscore.connectors.emulation import Interval as BaseInterval

if TYPE_CHECKING:
    from leadscore.connectors.salesforce.emulator.store import Record

#: Blocks of sorted keys split when they grow past twice this many (a write copies one block).
BLOCK = 256
#: The audit stamps a query can be answered from an index by (the fields the connector's windows use).
STAMPS = ("SystemModstamp", "LastModifiedDate", "CreatedDate")
#: Sorts after every record id in a key: ``(v, HIGH)`` lies after every ``(v, id, record)``.
HIGH = "\U0010ffff"


class SortedKeys:
    """Keys kept in ascending order, cut into blocks of a few hundred (a B-tree's leaves).

    Blocks are tuples, replaced (never changed) by a write, so a query locator can keep the
    blocks of its window as they were when the query ran, at the cost of a list of blocks."""

    __slots__ = ("blocks", "maxes")

    def __init__(self, ordered: list[Any] | None = None) -> None:
        ordered = ordered or []
        self.blocks: list[tuple[Any, ...]] = [tuple(ordered[i:i + BLOCK]) for i in range(0, len(ordered), BLOCK)]
        self.maxes: list[Any] = [block[-1] for block in self.blocks]

    def __len__(self) -> int:
        return sum(map(len, self.blocks))

    def add(self, key: Any) -> None:
        blocks = self.blocks
        if not blocks:
            blocks.append((key,))
            self.maxes.append(key)
            return
        k = bisect_left(self.maxes, key)
        if k == len(self.maxes):
            k -= 1
            block = blocks[k] + (key,)
            self.maxes[k] = key
        else:
            block = blocks[k]
            i = bisect_left(block, key)
            block = block[:i] + (key,) + block[i:]
        if len(block) > 2 * BLOCK:
            half = len(block) // 2
            blocks[k:k + 1] = [block[:half], block[half:]]
            self.maxes[k:k + 1] = [block[half - 1], block[-1]]
        else:
            blocks[k] = block

    def remove(self, key: Any) -> None:
        k = bisect_left(self.maxes, key)
        block = self.blocks[k] if k < len(self.blocks) else ()
        i = bisect_left(block, key)
        if i == len(block) or block[i] != key:
            raise KeyError(key)
        block = block[:i] + block[i + 1:]
        if not block:
            del self.blocks[k], self.maxes[k]
            return
        self.blocks[k] = block
        if i == len(block):
            self.maxes[k] = block[-1]

    def position(self, probe: Any, after: bool = False) -> tuple[int, int]:
        """``(block, offset)`` of the first key at or above ``probe`` (``after``: above it)."""
        find = bisect_right if after else bisect_left
        k = find(self.maxes, probe)
        if k == len(self.blocks):
            return k, 0
        return k, find(self.blocks[k], probe)

    def _parts(self, start: tuple[int, int], end: tuple[int, int]) -> list[tuple[tuple[Any, ...], int, int]]:
        """``(block, lo, hi)`` for each block the keys from ``start`` up to ``end`` lie in."""
        (k0, i0), (k1, i1) = start, end
        parts = []
        for k in range(k0, min(k1, len(self.blocks) - 1) + 1):
            block = self.blocks[k]
            lo, hi = (i0 if k == k0 else 0), (i1 if k == k1 else len(block))
            if hi > lo:
                parts.append((block, lo, hi))
        return parts

    def count(self, start: tuple[int, int], end: tuple[int, int]) -> int:
        """How many keys lie from position ``start`` up to (not including) ``end``."""
        (k0, i0), (k1, i1) = start, end
        if (k0, i0) >= (k1, i1):
            return 0
        if k0 == k1:
            return i1 - i0
        return len(self.blocks[k0]) - i0 + sum(map(len, self.blocks[k0 + 1:k1])) + i1

    def records(self, start: tuple[int, int], end: tuple[int, int]) -> list[Any]:
        """The records (each key's last item) from position ``start`` up to ``end``, ascending."""
        out: list[Any] = []
        for block, lo, hi in self._parts(start, end):
            out += [key[-1] for key in block[lo:hi]]
        return out

    def view(self, start: tuple[int, int], end: tuple[int, int]) -> "KeyedRecords":
        """The records from position ``start`` up to ``end``, held as the blocks are now."""
        return KeyedRecords(self._parts(start, end))

    def between(self, start: tuple[int, int], end: tuple[int, int], descending: bool = False) -> Iterator[Any]:
        """The keys from position ``start`` up to ``end``, ascending (or from ``end`` down)."""
        parts = self._parts(start, end)
        if not descending:
            for block, lo, hi in parts:
                yield from block[lo:hi]
        else:
            for block, lo, hi in reversed(parts):
                yield from reversed(block[lo:hi])


class KeyedRecords(Sequence):  # type: ignore[type-arg]
    """Records held as parts of index blocks of keys ending in them (``(value, Id, record)``),
    so answering a whole window touches no record outside the page being rendered."""

    __slots__ = ("parts", "offsets", "size")

    def __init__(self, parts: list[tuple[tuple[Any, ...], int, int]]) -> None:
        self.parts = parts
        self.offsets: list[int] = []
        size = 0
        for _, lo, hi in parts:
            self.offsets.append(size)
            size += hi - lo
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, at: Any) -> Any:
        if not isinstance(at, slice):
            index = at + self.size if at < 0 else at
            if not 0 <= index < self.size:
                raise IndexError(at)
            return self[index:index + 1][0]
        start, stop, step = at.indices(self.size)
        if step != 1:
            return self[start:stop][::step]
        out: list[Any] = []
        p = max(bisect_right(self.offsets, start) - 1, 0)
        while start < stop and p < len(self.parts):
            block, lo, hi = self.parts[p]
            base = self.offsets[p]
            first, last = lo + start - base, min(hi, lo + stop - base)
            out += [key[-1] for key in block[first:last]]
            start = base + last - lo
            p += 1
        return out


class Interval(BaseInterval):
    """A range of stamps (what a window's comparisons allow)."""

    __slots__ = ()

    def positions(self, keys: SortedKeys) -> tuple[tuple[int, int], tuple[int, int]]:
        """Where the interval's keys start and end in ``keys`` (``(value, Id, record)`` tuples)."""
        start = (0, 0) if self.lo is None else keys.position((self.lo, HIGH) if self.lo_strict else (self.lo,))
        end = (len(keys.blocks), 0) if self.hi is None else keys.position((self.hi,) if self.hi_strict else (self.hi, HIGH))
        return start, end


def _number(value: Any) -> bool:
    return type(value) is int or type(value) is float


class StampIndex:
    """One stamp field's values: every record's with a numeric value, and (again) those of the
    records in the recycle bin, as ``(value, Id, record)`` keys; how many records have none, and
    how many an odd value (not a number), which leaves the index unused."""

    __slots__ = ("field", "keys", "deleted", "nulls", "odd")

    def __init__(self, field: str, records: Iterable["Record"]) -> None:
        self.field = field
        self.nulls = 0
        self.odd = 0
        keys, deleted = [], []
        for record in records:
            value = record.values.get(field)
            if _number(value):
                key = (value, record.id, record)
                keys.append(key)
                if record.deleted:
                    deleted.append(key)
            else:
                self._tally(value, 1)
        keys.sort()  # (value, Id) never ties within a table: the record itself is never compared
        deleted.sort()
        self.keys = SortedKeys(keys)
        self.deleted = SortedKeys(deleted)

    def _tally(self, value: Any, step: int) -> None:
        if value is None:
            self.nulls += step
        elif not _number(value):
            self.odd += step

    def add(self, record: "Record", value: Any, deleted: bool) -> None:
        if _number(value):
            key = (value, record.id, record)
            self.keys.add(key)
            if deleted:
                self.deleted.add(key)
        else:
            self._tally(value, 1)

    def discard(self, record: "Record", value: Any, deleted: bool) -> None:
        if _number(value):
            key = (value, record.id, record)
            self.keys.remove(key)
            if deleted:
                self.deleted.remove(key)
        else:
            self._tally(value, -1)


class ReferenceIndex:
    """Records by their value of one reference field (one record, or a list of them)."""

    __slots__ = ("field", "found", "odd")

    def __init__(self, field: str, records: Iterable["Record"]) -> None:
        self.field = field
        self.found: dict[Any, Any] = {}
        self.odd = 0
        for record in records:
            self.add(record, record.values.get(field))

    def add(self, record: "Record", value: Any) -> None:
        if value is None:
            return
        try:
            held = self.found.get(value)
        except TypeError:  # unhashable: the index cannot answer for this field
            self.odd += 1
            return
        if held is None:
            self.found[value] = record
        elif type(held) is list:
            held.append(record)
        else:
            self.found[value] = [held, record]

    def discard(self, record: "Record", value: Any) -> None:
        if value is None:
            return
        try:
            held = self.found.get(value)
        except TypeError:
            self.odd -= 1
            return
        if held is record:
            del self.found[value]
        elif type(held) is list:
            held.remove(record)
            if len(held) == 1:
                self.found[value] = held[0]

    def get(self, value: Any) -> list["Record"]:
        try:
            held = self.found.get(value)
        except TypeError:
            return []
        if held is None:
            return []
        return list(held) if type(held) is list else [held]


class Snapshots:
    """What records held when live query locators were made.

    Each locator takes an epoch. Before a record changes while locators live, the old values of
    the changed fields that locators read are logged under the current epoch (merged into the
    record's last entry when that has the same epoch). A locator of epoch ``e`` reads a record
    as it is, with the entries logged at epochs ``>= e`` undone, newest first."""

    __slots__ = ("epoch", "live", "fields", "undo")

    def __init__(self) -> None:
        self.epoch = 0
        self.live: dict[int, int] = {}
        self.fields: dict[str, int] = {}
        self.undo: dict["Record", list[tuple[int, dict[str, Any]]]] = {}

    def open(self, fields: Iterable[str]) -> int:
        self.epoch += 1
        self.live[self.epoch] = self.live.get(self.epoch, 0) + 1
        for name in fields:
            self.fields[name] = self.fields.get(name, 0) + 1
        return self.epoch

    def close(self, epoch: int, fields: Iterable[str]) -> None:
        self.live[epoch] -= 1
        if not self.live[epoch]:
            del self.live[epoch]
        for name in fields:
            self.fields[name] -= 1
            if not self.fields[name]:
                del self.fields[name]
        if not self.live:
            self.undo.clear()
            return
        oldest = min(self.live)
        for record in list(self.undo):
            log = [entry for entry in self.undo[record] if entry[0] >= oldest]
            if log:
                self.undo[record] = log
            else:
                del self.undo[record]

    def changing(self, record: "Record", values: Mapping[str, Any], changes: Mapping[str, Any]) -> None:
        log = self.undo.get(record)
        delta = log[-1][1] if log and log[-1][0] == self.epoch else None
        for name in changes:
            if name in self.fields and (delta is None or name not in delta):
                if delta is None:
                    delta = {}
                    self.undo.setdefault(record, []).append((self.epoch, delta))
                delta[name] = values.get(name)

    def values_at(self, record: "Record", epoch: int) -> Mapping[str, Any]:
        """The record's values as a locator of ``epoch`` reads them."""
        log = self.undo.get(record)
        if not log or log[-1][0] < epoch:
            return record.values
        out = dict(record.values)
        for tag, delta in reversed(log):
            if tag < epoch:
                break
            out.update(delta)
        return out


class Values(dict):  # type: ignore[type-arg]
    """A record's stored values: a ``dict`` whose every change its table hears of first."""

    __slots__ = ("record",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record: Record | None = None

    def _changing(self, changes: Mapping[str, Any]) -> None:
        record = self.record
        if record is not None and record.table is not None:
            record.table.changing(record, changes)

    def __setitem__(self, key: str, value: Any) -> None:
        self._changing({key: value})
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        if key in self:
            self._changing({key: None})
        dict.__delitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        changes = dict(*args, **kwargs)
        if changes:
            self._changing(changes)
        dict.update(self, changes)

    def __ior__(self, other: Any) -> "Values":  # type: ignore[override]
        self.update(other)
        return self

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self._changing({key: None})
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[str, Any]:
        if self:
            self._changing({next(reversed(self)): None})
        return dict.popitem(self)

    def clear(self) -> None:
        self._changing(dict.fromkeys(self))
        dict.clear(self)


class Table:
    """One sObject's records by id in creation order, with the indexes built on them so far."""

    __slots__ = ("name", "records", "by_seq", "snapshots", "stamps", "references", "watched", "monotonic", "deleted")

    def __init__(self, name: str, snapshots: Snapshots) -> None:
        self.name = name
        self.records: dict[str, Record] = {}
        #: The records by sequence number (creation order; records are never removed).
        self.by_seq: list[Record] = []
        self.snapshots = snapshots
        self.stamps: dict[str, StampIndex] = {}
        self.references: dict[str, ReferenceIndex] = {}
        #: Fields whose changes move an index (or the count of deleted records).
        self.watched: frozenset[str] = frozenset(("IsDeleted",))
        #: Whether ids ascend with creation, so the default order is also the order of ``Id``.
        self.monotonic = True
        #: How many records are in the recycle bin.
        self.deleted = 0

    def __len__(self) -> int:
        return len(self.records)

    def add(self, record: "Record") -> None:
        """A new record (its values complete), last in the default order."""
        if record.id in self.records:
            raise KeyError(f"{self.name} {record.id} created twice")
        if self.records and record.id < next(reversed(self.records)):
            self.monotonic = False
        record.seq = len(self.by_seq)
        self.by_seq.append(record)
        record.table = self
        record.values.record = record
        self.records[record.id] = record
        deleted = record.deleted
        self.deleted += deleted
        if self.stamps:
            for index in self.stamps.values():
                index.add(record, record.values.get(index.field), deleted)
        for reference in self.references.values():
            reference.add(record, record.values.get(reference.field))

    def stamp_index(self, field: str) -> StampIndex:
        index = self.stamps.get(field)
        if index is None:
            index = self.stamps[field] = StampIndex(field, self.records.values())
            self._watch()
        return index

    def reference_index(self, field: str) -> ReferenceIndex:
        index = self.references.get(field)
        if index is None:
            index = self.references[field] = ReferenceIndex(field, self.records.values())
            self._watch()
        return index

    def _watch(self) -> None:
        self.watched = frozenset(["IsDeleted", *self.stamps, *self.references])

    def having(self, field: str, value: Any) -> list["Record"]:
        """The records whose ``field`` holds ``value``, deleted ones too, in the default order."""
        return self.in_order(self.reference_index(field).get(value))

    def in_order(self, records: Iterable["Record"]) -> list["Record"]:
        """``records`` (of this table, each once) in the default order."""
        by_seq = self.by_seq
        return [by_seq[seq] for seq in sorted([r.seq for r in records])]

    def changing(self, record: "Record", changes: Mapping[str, Any]) -> None:
        """Before ``changes`` are written to ``record``'s values: the snapshots, then the indexes."""
        if self.snapshots.live:
            self.snapshots.changing(record, record.values, changes)
        if self.watched.isdisjoint(changes):
            return
        values = record.values
        was = bool(values.get("IsDeleted"))
        will = bool(changes["IsDeleted"]) if "IsDeleted" in changes else was
        if was != will:
            self.deleted += 1 if will else -1
        for name, index in self.references.items():
            if name in changes:
                old, new = values.get(name), changes[name]
                if not _same(old, new):
                    index.discard(record, old)
                    index.add(record, new)
        for name, stamp in self.stamps.items():
            old = values.get(name)
            new = changes[name] if name in changes else old
            if was != will or not _same(old, new):
                stamp.discard(record, old, was)
                stamp.add(record, new, will)


def _same(old: Any, new: Any) -> bool:
    return old is new or (type(old) is type(new) and old == new)
