"""``POST /crm/v3/objects/{type}/search``: HubSpot's filter, sort and paging semantics.

Documented behaviour implemented here ("Search the CRM" guide):

- ``filterGroups`` are ORed, the ``filters`` inside one group are ANDed; at most five groups,
  six filters per group and 18 filters in all, else ``VALIDATION_ERROR``;
- filter values are case-insensitive, except for enumeration properties (case-sensitive with
  every operator) and ``IN``/``NOT_IN`` on string properties, whose values must be lower case;
- ``CONTAINS_TOKEN`` takes ``*`` wildcards (``*@hubspot.com``);
- date and datetime values may be epoch milliseconds or ISO 8601 and compare as instants;
- one sorting rule at most; without one, results come in creation order, oldest first;
- ``limit`` defaults to 10, at most 200; ``after`` is an integer offset; a query can reach
  no further than 10,000 results ("Attempting to page beyond 10,000 will result in a 400
  error"); ``total`` still counts every match;
- the ``query`` string (at most 3,000 characters) matches the type's default searchable
  properties; archived records never appear;
- "It may take a few moments for newly created or updated CRM objects to appear in search
  results": with ``Store.search_lag`` set (seconds; 0 by default), search sees each record as it
  was that long ago - a record created since is not found, one updated since matches and answers
  with its earlier values - while reads by id see the record as it is.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable, Mapping

from leadscore.connectors.hubspot.emulator import values
from leadscore.connectors.hubspot.emulator.errors import validation_error
from leadscore.connectors.hubspot.emulator.index import Interval
from leadscore.connectors.hubspot.emulator.schema import ObjectType, resolve_object_type
from leadscore.connectors.hubspot.emulator.store import Record, Store

MAX_LIMIT = 200
DEFAULT_LIMIT = 10
RESULT_CAP = 10_000
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_QUERY_LENGTH = 3000

OPERATORS = frozenset(
    {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
     "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
)

Predicate = Callable[[Record], bool]


def search(store: Store, kind: ObjectType, body: Any) -> dict[str, Any]:
    """Run one search request and answer ``CollectionResponseWithTotalSimplePublicObject``."""
    if not isinstance(body, dict):
        raise validation_error("Invalid input JSON: expected an object")
    limit = _limit(body.get("limit"))
    after = _after(body.get("after"))
    if after + limit > RESULT_CAP:
        # The documented 10,000-result ceiling: a page reaching past it is refused outright.
        raise validation_error(
            f"Paging past the {RESULT_CAP}th result is not supported: after ({after}) plus limit ({limit})"
            f" exceeds {RESULT_CAP}. Narrow the query with filters instead.",
        )
    predicate = _predicate(store, kind, body)
    order = _order(store, kind, body.get("sorts"))
    properties = body.get("properties") or None
    if properties is not None and not (isinstance(properties, list) and all(isinstance(p, str) for p in properties)):
        raise validation_error("properties must be a list of property names")
    with store.lock:
        cutoff = store.indexed_as_of()
        indexed = _indexed(store, kind, body, predicate, order, after, limit) if cutoff is None else None
        if indexed is not None:
            total, page = indexed
        else:
            matches = _matches(store, kind, body, predicate, order, cutoff)
            total, page = len(matches), matches[after:after + limit]
        result: dict[str, Any] = {
            "total": total,
            "results": [store.present(r, properties) for r in page],
        }
    if after + limit < total:
        result["paging"] = {"next": {"after": str(after + limit)}}
    return result


CACHE_SIZE = 16


def _matches(store: Store, kind: ObjectType, body: Mapping[str, Any], predicate: Predicate,
             order: Callable[[list[Record]], list[Record]], cutoff: int | None,
             candidates: Callable[[], Iterable[Record]] | None = None) -> list[Record]:
    """Every match in answer order, among the records as the search index holds them (as of
    ``cutoff``, or as they are now). Paging re-runs one query page after page, so the ordered
    matches are kept while the portal is unchanged and the index has caught up (a benchmark
    paging 10,000 results of a 100,000-contact portal would otherwise sort the portal fifty times)."""
    criteria = {k: body.get(k) for k in ("filterGroups", "filters", "sorts", "query")}
    key = (kind.name, store.version, json.dumps(criteria, sort_keys=True, default=str))
    cached = store.search_cache.get(key) if cutoff is None else None
    if cached is not None:
        store.search_cache.move_to_end(key)
        return cached
    records = candidates() if candidates is not None else store.records(kind.name)
    if cutoff is not None:
        records = (view for view in (store.as_of(r, cutoff) for r in records) if view is not None)
    matches = order([r for r in records if predicate(r)])
    if cutoff is not None:
        return matches
    store.search_cache[key] = matches
    while len(store.search_cache) > CACHE_SIZE:
        store.search_cache.popitem(last=False)
    return matches


#: Filter operators the indexes answer: a range of values.
RANGE_OPERATORS = frozenset({"EQ", "LT", "LTE", "GT", "GTE", "BETWEEN"})


def _indexed(store: Store, kind: ObjectType, body: Mapping[str, Any], predicate: Predicate,
             order: Callable[[list[Record]], list[Record]], after: int, limit: int) -> tuple[int, list[Record]] | None:
    """The total and the page from the store's indexes, when they determine the answer exactly: no
    ``query``, at most one filter group whose filters are ranges (EQ, LT, LTE, GT, GTE, BETWEEN)
    on ``hs_object_id`` or the type's last-modified stamps, records created in id order with
    ``hs_object_id`` their id. Answers in id order (no sort, or a sort on ``hs_object_id``) are
    read straight off the id index; other sorts order the (indexed) matches as a scan would.
    ``None``: the request needs the scan. The request is already validated."""
    if body.get("query") or not store.ids_are_object_ids(kind.name):
        return None
    groups = _groups(body)
    if len(groups) > 1:
        return None
    ids, where = Interval(), {}
    for spec in groups[0] if groups else []:
        name, operator = spec["propertyName"], spec["operator"]
        definition = store.definition(kind.name, name)
        if operator not in RANGE_OPERATORS or definition is None:
            return None
        if name == "hs_object_id" and definition["type"] == "number":
            interval = ids
        elif name in kind.lastmodified and definition["type"] == "datetime":
            interval = where.setdefault(name, Interval())
        else:
            return None
        high = values.comparable(definition, str(spec["highValue"])) if operator == "BETWEEN" else None
        interval.narrow(operator, values.comparable(definition, str(spec["value"])), high)
    live = store.live_index(kind.name)
    sorts = body.get("sorts")
    rule = _sort_rule(sorts[0]) if sorts else None
    if rule is None or rule[0] == "hs_object_id":
        total, page = live.select(ids, where, after, limit, descending=bool(rule and rule[1]))
        return total, [store.record(kind.name, i) for i in page]

    def candidates() -> Iterable[Record]:
        return (store.record(kind.name, i) for i in live.select(ids, where, 0, len(live))[1])

    matches = _matches(store, kind, body, predicate, order, None, candidates)
    return len(matches), matches[after:after + limit]


# --- request parts -----------------------------------------------------------------------------


def _limit(raw: Any) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).lstrip("-").isdigit():
        raise validation_error(f"limit must be an integer, got {raw!r}")
    limit = int(raw)
    if limit < 0 or limit > MAX_LIMIT:
        raise validation_error(f"limit must be between 0 and {MAX_LIMIT}, got {limit}",
                               errors=[{"message": f"must be less than or equal to {MAX_LIMIT}", "in": "limit"}])
    return limit


def _after(raw: Any) -> int:
    # "You must format the value in the after parameter as an integer."
    if raw in (None, ""):
        return 0
    text = str(raw)
    if isinstance(raw, bool) or not text.isdigit():
        raise validation_error(f"after must be an integer offset, got {raw!r}")
    return int(text)


def _groups(body: Mapping[str, Any]) -> list[list[Mapping[str, Any]]]:
    groups = body.get("filterGroups")
    if groups is None:
        # Reading taken: a bare top-level ``filters`` list (used by one guide example) is one group.
        filters = body.get("filters")
        groups = [{"filters": filters}] if filters else []
    if not isinstance(groups, list):
        raise validation_error("filterGroups must be a list")
    parsed: list[list[Mapping[str, Any]]] = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise validation_error("each filter group needs a filters list")
        parsed.append(filters)
    total = sum(len(f) for f in parsed)
    if len(parsed) > MAX_GROUPS or any(len(f) > MAX_FILTERS_PER_GROUP for f in parsed) or total > MAX_FILTERS:
        raise validation_error(
            f"Too many filters: at most {MAX_GROUPS} filterGroups with up to {MAX_FILTERS_PER_GROUP} filters each "
            f"and {MAX_FILTERS} filters in total are allowed (got {len(parsed)} groups, {total} filters)."
        )
    return parsed


def _predicate(store: Store, kind: ObjectType, body: Mapping[str, Any]) -> Predicate:
    groups = [[_filter(store, kind, f) for f in filters] for filters in _groups(body)]
    query = body.get("query")
    if query is not None and not isinstance(query, str):
        raise validation_error("query must be a string")
    if query and len(query) > MAX_QUERY_LENGTH:
        raise validation_error(f"query can contain at most {MAX_QUERY_LENGTH} characters")
    text = _query(kind, query) if query else None

    def matches(record: Record) -> bool:
        if text is not None and not text(record):
            return False
        if not groups:
            return True
        return any(all(f(record) for f in group) for group in groups)

    return matches


def _query(kind: ObjectType, query: str) -> Predicate:
    needle = query.lower()

    def matches(record: Record) -> bool:
        return any(needle in record.properties.get(n, "").lower() for n in kind.searchable)

    return matches


def _filter(store: Store, kind: ObjectType, spec: Any) -> Predicate:
    if not isinstance(spec, dict):
        raise validation_error("each filter must be an object")
    name, operator = spec.get("propertyName"), spec.get("operator")
    if not isinstance(name, str) or not name:
        raise validation_error("filter propertyName is required")
    if operator not in OPERATORS:
        raise validation_error(f"filter operator must be one of {sorted(OPERATORS)}, got {operator!r}")
    if name.startswith("associations."):
        return _association_filter(store, kind, name, operator, spec)
    definition = store.definition(kind.name, name)
    if definition is None:
        # Reading taken: HubSpot validates filter property names; an unknown one is a 400.
        raise validation_error(f"Property '{name}' does not exist on {kind.name}",
                               errors=[{"message": f"Property '{name}' does not exist", "code": "PROPERTY_DOESNT_EXIST",
                                        "context": {"propertyName": [name]}}])
    try:
        return _property_filter(definition, name, operator, spec)
    except values.ValueProblem as exc:
        raise validation_error(f"Invalid filter value for {name}: {exc.message}") from None


def _required(spec: Mapping[str, Any], key: str, operator: str) -> Any:
    if spec.get(key) is None:
        raise validation_error(f"operator {operator} requires '{key}'")
    return spec[key]


def _property_filter(definition: Mapping[str, Any], name: str, operator: str, spec: Mapping[str, Any]) -> Predicate:
    def stored(record: Record) -> Any:
        value = record.properties.get(name)
        return None if value is None else values.stored_comparable(definition, value)

    if operator == "HAS_PROPERTY":
        return lambda r: name in r.properties
    if operator == "NOT_HAS_PROPERTY":
        return lambda r: name not in r.properties
    if operator in ("IN", "NOT_IN"):
        raw_values = _required(spec, "values", operator)
        if not isinstance(raw_values, list):
            raise validation_error(f"operator {operator} requires a 'values' list")
        wanted = {_exact(definition, str(v)) for v in raw_values}
        if operator == "IN":
            return lambda r: name in r.properties and _exact_stored(definition, r.properties[name]) in wanted
        return lambda r: name not in r.properties or _exact_stored(definition, r.properties[name]) not in wanted
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = _token_pattern(str(_required(spec, "value", operator)))
        if operator == "CONTAINS_TOKEN":
            return lambda r: name in r.properties and _has_token(r.properties[name], pattern)
        return lambda r: name not in r.properties or not _has_token(r.properties[name], pattern)
    value = values.comparable(definition, str(_required(spec, "value", operator)))
    if operator == "BETWEEN":
        high = values.comparable(definition, str(_required(spec, "highValue", operator)))
        return lambda r: (v := stored(r)) is not None and value <= v <= high
    if operator == "NEQ":
        # Reading taken: records without a value are "not equal" too (a must-not match).
        return lambda r: (v := stored(r)) is None or v != value
    compare = {
        "EQ": lambda a, b: a == b,
        "LT": lambda a, b: a < b,
        "LTE": lambda a, b: a <= b,
        "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b,
    }[operator]
    return lambda r: (v := stored(r)) is not None and compare(v, value)


def _exact(definition: Mapping[str, Any], text: str) -> Any:
    """IN/NOT_IN values: exact match; string values must be given in lower case (documented)."""
    if definition["type"] in ("string", "phone_number", "enumeration"):
        return text
    return values.comparable(definition, text)


def _exact_stored(definition: Mapping[str, Any], stored: str) -> Any:
    if definition["type"] in ("string", "phone_number"):
        return stored.lower()
    if definition["type"] == "enumeration":
        return stored
    return values.stored_comparable(definition, stored)


def _token_pattern(value: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in value.lower().split("*")]
    return re.compile(".*".join(parts))


_TOKEN_SPLIT = re.compile(r"[^\w]+", re.UNICODE)


def _has_token(stored: str, pattern: re.Pattern[str]) -> bool:
    """Reading taken: a value's tokens are the whole value, its whitespace-separated words and
    its alphanumeric runs; a token pattern (``*`` = anything) must match one token entirely."""
    lowered = stored.lower()
    tokens = {lowered, *lowered.split(), *(t for t in _TOKEN_SPLIT.split(lowered) if t)}
    return any(pattern.fullmatch(t) for t in tokens)


def _association_filter(store: Store, kind: ObjectType, name: str, operator: str, spec: Mapping[str, Any]) -> Predicate:
    """The ``associations.{objectType}`` pseudo-property (EQ / IN on the associated record id)."""
    target = resolve_object_type(name.split(".", 1)[1])
    if target is None or operator not in ("EQ", "IN"):
        raise validation_error(f"Unsupported association filter {name} {operator}")
    wanted = {str(v) for v in (spec.get("values") or [spec.get("value")]) if v is not None}
    return lambda r: any(i in wanted for i in store.associated(kind.name, r.id, target.name))


def _order(store: Store, kind: ObjectType, sorts: Any) -> Callable[[list[Record]], list[Record]]:
    if sorts in (None, []):
        return lambda rs: rs  # creation order, oldest first
    if not isinstance(sorts, list):
        raise validation_error("sorts must be a list")
    if len(sorts) > 1:
        raise validation_error("Only one sorting rule can be applied to a search.")
    name, descending = _sort_rule(sorts[0])
    definition = store.definition(kind.name, name)
    if definition is None:
        raise validation_error(f"Property '{name}' does not exist on {kind.name}")

    def order(records: list[Record]) -> list[Record]:
        present = [r for r in records if name in r.properties]
        absent = [r for r in records if name not in r.properties]
        present.sort(key=lambda r: int(r.id))
        present.sort(key=lambda r: values.sort_key(definition, r.properties[name]), reverse=descending)
        return present + absent  # records without the value come last either way

    return order


def _sort_rule(rule: Any) -> tuple[str, bool]:
    """A sort given as HubSpot documents it (``{"propertyName", "direction"}``) or, as the
    OpenAPI document types it, as a bare property name string (ascending)."""
    if isinstance(rule, str):
        return rule, False
    if isinstance(rule, dict) and isinstance(rule.get("propertyName"), str):
        direction = str(rule.get("direction", "ASCENDING")).upper()
        if direction not in ("ASCENDING", "DESCENDING"):
            raise validation_error(f"sort direction must be ASCENDING or DESCENDING, got {direction!r}")
        return rule["propertyName"], direction == "DESCENDING"
    raise validation_error("each sort needs a propertyName")
