"""One JSON text per value: how the store writes its JSON columns and keys its activities.

The engine serialises every JSON column through :func:`canonical_json`, the mirror hashes it into
activity keys, and the diff compares values by it (:mod:`leadscore.agent.sync.diff`), so key
order, tuples versus lists and datetimes versus their ISO text never make two texts of one value.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Mapping

import orjson


class UnstorableValue(TypeError):
    """A value the store cannot keep as JSON (a connector handed over an object, not data)."""


def json_default(value: Any) -> Any:
    """JSON for the few non-JSON values that reach the store: datetimes as ISO-8601 UTC (so a
    value compares equal before and after a round trip), sets sorted, decimals as numbers."""
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return moment.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    raise UnstorableValue(f"a value of type {type(value).__name__} cannot be stored as JSON")


def canonical_json(value: Any) -> str:
    """One text per value: key order, tuples versus lists and datetimes versus their ISO text make
    no difference. The diff compares these, and activity keys hash them."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=json_default, ensure_ascii=False)


_STORED = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def stored_json(value: Any) -> str:
    """The text the store writes in its JSON columns: :func:`canonical_json`'s value (keys
    sorted, the same :func:`json_default`), written by orjson, several times faster. Read back,
    both give the same value; only the text of some floats differs (``1e16``, not ``1e+16``), and
    a NaN is ``null`` rather than a token no JSON reader takes."""
    try:
        return orjson.dumps(value, default=json_default, option=_STORED).decode()
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, UnstorableValue):
            raise exc.__cause__ from None
        raise UnstorableValue(str(exc)) from exc


def stored_value(text: str | bytes) -> Any:
    """A JSON column's value: orjson, or the standard library for a text orjson refuses (a
    ``NaN`` token an older leadscore wrote)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def read_json(value: Any) -> Any:
    """A JSON column read raw (``sa.type_coerce(column, sa.Text)``): SQLite's text decoded by
    :func:`stored_value`; PostgreSQL's ``jsonb``, which psycopg decodes itself (with the same
    :func:`stored_value`), as it comes. The store's hottest reads (a rescore's mirror pages and
    last written values) skip SQLAlchemy's JSON result conversion this way."""
    return stored_value(value) if value.__class__ is str or value.__class__ is bytes else value
