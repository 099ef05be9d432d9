"""``leadscore history RECORD_ID``: a record's score history as an admin reads it (issue 15, item
4), on the HubSpot emulator through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_agent import TIMELESS_MODEL, CliAgent, start_emulator

pytestmark = pytest.mark.network


def test_history_shows_a_record_whose_stage_moved_twice(tmp_path: Path) -> None:
    emulator = start_emulator()
    try:
        contact = emulator.create_contact({"email": "ada@example.org", "firstname": "Ada", "country": "Germany"})
        agent = CliAgent.for_emulator(tmp_path, emulator, model=TIMELESS_MODEL)
        agent.setup()
        agent.run("sync", check=True)  # Cold, 0
        emulator.update_contact(contact, {"industry": "Technology"})
        agent.run("sync", check=True)  # Warm, 20
        emulator.update_contact(contact, {"jobtitle": "CTO"})
        agent.run("sync", check=True)  # MQL, 35

        shown = agent.run("history", contact, check=True)
        assert f"hubspot contact {contact}: 3 changes" in shown.stdout
        assert "Cold -> Warm" in shown.stdout and "Warm -> MQL" in shown.stdout and "score +15" in shown.stdout

        lines = [json.loads(line) for line in agent.run("history", contact, "--json", check=True).stdout.splitlines()]
        assert [(e["score"], e["stage"]) for e in lines] == [(0, "Cold"), (20, "Warm"), (35, "MQL")]
        assert lines[0]["changed"] == {"first": True}
        assert lines[2]["changed"]["stage"] == ["Warm", "MQL"] and lines[2]["changed"]["score"] == 15
        assert any(part.startswith("+15 Title") for part in lines[2]["changed"]["reason_added"])
        assert all(e["model_version"] == lines[0]["model_version"] for e in lines)

        last = [json.loads(line) for line in agent.run("history", contact, "--json", "--limit", "1", check=True).stdout.splitlines()]
        assert [e["stage"] for e in last] == ["MQL"] and last[0]["changed"]["stage"] == ["Warm", "MQL"]
        missing = agent.run("history", "no-such-id")
        assert missing.returncode == 2 and "no score history for 'no-such-id'" in missing.stderr
    finally:
        emulator.stop()
