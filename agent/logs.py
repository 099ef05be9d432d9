"""Logging for the agent: one structlog pipeline for our lines and for every library's.

Why it is built this way:

- A service's logs are read by machines (journald, a log shipper), a person at a terminal reads
  them too: JSON lines when stderr is not a TTY, structlog's readable console format when it is.
- The SDKs, urllib3, APScheduler and Alembic log through the standard library. Their records are
  routed through the same processors (structlog's ``ProcessorFormatter``), so every line has one
  format, carries the job's context, and passes the redaction below.
- Tokens must never reach a log line, whoever wrote it. Redaction is the last step before a line
  is rendered and works three ways: values of keys named like secrets, every secret value
  registered with the core's registry wherever it occurs, and shapes that are secrets whatever
  their value (``Bearer ...``, ``Authorization:`` headers, ``user:password@`` in URLs, PEM private
  keys). Tracebacks are rendered to text before it runs, and without frame locals (structlog's
  rich tracebacks show locals, which hold tokens).
- Logging only redacts: it reads no environment variable and no file. The secrets are read, and
  registered (:func:`register_secret`), where they are resolved: by the connectors' config models
  when the config is loaded (:mod:`leadscore.agent.core.secrets`), and by the connectors for the
  tokens they obtain.
- Each job binds ``connector``, ``kind`` and ``run_id`` through contextvars (:func:`bound_job`),
  which are per thread, so APScheduler's worker threads do not mix their lines.
"""

from __future__ import annotations

import logging
import re
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Literal, Mapping, TextIO

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, Processor

from leadscore.agent.core.secrets import register_secret, registered_pattern

__all__ = [
    "REDACTED", "bound_job", "configure_logging", "is_secret_key", "redact", "redact_text", "register_config_secrets",
    "register_secret",
]

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


# --- secrets handed over as values --------------------------------------------------------


def register_config_secrets(connectors: Mapping[str, Mapping[str, Any]]) -> None:
    """Register the inline secrets of ``[connectors.NAME]`` tables (``access_token = ...``), nested
    tables' too, for tables handed over as they are (tests, programmatic use).

    Nothing is read here: the secrets a table names (``*_env``, ``*_file``) are resolved and
    registered when the table is validated by its connector's config model, which loading the
    config does (:mod:`leadscore.agent.core.secrets`).
    """
    for table in connectors.values():
        if isinstance(table, Mapping):
            _register_inline(table)


def _register_inline(table: Mapping[str, Any]) -> None:
    for key, value in table.items():
        if isinstance(value, Mapping):
            _register_inline(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Mapping):
                    _register_inline(item)
        elif str(key).lower() in INLINE_SECRET_KEYS and isinstance(value, (str, SecretStr)):
            register_secret(value)


# --- redaction ---------------------------------------------------------------------------


def is_secret_key(key: str) -> bool:
    """Whether a field named ``key`` holds a secret (``access_token``, ``X-Api-Key``, ``sid``)."""
    name = key.lower().replace("-", "_")
    if any(part in name for part in SECRET_KEY_PARTS):
        return True
    return any(word in SECRET_KEY_WORDS for word in re.split(r"[^a-z0-9]+", name))


def redact_text(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped part masked."""
    pattern = registered_pattern()
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
