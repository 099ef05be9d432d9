"""The one secrets module: config models declare their secrets by type, validating a model
resolves them (inline, then file, then environment) and registers every value read for redaction,
and what cannot be found is one line naming its key path - for the connectors' own errors and for
``validate`` alike."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from leadscore.agent.config import load_config, require_secrets, secret_problems
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.secrets import (
    MAX_SECRET_FILE,
    ResolvedSecret,
    SecretEnv,
    SecretFile,
    SecretsModel,
    SecretSource,
    SecretValue,
    declared_secrets,
    missing_secrets,
    register_secret,
    registered_pattern,
)
from leadscore.connectors.hubspot.config import HubSpotConfig
from leadscore.connectors.salesforce.config import SalesforceConfig

from .conftest import EXAMPLE_CONFIG

MODEL = EXAMPLE_CONFIG.read_text(encoding="utf-8")


def unique(prefix: str = "secret") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def masked(value: str) -> bool:
    pattern = registered_pattern()
    return pattern is not None and pattern.fullmatch(value) is not None


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HUBSPOT_ACCESS_TOKEN", "SALESFORCE_CLIENT_SECRET", "SALESFORCE_PASSWORD", "LS_SECRET", "LS_OTHER"):
        monkeypatch.delenv(name, raising=False)


class Oauth(BaseModel):
    client_id: str
    client_secret_env: SecretEnv
    refresh_token_env: SecretEnv | None = None


class MyCrmConfig(SecretsModel):
    """A third party's model: the keys its admins write, typed."""

    secrets_section: ClassVar[str] = "connectors.mycrm"
    api_key_env: SecretEnv | None = "LS_SECRET"
    api_key_file: SecretFile | None = None
    api_key: SecretValue | None = None
    oauth: Oauth | None = None
    host: str = "https://example.com"


# --- declaring ---------------------------------------------------------------------------------


def test_the_keys_of_one_secret_are_grouped_by_name_nested_models_included() -> None:
    config = MyCrmConfig(oauth=Oauth(client_id="app", client_secret_env="LS_OTHER"))
    sources = {source.name: source for source in declared_secrets(config)}
    assert list(sources) == ["api_key", "oauth.client_secret", "oauth.refresh_token"]
    assert sources["api_key"].keys == {"env": "api_key_env", "file": "api_key_file", "value": "api_key"}
    assert sources["api_key"].env == "LS_SECRET" and sources["api_key"].file is None
    assert sources["oauth.client_secret"].keys == {"env": "oauth.client_secret_env"}
    assert sources["oauth.refresh_token"].env is None
    assert [s.name for s in declared_secrets(MyCrmConfig())] == ["api_key"]  # no oauth table, no oauth secrets


def test_the_built_in_connectors_declare_the_keys_admins_write() -> None:
    hubspot = HubSpotConfig(oauth={"client_id": "app", "client_secret_env": "A", "refresh_token_env": "B"})
    assert {s.name: dict(s.keys) for s in declared_secrets(hubspot)} == {
        "access_token": {"env": "access_token_env", "file": "access_token_file", "value": "access_token"},
        "oauth.client_secret": {"env": "oauth.client_secret_env"},
        "oauth.refresh_token": {"env": "oauth.refresh_token_env"},
    }
    salesforce = SalesforceConfig(client_id="app", username="u", private_key="k")
    assert {s.name: dict(s.keys) for s in declared_secrets(salesforce)} == {
        "client_secret": {"env": "client_secret_env", "value": "client_secret"},
        "password": {"env": "password_env", "value": "password"},
        "private_key": {"file": "private_key_file", "value": "private_key"},
    }


@pytest.mark.parametrize("pasted", ["pat-na1-0c1d2e3f", "has space", "9LIVES", "", "é_NAME"])
def test_a_secret_pasted_into_an_env_key_is_refused_without_being_echoed(pasted: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MyCrmConfig(api_key_env=pasted)
    (error,) = caught.value.errors(include_input=False)
    assert error["loc"] == ("api_key_env",) and "name of an environment variable" in error["msg"]
    assert not pasted or pasted not in error["msg"]


# --- resolving ---------------------------------------------------------------------------------


def test_inline_wins_then_the_file_then_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LS_SECRET", " from-env-value\n")
    (tmp_path / "key").write_text("  from-file-value\n", encoding="utf-8")
    assert MyCrmConfig().secret("api_key") == "from-env-value"  # stripped
    assert MyCrmConfig(api_key_file=tmp_path / "key").secret("api_key") == "from-file-value"
    assert MyCrmConfig(api_key_file=tmp_path / "key", api_key="inline-value").secret("api_key") == "inline-value"


@pytest.mark.parametrize(
    ("setup", "line"),
    [
        ("unset", "connectors.mycrm.api_key_env: environment variable LS_SECRET is not set"),
        ("blank", "connectors.mycrm.api_key_env: environment variable LS_SECRET is not set"),
        ("missing", "connectors.mycrm.api_key_file: cannot read {dir}/nope (No such file or directory)"),
        ("empty", "connectors.mycrm.api_key_file: {dir}/empty is empty"),
        ("binary", "connectors.mycrm.api_key_file: cannot read {dir}/binary (not UTF-8 text)"),
        ("huge", "connectors.mycrm.api_key_file: cannot read {dir}/huge (larger than 64 KiB: not a secret)"),
        ("directory", "connectors.mycrm.api_key_file: cannot read {dir} (Is a directory)"),
        ("nothing", "connectors.mycrm.api_key: not configured (set api_key_env or api_key_file)"),
    ],
)
def test_a_secret_that_cannot_be_found_names_its_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setup: str,
                                                     line: str) -> None:
    (tmp_path / "empty").write_text(" \n", encoding="utf-8")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00secret")
    (tmp_path / "huge").write_text("x" * (MAX_SECRET_FILE + 1), encoding="utf-8")
    if setup == "blank":
        monkeypatch.setenv("LS_SECRET", "  ")
    keys = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "binary": tmp_path / "binary",
            "huge": tmp_path / "huge", "directory": tmp_path}
    config = MyCrmConfig(api_key_file=keys.get(setup), api_key_env=None if setup == "nothing" else "LS_SECRET")
    expected = line.format(dir=tmp_path)
    assert config.secret_problems() == [expected]
    assert missing_secrets(config, "connectors.mycrm") == [expected]
    with pytest.raises(ConfigError) as caught:
        config.secret("api_key")
    assert caught.value.problems == [expected]
    assert config.secret_or_none("api_key") is None


def test_a_secret_is_read_when_the_model_is_validated_not_when_it_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LS_SECRET", "first-value")
    config = MyCrmConfig()
    monkeypatch.setenv("LS_SECRET", "second-value")
    assert config.secret("api_key") == "first-value"
    assert MyCrmConfig().secret("api_key") == "second-value"  # a new model reads it again


def test_every_value_read_is_registered_for_redaction(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from_env, from_file, inline, nested = (unique(p) for p in ("env", "file", "inline", "nested"))
    monkeypatch.setenv("LS_SECRET", from_env)
    monkeypatch.setenv("LS_OTHER", nested)
    (tmp_path / "key").write_text(f"{from_file}\n", encoding="utf-8")
    MyCrmConfig(oauth=Oauth(client_id="not-a-secret-id", client_secret_env="LS_OTHER"))
    MyCrmConfig(api_key_file=tmp_path / "key")
    MyCrmConfig(api_key=inline)
    assert all(masked(value) for value in (from_env, from_file, inline, nested))
    assert not masked("not-a-secret-id") and not masked("LS_SECRET")


def test_an_unneeded_secret_is_registered_but_not_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    password = unique("password")
    monkeypatch.setenv("SALESFORCE_PASSWORD", password)
    config = SalesforceConfig(client_id="app", username="u", private_key="k" * 10)  # jwt: no password sent
    assert config.secret_problems() == [] and masked(password)


def test_nothing_secret_shows_in_a_repr() -> None:
    value = unique("repr")
    config = MyCrmConfig(api_key=value)
    resolved = ResolvedSecret("api_key", SecretStr(value))
    source = SecretSource("api_key", SecretStr(value))
    assert all(value not in text for text in (repr(config), str(config), repr(resolved), repr(source), repr(declared_secrets(config))))


def test_an_undeclared_secret_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="declares no secret 'token'"):
        MyCrmConfig(api_key="x").secret("token")


def test_a_plain_model_marking_its_fields_is_resolved_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    class Plain(BaseModel):
        token_env: SecretEnv = "LS_SECRET"

    assert missing_secrets(Plain(), "connectors.plain") == [
        "connectors.plain.token_env: environment variable LS_SECRET is not set"
    ]
    monkeypatch.setenv("LS_SECRET", "now-it-is")
    assert missing_secrets(Plain(), "connectors.plain") == []


def test_short_values_are_never_registered() -> None:
    register_secret("abc")
    register_secret(SecretStr("12345"))
    assert not masked("abc") and not masked("12345")


# --- what each built-in connector needs --------------------------------------------------------


def test_hubspot_needs_the_private_app_token_unless_oauth_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    private = HubSpotConfig()
    assert private.secret_problems() == [
        "connectors.hubspot.access_token_env: environment variable HUBSPOT_ACCESS_TOKEN is not set "
        "(set it to the private app's access token, or use access_token_file)"
    ]
    monkeypatch.setenv("LS_SECRET", "client-secret-value")
    oauth = HubSpotConfig(oauth={"client_id": "app", "client_secret_env": "LS_SECRET", "refresh_token_env": "LS_OTHER"})
    assert oauth.secret_problems() == [
        "connectors.hubspot.oauth.refresh_token_env: environment variable LS_OTHER is not set"
    ]
    assert oauth.private_app_token() is None and oauth.secret("oauth.client_secret") == "client-secret-value"
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-from-env")
    assert HubSpotConfig().private_app_token() == "pat-na1-from-env"
    both = HubSpotConfig(access_token="pat-na1-inline", oauth=oauth.oauth)  # an inline token still wins
    assert both.private_app_token() == "pat-na1-inline"


@pytest.mark.parametrize(
    ("auth", "lines"),
    [
        ("jwt", ["connectors.salesforce.private_key_file: cannot read missing.key (No such file or directory)"]),
        ("client_credentials", ["connectors.salesforce.client_secret_env: environment variable SALESFORCE_CLIENT_SECRET is not set"]),
        ("password", ["connectors.salesforce.client_secret_env: environment variable SALESFORCE_CLIENT_SECRET is not set",
                      "connectors.salesforce.password_env: environment variable SALESFORCE_PASSWORD is not set"]),
    ],
)
def test_salesforce_needs_the_secrets_of_its_auth_flow(auth: str, lines: list[str]) -> None:
    config = SalesforceConfig(auth=auth, client_id="app", username="u", private_key_file="missing.key")
    assert config.secret_problems() == lines


# --- the config loader -------------------------------------------------------------------------


def write_config(tmp_path: Path, tables: str) -> Path:
    path = tmp_path / "leadscore.toml"
    path.write_text(MODEL + "\n" + tables, encoding="utf-8")
    return path


def test_load_config_resolves_and_registers_each_secret_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token, key, referenced = unique("pat"), unique("key"), unique("ref")
    monkeypatch.setenv("LS_SECRET", token)
    monkeypatch.setenv("LS_OTHER", referenced)
    (tmp_path / "sf.key").write_text(key, encoding="utf-8")
    path = write_config(tmp_path, f"""
[connectors.hubspot]
access_token_env = "LS_SECRET"

[connectors.salesforce]
client_id = "app"
username = "u@example.com"
private_key_file = "{tmp_path / 'sf.key'}"
client_secret = "${{LS_OTHER}}"
""")
    loaded = load_config(path)
    assert all(masked(value) for value in (token, key, referenced))
    hubspot = loaded.connector_settings("hubspot")
    assert isinstance(hubspot, HubSpotConfig) and hubspot.private_app_token() == token
    assert loaded.connector_settings("hubspot") is hubspot  # validated once, kept
    monkeypatch.delenv("LS_SECRET")
    assert secret_problems(loaded) == []  # what load_config read, not read again
    require_secrets(loaded)
    assert loaded.connector_settings("nope") is None


def test_secret_problems_lists_every_missing_secret_with_its_key_path(tmp_path: Path) -> None:
    path = write_config(tmp_path, """
[connectors.hubspot]
access_token_file = "missing-token"
oauth = { client_id = "app", client_secret_env = "LS_SECRET", refresh_token_env = "LS_OTHER" }

[connectors.salesforce]
auth = "password"
client_id = "app"
username = "u@example.com"
client_secret_env = "LS_SECRET"
""")
    loaded = load_config(path)
    expected = [
        "connectors.hubspot.access_token_file: cannot read missing-token (No such file or directory)",
        "connectors.hubspot.oauth.client_secret_env: environment variable LS_SECRET is not set",
        "connectors.hubspot.oauth.refresh_token_env: environment variable LS_OTHER is not set",
        "connectors.salesforce.client_secret_env: environment variable LS_SECRET is not set",
        "connectors.salesforce.password_env: environment variable SALESFORCE_PASSWORD is not set",
    ]
    assert secret_problems(loaded) == expected
    assert secret_problems(loaded, ["salesforce"]) == expected[3:]
    assert secret_problems(loaded, ["not-configured"]) == []
    with pytest.raises(ConfigError) as caught:
        require_secrets(loaded, ["hubspot"])
    assert caught.value.problems == expected[:3]


def test_a_secret_pasted_into_an_env_key_is_an_invalid_config_that_does_not_echo_it(tmp_path: Path) -> None:
    pasted = "pat-na1-" + uuid.uuid4().hex
    path = write_config(tmp_path, f'[connectors.hubspot]\naccess_token_env = "{pasted}"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        "connectors.hubspot.access_token_env: expected the name of an environment variable (letters, digits and _), "
        "not the value itself"
    ]
    assert pasted not in str(caught.value)


def test_load_config_registers_the_state_store_password(tmp_path: Path) -> None:
    password = unique("db")
    path = write_config(tmp_path, f'[agent]\nstate_url = "postgresql+psycopg://agent:{password}%21@db/leadscore"\n')
    load_config(path)
    assert masked(f"{password}!") and masked(f"{password}%21")
