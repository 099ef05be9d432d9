"""The connector seam: discovery through the ``leadscore.connectors`` entry-point group, and the
shapes that cross it."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.contract import (
    ENTRY_POINT_GROUP,
    Connector,
    ScoreUpdate,
    WriteResult,
    WriteStatus,
    available_connectors,
    load_connector,
)

THIRD_PARTY = '''
from leadscore.agent.core.contract import CheckReport, SetupReport, WriteResult, WriteStatus

class FakeCrmConnector:
    """A third-party connector shipped as its own package."""
    name = "fakecrm"
    config_model = None
    object_types = ("lead",)

    def __init__(self, config):
        self.config = dict(config)
        self.calls = {"write": 0}

    @property
    def write_values(self):
        return frozenset({"score", "stage"})

    def check(self):
        return CheckReport(ok=True)

    def setup(self, spec):
        return SetupReport(created=sorted(spec.values))

    def pull(self, cursor, *, until=None):
        return iter(())

    def count(self, cursor, *, until=None):
        return None

    def identity(self):
        return None

    def pull_outcomes(self, cursor, *, until=None):
        return iter(())

    def write(self, updates):
        self.calls["write"] += 1
        return [WriteResult(u.record_id, WriteStatus.OK) for u in updates]

    def api_calls(self):
        return dict(self.calls)

    def close(self):
        pass
'''


@pytest.fixture
def third_party_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install a tiny distribution on sys.path that registers a connector, as pip would."""
    (tmp_path / "fake_crm.py").write_text(textwrap.dedent(THIRD_PARTY))
    (tmp_path / "broken_crm.py").write_text("raise ImportError('missing SDK')\n")
    info = tmp_path / "fake_crm-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-crm\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nfakecrm = fake_crm:FakeCrmConnector\nbrokencrm = broken_crm:Connector\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in ("fake_crm", "broken_crm"):
        sys.modules.pop(module, None)


def test_third_party_connector_is_discovered_and_satisfies_the_protocol(third_party_package: Path) -> None:
    assert "fakecrm" in available_connectors()
    factory = load_connector("fakecrm")
    connector = factory({"token_env": "FAKE_TOKEN"})
    assert isinstance(connector, Connector)
    results = connector.write([ScoreUpdate("1", "lead", {"score": 10, "stage": "MQL"})])
    assert results == [WriteResult("1", WriteStatus.OK)] and results[0].ok


def test_unknown_connector_names_the_installed_ones(third_party_package: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_connector("pipedrive")
    assert caught.value.problems[0].startswith("connectors.pipedrive: no connector named 'pipedrive' (installed: ")
    assert "fakecrm" in caught.value.problems[0]


def test_broken_connector_package_is_a_config_error_not_a_crash(third_party_package: Path) -> None:
    with pytest.raises(ConfigError, match="connectors.brokencrm: cannot load broken_crm:Connector: ImportError: missing SDK"):
        load_connector("brokencrm")


def test_an_object_missing_protocol_methods_is_not_a_connector() -> None:
    class Incomplete:
        name = "x"
        object_types = ("lead",)

        def check(self): ...

    assert not isinstance(Incomplete(), Connector)


def test_score_update_refuses_values_that_are_not_writable() -> None:
    with pytest.raises(ValueError, match="not writable values: email"):
        ScoreUpdate("1", "lead", {"score": 1, "email": "x@y.z"})
