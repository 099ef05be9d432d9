"""Owned fields only (HubSpot): leadscore writes a contact property only when its setup created it
or the admin adopted it (``connectors.hubspot.adopt``), and never changes the definition of one it
did not create. Offline, ``validate`` refuses HubSpot's built-in properties by name; online, setup
and the connector's first write refuse any existing property that is neither leadscore's (its
mark, kept in HubSpot itself) nor adopted. Through the CLI and the emulator, as an admin meets it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.contract import ScoreUpdate, WriteSpec
from leadscore.connectors.hubspot import HubSpotConnector
from leadscore.connectors.hubspot.builtins import is_builtin
from leadscore.connectors.hubspot.emulator.schema import default_properties
from leadscore.connectors.hubspot.setup import OWNED_MARK
from tests.cli_agent import CliAgent, human_lines, start_emulator

pytestmark = pytest.mark.network

STAGES = ["Cold", "Warm", "MQL", "SQL"]


def _agent(tmp_path: Path, emulator, **connector) -> CliAgent:  # noqa: ANN001 - a HubSpotEmulator
    return CliAgent.for_emulator(tmp_path / "agent", emulator, connector=connector)


def _said(done) -> str:  # noqa: ANN001 - a CompletedProcess
    return "\n".join(human_lines(done.stderr) + done.stdout.splitlines())


def _requests(emulator, method: str, path_part: str) -> list:  # noqa: ANN001
    return [r for r in emulator.requests() if r.method == method and path_part in r.path]


# --- offline: built-ins are known by name ------------------------------------------------------


def test_every_contact_property_of_the_emulator_schema_is_a_builtin() -> None:
    names = [d["name"] for d in default_properties("contacts")]
    assert [n for n in names if not is_builtin(n)] == []
    assert is_builtin("hs_whatever_hubspot_adds_next") and is_builtin("JobTitle ")
    assert not is_builtin("leadscore_score") and not is_builtin("lead_rating")


@pytest.mark.parametrize(
    ("write", "key", "name"),
    [
        ({"reason": "jobtitle"}, "connectors.hubspot.write.reason", "jobtitle"),
        ({"stage": "lifecyclestage"}, "connectors.hubspot.write.stage", "lifecyclestage"),
        ({"score": "hs_lead_status"}, "connectors.hubspot.write.score", "hs_lead_status"),
        ({"grade": "hubspotscore"}, "connectors.hubspot.write.grade", "hubspotscore"),
    ],
)
def test_validate_refuses_a_builtin_write_target_naming_the_key(tmp_path: Path, write, key, name) -> None:
    agent = CliAgent(tmp_path, "http://127.0.0.1:9", "pat-unused", connector={"write": write})
    done = agent.run("validate")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in _said(done).splitlines() if line.startswith(key)]
    assert lines and f"'{name}' is a HubSpot built-in contact property" in lines[0]
    assert "Traceback" not in done.stderr
    if name == "lifecyclestage":
        assert "connectors.hubspot.lifecycle" in lines[0]  # the explicit, forward-only option


def test_validate_refuses_adopting_a_builtin_and_accepts_a_custom_one(tmp_path: Path) -> None:
    bad = CliAgent(tmp_path / "bad", "http://127.0.0.1:9", "pat-unused", connector={"adopt": ["lead_rating", "jobtitle"]})
    (tmp_path / "bad").mkdir()
    done = bad.run("validate")
    assert done.returncode == 2
    assert any(line.startswith("connectors.hubspot.adopt[1]: 'jobtitle' is a HubSpot built-in") for line in _said(done).splitlines())
    good = CliAgent(tmp_path / "good", "http://127.0.0.1:9", "pat-unused",
                    connector={"adopt": ["lead_rating"], "write": {"score": "lead_rating"}})
    (tmp_path / "good").mkdir()
    assert good.run("validate").returncode == 0


# --- online: setup and the first write ---------------------------------------------------------


def test_setup_refuses_an_existing_custom_property_until_it_is_adopted(tmp_path: Path) -> None:
    with start_emulator(30) as emulator:
        # An admin's own property, of the right type, that leadscore did not create.
        emulator.add_property("lead_rating", "Lead rating", type_="number", field_type="number",
                              description="Rated by the sales team")
        agent = _agent(tmp_path, emulator, write={"score": "lead_rating"})
        assert agent.run("validate").returncode == 0  # offline it is just a name
        done = agent.run("setup")
        assert done.returncode == 2, _said(done)
        said = _said(done)
        assert "connectors.hubspot.write.score: contact property 'lead_rating' exists and leadscore did not create it" in said
        assert "connectors.hubspot.adopt" in said
        # Refused before anything was created or changed.
        assert not _requests(emulator, "POST", "/crm/v3/properties") and not _requests(emulator, "PATCH", "/crm/v3/properties")
        assert agent.run("backfill", "--as-of", "2026-11-02T00:00:00Z").returncode == 2
        assert emulator.property_writes()["lead_rating"] == 0

        agent.connector["adopt"] = ["lead_rating"]
        done = agent.run("setup")
        assert done.returncode == 0, _said(done)
        assert not _requests(emulator, "PATCH", "/lead_rating")
        done = agent.run("backfill", "--as-of", "2026-11-02T00:00:00Z")
        assert done.returncode == 0, _said(done)
        assert emulator.property_writes()["lead_rating"] == 30
        assert _definition(emulator, "lead_rating")["description"] == "Rated by the sales team"  # as the admin left it


def test_setup_marks_what_it_creates_and_ownership_survives_a_lost_state_store(tmp_path: Path) -> None:
    with start_emulator(20) as emulator:
        agent = _agent(tmp_path, emulator)
        assert agent.run("setup").returncode == 0
        for name in ("leadscore_score", "leadscore_stage", "leadscore_reason"):
            definition = _definition(emulator, name)
            assert OWNED_MARK in definition["description"] and definition["groupName"] == "leadscore"
        assert agent.run("backfill", "--as-of", "2026-11-02T00:00:00Z").returncode == 0
        agent.db.unlink()  # the state store is lost; HubSpot still says whose the properties are
        done = agent.run("backfill", "--as-of", "2026-11-02T00:00:00Z")
        assert done.returncode == 0, _said(done)
        created = len(_requests(emulator, "POST", "/crm/v3/properties"))
        done = agent.run("setup")
        assert done.returncode == 0, _said(done)
        assert len(_requests(emulator, "POST", "/crm/v3/properties")) == created  # nothing made twice


def test_a_property_hubspot_defines_is_refused_online_even_when_unknown_offline(tmp_path: Path) -> None:
    with start_emulator(5) as emulator:
        # A HubSpot-defined property added after builtins.py was written: HubSpot says whose it is.
        emulator.add_property("partner_fit", type_="number", field_type="number", hubspot_defined=True)
        agent = _agent(tmp_path, emulator, write={"score": "partner_fit"}, adopt=["partner_fit"])
        assert agent.run("validate").returncode == 0
        done = agent.run("setup")
        assert done.returncode == 2
        assert "connectors.hubspot.write.score: 'partner_fit' is a HubSpot built-in contact property" in _said(done)


def test_setup_changes_only_definitions_it_created(tmp_path: Path) -> None:
    """Missing stage options are added to leadscore's own stage property (PATCH), but only
    reported for an adopted one."""
    with start_emulator(5) as emulator:
        emulator.add_property("sales_tier", "Sales tier", type_="enumeration", field_type="select", options=["Cold", "Warm"])
        connector = _connector(emulator, write={"stage": "sales_tier"}, adopt=["sales_tier"])
        report = connector.setup(WriteSpec(frozenset({"score", "stage", "reason"}), STAGES))
        assert any("adopted property 'sales_tier' has no option for MQL, SQL" in line for line in report.todo)
        assert not _requests(emulator, "PATCH", "/crm/v3/properties")
        assert [o["value"] for o in _definition(emulator, "sales_tier")["options"]] == ["Cold", "Warm"]

        own = _connector(emulator)
        own.setup(WriteSpec(frozenset({"score", "stage", "reason"}), ["Cold", "Warm"]))
        report = own.setup(WriteSpec(frozenset({"score", "stage", "reason"}), STAGES))
        assert "leadscore_stage options: MQL, SQL" in report.created
        assert [r.path for r in _requests(emulator, "PATCH", "/crm/v3/properties")] == ["/crm/v3/properties/contacts/leadscore_stage"]
        assert [o["value"] for o in _definition(emulator, "leadscore_stage")["options"]] == STAGES


def test_the_first_write_of_a_connector_checks_ownership_once(tmp_path: Path) -> None:
    with start_emulator(12) as emulator:
        ids = sorted(emulator.contacts())
        updates = [ScoreUpdate(i, "contact", {"score": 7, "stage": "Warm", "reason": "+7 Title"}) for i in ids]
        # Someone else's property under leadscore's default name, outside its group and unmarked.
        emulator.add_property("leadscore_score", type_="number", field_type="number")
        foreign = _connector(emulator)
        with pytest.raises(ConfigError) as refused:
            foreign.write(updates)
        assert any(p.startswith("connectors.hubspot.write.score: contact property 'leadscore_score' exists") for p in refused.value.problems)
        assert not _requests(emulator, "POST", "/batch/update")

        adopted = _connector(emulator, adopt=["leadscore_score"])
        adopted.setup(WriteSpec(frozenset({"score", "stage", "reason"}), STAGES))
        adopted.client.calls.clear()
        assert all(r.ok for r in adopted.write(updates))
        assert dict(adopted.api_calls()) == {"contacts.batch.update": 1}  # verified by setup already

        fresh = _connector(emulator, adopt=["leadscore_score"])  # a new instance, no setup: one listing
        assert all(r.ok for r in fresh.write(updates)) and all(r.ok for r in fresh.write(updates))
        assert dict(fresh.api_calls()) == {"properties.list": 1, "contacts.batch.update": 2}
        assert fresh.write([]) == []
        assert fresh.check().ok
        assert not _connector(emulator).check().ok


def test_properties_setup_made_before_the_mark_are_still_leadscores() -> None:
    """Setup once created its properties in the leadscore group with a fixed description and no
    mark: those stay leadscore's. Another property put in that group is not."""
    with start_emulator(3) as emulator:
        emulator.add_property("leadscore_score", "leadscore score", type_="number", field_type="number", group="leadscore",
                              description="Lead score from leadscore (fit + engagement).")
        emulator.add_property("leadscore_reason", "Reason", type_="string", field_type="textarea", group="leadscore",
                              description="Our team's notes")
        connector = _connector(emulator)
        with pytest.raises(ConfigError) as refused:
            connector.setup(WriteSpec(frozenset({"score", "stage", "reason"}), STAGES))
        assert [p.split(":")[0] for p in refused.value.problems] == ["connectors.hubspot.write.reason"]
        report = _connector(emulator, write={"reason": "leadscore_why"}).setup(WriteSpec(frozenset({"score", "stage", "reason"}), STAGES))
        assert "leadscore_score" in report.existing and "leadscore_why" in report.created


def _connector(emulator, **config) -> HubSpotConnector:  # noqa: ANN001
    return HubSpotConnector({"access_token": emulator.token, "host": emulator.base_url, "per_ten_seconds": 100_000,
                             "search_per_second": 10_000, **config}, sleep=lambda _: None)


def _definition(emulator, name: str) -> dict:  # noqa: ANN001
    import json
    import urllib.request

    request = urllib.request.Request(f"{emulator.base_url}/crm/v3/properties/contacts/{name}",
                                     headers={"Authorization": f"Bearer {emulator.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
