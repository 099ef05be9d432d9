"""The conformance suite every connector passes before it is called done.

One line gives a connector the whole suite, as singer-sdk's ``get_tap_test_class`` does::

    TestConformance = ConformanceSuite.for_harness(PipedriveHarness)

and one runs it for every installed connector (``tests/test_conformance.py``)::

    TestConformance = ConformanceSuite.for_installed()

Each connector ships its harness beside its emulator and registers it under the connector's name
in the ``leadscore.conformance`` entry-point group, as the connector itself is registered in
``leadscore.connectors``::

    [project.entry-points."leadscore.conformance"]
    pipedrive = "leadscore_pipedrive.harness:PipedriveHarness"

Every check then runs once per harness (``test_pull_everything[pipedrive]``), carrying the pytest
markers the harness names (``marks = ("network",)`` for one serving HTTP). A check that cannot
apply to a connector is opted out by its harness, with the reason, which pytest reports as the
skip's reason::

    skip: ClassVar[Mapping[str, str]] = {"test_fault_storm_loses_nothing": "no network: files are local"}

A harness pairs the connector with its CRM emulator: it seeds records, edits them as a user
would, injects faults, and reads back what the CRM holds. The suite then checks what every
connector promises: pull everything, pull incrementally after edits, write and read back,
per-record partial failures, unchanged values never rewritten (the second sync writes nothing),
429/5xx storms and dropped connections survived with nothing lost and nothing written outside the
configured fields, a revoked token reported clearly, outcomes pulled incrementally from their own
cursor, and the agent's real pipeline (state store, diff, rescore) running on the connector with a
quiet rescore making no API call.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Callable, ClassVar, Iterator, Mapping, Protocol

import pytest

from leadscore.agent.core.errors import AuthError
from leadscore.agent.core.records import Lead, Outcome, OutcomeKind, group_by_lead
from leadscore.agent.scoring import ScoringEngine, ScoringModel
from leadscore.agent.core.contract import OUTCOMES, Connector, Cursor, PullNeeds, ScoreUpdate, WriteSpec, WriteStatus
from leadscore.agent.state import StateStore
from leadscore.agent.sync import SyncPipeline

#: The entry-point group harnesses register in: connector name -> harness class.
CONFORMANCE_GROUP = "leadscore.conformance"

#: A small model on fields every CRM has, so the suite exercises real scoring end to end.
SUITE_MODEL = ScoringModel.model_validate(
    {
        "name": "conformance",
        "rules": [
            {"kind": "fit", "label": "Industry: {value}", "field": "industry", "in": ["Technology", "Software"], "points": 20},
            {"kind": "fit", "label": "Title: {value}", "field": "title", "regex": r"\b(CEO|CTO|VP|Founder|Head of)\b", "points": 15},
            {"kind": "fit", "label": "Manager", "field": "title", "regex": r"\b(Manager|Director)\b", "points": 10},
            {"kind": "fit", "label": "North America", "field": "country", "in": ["United States", "Canada"], "points": 10},
            {"kind": "fit", "label": "Free email domain", "field": "email", "ends_with": ["@gmail.com", "@yahoo.com"], "points": -10},
            {"kind": "engagement", "label": "Meeting", "activity": "meeting", "points": 15, "max_occurrences": 2},
            {"kind": "engagement", "label": "Call", "activity": "call", "points": 5, "max_occurrences": 3},
            {"kind": "engagement", "label": "Replied", "activity": "email_reply", "points": 10, "max_occurrences": 2},
        ],
        "stages": [{"name": "Cold"}, {"name": "Warm", "min_score": 20}, {"name": "MQL", "min_score": 40}, {"name": "SQL", "min_score": 60}],
    }
)
AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


class Harness(Protocol):
    """What the suite needs from a connector and its emulator."""

    #: The object type pulled and written (``"contact"``, ``"lead"``).
    object_type: ClassVar[str]
    #: Checks (test method names) that cannot apply to this connector -> why; each becomes a
    #: pytest skip with that reason. Optional (none); keep it short and honest.
    skip: ClassVar[Mapping[str, str]]
    #: Names of pytest markers its checks carry (``("network",)`` when it serves HTTP). Optional.
    marks: ClassVar[tuple[str, ...]]

    def connector(self) -> Connector:
        """A connector configured against the running emulator, writing the standard fields."""
        ...

    def seed(self, count: int) -> list[str]:
        """Create ``count`` generated records with activities; return their ids."""
        ...

    def edit(self, record_id: str, field: str, value: str) -> None:
        """Change a canonical field of a record as a CRM user would (bumping its modified time)."""
        ...

    def delete(self, record_id: str) -> None: ...

    def written(self, record_id: str) -> dict[str, str | None]:
        """The record's current values of the write fields, keyed by canonical value name."""
        ...

    def fields_written(self) -> set[str]:
        """Every CRM field any API call has written so far."""
        ...

    def allowed_fields(self) -> set[str]:
        """The CRM fields the connector's config names for writing."""
        ...

    def faults(self, *, error_rate: float = 0.0, drop_rate: float = 0.0) -> None: ...

    def faults_served(self) -> int:
        """How many error responses and dropped connections the emulator has served."""
        ...

    def revoke_token(self) -> None: ...

    def record_outcome(self, record_id: str) -> None:
        """Make the record won as a sales rep would (a deal or opportunity closed won for it; a
        Salesforce Lead converted with one), so an outcome of it appears in the next outcome pull.
        Needed by ``test_outcomes_pull_incrementally``; a CRM without outcomes opts out of it."""
        ...

    def close(self) -> None: ...


@dataclass
class MiniSync:
    """The agent's loop in miniature (pull, score, diff, write), enough to test a connector:
    the real agent adds the state store, checkpoints and retries of kept failures."""

    connector: Connector
    engine: ScoringEngine = field(default_factory=lambda: ScoringEngine(SUITE_MODEL))
    cursor: Cursor | None = None
    last_written: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, WriteStatus] = field(default_factory=dict)

    def needs(self) -> PullNeeds:
        return PullNeeds(self.engine.fields_used, self.engine.activity_types_used)

    def run(self, object_type: str) -> dict[str, int]:
        cursor = self.cursor or Cursor(object_type, None)  # type: ignore[arg-type]
        pulled, written = 0, 0
        for batch in self.connector.pull(cursor, needs=self.needs()):
            by_lead = group_by_lead(batch.activities)
            updates = []
            for lead in batch.leads:
                pulled += 1
                result = self.engine.score(lead, by_lead.get(lead.id, ()), AS_OF)
                values = {"score": result.score, "stage": result.stage, "reason": result.reason(255)}
                if self.last_written.get(lead.id) != values:
                    updates.append(ScoreUpdate(lead.id, lead.object_type, values))
            if updates:
                for update, outcome in zip(updates, self.connector.write(updates)):
                    if outcome.ok:
                        self.last_written[update.record_id] = dict(update.values)
                        self.failed.pop(update.record_id, None)
                        written += 1
                    else:
                        self.failed[update.record_id] = outcome.status
            cursor = batch.cursor
        self.cursor = cursor
        return {"pulled": pulled, "written": written}


def available_harnesses() -> dict[str, EntryPoint]:
    """Installed conformance harnesses by connector name, from the ``leadscore.conformance`` group."""
    return {ep.name: ep for ep in entry_points(group=CONFORMANCE_GROUP)}


class BrokenHarness:
    """Stands in for a harness whose entry point does not load: every check of that connector
    fails saying why, instead of the connector silently going untested."""

    object_type: ClassVar[str] = "lead"

    def __init__(self, entry_point: EntryPoint, error: BaseException) -> None:
        self.message = f"cannot load conformance harness {entry_point.value}: {type(error).__name__}: {error}"

    def __call__(self) -> Harness:
        raise RuntimeError(self.message)


def load_harnesses() -> dict[str, Callable[[], Harness]]:
    """Every installed harness class by connector name (a :class:`BrokenHarness` for one that
    does not import)."""
    found: dict[str, Callable[[], Harness]] = {}
    for name, entry_point in sorted(available_harnesses().items()):
        try:
            found[name] = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the others' results
            found[name] = BrokenHarness(entry_point, exc)
    return found


class ConformanceSuite:
    """Base class of the generated test classes; see :meth:`for_harnesses`. Each ``test_``
    method is a check, run once per harness."""

    harnesses: ClassVar[Mapping[str, Callable[[], Harness]]] = {}
    seed_count: ClassVar[int] = 250

    @classmethod
    def checks(cls) -> list[str]:
        """The names of the suite's checks: what a harness's ``skip`` may name."""
        return sorted(name for name in dir(cls) if name.startswith("test_") and callable(getattr(cls, name)))

    @classmethod
    def unknown_opt_outs(cls, factory: Callable[[], Harness]) -> dict[str, str]:
        """A harness's opt-outs that name no check, or give no reason: each -> the problem."""
        checks = set(cls.checks())
        problems = {name: "no such check" for name in getattr(factory, "skip", {}) if name not in checks}
        problems.update({name: "no reason given" for name, why in getattr(factory, "skip", {}).items()
                         if name in checks and not str(why).strip()})
        return problems

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Each check once per harness, id'd by connector name, with the harness's markers, and
        skipped with the harness's reason where it opts out."""
        if "harness_factory" not in metafunc.fixturenames:
            return
        check = metafunc.function.__name__
        params = []
        for name, factory in self.harnesses.items():
            marks = [getattr(pytest.mark, mark) for mark in getattr(factory, "marks", ())]
            reason = getattr(factory, "skip", {}).get(check)
            if reason is not None:
                marks.append(pytest.mark.skip(reason=f"{name}: {reason}"))
            params.append(pytest.param(factory, id=name, marks=marks))
        metafunc.parametrize("harness_factory", params)

    @pytest.fixture
    def harness(self, harness_factory: Callable[[], Harness]) -> Iterator[Harness]:
        harness = harness_factory()
        try:
            yield harness
        finally:
            harness.close()

    @classmethod
    def for_harnesses(cls, harnesses: Mapping[str, Callable[[], Harness]], *, seed_count: int = 250) -> type[ConformanceSuite]:
        """A test class running every check once per harness (connector name -> harness class)."""
        return type("ConformanceTests", (cls,), {"harnesses": dict(harnesses), "seed_count": seed_count})

    @classmethod
    def for_harness(cls, factory: Callable[[], Harness], *, seed_count: int = 250, name: str | None = None) -> type[ConformanceSuite]:
        """The suite for one connector's harness (named ``name``, by default its class name)."""
        return cls.for_harnesses({name or getattr(factory, "__name__", "harness"): factory}, seed_count=seed_count)

    @classmethod
    def for_installed(cls, *, seed_count: int = 250) -> type[ConformanceSuite]:
        """The suite for every harness registered in the ``leadscore.conformance`` group."""
        return cls.for_harnesses(load_harnesses(), seed_count=seed_count)

    # --- the checks -----------------------------------------------------------------------

    def test_setup_is_idempotent_and_check_passes(self, harness: Harness) -> None:
        connector = harness.connector()
        spec = WriteSpec(values=frozenset({"score", "stage", "reason"}), stages=[s.name for s in SUITE_MODEL.stages])
        first = connector.setup(spec)
        assert first.created, "setup created nothing on a fresh CRM"
        second = connector.setup(spec)
        assert not second.created, f"second setup created {second.created}"
        report = connector.check()
        assert report.ok, report.problems

    def test_pull_everything(self, harness: Harness) -> None:
        ids = set(harness.seed(self.seed_count))
        connector = harness.connector()
        seen: Counter[str] = Counter()
        activity_leads = set()
        cursor = None
        for batch in connector.pull(Cursor(harness.object_type, None)):  # type: ignore[arg-type]
            seen.update(lead.id for lead in batch.leads)
            activity_leads.update(a.lead_id for a in batch.activities)
            assert all(lead.object_type == harness.object_type for lead in batch.leads)
            cursor = batch.cursor
        assert set(seen) == ids
        assert max(seen.values()) == 1, "a full pull returned a record twice"
        assert activity_leads <= ids and activity_leads, "no activities were pulled"
        assert cursor is not None and cursor.value

    def test_pull_incrementally_after_edits(self, harness: Harness) -> None:
        ids = harness.seed(self.seed_count)
        connector = harness.connector()
        cursor = None
        for batch in connector.pull(Cursor(harness.object_type, None)):  # type: ignore[arg-type]
            cursor = batch.cursor
        assert cursor is not None
        edited = ids[:3]
        for record_id in edited:
            harness.edit(record_id, "title", "Chief Technology Officer")
        again: dict[str, Lead] = {}
        for batch in connector.pull(cursor):
            again.update({lead.id: lead for lead in batch.leads})
        assert set(edited) <= set(again), "an edited record was not pulled incrementally"
        assert all(again[i].fields.get("title") == "Chief Technology Officer" for i in edited)
        assert len(again) < len(ids) / 2, f"incremental pull re-read {len(again)} of {len(ids)} records"

    def test_write_and_read_back_then_second_sync_writes_nothing(self, harness: Harness) -> None:
        ids = harness.seed(self.seed_count)
        connector = harness.connector()
        connector.setup(WriteSpec(frozenset({"score", "stage", "reason"}), [s.name for s in SUITE_MODEL.stages]))
        sync = MiniSync(connector)
        first = sync.run(harness.object_type)
        assert first["written"] == len(ids) and not sync.failed
        for record_id in ids:
            values = harness.written(record_id)
            assert values["score"] is not None and int(float(values["score"])) == sync.last_written[record_id]["score"]
            assert values["stage"] == sync.last_written[record_id]["stage"]
            # An empty string clears a CRM field, so it reads back as None.
            assert (values["reason"] or "") == sync.last_written[record_id]["reason"]
        calls_before = Counter(connector.api_calls())
        second = sync.run(harness.object_type)
        writes = {k: v - calls_before.get(k, 0) for k, v in connector.api_calls().items() if "update" in k or "write" in k}
        assert second["written"] == 0, "the second sync rewrote unchanged values"
        assert not any(writes.values()), f"the second sync made write calls: {writes}"
        assert harness.fields_written() <= harness.allowed_fields()

    def test_partial_failures_are_per_record(self, harness: Harness) -> None:
        ids = harness.seed(12)
        connector = harness.connector()
        connector.setup(WriteSpec(frozenset({"score", "stage", "reason"}), [s.name for s in SUITE_MODEL.stages]))
        harness.delete(ids[3])
        updates = [ScoreUpdate(i, harness.object_type, {"score": n, "stage": "Warm", "reason": f"+{n} test"}) for n, i in enumerate(ids)]  # type: ignore[arg-type]
        updates[7] = ScoreUpdate(ids[7], harness.object_type, {"score": 7, "stage": "NotAStage", "reason": "+7 test"})  # type: ignore[arg-type]
        results = connector.write(updates)
        assert [r.record_id for r in results] == ids
        assert results[3].status is WriteStatus.PERMANENT, results[3]
        assert results[7].status is WriteStatus.PERMANENT, results[7]
        assert all(r.ok for n, r in enumerate(results) if n not in (3, 7)), results
        assert harness.written(ids[5])["score"] in ("5", "5.0")

    def test_fault_storm_loses_nothing(self, harness: Harness) -> None:
        ids = harness.seed(self.seed_count)
        connector = harness.connector()
        connector.setup(WriteSpec(frozenset({"score", "stage", "reason"}), [s.name for s in SUITE_MODEL.stages]))
        harness.faults(error_rate=0.2, drop_rate=0.05)
        sync = MiniSync(connector)
        for _ in range(5):  # kept failures are retried by the next run, as the agent does
            sync.run(harness.object_type)
            if len(sync.last_written) == len(ids) and not sync.failed:
                break
            sync.cursor = None
        harness.faults()
        assert harness.faults_served() >= 1, "the storm never hit: the test proves nothing"
        assert set(sync.last_written) == set(ids), f"{len(ids) - len(sync.last_written)} records never written"
        for record_id in ids:
            value = harness.written(record_id)["score"]
            assert value is not None and int(float(value)) == sync.last_written[record_id]["score"]
        assert harness.fields_written() <= harness.allowed_fields()

    def test_the_agent_pipeline_syncs_and_a_quiet_rescore_costs_nothing(self, harness: Harness, tmp_path: Any) -> None:
        """The real pipeline and state store, not :class:`MiniSync`: a full sync writes every
        record, a second writes nothing, and a rescore from the mirror makes no API call."""
        ids = harness.seed(self.seed_count)
        connector = harness.connector()
        connector.setup(WriteSpec(frozenset(connector.write_values), [s.name for s in SUITE_MODEL.stages]))
        with StateStore.open(f"sqlite:///{tmp_path / 'conformance.db'}") as store:
            pipeline = SyncPipeline(connector.name, connector, store, ScoringEngine(SUITE_MODEL), as_of=AS_OF)
            first = pipeline.sync()
            assert first.written >= len(ids) and not first.failed, first
            for record_id in ids[:20]:
                assert harness.written(record_id)["score"] is not None
            second = pipeline.sync()
            assert second.written == 0 and not second.failed, second
            calls = sum(connector.api_calls().values())
            quiet = pipeline.rescore(AS_OF)
            assert quiet.changed == 0 and sum(connector.api_calls().values()) == calls, "a quiet rescore called the CRM"
        assert harness.fields_written() <= harness.allowed_fields()

    def test_outcomes_pull_incrementally(self, harness: Harness) -> None:
        """Outcomes come from a cursor of their own, as records do: a full pull, then a pull from
        its cursor that brings nothing new (an overlap may bring the same outcomes again), then an
        outcome recorded in the CRM after it - a record won - in the next pull."""
        if not callable(getattr(harness, "record_outcome", None)):
            pytest.fail("the harness has no record_outcome(record_id): add one, or opt out of "
                        "test_outcomes_pull_incrementally in its skip mapping, saying why (a CRM without outcomes)")
        ids = harness.seed(30)
        connector = harness.connector()

        def pull(cursor: Cursor) -> tuple[dict[tuple[str, str, str | None], Outcome], Cursor]:
            found: dict[tuple[str, str, str | None], Outcome] = {}
            for batch in connector.pull_outcomes(cursor, until=datetime.now(timezone.utc)):
                assert batch.cursor.object_type == OUTCOMES, batch.cursor
                for outcome in batch.outcomes:
                    assert outcome.object_type in connector.object_types, outcome
                    assert isinstance(outcome.kind, OutcomeKind) and outcome.converted == outcome.kind.positive, outcome
                    found[(outcome.object_type, outcome.lead_id, outcome.source_id)] = outcome
                cursor = batch.cursor
            return found, cursor

        first, cursor = pull(Cursor(OUTCOMES, None))
        assert cursor.value, "a full outcome pull left no cursor"
        again, cursor = pull(cursor)
        new = {key: o for key, o in again.items() if first.get(key) != o}
        assert not new, f"a pull from the last cursor brought {len(new)} outcomes the first did not: {list(new.values())[:3]}"
        won = ids[-1]
        harness.record_outcome(won)
        later, _ = pull(cursor)
        assert any(o.lead_id == won and o.kind.positive for o in later.values()), (
            f"the outcome recorded for {won} after the last pull is not in the next one: {list(later.values())[:5]}")

    def test_revoked_token_is_reported_clearly(self, harness: Harness) -> None:
        harness.seed(3)
        connector = harness.connector()
        harness.revoke_token()
        with pytest.raises(AuthError) as caught:
            connector.check()
        message = str(caught.value).lower()
        assert any(word in message for word in ("token", "credential", "login")), message
        with pytest.raises(AuthError):
            list(connector.pull(Cursor(harness.object_type, None)))  # type: ignore[arg-type]
