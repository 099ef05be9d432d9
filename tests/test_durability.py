"""Durability: ``kill -9`` at random points of a backfill, restart, and the CRM ends up exactly as
after an uninterrupted run, nothing lost, with at most one batch rewritten per kill; and an
incremental sync loses no change made before it started.

The agent runs as the real CLI in a subprocess (``leadscore backfill``); the HubSpot emulator runs
in this process, so its counters (property writes) say what reached the CRM. The harness at the
top of this module (:class:`CliAgent`, :func:`wait_for`...) is shared with ``test_locks`` and
``test_agent_errors``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import pytest

from agent.config import parse_config
from agent.scoring import ScoringEngine
from agent.state import StateStore
from agent.sync.pipeline import SyncPipeline
from connectors.base import WriteSpec
from connectors.emulation import EmulatorHandler
from connectors.hubspot import HubSpotConnector
from connectors.hubspot.emulator import HubSpotEmulator, RateLimits

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
TIMELESS_MODEL = """
[scoring]
name = "timeless"
description = "Fit rules only, for comparing syncs made at different instants."

[[scoring.rules]]
kind = "fit"
id = "industry-tech"
label = "Industry: {value}"
field = "industry"
in = ["Technology", "Software", "Information Technology"]
points = 20

[[scoring.rules]]
kind = "fit"
id = "title-senior"
label = "Title: {value}"
field = "title"
regex = '\\b(CEO|CTO|VP|Founder|Head of|Director|Manager)\\b'
points = 15

[[scoring.rules]]
kind = "fit"
id = "region-north-america"
label = "North America"
field = "country"
in = ["United States", "Canada", "Mexico"]
points = 10

[[scoring.stages]]
name = "Cold"

[[scoring.stages]]
name = "Warm"
min_score = 20

[[scoring.stages]]
name = "MQL"
min_score = 35
"""

T = TypeVar("T")


# --- shared harness --------------------------------------------------------------------------


@pytest.fixture
def fast_emulator_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answer without Nagle's delay. The emulator's handler sends headers and body in two writes,
    so with Nagle on every response waits ~40 ms for the client's delayed ACK: a third of a large
    backfill's time, spent idle. Affects only the emulators of this test process."""
    monkeypatch.setattr(EmulatorHandler, "disable_nagle_algorithm", True, raising=False)


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
    return f"[{name}]\n" + "".join(f"{key} = {toml_value(v)}\n" for key, v in values.items() if v is not None)


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


def records_scored(emulator: HubSpotEmulator) -> int:
    """Contacts holding a leadscore score: how far a first backfill has come (one snapshot of
    every contact: too slow to poll, fine once per restart)."""
    return sum(1 for props in emulator.contacts().values() if props.get("leadscore_score") is not None)


def kill_repeatedly(agent: CliAgent, emulator: HubSpotEmulator, *, kills: int, total: int, batch: int,
                    rng: random.Random) -> KilledRun:
    """Run ``backfill`` and SIGKILL it ``kills`` times at random points spread over the run,
    restarting it after each kill once the dead agent's lease has expired.

    Each kill is aimed at a random position between 5% and 60% of the records (one in each of
    ``kills`` equal spans, so they spread over the run) and lands once the CRM received that many
    record writes, plus a random fraction of a second so it may hit pulling, scoring, writing or
    committing. Aiming below 60% keeps every kill before the backfill's end, whatever a restart
    redoes first; the cheap cumulative write count is polled, converted from the positions with
    one snapshot of the CRM per restart."""
    result = KilledRun()
    span = 0.55 * total / kills
    planned = [int(0.05 * total + k * span + rng.uniform(0, span)) for k in range(kills)]
    store = None
    try:
        for position in planned:
            written, done = records_written(emulator), records_scored(emulator)
            target = written + max(position - done, rng.randint(batch // 4, batch))
            proc = agent.start("backfill", "--as-of", SCORE_AS_OF)
            try:
                wait_for(
                    lambda: proc.poll() is not None or records_written(emulator) >= target,
                    timeout=180, what=f"{target} records written",
                )
                if proc.poll() is None:
                    time.sleep(rng.uniform(0, 0.15))  # not a wait: it spreads kills over pull, score, write, commit
                    os.kill(proc.pid, signal.SIGKILL)
            finally:
                code = proc.stop(signal.SIGKILL)
            assert code == -signal.SIGKILL, (
                f"kill {result.kills + 1} at {target} records written: expected a SIGKILL death, "
                f"the backfill exited {code}:\n{proc.stderr[-3000:]}"
            )
            result.kills += 1
            result.progress_at_kill.append(records_scored(emulator))
            # A restart finds the dead agent's lease until it expires (the CLI would skip the
            # backfill): wait for that, as a restarted service would on its next tick.
            store = store or agent.store()
            wait_for(lambda: store.lock_holder("hubspot", "pipeline") is None, timeout=30, what="the lease to expire",
                     interval=0.1)
            windows = store.backfills("hubspot")
            assert len(windows) == 1, (
                f"expected the one unfinished backfill window to resume, found {len(windows)} "
                "(0: the kill landed after the end; 2: a restart began a new window)"
            )
    finally:
        if store is not None:
            store.close()
    return result


def assert_backfill_durable(tmp_path: Path, *, total: int, kills: int, batch: int, seed: int) -> None:
    clean_crm, killed_crm = start_emulator(total), start_emulator()
    try:
        # A short lease: each restart waits for the dead agent's lease to expire (renewed every
        # second while it ran, so 2-3 s), as a real restart would.
        settings: dict[str, Any] = {"agent": {"lease": "3s"}, "connector": {"pull_batch_size": batch}}
        clean = CliAgent.for_emulator(tmp_path / "clean", clean_crm, **settings)
        killed = CliAgent.for_emulator(tmp_path / "killed", killed_crm, **settings)
        clean.setup()
        clean_run = clean.start("backfill", "--as-of", SCORE_AS_OF)  # meanwhile, the other CRM is seeded
        killed_crm.seed(total, seed=11, as_of=SEEDED_AS_OF)
        killed.setup()
        assert clean_run.wait(timeout=300) == 0, clean_run.stderr[-3000:]
        assert set(clean_crm.contacts()) == set(killed_crm.contacts())  # seeded alike: same ids

        run = kill_repeatedly(killed, killed_crm, kills=kills, total=total, batch=batch, rng=random.Random(seed))
        finished = killed.run("backfill", "--as-of", SCORE_AS_OF, timeout=300, check=True)
        assert "interrupted" not in finished.stdout and "skipped" not in finished.stdout, finished.stdout

        # The CRM: exactly the clean run's values on every contact, none missing.
        expected = written_values(clean_crm)
        assert len(expected) == total
        assert all(score is not None and stage for score, stage, _ in expected.values())
        got = written_values(killed_crm)
        differing = sorted(cid for cid in expected if got.get(cid) != expected[cid])
        assert not differing, f"{len(differing)} contacts differ from the clean run, e.g. {differing[:5]}"

        # Writes: the clean run wrote each record once; each kill redid at most its batch in flight.
        assert records_written(clean_crm) == total
        extra = records_written(killed_crm) - total
        assert 0 <= extra <= kills * batch, (
            f"{extra} records rewritten for {kills} kills of {batch}-record batches (killed at {run.progress_at_kill})"
        )
        assert run.kills == kills

        # The state: one backfill window (every restart resumed it), finished; the runs before
        # each kill marked interrupted by the restart after it; nothing failed or left over.
        with killed.store() as store:
            windows = store.backfills("hubspot", active_only=False)
            assert [(w.object_type, w.finished_at is not None) for w in windows] == [("contact", True)]
            runs = store.runs("hubspot", kind="backfill", limit=100)
            assert [r.status for r in reversed(runs)] == ["interrupted"] * kills + ["ok"]
            assert 0 < runs[0].counts["pulled"] < total  # the last run resumed; it did not start over
            status = store.status("hubspot")
            assert status.mirrored_leads == {"contact": total}
            assert status.written == {"contact": total}
            assert not status.failures and not status.backfills and not status.locks
            assert store.cursor("hubspot", "contact") is not None  # handed to the live sync
        shown = killed.run("status", check=True).stdout
        assert "unfinished backfill" not in shown
        assert "failed writes: none" in shown
    finally:
        clean_crm.stop()
        killed_crm.stop()


@pytest.mark.network
@pytest.mark.slow
def test_kill_9_five_times_during_a_20000_lead_backfill(tmp_path: Path, fast_emulator_sockets: None) -> None:
    """The issue's done-when: kill -9 at random points during a 20,000-lead backfill, restart,
    five times; the CRM equals an uninterrupted run's, at most one batch (1,000) rewritten per kill."""
    assert_backfill_durable(tmp_path, total=20_000, kills=5, batch=1000, seed=20_000)


@pytest.mark.network
def test_kill_9_twice_during_a_2000_lead_backfill(tmp_path: Path, fast_emulator_sockets: None) -> None:
    assert_backfill_durable(tmp_path, total=2000, kills=2, batch=200, seed=2000)


# --- nothing lost by an incremental sync -------------------------------------------------------


@pytest.mark.network
def test_an_incremental_sync_spanning_several_batches_writes_every_change(
    tmp_path: Path, fast_emulator_sockets: None
) -> None:
    emulator = start_emulator(600)
    try:
        connector = HubSpotConnector({
            "access_token": emulator.token, "host": emulator.base_url, "per_ten_seconds": 100_000,
            "search_per_second": 10_000, "pull_batch_size": 200,
        })
        connector.setup(WriteSpec(connector.write_values, ["Cold", "Warm", "MQL"]))
        scorer = ScoringEngine(parse_config(TIMELESS_MODEL).scoring)
        with StateStore.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
            pipeline = SyncPipeline("hubspot", connector, store, scorer)
            pipeline.sync()  # the first sync lists every contact
            edited = sorted(emulator.contacts(), key=int)
            for n, contact_id in enumerate(edited):  # then every contact changes, in id order
                emulator.update_contact(contact_id, {"jobtitle": ("CEO", "Student")[n % 2], "industry": "Software"})
            # The emulator stamps each write at least 1 ms after the last, so a burst of writes runs
            # ahead of the clock; the sync's window ends at its start: let the clock catch up.
            newest = max(emulator.contact(cid)["lastmodifieddate"] or "" for cid in edited)
            wait_for(lambda: iso_now() > newest, timeout=30, what="the clock to pass the last edit")
            pipeline.sync()  # an incremental sync: three batches of 200 from one search window
        stale = [cid for cid in edited if "Industry: Software" not in (emulator.contact(cid)["leadscore_reason"] or "")]
        assert not stale, f"{len(stale)} of {len(edited)} changed contacts were skipped, e.g. {stale[:5]}"
        connector.close()
    finally:
        emulator.stop()
