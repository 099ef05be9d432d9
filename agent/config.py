"""Loading the agent's TOML config, and turning every problem in it into one readable line.

An admin should see every mistake at once, each named by its exact key path and what was
expected (``scoring.rules[3].points: expected a number, got 'abc'``), never a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, ValidationError

from agent.errors import ConfigError
from agent.predictive.config import PredictiveConfig
from agent.scoring.model import DECAY_KINDS, RULE_KINDS, ScoringModel, check_references

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class AgentConfig(BaseModel):
    """The whole agent config file. Later sections (state, schedule) join here.

    ``connectors`` maps a connector's entry-point name to its table; each connector validates
    its own table with its ``config_model``, so a third-party connector's keys are checked too.
    """

    model_config = _STRICT
    scoring: ScoringModel
    predictive: PredictiveConfig | None = None
    connectors: dict[str, dict[str, Any]] = {}


def load_config(path: str | Path) -> AgentConfig:
    """Read and validate a config file; raise :class:`ConfigError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})", source=str(path)) from None
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> AgentConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}", source=source) from None
    return validate_config(data, source=source)


def validate_config(data: dict[str, Any], source: str = "<config>") -> AgentConfig:
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_errors(exc.errors()), source=source) from None
    except RecursionError:
        raise ConfigError("config nests conditions too deeply", source=source) from None
    lines = [f"{path}: {message}" for path, message in check_references(config.scoring, prefix="scoring")]
    lines += _connector_problems(config.connectors)
    if lines:
        raise ConfigError(lines, source=source)
    return config


def _connector_problems(tables: dict[str, dict[str, Any]]) -> list[str]:
    from connectors.base import connector_config, load_connector

    lines: list[str] = []
    for name, table in tables.items():
        try:
            factory = load_connector(name)
        except ConfigError as exc:
            lines.extend(exc.problems)
            continue
        model = getattr(factory, "config_model", None)
        if model is None:
            continue
        try:
            connector_config(name, model, table)
        except ConfigError as exc:
            lines.extend(exc.problems)
    return lines


# --- error formatting --------------------------------------------------------------------

_UNION_TAGS = set(RULE_KINDS) | set(DECAY_KINDS)
_TYPE_SEGMENTS = {"str", "float", "bool", "int", "none"}


def key_path(loc: Iterable[int | str]) -> str:
    """``('scoring', 'rules', 3, 'fit', 'points')`` -> ``scoring.rules[3].points``.

    pydantic puts the discriminator tag of a tagged union (``fit``) and the member type of a
    plain union (``str``, ``list[str]``) into the location; neither is a key the admin wrote.
    """
    out = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_internal_segment(part, previous):
            continue
        else:
            out += f".{part}" if out else part
        previous = part
    return out or "(top level)"


def _is_internal_segment(part: str, previous: int | str | None) -> bool:
    if part in _TYPE_SEGMENTS or "[" in part:
        return True
    if part in _UNION_TAGS and (isinstance(previous, int) or previous in ("decay",)):
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


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_show(value)}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}, got {_show(value)}"
    if kind == "union_tag_invalid":
        return f"unknown kind {ctx.get('tag')!r}, expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"missing key 'kind' (one of {', '.join(repr(k) for k in _tags_for(error))})"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "?")
        shown = f"{bound:g}" if isinstance(bound, (int, float)) else str(bound)
        return f"expected a number {op} {shown}, got {_show(value)}"
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        return error["msg"].replace("Value should", "expected").replace("String should", "expected").replace(
            "List should", "expected"
        ) + f", got {_show(value)}"
    if kind == "string_pattern_mismatch":
        return f"expected letters, digits and _ . : - only, got {_show(value)}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


def _tags_for(error: dict[str, Any]) -> tuple[str, ...]:
    loc = error.get("loc", ())
    return DECAY_KINDS if loc and loc[-1] == "decay" else RULE_KINDS


def format_validation_errors(errors: list[dict[str, Any]]) -> list[str]:
    """One line per key path. Several errors on one path (one per member of a union) become one
    line listing what each member expected."""
    by_path: dict[str, list[dict[str, Any]]] = {}
    for error in errors:
        by_path.setdefault(key_path(error["loc"]), []).append(error)
    lines = []
    for path, errs in by_path.items():
        if len(errs) == 1:
            lines.append(f"{path}: {_message(errs[0])}")
            continue
        specific = [e for e in errs if e["type"] not in _EXPECTED]
        if specific:
            lines.extend(f"{path}: {_message(e)}" for e in specific)
            continue
        expected = list(dict.fromkeys(_EXPECTED[e["type"]] for e in errs))
        lines.append(f"{path}: expected {' or '.join(expected)}, got {_show(errs[0].get('input'))}")
    return lines
