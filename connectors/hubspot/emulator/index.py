"""Per-object-type indexes the store keeps beside its records, so listing and the searches a sync
makes cost little more than the page they answer, whatever the portal's size.

:class:`IdBlocks` holds the live records' ids in ascending order, cut into blocks of a few
hundred (as a B-tree's leaves), and beside each block the values of a few indexed properties
(the type's last-modified stamps, in their search-comparable form): a parallel list in id order
and a sorted copy. Counting the records of an id range whose stamp lies in a range is then a
bisect per whole block plus a scan of the two blocks at its ends; finding the page at offset
``k`` skips whole blocks by their counts. Updates touch one block (``O(block)``). Only the
standard library (``bisect``).

The indexes change nothing the API answers: the store keeps them in step with every write, and
search and listing read them only for the requests whose answer they determine exactly (see
:mod:`.search`), scanning every record for the rest.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Any, Callable, Iterator, Sequence

from leadscore.connectors.emulation import Interval as BaseInterval

#: Blocks split when they grow past twice this many ids.
BLOCK = 512


class Interval(BaseInterval):
    """A range of property values, narrowed by a search filter's operators."""

    __slots__ = ()

    def narrow(self, operator: str, value: Any, high: Any = None) -> None:
        """Intersect with ``operator value`` (EQ, GT, GTE, LT, LTE, or BETWEEN value..high)."""
        if operator in ("GT", "GTE", "EQ", "BETWEEN"):
            self.above(value, operator == "GT")
        if operator in ("LT", "LTE", "EQ"):
            self.below(value, operator == "LT")
        if operator == "BETWEEN":
            self.below(high, False)

    def holds(self, value: Any) -> bool:
        if value is None:
            return False
        if self.lo is not None and (value < self.lo or (self.lo_strict and value == self.lo)):
            return False
        if self.hi is not None and (value > self.hi or (self.hi_strict and value == self.hi)):
            return False
        return True

    def count(self, ordered: Sequence[Any]) -> int:
        """How many values of the sorted ``ordered`` lie in the interval."""
        left = 0 if self.lo is None else (bisect_right if self.lo_strict else bisect_left)(ordered, self.lo)
        right = len(ordered) if self.hi is None else (bisect_left if self.hi_strict else bisect_right)(ordered, self.hi)
        return max(0, right - left)


class IdBlocks:
    """Live record ids in ascending order, with the indexed properties' values beside them."""

    __slots__ = ("names", "ids", "firsts", "column", "ordered", "size")

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.ids: list[list[int]] = []
        self.firsts: list[int] = []
        # name -> per block: values in id order (None: no value) / the values present, sorted.
        self.column: dict[str, list[list[Any]]] = {n: [] for n in self.names}
        self.ordered: dict[str, list[list[Any]]] = {n: [] for n in self.names}
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _block_of(self, record_id: int) -> int:
        return max(bisect_right(self.firsts, record_id) - 1, 0)

    def _find(self, record_id: int) -> tuple[int, int]:
        k = self._block_of(record_id)
        block = self.ids[k] if self.ids else []
        pos = bisect_left(block, record_id)
        if pos == len(block) or block[pos] != record_id:
            raise KeyError(record_id)
        return k, pos

    def add(self, record_id: int, row: dict[str, Any] | None = None) -> None:
        """A live record (``row``: its indexed values by name)."""
        if not self.ids:
            self.ids.append([])
            self.firsts.append(record_id)
            for n in self.names:
                self.column[n].append([])
                self.ordered[n].append([])
        k = self._block_of(record_id)
        block = self.ids[k]
        pos = bisect_left(block, record_id)
        if pos < len(block) and block[pos] == record_id:
            raise KeyError(f"id {record_id} indexed twice")
        block.insert(pos, record_id)
        if pos == 0:
            self.firsts[k] = record_id
        for n in self.names:
            value = row.get(n) if row else None
            self.column[n][k].insert(pos, value)
            if value is not None:
                insort(self.ordered[n][k], value)
        self.size += 1
        if len(block) > 2 * BLOCK:
            self._split(k)

    def _split(self, k: int) -> None:
        block = self.ids[k]
        half = len(block) // 2
        self.ids[k:k + 1] = [block[:half], block[half:]]
        self.firsts[k:k + 1] = [block[0], block[half]]
        for n in self.names:
            column = self.column[n][k]
            parts = [column[:half], column[half:]]
            self.column[n][k:k + 1] = parts
            self.ordered[n][k:k + 1] = [sorted(v for v in part if v is not None) for part in parts]

    def remove(self, record_id: int) -> None:
        k, pos = self._find(record_id)
        block = self.ids[k]
        del block[pos]
        for n in self.names:
            value = self.column[n][k].pop(pos)
            if value is not None:
                ordered = self.ordered[n][k]
                del ordered[bisect_left(ordered, value)]
        self.size -= 1
        if not block:
            del self.ids[k], self.firsts[k]
            for n in self.names:
                del self.column[n][k], self.ordered[n][k]
        elif pos == 0:
            self.firsts[k] = block[0]

    def set(self, record_id: int, name: str, value: Any) -> None:
        """The record's value of indexed property ``name`` (None: it has none)."""
        k, pos = self._find(record_id)
        column = self.column[name][k]
        old = column[pos]
        if old is None and value is None:
            return
        if old is not None and value is not None and old == value and type(old) is type(value):
            return
        ordered = self.ordered[name][k]
        if old is not None:
            del ordered[bisect_left(ordered, old)]
        if value is not None:
            insort(ordered, value)
        column[pos] = value

    # --- queries ----------------------------------------------------------------------------------

    def after(self, first: int, count: int) -> list[int]:
        """Up to ``count`` ids, ascending, from the first at or above ``first``."""
        out: list[int] = []
        k = self._block_of(first)
        while k < len(self.ids) and len(out) < count:
            block = self.ids[k]
            start = bisect_left(block, first)
            out.extend(block[start:start + count - len(out)])
            k += 1
        return out

    def select(self, ids: Interval, where: dict[str, Interval], skip: int, take: int,
               descending: bool = False) -> tuple[int, list[int]]:
        """The records whose id lies in ``ids`` and whose indexed values lie in ``where``: how many,
        and the ids of the ``take`` after the first ``skip`` of them in id order (descending:
        from the highest id)."""
        total = 0
        page: list[int] = []
        end = skip + take
        checks = [(self.column[n], interval) for n, interval in where.items()]
        single = list(where.items())[0] if len(where) == 1 else None
        first = 0 if ids.lo is None else self._block_of(ids.lo)
        last = len(self.ids) - 1 if ids.hi is None else self._block_of(ids.hi)
        blocks = range(first, last + 1)
        for k in (reversed(blocks) if descending else blocks):
            block = self.ids[k]
            if not block:
                continue
            whole = ids.holds(block[0]) and ids.holds(block[-1])
            if whole and len(where) <= 1:
                found = len(block) if single is None else single[1].count(self.ordered[single[0]][k])
                if total + found <= skip or total >= end:
                    total += found
                    continue
            matched = self._scan(k, block, ids, whole, checks, descending)
            found = len(matched)
            if total + found > skip and total < end:
                page.extend(matched[max(skip - total, 0):end - total])
            total += found
        return total, page

    @staticmethod
    def _scan(k: int, block: list[int], ids: Interval, whole: bool, checks: list[tuple[list[list[Any]], Interval]],
              descending: bool) -> list[int]:
        positions: Iterator[int] = iter(range(len(block) - 1, -1, -1) if descending else range(len(block)))
        holds: Callable[[Any], bool] = ids.holds
        columns = [(column[k], interval.holds) for column, interval in checks]
        return [block[i] for i in positions
                if (whole or holds(block[i])) and all(check(column[i]) for column, check in columns)]
