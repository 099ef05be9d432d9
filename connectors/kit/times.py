"""The CRMs' timestamps: reading what they answer, writing what they take, and when a day ends.

Why here: each pull had its own reader, each client its own "next UTC midnight", and a value
one reader learned to survive (``"99999999999999999"``, an offset pushing ``0001-01-01`` out of
the calendar) crashed the other. One reader per CRM, each never raising for a value:

- HubSpot answers ISO 8601 with ``Z`` (``2026-10-01T12:00:00.000Z``, with or without the
  milliseconds) and, in some properties and older endpoints, epoch milliseconds
  (``"1700000000000"``);
- Salesforce answers ``2026-11-01T00:00:00.000+0000`` (an offset without its colon) for datetime
  fields and ``2026-11-01`` for date fields.

A reader returns ``(moment, reason)``: the moment in UTC (a naive value is UTC), or None with,
when a value was there but cannot be used, the reason, which the pulls name on the record
(:class:`leadscore.agent.core.records.Unusable`). A missing or blank value is ``(None, None)``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

#: Epoch milliseconds: ASCII digits only (``str.isdigit`` also takes ``"²"``), and at most 15 of
#: them (year 33658) - longer ones are past any datetime and would cost int() a long parse.
_EPOCH_MS = re.compile(r"-?\d{1,15}", re.ASCII)
_DIGITS = re.compile(r"-?\d+", re.ASCII)
#: Longer than any timestamp either CRM writes: read no further (and parse nothing huge).
_LONGEST_TIME_TEXT = 64
_DATE_ONLY = 10  # len("2026-11-01")


# --- reading -------------------------------------------------------------------------------


def read_hubspot_time(value: Any) -> tuple[datetime | None, str | None]:
    """A HubSpot datetime (ISO 8601 or epoch milliseconds, as a string or an int) in UTC and,
    when a value is present but unusable, why; never raises."""
    if _blank(value):
        return None, None
    if isinstance(value, datetime):
        return _in_utc(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None, _not_a_time(value)
    if isinstance(value, int) and abs(value) >= 10**15:
        return None, "epoch milliseconds out of range"
    text = value.strip() if isinstance(value, str) else str(value)
    if _DIGITS.fullmatch(text):
        if not _EPOCH_MS.fullmatch(text):
            return None, f"epoch milliseconds out of range ({len(text.lstrip('-'))} digits)"
        try:
            return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc), None
        except (OverflowError, OSError, ValueError):
            return None, "epoch milliseconds out of range"
    if len(text) > _LONGEST_TIME_TEXT:
        return None, _too_long(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None, "not a date/time"
    return _in_utc(moment)


def parse_hubspot_time(value: Any) -> datetime | None:
    """:func:`read_hubspot_time` without the reason: None when missing or unusable."""
    return read_hubspot_time(value)[0]


def read_salesforce_time(value: Any) -> tuple[datetime | None, str | None]:
    """A Salesforce datetime (``2026-10-01T12:00:00.000+0000``) or date (``2026-10-01``) in UTC
    and, when a value is present but unusable, why; never raises."""
    if _blank(value):
        return None, None
    if isinstance(value, datetime):
        value = value.isoformat()
    if not isinstance(value, str):
        return None, _not_a_time(value)
    text = value.strip()
    if len(text) > _LONGEST_TIME_TEXT:
        return None, _too_long(text)
    if len(text) == _DATE_ONLY:
        text += "T00:00:00+00:00"
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isascii() and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]  # +0000 -> +00:00
    try:
        moment = datetime.fromisoformat(text)
        return (moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)), None
    except ValueError:
        return None, "not a date/time"
    except OverflowError:
        return None, "date/time out of range"


def parse_salesforce_time(value: Any) -> datetime | None:
    """:func:`read_salesforce_time` without the reason: None when missing or unusable."""
    return read_salesforce_time(value)[0]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _not_a_time(value: Any) -> str:
    return f"a {type(value).__name__}, not a date/time"


def _too_long(text: str) -> str:
    return f"not a date/time ({len(text):,} characters)"


def _in_utc(moment: datetime) -> tuple[datetime | None, str | None]:
    """``moment`` in UTC (naive is UTC): an offset can push the first or last day of the
    calendar out of it (``0001-01-01T00:00+05:00``), which no store or sum could then take."""
    try:
        return (moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)), None
    except (OverflowError, ValueError):
        return None, "date/time out of range"


# --- writing -------------------------------------------------------------------------------


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds: what HubSpot's search filters and datetime properties take."""
    return int(moment.timestamp() * 1000)


def iso_ms_z(moment: datetime) -> str:
    """ISO 8601 in UTC to the millisecond with ``Z`` (``2026-10-01T12:00:00.000Z``): HubSpot's
    own spelling, and the one the stored cursors use."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_z(moment: datetime) -> str:
    """``moment.isoformat()`` with a UTC offset spelled ``Z``, at the precision it has; a moment
    in another offset keeps it (Salesforce takes either in a datetime field)."""
    return moment.isoformat().replace("+00:00", "Z")


def soql_datetime(moment: datetime) -> str:
    """A SOQL datetime literal (``2026-10-01T12:00:00Z``, unquoted; SOQL takes whole seconds)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_date(moment: datetime) -> str:
    """A SOQL date literal (``2026-10-01``): the UTC day of ``moment``."""
    return soql_datetime(moment).partition("T")[0]


# --- days ----------------------------------------------------------------------------------


def next_utc_midnight(moment: datetime | date | None = None) -> datetime:
    """The midnight (UTC) that ends the day of ``moment`` (now when None; a ``date`` is that
    day; a naive datetime is UTC): when a daily API allocation counted by the UTC day resets,
    so a paused connector resumes then rather than retrying into a spent quota."""
    if moment is None:
        moment = datetime.now(timezone.utc)
    if isinstance(moment, datetime):
        day = (moment.astimezone(timezone.utc) if moment.tzinfo else moment).date()
    else:
        day = moment
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=timezone.utc)
