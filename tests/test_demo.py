"""``make demo``: the embedded default a newcomer runs first, with no CRM account."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

LEADSCORE = Path(sys.executable).parent / "leadscore"
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.network
def test_demo_backfills_both_emulated_crms_and_the_second_sync_writes_nothing(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    done = subprocess.run(
        [str(LEADSCORE), "demo", "--leads", "400", "--out-dir", str(out_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = done.stdout
    assert "Traceback" not in text + done.stderr
    for expected in ("1. setup", "2. backfill", "Stage distribution", "Top ten leads", "API calls used", "3. sync", "Try next"):
        assert expected in text, expected
    assert "hubspot backfill: ok; pulled 400, scored 400, written 400" in text
    assert "salesforce backfill: ok;" in text and "written 0" not in text.split("2. backfill")[1].split("Stage")[0]
    assert "second sync wrote 0 records" in text
    # What it leaves behind works with the other commands (the emulators are gone; the state stays).
    status = subprocess.run(
        [str(LEADSCORE), "status", "--config", str(out_dir / "leadscore.toml")], capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 0, status.stderr
    assert "mirrored: 400 contacts" in status.stdout
