"""Keyset paging over a time window, with the cursor state it resumes from.

An incremental pull reads the records changed in a window (after the last cursor, less an
overlap, up to the sync's ``until``). Paging that window by offset (or by a CRM's ``after``
token, which is an offset in disguise) meets the CRM's cap on one query's results (HubSpot's
10,000) and shifts under records that leave the window while it is read. Keyset paging does
neither: each request asks for keys greater than the last one read, sorted by key, so a window
of any size is read once, on ``ceil(N / page)`` calls.

The state between pages is a :class:`KeysetCursor` (frozen: each page makes a new one). While a
window is part-read it is stored as the JSON the HubSpot connector has always stored
(``{"after_id": 912, "newest": "...Z", "since": "...Z", "until": "...Z"}``), so an interrupted
pull resumes where it stopped; once the window is read the cursor is a plain instant (its
``until``), which every connector accepts (:class:`leadscore.agent.core.contract.Cursor`).

:class:`KeysetPaginator` drives the loop; the CRM's part (how a cursor becomes a request, which
field is the key and which the stamp) is passed in, so it is unit-tested without any CRM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Generic, Iterator, Self, Sequence, TypeVar

from leadscore.agent.core.errors import StalledCursorError
from leadscore.connectors.kit.times import iso_ms_z

R = TypeVar("R")
#: Reads a stored instant (as the connector's own timestamp reader does); None when unusable.
TimeReader = Callable[[Any], datetime | None]


@dataclass(frozen=True)
class Window:
    """The records stamped after ``since`` (less the overlap the caller allows for late
    commits and clock skew) up to ``until``; either end may be open (None)."""

    since: datetime | None
    until: datetime | None

    @classmethod
    def from_instant(cls, value: str | None, until: datetime | None, parse: TimeReader) -> Self:
        """The window after a plain-instant cursor value (none: from the beginning) up to ``until``."""
        return cls(parse(value) if value else None, until)

    def start(self, overlap: timedelta) -> datetime | None:
        """Where the window's query starts: ``overlap`` before ``since`` (None: open)."""
        return self.since - overlap if self.since is not None else None


@dataclass(frozen=True)
class KeysetCursor(Window):
    """A window, the last key read in it (``after``: 0 before the first page) and the newest
    stamp read so far (never past ``until``)."""

    after: int = 0
    newest: datetime | None = None

    @classmethod
    def decode(cls, value: str | None, parse: TimeReader) -> KeysetCursor | None:
        """The part-read window a cursor value holds; None when it holds none (a plain instant,
        or no value). A value that starts like JSON but is not raises ``ValueError``."""
        if not value or not value.startswith("{"):
            return None
        data = json.loads(value)
        return cls(parse(data.get("since")), parse(data.get("until")), int(data.get("after_id") or 0),
                   parse(data.get("newest")))

    def encode(self) -> str:
        """The cursor value of this part-read window (see the module docstring for its form)."""
        return json.dumps({"since": _instant(self.since), "until": _instant(self.until), "after_id": self.after,
                           "newest": _instant(self.newest)}, sort_keys=True)

    def read(self, keys: Sequence[int], stamps: Sequence[datetime | None]) -> KeysetCursor:
        """The cursor after a page with these keys and stamps."""
        newest = max([s for s in stamps if s is not None] + ([self.newest] if self.newest else []), default=None)
        if newest is not None and self.until is not None:
            newest = min(newest, self.until)
        return KeysetCursor(self.since, self.until, max(keys, default=self.after), newest)

    def done_value(self) -> str:
        """The cursor value once the window is read: its ``until`` (every record stamped before
        it has been read, up to the lag the overlap covers), else the newest stamp read, else
        where it started; empty when the window had no end and read nothing."""
        moment = self.until or self.newest or self.since
        return iso_ms_z(moment) if moment else ""

    def following(self, then: datetime | None) -> KeysetCursor | None:
        """After an interrupted window is finished, the window from its end up to ``then`` (the
        resuming pull's own ``until``); None when there is none to read."""
        if then is None or (self.until is not None and then <= self.until):
            return None
        return KeysetCursor(self.until or self.newest or self.since, then)


def _instant(moment: datetime | None) -> str | None:
    return iso_ms_z(moment) if moment else None


def resume(value: str, until: datetime | None, parse: TimeReader) -> tuple[KeysetCursor, datetime | None]:
    """The cursor a pull starts from, and the ``until`` to go on to once it is read: a part-read
    window is finished first, then the window after it up to this pull's ``until``; a plain
    instant starts a window up to ``until`` at once (nothing to go on to)."""
    cursor = KeysetCursor.decode(value, parse)
    if cursor is not None:
        return cursor, until
    return KeysetCursor.from_instant(value, until, parse), None


@dataclass(frozen=True)
class KeysetPage(Generic[R]):
    """One answer: its records, and whether the CRM said there were more."""

    records: Sequence[R]
    more: bool


class KeysetPaginator(Generic[R]):
    """Pages of a keyset-paged window, each with the cursor value that resumes after it.

    ``fetch`` asks the CRM for the records of ``cursor``'s window with keys above
    ``cursor.after``, ascending; ``key`` reads a record's key (an int), ``stamp`` its
    modification time. ``stalled`` is the message (``{after}``: the last key read) of the
    :class:`StalledCursorError` raised when an answer does not move the pull forward: a key at or
    before the last one read, or keys out of order, would page the same records forever.
    """

    def __init__(
        self,
        fetch: Callable[[KeysetCursor], KeysetPage[R]],
        *,
        key: Callable[[R], int],
        stamp: Callable[[R], datetime | None],
        stalled: str,
    ) -> None:
        self.fetch = fetch
        self.key = key
        self.stamp = stamp
        self.stalled = stalled

    def pages(self, cursor: KeysetCursor, then: datetime | None = None) -> Iterator[tuple[list[R], str]]:
        """Read ``cursor``'s window to its end, then (given ``then``, see :func:`resume`) the
        window after it. The last page's cursor value is the finished window's instant."""
        while True:
            page = self.fetch(cursor)
            records = list(page.records)
            keys = [self.key(r) for r in records]
            if any(k <= cursor.after for k in keys) or keys != sorted(keys):
                raise StalledCursorError(self.stalled.format(after=cursor.after))
            cursor = cursor.read(keys, [self.stamp(r) for r in records])
            if page.more and records:
                yield records, cursor.encode()
                continue
            following = cursor.following(then)
            if following is None:
                yield records, cursor.done_value()
                return
            yield records, following.encode()
            cursor, then = following, None


class HighWaterMark:
    """The newest modification stamp a pass has read, never past its window's ``until``: what an
    ordered pull's cursor becomes. Mixed into a pass's own dataclass, which declares ``newest``,
    ``until`` and ``advancing`` (False while reading records by id, which must not move it)."""

    newest: datetime | None
    until: datetime | None
    advancing: bool

    def advance(self, stamp: datetime | None) -> None:
        if stamp is None or not self.advancing:
            return
        if self.until is not None and stamp > self.until:
            stamp = self.until
        if self.newest is None or stamp > self.newest:
            self.newest = stamp
