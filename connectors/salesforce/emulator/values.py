"""Field values: how the API writes them, how the emulator stores them, and Salesforce's rules.

Stored forms: datetimes as epoch milliseconds, dates as ``YYYY-MM-DD``, numbers as ``int``
(``int`` fields) or ``float``, booleans as ``bool``, everything else as ``str``. The REST API
answers datetimes as ``2026-10-01T12:00:00.000+0000`` and numbers of type double, currency and
percent as JSON floats (``250000.0``), as real responses do.

Two input paths, two kinds of failure, following where Salesforce detects each problem:

- REST JSON is deserialised into typed sObjects before anything is saved, so a value of the
  wrong JSON type for its field (``"abc"`` for a number) fails the *whole request* with
  ``400 JSON_PARSER_ERROR`` ("Cannot deserialize instance of double from VALUE_STRING value abc
  or request may be missing a required field at [line:1, column:42]"). Numeric strings such as
  ``"42"`` are coerced, as Salesforce does.
- Bulk API CSV cells are text; a cell that does not parse fails only its row, with
  ``INVALID_TYPE_ON_FIELD_IN_RECORD`` ("Employees: value not of required type: lots").

Either way the saved value is then checked per record (length, range, restricted picklist,
email shape, required), each failure a ``FieldProblem`` with Salesforce's status code.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from leadscore.connectors.salesforce.emulator import ids
from leadscore.connectors.salesforce.emulator.schema import NUMBER_TYPES, TEXT_TYPES, FieldDef

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class FieldProblem:
    """One entry of a SaveResult's ``errors``: ``{statusCode, message, fields}``."""

    status_code: str
    message: str
    fields: tuple[str, ...] = ()

    def as_error(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": list(self.fields)}

    def as_csv(self) -> str:
        """The Bulk API ``sf__Error`` cell: ``CODE:message:field,field --``."""
        return f"{self.status_code}:{self.message}:{','.join(self.fields)} --"


class CellError(Exception):
    """A Bulk API CSV cell that does not parse for its field (fails only its row)."""

    def __init__(self, problem: FieldProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class JsonTypeError(Exception):
    """A JSON value that cannot be deserialised into its field's type (whole request fails)."""

    def __init__(self, type_word: str, token: str, value: Any) -> None:
        super().__init__(type_word, token, value)
        self.type_word = type_word
        self.token = token
        self.value = value


# --- datetimes and dates -----------------------------------------------------------------------------


#: Day number since the epoch -> its ``YYYY-MM-DDT`` (rendering a page formats thousands of stamps).
_DAYS: dict[int, str] = {}


def iso_ms(ms: int) -> str:
    """``2026-10-01T12:00:00.000+0000``, the form REST responses use."""
    if type(ms) is not int:
        moment = EPOCH + timedelta(milliseconds=ms)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"
    day, rest = divmod(ms, 86_400_000)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = (EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
        if len(_DAYS) >= 100_000:
            _DAYS.clear()
        _DAYS[day] = prefix
    seconds, milli = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}+0000"


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(round((moment - EPOCH).total_seconds() * 1000))


def parse_datetime(text: str) -> int | None:
    """Epoch ms of an ISO 8601 datetime (``Z``, ``+0000`` or ``+00:00``, optional fraction).

    Reading taken: a datetime without a zone is taken as UTC (the API documents UTC as the
    default zone for values without an offset).
    """
    found = _DATETIME.match(text.strip()) if isinstance(text, str) else None
    if not found:
        return None
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc)
    except ValueError:
        return None
    ms = to_ms(moment) + (int((fraction or "0")[:3].ljust(3, "0")))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        ms -= sign * (int(digits[:2]) * 60 + int(digits[2:])) * 60_000
    return ms


def parse_date(text: str) -> str | None:
    found = _DATE.match(text.strip()) if isinstance(text, str) else None
    if not found:
        return None
    try:
        return date(int(found[1]), int(found[2]), int(found[3])).isoformat()
    except ValueError:
        return None


def date_of_ms(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).date().isoformat()


def day_start_ms(day: str) -> int:
    return to_ms(datetime.fromisoformat(day).replace(tzinfo=timezone.utc))


# --- rendering ------------------------------------------------------------------------------------------


def render(definition: FieldDef, stored: Any) -> Any:
    """The JSON value the REST API answers for a stored value."""
    if stored is None:
        return None
    if definition.type == "datetime":
        return iso_ms(int(stored))
    if definition.type in ("double", "currency", "percent"):
        return float(stored)
    return stored


def render_csv(definition: FieldDef, stored: Any) -> str:
    if stored is None:
        return ""
    if definition.type == "datetime":
        return iso_ms(int(stored)).replace("+0000", "Z")
    if definition.type == "boolean":
        return "true" if stored else "false"
    if definition.type in ("double", "currency", "percent"):
        number = float(stored)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(stored)


# --- coercion -----------------------------------------------------------------------------------------


def _token(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "VALUE_STRING"


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "{"
    if isinstance(value, list):
        return "["
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def from_json(definition: FieldDef, value: Any) -> Any:
    """Deserialise a REST JSON value for ``definition``; raises :class:`JsonTypeError`."""
    if value is None:
        return None
    kind = definition.type
    if isinstance(value, (dict, list)):
        raise JsonTypeError(_type_word(kind), _token(value), _shown(value))
    if kind in TEXT_TYPES or kind in ("id", "reference"):
        return _shown(value) if not isinstance(value, str) else value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise JsonTypeError("boolean", _token(value), _shown(value))
    if kind in NUMBER_TYPES:
        number = _number(value)
        if number is None or (kind == "int" and not float(number).is_integer()):
            raise JsonTypeError(_type_word(kind), _token(value), _shown(value))
        return int(number) if kind == "int" else float(number)
    if kind == "datetime":
        ms = parse_datetime(value) if isinstance(value, str) else None
        if ms is None:
            raise JsonTypeError("datetime", _token(value), _shown(value))
        return ms
    if kind == "date":
        day = parse_date(value[:10] if isinstance(value, str) and "T" in value else value) \
            if isinstance(value, str) else None
        if day is None:
            raise JsonTypeError("date", _token(value), _shown(value))
        return day
    return value


def from_csv(definition: FieldDef, cell: str) -> Any:
    """Parse a Bulk API CSV cell (``#N/A`` clears); raises :class:`CellError` for a bad value."""
    if cell == "#N/A":
        return None
    kind = definition.type
    if kind in TEXT_TYPES or kind in ("id", "reference"):
        return cell
    parsed: Any = None
    if kind == "boolean" and cell.lower() in ("true", "false", "1", "0", "yes", "no"):
        parsed = cell.lower() in ("true", "1", "yes")
    elif kind in NUMBER_TYPES:
        number = _number(cell)
        if number is not None and not (kind == "int" and not float(number).is_integer()):
            parsed = int(number) if kind == "int" else float(number)
    elif kind == "datetime":
        parsed = parse_datetime(cell) if "T" in cell else (
            day_start_ms(parse_date(cell)) if parse_date(cell) else None)  # type: ignore[arg-type]
    elif kind == "date":
        parsed = parse_date(cell[:10] if "T" in cell else cell)
    if parsed is None:
        raise CellError(type_problem(definition, cell))
    return parsed


def from_python(definition: FieldDef, value: Any) -> Any:
    """Values from the emulator's Python handle: datetimes, dates, numbers or API strings."""
    if value is None:
        return None
    if definition.type == "datetime" and isinstance(value, datetime):
        return to_ms(value)
    if definition.type == "date" and isinstance(value, datetime):
        return value.astimezone(timezone.utc).date().isoformat() if value.tzinfo else value.date().isoformat()
    if definition.type == "date" and isinstance(value, date):
        return value.isoformat()
    if definition.type == "datetime" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    try:
        return from_json(definition, value)
    except JsonTypeError:
        raise ValueError(f"{definition.name}: {value!r} is not a valid {definition.type}") from None


def type_problem(definition: FieldDef, value: Any) -> FieldProblem:
    return FieldProblem("INVALID_TYPE_ON_FIELD_IN_RECORD",
                        f"{definition.label}: value not of required type: {value}", (definition.name,))


def _type_word(kind: str) -> str:
    return {"currency": "double", "percent": "double", "reference": "id"}.get(kind, kind)


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


# --- per-record rules ---------------------------------------------------------------------------------


def check(definition: FieldDef, stored: Any) -> tuple[Any, FieldProblem | None]:
    """Apply Salesforce's save-time rules to one value; the value as saved, or a problem."""
    name, label = definition.name, definition.label
    if stored is None or stored == "":
        if not definition.nillable and definition.type != "boolean":
            return None, FieldProblem("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", (name,))
        return None, None
    kind = definition.type
    if kind in TEXT_TYPES and definition.length and len(str(stored)) > definition.length:
        return None, FieldProblem("STRING_TOO_LONG",
                                  f"{label}: data value too large: {_abbreviate(str(stored))} "
                                  f"(max length={definition.length})", (name,))
    if kind == "picklist" and definition.restricted and stored not in {p.value for p in definition.picklist}:
        return None, FieldProblem("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                  f"{label}: bad value for restricted picklist field: {stored}", (name,))
    if kind == "email" and not _EMAIL.match(str(stored)):
        return None, FieldProblem("INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {stored}", (name,))
    if kind == "reference" and ids.normalise(str(stored)) is None:
        return None, FieldProblem("MALFORMED_ID", f"{label}: id value of incorrect type: {stored}", (name,))
    if kind == "reference":
        return ids.normalise(str(stored)), None
    if kind in NUMBER_TYPES:
        return _in_range(definition, stored)
    return stored, None


def _in_range(definition: FieldDef, stored: Any) -> tuple[Any, FieldProblem | None]:
    """Number(precision, scale) holds ``precision - scale`` integer digits; the value is rounded
    half-up to ``scale`` decimals on save, as the Number field documentation describes."""
    if definition.type == "int":
        whole_digits = definition.digits or 9
        value: float | int = int(stored)
    else:
        whole_digits = (definition.precision or 18) - definition.scale
        factor = 10 ** definition.scale
        value = math.floor(abs(float(stored)) * factor + 0.5) / factor * (1 if float(stored) >= 0 else -1)
    if abs(value) >= 10 ** whole_digits:
        return None, FieldProblem("NUMBER_OUTSIDE_VALID_RANGE",
                                  f"{definition.label}: value outside of valid range on numeric field: {stored}",
                                  (definition.name,))
    return value, None


def _abbreviate(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
