"""Loading the agent's TOML config, and turning every problem in it into one readable line.

An admin should see every mistake at once, each named by its exact key path and what was
expected (``scoring.rules[3].points: expected a number, got 'abc'``), never a traceback.

String values may refer to the environment and to secret files, so one config file can be
checked in and deployed unchanged while its secrets come from systemd credentials, Docker
secrets or the service's environment:

- ``${NAME}``: the environment variable; ``${NAME:-default}``: the default when it is unset or
  empty;
- ``${file:/run/secrets/token}``: the file's text less one trailing newline; a relative path is
  relative to the config file's directory;
- ``$${`` is a literal ``${``. Only ``${`` starts a reference, so regexes ending in ``$`` are
  left alone.

A value that came from a reference is never echoed in an error: the message says where it came
from (``(value from ${HUBSPOT_TOKEN})``) instead.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from agent.errors import ConfigError
from agent.predictive.config import PredictiveConfig
from agent.scoring.model import DECAY_KINDS, RULE_KINDS, ScoringModel, check_references
from agent.settings import AgentSettings, Schedule

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class AgentConfig(BaseModel):
    """The whole agent config file.

    ``connectors`` maps a connector's entry-point name to its table; each connector validates
    its own table with its ``config_model``, so a third-party connector's keys are checked too.
    """

    model_config = _STRICT
    scoring: ScoringModel
    predictive: PredictiveConfig | None = None
    connectors: dict[str, dict[str, Any]] = {}
    agent: AgentSettings = AgentSettings()
    schedule: Schedule = Schedule()


def load_config(path: str | Path) -> AgentConfig:
    """Read and validate a config file; raise :class:`ConfigError` listing every problem.
    Relative ``${file:...}`` paths are resolved against the file's directory."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file (copy config.example.toml to leadscore.toml and edit it, or pass --config PATH)",
            source=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})", source=str(path)) from None
    return parse_config(text, source=str(path), base_dir=path.parent)


def parse_config(text: str, source: str = "<config>", base_dir: Path | None = None) -> AgentConfig:
    """Parse, expand references (``base_dir`` anchors relative secret files; None: the working
    directory), then validate. Reference problems are reported alone: validating values that
    could not be expanded would only add noise."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}", source=source) from None
    expansion = expand_references(data, base_dir)
    if expansion.problems:
        raise ConfigError(expansion.problems, source=source)
    return validate_config(expansion.data, source=source, expanded=expansion.origins)


def validate_config(
    data: dict[str, Any], source: str = "<config>", expanded: Mapping[str, str] | None = None
) -> AgentConfig:
    """Validate a parsed config. ``expanded`` maps the key paths whose values came from a
    reference to the reference(s) as written; those values are never shown in a message."""
    origins = dict(expanded or {})
    try:
        config = AgentConfig.model_validate(data)
    except ValidationError as exc:
        lines = format_validation_errors(exc.errors(), expanded=origins)
        # The connectors' own tables are checked by their models, not AgentConfig's: report their
        # problems in the same pass, so the admin sees every mistake at once.
        tables = data.get("connectors") if isinstance(data, dict) else None
        if isinstance(tables, dict) and all(isinstance(t, dict) for t in tables.values()):
            lines += [line for line in _connector_problems(tables, origins) if line not in lines]
        raise ConfigError(_redacted(lines, data, origins), source=source) from None
    except RecursionError:
        raise ConfigError("config nests conditions too deeply", source=source) from None
    lines = [f"{path}: {message}" for path, message in check_references(config.scoring, prefix="scoring")]
    lines += _connector_problems(config.connectors, origins)
    lines += [
        f"schedule.connectors.{name}: no [connectors.{name}] table to schedule"
        for name in config.schedule.connectors
        if name not in config.connectors
    ]
    if lines:
        raise ConfigError(_redacted(lines, data, origins), source=source)
    return config


def _connector_problems(tables: dict[str, dict[str, Any]], expanded: Mapping[str, str] | None = None) -> list[str]:
    """Each connector's table checked by its own ``config_model``, expanded values hidden."""
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
            connector_config(name, model, table, expanded)
        except ConfigError as exc:
            lines.extend(exc.problems)
    return lines


# --- secrets a connector will need ----------------------------------------------------------

#: For config models with an ``auth`` flow (the Salesforce connector's): the methods resolving
#: the secrets each flow sends, each raising :class:`ConfigError` naming its key when missing.
_FLOW_SECRETS: dict[str, tuple[str, ...]] = {
    "jwt": ("private_key_value",),
    "client_credentials": ("client_secret_value",),
    "password": ("client_secret_value", "password_value"),
}


def secret_problems(config: AgentConfig, names: Iterable[str] | None = None) -> list[str]:
    """Every secret the configured connectors (or ``names``) will need and cannot find - an
    environment variable named by an ``*_env`` key that is unset or empty, a secret file that
    cannot be read - one line each, with its key path. Nothing is sent anywhere: this is what
    ``validate`` reports, and what a one-shot command checks before it opens the state store.

    A connector's config model may answer for itself with a ``secret_problems()`` method (a list
    of lines); otherwise the resolvers the built-in connectors' models have are tried: a private
    app's ``resolve_token()`` and an OAuth app's ``oauth.*_env`` variables (HubSpot), and the
    secrets of the chosen ``auth`` flow (Salesforce)."""
    from connectors.base import connector_config, load_connector

    lines: list[str] = []
    for name in names if names is not None else config.connectors:
        table = config.connectors.get(name)
        if table is None:
            continue
        try:
            model = getattr(load_connector(name), "config_model", None)
            if model is None:
                continue
            settings = connector_config(name, model, table)
        except ConfigError:
            continue  # validate_config has reported it already
        lines += _model_secret_problems(name, settings)
    return lines


def _model_secret_problems(name: str, settings: Any) -> list[str]:
    own = getattr(settings, "secret_problems", None)
    if callable(own):
        return list(own())
    checks: list[Any] = []
    if callable(getattr(settings, "resolve_token", None)):
        checks.append(settings.resolve_token)
    oauth = getattr(settings, "oauth", None)
    if oauth is not None:
        for key in ("client_secret_env", "refresh_token_env"):
            variable = getattr(oauth, key, None)
            if isinstance(variable, str) and not os.environ.get(variable, "").strip():
                checks.append(_fails(f"connectors.{name}.oauth.{key}: environment variable {variable} is not set"))
    flow = getattr(settings, "auth", None)
    for method in _FLOW_SECRETS.get(flow, ()) if isinstance(flow, str) else ():
        if callable(getattr(settings, method, None)):
            checks.append(getattr(settings, method))
    lines: list[str] = []
    for check in checks:
        try:
            check()
        except ConfigError as exc:
            lines += [line for line in exc.problems if line not in lines]
        except Exception as exc:  # noqa: BLE001 - a resolver's own bug must not hide the others
            lines.append(f"connectors.{name}: cannot check its secrets ({type(exc).__name__})")
    return lines


def _fails(message: str) -> Any:
    def check() -> None:
        raise ConfigError(message)

    return check


def require_secrets(config: AgentConfig, names: Iterable[str] | None = None) -> None:
    """Raise :class:`ConfigError` listing every missing secret of ``names`` (default: every
    configured connector), before anything is opened or created."""
    lines = secret_problems(config, names)
    if lines:
        raise ConfigError(lines)


# --- ${ENV} and ${file:...} references -----------------------------------------------------

_REFERENCE_START = re.compile(r"\$\$\{|\$\{")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FORMS = "expected ${NAME}, ${NAME:-default} or ${file:PATH}; write $${ for a literal ${"


@dataclass
class Expansion:
    """A parsed config with its references replaced, where each replaced value came from
    (key path -> the references as written, e.g. ``${HUBSPOT_TOKEN}``), and every problem."""

    data: dict[str, Any] = field(repr=False)
    origins: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def expand_references(data: dict[str, Any], base_dir: Path | None = None) -> Expansion:
    """Expand ``${NAME}``, ``${NAME:-default}``, ``${file:PATH}`` and ``$${`` in every string
    value (never in keys), through nested tables and arrays; collect every problem."""
    expansion = Expansion(data={})
    expansion.data = _expand_node(data, (), base_dir, expansion)
    return expansion


def _expand_node(node: Any, loc: tuple[int | str, ...], base_dir: Path | None, out: Expansion) -> Any:
    if isinstance(node, dict):
        return {key: _expand_node(value, (*loc, key), base_dir, out) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand_node(value, (*loc, i), base_dir, out) for i, value in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node
    path = key_path(loc)
    text, references, problems = _expand_string(node, base_dir)
    out.problems.extend(f"{path}: {problem}" for problem in problems)
    if references:
        out.origins[path] = ", ".join(references)
    return text


def expand_string(value: str, base_dir: Path | None = None) -> tuple[str, list[str]]:
    """One string with its references expanded - a reference that cannot be is left out, as the
    loader would report it - and the references it used, as written."""
    text, references, _ = _expand_string(value, base_dir)
    return text, references


def _expand_string(value: str, base_dir: Path | None) -> tuple[str, list[str], list[str]]:
    """The expanded text, the references it used (as written) and its problems."""
    parts: list[str] = []
    references: list[str] = []
    problems: list[str] = []
    at = 0
    for match in _REFERENCE_START.finditer(value):
        if match.start() < at:
            continue  # inside a reference already read
        parts.append(value[at : match.start()])
        if match.group() == "$${":
            parts.append("${")
            at = match.end()
            continue
        close = value.find("}", match.end())
        if close < 0:
            problems.append(f"malformed reference {value[match.start():]} (no closing }}; {_FORMS})")
            return value, references, problems
        written = value[match.start() : close + 1]
        at = close + 1
        try:
            parts.append(_resolve(value[match.end() : close], written, base_dir))
            references.append(written)
        except _ReferenceProblem as exc:
            problems.append(str(exc))
    parts.append(value[at:])
    return "".join(parts), references, problems


class _ReferenceProblem(Exception):
    """One reference that cannot be expanded; becomes one ConfigError line."""


def _resolve(body: str, written: str, base_dir: Path | None) -> str:
    if body.startswith("file:") and body[5:].strip():
        return _read_secret(body[5:], base_dir)
    name, sep, default = body.partition(":-")
    if not _VARIABLE.fullmatch(name):
        raise _ReferenceProblem(f"malformed reference {written} ({_FORMS})")
    found = os.environ.get(name)
    if sep:
        return found if found else default
    if found is None:
        raise _ReferenceProblem(f"environment variable {name} is not set (referenced as {written})")
    return found


def _read_secret(raw: str, base_dir: Path | None) -> str:
    """A secret file's text, less the one trailing newline ``echo`` and editors add."""
    path = Path(raw)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _ReferenceProblem(f"cannot read secret file {path} (not UTF-8 text)") from None
    except OSError as exc:
        raise _ReferenceProblem(f"cannot read secret file {path} ({exc.strerror or exc})") from None
    return text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text


def _redacted(lines: list[str], data: Mapping[str, Any], origins: Mapping[str, str]) -> list[str]:
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


def _message(error: dict[str, Any], origin: str | None = None) -> str:
    """The message for one error; with ``origin`` (the value came from a reference) the value
    is named by its reference instead of shown."""
    text = _describe(error, _show(error.get("input")) if origin is None else f"(value from {origin})")
    value = error.get("input")
    if origin is not None and isinstance(value, str) and value:
        text = text.replace(repr(value), f"(value from {origin})")
    return text


def _describe(error: dict[str, Any], shown: str) -> str:
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
        return f"missing key 'kind' (one of {', '.join(repr(k) for k in _tags_for(error))})"
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


def _tags_for(error: dict[str, Any]) -> tuple[str, ...]:
    loc = error.get("loc", ())
    return DECAY_KINDS if loc and loc[-1] == "decay" else RULE_KINDS


def format_validation_errors(errors: list[dict[str, Any]], expanded: Mapping[str, str] | None = None) -> list[str]:
    """One line per key path. Several errors on one path (one per member of a union) become one
    line listing what each member expected. ``expanded`` maps key paths (relative to the same
    root as the errors) whose values came from a reference to that reference: those values are
    named by their reference, never shown, since they are usually secrets."""
    origins = expanded or {}
    by_path: dict[str, list[dict[str, Any]]] = {}
    for error in errors:
        by_path.setdefault(key_path(error["loc"]), []).append(error)
    lines = []
    for path, errs in by_path.items():
        origin = origins.get(path)
        if len(errs) == 1:
            lines.append(f"{path}: {_message(errs[0], origin)}")
            continue
        specific = [e for e in errs if e["type"] not in _EXPECTED]
        if specific:
            lines.extend(f"{path}: {_message(e, origin)}" for e in specific)
            continue
        expected = list(dict.fromkeys(_EXPECTED[e["type"]] for e in errs))
        shown = _show(errs[0].get("input")) if origin is None else f"(value from {origin})"
        lines.append(f"{path}: expected {' or '.join(expected)}, got {shown}")
    return lines
