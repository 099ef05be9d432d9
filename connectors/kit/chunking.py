"""Splitting work into batches of a CRM's limit (100 ids a HubSpot batch read, 200 records an
sObject Collection, 500 ids a SOQL ``IN`` list).

Why here: every pull and write had its own ``for start in range(0, len(ids), N)`` loop, and the
one bug such a loop can have (an off-by-one leaving the last part out, or a size of 0 looping
forever) would have had to be found in each.
"""

from __future__ import annotations

from typing import Iterator, MutableSequence, Sequence, TypeVar

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in order, ``size`` at a time (the last part may be shorter); nothing for no items."""
    if size < 1:
        raise ValueError(f"a chunk size must be at least 1, not {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def drain(queue: MutableSequence[T], size: int) -> Iterator[Sequence[T]]:
    """Parts of at most ``size`` taken from the front of ``queue`` until it is empty. Items the
    caller appends while handling a part (the next page of a result that had more) come in a
    later part, so one call can carry them with other work."""
    if size < 1:
        raise ValueError(f"a chunk size must be at least 1, not {size}")
    while queue:
        part = list(queue[:size])
        del queue[:size]
        yield part
