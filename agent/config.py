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

The connectors' secrets (``access_token_env``, ``private_key_file``, ``oauth.refresh_token_env``...)
are declared by their config models with the core's secret types
(:mod:`leadscore.agent.core.secrets`): validating the config validates each connector's table,
which resolves its secrets once and registers every value read for redaction. What cannot be
found is not an invalid config but a missing secret, reported by :func:`secret_problems` (what
``validate`` prints, what a one-shot command checks before opening the state store).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from leadscore.agent.core.contract import WriteFieldMap, WriteSpec, connector_config, load_connector
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.secrets import SecretFileError, missing_secrets, read_secret_file, register_secret
from leadscore.agent.core.validation import UnionTags, format_validation_errors, key_path, redact_expanded
from leadscore.agent.predictive.config import PredictiveConfig
from leadscore.agent.scoring.model import DECAY_KINDS, RULE_KINDS, NamedModel, ScoringModel, check_references
from leadscore.agent.scoring.modelset import check_models
from leadscore.agent.settings import AgentSettings, Schedule

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

#: The scoring model's tagged unions: a rule's kind (rules are list items) and a decay's kind.
SCORING_TAGS = UnionTags({None: RULE_KINDS, "decay": DECAY_KINDS})


class AgentConfig(BaseModel):
    """The whole agent config file.

    ``connectors`` maps a connector's entry-point name to its table; each connector validates
    its own table with its ``config_model``, so a third-party connector's keys are checked too.
    """

    model_config = _STRICT
    scoring: ScoringModel
    #: Further named models, for people or accounts (see :mod:`agent.scoring.modelset`).
    models: list[NamedModel] = []
    predictive: PredictiveConfig | None = None
    connectors: dict[str, dict[str, Any]] = {}
    agent: AgentSettings = AgentSettings()
    schedule: Schedule = Schedule()

    #: The connectors' tables as their config models validated them (secrets resolved), by name.
    _connector_settings: dict[str, BaseModel] = PrivateAttr(default_factory=dict)

    @property
    def scores_accounts(self) -> bool:
        """Whether a model scores accounts (``[[models]]`` with ``applies_to = "accounts"``)."""
        return any(m.applies_to == "accounts" for m in self.models)

    def write_spec(self, values: frozenset[str], connector: str | None = None) -> WriteSpec:
        """What ``setup`` creates for ``connector``, writing ``values``: every stage any model can
        write (``[scoring]``'s first, each once), a reason field long enough for the longest
        reason, the account fields when a model scores accounts, and the models' own fields on it."""
        stages = list(dict.fromkeys(s.name for m in [self.scoring, *self.models] for s in m.stages))
        longest = max(m.reason_max_length for m in [self.scoring, *self.models])
        own = [dict(m.write[connector]) for m in self.models if connector is not None and m.write.get(connector)]
        return WriteSpec(values=values, stages=stages, reason_max_length=longest, accounts=self.scores_accounts,
                         field_sets=own)

    def connector_settings(self, name: str) -> BaseModel | None:
        """The ``[connectors.NAME]`` table validated by its connector's config model, with its
        secrets resolved when :func:`validate_config` made this config (validated now otherwise);
        None when the connector has no model, or its table or the connector itself is unusable
        (problems :func:`validate_config` reports)."""
        if name not in self._connector_settings and name in self.connectors:
            settings, _ = _validate_tables({name: self.connectors[name]})
            self._connector_settings.update(settings)
        return self._connector_settings.get(name)


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
        lines = format_validation_errors(exc.errors(), expanded=origins, tags=SCORING_TAGS)
        # The connectors' own tables are checked by their models, not AgentConfig's: report their
        # problems in the same pass, so the admin sees every mistake at once.
        tables = data.get("connectors") if isinstance(data, dict) else None
        if isinstance(tables, dict) and all(isinstance(t, dict) for t in tables.values()):
            lines += [line for line in _validate_tables(tables, origins)[1] if line not in lines]
        raise ConfigError(redact_expanded(lines, data, origins), source=source) from None
    except RecursionError:
        raise ConfigError("config nests conditions too deeply", source=source) from None
    lines = [f"{path}: {message}" for path, message in check_references(config.scoring, prefix="scoring")]
    for i, model in enumerate(config.models):
        lines += [f"{path}: {message}" for path, message in check_references(model, prefix=f"models[{i}]")]
    lines += [f"{path}: {message}" for path, message in check_models(config.models, config.scoring)]
    settings, problems = _validate_tables(config.connectors, origins)
    lines += problems
    lines += _model_write_problems(config, settings)
    lines += [
        f"schedule.connectors.{name}: no [connectors.{name}] table to schedule"
        for name in config.schedule.connectors
        if name not in config.connectors
    ]
    if lines:
        raise ConfigError(redact_expanded(lines, data, origins), source=source)
    config._connector_settings.update(settings)
    _register_url_password(config.agent.state_url)
    return config


def _model_write_problems(config: AgentConfig, settings: Mapping[str, BaseModel]) -> list[str]:
    """Problems with the models' own fields (``[models.write.NAME]``): a connector the config does
    not have, or field names its ``write`` map would refuse (checked by that map's own model, so a
    HubSpot built-in or a Salesforce standard field is refused here as there)."""
    lines: list[str] = []
    for i, model in enumerate(config.models):
        for name, mapping in model.write.items():
            path = f"models[{i}].write.{name}"
            if name not in config.connectors:
                lines.append(f"{path}: no [connectors.{name}] table to write to")
                continue
            held = settings.get(name)
            shape = type(held).model_fields.get("write") if held is not None else None
            write_type = shape.annotation if shape is not None and isinstance(shape.annotation, type) else WriteFieldMap
            if not mapping:
                lines.append(f"{path}: names no value to write (score, stage, reason...)")
                continue
            try:
                write_type.model_validate(mapping)
            except ValidationError as exc:
                lines += [f"{path}.{line}" for line in format_validation_errors(exc.errors())]
    return lines


def _validate_tables(
    tables: Mapping[str, Mapping[str, Any]], expanded: Mapping[str, str] | None = None
) -> tuple[dict[str, BaseModel], list[str]]:
    """Each connector's table validated by its own ``config_model`` (which resolves the secrets
    it declares), and every problem, expanded values hidden."""
    settings: dict[str, BaseModel] = {}
    lines: list[str] = []
    for name, table in tables.items():
        try:
            factory = load_connector(name)
        except ConfigError as exc:
            lines.extend(exc.problems)
            continue
        if factory.config_model is None:
            continue
        try:
            settings[name] = connector_config(name, factory.config_model, table, expanded)
        except ConfigError as exc:
            lines.extend(exc.problems)
    return settings, lines


def _register_url_password(url: str | None) -> None:
    """Mask the password of the state store's URL (``postgresql://user:password@host/db``)."""
    try:
        password = urlsplit(url).password if url else None
    except ValueError:
        return  # the store names the bad URL itself when it opens
    if password:
        register_secret(password)
        register_secret(unquote(password))


# --- secrets a connector will need ----------------------------------------------------------


def secret_problems(config: AgentConfig, names: Iterable[str] | None = None) -> list[str]:
    """Every secret the configured connectors (or ``names``) will need and cannot find - an
    environment variable named by an ``*_env`` key that is unset or empty, a secret file that
    cannot be read - one line each, with its key path. Nothing is sent anywhere: this is what
    ``validate`` reports, and what a one-shot command checks before it opens the state store.

    Which secrets a connector has is what its config model declares with the secret types of
    :mod:`leadscore.agent.core.secrets`, and which it needs is the model's to say
    (:meth:`~leadscore.agent.core.secrets.SecretsModel.secrets_needed`: the chosen auth flow's)."""
    lines: list[str] = []
    for name in names if names is not None else config.connectors:
        settings = config.connector_settings(name)
        if settings is not None:  # None: no such table, no model, or already reported by validate_config
            lines += [line for line in missing_secrets(settings, f"connectors.{name}") if line not in lines]
    return lines


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
        text = read_secret_file(path)
    except SecretFileError as exc:
        raise _ReferenceProblem(f"cannot read secret file {path} ({exc})") from None
    return text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
