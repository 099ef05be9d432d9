"""Shared fixtures: the shipped example model and the instant the worked example is scored at;
and helpers writing TOML (:func:`toml_table`, :func:`toml_tables`, :func:`stage_ladder`) for the
models and configs tests build."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import pytest

from leadscore.agent.config import load_config
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.state import StateStore
from tests.postgres import postgres_admin, postgres_server, postgres_url  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config.example.toml"
AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def example_engine() -> ScoringEngine:
    return ScoringEngine(load_config(EXAMPLE_CONFIG).scoring)


# --- TOML for the models and configs tests write ------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def toml_table(name: str, values: Mapping[str, Any]) -> str:
    """``[name]`` and its keys (``None`` values left out)."""
    return f"[{name}]\n" + "".join(f"{key} = {toml_value(v)}\n" for key, v in values.items() if v is not None)


def toml_tables(name: str, *tables: Mapping[str, Any]) -> str:
    """An array of tables: ``[[name]]`` and its keys for each of ``tables``, a blank line before each."""
    return "".join("\n" + toml_table(f"[{name}]", values) for values in tables)


def stage_ladder(lowest: str, *above: tuple[Any, ...], table: str = "scoring.stages") -> str:
    """``[[scoring.stages]]`` (or ``table``) from the lowest stage up; each stage above it is
    ``(name, min_score)`` or ``(name, min_score, requires)``:
    ``stage_ladder("Cold", ("MQL", 30), ("SQL", 55, ["budget"]))``."""
    stages = [{"name": lowest}, *(dict(zip(("name", "min_score", "requires"), stage)) for stage in above)]
    return toml_tables(table, *stages)


def named_model(name: str, *rules: Mapping[str, Any], stages: tuple[Any, ...] = (), **keys: Any) -> str:
    """A ``[[models]]`` entry: its keys, then its rules and (``stages``: ``stage_ladder``'s
    arguments) its stages."""
    text = "\n" + toml_table("[models]", {"name": name, **keys}) + toml_tables("models.rules", *rules)
    return text + (stage_ladder(*stages, table="models.stages") if stages else "")


# --- the HubSpot contract check (tests/hubspot_contract.py) -----------------------------------
#
# Every HubSpotEmulator created during the session hands each request and its answer to one
# ContractChecker, which validates both against HubSpot's OpenAPI documents in ../shared. The
# counts are printed at the end; a violation not on hubspot_contract.GAPS fails the session.
# Skipped (with a line saying why) where ../shared or openapi-core is absent, or with
# HUBSPOT_CONTRACT=0 in the environment.


class HubSpotContractPlugin:
    def __init__(self) -> None:
        from tests import hubspot_contract

        self.skip_reason = hubspot_contract.available()
        if os.environ.get("HUBSPOT_CONTRACT") == "0":
            self.skip_reason = "switched off by HUBSPOT_CONTRACT=0"
        self.checker: hubspot_contract.ContractChecker | None = None
        self.seen = 0  # emulator requests, checked or not
        self._original = None

    def install(self) -> None:
        from leadscore.connectors.hubspot.emulator.core import HubSpotEmulator
        from tests import hubspot_contract

        if self.skip_reason is None:
            self.checker = hubspot_contract.ContractChecker()
        original = self._original = HubSpotEmulator.dispatch
        plugin = self

        def dispatch(emulator, method, target, headers, raw):  # noqa: ANN001, ANN202 - Emulator.dispatch's
            answer = original(emulator, method, target, headers, raw)
            plugin.seen += 1
            if plugin.checker is not None:
                try:
                    plugin.checker.observe(method, target, headers, raw, answer)
                except Exception as exc:  # noqa: BLE001 - a checker bug must not drop the emulator's answer
                    plugin.checker.failed(method, target, answer, exc)
            return answer

        HubSpotEmulator.dispatch = dispatch  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from leadscore.connectors.hubspot.emulator.core import HubSpotEmulator

        if self._original is not None and "dispatch" in vars(HubSpotEmulator):
            del HubSpotEmulator.dispatch

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if self.checker is not None:
            self.checker.current_test = nodeid

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.checker is not None and self.checker.violations and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:  # noqa: ANN001 - pytest's TerminalReporter
        if not self.seen:
            return
        if self.checker is None:
            terminalreporter.write_line(f"HubSpot contract: skipped ({self.skip_reason})")
            return
        terminalreporter.section("HubSpot contract", sep="-", bold=not self.checker.violations,
                                 red=bool(self.checker.violations), green=not self.checker.violations)
        for line in self.checker.summary():
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _hubspot_contract_holds(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test whose HubSpot exchanges break the contract fails itself, so the contract holds when
    the suite runs in several worker processes too (``pytest -n``: each worker checks its own
    exchanges, and the session summary only sees the controller's)."""
    plugin = request.config.pluginmanager.get_plugin("hubspot-contract")
    checker = getattr(plugin, "checker", None)
    before = set(checker.violations) if checker is not None else set()
    yield
    if checker is not None and set(checker.violations) - before:
        new = [checker.violations[key] for key in checker.violations if key not in before]
        pytest.fail(f"HubSpot contract: {len(new)} new violation(s), first: {new[0]}", pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    plugin = HubSpotContractPlugin()
    plugin.install()
    config.pluginmanager.register(plugin, "hubspot-contract")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin("hubspot-contract")
    if plugin is not None:
        plugin.uninstall()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """The store's own checks run on both backends (PostgreSQL: a real server, see tests/postgres.py)."""
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    with StateStore.open(url) as opened:
        yield opened


class ConnectorDouble:
    """What the test doubles of a connector share: the Protocol members a double does not
    exercise (no config model, no count for a progress bar, no CRM identity, nothing to close)."""

    config_model = None

    def count(self, cursor: object, *, until: object = None) -> int | None:
        return None

    def identity(self) -> str | None:
        return None

    def close(self) -> None:
        pass


@dataclass
class Pulled:
    """Everything one ``pull`` from a cursor yielded, and the cursor it ended at."""

    leads: list[Any]
    activities: list[Any]
    deleted: list[str]
    cursor: Any
    retired: list[str] = field(default_factory=list)


def pull_all(connector: Any, cursor: Any, needs: Any = None) -> Pulled:
    out = Pulled([], [], [], cursor)
    for batch in connector.pull(cursor, needs=needs):
        out.leads.extend(batch.leads)
        out.activities.extend(batch.activities)
        out.deleted.extend(batch.deleted_ids)
        out.retired.extend(lead.id for lead in batch.retired)
        out.cursor = batch.cursor
    return out


def closing_fixture(factory: Callable[[], Any]) -> Any:
    """A fixture giving ``factory()`` and closing it after the test (a harness, an emulator)."""

    @pytest.fixture
    def made() -> Iterator[Any]:
        with contextlib.closing(factory()) as value:
            yield value

    return made


class CollectingHandler(logging.Handler):
    """A stdlib logging handler keeping every message: stands in for an application's handlers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
