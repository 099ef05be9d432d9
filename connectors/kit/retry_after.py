"""``Retry-After``: how long a CRM asked us to wait, and the wait the retry layer then takes.

Why here: HubSpot's client parsed the header itself and Salesforce's not at all. The parsing is
the same for every CRM (RFC 9110, section 10.2.3: ``Retry-After = HTTP-date / delay-seconds``),
so it lives once. Only parsing and the wait computation live here: the retrying itself stays in
one layer, :func:`leadscore.connectors.limits.retrying` (tenacity), which asks
:func:`retry_wait` how long to sleep before the next attempt.

What a server sends is not trusted blindly:

- ``"120"`` (delay-seconds) is seconds, and so is a decimal (``"1.5"``), which the RFC does not
  allow but which costs nothing to honour;
- ``"Wed, 21 Oct 2026 07:28:00 GMT"`` (an HTTP-date) is the time until then, zero when past;
- anything else (negative, ``nan``, ``inf``, an unreadable date, a huge string) is ignored (None),
  so the caller falls back to what the CRM documents or to backoff;
- a wait longer than ``cap`` is cut to ``cap``; the retry policy's ``max_wait`` cuts it again.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from leadscore.agent.core.errors import RateLimited

#: The longest wait a header is read as: a day. No CRM asks for more, and the retry policy
#: (``retry_max_wait``) cuts any wait far below it.
MAX_RETRY_AFTER = 86_400.0
#: Longer than any HTTP-date (29 characters) or sensible number: not parsed.
_LONGEST_VALUE = 64


def header(headers: Any, name: str) -> str | None:
    """The value of header ``name`` (any case) in ``headers`` (a mapping, urllib3's
    ``HTTPHeaderDict``, requests' ``CaseInsensitiveDict``, or a list of pairs); None when absent
    or when ``headers`` cannot be read as headers."""
    if not headers:
        return None
    try:
        for key, value in dict(headers).items():
            if str(key).lower() == name.lower():
                return str(value)
    except (TypeError, ValueError):
        return None
    return None


def parse_retry_after(value: str | None, *, now: datetime | None = None, cap: float = MAX_RETRY_AFTER) -> float | None:
    """The seconds a ``Retry-After`` value asks for (at most ``cap``), or None for no value or
    garbage. ``now`` (UTC) is the clock an HTTP-date is measured against."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > _LONGEST_VALUE:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _until(text, now)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, cap)


def _until(text: str, now: datetime | None) -> float | None:
    """Seconds from ``now`` until the HTTP-date ``text`` (zero when past); None when not a date."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": a date in UTC whose source zone is unknown
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def retry_after(headers: Any, *, now: datetime | None = None, cap: float = MAX_RETRY_AFTER) -> float | None:
    """The ``Retry-After`` of a response's ``headers``, in seconds (see :func:`parse_retry_after`)."""
    return parse_retry_after(header(headers, "Retry-After"), now=now, cap=cap)


def retry_wait(error: BaseException | None, max_wait: float) -> float | None:
    """How long the retry layer sleeps before retrying after ``error``: the wait a
    :class:`RateLimited` names, within ``[0, max_wait]``; None when it names none (the layer then
    backs off exponentially)."""
    if isinstance(error, RateLimited) and error.retry_after is not None:
        return min(max(error.retry_after, 0.0), max_wait)
    return None
