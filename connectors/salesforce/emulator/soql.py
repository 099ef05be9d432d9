"""SOQL: the subset a sync agent needs, parsed and checked the way Salesforce does.

Supported (SOQL and SOSL Reference): ``SELECT`` field list (or ``COUNT()``) ``FROM`` one
sObject, ``WHERE`` with ``AND``/``OR``/``NOT`` and parentheses, comparisons ``= != <> < <= > >=``,
``IN``/``NOT IN`` lists, ``LIKE`` with ``%``/``_``, ``ORDER BY`` several fields ``ASC|DESC``
``NULLS FIRST|LAST``, ``LIMIT`` and ``OFFSET`` (at most 2,000). Not supported: relationship
paths (``Who.Name``), sub-queries, ``GROUP BY``, ``TYPEOF``, ``WITH``, ``FOR``.

Behaviours followed, each from the reference:

- keywords and field names are case-insensitive; answers use each field's canonical name;
- string comparisons (``=``, ``IN``, ``LIKE``, ``ORDER BY``) are case-insensitive; ids compare
  exactly, in their 15- or 18-character form;
- literals must match the field's type: strings quoted (escapes ``\\' \\" \\\\ \\n \\r \\t \\b
  \\f \\uXXXX``, plus ``\\%``/``\\_`` in ``LIKE``), datetimes unquoted ISO 8601 with ``Z`` or an
  offset (``2026-01-01T00:00:00Z``, ``2026-01-01T00:00:00.000+0000``), dates unquoted
  ``YYYY-MM-DD``, booleans and numbers unquoted; otherwise ``INVALID_FIELD`` "value of filter
  criterion for field 'X' must be of type dateTime and should not be enclosed in quotes";
- date literals ``TODAY``, ``YESTERDAY``, ``TOMORROW``, ``LAST_N_DAYS:n``, ``NEXT_N_DAYS:n`` are
  ranges in the org's time zone (UTC here);
- ``AND`` and ``OR`` cannot be mixed at one level without parentheses (MALFORMED_QUERY);
- ``!=`` and ``NOT IN`` match records whose value is null, ``<``/``>`` never do (reading taken
  from SOQL's null handling: null is a value that differs from every literal);
- nulls sort first by default, in either direction ("By default, null values are sorted first");
- long text areas cannot be filtered or sorted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from leadscore.connectors.salesforce.emulator import ids, values
from leadscore.connectors.salesforce.emulator.index import STAMPS, Interval, KeyedRecords, Table
from leadscore.connectors.salesforce.emulator.errors import ApiError, soql_error
from leadscore.connectors.salesforce.emulator.schema import NUMBER_TYPES, TEXT_TYPES, FieldDef, SObjectDef

if TYPE_CHECKING:
    from leadscore.connectors.salesforce.emulator.store import Record

MAX_LENGTH = 100_000
MAX_OFFSET = 2_000
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC", "NULLS",
             "FIRST", "LAST", "LIMIT", "OFFSET", "GROUP", "HAVING", "WITH", "FOR", "INCLUDES", "EXCLUDES", "TYPEOF"}
_DATE_LITERALS = {"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS"}
_NO_SUCH_COLUMN = ("No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be "
                   "sure to append the '__c' after the custom field name. Please reference your WSDL or the "
                   "describe call for the appropriate names.")
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?![\w.]))
  | (?P<ident>[A-Za-z_][\w.]*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
  | (?P<string>')
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int
    value: Any = None

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


# --- syntax tree --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | boolean | null | datetime | date | dateliteral
    value: Any
    pos: int
    quoted: bool = False


@dataclass(frozen=True)
class Compare:
    field: str
    pos: int
    op: str  # = != < <= > >= IN NOT IN LIKE
    literals: tuple[Literal, ...]


@dataclass(frozen=True)
class Logical:
    op: str  # AND | OR | NOT
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class OrderItem:
    field: str
    pos: int
    descending: bool
    nulls_first: bool


@dataclass
class Query:
    text: str
    fields: list[tuple[str, int]]
    sobject: str
    sobject_pos: int
    count_only: bool = False
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


# --- lexer and parser -----------------------------------------------------------------------------------


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        found = _TOKEN.match(text, pos)
        if not found:
            raise _malformed(text, pos, f"unexpected token: '{text[pos]}'")
        kind = found.lastgroup or ""
        if kind == "string":
            value, end = _string(text, pos)
            tokens.append(Token("string", text[pos:end], pos, value))
            pos = end
            continue
        if kind != "ws":
            tokens.append(Token(kind, found.group(), pos))
        pos = found.end()
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


def _string(text: str, start: int) -> tuple[str, int]:
    out, pos = [], start + 1
    while pos < len(text):
        char = text[pos]
        if char == "'":
            return "".join(out), pos + 1
        if char == "\\":
            escape = text[pos + 1:pos + 2]
            if escape in _ESCAPES:
                out.append(_ESCAPES[escape])
                pos += 2
                continue
            if escape in ("%", "_"):
                out.append("\\" + escape)  # kept escaped: only LIKE gives them meaning
                pos += 2
                continue
            if escape == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[pos + 2:pos + 6]):
                out.append(chr(int(text[pos + 2:pos + 6], 16)))
                pos += 6
                continue
            raise _malformed(text, pos, "Invalid string literal '" + text[start:pos + 2] + "'. Illegal escape "
                             "sequence: '\\" + escape + "'")
        out.append(char)
        pos += 1
    raise _malformed(text, start, "line 1:" + str(start) + " mismatched character '<EOF>' expecting '''")


def _malformed(text: str, pos: int, message: str) -> ApiError:
    return soql_error("MALFORMED_QUERY", text, pos, message)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.at = 0

    # token helpers
    @property
    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def unexpected(self, token: Token | None = None) -> ApiError:
        token = token or self.peek
        shown = token.text if token.kind == "eof" else f"'{token.text}'"
        if token.kind == "eof":
            shown = "<EOF>"
        return _malformed(self.text, token.pos, f"unexpected token: {shown}")

    def keyword(self, word: str) -> Token:
        token = self.take()
        if token.upper != word:
            raise self.unexpected(token)
        return token

    def accept(self, word: str) -> bool:
        if self.peek.upper == word:
            self.at += 1
            return True
        return False

    def name(self) -> Token:
        token = self.take()
        if token.kind != "ident" or token.upper in _KEYWORDS:
            raise self.unexpected(token)
        return token

    # grammar
    def query(self) -> Query:
        self.keyword("SELECT")
        fields: list[tuple[str, int]] = []
        count_only = False
        if self.peek.upper == "COUNT" and self.tokens[self.at + 1].text == "(":
            self.at += 2
            if self.take().text != ")":
                raise self.unexpected(self.tokens[self.at - 1])
            count_only = True
        else:
            while True:
                token = self.name()
                if self.peek.text == "(":
                    raise self.unexpected(self.peek)  # aggregate functions are not supported
                fields.append((token.text, token.pos))
                if self.peek.text != ",":
                    break
                self.take()
        self.keyword("FROM")
        sobject = self.name()
        query = Query(self.text, fields, sobject.text, sobject.pos, count_only=count_only)
        if self.accept("WHERE"):
            query.where = self.condition()
        if self.peek.upper == "ORDER":
            self.take()
            self.keyword("BY")
            query.order = self.order_list()
        if self.accept("LIMIT"):
            query.limit = self.integer()
        if self.accept("OFFSET"):
            offset_token = self.peek
            query.offset = self.integer()
            if query.offset > MAX_OFFSET:
                raise soql_error("NUMBER_OUTSIDE_VALID_RANGE", self.text, offset_token.pos,
                                 f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        if self.peek.kind != "eof":
            raise self.unexpected()
        return query

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.isdigit():
            raise self.unexpected(token)
        return int(token.text)

    def order_list(self) -> list[OrderItem]:
        items = []
        while True:
            token = self.name()
            descending = False
            if self.accept("DESC"):
                descending = True
            else:
                self.accept("ASC")
            nulls_first = True
            if self.accept("NULLS"):
                if self.accept("LAST"):
                    nulls_first = False
                else:
                    self.keyword("FIRST")
            items.append(OrderItem(token.text, token.pos, descending, nulls_first))
            if self.peek.text != ",":
                return items
            self.take()

    def condition(self) -> Any:
        first = self.unary()
        parts, joiner = [first], None
        while self.peek.upper in ("AND", "OR"):
            word = self.take()
            if joiner is not None and word.upper != joiner:
                raise self.unexpected(word)  # SOQL needs parentheses to mix AND and OR
            joiner = word.upper
            parts.append(self.unary())
        return first if joiner is None else Logical(joiner, tuple(parts))

    def unary(self) -> Any:
        if self.accept("NOT"):
            return Logical("NOT", (self.unary(),))
        if self.peek.text == "(":
            self.take()
            inner = self.condition()
            if self.take().text != ")":
                raise self.unexpected(self.tokens[self.at - 1])
            return inner
        return self.comparison()

    def comparison(self) -> Compare:
        token = self.name()
        nxt = self.take()
        if nxt.kind == "op":
            op = "!=" if nxt.text == "<>" else nxt.text
            return Compare(token.text, token.pos, op, (self.literal(),))
        word = nxt.upper
        if word == "NOT" and self.peek.upper == "IN":
            self.take()
            return Compare(token.text, token.pos, "NOT IN", self.literal_list())
        if word == "IN":
            return Compare(token.text, token.pos, "IN", self.literal_list())
        if word == "LIKE":
            return Compare(token.text, token.pos, "LIKE", (self.literal(),))
        raise self.unexpected(nxt)

    def literal_list(self) -> tuple[Literal, ...]:
        if self.take().text != "(":
            raise self.unexpected(self.tokens[self.at - 1])
        items = [self.literal()]
        while self.peek.text == ",":
            self.take()
            items.append(self.literal())
        if self.take().text != ")":
            raise self.unexpected(self.tokens[self.at - 1])
        return tuple(items)

    def literal(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            return Literal("string", token.value, token.pos, quoted=True)
        if token.kind == "number":
            return Literal("number", float(token.text), token.pos)
        if token.kind == "datetime":
            return Literal("datetime", values.parse_datetime(token.text), token.pos)
        if token.kind == "date":
            day = values.parse_date(token.text)
            if day is None:
                raise self.unexpected(token)
            return Literal("date", day, token.pos)
        if token.kind == "ident":
            upper = token.upper
            if upper in ("TRUE", "FALSE"):
                return Literal("boolean", upper == "TRUE", token.pos)
            if upper == "NULL":
                return Literal("null", None, token.pos)
            if upper in _DATE_LITERALS:
                n = 0
                if upper.endswith("_N_DAYS"):
                    if self.take().text != ":":
                        raise self.unexpected(self.tokens[self.at - 1])
                    n = self.integer()
                return Literal("dateliteral", (upper, n), token.pos)
        raise self.unexpected(token)


def parse(text: str) -> Query:
    if len(text) > MAX_LENGTH:
        raise _malformed(text, 0, f"SOQL statements cannot be longer than {MAX_LENGTH:,} characters.")
    return _Parser(text).query()


# --- binding to a schema ---------------------------------------------------------------------------------


@dataclass
class Plan:
    """A query checked against its sObject: what to select, filter and sort."""

    query: Query
    sobject: SObjectDef
    fields: list[FieldDef]
    predicate: Callable[[dict[str, Any]], bool]
    order: list[tuple[FieldDef, bool, bool]]
    #: The org's clock when the query was bound (date literals such as ``TODAY`` are read at it).
    now_ms: int = 0


def bind(query: Query, resolve: Callable[[str], SObjectDef | None],
         visible: Callable[[SObjectDef, FieldDef], bool], now_ms: int) -> Plan:
    """Check the query against the schema (``INVALID_TYPE`` first, then ``INVALID_FIELD``)."""
    sobject = resolve(query.sobject)
    if sobject is None:
        raise soql_error("INVALID_TYPE", query.text, query.sobject_pos,
                         f"sObject type '{query.sobject}' is not supported. If you are attempting to use a custom "
                         "object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
                         "the describe call for the appropriate names.")

    def column(name: str, pos: int) -> FieldDef:
        if "." in name:
            raise soql_error("INVALID_FIELD", query.text, pos,
                             f"Didn't understand relationship '{name.split('.')[0]}' in field path. If you are "
                             "attempting to use a custom relationship, be sure to append the '__r' after the custom "
                             "relationship name. Please reference your WSDL or the describe call for the appropriate "
                             "names.")
        found = sobject.lookup(name)
        if found is None or not visible(sobject, found):
            raise soql_error("INVALID_FIELD", query.text, pos,
                             _NO_SUCH_COLUMN.format(name=name, entity=sobject.name))
        return found

    selected: list[FieldDef] = []
    for name, pos in query.fields:
        definition = column(name, pos)
        if definition in selected:
            raise soql_error("MALFORMED_QUERY", query.text, pos, f"duplicate field selected: {definition.name}")
        selected.append(definition)
    predicate = _compile(query.where, column, query.text, now_ms) if query.where is not None else (lambda _: True)
    order = []
    for item in query.order:
        definition = column(item.field, item.pos)
        if not definition.sortable:
            raise soql_error("INVALID_FIELD", query.text, item.pos,
                             f"field '{definition.name}' can not be sorted in a query call")
        order.append((definition, item.descending, item.nulls_first))
    return Plan(query, sobject, selected, predicate, order, now_ms)


def _compile(node: Any, column: Callable[[str, int], FieldDef], text: str, now_ms: int) -> Callable[[dict], bool]:
    if isinstance(node, Logical):
        parts = [_compile(p, column, text, now_ms) for p in node.parts]
        if node.op == "AND":
            return lambda row: all(p(row) for p in parts)
        if node.op == "OR":
            return lambda row: any(p(row) for p in parts)
        return lambda row: not parts[0](row)
    definition = column(node.field, node.pos)
    if not definition.filterable:
        raise soql_error("INVALID_FIELD", text, node.pos,
                         f"field '{definition.name}' can not be filtered in a query call")
    name = definition.name
    if node.op == "LIKE":
        if definition.type not in TEXT_TYPES:
            raise soql_error("INVALID_FIELD", text, node.pos,
                             f"invalid operator on {definition.type} field: LIKE")
        pattern = _like(_operand(definition, node.literals[0], text, now_ms))
        return lambda row: row.get(name) is not None and pattern.match(str(row[name])) is not None
    operands = [_operand(definition, lit, text, now_ms) for lit in node.literals]
    test = _comparison(definition, node.op, operands)
    return lambda row: test(row.get(name))


def _type_error(definition: FieldDef, literal: Literal, text: str) -> ApiError:
    kind = definition.type
    if kind in TEXT_TYPES or kind in ("id", "reference"):
        expected, quoting = "string", "should be enclosed in quotes"
    else:
        expected = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "int": "integer"}.get(kind, "double")
        quoting = "should not be enclosed in quotes"
    return soql_error("INVALID_FIELD", text, literal.pos,
                      f"value of filter criterion for field '{definition.name}' must be of type {expected} and "
                      f"{quoting}")


def _operand(definition: FieldDef, literal: Literal, text: str, now_ms: int) -> Any:
    """The literal as a comparable value (a ``(start, end)`` range for date literals)."""
    kind = definition.type
    if literal.kind == "null":
        return None
    if kind in ("id", "reference"):
        if literal.kind != "string":
            raise _type_error(definition, literal, text)
        normalised = ids.normalise(literal.value)
        if normalised is None:
            raise soql_error("INVALID_QUERY_FILTER_OPERATOR", text, literal.pos, f"invalid ID field: {literal.value}")
        return normalised
    if kind in TEXT_TYPES:
        if literal.kind != "string":
            raise _type_error(definition, literal, text)
        return literal.value.lower()
    if kind == "boolean":
        if literal.kind != "boolean":
            raise _type_error(definition, literal, text)
        return literal.value
    if kind in NUMBER_TYPES:
        if literal.kind != "number":
            raise _type_error(definition, literal, text)
        return literal.value
    if kind == "datetime":
        if literal.kind == "datetime":
            return literal.value
        if literal.kind == "dateliteral":
            return _range(literal.value, now_ms)
        raise _type_error(definition, literal, text)
    if kind == "date":
        if literal.kind == "date":
            return literal.value
        if literal.kind == "dateliteral":
            start, end = _range(literal.value, now_ms)
            return (values.date_of_ms(start), values.date_of_ms(end))
        raise _type_error(definition, literal, text)
    raise _type_error(definition, literal, text)


def _range(literal: tuple[str, int], now_ms: int) -> tuple[int, int]:
    """``[start, end)`` in epoch ms for a date literal, in the org's zone (UTC)."""
    name, n = literal
    today = datetime.fromtimestamp(now_ms / 1000, tz=timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    day = timedelta(days=1)
    start, end = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
    }[name]
    return values.to_ms(start), values.to_ms(end)


def _comparison(definition: FieldDef, op: str, operands: Sequence[Any]) -> Callable[[Any], bool]:
    text = definition.type in TEXT_TYPES

    def norm(stored: Any) -> Any:
        return stored.lower() if text and isinstance(stored, str) else stored

    if op in ("IN", "NOT IN"):
        wanted = set(operands)  # date literals in a list compare as their whole range's start..end pair
        ranges = [o for o in operands if isinstance(o, tuple)]

        def hit(v: Any) -> bool:
            return norm(v) in wanted or (v is not None and any(start <= v < end for start, end in ranges))

        return hit if op == "IN" else (lambda v: not hit(v))
    operand = operands[0]
    if isinstance(operand, tuple):  # a date literal's range
        start, end = operand
        tests = {"=": lambda v: start <= v < end, "!=": lambda v: not start <= v < end, "<": lambda v: v < start,
                 "<=": lambda v: v < end, ">": lambda v: v >= end, ">=": lambda v: v >= start}
        range_test = tests[op]
        return lambda v: (op == "!=") if v is None else range_test(v)
    if operand is None:
        return (lambda v: v is None) if op == "=" else (lambda v: v is not None) if op == "!=" else (lambda v: False)
    compare = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
               "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[op]
    return lambda v: (op == "!=") if v is None else compare(norm(v), operand)


def _like(pattern: str) -> re.Pattern[str]:
    out, pos = [], 0
    while pos < len(pattern):
        char = pattern[pos]
        if char == "\\" and pos + 1 < len(pattern) and pattern[pos + 1] in "%_":
            out.append(re.escape(pattern[pos + 1]))
            pos += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        pos += 1
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


# --- execution ------------------------------------------------------------------------------------------------


def run(plan: Plan, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Filter, sort, offset and limit ``rows`` (stored values, in the org's default order)."""
    matched = [row for row in rows if plan.predicate(row)]
    for definition, descending, nulls_first in reversed(plan.order):
        name = definition.name
        text = definition.type in TEXT_TYPES
        present = [r for r in matched if r.get(name) is not None]
        missing = [r for r in matched if r.get(name) is None]
        present.sort(key=lambda r: r[name].lower() if text else r[name], reverse=descending)
        matched = missing + present if nulls_first else present + missing
    matched = matched[plan.query.offset:]
    if plan.query.limit is not None:
        matched = matched[:plan.query.limit]
    return matched


# --- execution over a table: its indexes where they determine the answer, else every record ---------


def execute(plan: Plan, table: Table, *, deleted: bool) -> Sequence["Record"]:
    """The records ``plan`` answers from ``table`` (``deleted``: the recycle bin's too, as
    ``queryAll``), in the answer's order, after ``OFFSET`` and ``LIMIT``."""
    found = indexed(plan, table, deleted=deleted)
    if found is None:
        return scan(plan, table, deleted=deleted)
    assert not isinstance(found, int)
    return found


def count(plan: Plan, table: Table, *, deleted: bool) -> int:
    """``totalSize`` of a ``SELECT COUNT()``: how many records ``execute`` would answer."""
    found = indexed(plan, table, deleted=deleted)
    if found is None:
        return len(scan(plan, table, deleted=deleted))
    return found if isinstance(found, int) else len(found)


def scan(plan: Plan, table: Table, *, deleted: bool) -> list["Record"]:
    """Every record evaluated: :func:`run` over the table in the default order."""
    rows = [r.values for r in table.records.values() if deleted or not r.deleted]
    return [row.record for row in run(plan, rows)]  # type: ignore[attr-defined]


class _Drivers:
    """What a query's top-level ``AND`` says the index can narrow by: ``Id``/reference values
    (``=`` or ``IN``), stamp intervals; ``whole`` when the condition is nothing but one stamp's
    interval (so counting its keys counts the matches)."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, set[str]]] = []
        self.intervals: dict[str, Interval] = {}
        self.whole = True


_RANGE_OPS = frozenset({"=", "<", "<=", ">", ">="})


def _conjuncts(node: Any) -> tuple[list[Compare], bool]:
    """The comparisons the condition ``AND``s at its top, and whether they are all of it."""
    if node is None:
        return [], True
    if isinstance(node, Compare):
        return [node], True
    if isinstance(node, Logical) and node.op == "AND":
        found: list[Compare] = []
        whole = True
        for part in node.parts:
            compares, complete = _conjuncts(part)
            found += compares
            whole = whole and complete
        return found, whole
    return [], False


def _drivers(plan: Plan) -> _Drivers:
    drivers = _Drivers()
    compares, drivers.whole = _conjuncts(plan.query.where)
    for node in compares:
        definition = plan.sobject.lookup(node.field)
        if definition is None or node.op == "LIKE":
            drivers.whole = False
            continue
        operands = [_operand(definition, lit, plan.query.text, plan.now_ms) for lit in node.literals]
        if definition.type in ("id", "reference") and node.op in ("=", "IN") \
                and all(isinstance(o, str) for o in operands):
            drivers.keys.append((definition.name, set(operands)))
            drivers.whole = False
        elif definition.name in STAMPS and definition.type == "datetime" and node.op in _RANGE_OPS \
                and _narrow(drivers.intervals.setdefault(definition.name, Interval()), node.op, operands[0]):
            pass
        else:
            drivers.whole = False
    drivers.intervals = {name: i for name, i in drivers.intervals.items() if i.lo is not None or i.hi is not None}
    if len(drivers.intervals) > 1:
        drivers.whole = False
    return drivers


def _narrow(interval: Interval, op: str, operand: Any) -> bool:
    """Intersect with the records ``op operand`` holds for (as :func:`_comparison` reads it);
    False when the operand is no stamp (null, or an invalid datetime)."""
    if isinstance(operand, tuple):  # a date literal's [start, end)
        start, end = operand
        if op == "=":
            interval.above(start, False)
            interval.below(end, True)
        elif op == "<":
            interval.below(start, True)
        elif op == "<=":
            interval.below(end, True)
        elif op == ">":
            interval.above(end, False)
        else:
            interval.above(start, False)
        return True
    if type(operand) not in (int, float):
        return False
    if op in ("=", ">", ">="):
        interval.above(operand, op == ">")
    if op in ("=", "<", "<="):
        interval.below(operand, op == "<")
    return True


def indexed(plan: Plan, table: Table, *, deleted: bool) -> Sequence["Record"] | int | None:
    """The answer from the table's indexes, or None where they cannot give it exactly (the
    caller then scans). A list of records (an ``int`` may answer a ``COUNT()``).

    - ``Id`` or a reference field ``=``/``IN`` values: the records holding them, evaluated
      (:func:`run`) in the default order, as the scan would;
    - a pull: ``ORDER BY`` a stamp (then ``Id``) over its window or everything, nothing else: the
      index's keys in the window, as they are;
    - ``ORDER BY`` a stamp (then, optionally, ``Id``): a walk of that stamp's index in order,
      from a window's start when the condition has one, filtered by the condition, stopping at
      ``LIMIT``;
    - a stamp window otherwise: the records in it, evaluated in the default order;
    - ``COUNT()`` of a stamp window (or of everything): counted from the index;
    - no condition the index narrows, with ``LIMIT``: the default order (or ``Id``'s) walked to it.
    """
    query = plan.query
    drivers = _drivers(plan)
    if query.limit == 0:
        return 0 if query.count_only else []
    if query.count_only and drivers.whole and not drivers.keys:
        total = _count(table, drivers, deleted)
        if total is not None:
            total = max(0, total - query.offset)
            return total if query.limit is None else min(total, query.limit)
    if drivers.keys:
        name, wanted = min(drivers.keys, key=lambda kv: len(kv[1]))
        if name == "Id":
            candidates = [table.records[i] for i in wanted if i in table.records]
        else:
            index = table.reference_index(name)
            if index.odd:
                return None
            candidates = [r for value in wanted for r in index.get(value)]
        return _evaluate(plan, table, candidates, deleted)
    pull = _pull(plan, table, drivers, deleted)
    if pull is not None:
        return pull
    walk = _walk(plan, table, drivers)
    if walk is not None:
        # A condition that is nothing but the walked stamp's window holds for every record walked.
        return _take(plan, walk, deleted, exact=drivers.whole)
    if drivers.intervals:
        best = None
        for name, interval in drivers.intervals.items():
            index = table.stamp_index(name)
            if index.odd:
                continue
            start, end = interval.positions(index.keys)
            size = index.keys.count(start, end)
            if best is None or size < best[0]:
                best = (size, index, start, end)
        if best is None:
            return None
        _, index, start, end = best
        candidates = index.keys.records(start, end)
        if drivers.whole and not plan.order:  # every candidate matches: only the default order to restore
            return _take(plan, table.in_order(candidates), deleted, exact=True)
        return _evaluate(plan, table, candidates, deleted)
    return None


def _count(table: Table, drivers: _Drivers, deleted: bool) -> int | None:
    if not drivers.intervals:
        return len(table) - (0 if deleted else table.deleted)
    (name, interval), = drivers.intervals.items()
    index = table.stamp_index(name)
    if index.odd:
        return None
    start, end = interval.positions(index.keys)
    total = index.keys.count(start, end)
    if not deleted:
        start, end = interval.positions(index.deleted)
        total -= index.deleted.count(start, end)
    return total


def _evaluate(plan: Plan, table: Table, candidates: list["Record"], deleted: bool) -> list["Record"]:
    """:func:`run` over ``candidates`` (a superset of the matches, each once) in the default order."""
    rows = table.in_order(r for r in candidates if deleted or not r.deleted)
    return [row.record for row in run(plan, [r.values for r in rows])]  # type: ignore[attr-defined]


def _pull(plan: Plan, table: Table, drivers: _Drivers, deleted: bool) -> KeyedRecords | None:
    """The connector's pull (``WHERE`` nothing but a window on the stamp it sorts by, ascending,
    then by ascending ``Id``; no ``OFFSET`` or ``LIMIT``): the window's keys, copied as they are."""
    query, order = plan.query, plan.order
    if not drivers.whole or query.offset or query.limit is not None or not order or query.count_only:
        return None
    first, descending, _ = order[0]
    if descending or first.name not in STAMPS or first.type != "datetime" \
            or any(name != first.name for name in drivers.intervals):
        return None
    if len(order) == 1 and not table.monotonic:
        return None
    if len(order) > 1 and (order[1][0].name != "Id" or order[1][1]):
        return None
    index = table.stamp_index(first.name)
    interval = drivers.intervals.get(first.name)
    if index.odd or (index.nulls and interval is None):
        return None
    interval = interval or Interval()
    if not deleted and index.deleted.count(*interval.positions(index.deleted)):
        return None  # the recycle bin's records in the window are to be left out: walk
    return index.keys.view(*interval.positions(index.keys))


def _walk(plan: Plan, table: Table, drivers: _Drivers) -> Iterable["Record"] | None:
    """The records in the query's order, a superset of its matches, from an index walk; None
    when the order is not one an index gives."""
    order = plan.order
    if not order:
        if drivers.intervals or plan.query.limit is None:
            return None
        return table.records.values()
    first, descending, _ = order[0]
    if first.name == "Id":
        if drivers.intervals or not table.monotonic:
            return None
        return reversed(table.records.values()) if descending else table.records.values()
    if first.name not in STAMPS or first.type != "datetime":
        return None
    if len(order) == 1:
        if not table.monotonic:
            return None  # ties fall in the default order, which is then not the order of Id
        ties_descending = False
    elif order[1][0].name == "Id":
        ties_descending = order[1][1]
    else:
        return None
    if any(name != first.name for name in drivers.intervals):
        return None
    index = table.stamp_index(first.name)
    interval = drivers.intervals.get(first.name)
    if index.odd or (index.nulls and interval is None):
        return None  # where nulls sort is the scan's business
    start, end = interval.positions(index.keys) if interval is not None else ((0, 0), (len(index.keys.blocks), 0))
    if not descending and not ties_descending and plan.query.limit is None:
        return index.keys.records(start, end)  # all of them: at once
    keys = index.keys.between(start, end, descending)
    # Walking up, equal stamps come in ascending Id; walking down, descending.
    if ties_descending != descending:
        keys = _reverse_ties(keys)
    return (key[2] for key in keys)


def _reverse_ties(keys: Iterator[tuple[Any, str, Any]]) -> Iterator[tuple[Any, str, Any]]:
    group: list[tuple[Any, str, Any]] = []
    for key in keys:
        if group and key[0] != group[0][0]:
            yield from reversed(group)
            group = []
        group.append(key)
    yield from reversed(group)


def _take(plan: Plan, records: Iterable["Record"], deleted: bool, exact: bool = False) -> list["Record"]:
    """The matches among ``records`` (already in the answer's order), after OFFSET and LIMIT
    (``exact``: all of them match the condition, only the recycle bin is left to leave out)."""
    query = plan.query
    predicate = plan.predicate if query.where is not None and not exact else None
    skip, limit = query.offset, query.limit
    if predicate is None and deleted and not skip and limit is None:
        return list(records)  # a whole pull of everything: nothing to test
    out: list[Record] = []
    for record in records:
        if not deleted and record.values.get("IsDeleted"):
            continue
        if predicate is not None and not predicate(record.values):
            continue
        if skip:
            skip -= 1
            continue
        out.append(record)
        if limit is not None and len(out) >= limit:
            break
    return out
