"""Secrets: declared by type in config models, resolved once from where the config says they are,
and masked in every log line from then on.

A config model marks its secrets with three types, under the keys admins already write::

    class MyCrmConfig(SecretsModel):
        secrets_section: ClassVar[str] = "connectors.mycrm"
        api_key_env: SecretEnv | None = "MYCRM_API_KEY"  # names an environment variable
        api_key_file: SecretFile | None = None           # names a file holding it
        api_key: SecretValue | None = None               # the value itself (tests, the emulators)

The keys ``X``, ``X_file`` and ``X_env`` are the sources of one secret, ``X`` - of a nested
model's too (``oauth.client_secret`` from ``oauth.client_secret_env``) - tried in that order: the
first one configured is the one used. A :class:`SecretsModel` resolves its secrets when it is
validated: it reads each one (stripped of surrounding whitespace), registers every value read with
the redaction registry below, and keeps, for a secret it cannot find, the problem with its key path
(``access_token_env: environment variable HUBSPOT_ACCESS_TOKEN is not set``). Nothing else reads
a secret from the environment or a file: the connectors ask their model (:meth:`SecretsModel.secret`),
the agent's config loader reports what is missing (:func:`missing_secrets`), and the logging
only masks what was registered.

The redaction registry (:func:`register_secret`) lives here, in the core, so that a connector
registers the tokens it obtains at run time without depending on the agent's logging.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Iterable, Iterator, Literal, Mapping, Self, get_args
from urllib.parse import quote, quote_plus

from pydantic import AfterValidator, BaseModel, PrivateAttr, SecretStr, model_validator
from pydantic.fields import FieldInfo

from leadscore.agent.core.errors import ConfigError

# --- the redaction registry ------------------------------------------------------------------

#: Shorter values are never registered: masking every ``"true"`` or ``"1234"`` in every line would
#: hide more than it protects.
MIN_SECRET_LENGTH = 6
#: Secrets obtained at run time (OAuth access tokens, session ids): only the latest are kept, as a
#: long-running agent gets a new one every half hour and an expired one unlocks nothing.
_TRANSIENT_KEPT = 32

_lock = threading.Lock()
_permanent: set[str] = set()
_transient: OrderedDict[str, set[str]] = OrderedDict()
_pattern: re.Pattern[str] | None = None


def register_secret(value: str | SecretStr | None, *, transient: bool = False) -> None:
    """Mask ``value`` wherever it occurs in a log line, from now on, in every thread.

    Values shorter than :data:`MIN_SECRET_LENGTH` are ignored. The value's URL-encoded and
    JSON-escaped forms are masked too, since that is how a secret appears in a logged URL or body.
    A ``transient`` secret (a token a connector obtained, which expires) is masked while it is
    among the latest few, so months of token refreshes do not slow every log line.
    """
    global _pattern
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    forms = {form for form in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1])
             if len(form) >= MIN_SECRET_LENGTH}
    with _lock:
        if transient:
            if value in _transient:
                return
            _transient[value] = forms
            while len(_transient) > _TRANSIENT_KEPT:
                _transient.popitem(last=False)
        elif forms <= _permanent:
            return
        else:
            _permanent.update(forms)
        every = _permanent.union(*_transient.values())
        # Longest first, so a secret containing another is masked whole.
        ordered = sorted(every, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def registered_pattern() -> re.Pattern[str] | None:
    """One pattern matching every registered secret (in all its forms); None before the first."""
    return _pattern


# --- secret files ----------------------------------------------------------------------------

#: A secret file larger than this is a mistake (a log, a device), never read whole.
MAX_SECRET_FILE = 64 * 1024


class SecretFileError(Exception):
    """A secret file that cannot be used; the message says why, never what it holds."""


def read_secret_file(path: Path) -> str:
    """The text of a secret file, as it is; :class:`SecretFileError` says why it cannot be read
    (the system's reason, not UTF-8 text, larger than 64 KiB). Relative to the working directory."""
    try:
        with path.open(encoding="utf-8") as handle:
            text = handle.read(MAX_SECRET_FILE + 1)
    except UnicodeDecodeError:
        raise SecretFileError("not UTF-8 text") from None
    except OSError as exc:
        raise SecretFileError(exc.strerror or type(exc).__name__) from None
    if len(text) > MAX_SECRET_FILE:
        raise SecretFileError(f"larger than {MAX_SECRET_FILE // 1024} KiB: not a secret")
    return text


# --- declaring secrets -----------------------------------------------------------------------

SecretRole = Literal["value", "file", "env"]
#: The order the sources of one secret are tried in: the first configured one is used.
_ORDER: tuple[SecretRole, ...] = ("value", "file", "env")
_SUFFIXES: dict[SecretRole, str] = {"value": "", "file": "_file", "env": "_env"}


@dataclass(frozen=True)
class SecretKey:
    """Marks a config field as one source of a secret (the metadata of :data:`SecretValue`,
    :data:`SecretFile` and :data:`SecretEnv`): the value itself, a file holding it, or an
    environment variable holding it."""

    role: SecretRole


def environment_variable_name(value: str) -> str:
    """``value`` if it can name an environment variable. A secret pasted into an ``*_env`` key by
    mistake is refused without being echoed: the message never shows the value."""
    if not value or not value.isascii() or not (value[0].isalpha() or value[0] == "_") or not value.replace("_", "").isalnum():
        raise ValueError("expected the name of an environment variable (letters, digits and _), not the value itself")
    return value


#: The secret itself, inline (tests, the emulators, programmatic use); never shown in a repr.
SecretValue = Annotated[SecretStr, SecretKey("value")]
#: The path of a file holding the secret (relative: to the working directory).
SecretFile = Annotated[Path, SecretKey("file")]
#: The name of the environment variable holding the secret.
SecretEnv = Annotated[str, AfterValidator(environment_variable_name), SecretKey("env")]


@dataclass(frozen=True)
class SecretSource:
    """Where one declared secret comes from, as configured: its inline value, the file and the
    environment variable its keys name, and those keys' paths relative to the model
    (``{"env": "oauth.refresh_token_env"}``)."""

    name: str
    value: SecretStr | None = None
    file: Path | None = None
    env: str | None = None
    keys: Mapping[SecretRole, str] = field(default_factory=dict)

    def resolve(self, hint: str = "") -> ResolvedSecret:
        """Read the secret from its first configured source and register it for redaction; a
        secret that cannot be found is a :class:`ResolvedSecret` carrying the problem, naming its
        key (``hint`` says what the variable should hold)."""
        if self.value is not None:
            found = self.value.get_secret_value()
        elif self.file is not None:
            try:
                found = read_secret_file(self.file).strip()
            except SecretFileError as exc:
                return self._missing("file", f"cannot read {self.file} ({exc})")
            if not found:
                return self._missing("file", f"{self.file} is empty")
        elif self.env is not None:
            found = os.environ.get(self.env, "").strip()
            if not found:
                return self._missing("env", f"environment variable {self.env} is not set" + (f" ({hint})" if hint else ""))
        else:
            where = [self.keys[role] for role in ("env", "file") if role in self.keys] or [self.name]
            return ResolvedSecret(self.name, None, self.name, f"not configured (set {' or '.join(where)})")
        register_secret(found)
        return ResolvedSecret(self.name, SecretStr(found))

    def _missing(self, role: SecretRole, problem: str) -> ResolvedSecret:
        return ResolvedSecret(self.name, None, self.keys.get(role, self.name), problem)


@dataclass(frozen=True)
class ResolvedSecret:
    """One secret as resolved: its value, or the key path at fault and what is wrong."""

    name: str
    value: SecretStr | None
    key: str | None = None
    problem: str | None = None

    def line(self, section: str = "") -> str:
        """The problem as an admin reads it, its key path under ``section`` (``connectors.hubspot``)."""
        key = self.key or self.name
        return f"{section}.{key}: {self.problem}" if section else f"{key}: {self.problem}"


def declared_secrets(model: BaseModel) -> list[SecretSource]:
    """Every secret ``model`` declares, its nested models' included, with its configured sources."""
    found: dict[str, dict[str, Any]] = {}
    _collect(model, "", found)
    return [
        SecretSource(name, parts.get("value"), parts.get("file"), parts.get("env"), parts["keys"])
        for name, parts in found.items()
    ]


def _collect(model: BaseModel, prefix: str, found: dict[str, dict[str, Any]]) -> None:
    for attribute, info in type(model).model_fields.items():
        key = info.alias or attribute
        value = getattr(model, attribute)
        role = _role(info)
        if role is None:
            if isinstance(value, BaseModel):
                _collect(value, f"{prefix}{key}.", found)
            continue
        name = prefix + (key.removesuffix(_SUFFIXES[role]) if role != "value" else key)
        parts = found.setdefault(name, {"keys": {}})
        parts["keys"][role] = prefix + key
        parts[role] = value


def _role(info: FieldInfo) -> SecretRole | None:
    for marker in (*info.metadata, *_metadata(info.annotation)):
        if isinstance(marker, SecretKey):
            return marker.role
    return None


def _metadata(annotation: Any) -> Iterator[Any]:
    """The ``Annotated`` metadata anywhere in an annotation (``SecretEnv | None`` holds it inside)."""
    yield from getattr(annotation, "__metadata__", ())
    for arg in get_args(annotation):
        yield from _metadata(arg)


class SecretsModel(BaseModel):
    """Base of a config model declaring secrets: they are resolved when it is validated.

    Subclasses set :attr:`secrets_section` (where their table sits, for the key paths of their
    errors), may add :attr:`secret_hints`, and override :meth:`secrets_needed` when which secrets
    are used depends on other keys (an auth flow). Changing a validated model (``model_copy``)
    does not resolve its secrets again.
    """

    #: Where the model's table sits in the config (``connectors.hubspot``): the prefix of the key
    #: paths its errors name.
    secrets_section: ClassVar[str] = ""
    #: Per secret, what its environment variable should hold: added to the "is not set" message.
    secret_hints: ClassVar[Mapping[str, str]] = {}

    _secrets: dict[str, ResolvedSecret] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _resolve_secrets(self) -> Self:
        self._secrets = {source.name: source.resolve(self.secret_hints.get(source.name, ""))
                         for source in declared_secrets(self)}
        return self

    def secrets_needed(self) -> Iterable[str]:
        """The secrets this configuration uses (by name: ``access_token``, ``oauth.client_secret``);
        every declared one unless overridden."""
        return list(self._secrets)

    def secret(self, name: str) -> str:
        """The secret's value; :class:`ConfigError` naming its key when it could not be found."""
        resolved = self._resolved(name)
        if resolved.value is None:
            raise ConfigError(resolved.line(self.secrets_section))
        return resolved.value.get_secret_value()

    def secret_or_none(self, name: str) -> str | None:
        """The secret's value; None when it could not be found."""
        resolved = self._resolved(name)
        return None if resolved.value is None else resolved.value.get_secret_value()

    def secret_problems(self, section: str | None = None) -> list[str]:
        """One line per needed secret that could not be found, its key path under ``section``
        (default: :attr:`secrets_section`)."""
        prefix = self.secrets_section if section is None else section
        needed = [self._resolved(name) for name in dict.fromkeys(self.secrets_needed())]
        return [resolved.line(prefix) for resolved in needed if resolved.value is None]

    def _resolved(self, name: str) -> ResolvedSecret:
        try:
            return self._secrets[name]
        except KeyError:
            raise KeyError(f"{type(self).__name__} declares no secret {name!r}") from None


def missing_secrets(settings: BaseModel, section: str) -> list[str]:
    """Every secret a validated config model needs and cannot find, one line each with its key
    path under ``section``. A :class:`SecretsModel` answers from what it resolved; a plain model
    marking fields with the secret types has them resolved now, each one needed."""
    if isinstance(settings, SecretsModel):
        return settings.secret_problems(section)
    resolved = (source.resolve() for source in declared_secrets(settings))
    return [secret.line(section) for secret in resolved if secret.value is None]
