"""The sync pipeline: pull -> score -> diff -> write -> record, one batch at a time.

One batch is one unit of work. Its records are scored, diffed against what was last written, the
changed ones written, and then the batch is recorded - mirror, write results, API calls and the
cursor - in one transaction. A crash anywhere before that commit leaves the cursor where it was:
the next run pulls the same batch again, the diff finds the same changes, and rewriting them is
harmless. So a crash re-does at most the batch in flight, and never skips a record.

A write call costs the same for one record as for a full chunk (HubSpot's batch update takes 100,
Salesforce's Collections 200), so when the connector declares its chunk a batch writes only whole
calls and carries the rest of its changes to the next batch (:class:`Carried`); the end of the pass
writes what is left. The carried changes are kept in the batch's transaction as deferred writes
(:func:`leadscore.agent.state.failures.defer_writes`), so a crash after the commit that moved the
cursor past them leaves them for the next sync's retry, never lost.

The passes share the batch step:

- :meth:`SyncPipeline.sync`: incremental, from the stored cursor of each object type, after first
  retrying failed writes whose wait is over; then the outcomes (:meth:`SyncPipeline.pull_outcomes`:
  converted, won, lost, disqualified) from their own cursor, into the state store.
- :meth:`SyncPipeline.backfill`: a full (or ``since``) pull in its own resumable window, never
  moving the live cursor; :meth:`SyncPipeline.plan` is its dry run, yielding the changes it would
  make and touching nothing.
- :meth:`SyncPipeline.rescore`: the mirror scored again as of now (decay, a new model version) -
  no CRM read; only records whose values changed are written.
- :meth:`SyncPipeline.retry_failures`: kept failures written again, rescored from the mirror.

Each pass is made of the same public steps, which :mod:`agent.sync.reconcile` uses too:
:meth:`~SyncPipeline.score` (records to desired values), :meth:`~SyncPipeline.diff` (the store's
baseline through :func:`agent.sync.diff.plan_writes`), :meth:`~SyncPipeline.write_and_record` and
:meth:`~SyncPipeline.record_api_calls`.

The pipeline holds no lease itself; :mod:`agent.sync.jobs` runs it under one.
"""

from __future__ import annotations

import csv
from collections import Counter
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Iterator, Mapping, Sequence, TextIO

import structlog

from leadscore.agent.csvfiles import safe_cell
from leadscore.agent.core.errors import QuotaExhausted, TransientError
from leadscore.agent.core.records import ACCOUNT_PREFIX, Activity, Lead, ScoreLine, group_by_lead
from leadscore.agent.state import (
    Baseline, BatchOutcome, Desired, Failure, MirroredActivities, MirroredLead, OutcomeCounts, RecordKey, StateStore,
)
from leadscore.agent.scoring.modelset import score_lines
from leadscore.agent.sync.accounts import AccountScoring, account_type_for, scorer_fields
from leadscore.agent.sync.diff import DiffPolicy, holds, plan_writes
from leadscore.agent.sync.reconcile import Drift, reconcile as reconcile_pass
from leadscore.agent.sync.models import ShadowScorer
from leadscore.agent.sync.values import Scorer, desired, wanted_values
from leadscore.agent.core.contract import (
    OUTCOMES, Connector, Cursor, PullBatch, PullNeeds, SupportsAccounts, WriteResult, WriteStatus,
)

if TYPE_CHECKING:
    from leadscore.agent.metrics import Metrics

log = structlog.get_logger("leadscore.sync")

#: Facts kept per connector in the state store.
SCORED_VERSION = "scored_version"
MIRROR_NEEDS = "mirror_needs"
#: Set while a connector's first sync (a full pull) is under way: the needs and model version it
#: began with. Later syncs start from a cursor, so this is how the one that completes it knows.
FIRST_SYNC = "first_sync"


@dataclass
class RunCounts:
    """What one run did, for the run log, the CLI summary and the metrics."""

    pulled: int = 0
    scored: int = 0
    #: Records scored with some unusable values (logged; scored with what was usable).
    warned: int = 0
    #: Records that could not be scored at all (logged, counted, not written).
    bad: int = 0
    changed: int = 0
    written: int = 0
    retryable: int = 0
    permanent: int = 0
    deleted: int = 0
    retried: int = 0
    #: reconcile: records whose owned fields in the CRM differ from what the engine computes now.
    drifted: int = 0
    #: reconcile: mirrored records the CRM no longer has (deleted, merged, converted).
    missing: int = 0
    batches: int = 0
    api_calls: int = 0
    #: sync: outcomes pulled from the CRM that the store did not hold as they are (added or changed).
    outcomes: int = 0
    #: sync: 1 when the outcome pull failed (logged; the records stay synced, the next sync retries).
    outcome_errors: int = 0
    interrupted: bool = False

    def absorb(self, outcome: BatchOutcome) -> None:
        self.written += outcome.written
        self.retryable += outcome.retryable
        self.permanent += outcome.permanent
        self.deleted += outcome.deleted

    @property
    def failed(self) -> int:
        return self.retryable + self.permanent

    @property
    def status(self) -> str:
        """The run log's status: ``partial`` when a record failed or could not be scored."""
        return "partial" if self.failed or self.bad else "ok"

    def as_dict(self) -> dict[str, int]:
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}


class ApiCallMeter:
    """Deltas of a connector's cumulative ``api_calls()`` since the last reading."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._seen: Counter[str] = Counter(connector.api_calls())

    def take(self) -> dict[str, int]:
        now = Counter(self._connector.api_calls())
        delta = {family: count - self._seen.get(family, 0) for family, count in now.items()}
        self._seen = now
        return {family: n for family, n in delta.items() if n > 0}


def scorer_needs(scorer: Scorer) -> PullNeeds | None:
    """What a pull must fetch for ``scorer``: the rules' fields and activity types; everything
    (None) when a predictive model reads the lead, since its features span every field. An
    account's fields (``account.*``) are not the person's: they come with the account's pull."""
    if getattr(scorer, "uses_model", False):
        return None
    fields = scorer_fields(scorer)
    types = getattr(scorer, "activity_types_used", None)
    if types is None:
        types = getattr(scorer, "engine", scorer).activity_types_used
    return PullNeeds(frozenset(f for f in fields if not f.startswith(ACCOUNT_PREFIX)), frozenset(types))


def needs_to_json(needs: PullNeeds | None) -> dict[str, Any]:
    if needs is None:
        return {"all": True}
    return {"fields": sorted(needs.fields), "activity_types": sorted(needs.activity_types)}


def needs_from_json(value: Any) -> PullNeeds | None | bool:
    """The stored needs: a :class:`PullNeeds`, None for "everything", False when none stored."""
    if not isinstance(value, Mapping):
        return False
    if value.get("all"):
        return None
    return PullNeeds(frozenset(value.get("fields", ())), frozenset(value.get("activity_types", ())))


def covers(held: PullNeeds | None, wanted: PullNeeds | None) -> bool:
    """Whether a mirror pulled with ``held`` has everything ``wanted`` reads."""
    if held is None:
        return True
    if wanted is None:
        return False
    return wanted.fields <= held.fields and wanted.activity_types <= held.activity_types


def merge_needs(a: PullNeeds | None, b: PullNeeds | None) -> PullNeeds | None:
    if a is None or b is None:
        return None
    return PullNeeds(a.fields | b.fields, a.activity_types | b.activity_types)


def common_needs(a: PullNeeds | None, b: PullNeeds | None) -> PullNeeds | None:
    """What a mirror pulled partly with ``a`` and partly with ``b`` holds for every record."""
    if a is None:
        return b
    if b is None:
        return a
    return PullNeeds(a.fields & b.fields, a.activity_types & b.activity_types)


#: The most changes held back waiting for a bulk path (a connector's ``bulk_threshold``): past this
#: many a pass writes whole chunks instead, so a threshold set very high (to turn the bulk path off)
#: does not make a long pass hold every change in memory and in the store until its end.
MAX_HELD = 10_000


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@dataclass(frozen=True)
class WriteChunks:
    """How a connector's write calls pay, as it declares (``write_chunk``, ``bulk_threshold``:
    :class:`leadscore.connectors.base.SupportsWriteChunks`, looked up by name since this layer
    never imports the connectors' package). Neither declared: every batch's changes are written
    with the batch, as a connector that says nothing has always had them."""

    #: Updates one write call takes: a call with fewer costs as much.
    size: int | None = None
    #: From this many updates in one write, a path whose cost does not grow with the count.
    bulk_threshold: int | None = None

    @classmethod
    def of(cls, connector: object) -> WriteChunks:
        return cls(_positive(getattr(connector, "write_chunk", None)), _positive(getattr(connector, "bulk_threshold", None)))


#: Writes to make, each one ``connector.write`` call.
Writes = list[list[Desired]]


class Carried:
    """Changes scored and diffed but not yet written, in order: a pass adds each batch's changes
    and writes only what fills whole calls (:meth:`due`), so the calls of a pass reach the floor,
    ``ceil(changes / chunk)``, rather than rounding up once per batch; the end of the pass writes the
    rest (:meth:`take_all`).

    With a bulk path (Salesforce's Bulk API 2.0: a job per object type, about six requests whatever
    the count), an object type's changes are held until the pass has ``bulk_threshold`` of them -
    the pass's total, not one batch's - and then go in one write, which takes the bulk path. The
    threshold is per object type because each type is a job of its own: 2,094 changes spread over
    Leads, Contacts and Accounts cost 19 requests in three jobs, 11 in Collections calls. Every
    other write is kept below the threshold, in whole chunks, so it takes the chunked path.

    A change carried past the commit of its pulled batch must be kept in the store with that
    commit (a deferred write: :meth:`unkept`, then :meth:`mark_kept`); a retried failure is kept
    already. A newer change of a record replaces the one carried."""

    def __init__(self, chunks: WriteChunks) -> None:
        self.chunks = chunks
        self._changes: dict[RecordKey, Desired] = {}
        #: Records whose carried change is durable in the store (deferred, or a kept failure).
        self._kept: set[RecordKey] = set()

    def __len__(self) -> int:
        return len(self._changes)

    def add(self, changes: Iterable[Desired], *, kept: bool = False) -> None:
        for change in changes:
            self._changes.pop(change.key, None)  # the newer change, in the newer place
            self._changes[change.key] = change
            if kept:
                self._kept.add(change.key)
            else:
                self._kept.discard(change.key)

    def drop(self, keys: Iterable[RecordKey]) -> None:
        """Forget the changes of records gone from the CRM (deleted, retired): the batch that
        says so forgets their kept failures, deferred writes included."""
        self._take([key for key in keys if key in self._changes])

    def due(self, hold: int = 0) -> Writes:
        """Take the writes to make now: none while fewer than ``hold`` changes are carried; else,
        with no chunk declared, all of them (each batch's, as before); with a bulk path, the object
        types that have reached its threshold, in one write; else (or past :data:`MAX_HELD`) the
        largest whole number of chunks of each object type (a CRM's batch call may take one type)."""
        count = len(self._changes)
        size, bulk = self.chunks.size, self.chunks.bulk_threshold
        if count == 0 or count < hold:
            return []
        if size is None:
            return [self.take_all_changes()]
        if bulk is not None:
            big = self._bulk_keys()
            if big:
                return [self._take(big)]
            if count < MAX_HELD:
                return []  # held: below the threshold, the end's write costs what whole chunks would
        whole = [key for keys in self._by_type().values() for key in keys[: len(keys) // size * size]]
        return self._below_bulk(self._take(whole))

    def take_all(self) -> Writes:
        """Take everything carried: the end of a pass. The object types at a bulk threshold in one
        write, the rest in writes below it."""
        big = self._bulk_keys()
        writes = [self._take(big)] if big else []
        return writes + self._below_bulk(self.take_all_changes())

    def take_all_changes(self) -> list[Desired]:
        """Take everything carried, as it is (no writes made of it)."""
        return self._take(list(self._changes))

    def unkept(self) -> list[Desired]:
        """The carried changes not yet durable in the store."""
        return [change for key, change in self._changes.items() if key not in self._kept]

    def mark_kept(self) -> None:
        """Every carried change is now durable (its batch kept them as deferred writes)."""
        self._kept.update(self._changes)

    def _by_type(self) -> dict[str, list[RecordKey]]:
        by_type: dict[str, list[RecordKey]] = {}
        for key in self._changes:
            by_type.setdefault(key.object_type, []).append(key)
        return by_type

    def _bulk_keys(self) -> list[RecordKey]:
        """The carried records of the object types that have reached the bulk threshold."""
        bulk = self.chunks.bulk_threshold
        if bulk is None or self.chunks.size is None:
            return []
        return [key for keys in self._by_type().values() if len(keys) >= bulk for key in keys]

    def _below_bulk(self, changes: list[Desired]) -> Writes:
        """``changes`` as writes that each stay below the bulk threshold, in whole chunks (all in
        one write when a threshold below one chunk leaves no such size: the admin's choice)."""
        if not changes:
            return []
        size, bulk = self.chunks.size, self.chunks.bulk_threshold
        most = (bulk - 1) // size * size if size is not None and bulk is not None else 0
        if most == 0 or len(changes) < (bulk or 0):
            return [changes]
        return [changes[start:start + most] for start in range(0, len(changes), most)]

    def _take(self, keys: Sequence[RecordKey]) -> list[Desired]:
        taken = [self._changes.pop(key) for key in keys]
        self._kept.difference_update(keys)
        return taken


@dataclass
class SyncPipeline:
    """One connector's pipeline over one state store. Not thread-safe: one pass at a time (the
    job runner's lease and lock see to that)."""

    name: str
    connector: Connector
    store: StateStore
    scorer: Scorer
    #: The live challenger: scores the same leads at the same instants into the store's shadow
    #: scores, never into a write.
    shadow: ShadowScorer | None = None
    #: The config trains models from the state store (``[predictive]``): every mapped field is
    #: pulled, whatever the rules read, so the mirror's history holds what a model may learn from.
    learns: bool = False
    reason_budget: int = 255
    #: Changed records per unit of work in a rescore or retry pass.
    write_batch: int = 1000
    retry_after: timedelta = timedelta(minutes=5)
    metrics: Metrics | None = None
    #: Polled between batches: True stops the pass after the batch in flight is recorded.
    should_stop: Callable[[], bool] = lambda: False
    #: Told how many records each batch handled (progress bars).
    progress: Callable[[int], None] | None = None
    clock: Callable[[], datetime] | None = None
    #: Score as of this instant rather than the run's start (reproducible backfills, tests).
    as_of: datetime | None = None
    _meter: ApiCallMeter = field(init=False, repr=False)
    #: A spent API allocation met by the outcome pull, which does not fail the sync: the job runner
    #: pauses the connector on it as on any pull's (see :meth:`pull_outcomes`).
    quota_stop: QuotaExhausted | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self._meter = ApiCallMeter(self.connector)
        self.write_names = frozenset(self.connector.write_values)
        #: What makes a value worth writing again, and the reason budget.
        self.policy = DiffPolicy(reason_budget=self.reason_budget)
        self.log = log.bind(connector=self.name)
        #: Accounts to roll up, and people to rescore for their account's fields, after a pass's pulls.
        self._dirty_accounts: set[str] = set()
        self._dirty_people: set[RecordKey] = set()
        self._fields_of: dict[str, Mapping[str, str] | None] = {}
        self._accounts: AccountScoring | None = None
        #: Changes waiting for a whole write call, across the batches of a pass (:class:`Carried`).
        self._carried = Carried(WriteChunks.of(self.connector))
        #: Passes under way (a sync runs a retry and a roll-up inside it): the outermost one writes
        #: what is carried when it ends.
        self._passes = 0

    # --- accounts ------------------------------------------------------------------------------

    @property
    def accounts(self) -> AccountScoring:
        """How this pipeline's scorer uses accounts, worked out once per scorer."""
        if self._accounts is None or self._accounts.scorer is not self.scorer:
            held = str(self.connector.account_type) if isinstance(self.connector, SupportsAccounts) else None
            self._accounts = AccountScoring(self.store, self.name, self.scorer, account_type_for(self.scorer, held))
        return self._accounts

    @property
    def account_type(self) -> str | None:
        """The connector's account object type when this config needs accounts (an account model,
        or people reading ``account.*``) and the connector reads them; None otherwise."""
        return self.accounts.account_type

    def object_types(self) -> tuple[str, ...]:
        """What a pass pulls, in order: accounts first (so people join fresh account fields),
        then the connector's people."""
        account = self.account_type
        return ((account,) if account else ()) + tuple(self.connector.object_types)

    def now(self) -> datetime:
        return (self.clock or self.store.now)().astimezone(timezone.utc)

    def scoring_time(self) -> datetime:
        """The instant scores are computed as of: ``as_of`` when set, else now."""
        return self.as_of.astimezone(timezone.utc) if self.as_of is not None else self.now()

    # --- what to pull ------------------------------------------------------------------------

    def needs(self) -> PullNeeds | None:
        """The scorer's needs, plus whatever the mirror already holds (so an incremental pull
        keeps the mirror as complete as the last full pull left it)."""
        wanted = self.wanted()
        held = needs_from_json(self.store.meta(self.name, MIRROR_NEEDS))
        return wanted if held is False else merge_needs(wanted, held)  # type: ignore[arg-type]

    def wanted(self) -> PullNeeds | None:
        """What this pipeline's pulls must fetch: everything when it :attr:`learns`, else what
        the scorer reads."""
        return None if self.learns else scorer_needs(self.scorer)

    def mirror_covers_model(self) -> bool:
        """False when the model reads fields or activities the mirror was not pulled with: a
        rescore from it would be wrong, so a full pull (backfill) must refresh it first."""
        held = needs_from_json(self.store.meta(self.name, MIRROR_NEEDS))
        if held is False:
            return True  # nothing mirrored by a full pull yet: the first sync pulls everything
        return covers(held, self.wanted())  # type: ignore[arg-type]

    def model_changed(self) -> bool:
        """True when the mirror was last scored in full with another model version."""
        scored = self.store.meta(self.name, SCORED_VERSION)
        return scored is not None and scored != self.scorer.version

    def _mark_complete(self, needs: PullNeeds | None, version: str | None = None) -> None:
        """Every mirrored record is now scored (and written where changed) with this version (or
        ``version``), and the mirror holds what ``needs`` asked for."""
        self.store.set_meta(self.name, SCORED_VERSION, version or self.scorer.version)
        self.store.set_meta(self.name, MIRROR_NEEDS, needs_to_json(needs))

    # --- the steps of a pass -----------------------------------------------------------------

    def score(
        self, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime, counts: RunCounts,
        *, shadow: bool = True, known: Baseline | None = None,
    ) -> list[Desired]:
        """Each lead's desired values. A lead the engine cannot score at all, or the connector
        could not read at all (:attr:`Lead.unreadable`), is logged and counted ``bad``, never
        allowed to stop the batch; one with unusable values - the engine's warnings, or the
        connector's :attr:`Lead.problems` - is scored with the rest, logged once and counted
        ``warned``. With a challenger, its scores of the same leads go to the store too, unless
        ``shadow`` is false (a dry run). ``known``: the leads' baseline, already read (a rescore's
        mirror page); a lead that :func:`~leadscore.agent.sync.diff.holds` its values is scored
        and counted, but gets no :class:`Desired`: the diff would leave it alone anyway."""
        wanted: list[Desired] = []
        scored: list[Lead] = []
        warned = bad = held = 0
        scoring = self.accounts
        accounts = [lead for lead in leads if scoring.is_account(lead)]
        if accounts:
            leads = [lead for lead in leads if not scoring.is_account(lead)]
            wanted += self._score_accounts(accounts, as_of, counts)  # counted there
        rolled_up = len(wanted)
        leads = scoring.with_account_fields(leads)
        unreadable = [lead for lead in leads if lead.problems and lead.unreadable]
        for lead in unreadable:
            bad += 1
            self.log.warning("record.unreadable", record_id=lead.id, problems=_shown_problems(lead))
        if unreadable:
            leads = [lead for lead in leads if not lead.unreadable]
        # One batch through the engine; a record it cannot score is reported and skipped.
        lines = score_lines(self.scorer, leads, activities, as_of, reason_budget=self.policy.reason_budget)
        names, policy, own_fields = self.write_names, self.policy, self._own_fields
        for lead, result in zip(leads, lines):
            if result.__class__ is not ScoreLine:
                bad += 1
                self.log.warning("record.unscorable", record_id=lead.id, error=f"{type(result).__name__}: {result}")
                continue
            if result.warnings or lead.problems:
                warned += 1
                extra = {"unusable": _shown_problems(lead)} if lead.problems else {}
                self.log.info("record.bad_values", record_id=lead.id, warnings=list(result.warnings), **extra)
            scored.append(lead)
            fields = own_fields(result)
            values = wanted_values(result, names, fields)
            if known is not None and holds(values, known, RecordKey(lead.object_type, lead.id), fields, policy):
                held += 1
                continue
            wanted.append(Desired.from_result(result, lead.object_type, values, fields=fields))
        if shadow:  # a dry run records nothing, the challenger's scores included
            self.shadow_score(scored, activities, as_of)
        counts.scored += len(wanted) - rolled_up + held
        counts.warned += warned
        counts.bad += bad
        if self.metrics is not None and (warned or bad):
            self.metrics.record_problems(self.name, warned=warned, bad=bad)
        return wanted

    def _own_fields(self, result: ScoreLine) -> Mapping[str, str] | None:
        """The own fields (``[models.write.NAME]``) of the model that made ``result``, on this
        connector; None: the connector's ``write`` map. Asked once per model version."""
        version = result.model_version
        if version not in self._fields_of:
            fields_for = getattr(self.scorer, "fields_for", None)
            self._fields_of[version] = fields_for(version, self.name) if fields_for is not None else None
        return self._fields_of[version]

    def _score_accounts(self, accounts: Sequence[Lead], as_of: datetime, counts: RunCounts) -> list[Desired]:
        """Each account's desired values (see :meth:`AccountScoring.score_accounts`); an
        account no model takes is not scored, one that cannot be scored is logged and counted."""
        wanted: list[Desired] = []
        for account, result in self.accounts.score_accounts([a for a in accounts if not a.unreadable], as_of):
            if isinstance(result, BaseException):
                counts.bad += 1
                self.log.warning("account.unscorable", record_id=account.id, error=f"{type(result).__name__}: {result}")
            elif result is not None:
                line = result.line(self.policy.reason_budget)
                wanted.append(desired(line, account.object_type, self.write_names, self._own_fields(line)))
        counts.bad += sum(1 for a in accounts if a.unreadable)
        counts.scored += len(wanted)
        return wanted

    def _note_pulled(self, batch: PullBatch) -> None:
        """What a pulled batch makes worth rolling up after the pass's pulls: a pulled account
        (and, when people read its fields, its people); the accounts of pulled people, now and
        before (a person who moved leaves an account that must lose them)."""
        scoring = self.accounts
        if scoring.account_type is None:
            return
        scores_accounts = scoring.scores
        if batch.cursor.object_type == scoring.account_type:
            ids = [lead.id for lead in batch.leads if not lead.unreadable]
            if scores_accounts:
                self._dirty_accounts.update(ids)
            if scoring.joins and ids:
                for people in self.store.mirror_members(self.name, ids).values():
                    self._dirty_people.update(RecordKey(m.lead.object_type, m.lead.id) for m in people)
            return
        keys = [RecordKey(lead.object_type, lead.id) for lead in batch.leads]
        self._dirty_people.difference_update(keys)  # scored with the batch itself
        if scores_accounts:
            self._dirty_accounts.update(self.store.account_ids(self.name, keys).values())
            self._dirty_accounts.update(lead.account_id for lead in batch.leads if lead.account_id)

    def roll_up(self, as_of: datetime, counts: RunCounts) -> None:
        """After a pass's pulls: people whose account's fields changed, then every account whose
        people (or own fields) changed, scored from the mirror and written where changed."""
        account_type = self.account_type
        people, self._dirty_people = sorted(self._dirty_people, key=lambda k: (k.object_type, k.record_id)), set()
        accounts, self._dirty_accounts = sorted(self._dirty_accounts), set()
        if account_type is None:
            return
        keys = people + [RecordKey(account_type, a) for a in accounts]
        with self._carrying(counts):
            for start in range(0, len(keys), self.write_batch):
                if self.should_stop():
                    counts.interrupted = True
                    return
                mirrored = self.store.mirror_records(self.name, keys[start:start + self.write_batch])
                leads = [m.lead for m in mirrored.values()]
                wanted = self.score(leads, MirroredActivities(list(mirrored.values())), as_of, counts)
                self._carry(self.diff(wanted), counts)

    def shadow_score(self, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime) -> None:
        """The challenger's scores of ``leads`` into the store (changed ones only). A failure is
        logged and never fails the pass: the challenger is an experiment, the sync is not."""
        shadow = self.shadow
        if shadow is None or not leads:
            return
        try:
            scores = shadow.scores(leads, activities, as_of)
            self.store.record_shadow_scores(
                self.name, shadow.version, [(lead.object_type, lead.id, s) for lead, s in zip(leads, scores)], as_of
            )
        except Exception as exc:  # noqa: BLE001 - see the docstring
            self.log.warning("challenger.failed", version=shadow.version, error=f"{type(exc).__name__}: {exc}")

    def start_shadow(self) -> int:
        """A challenger new to this connector shadow-scores the whole mirror once, as of now, so
        every record has its score beside the champion's from the start (later, the syncs score
        what changes). Returns the records scored; 0 when it already started."""
        shadow = self.shadow
        if shadow is None or self.store.shadow_started(self.name, shadow.version) is not None:
            return 0
        as_of = self.scoring_time()
        if not self.store.model_events(shadow.version, event="challenging"):
            self.store.record_model_event("challenging", shadow.version, detail={"connector": self.name})
        self.log.info("challenger.started", version=shadow.version, champion=self.scorer.version)
        done = 0
        page: list[MirroredLead] = []
        for mirrored in self.store.mirror_leads(self.name):
            page.append(mirrored)
            if len(page) >= self.write_batch:
                done += self._shadow_page(page, as_of)
                page = []
                if self.should_stop():
                    return done
        return done + self._shadow_page(page, as_of)

    def _shadow_page(self, page: Sequence[MirroredLead], as_of: datetime) -> int:
        readable = [m for m in page if not m.lead.unreadable]
        self.shadow_score([m.lead for m in readable], MirroredActivities(readable), as_of)
        return len(readable)

    def diff(
        self, wanted: Sequence[Desired], *, reread: Collection[RecordKey] = (),
        known: tuple[Baseline, Collection[RecordKey]] | None = None,
    ) -> list[Desired]:
        """What of ``wanted`` to write: the store's baseline for those records through the diff
        (:func:`~leadscore.agent.sync.diff.plan_writes`). ``reread``: records just read again from
        the CRM, whose permanent failures no longer hold them back. ``known``: the baseline of some
        records already read (with the mirror page: :meth:`rescore`), and which records it covers;
        the others' is read here."""
        if not wanted:
            return []
        if known is None:
            return plan_writes(wanted, self.store.baseline(self.name, [d.key for d in wanted]), self.policy, reread=reread)
        baseline, covered = known
        missing = [d.key for d in wanted if d.key not in covered]
        if missing:
            more = self.store.baseline(self.name, missing)
            baseline = Baseline({**baseline.written, **more.written}, {**baseline.failed, **more.failed})
        return plan_writes(wanted, baseline, self.policy, reread=reread)

    def write_and_record(self, changes: Sequence[Desired], counts: RunCounts) -> None:
        """Write changes outside a pulled batch, now, and record the results in one transaction
        (a pass's own steps carry theirs to whole calls instead: :meth:`_carry`)."""
        self._write_and_record([list(changes)], counts)

    def _write_and_record(self, writes: Writes, counts: RunCounts) -> None:
        """Make ``writes`` (one ``connector.write`` each) and record every result in one transaction;
        raise what stopped the CRM after recording."""
        changes, results, stopped = self._write_each(writes)
        if not changes:
            return
        outcome = self.store.record_writes(self.name, changes, results, substance=self.policy.substance)
        self.record_api_calls(counts)
        counts.changed += len(changes)
        counts.absorb(outcome)
        self._observe(0, 0, outcome)
        if stopped is not None:
            raise stopped

    # --- carrying changes to whole write calls ---------------------------------------------------

    def _carry(self, changes: Sequence[Desired], counts: RunCounts, *, kept: bool = False, hold: int = 0) -> None:
        """Add changes made outside a pulled batch (a roll-up, a retry, a rescore page) to those
        carried, and write what fills whole calls (:meth:`Carried.due`; ``hold``: write nothing
        while fewer are carried). ``kept``: their records' failures are in the store already."""
        self._carried.add(changes, kept=kept)
        self._write_and_record(self._carried.due(hold), counts)

    def _write_carried(self, counts: RunCounts) -> None:
        """Write every carried change, whole calls or not: the end of a pass."""
        self._write_and_record(self._carried.take_all(), counts)

    @contextmanager
    def _carrying(self, counts: RunCounts) -> Iterator[None]:
        """One pass over which changes are carried: when the outermost pass ends - done, or
        stopped between batches - it writes what is left. When it ends in an error (the CRM
        refused a write or a pull, the store failed), it writes nothing more: the CRM is likely
        to refuse again, and every carried change is kept in the store (:meth:`_keep_carried`),
        where the next sync's retry writes it first."""
        self._passes += 1
        try:
            yield
        except BaseException:
            self._passes -= 1
            if self._passes == 0:
                self._keep_carried()
            raise
        self._passes -= 1
        if self._passes == 0:
            self._write_carried(counts)

    def _keep_carried(self) -> None:
        """A pass failed with changes carried: keep those not yet in the store as deferred writes
        (a roll-up's, a rescore's), for the next sync; the rest are there already."""
        unkept = self._carried.unkept()
        left = len(self._carried)
        self._carried.take_all_changes()
        if not left:
            return
        try:
            self.store.defer_writes(self.name, unkept)
        except Exception as exc:  # noqa: BLE001 - the pass's own error is the one to raise
            self.log.warning("writes.not_kept", count=len(unkept), error=f"{type(exc).__name__}: {exc}",
                             detail="the next rescore writes them again")
            return
        self.log.info("writes.deferred", count=left, detail="the pass stopped on an error; the next sync writes them")

    def record_api_calls(self, counts: RunCounts) -> None:
        """Count the API calls made since the last count, in the run and in the store."""
        calls = self._calls(counts)
        if calls:
            self.store.add_api_calls(self.name, calls)

    # --- writing -----------------------------------------------------------------------------

    def _write_each(self, writes: Writes) -> tuple[list[Desired], list[WriteResult], BaseException | None]:
        """Make ``writes`` in order, one ``connector.write`` each: every change with its result, and
        what stopped the CRM. Once a call is refused as a whole, the later ones are not made: their
        changes come back retryable as that call's do, so they are recorded and retried alike."""
        changes: list[Desired] = []
        results: list[WriteResult] = []
        stopped: BaseException | None = None
        for write in writes:
            if stopped is None:
                got, stopped = self._write(write)
            else:
                got = _refused(write, stopped)
            changes += write
            results += got
        return changes, results, stopped

    def _write(self, changes: Sequence[Desired]) -> tuple[list[WriteResult], BaseException | None]:
        """Write ``changes``; when the whole call fails for a reason that passes (the CRM is down,
        the day's quota is spent), every change comes back retryable so the batch can still be
        recorded - nothing is dropped - and the error is returned to stop the run after."""
        if not changes:
            return [], None
        updates = [c.update for c in changes]
        try:
            results = self.connector.write(updates)
        except (TransientError, QuotaExhausted) as exc:
            return _refused(changes, exc), exc
        if len(results) != len(updates):
            raise RuntimeError(
                f"connector {self.name} returned {len(results)} write results for {len(updates)} updates"
            )
        return list(results), None

    def _calls(self, counts: RunCounts) -> dict[str, int]:
        calls = self._meter.take()
        counts.api_calls += sum(calls.values())
        if self.metrics is not None and calls:
            self.metrics.api_calls(self.name, calls)
        return calls

    def _observe(self, pulled: int, scored: int, outcome: BatchOutcome) -> None:
        if self.metrics is not None:
            self.metrics.records(
                self.name,
                pulled=pulled,
                scored=scored,
                written=outcome.written,
                failed=outcome.retryable + outcome.permanent,
            )

    # --- one pulled batch --------------------------------------------------------------------

    def _process(
        self, batch: PullBatch, as_of: datetime, counts: RunCounts, *, backfill_id: str | None = None
    ) -> BaseException | None:
        self._note_pulled(batch)
        if self.account_type is not None and batch.cursor.object_type == self.account_type:
            wanted: list[Desired] = []  # rolled up after the people: an account's score is theirs too
        else:
            wanted = self.score(batch.leads, group_by_lead(batch.activities), as_of, counts)
        # A record the CRM answered with has changed there (or come back from its recycle bin): a
        # write it refused for good before is worth one more try, and its failure is forgotten
        # with the batch.
        reread = [RecordKey(lead.object_type, lead.id) for lead in batch.leads]
        changes = self.diff(wanted, reread=reread)
        # The batch's changes join those carried from earlier batches; only whole calls are
        # written now. The rest are kept with the batch (deferred writes), whose commit moves the
        # cursor past their records: a crash then leaves them for the next sync's retry.
        carried = self._carried
        object_type = batch.cursor.object_type
        carried.drop([RecordKey(object_type, record_id) for record_id in batch.deleted_ids]  # type: ignore[arg-type]
                     + [RecordKey(lead.object_type, lead.id) for lead in batch.retired])
        carried.add(changes)
        written, results, stopped = self._write_each(carried.due())
        outcome = self.store.record_batch(
            self.name,
            without_unreadable(batch),
            written,
            results,
            backfill_id=backfill_id,
            api_calls=self._calls(counts),
            reread=reread,
            substance=self.policy.substance,
            deferred=carried.unkept(),
        )
        carried.mark_kept()
        counts.pulled += len(batch.leads)
        counts.changed += len(written)
        counts.batches += 1
        counts.absorb(outcome)
        self._observe(len(batch.leads), len(wanted), outcome)
        if self.progress is not None:
            self.progress(len(batch.leads))
        self.log.debug(
            "batch.recorded",
            object_type=batch.cursor.object_type,
            pulled=len(batch.leads),
            changed=len(changes),
            carried=len(carried),
            **outcome.as_counts(),
        )
        return stopped

    def _pull(
        self, cursor: Cursor, until: datetime | None, needs: PullNeeds | None, counts: RunCounts,
        as_of: datetime, *, backfill_id: str | None = None,
    ) -> bool:
        """Pull batches from ``cursor`` up to ``until`` and score them as of ``as_of``; False
        when stopped before the end."""
        with closing(iter(self.connector.pull(cursor, until=until, needs=needs))) as batches:
            for batch in batches:
                stopped = self._process(batch, as_of, counts, backfill_id=backfill_id)
                if stopped is not None:
                    raise stopped
                if self.should_stop():
                    counts.interrupted = True
                    return False
        self.record_api_calls(counts)  # a pull that found nothing still made its calls
        return True

    # --- the passes --------------------------------------------------------------------------

    def sync(self) -> RunCounts:
        """One incremental pass: retry kept failures, then pull what changed since each cursor,
        up to now. The first sync of a connector pulls everything.

        The retried failures, the pulled batches' changes and the roll-up's are written in whole
        calls across batches (:class:`Carried`), the rest at the end of the records' pass, before
        the outcomes are pulled."""
        counts = RunCounts()
        with self._carrying(counts):
            synced = self._sync_records(counts)
        if synced and not self.should_stop():
            # Up to now, not the sync's start: the records this sync wrote carry stamps from after
            # it, and an outcome on one of them (a lead status changed before the sync) is read now
            # rather than one sync late.
            self.pull_outcomes(self.now(), counts)
        return counts

    def _sync_records(self, counts: RunCounts) -> bool:
        """The records' part of :meth:`sync`; False when stopped before the end."""
        until = self.now()
        as_of = self.scoring_time()
        needs = self.needs()
        self.start_shadow()
        self.retry_failures(counts, as_of)
        cursors = {kind: self.store.cursor(self.name, kind) for kind in self.object_types()}
        if all(value is None for value in cursors.values()):
            # The first sync pulls everything. Noted first: if it is stopped part-way (SIGTERM, a
            # crash, the CRM down), the sync that finishes it starts from a cursor, yet must still
            # record what the mirror now holds, or a model reading more would never re-pull it.
            begin = {"needs": needs_to_json(needs), "version": self.scorer.version}
            self.store.set_meta(self.name, FIRST_SYNC, begin)
        for object_type, value in cursors.items():
            if self.should_stop() or not self._pull(Cursor(object_type, value), until, needs, counts, as_of):
                counts.interrupted = True
                return False
        self.roll_up(as_of, counts)
        self._write_carried(counts)  # written before the pass is marked complete, as they always were
        begun = self.store.meta(self.name, FIRST_SYNC)
        if isinstance(begun, Mapping):
            held = needs_from_json(begun.get("needs"))
            # Records pulled before a model change hold only what the first model asked for, and
            # carry its version (so the next sync rescores them when it differs from this one).
            held_needs = needs if held is False else held
            self._mark_complete(common_needs(held_needs, needs), begun.get("version"))  # type: ignore[arg-type]
            self.store.set_meta(self.name, FIRST_SYNC, None)
        return True

    def pull_outcomes(self, until: datetime, counts: RunCounts) -> bool:
        """Pull what became of CRM records (converted, won, lost, disqualified) since the outcome
        cursor, up to ``until`` (the sync passes the moment its records are done): each batch is
        recorded - its outcomes by their natural key, its API calls and the cursor - in one
        transaction, as a record batch is.

        It never fails the sync: the records are already recorded, and an outcome pull that fails
        (the CRM down, a mapping the CRM refuses, the store unwritable) is logged
        (``outcomes.failed``), counted (``outcome_errors``) and tried again by the next sync from the
        cursor of its last recorded batch. A spent API allocation ends it the same way and is kept
        in :attr:`quota_stop`, so the job runner pauses the connector as it does for a pull. False
        when it did not read to the end."""
        cursor = Cursor(OUTCOMES, self.store.cursor(self.name, OUTCOMES))
        recorded = OutcomeCounts()
        try:
            with closing(iter(self.connector.pull_outcomes(cursor, until=until))) as batches:
                for batch in batches:
                    done = self.store.record_outcomes(self.name, batch.outcomes, cursor=batch.cursor,
                                                      api_calls=self._calls(counts))
                    counts.outcomes += done.recorded
                    recorded = recorded.plus(done)
                    if self.should_stop():
                        counts.interrupted = True
                        return False
            self.record_api_calls(counts)
        except Exception as exc:  # noqa: BLE001 - the records are synced; outcomes wait for the next sync
            counts.outcome_errors += 1
            if isinstance(exc, QuotaExhausted):
                self.quota_stop = exc
            self.log.warning("outcomes.failed", error=f"{type(exc).__name__}: {exc}", **recorded.as_counts(),
                             detail="the records of this sync are recorded; the next sync pulls the outcomes again")
            try:
                self.record_api_calls(counts)
            except Exception:  # noqa: BLE001 - the store itself may be what failed
                pass
            return False
        if recorded.recorded or recorded.withdrawn:
            self.log.info("outcomes.pulled", **recorded.as_counts())
        return True

    def backfill(self, since: datetime | None = None) -> RunCounts:
        """Pull everything (or what changed since ``since``) and score it, writing what changed.

        Resumable: each object type's window is a stored backfill whose position moves with each
        recorded batch; run again after an interruption and it goes on from there. The live
        cursor never moves, except that a full backfill of a connector that never synced hands
        its end position to the live sync, which then starts from there rather than from zero.

        Changes are written in whole calls across batches and object types (:class:`Carried`),
        the rest at the end.
        """
        counts = RunCounts()
        with self._carrying(counts):
            self._backfill(since, counts)
        return counts

    def _backfill(self, since: datetime | None, counts: RunCounts) -> None:
        needs = self.needs() if since is not None else self.wanted()
        since = since.astimezone(timezone.utc) if since is not None else None
        until = self.now()
        for object_type in self.object_types():
            if self.should_stop():
                counts.interrupted = True
                return
            resumed = next(
                (b for b in self.store.backfills(self.name) if b.object_type == object_type and b.since == since), None
            )
            window = self.store.start_backfill(self.name, object_type, since, resumed.until if resumed else until)
            if resumed is not None:
                self.log.info("backfill.resumed", object_type=object_type, backfill_id=window.id, position=window.position)
            start = window.position if window.position is not None else since_cursor(since)
            if not self._pull(Cursor(object_type, start), window.until, needs, counts, self.scoring_time(), backfill_id=window.id):
                return
            self.store.finish_backfill(window.id)
            finished = self.store.backfill(window.id)
            if since is None and self.store.cursor(self.name, object_type) is None and finished and finished.position:
                with self.store.batch(self.name, object_type) as tx:
                    tx.advance(finished.position)
        self.roll_up(self.scoring_time(), counts)
        self._write_carried(counts)  # before the mirror is marked scored in full
        if since is None and not counts.interrupted:
            self._mark_complete(needs)

    def plan(self, since: datetime | None = None) -> Iterator[Desired]:
        """A dry-run backfill: every record a backfill would write, with the values it would send
        and what the record carried before (:meth:`Desired.planned`), touching nothing (no write,
        no mirror, no cursor; the CRM is only read)."""
        counts = RunCounts()
        as_of = self.scoring_time()
        needs = self.wanted()
        for object_type in self.connector.object_types:
            cursor = Cursor(object_type, since_cursor(since))
            with closing(iter(self.connector.pull(cursor, until=self.now(), needs=needs))) as batches:
                for batch in batches:
                    wanted = self.score(batch.leads, group_by_lead(batch.activities), as_of, counts, shadow=False)
                    yield from self.diff(wanted, reread=[RecordKey(lead.object_type, lead.id) for lead in batch.leads])
                    if self.progress is not None:
                        self.progress(len(batch.leads))
                    if self.should_stop():
                        return

    def rescore(self, as_of: datetime | None = None) -> RunCounts:
        """Score the mirror again as of ``as_of`` (now) and write only what changed: how decay
        and a new model version reach the CRM with no CRM read. Unchanged records cost nothing.

        The mirror is read :data:`RESCORE_PAGE` leads at a time, each page with its baseline;
        changes gather until ``write_batch`` of them are waiting, so a night where a few records
        moved costs one write call, not one per page. Then only whole write calls go
        (:class:`Carried`); the rest wait for the next page or the end. A crash loses only
        changes not yet written, which the next rescore finds again."""
        counts = RunCounts()
        as_of = as_of or self.scoring_time()
        page: list[MirroredLead] = []
        with self._carrying(counts):
            for mirrored in self.store.mirror_leads(self.name, baseline=True, page_size=RESCORE_PAGE):
                page.append(mirrored)
                if len(page) >= RESCORE_PAGE:
                    self._carry(self._rescore_page(page, as_of, counts), counts, hold=self.write_batch)
                    page = []
                    if self.should_stop():
                        counts.interrupted = True
                        return counts
            if page:
                self._carry(self._rescore_page(page, as_of, counts), counts, hold=self.write_batch)
            self._write_carried(counts)
        self.store.set_meta(self.name, SCORED_VERSION, self.scorer.version)
        return counts

    def reconcile(self, *, dry_run: bool = False, report: Callable[[Drift], None] | None = None) -> RunCounts:
        """Read the owned fields back from the CRM and rewrite every record whose values there
        differ from what the engine computes now (see :mod:`agent.sync.reconcile`)."""
        return reconcile_pass(self, RunCounts(), dry_run=dry_run, report=report)

    def _rescore_page(self, page: Sequence[MirroredLead], as_of: datetime, counts: RunCounts) -> list[Desired]:
        """A page of the mirror scored and diffed against the baseline its query read along
        (``mirror_leads(baseline=True)``): no second read, and no diff for the leads it shows
        unchanged."""
        keys = [RecordKey(m.lead.object_type, m.lead.id) for m in page]
        known = Baseline({key: m.written for key, m in zip(keys, page) if m.written is not None},
                         {key: m.failure for key, m in zip(keys, page) if m.failure is not None})
        before = counts.scored
        wanted = self.score([m.lead for m in page], MirroredActivities(page), as_of, counts, known=known)
        if self.metrics is not None:
            self.metrics.records(self.name, scored=counts.scored - before)
        if self.progress is not None:
            self.progress(len(page))
        return self.diff(wanted, known=(known, set(keys)))

    def retry_failures(self, counts: RunCounts | None = None, as_of: datetime | None = None) -> RunCounts:
        """Write kept retryable failures again (those whose last attempt is older than
        ``retry_after``, and deferred writes a stopped pass left), each rescored from the mirror as
        of now, so a retry never sends a stale score. A record gone from the mirror is sent as it
        was when it failed. Inside a sync, the retried changes join the sync's carried ones
        (:class:`Carried`): their failures stay kept until the call that carries them."""
        counts = counts if counts is not None else RunCounts()
        as_of = as_of or self.scoring_time()
        cutoff = self.now() - self.retry_after
        with self._carrying(counts):
            self._retry_pages(counts, as_of, cutoff)
        return counts

    def _retry_pages(self, counts: RunCounts, as_of: datetime, cutoff: datetime) -> None:
        seen: set[Any] = set()
        last: Failure | None = None
        while not self.should_stop():
            page = self.store.pending_failures(self.name, limit=self.write_batch, failed_before=cutoff, after=last)
            if not page:
                break
            last = page[-1]  # the next page starts after it: carried failures stay where they were
            failures = [f for f in page if f.key not in seen]
            seen.update(f.key for f in failures)
            fresh: list[Desired] = []
            for failure in failures:
                mirrored = self.store.mirror_lead(self.name, failure.key)
                if mirrored is None:
                    fresh.append(failure.desired)
                    continue
                scored = self.score([mirrored.lead], {mirrored.lead.id: mirrored.activities}, as_of, counts)
                fresh.extend(scored or [failure.desired])
            changes = self.diff(fresh)
            counts.retried += len(changes)
            self._carry(changes, counts, kept=True)


#: Leads a rescore reads and scores at a time. Larger than a write call: numpy's and the
#: store's cost per page is spread over more leads (their changes are carried to whole write
#: calls all the same, :class:`Carried`).
RESCORE_PAGE = 4000

#: At most this many of a record's unusable values are named in its log line.
PROBLEMS_LOGGED = 20


def _shown_problems(lead: Lead) -> list[str]:
    """A record's unusable values for its one log line: field and reason, never the value."""
    shown = [str(p) for p in lead.problems[:PROBLEMS_LOGGED]]
    if len(lead.problems) > PROBLEMS_LOGGED:
        shown.append(f"... and {len(lead.problems) - PROBLEMS_LOGGED} more")
    return shown


def _refused(changes: Sequence[Desired], exc: BaseException) -> list[WriteResult]:
    """A write call refused as a whole for a reason that passes: each change retryable."""
    code = "quota_exhausted" if isinstance(exc, QuotaExhausted) else "transient"
    return [WriteResult(c.record_id, WriteStatus.RETRYABLE, code, str(exc)) for c in changes]


def without_unreadable(batch: PullBatch) -> PullBatch:
    """``batch`` less the records its connector could not read at all, and their activities:
    they are counted ``bad`` and must not reach the mirror, where a rescore would score them
    from nothing. The batch's cursor still moves past them, so they never stop a later sync."""
    gone = {lead.id for lead in batch.leads if lead.unreadable}
    if not gone:
        return batch
    return replace(
        batch,
        leads=[lead for lead in batch.leads if lead.id not in gone],
        activities=[a for a in batch.activities if a.lead_id not in gone],
    )


def since_cursor(since: datetime | None) -> str | None:
    """A cursor value meaning "changed after ``since``": every connector takes an ISO-8601
    instant as a cursor (see :class:`leadscore.agent.core.contract.Cursor`)."""
    if since is None:
        return None
    return since.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# --- dry-run CSV -------------------------------------------------------------------------------

PLAN_COLUMNS = ("connector", "object_type", "record_id", "value", "before", "after")


def write_plan_csv(handle: TextIO, connector: str, planned: Iterable[Desired], *, header: bool = True) -> int:
    """Write a dry run's planned writes as CSV rows, one per value; returns how many rows were written."""
    writer = csv.writer(handle)
    if header:
        writer.writerow(PLAN_COLUMNS)
    rows = 0
    for write in planned:
        for name, before, after in write.planned():
            row = [connector, write.object_type, write.record_id, name, _cell(before), _cell(after)]
            writer.writerow([safe_cell(cell) for cell in row])  # no cell a spreadsheet would run as a formula
            rows += 1
    return rows


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value  # a number stays a number (safe_cell leaves it alone)
    return str(value)
