"""Turning pydantic's validation errors into the lines an admin reads: one per key path, named as
written in the TOML (``scoring.rules[3].points: expected a number, got 'abc'``), values that came
from ``${...}`` references named by their reference, never shown.

Shared by the agent's config and every connector's table (:func:`leadscore.agent.core.contract.connector_config`),
so a third-party connector's mistakes read like the agent's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping


@dataclass(frozen=True)
class UnionTags:
    """The discriminator tags of a model's tagged unions, which pydantic puts into an error's
    location although the admin never wrote them: by the key that holds the union (``decay``),
    and under None for unions that are list items (``rules[3]``)."""

    by_key: Mapping[str | None, tuple[str, ...]] = field(default_factory=dict)

    @property
    def all(self) -> frozenset[str]:
        return frozenset(tag for tags in self.by_key.values() for tag in tags)

    def for_location(self, loc: tuple[Any, ...]) -> tuple[str, ...]:
        if loc and loc[-1] in self.by_key:
            return self.by_key[loc[-1]]
        return self.by_key.get(None, ())


NO_TAGS = UnionTags()

_TYPE_SEGMENTS = {"str", "float", "bool", "int", "none"}


def key_path(loc: Iterable[int | str], tags: UnionTags = NO_TAGS) -> str:
    """``('scoring', 'rules', 3, 'fit', 'points')`` -> ``scoring.rules[3].points``.

    pydantic puts the discriminator tag of a tagged union (``fit``) and the member type of a
    plain union (``str``, ``list[str]``) into the location; neither is a key the admin wrote.
    """
    out = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_internal_segment(part, previous, tags):
            continue
        else:
            out += f".{part}" if out else part
        previous = part
    return out or "(top level)"


def _is_internal_segment(part: str, previous: int | str | None, tags: UnionTags) -> bool:
    if part in _TYPE_SEGMENTS or "[" in part:
        return True
    if part in tags.all and (isinstance(previous, int) or previous in tags.by_key):
        return True
    return False


_EXPECTED = {
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "none_required": "nothing",
}


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "a list"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: dict[str, Any], origin: str | None = None, tags: UnionTags = NO_TAGS) -> str:
    """The message for one error; with ``origin`` (the value came from a reference) the value
    is named by its reference instead of shown."""
    text = _describe(error, _show(error.get("input")) if origin is None else f"(value from {origin})", tags)
    value = error.get("input")
    if origin is not None and isinstance(value, str) and value:
        text = text.replace(repr(value), f"(value from {origin})")
    return text


def _describe(error: dict[str, Any], shown: str, tags: UnionTags) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {shown}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {shown}"
    if kind == "union_tag_invalid":
        return f"unknown kind {ctx.get('tag')!r}, expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"missing key 'kind' (one of {', '.join(repr(k) for k in tags.for_location(tuple(error.get('loc', ()))))})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "?")
        limit = f"{bound:g}" if isinstance(bound, (int, float)) else str(bound)
        return f"expected a number {op} {limit}, got {shown}"
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        return error["msg"].replace("Value should", "expected").replace("String should", "expected").replace(
            "List should", "expected"
        ) + f", got {shown}"
    if kind == "string_pattern_mismatch":
        return f"expected letters, digits and _ . : - only, got {shown}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


def format_validation_errors(
    errors: list[dict[str, Any]], expanded: Mapping[str, str] | None = None, tags: UnionTags = NO_TAGS
) -> list[str]:
    """One line per key path. Several errors on one path (one per member of a union) become one
    line listing what each member expected. ``expanded`` maps key paths (relative to the same
    root as the errors) whose values came from a reference to that reference: those values are
    named by their reference, never shown, since they are usually secrets. ``tags`` names the
    model's tagged-union tags, left out of key paths."""
    origins = expanded or {}
    by_path: dict[str, list[dict[str, Any]]] = {}
    for error in errors:
        by_path.setdefault(key_path(error["loc"], tags), []).append(error)
    lines = []
    for path, errs in by_path.items():
        origin = origins.get(path)
        if len(errs) == 1:
            lines.append(f"{path}: {_message(errs[0], origin, tags)}")
            continue
        specific = [e for e in errs if e["type"] not in _EXPECTED]
        if specific:
            lines.extend(f"{path}: {_message(e, origin, tags)}" for e in specific)
            continue
        expected = list(dict.fromkeys(_EXPECTED[e["type"]] for e in errs))
        shown = _show(errs[0].get("input")) if origin is None else f"(value from {origin})"
        lines.append(f"{path}: expected {' or '.join(expected)}, got {shown}")
    return lines


def redact_expanded(lines: list[str], data: Mapping[str, Any], origins: Mapping[str, str]) -> list[str]:
    """Lines with any expanded value they still quote (a validator's own wording, a check on a
    parent or child key) replaced by where it came from. Only lines about that key, its parents
    or its children are touched, and a short value only where quoted, so no other message is
    garbled by a value that happens to be a common word."""
    if not origins:
        return lines
    values = {path: value for path, value in _string_leaves(data, ()) if path in origins and value}
    out = []
    for line in lines:
        at, _, _ = line.partition(": ")
        for path, value in values.items():
            if _related(at, path):
                line = _scrub(line, value, f"(value from {origins[path]})")
        out.append(line)
    return out


def _related(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return long == short or long.startswith((short + ".", short + "["))


def _scrub(line: str, value: str, placeholder: str) -> str:
    for form in sorted({repr(value), _show(value), *([value] if len(value) >= 8 else [])}, key=len, reverse=True):
        line = line.replace(form, placeholder)
    return line


def _string_leaves(node: Any, loc: tuple[int | str, ...]) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _string_leaves(value, (*loc, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _string_leaves(value, (*loc, i))
    elif isinstance(node, str):
        yield key_path(loc), node
