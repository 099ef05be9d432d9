"""The agent as an admin runs it, for the tests of durability, locks and errors: the real CLI in a
subprocess (:class:`CliAgent`, :class:`Running`) against a HubSpot emulator in the test process, so
the emulator's counters say what reached the CRM; and small helpers (:func:`wait_for`...)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

from leadscore.agent.state import StateStore
from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits
from tests.conftest import stage_ladder, toml_table, toml_tables, toml_value  # noqa: F401 - toml_value: for importers

ROOT = Path(__file__).resolve().parent.parent
LEADSCORE = Path(sys.executable).with_name("leadscore")
EXAMPLE_MODEL = (ROOT / "config.example.toml").read_text(encoding="utf-8")
#: The instant the emulator's sample data is generated as of, and the one backfills score as of.
SEEDED_AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
SCORE_AS_OF = "2026-11-02T00:00:00Z"
FAST = RateLimits(per_ten_seconds=100_000, daily=10_000_000, search_per_second=10_000)
WRITTEN = ("leadscore_score", "leadscore_stage", "leadscore_reason")

#: A model with fit rules only: its scores and reasons do not depend on the time they are computed
#: at, so a ``leadscore sync`` (which scores as of now; it has no ``--as-of``) can be compared with
#: a clean run made seconds or a day boundary apart. The example model's reasons carry activity
#: ages ("(3d ago)") and its decay moves scores as the clock does.
TIMELESS_MODEL = (
    '[scoring]\nname = "timeless"\ndescription = "Fit rules only, for comparing syncs made at different instants."\n'
    + toml_tables(
        "scoring.rules",
        {"kind": "fit", "id": "industry-tech", "label": "Industry: {value}", "field": "industry",
         "in": ["Technology", "Software", "Information Technology"], "points": 20},
        {"kind": "fit", "id": "title-senior", "label": "Title: {value}", "field": "title",
         "regex": r"\b(CEO|CTO|VP|Founder|Head of|Director|Manager)\b", "points": 15},
        {"kind": "fit", "id": "region-north-america", "label": "North America", "field": "country",
         "in": ["United States", "Canada", "Mexico"], "points": 10},
    )
    + stage_ladder("Cold", ("Warm", 20), ("MQL", 35))
)

T = TypeVar("T")


# --- shared harness --------------------------------------------------------------------------


def start_emulator(count: int = 0, *, seed: int = 11) -> HubSpotEmulator:
    emulator = HubSpotEmulator(limits=FAST).start()
    if count:
        emulator.seed(count, seed=seed, as_of=SEEDED_AS_OF)
    return emulator


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll ``condition`` until it returns something truthy (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def iso_now() -> str:
    """Now as HubSpot writes instants (``2026-11-23T14:10:40.099Z``), comparable as text."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def written_values(emulator: HubSpotEmulator) -> dict[str, tuple[str | None, ...]]:
    """Every live contact's leadscore values, by id."""
    return {cid: tuple(props.get(p) for p in WRITTEN) for cid, props in emulator.contacts().items()}


def records_written(emulator: HubSpotEmulator) -> int:
    """Contact records written through the API: each write of a record the agent never wrote
    carries all three values, so the busiest value counts the records."""
    writes = emulator.property_writes()
    return max(writes.get(p, 0) for p in WRITTEN)


def json_events(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines among a process's stderr."""
    events = []
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def human_lines(stderr: str) -> list[str]:
    """stderr without its JSON log lines: what a person reads."""
    return [line for line in stderr.splitlines() if line.strip() and not line.lstrip().startswith("{")]


@dataclass
class CliAgent:
    """One agent: a working directory with its config and SQLite state, run as ``leadscore``."""

    root: Path
    host: str
    token: str | None = None
    model: str = EXAMPLE_MODEL
    agent: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)
    connector: dict[str, Any] = field(default_factory=dict)
    _started: int = field(default=0, init=False, repr=False)

    @classmethod
    def for_emulator(cls, root: Path, emulator: HubSpotEmulator, **kwargs: Any) -> CliAgent:
        root.mkdir(parents=True, exist_ok=True)
        return cls(root, emulator.base_url, emulator.token, **kwargs)

    @property
    def db(self) -> Path:
        return self.root / "state.db"

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.db}"

    @property
    def config(self) -> Path:
        """The config file, written afresh from the current settings."""
        agent = {"state_url": self.state_url, "metrics_port": 0, "lease": "6s", "log_format": "json", **self.agent}
        schedule = {"sync_every": "2s", "rescore": False, **self.schedule}
        connector = {
            "host": self.host,
            "access_token": "${HS_TOKEN}",
            "per_ten_seconds": 100_000,
            "search_per_second": 10_000,
            **self.connector,
        }
        text = "\n".join(
            [
                self.model,
                toml_table("agent", agent),
                toml_table("schedule", schedule),
                toml_table("connectors.hubspot", connector),
            ]
        )
        path = self.root / "leadscore.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def env(self, **overrides: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "LEADSCORE_DEBUG"}
        env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
        if self.token is not None:
            env["HS_TOKEN"] = self.token
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def argv(self, *args: str) -> list[str]:
        return [str(LEADSCORE), *args, "--config", str(self.config)]

    def run(self, *args: str, timeout: float = 120, env: Mapping[str, str | None] | None = None,
            check: bool = False, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
        """Run ``leadscore ARGS`` to its end (``prefix``: a command that execs it)."""
        done = subprocess.run(
            [*prefix, *self.argv(*args)], env=self.env(**(env or {})), capture_output=True, text=True,
            timeout=timeout, cwd=self.root,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"leadscore {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def start(self, *args: str, env: Mapping[str, str | None] | None = None) -> Running:
        """Start ``leadscore ARGS`` in the background; its output goes to files (a pipe nobody
        reads would block a chatty service)."""
        self._started += 1
        base = self.root / f"{self._started:02d}-{args[0]}"
        with open(f"{base}.out", "w") as out, open(f"{base}.err", "w") as err:
            proc = subprocess.Popen(
                self.argv(*args), env=self.env(**(env or {})), stdout=out, stderr=err, text=True, cwd=self.root
            )
        return Running(proc, Path(f"{base}.out"), Path(f"{base}.err"))

    def store(self) -> StateStore:
        return StateStore.open(self.state_url)

    def setup(self) -> None:
        self.run("setup", check=True)


@dataclass
class Running:
    """A ``leadscore`` process started in the background."""

    proc: subprocess.Popen[str]
    out_path: Path
    err_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the process (unless it already ended) and wait for its exit code; SIGKILL and
        fail if it outlives ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"pid {self.pid} still running after {timeout}s:\n{self.stderr[-3000:]}") from None


# --- the kill -9 test ------------------------------------------------------------------------


@dataclass
class KilledRun:
    kills: int = 0
    #: Records the CRM held leadscore values for at each kill: how far each run had come.
    progress_at_kill: list[int] = field(default_factory=list)


