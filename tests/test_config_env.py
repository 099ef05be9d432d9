"""``${ENV}`` and ``${file:...}`` references in the config: expanded before validation, every
problem named by its key path, and an expanded value (usually a secret) never echoed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from leadscore.agent.config import expand_references, format_validation_errors, load_config, parse_config
from leadscore.agent.core.errors import ConfigError

from .conftest import EXAMPLE_CONFIG

RULE = """
[[scoring.rules]]
kind = "fit"
label = "{label}"
field = "{field}"
{test}
points = 20
"""


def config(extra: str = "", *, label: str = "Tech", field: str = "industry", test: str = 'equals = "Technology"') -> str:
    return "[scoring]\n" + RULE.format(label=label, field=field, test=test) + textwrap.dedent(extra)


def problems(text: str, base_dir: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, base_dir=base_dir)
    return caught.value.problems


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LS_DB", "LS_LEVEL", "LS_INDUSTRY", "LS_MISSING", "TOKEN", "LS_EMPTY"):
        monkeypatch.delenv(name, raising=False)


# --- the forms ---------------------------------------------------------------------------


def test_environment_variable_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LS_DB", "postgresql+psycopg://agent@db/leadscore")
    loaded = parse_config(config('[agent]\nstate_url = "${LS_DB}"\n'))
    assert loaded.agent.state_url == "postgresql+psycopg://agent@db/leadscore"


def test_reference_inside_a_longer_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LS_DB", "db.internal")
    loaded = parse_config(config('[agent]\nstate_url = "postgresql+psycopg://agent@${LS_DB}/leadscore"\n'))
    assert loaded.agent.state_url == "postgresql+psycopg://agent@db.internal/leadscore"


def test_default_applies_when_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    text = config('[agent]\nlog_level = "${LS_LEVEL:-warning}"\n')
    assert parse_config(text).agent.log_level == "warning"
    monkeypatch.setenv("LS_LEVEL", "")
    assert parse_config(text).agent.log_level == "warning"
    monkeypatch.setenv("LS_LEVEL", "debug")
    assert parse_config(text).agent.log_level == "debug"


def test_secret_file_loses_one_trailing_newline(tmp_path: Path) -> None:
    secret = tmp_path / "db"
    secret.write_text("sqlite:///state.db\n", encoding="utf-8")
    loaded = parse_config(config(f'[agent]\nstate_url = "${{file:{secret}}}"\n'))
    assert loaded.agent.state_url == "sqlite:///state.db"
    secret.write_text("a\n\n", encoding="utf-8")
    assert expand_references({"k": f"${{file:{secret}}}"}).data == {"k": "a\n"}


def test_relative_secret_file_is_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret.txt").write_text("sqlite:///from-secret.db\n", encoding="utf-8")
    path = tmp_path / "leadscore.toml"
    path.write_text(config('[agent]\nstate_url = "${file:secret.txt}"\n'), encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)  # not the config's directory
    assert load_config(path).agent.state_url == "sqlite:///from-secret.db"


def test_escaped_reference_is_a_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LS_INDUSTRY", "never used")
    loaded = parse_config(config(label="Costs $${LS_INDUSTRY} a seat"))
    assert loaded.scoring.rules[0].label == "Costs ${LS_INDUSTRY} a seat"
    assert expand_references({"k": "$${A} and $${B}"}).origins == {}


@pytest.mark.parametrize("pattern", [r"\b(VP)$", "^a$", "$", "a$b", "$$", "cost: $5 {x}", "$ {x}"])
def test_strings_without_a_reference_are_untouched(pattern: str) -> None:
    assert expand_references({"scoring": {"rules": [{"regex": pattern}]}}).data == {"scoring": {"rules": [{"regex": pattern}]}}


def test_regex_rules_still_validate() -> None:
    loaded = parse_config(config(field="title", test="regex = '\\b(VP)$'"))
    assert loaded.scoring.rules[0].regex == r"\b(VP)$"
    parse_config(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def test_nested_tables_and_arrays_are_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LS_INDUSTRY", "Technology")
    loaded = parse_config(config(test='in = ["${LS_INDUSTRY}", "Software"]'))
    assert loaded.scoring.rules[0].in_ == ["Technology", "Software"]
    expansion = expand_references({"a": {"b": [{"c": ["x", "${LS_INDUSTRY}"]}]}})
    assert expansion.data == {"a": {"b": [{"c": ["x", "Technology"]}]}}
    assert expansion.origins == {"a.b[0].c[1]": "${LS_INDUSTRY}"}


def test_keys_are_never_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LS_INDUSTRY", "x")
    assert expand_references({"${LS_INDUSTRY}": 1}).data == {"${LS_INDUSTRY}": 1}


def test_non_strings_are_left_alone() -> None:
    data = {"a": 1, "b": 2.5, "c": True, "d": [1, [2]]}
    assert expand_references(data).data == data


# --- problems ----------------------------------------------------------------------------


def test_unset_variable_names_the_key() -> None:
    assert problems(config('[connectors.hubspot]\nhost = "${LS_MISSING}"\n')) == [
        "connectors.hubspot.host: environment variable LS_MISSING is not set (referenced as ${LS_MISSING})"
    ]


def test_set_but_empty_variable_is_empty_without_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LS_EMPTY", "")
    assert expand_references({"k": "a${LS_EMPTY}b"}).data == {"k": "ab"}


def test_unset_variable_in_an_array_names_its_index() -> None:
    assert problems(config(test='in = ["Software", "${LS_MISSING}"]')) == [
        "scoring.rules[0].in[1]: environment variable LS_MISSING is not set (referenced as ${LS_MISSING})"
    ]


def test_unreadable_secret_file_names_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "db"
    assert problems(config(f'[agent]\nstate_url = "${{file:{missing}}}"\n')) == [
        f"agent.state_url: cannot read secret file {missing} (No such file or directory)"
    ]


def test_a_secret_file_too_large_to_be_a_secret_is_not_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge"
    huge.write_text("x" * (64 * 1024 + 1), encoding="utf-8")
    assert problems(config(f'[agent]\nstate_url = "${{file:{huge}}}"\n')) == [
        f"agent.state_url: cannot read secret file {huge} (larger than 64 KiB: not a secret)"
    ]


def test_a_connectors_secret_may_come_from_a_reference(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("pat-na1-from-a-file\n", encoding="utf-8")
    loaded = parse_config(config('[connectors.hubspot]\naccess_token = "${file:token}"\n'), base_dir=tmp_path)
    assert loaded.connector_settings("hubspot").private_app_token() == "pat-na1-from-a-file"  # type: ignore[union-attr]


@pytest.mark.parametrize("reference", ["${}", "${bad name}", "${X", "${1X}", "${file:}", "a ${X"])
def test_malformed_reference(reference: str) -> None:
    found = problems(config(f'[agent]\nmetrics_host = "{reference}"\n'))
    assert len(found) == 1 and found[0].startswith("agent.metrics_host: malformed reference ")


def test_every_reference_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        config(
            f"""
            [agent]
            state_url = "${{file:{tmp_path / 'nope'}}}"
            metrics_host = "${{}}"
            [connectors.hubspot]
            host = "${{LS_MISSING}}"
            """,
            test='in = ["${LS_MISSING:-ok}", "${LS_MISSING}"]',
        )
    )
    assert [line.split(":", 1)[0] for line in found] == [
        "scoring.rules[0].in[1]",
        "agent.state_url",
        "agent.metrics_host",
        "connectors.hubspot.host",
    ]


def test_missing_config_file_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "leadscore.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        f"{path}: no such config file (copy config.example.toml to leadscore.toml and edit it, or pass --config PATH)"
    ]


# --- secrets are never echoed ------------------------------------------------------------


def test_expanded_value_failing_validation_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", "supersecret-value")
    with pytest.raises(ConfigError) as caught:
        parse_config(config('[connectors.hubspot]\ntier = "${TOKEN}"\n'))
    text = str(caught.value)
    assert "connectors.hubspot.tier" in text and "(value from ${TOKEN})" in text
    assert "supersecret-value" not in text


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('[agent]\nlease = "${TOKEN}"\n', "agent.lease"),  # a validator quoting the value
        ('[agent]\nstate_url = "${TOKEN}"\n', "agent.state_url"),
        ('[agent]\nmetrics_port = "${TOKEN}"\n', "agent.metrics_port"),
        ('[connectors.hubspot]\nhost = "x${TOKEN}"\n', "connectors.hubspot.host"),  # partly expanded
        ('[schedule]\nsync_cron = "${TOKEN}"\n', "schedule.sync_cron"),
    ],
)
def test_secret_never_appears_in_any_message(monkeypatch: pytest.MonkeyPatch, extra: str, key: str) -> None:
    secret = "supersecret-value-" + "x" * 70  # longer than a shown value's 60 characters
    monkeypatch.setenv("TOKEN", secret)
    with pytest.raises(ConfigError) as caught:
        parse_config(config(extra))
    text = str(caught.value)
    assert key in text and "${TOKEN}" in text
    assert "supersecret" not in text


def test_secret_in_a_checked_reference_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", "supersecret-value")
    found = problems(config(field="${TOKEN}", test="exists = true"))
    assert len(found) == 1 and found[0].startswith("scoring.rules[0].field: ")
    assert "supersecret" not in found[0] and "${TOKEN}" in found[0]


def test_secret_file_value_is_not_shown(tmp_path: Path) -> None:
    (tmp_path / "tier").write_text("supersecret-value\n", encoding="utf-8")
    found = problems(config('[connectors.hubspot]\ntier = "${file:tier}"\n'), base_dir=tmp_path)
    assert found == [
        "connectors.hubspot.tier: expected 'free', 'starter', 'professional' or 'enterprise', "
        "got (value from ${file:tier})"
    ]


def test_literal_values_are_still_shown() -> None:
    found = problems(config('[connectors.hubspot]\ntier = "gold"\n'))
    assert found == ["connectors.hubspot.tier: expected 'free', 'starter', 'professional' or 'enterprise', got 'gold'"]


def test_format_validation_errors_keeps_its_old_signature() -> None:
    error = {"type": "float_parsing", "loc": ("points",), "msg": "", "input": "abc"}
    assert format_validation_errors([error]) == ["points: expected a number, got 'abc'"]
    assert format_validation_errors([error], expanded={"points": "${P}"}) == [
        "points: expected a number, got (value from ${P})"
    ]


def test_cli_validate_expands_references(tmp_path: Path) -> None:
    path = tmp_path / "leadscore.toml"
    path.write_text(config('[agent]\nstate_url = "${LS_DB}"\n'), encoding="utf-8")
    env = {"PATH": "", "LS_DB": "sqlite:///x.db"}
    done = subprocess.run([sys.executable, "-m", "leadscore.agent.cli", "validate", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    del env["LS_DB"]
    done = subprocess.run([sys.executable, "-m", "leadscore.agent.cli", "validate", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == "agent.state_url: environment variable LS_DB is not set (referenced as ${LS_DB})"
