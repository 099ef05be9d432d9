"""Property values: parsing what clients send, storing it as HubSpot does, comparing it in search.

HubSpot's properties guide: ``date`` and ``datetime`` values "can be formatted as ISO 8601
strings or EPOCH-timestamps in milliseconds", a ``date`` must be midnight UTC, a ``number`` holds
"numeric digits and at most one decimal", and an ``enumeration`` value must be one of the
property's options (several, separated by ``;``, for ``checkbox`` fields). Passing ``""`` clears a
value, and non-string values may not carry surrounding whitespace. The v3 API answers datetimes
as ISO 8601 with milliseconds and ``Z`` (``2024-01-17T19:55:04.281Z``) and dates as
``YYYY-MM-DD``, whatever form was written.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from leadscore.connectors.hubspot.emulator.errors import PropertyProblem

_EPOCH_MS = re.compile(r"^-?\d{1,15}$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class ValueProblem(ValueError):
    """A value the property's type rejects; carries HubSpot's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- time ---------------------------------------------------------------------------------------


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(round(moment.timestamp() * 1000))


_DAYS: dict[int, str] = {}


def iso_ms(epoch_ms: int) -> str:
    """``2024-01-17T19:55:04.281Z``: how v3 answers every datetime. (The date part is formatted
    once per day and kept; the time of day is arithmetic: seeding a large portal formats
    millions of stamps.)"""
    day, rem = divmod(epoch_ms, 86_400_000)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86_400, tz=timezone.utc).strftime("%Y-%m-%dT")
        if len(_DAYS) < 1_000_000:
            _DAYS[day] = prefix
    seconds, millis = divmod(rem, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def parse_instant(text: str) -> int:
    """Epoch milliseconds from epoch-ms digits or an ISO 8601 date/datetime (UTC if no zone)."""
    text = text.strip()
    if _EPOCH_MS.match(text):
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueProblem("INVALID_DATE", f"{text} is not a valid ISO 8601 date or epoch millisecond timestamp")
    return to_ms(moment)


# --- writes ----------------------------------------------------------------------------------------


def _as_text(raw: Any) -> str:
    """HubSpot takes JSON numbers and booleans for properties too; they are stored as text."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def _normalise_number(text: str) -> str:
    if not _NUMBER.match(text.strip()):
        raise ValueProblem("INVALID_INTEGER", f"{text} was not a valid number.")
    try:
        number = Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the regex already rules these out
        raise ValueProblem("INVALID_INTEGER", f"{text} was not a valid number.")
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _normalise_enumeration(definition: Mapping[str, Any], text: str) -> str:
    allowed = [o["value"] for o in definition.get("options", [])]
    # A checkbox (multi-select) enumeration takes several options separated by ";".
    chosen = text.split(";") if definition.get("fieldType") == "checkbox" else [text]
    for value in chosen:
        if value not in allowed:
            # HubSpot lists the allowed option values after the rejected one.
            raise ValueProblem("INVALID_OPTION", f"{value} was not one of the allowed options: [{', '.join(allowed)}]")
    return text


def _normalise_bool(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueProblem("INVALID_BOOLEAN", f"{text} is not a valid boolean; use true or false.")
    return lowered


def _normalise_date(text: str) -> str:
    epoch_ms = parse_instant(text)
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    if epoch_ms % 86_400_000:
        # HubSpot: "<value> is at 10:0:0.0 UTC, not midnight!"
        raise ValueProblem(
            "INVALID_DATE",
            f"{text} is at {moment.hour}:{moment.minute}:{moment.second}.{epoch_ms % 1000} UTC, not midnight!",
        )
    return moment.date().isoformat()


def normalise(definition: Mapping[str, Any], raw: Any) -> str | None:
    """The stored form of ``raw`` for a property, ``None`` to clear it; raises :class:`ValueProblem`.

    Reading taken where HubSpot's docs are silent: JSON ``null`` clears like ``""`` does.
    """
    if raw is None:
        return None
    text = _as_text(raw)
    if text == "":
        return None
    kind = definition["type"]
    if kind not in ("string", "phone_number") and text != text.strip():
        # Since 2025 HubSpot refuses surrounding whitespace in every non-string value (changelog
        # "Enhanced Validations for Non-String Properties in HubSpot's CRMObject APIs").
        raise ValueProblem("LEADING_TRAILING_WHITESPACE", f'"{text}" includes leading or trailing whitespace.')
    if kind == "number":
        return _normalise_number(text)
    if kind == "enumeration":
        return _normalise_enumeration(definition, text)
    if kind == "bool":
        return _normalise_bool(text)
    if kind == "datetime":
        return iso_ms(parse_instant(text))
    if kind == "date":
        return _normalise_date(text)
    return text  # string, phone_number


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(text: str) -> str:
    """HubSpot stores contact emails lower-cased and rejects malformed ones (INVALID_EMAIL)."""
    if not _EMAIL.match(text.strip()):
        raise ValueProblem("INVALID_EMAIL", f"Email address {text} is invalid")
    return text.strip().lower()


def problem(name: str, exc: ValueProblem) -> PropertyProblem:
    return PropertyProblem(name, exc.code, exc.message)


def unknown_property(name: str) -> PropertyProblem:
    return PropertyProblem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')


def read_only_property(name: str) -> PropertyProblem:
    return PropertyProblem(name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.')


# --- search comparisons ----------------------------------------------------------------------------


def sort_key(definition: Mapping[str, Any] | None, stored: str | None) -> tuple[int, Any]:
    """A key that orders stored values by their type: numbers and times numerically."""
    if stored is None:
        return (1, 0)
    kind = definition["type"] if definition else "string"
    if kind == "number":
        try:
            return (0, Decimal(stored))
        except InvalidOperation:  # pragma: no cover - stored numbers are normalised
            return (0, Decimal(0))
    if kind in ("datetime", "date"):
        return (0, parse_instant(stored))
    return (0, stored.lower())


def comparable(definition: Mapping[str, Any] | None, text: str) -> Any:
    """A filter value in the form :func:`sort_key` compares (raises ValueProblem if unusable)."""
    kind = definition["type"] if definition else "string"
    if kind == "number":
        if not _NUMBER.match(text.strip()):
            raise ValueProblem("INVALID_INTEGER", f"{text} was not a valid number.")
        return Decimal(text.strip())
    if kind in ("datetime", "date"):
        return parse_instant(text)
    if kind == "bool":
        return text.strip().lower()
    if kind == "enumeration":
        return text  # enumeration filters are case-sensitive
    return text.lower()


def stored_comparable(definition: Mapping[str, Any] | None, stored: str) -> Any:
    kind = definition["type"] if definition else "string"
    if kind == "number":
        return Decimal(stored)
    if kind in ("datetime", "date"):
        return parse_instant(stored)
    if kind == "enumeration":
        return stored
    return stored.lower()


def today_utc(epoch_seconds: float) -> date:
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc).date()
