"""Shared fixtures: the shipped example model and the instant the worked example is scored at."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent.config import load_config
from agent.scoring import ScoringEngine
from tests.postgres import postgres_admin, postgres_server, postgres_url  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "config.example.toml"
AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def example_engine() -> ScoringEngine:
    return ScoringEngine(load_config(EXAMPLE_CONFIG).scoring)
