"""OAuth apps: the emulator's token endpoint and access-token expiry, and the connector's refresh.

Everything runs through the real ``hubspot-api-client`` SDK over real HTTP against the emulator.
The connector trades the refresh token for an access token when it starts, refreshes once when
HubSpot answers 401 (``EXPIRED_AUTHENTICATION``) and retries; a refused refresh is an
``AuthError`` naming the config key to fix, and no secret or token is ever logged or raised.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from hubspot import HubSpot
from structlog.testing import capture_logs
from urllib3.util.retry import Retry

from leadscore.agent.core.errors import AuthError, ConfigError, TransientError
from leadscore.agent.core.contract import Cursor, PullNeeds, ScoreUpdate, WriteSpec
from leadscore.connectors.hubspot import HubSpotConnector
from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits

pytestmark = pytest.mark.network

T = (2, 10)
FAST = RateLimits(per_ten_seconds=100_000, daily=10_000_000, search_per_second=10_000)
WRITE_FIELDS = {"score": "leadscore_score", "stage": "leadscore_stage", "reason": "leadscore_reason"}
NEEDS = PullNeeds(frozenset({"title", "email"}), frozenset())

CLIENT_ID = "5f1c0a6e-0b9d-4c43-9b59-6c0d2a7e1f00"
SECRET = "cs-7d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6"
REFRESH = "na1-0c1d-2e3f4a5b-6c7d-8e9f-a0b1-c2d3e4f5a6b7"
SECRET_ENV = "LEADSCORE_TEST_HUBSPOT_CLIENT_SECRET"
REFRESH_ENV = "LEADSCORE_TEST_HUBSPOT_REFRESH_TOKEN"


def compressed_sleep(seconds: float) -> None:
    time.sleep(min(seconds, 0.02))


class Clock:
    """The emulator's clock: frozen, or advancing ``tick`` seconds at every reading."""

    def __init__(self) -> None:
        self.now = 1_794_000_000.0  # 2026-11-06: after the seeded history (2026-11-01)
        self.tick = 0.0

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock) -> Iterator[HubSpotEmulator]:
    emulator = HubSpotEmulator(limits=FAST, clock=clock).start()
    emulator.oauth_app(client_id=CLIENT_ID, client_secret=SECRET, refresh_token=REFRESH)
    yield emulator
    emulator.stop()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv(REFRESH_ENV, REFRESH)
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    return monkeypatch


def connector_for(emu: HubSpotEmulator, **overrides: Any) -> HubSpotConnector:
    config = {
        "oauth": {"client_id": CLIENT_ID, "client_secret_env": SECRET_ENV, "refresh_token_env": REFRESH_ENV},
        "host": emu.base_url,
        "per_ten_seconds": 100_000,
        "search_per_second": 10_000,
        "retry_attempts": 5,
        "connect_timeout": 2,
        "read_timeout": 10,
        "write": WRITE_FIELDS,
        **overrides,
    }
    return HubSpotConnector(config, sleep=compressed_sleep)


def seed(emu: HubSpotEmulator, count: int) -> list[str]:
    return emu.seed(count, seed=11, as_of=datetime(2026, 11, 1, tzinfo=timezone.utc))


def pull_all(connector: HubSpotConnector) -> list[str]:
    return [lead.id for batch in connector.pull(Cursor("contact", None), needs=NEEDS) for lead in batch.leads]


def token_requests(emu: HubSpotEmulator) -> list[int]:
    return [r.status for r in emu.requests() if r.endpoint == "oauth.token"]


def refused_401(emu: HubSpotEmulator) -> int:
    return sum(1 for r in emu.requests() if r.status == 401)


def sdk(emu: HubSpotEmulator, access_token: str | None = None) -> HubSpot:
    return HubSpot(access_token=access_token, host=emu.base_url, retry=Retry(total=False, redirect=False))


def refresh(emu: HubSpotEmulator, **overrides: str) -> Any:
    params = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": SECRET, "refresh_token": REFRESH}
    params.update(overrides)
    return sdk(emu).oauth.tokens_api.create(**params, _request_timeout=T)


def api_error(fn: Any) -> Any:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the SDK's ApiException classes differ per package
        assert hasattr(exc, "status"), exc
        return exc
    raise AssertionError("expected an API error")


# --- the emulator ------------------------------------------------------------------------------


def test_token_endpoint_trades_the_refresh_token_for_a_bearer_access_token(emu: HubSpotEmulator) -> None:
    tokens = refresh(emu)
    assert tokens.token_type == "bearer" and tokens.expires_in == 1800
    assert tokens.refresh_token == REFRESH  # HubSpot's refresh tokens are not rotated
    assert tokens.access_token and tokens.access_token not in (emu.token, REFRESH)
    contacts = sdk(emu, tokens.access_token).crm.contacts.basic_api
    assert contacts.get_page(limit=1, _request_timeout=T).results == []
    assert token_requests(emu) == [200] and emu.access_tokens_issued() == 1
    # The private app's token still works beside it.
    assert sdk(emu, emu.token).crm.contacts.basic_api.get_page(limit=1, _request_timeout=T).results == []


def test_access_tokens_expire_on_the_emulator_clock_with_expired_authentication(emu: HubSpotEmulator, clock: Clock) -> None:
    contacts = sdk(emu, refresh(emu).access_token).crm.contacts.basic_api
    clock.now += 1799
    assert contacts.get_page(limit=1, _request_timeout=T).results == []
    clock.now += 1 + 3 * 3600
    refused = api_error(lambda: contacts.get_page(limit=1, _request_timeout=T))
    assert refused.status == 401
    body = json.loads(refused.body)
    assert body["status"] == "error" and body["category"] == "EXPIRED_AUTHENTICATION" and body["correlationId"]
    assert body["message"] == "The OAuth token used to make this call expired 3 hour(s) ago."
    assert body["context"]["expire time"][0].endswith("Z")
    # expire_access_tokens() expires every token issued so far, now.
    fresh = sdk(emu, refresh(emu).access_token).crm.contacts.basic_api
    assert emu.expire_access_tokens() == 2
    body = json.loads(api_error(lambda: fresh.get_page(limit=1, _request_timeout=T)).body)
    assert body["message"] == "The OAuth token used to make this call expired 0 second(s) ago."


def test_unknown_access_tokens_and_revoked_private_tokens_answer_invalid_authentication(emu: HubSpotEmulator) -> None:
    access = refresh(emu).access_token
    unknown = api_error(lambda: sdk(emu, access + "x").crm.contacts.basic_api.get_page(_request_timeout=T))
    assert unknown.status == 401 and json.loads(unknown.body)["category"] == "INVALID_AUTHENTICATION"
    emu.revoke_token()  # the private app's token only: OAuth access tokens are the app's
    assert api_error(lambda: sdk(emu, emu.token).crm.contacts.basic_api.get_page(_request_timeout=T)).status == 401
    assert sdk(emu, access).crm.contacts.basic_api.get_page(limit=1, _request_timeout=T).results == []


@pytest.mark.parametrize(
    ("overrides", "code", "message"),
    [
        ({"client_id": "not-an-app"}, "BAD_CLIENT_ID", "missing or unknown client id"),
        ({"client_secret": "wrong"}, "BAD_CLIENT_SECRET", "missing or invalid client secret"),
        ({"refresh_token": "na1-not-issued"}, "BAD_REFRESH_TOKEN", "missing or invalid refresh token"),
        ({"refresh_token": ""}, "BAD_REFRESH_TOKEN", "missing or invalid refresh token"),
        ({"grant_type": "password"}, "BAD_GRANT_TYPE", "missing or unknown grant type"),
        ({"grant_type": "authorization_code"}, "BAD_AUTH_CODE", "missing or unknown auth code"),
    ],
)
def test_refused_token_requests_answer_400_in_the_oauth_shape(emu: HubSpotEmulator, overrides: dict[str, str],
                                                              code: str, message: str) -> None:
    refused = api_error(lambda: refresh(emu, **overrides))
    assert refused.status == 400
    body = json.loads(refused.body)
    assert body["status"] == code and body["message"] == message and body["correlationId"]
    assert SECRET not in refused.body and REFRESH not in refused.body
    assert emu.access_tokens_issued() == 0


def test_a_refresh_token_works_only_for_its_own_app_and_until_revoked(emu: HubSpotEmulator) -> None:
    other = emu.oauth_app()  # generated client id, secret and refresh token
    assert other.client_id != CLIENT_ID and other.client_secret not in repr(other) and other.refresh_token not in repr(other)
    crossed = api_error(lambda: refresh(emu, client_id=other.client_id, client_secret=other.client_secret))
    assert json.loads(crossed.body)["status"] == "BAD_REFRESH_TOKEN"
    access = refresh(emu).access_token
    emu.revoke_refresh_token(REFRESH)
    assert json.loads(api_error(lambda: refresh(emu)).body)["status"] == "BAD_REFRESH_TOKEN"
    # Access tokens already issued stay valid until they expire, as HubSpot documents.
    assert sdk(emu, access).crm.contacts.basic_api.get_page(limit=1, _request_timeout=T).results == []


def test_token_endpoint_needs_no_bearer_token_and_is_outside_the_account_limits(clock: Clock) -> None:
    with HubSpotEmulator(limits=RateLimits(per_ten_seconds=1, daily=1, search_per_second=1), clock=clock) as emu:
        emu.oauth_app(client_id=CLIENT_ID, client_secret=SECRET, refresh_token=REFRESH)
        for _ in range(3):
            assert refresh(emu).access_token
        assert token_requests(emu) == [200, 200, 200]
        assert all(r.path == "/oauth/v1/token" for r in emu.requests())  # no query string, no secret


# --- the connector ----------------------------------------------------------------------------


def test_connector_with_oauth_gets_a_token_and_pulls(emu: HubSpotEmulator, env: pytest.MonkeyPatch) -> None:
    ids = seed(emu, 120)
    connector = connector_for(emu)
    try:
        assert token_requests(emu) == [200]
        assert sorted(pull_all(connector)) == sorted(ids)
        assert refused_401(emu) == 0 and token_requests(emu) == [200]
    finally:
        connector.close()


def test_expired_access_token_is_refreshed_once_and_every_api_uses_the_new_one(emu: HubSpotEmulator,
                                                                                env: pytest.MonkeyPatch) -> None:
    ids = seed(emu, 30)
    connector = connector_for(emu)
    try:
        connector.setup(WriteSpec(frozenset(WRITE_FIELDS), ["Cold", "Warm", "MQL", "SQL"]))
        client = connector.client
        # A bound method taken before the refresh, as a caller holding one across calls would.
        list_page = client.contacts_basic.get_page
        emu.expire_access_tokens()
        emu.reset_log()
        assert sorted(pull_all(connector)) == sorted(ids)
        assert token_requests(emu) == [200] and refused_401(emu) == 1
        assert client.retries["contacts.list"] == 1
        # Every other API object, and the method bound before, now carry the new token.
        results = connector.write([ScoreUpdate(i, "contact", {"score": 7, "stage": "Warm", "reason": "+7"}) for i in ids])
        assert all(r.ok for r in results)
        assert client.call("contacts.list", list_page, limit=1).results
        assert connector.check().problems == []
        assert token_requests(emu) == [200] and refused_401(emu) == 1
    finally:
        connector.close()


def test_expiry_in_the_middle_of_a_pull_costs_one_refresh(emu: HubSpotEmulator, env: pytest.MonkeyPatch,
                                                          clock: Clock) -> None:
    ids = seed(emu, 350)
    connector = connector_for(emu, pull_batch_size=100)
    try:
        seen: list[str] = []
        for number, batch in enumerate(connector.pull(Cursor("contact", None), needs=NEEDS)):
            seen.extend(lead.id for lead in batch.leads)
            if number == 1:
                clock.now += 1800  # the access token's lifetime passes
        assert sorted(seen) == sorted(ids)
        assert token_requests(emu) == [200, 200] and refused_401(emu) == 1
    finally:
        connector.close()


def test_bad_refresh_token_is_an_auth_error_naming_the_config_key(emu: HubSpotEmulator, env: pytest.MonkeyPatch) -> None:
    env.setenv(REFRESH_ENV, "na1-0000-not-the-token")
    with pytest.raises(AuthError) as refused:
        connector_for(emu)
    message = str(refused.value)
    assert "BAD_REFRESH_TOKEN" in message
    assert "connectors.hubspot.oauth.refresh_token_env" in message and REFRESH_ENV in message
    assert "na1-0000-not-the-token" not in message and SECRET not in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"client_id": "not-an-app"}, "connectors.hubspot.oauth.client_id"),
        ({"secret": "not-the-secret"}, "connectors.hubspot.oauth.client_secret_env"),
    ],
)
def test_bad_client_id_or_secret_is_an_auth_error_naming_the_config_key(emu: HubSpotEmulator, env: pytest.MonkeyPatch,
                                                                         overrides: dict[str, str], key: str) -> None:
    config: dict[str, Any] = {}
    if "client_id" in overrides:
        config["oauth"] = {"client_id": overrides["client_id"], "client_secret_env": SECRET_ENV,
                           "refresh_token_env": REFRESH_ENV}
    if "secret" in overrides:
        env.setenv(SECRET_ENV, overrides["secret"])
    with pytest.raises(AuthError) as refused:
        connector_for(emu, **config)
    message = str(refused.value)
    assert key in message
    assert SECRET not in message and REFRESH not in message and "not-the-secret" not in message


def test_missing_environment_variables_are_named(emu: HubSpotEmulator, env: pytest.MonkeyPatch) -> None:
    env.delenv(REFRESH_ENV)
    with pytest.raises(AuthError) as refused:
        connector_for(emu)
    assert REFRESH_ENV in str(refused.value) and "connectors.hubspot.oauth" in str(refused.value)
    assert token_requests(emu) == []


def test_a_secret_pasted_into_an_env_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as refused:
        HubSpotConnector({"oauth": {"client_id": CLIENT_ID, "client_secret_env": SECRET, "refresh_token_env": REFRESH_ENV}})
    assert "connectors.hubspot.oauth.client_secret_env" in str(refused.value) and SECRET not in str(refused.value)


def test_refresh_refused_mid_run_stops_with_auth_error(emu: HubSpotEmulator, env: pytest.MonkeyPatch) -> None:
    seed(emu, 5)
    connector = connector_for(emu)
    try:
        emu.revoke_refresh_token(REFRESH)  # e.g. the app was uninstalled
        emu.expire_access_tokens()
        with capture_logs() as logs, pytest.raises(AuthError) as refused:
            pull_all(connector)
        assert "refresh_token_env" in str(refused.value)
        assert [e["event"] for e in logs if e["log_level"] == "error"] == ["api.stopped"]
        assert connector.failures()["AuthError"] == 1
        assert token_requests(emu) == [200, 400]
    finally:
        connector.close()


def test_a_failing_token_endpoint_is_transient_not_a_refusal(emu: HubSpotEmulator, env: pytest.MonkeyPatch) -> None:
    emu.set_faults(error_rate=1.0, statuses=(503,))
    with pytest.raises(TransientError):
        connector_for(emu)
    emu.set_faults()
    connector = connector_for(emu)
    connector.close()


def test_a_401_after_a_fresh_refresh_stops_instead_of_looping(emu: HubSpotEmulator, env: pytest.MonkeyPatch,
                                                              clock: Clock) -> None:
    seed(emu, 5)
    connector = connector_for(emu)
    try:
        emu.oauth_app(client_id=CLIENT_ID, client_secret=SECRET, refresh_token=REFRESH, expires_in=1)
        clock.now += 1800
        clock.tick = 2.0  # every token is expired by the time it is used
        with pytest.raises(AuthError) as refused:
            pull_all(connector)  # the refreshed token is already expired when used
        assert "connectors.hubspot.oauth" in str(refused.value)
        assert token_requests(emu) == [200, 200] and refused_401(emu) == 2
    finally:
        connector.close()


def test_secrets_and_tokens_never_reach_logs_or_errors(emu: HubSpotEmulator, env: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    seed(emu, 20)
    caplog.set_level(logging.DEBUG)
    tokens: list[str] = []
    with capture_logs() as logs:
        connector = connector_for(emu)
        try:
            tokens.append(connector.client._sdk.access_token)
            pull_all(connector)
            emu.expire_access_tokens()
            pull_all(connector)
            tokens.append(connector.client._sdk.access_token)
            emu.revoke_refresh_token(REFRESH)
            emu.expire_access_tokens()
            with pytest.raises(AuthError) as refused:
                pull_all(connector)
        finally:
            connector.close()
    assert len(set(tokens)) == 2 and all(tokens)
    assert any(e["event"] == "oauth.refreshed" for e in logs)
    text = repr(logs) + caplog.text + str(refused.value) + repr(refused.value) + repr(connector.config)
    for secret in (SECRET, REFRESH, *tokens):
        assert secret not in text


def test_an_access_token_obtained_at_run_time_is_redacted_from_logs(emu: HubSpotEmulator, env: pytest.MonkeyPatch) -> None:
    from leadscore.agent.logs import redact_text

    connector = connector_for(emu)
    try:
        token = connector.client._sdk.access_token
        assert token and redact_text(f"calling with {token} now") == "calling with [REDACTED] now"
    finally:
        connector.close()
