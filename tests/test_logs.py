"""Logging: one format for our lines and the libraries', job context on every line, and no secret
ever written, proven end to end against the HubSpot emulator through the real SDK."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import threading
import uuid
from urllib.parse import quote
from typing import Any, Iterator

import pytest
import structlog
from pydantic import SecretStr

from leadscore.agent.core import secrets as core_secrets
from leadscore.agent.core.contract import Cursor, ScoreUpdate, WriteSpec
from leadscore.agent.core.errors import AuthError
from leadscore.agent.logs import (
    REDACTED,
    bound_job,
    configure_logging,
    is_secret_key,
    redact,
    redact_text,
    register_config_secrets,
    register_secret,
)
from leadscore.connectors.hubspot import HubSpotConnector  # its client caps the SDK's logger on import
from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits

log = structlog.get_logger("leadscore.test")


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def unique(prefix: str = "secret") -> str:
    """A secret no other test registered, so each test proves its own redaction."""
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]


def capture(fmt: str = "json", level: str = "info") -> io.StringIO:
    stream = io.StringIO()
    configure_logging(fmt, level, stream)  # type: ignore[arg-type]
    return stream


# --- format ------------------------------------------------------------------------------


def test_auto_writes_json_lines_when_the_stream_is_not_a_tty() -> None:
    stream = capture("auto")
    log.info("sync.start", records=3)
    log.warning("write.batch", failed=1)
    first, second = json_lines(stream)
    assert first["event"] == "sync.start" and first["records"] == 3
    assert first["level"] == "info" and first["logger"] == "leadscore.test"
    assert first["timestamp"].endswith("Z")
    assert second["level"] == "warning"


def test_auto_is_readable_on_a_tty_and_console_can_be_forced() -> None:
    tty = TtyStream()
    configure_logging("auto", "info", tty)
    log.info("sync.start", records=3)
    forced = capture("console")
    log.info("sync.start", records=3)
    for stream in (tty, forced):
        text = re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue())
        assert "sync.start" in text and "records=3" in text
        with pytest.raises(json.JSONDecodeError):
            json.loads(text.splitlines()[0])
    assert "\x1b[" not in forced.getvalue()  # colours only on a terminal


def test_level_filters_and_reconfiguring_does_not_duplicate_lines() -> None:
    capture("json", "debug")
    capture("json", "debug")
    stream = capture("json", "warning")
    log.info("hidden")
    logging.getLogger("apscheduler.scheduler").info("hidden too")
    log.warning("shown")
    assert [line["event"] for line in json_lines(stream)] == ["shown"]
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)]
    assert len(ours) == 1


def test_stdlib_logging_goes_through_the_same_pipeline() -> None:
    stream = capture("json", "debug")
    with bound_job("hubspot", "sync", "run-1"):
        logging.getLogger("alembic.runtime.migration").debug("Running upgrade %s -> %s", "0001", "0002")
    (line,) = json_lines(stream)
    assert line["event"] == "Running upgrade 0001 -> 0002"
    assert line["logger"] == "alembic.runtime.migration" and line["level"] == "debug"
    assert line["connector"] == "hubspot" and line["run_id"] == "run-1" and "timestamp" in line


def test_the_hubspot_sdk_logger_stays_out() -> None:
    stream = capture("json", "debug")
    logging.getLogger("hubspot.crm.contacts.rest").debug("response body: {...}")
    log.info("marker")
    assert [line["event"] for line in json_lines(stream)] == ["marker"]


# --- job context -------------------------------------------------------------------------


def test_bound_job_tags_lines_inside_only() -> None:
    stream = capture()
    with bound_job("salesforce", "backfill", "run-42"):
        log.info("pull.page")
    log.info("after")
    inside, after = json_lines(stream)
    assert (inside["connector"], inside["kind"], inside["run_id"]) == ("salesforce", "backfill", "run-42")
    assert "connector" not in after and "run_id" not in after


def test_bound_job_is_per_thread_and_clears_a_previous_jobs_context() -> None:
    stream = capture()
    structlog.contextvars.bind_contextvars(leftover="from an earlier job")
    barrier = threading.Barrier(2)

    def job(connector: str) -> None:
        with bound_job(connector, "sync", f"run-{connector}"):
            barrier.wait(timeout=5)  # both jobs are bound at once
            log.info("job.line")
            barrier.wait(timeout=5)

    threads = [threading.Thread(target=job, args=(name,)) for name in ("hubspot", "salesforce")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    with bound_job("hubspot", "rescore", "run-3"):
        log.info("main.line")
    lines = json_lines(stream)
    by_connector = {line["connector"]: line["run_id"] for line in lines if line["event"] == "job.line"}
    assert by_connector == {"hubspot": "run-hubspot", "salesforce": "run-salesforce"}
    main = next(line for line in lines if line["event"] == "main.line")
    assert "leftover" not in main and main["kind"] == "rescore"


# --- redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", [
    "token", "access_token", "Refresh_Token", "client_secret", "password", "Authorization", "api_key",
    "X-Api-Key", "private_key", "cookie", "session_id", "sid", "hapikey", "db_password",
])
def test_secret_looking_keys_are_redacted(key: str) -> None:
    stream = capture()
    log.info("auth.try", **{key: "plain-value-123", "user": "leadscore@example.com"})
    (line,) = json_lines(stream)
    assert line[key] == REDACTED and line["user"] == "leadscore@example.com"


@pytest.mark.parametrize("key", ["side", "inside", "considered", "records", "connector", "status"])
def test_ordinary_keys_are_kept(key: str) -> None:
    assert not is_secret_key(key)


def test_registered_values_are_masked_everywhere() -> None:
    secret = unique()
    register_secret(SecretStr(secret))
    stream = capture()
    log.info(f"login with {secret} failed", detail=f"x{secret}y",
             nested={"a": [1, {"b": f"... {secret} ..."}], "tuple": (secret,)}, number=7)
    text = stream.getvalue()
    assert secret not in text
    (line,) = json_lines(stream)
    assert line["event"] == f"login with {REDACTED} failed"
    assert line["detail"] == f"x{REDACTED}y"
    assert line["nested"] == {"a": [1, {"b": f"... {REDACTED} ..."}], "tuple": [REDACTED]}
    assert line["number"] == 7


def test_url_encoded_and_escaped_forms_of_a_secret_are_masked() -> None:
    secret = f"p@ss/w0rd+{uuid.uuid4().hex[:8]}"
    multiline = f"line one {uuid.uuid4().hex}\nline two"
    register_secret(secret)
    register_secret(multiline)
    stream = capture()
    log.info("req", url=f"https://example.com/login?p={quote(secret, safe='')}", body=json.dumps({"k": multiline}))
    (line,) = json_lines(stream)
    assert line["url"] == f"https://example.com/login?p={REDACTED}"
    assert line["body"] == f'{{"k": "{REDACTED}"}}'


def test_short_and_empty_values_are_not_registered() -> None:
    register_secret("abc")
    register_secret(None)
    register_secret("")
    stream = capture()
    log.info("abc is fine")
    assert json_lines(stream)[0]["event"] == "abc is fine"


def test_objects_are_checked_through_their_repr() -> None:
    secret = unique()
    register_secret(secret)

    class Holder:
        def __repr__(self) -> str:
            return f"Holder({secret})"

    stream = capture()
    log.info("obj", holder=Holder(), error=ValueError(f"refused {secret}"))
    assert secret not in stream.getvalue()
    assert REDACTED in json_lines(stream)[0]["holder"]


@pytest.mark.parametrize("text, leaked", [
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("sent header authorization=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
    ("{'Authorization': 'Bearer eyJhbGciOi.xyz'}", "eyJhbGciOi"),
    ("token was bearer 1234567890abcdef", "1234567890abcdef"),
    ("postgresql+psycopg://leadscore:hunter2-pw@db:5432/leadscore", "hunter2-pw"),
    ("GET /oauth?refresh_token=rt-9876543&client_secret=cs-abcdef HTTP/1.1", "rt-9876543"),
    ("GET /oauth?refresh_token=rt-9876543&client_secret=cs-abcdef HTTP/1.1", "cs-abcdef"),
    ("key: -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY----- done", "MIIEpAIBAAKCAQEA"),
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN (cut)", "MIIEvQIBADAN"),
])
def test_secret_shapes_are_masked(text: str, leaked: str) -> None:
    stream = capture()
    log.info("http", detail=text)
    logging.getLogger("urllib3").warning(text)
    output = stream.getvalue()
    assert leaked not in output
    assert len(json_lines(stream)) == 2


def test_the_url_user_is_kept_but_not_the_password() -> None:
    out = redact(None, "info", {"event": "open postgresql://leadscore:pw-123456@db/leadscore"})
    assert out["event"] == f"open postgresql://leadscore:{REDACTED}@db/leadscore"


def test_exception_tracebacks_are_redacted_and_have_no_locals() -> None:
    secret = unique("tok")
    register_secret(secret)
    stream = capture()

    def fail(token: str) -> None:
        raise AuthError(f"HubSpot refused token {token}")

    try:
        fail(secret)
    except AuthError:
        log.exception("sync.failed")
        logging.getLogger("apscheduler.executors").exception("Job raised")
    assert secret not in stream.getvalue()
    ours, theirs = json_lines(stream)
    for line in (ours, theirs):
        assert "Traceback (most recent call last)" in line["exception"]
        assert f"AuthError: HubSpot refused token {REDACTED}" in line["exception"]
    console = capture("console")
    try:
        fail(secret)
    except AuthError:
        log.exception("sync.failed")
    assert secret not in console.getvalue() and "AuthError" in console.getvalue()


# --- secrets from the config -------------------------------------------------------------


def test_register_config_secrets_registers_inline_values_and_reads_nothing(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path) -> None:
    """Logging only redacts: it masks the inline secrets of a table handed over as it is, and
    never follows an ``*_env`` or ``*_file`` key (the config's secret types resolve those)."""
    inline, nested, in_env, in_file = (unique(p) for p in ("inline", "nested", "env", "file"))
    monkeypatch.setenv("TEST_LOGS_TOKEN", in_env)
    (tmp_path / "key").write_text(in_file, encoding="utf-8")
    register_config_secrets({
        "mycrm": {
            "access_token": inline,
            "oauth": {"client_id": "not-a-secret-id", "refresh_token": SecretStr(nested)},
            "access_token_env": "TEST_LOGS_TOKEN",
            "private_key_file": str(tmp_path / "key"),
            "tier": "professional",
        },
        "broken": "not a table",  # type: ignore[dict-item]
    })
    stream = capture()
    log.info(f"{inline} {nested} {in_env} {in_file}", client_id="not-a-secret-id", variable="TEST_LOGS_TOKEN")
    (line,) = json_lines(stream)
    assert line["event"] == f"{REDACTED} {REDACTED} {in_env} {in_file}"
    assert line["client_id"] == "not-a-secret-id" and line["variable"] == "TEST_LOGS_TOKEN"


def test_logging_imports_neither_the_config_nor_the_connector_contract() -> None:
    code = ("import json, sys, leadscore.agent.logs; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('leadscore.'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(done.stdout)
    assert "leadscore.agent.config" not in loaded and "leadscore.agent.core.contract" not in loaded
    assert "leadscore.agent.core.secrets" in loaded


def test_a_secret_registered_through_the_core_is_masked_by_logging() -> None:
    secret = unique("core")
    core_secrets.register_secret(secret)
    stream = capture()
    log.info(f"token {secret}")
    assert secret not in stream.getvalue() and REDACTED in stream.getvalue()
    assert register_secret is core_secrets.register_secret  # one registry, re-exported here for old callers


# --- end to end --------------------------------------------------------------------------


@pytest.mark.network
def test_a_hubspot_token_never_reaches_the_logs() -> None:
    """Real connector work at DEBUG, through the SDK and urllib3, including an auth failure and
    lines that put the token in a message and a field on purpose: the token never appears."""
    token = f"pat-na1-{uuid.uuid4()}"
    emulator = HubSpotEmulator(token=token, limits=RateLimits(per_ten_seconds=100_000, daily=10_000_000,
                                                              search_per_second=10_000)).start()
    try:
        emulator.seed(30)
        config = {
            "access_token": token,
            "host": emulator.base_url,
            "per_ten_seconds": 100_000,
            "search_per_second": 10_000,
            "connect_timeout": 2,
            "read_timeout": 10,
            "write": {"score": "leadscore_score", "stage": "leadscore_stage", "reason": "leadscore_reason"},
        }
        register_config_secrets({"hubspot": config})
        stream = capture("json", "debug")
        with bound_job("hubspot", "sync", "run-e2e"):
            connector = HubSpotConnector(config, sleep=lambda seconds: None)
            connector.setup(WriteSpec(frozenset({"score", "stage", "reason"}), ["Cold", "Warm", "MQL", "SQL"]))
            leads = [lead for batch in connector.pull(Cursor("contact", None)) for lead in batch.leads]
            assert len(leads) == 30
            results = connector.write([ScoreUpdate(leads[0].id, "contact", {"score": 5, "stage": "Warm", "reason": "+5 x"})])
            assert results[0].ok
            log.info(f"sync.debug token is {token}", token_copy=f"Bearer {token}", header={"Authorization": f"Bearer {token}"})
            # The SDK's Configuration caps urllib3 at WARNING; another library stands in for it.
            logging.getLogger("apscheduler.executors.default").debug("job args: %s", {"token": token})
            emulator.revoke_token()
            with pytest.raises(AuthError) as caught:
                list(connector.pull(Cursor("contact", None)))
            log.error("sync.failed", error=str(caught.value))
            try:
                raise caught.value
            except AuthError:
                log.exception("sync.failed.traceback", token_in_text=f"{token} again")
    finally:
        emulator.stop()

    output = stream.getvalue()
    lines = json_lines(stream)
    assert token not in output
    assert token.split("-", 2)[-1] not in output  # nor its random part alone
    events = [line["event"] for line in lines]
    assert "sync.failed" in events and "sync.failed.traceback" in events
    assert f"sync.debug token is {REDACTED}" in events
    assert any(line["logger"] == "leadscore.hubspot" for line in lines), "the connector's own lines were not captured"
    library = [line for line in lines if line["logger"].startswith("apscheduler")]
    assert library and library[0]["event"] == "job args: {'token': '[REDACTED]'}"
    assert all(line.get("run_id") == "run-e2e" for line in lines)


def test_transient_secrets_are_masked_while_among_the_latest() -> None:
    tokens = [f"runtime-token-{n:04d}-abcdef" for n in range(40)]
    for token in tokens:
        register_secret(token, transient=True)
    assert redact_text(tokens[-1]) == "[REDACTED]" and redact_text(tokens[-32]) == "[REDACTED]"
    assert redact_text(tokens[0]) == tokens[0]  # long expired: no longer worth a pattern
