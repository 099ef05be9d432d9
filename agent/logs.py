"""Logging for the agent: one structlog pipeline for our lines and for every library's.

Why it is built this way:

- A service's logs are read by machines (journald, a log shipper), a person at a terminal reads
  them too: JSON lines when stderr is not a TTY, structlog's readable console format when it is.
- The SDKs, urllib3, APScheduler and Alembic log through the standard library. Their records are
  routed through the same processors (structlog's ``ProcessorFormatter``), so every line has one
  format, carries the job's context, and passes the redaction below.
- Tokens must never reach a log line, whoever wrote it. Redaction is the last step before a line
  is rendered and works three ways: values of keys named like secrets, every secret value the
  agent has read (:func:`register_secret`, :func:`register_config_secrets`) wherever it occurs,
  and shapes that are secrets whatever their value (``Bearer ...``, ``Authorization:`` headers,
  ``user:password@`` in URLs, PEM private keys). Tracebacks are rendered to text before it runs,
  and without frame locals (structlog's rich tracebacks show locals, which hold tokens).
- Each job binds ``connector``, ``kind`` and ``run_id`` through contextvars (:func:`bound_job`),
  which are per thread, so APScheduler's worker threads do not mix their lines.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, TextIO
from urllib.parse import quote, quote_plus

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, Processor

LogFormat = Literal["auto", "json", "console"]

REDACTED = "[REDACTED]"

#: Key names whose values are secrets, matched as substrings of the lower-cased key.
SECRET_KEY_PARTS: tuple[str, ...] = (
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "authorization",
    "api_key",
    "apikey",
    "private_key",
    "privatekey",
    "cookie",
    "credential",
    "session_id",
    "sessionid",
    "signature",
)
#: Key names that are secrets only as a whole word (``sid``, but not ``side`` or ``inside``).
SECRET_KEY_WORDS: frozenset[str] = frozenset({"sid", "pwd", "jwt", "hapikey"})
#: Inline config keys holding a secret itself (rather than naming where it is).
INLINE_SECRET_KEYS: frozenset[str] = frozenset(
    {"access_token", "client_secret", "password", "private_key", "refresh_token", "token", "secret"}
)

_MIN_SECRET_LENGTH = 6
_MAX_SECRET_FILE = 64 * 1024
_MAX_DEPTH = 16
_OUR_HANDLER = "_leadscore_handler"
_META_KEYS = frozenset({"level", "logger", "timestamp"})

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A PEM private key block, or what is left of one cut short.
    (
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*)", re.DOTALL),
        "[REDACTED PRIVATE KEY]",
    ),
    # Authorization / Proxy-Authorization header values, with their scheme.
    (
        re.compile(r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:[a-z][a-z0-9-]*\s+)?[^\s\"',;}\]]+"),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)\b(bearer\s+)[a-z0-9\-._~+/]+=*"), rf"\1{REDACTED}"),
    # The password of a URL's user info: scheme://user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^/\s@]+@"), rf"\1{REDACTED}@"),
    # key=value and key: value pairs of well-known secret parameters (query strings, reprs).
    (
        re.compile(
            r"(?i)\b((?:access_token|refresh_token|id_token|client_secret|password|passwd|api_key|apikey|hapikey)"
            r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;}\]]+"
        ),
        rf"\1{REDACTED}",
    ),
)

_secrets_lock = threading.Lock()
_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None


# --- secrets -----------------------------------------------------------------------------


#: Secrets obtained at run time (OAuth access tokens, session ids): only the latest are kept, as
#: a long-running agent gets a new one every half hour and an expired one unlocks nothing.
_TRANSIENT_KEPT = 32
_transient: OrderedDict[str, set[str]] = OrderedDict()


def register_secret(value: str | SecretStr | None, *, transient: bool = False) -> None:
    """Mask ``value`` wherever it occurs in a log line, from now on, in every thread.

    Values shorter than 6 characters are ignored: masking every ``"true"`` or ``"1234"`` in
    every line would hide more than it protects. The value's URL-encoded and JSON-escaped forms
    are masked too, since that is how a secret appears in a logged URL or body. A ``transient``
    secret (a token the connector obtained, which expires) is masked while it is among the
    latest few, so months of token refreshes do not slow every log line.
    """
    global _secret_pattern
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < _MIN_SECRET_LENGTH:
        return
    forms = {form for form in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1])
             if len(form) >= _MIN_SECRET_LENGTH}
    with _secrets_lock:
        if transient:
            if value in _transient:
                return
            _transient[value] = forms
            while len(_transient) > _TRANSIENT_KEPT:
                _transient.popitem(last=False)
        elif forms <= _secrets:
            return
        else:
            _secrets.update(forms)
        every = _secrets.union(*_transient.values())
        # Longest first, so a secret containing another is masked whole.
        ordered = sorted(every, key=len, reverse=True)
        _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def register_config_secrets(connectors: Mapping[str, Mapping[str, Any]]) -> None:
    """Register every secret the ``[connectors.NAME]`` tables point at, before any connector runs.

    ``*_env`` keys name an environment variable, ``*_file`` keys a file (both read here the way
    the connector will read them), inline secret keys hold the value itself. The config's
    ``${VAR}``, ``${VAR:-default}`` and ``${file:/path}`` references are followed, in case the
    tables are given before the loader resolved them (a relative ``file:`` path is taken from the
    working directory here, not from the config's). Nested tables (``oauth = {...}``) are
    walked too. A connector's default ``*_env`` names (``HUBSPOT_ACCESS_TOKEN``) apply when the
    table leaves them out, so those are registered as well. Nothing here raises: a secret that
    cannot be read is the connector's error to report, with its key path.
    """
    for name, table in connectors.items():
        if not isinstance(table, Mapping):
            continue
        _register_table(table)
        for env_name in _default_env_names(str(name), table):
            register_secret(os.environ.get(env_name))


def _register_table(table: Mapping[str, Any]) -> None:
    for key, value in table.items():
        name = str(key).lower()
        if isinstance(value, Mapping):
            _register_table(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Mapping):
                    _register_table(item)
        elif name.endswith("_env") and isinstance(value, str):
            register_secret(os.environ.get(_expand(value)))
        elif name.endswith("_file") and isinstance(value, (str, os.PathLike)):
            register_secret(_read_secret_file(_expand(os.fspath(value))))
        elif name in INLINE_SECRET_KEYS:
            _register_inline(value)


def _expand(value: str) -> str:
    """``value`` with its references followed, by the config loader's own expansion."""
    from agent.config import expand_string

    return expand_string(value)[0]


def _register_inline(value: Any) -> None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return
    from agent.config import expand_string

    expanded, references = expand_string(value)
    for written in references:
        # Each referenced value on its own, as it may also be logged on its own.
        register_secret(_expand(written))
    register_secret(expanded)


def _read_secret_file(path: str | os.PathLike[str]) -> str | None:
    try:
        with Path(path).expanduser().open(encoding="utf-8") as handle:
            return handle.read(_MAX_SECRET_FILE).strip()
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _default_env_names(name: str, table: Mapping[str, Any]) -> list[str]:
    """The ``*_env`` defaults of the connector's config model that ``table`` does not override."""
    try:
        from connectors.base import load_connector

        model = getattr(load_connector(name), "config_model", None)
        fields = model.model_fields if model is not None else {}
    except Exception:  # an unknown or broken connector is reported by validation, not here
        return []
    return [
        field.default
        for key, field in fields.items()
        if key.endswith("_env") and key not in table and isinstance(field.default, str)
    ]


# --- redaction ---------------------------------------------------------------------------


def is_secret_key(key: str) -> bool:
    """Whether a field named ``key`` holds a secret (``access_token``, ``X-Api-Key``, ``sid``)."""
    name = key.lower().replace("-", "_")
    if any(part in name for part in SECRET_KEY_PARTS):
        return True
    return any(word in SECRET_KEY_WORDS for word in re.split(r"[^a-z0-9]+", name))


def redact_text(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped part masked."""
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for shape, replacement in _PATTERNS:
        text = shape.sub(replacement, text)
    return text


def redact(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """The structlog processor: masks secrets in every value of the line, however nested.

    Objects other than plain data are checked through their ``repr`` (what the renderers print),
    and replaced by the masked text only when it held a secret.
    """
    for key in list(event_dict):
        value = event_dict[key]
        if key in _META_KEYS:
            continue
        if key != "event" and is_secret_key(str(key)) and value is not None:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(value, 0)
    return event_dict


def _scrub(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            _scrub(k, depth + 1): (
                REDACTED if isinstance(k, str) and is_secret_key(k) and v is not None else _scrub(v, depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_scrub(item, depth + 1) for item in value]
        return items if isinstance(value, list) else tuple(items)
    text = repr(value)
    masked = redact_text(text)
    return value if masked == text else masked


# --- configuration -----------------------------------------------------------------------


def configure_logging(fmt: LogFormat = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    """Send structlog's and the standard library's logging to ``stream`` (stderr), one format.

    Safe to call again: the previous handler is replaced, never added to. Loggers that opted
    out of the application's handlers (the HubSpot SDK's ``hubspot`` logger, which logs bodies
    at DEBUG) stay out.
    """
    if fmt not in ("auto", "json", "console"):
        raise ValueError(f"unknown log format {fmt!r}: expected auto, json or console")
    stream = sys.stderr if stream is None else stream
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: expected debug, info, warning or error")
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    console = fmt == "console" or (fmt == "auto" and is_tty)
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=is_tty) if console else structlog.processors.JSONRenderer()
    )

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # Plain text tracebacks (no frame locals), made before redaction so it sees them.
        structlog.processors.format_exc_info,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _lead_with_meta, redact, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    setattr(handler, _OUR_HANDLER, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OUR_HANDLER, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        # Not cached: loggers made at import time must follow a later reconfiguration.
        cache_logger_on_first_use=False,
    )


def _lead_with_meta(logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
    """Time, level, logger and event first: a JSON line reads like a console line."""
    head = {key: event_dict.pop(key) for key in ("timestamp", "level", "logger", "event") if key in event_dict}
    return {**head, **event_dict}


@contextmanager
def bound_job(connector: str, kind: str, run_id: str) -> Iterator[None]:
    """Tag every line logged inside (ours and the libraries') with the job it belongs to.

    The thread's context is cleared first: APScheduler reuses worker threads, and a value bound
    by the previous job on this thread must not tag this one's lines.
    """
    structlog.contextvars.clear_contextvars()
    with structlog.contextvars.bound_contextvars(connector=connector, kind=kind, run_id=run_id):
        yield
