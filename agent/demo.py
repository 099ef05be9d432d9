"""``leadscore demo``: the whole agent on the embedded default, no CRM account needed.

It starts the HubSpot and Salesforce emulators in this process (real HTTP; the real SDKs talk to
them), seeds each with generated leads and their activity, writes a config naming them, then does
what an admin does on day one: ``setup`` (create the score fields), a ``backfill`` into both CRMs,
and a second ``sync``, which must write nothing. The summary is read back from the emulated CRMs,
so what it shows is what landed there.

Then the feedback loop (step 4): the outcomes the second sync pulled, a model trained from the
mirror (both CRMs pooled) and saved as the champion, a second model saved as the challenger, which
shadow-scores at the next syncs (never written), simulated sales decisions pulled by one more sync,
and the store's report of both models on those live outcomes (``report.html``). The config keeps
``[predictive.hybrid] write = "rules"``, so the CRMs keep showing the rules score throughout.

It imports the emulators (the ``[emulators]`` extra): the ``demo`` command loads this module
through :func:`leadscore.agent.core.extras.load`, once it runs. The feedback loop needs the
``[predictive]`` extra and loads its modules the same way: without it, step 4 says so in one line
and the demo still succeeds.
"""

from __future__ import annotations

import random
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Sequence

from rich.console import Console
from rich.table import Table

from leadscore.agent.config import AgentConfig, load_config
from leadscore.agent.core import extras
from leadscore.agent.core.errors import LeadscoreError
from leadscore.agent.core.reasons import points_read
from leadscore.agent.core.records import utc
from leadscore.agent.hints import activation_hint, example_config
from leadscore.agent.logs import configure_logging
from leadscore.agent.sync import Agent, JobOutcome
from leadscore.connectors.hubspot.emulator import HubSpotEmulator
from leadscore.connectors.salesforce.emulator import SalesforceEmulator

HUBSPOT_FIELDS = {"budget": "budget", "authority": "authority", "need": "need", "timeline": "timeline"}


@dataclass
class Written:
    """One record as the CRM now shows it."""

    connector: str
    record_id: str
    name: str
    score: int
    stage: str
    reason: str
    account: bool = False

    @property
    def held(self) -> bool:
        """Held below a stage by a qualification gate (its reason opens ``Held at MQL: ...``)."""
        return self.reason.startswith("Held at ")


def demo_config_text(model: Path, hubspot: Any, salesforce: Any, state: Path, extra: str = "") -> str:
    """The example model with both emulators as connectors (and ``extra``, e.g. the feedback
    loop's ``[predictive]`` table): the admin's ``leadscore.toml``."""
    creds = salesforce.credentials
    text = model.read_text(encoding="utf-8")
    key = creds.private_key_pem.strip()
    return (
        text
        + f"""

# --- written by `leadscore demo`: the local emulators it started (gone once it exits) ---------

[agent]
state_url = "sqlite:///{state.as_posix()}"
metrics_port = 0

[connectors.hubspot]
host = "{hubspot.base_url}"
access_token = "{hubspot.token}"
fields = {{ budget = "budget", authority = "authority", need = "need", timeline = "timeline" }}

[connectors.salesforce]
auth = "jwt"
login_url = "{salesforce.login_url}"
client_id = "{creds.client_id}"
username = "{creds.username}"
lead_fields = {{ budget = "Budget__c", authority = "Authority__c", need = "Need__c", timeline = "Timeline__c" }}
contact_fields = {{ budget = "Budget__c", authority = "Authority__c", need = "Need__c", timeline = "Timeline__c" }}
ca_bundle = "{Path(salesforce.ca_bundle).as_posix()}"
private_key = \"\"\"
{key}
\"\"\"
"""
        + extra
    )


def predictive_table(model_file: Path | None = None) -> str:
    """The demo config's ``[predictive]`` table: the feedback loop's settings (step 4), and the
    champion's file once there is one."""
    champion = f'model_file = "{model_file.as_posix()}"  # the champion: leadscore promote replaces it\n' if model_file else ""
    return f"""
# --- written by `leadscore demo`: the feedback loop (step 4) ------------------------------------
# With a [predictive] table every sync pulls every mapped field, so the mirror's history holds what
# a model may learn from. Sized for the demo: a few thousand generated leads train in seconds.
[predictive]
{champion}min_positives = 20
min_negatives = 20
# Never learned from:
# - who the lead is (names, email, phone, company, city, state, website): identifiers, not signals;
# - title: the generator draws job titles from a short list whatever becomes of the lead, so with few
#   converted rows a title can hold none of them by chance; on the HubSpot emulator alone the leakage
#   check flags it (tests/test_feedback_loop.py excludes it): an artifact of the data, not a signal;
# - the firmographics, BANT, lead source and HubSpot's engagement counts: in the emulated CRMs almost
#   every converted row is a Salesforce one (HubSpot's seeded deals close in the days before the
#   seeding date, inside the horizon the labels wait for), and the two CRMs fill these fields in
#   their own formats (HubSpot's employee buckets and traffic sources, its page-view and email
#   counts), so they tell the CRMs apart rather than a buyer. The leakage check flags every one.
exclude = ["first_name", "last_name", "email", "phone", "company", "city", "state", "website", "title",
           "industry", "employees", "annual_revenue", "lead_source", "budget", "authority", "need", "timeline",
           "email_opens", "email_clicks", "page_views", "visits", "form_submissions"]

[predictive.point_in_time]
strategy = "scoring_times"  # rows at moments each lead would have been scored, not at its outcome
samples_per_lead = 2
horizon_days = 60  # converted within 60 days of the row: the label

[predictive.features]
windows_days = [30.0]
numeric_bins = 4

[predictive.hybrid]
write = "rules"  # the CRM keeps the rules score: what reps see does not change while models are tried

[predictive.loop]
min_outcomes = 20  # a verdict after 20 converted and 20 not (default 30): the demo decides ~120 leads
"""


def run_demo(
    *,
    leads: int,
    seed: int,
    model: Path,
    out_dir: Path,
    console: Console,
    backfill: Callable[[Agent], list[JobOutcome]],
) -> int:
    """Run the demo; returns the exit code (0 when everything landed and the second sync wrote nothing).

    ``backfill`` runs the backfill of each of the agent's connectors (the CLI's, with progress bars).
    """
    configure_logging("console", "warning")  # the summary speaks; the log only for trouble
    # Seeded an hour back: the generated records' modified stamps (made distinct by whole seconds)
    # then all lie before the backfill starts, as in a CRM nobody edits during the demo.
    as_of = datetime.now(timezone.utc) - timedelta(hours=1)
    for leftover in ("state.db", "state.db-wal", "state.db-shm", "report.html"):  # each demo starts afresh
        (out_dir / leftover).unlink(missing_ok=True)
    for leftover in (out_dir / MODELS).glob("champion*"):  # the models of an earlier demo
        leftover.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    hubspot = HubSpotEmulator().start()
    salesforce = SalesforceEmulator().start()
    session = _Session()
    try:
        console.rule(f"leadscore demo: HubSpot and Salesforce emulators, {leads:,} generated leads each")
        # B2B CRMs: people at known companies belong to accounts (HubSpot companies; Salesforce
        # Accounts, whose people are Contacts), which the example's account model scores.
        hubspot.seed(leads, seed=seed, as_of=as_of, accounts=True)
        salesforce.seed(leads, seed=seed, as_of=as_of, accounts=True)
        config_path = out_dir / "leadscore.toml"
        state = (out_dir / "state.db").resolve()
        own_predictive = "predictive" in tomllib.loads(model.read_text(encoding="utf-8"))
        loop_table = "" if own_predictive else predictive_table()
        config_path.write_text(demo_config_text(model, hubspot, salesforce, state, loop_table), encoding="utf-8")
        config = load_config(config_path)
        console.print(f"HubSpot emulator at {hubspot.base_url}; Salesforce emulator at {salesforce.instance_url}", highlight=False)
        console.print(f"config: {config_path} (model {config.scoring.name!r}); state: {out_dir / 'state.db'}", highlight=False)

        agent = session.agent = Agent.open(config)
        console.print("\n[bold]1. setup[/]: create the score fields")
        for name, jobs in agent.jobs.items():
            crm = jobs.connector()
            report = crm.setup(
                config.write_spec(frozenset(crm.write_values), name)
            )
            console.print(f"  {name}: created {', '.join(report.created) or 'nothing'}", highlight=False)

        console.print("\n[bold]2. backfill[/]: pull everything, score, write")
        outcomes = backfill(agent)
        _print_runs(console, outcomes)

        written = _read_back(hubspot, salesforce, agent, config)
        _summary(console, config, written)
        calls = {name: sum(agent.store.status(name).api_calls_today.values()) for name in agent.jobs}
        console.print(
            "API calls used: " + ", ".join(f"{name} {n}" for name, n in calls.items())
            + f" for {leads:,} leads each (reads and writes together)",
            highlight=False,
        )

        console.print(
            "\n[bold]3. sync[/]: nothing changed in the CRMs since, so nothing is written. It still re-reads every "
            "record the backfill wrote: a write moves the record's modified stamp, and the CRM cannot tell the "
            "agent's own writes from a user's edit, so a real org costs the same re-read."
        )
        second: list[JobOutcome] = []
        for jobs in agent.jobs.values():
            second += jobs.run("sync")
        _print_runs(console, second)
        for o in second:
            console.print(f"  {o.connector}: re-read {o.counts.pulled:,} records and checked outcomes with "
                          f"{o.counts.api_calls} calls - "
                          + REREAD_FLOOR.get(o.connector, ""), highlight=False, markup=False)
        rewritten = sum(o.counts.written + o.counts.failed for o in second)
        console.print(
            f"second sync wrote {rewritten} records" + (" - as it should." if rewritten == 0 else " - UNEXPECTED"),
            highlight=False,
        )

        console.print("\n[bold]4. the feedback loop[/]: outcomes arrive, a model is trained from the mirror, a "
                      "challenger shadow-scores, live outcomes compare them")
        if own_predictive:
            console.print(f"  skipped: {model} has its own [predictive] table; the demo's loop writes its own "
                          "(run it with the shipped example)", highlight=False, markup=False)
            looped: list[JobOutcome] = []
            reported = False
        else:
            feedback = _FeedbackLoop(console, session, config_path, out_dir, hubspot, salesforce, seed,
                                     lambda champion: demo_config_text(model, hubspot, salesforce, state, predictive_table(champion)))
            looped = feedback.run()
            reported = feedback.reported
        failed = [o for o in outcomes + second + looped if o.status == "failed"]
        _next_steps(console, config_path, loop=reported)
        return 1 if failed or rewritten else 0
    finally:
        if session.agent is not None:
            session.agent.close()
        hubspot.stop()
        salesforce.stop()


#: Where step 4 saves the champion (and, beside it, the challenger), under the demo's out dir.
MODELS = "models"
#: How many leads the simulated sales team decides in each emulated CRM (step 4).
DECIDED_PER_CRM = 60
#: A decided lead's chance to convert, from its least engaged (fewest activities) to its most.
CONVERT_LOW, CONVERT_HIGH = 0.15, 0.85
NEEDED_FOR = "the demo's feedback loop (step 4)"


@dataclass
class _Session:
    """The demo's agent, which step 4 re-opens on the rewritten config (closed once, at the end)."""

    agent: Agent | None = None


class _Skip(Exception):
    """Step 4 cannot go on (said why already); the demo carries on to its end."""


class _FeedbackLoop:
    """Step 4: outcomes, a champion trained from the mirror, a shadow-scoring challenger, simulated
    sales decisions and the store's report (see the module docstring)."""

    def __init__(self, console: Console, session: _Session, config_path: Path, out_dir: Path, hubspot: Any,
                 salesforce: Any, seed: int, config_text: Callable[[Path], str]) -> None:
        self.console = console
        self.session = session
        self.config_path = config_path
        self.out_dir = out_dir
        self.hubspot = hubspot
        self.salesforce = salesforce
        self.seed = seed
        self.config_text = config_text
        self.jobs: list[JobOutcome] = []
        #: The report was written: the config names a champion and a challenger (``Try next``).
        self.reported = False

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    @property
    def agent(self) -> Agent:
        assert self.session.agent is not None
        return self.session.agent

    def run(self) -> list[JobOutcome]:
        """Every step; the jobs it ran (their failures fail the demo). Missing the ``[predictive]``
        extra, or too few outcomes to train on, ends the step with one line saying why."""
        try:
            loop_training, training, artifacts, report = (
                extras.load(f"leadscore.agent.{name}", "predictive", NEEDED_FOR)
                for name in ("loop.training", "predictive.training", "predictive.artifacts", "loop.report"))
        except extras.MissingExtra as exc:
            self.say(f"  skipped: {exc}")
            return []
        try:
            self.outcomes()
            built, champion = self.champion(loop_training, training, artifacts)
            challenger = self.challenger(built, champion, training, artifacts)
            self.simulate_sales(challenger, loop_training.DECIDED)
            self.report(report)
        except _Skip:
            pass
        return self.jobs

    # --- a. outcomes --------------------------------------------------------------------------

    def outcomes(self) -> None:
        parts = []
        for name in self.agent.jobs:
            counts = self.agent.store.outcome_counts(name)
            parts.append(f"{name} " + (", ".join(f"{kind} {n:,}" for kind, n in sorted(counts.items())) or "none"))
        self.say("  a. outcomes the second sync pulled into the state store: " + "; ".join(parts))

    # --- b. the champion ------------------------------------------------------------------------

    def champion(self, loop_training: ModuleType, training: ModuleType, artifacts: ModuleType) -> tuple[Any, Any]:
        config = self.agent.config
        settings = config.predictive
        assert settings is not None
        built = loop_training.store_training_set(self.agent.store, list(self.agent.jobs), settings, datetime.now(timezone.utc))
        self.say(f"  b. a model trained on the mirror, both CRMs pooled; its rows {built.describe()}")
        model = self._train(training, built, "logistic", "the champion")
        path = (self.out_dir / MODELS / "champion.json").resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        artifacts.save_model(model, path)
        self._record(model, path, built)
        self.say(f"     saved as the champion: {path}")
        return built, model

    def _train(self, training: ModuleType, built: Any, kind: str, role: str) -> Any:
        settings = self.agent.config.predictive
        try:
            result = training.train(built.data, settings, kind=kind, holdout=training.HOLDOUT)
        except LeadscoreError as exc:  # the leakage check refused it
            self.say(f"     {role} was not trained: {exc}")
            self.say("     (the rest of step 4 needs a model)")
            raise _Skip from None
        if result.fallback_to_rules:
            self.say(f"     {role} was not trained: {result.message}")
            self.say("     (the rest of step 4 needs a model: the default --leads 3000 has enough outcomes)")
            raise _Skip
        model = result.require_model()
        validation = result.validation
        q = validation.chosen_quality().quality
        self.say(f"     {role}: {kind} {model.version}, trained on {len(built.data):,} rows; {validation.describe()}")
        self.say(f"     held-out: AUC {q.auc:.3f} (95% CI {q.auc_low:.3f}-{q.auc_high:.3f}), ECE {q.ece:.3f}, "
                 f"lift@10% {q.lift_at_10:.2f}x")
        bands = ", ".join(f"{_share(b.top_from, b.top_to)} {b.conversion_rate:.1%}" for b in q.bands)
        self.say(f"     converted by score band, best first: {bands} (all: {q.base_rate:.1%})")
        return model

    def _record(self, model: Any, path: Path, built: Any) -> None:
        """The model history's ``trained`` event (what the report's history lists)."""
        held = dict(model.info.get("held_out", {}))
        self.agent.store.record_model_event("trained", model.version, detail={
            "file": str(path), "by": "leadscore demo", "rows": len(built.data), "converted": built.data.positives, **held})

    # --- c. the challenger ----------------------------------------------------------------------

    def challenger(self, built: Any, champion: Any, training: ModuleType, artifacts: ModuleType) -> Any:
        champion_path = (self.out_dir / MODELS / "champion.json").resolve()
        self.config_path.write_text(self.config_text(champion_path), encoding="utf-8")
        config = load_config(self.config_path)
        old, self.session.agent = self.session.agent, None
        if old is not None:
            old.close()
        self.session.agent = Agent.open(config)
        self.say(f"  c. {self.config_path} now names the champion ([predictive] model_file); [predictive.hybrid] "
                 'write = "rules" keeps the rules score in the CRMs, so what reps see does not change')
        model = self._train(training, built, "gradient_boosting", "the challenger")
        if model.version == champion.version:
            self.say("     the challenger is the champion again: nothing to try")
            raise _Skip
        settings = config.predictive
        assert settings is not None and settings.challenger_path() is not None
        path = Path(str(settings.challenger_path()))
        artifacts.save_model(model, path)
        self._record(model, path, built)
        self.say(f"     saved as the challenger: {path}; one sync per CRM, which shadow-scores the mirror with it first")
        runs = self._sync()
        store = self.agent.store
        for name in self.agent.jobs:
            shadow = len(store.shadow_score_rows(name, model.version))
            carried = sum(1 for r in store.written_score_rows(name) if model.version in r.model_version)
            written = sum(o.counts.written for o in runs if o.connector == name)
            self.say(f"     {name}: the challenger shadow-scored {shadow:,} records (kept in the state store, never "
                     f"written); CRM writes carrying its scores: {carried} (this sync wrote {written})")
        return model

    def _sync(self) -> list[JobOutcome]:
        runs: list[JobOutcome] = []
        for jobs in self.agent.jobs.values():
            runs += jobs.run("sync")
        _print_runs(self.console, runs)
        self.jobs += runs
        return runs

    # --- d. simulated sales -----------------------------------------------------------------------

    def simulate_sales(self, challenger: Any, decided_kinds: Sequence[Any]) -> None:
        store = self.agent.store
        started = store.shadow_started(None, challenger.version)
        # Every decision must come after the challenger's first score of its CRM, and Salesforce
        # stamps whole seconds: wait out the second of the last CRM's start.
        starts = [store.shadow_started(name, challenger.version) for name in self.agent.jobs]
        latest = max((utc(s) for s in starts if s is not None), default=None)
        if latest is not None:
            wait = (latest + timedelta(seconds=1.05) - datetime.now(timezone.utc)).total_seconds()
            if wait > 0:
                time.sleep(wait)
        self.say(f"  d. SIMULATED sales work: in each CRM, {DECIDED_PER_CRM} undecided leads picked at random are "
                 f"decided, converting with a chance that rises with the lead's activity in the mirror "
                 f"({CONVERT_LOW:.0%} for the least engaged to {CONVERT_HIGH:.0%} for the most), never with a score")
        rng = random.Random(f"leadscore-demo-sales:{self.seed}")
        for name in self.agent.jobs:
            converted, disqualified = self._decide(name, rng)
            self.say(f"     {name}: {converted} {self._how(name, True)}, {disqualified} {self._how(name, False)}")
        runs = self._sync()
        for o in runs:
            pulled = store.outcomes(o.connector, observed_since=started, kinds=decided_kinds) if started else []
            kinds = Counter(row.kind.value for row in pulled)
            self.say(f"     {o.connector}: the sync pulled {len(pulled)} decided outcomes ("
                     + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) + ")")

    def _how(self, name: str, converted: bool) -> str:
        outcomes = self.agent.jobs[name].connector().config.outcomes  # type: ignore[attr-defined]
        if name == "hubspot":
            return (f"made lifecyclestage {outcomes.converted_stages[0]}" if converted
                    else f"set hs_lead_status {outcomes.disqualified_lead_status[0]}")
        return "Leads converted" if converted else f"set Status {outcomes.disqualified_status[0]!r}"

    def _decide(self, name: str, rng: random.Random) -> tuple[int, int]:
        """Decide up to :data:`DECIDED_PER_CRM` undecided leads of ``name`` in its emulator, as a
        sales team would (simulated); how many converted and how many were disqualified."""
        store = self.agent.store
        decided = {o.record_id for o in store.outcomes(name)}
        object_type = "contact" if name == "hubspot" else "lead"
        engagement = {m.lead.id: len(m.activities) for m in store.mirror_leads(name, object_type)
                      if m.lead.id not in decided and not m.lead.unreadable}
        rank = _percentile_ranks(engagement)
        outcomes = self.agent.jobs[name].connector().config.outcomes  # type: ignore[attr-defined]
        converted = disqualified = 0
        for record_id in rng.sample(sorted(engagement), min(DECIDED_PER_CRM, len(engagement))):
            converts = rng.random() < CONVERT_LOW + (CONVERT_HIGH - CONVERT_LOW) * rank[record_id]
            if name == "hubspot":
                change = ({"lifecyclestage": outcomes.converted_stages[0]} if converts
                          else {"hs_lead_status": outcomes.disqualified_lead_status[0]})
                self.hubspot.update_contact(record_id, change)
            elif converts:
                self.salesforce.convert_lead(record_id)
            else:
                self.salesforce.update_record("Lead", record_id, {"Status": outcomes.disqualified_status[0]})
            converted += converts
            disqualified += not converts
        return converted, disqualified

    # --- e. the report --------------------------------------------------------------------------

    def report(self, report: ModuleType) -> None:
        store, config = self.agent.store, self.agent.config
        built = report.build_store_report(store, config, datetime.now(timezone.utc))
        path = self.out_dir / "report.html"
        report.write_html(path, built)
        live = built.live
        if live is None:  # no challenger file: nothing to compare (the report says so)
            self.say(f"  e. {built.verdict.reason}; the report: open {path}")
            return
        self.say(f"  e. live: {live.n} outcomes decided since the challenger started, each with both models' scores "
                 f"from before it ({live.positives} converted)")
        left_out = [f"{n} {why}" for why, n in sorted(live.skipped.items())]
        if left_out:
            self.say("     left out: " + "; ".join(left_out))
        if built.comparison is not None:
            summary = live.summary()
            settings = config.predictive
            written = "champion as written to the CRM" + (
                ": the rules score" if settings is not None and settings.hybrid.write == "rules" else "")
            for side, key, label in ((built.comparison.champion, "champion_auc_95", written),
                                     (built.comparison.challenger, "challenger_auc_95", "challenger, shadow-scored")):
                low, high = summary[key]
                self.say(f"     {label} ({side.version}): AUC {side.evaluation.auc:.3f} (95% CI {low:.3f}-{high:.3f})")
        self.say(f"     verdict ({built.promote_mode}): {'promote' if built.verdict.promote else 'no promotion'} - "
                 f"{built.verdict.reason}")
        self.say(f"     the report, with conversion by band, threshold suggestions and the model history: open {path}")
        self.reported = True


def _share(low: float, high: float) -> str:
    return f"top {high:.0%}" if low == 0 else f"{low * 100:.0f}-{high:.0%}"


def _percentile_ranks(values: dict[str, int]) -> dict[str, float]:
    """Each key's mid-rank of its value among all, from 0 (the least) to 1 (the most)."""
    if not values:
        return {}
    counts = Counter(values.values())
    rank: dict[int, float] = {}
    below, n = 0, len(values)
    for value in sorted(counts):
        rank[value] = (below + (counts[value] - 1) / 2) / max(n - 1, 1)
        below += counts[value]
    return {key: rank[value] for key, value in values.items()}


#: How cheap each CRM's re-read of a written record set can be, as the demo states it.
REREAD_FLOOR = {
    "hubspot": "searches of 200 contacts each, none read twice (keyset on the record id), plus the engagement reads",
    "salesforce": "one query pass in pages of 2,000 records, plus their activity (one query per object per 500)",
}


def _print_runs(console: Console, outcomes: list[JobOutcome]) -> None:
    for o in outcomes:
        c = o.counts
        line = (
            f"  {o.connector} {o.kind}: {o.status}; pulled {c.pulled:,}, scored {c.scored:,}, written {c.written:,}, "
            f"failed {c.failed}, API calls {c.api_calls} in {o.seconds:.1f}s"
        )
        console.print(line + (f" - {o.error}" if o.error else ""), highlight=False, markup=False)


def _read_back(hubspot: Any, salesforce: Any, agent: Agent, config: AgentConfig) -> list[Written]:
    """Every scored record - people and accounts - as the emulated CRM shows it now."""
    rows: list[Written] = []
    hs = agent.jobs["hubspot"].connector().config.write  # type: ignore[attr-defined]
    for mirrored in agent.store.mirror_leads("hubspot"):
        company = mirrored.lead.object_type == "company"
        props = hubspot.company(mirrored.lead.id) if company else hubspot.contact(mirrored.lead.id)
        if props.get(hs.score) in (None, ""):
            continue
        name = props.get("name") or "" if company else f"{props.get('firstname') or ''} {props.get('lastname') or ''}".strip()
        rows.append(Written("hubspot", mirrored.lead.id, name, int(float(props[hs.score])), props.get(hs.stage) or "",
                            props.get(hs.reason) or "", company))
    sf = agent.jobs["salesforce"].connector().config.write  # type: ignore[attr-defined]
    for mirrored in agent.store.mirror_leads("salesforce"):
        sobject = {"lead": "Lead", "contact": "Contact", "account": "Account"}[mirrored.lead.object_type]
        values = salesforce.record(sobject, mirrored.lead.id)
        if values.get(sf.score) is None:
            continue
        name = values.get("Name") or "" if sobject == "Account" else f"{values.get('FirstName') or ''} {values.get('LastName') or ''}".strip()
        rows.append(Written("salesforce", mirrored.lead.id, name, int(float(values[sf.score])), values.get(sf.stage) or "",
                            values.get(sf.reason) or "", sobject == "Account"))
    return rows


def _summary(console: Console, config: AgentConfig, written: list[Written]) -> None:
    people = [w for w in written if not w.account]
    accounts = [w for w in written if w.account]
    _distribution(console, "People by stage, read back from the CRMs", config.scoring.stages, people)
    held = {name: sum(w.held for w in people if w.connector == name) for name in ("hubspot", "salesforce")}
    console.print("held at MQL by BANT (the SQL score, a criterion missing; the reason says which): "
                  + ", ".join(f"{name} {n:,}" for name, n in held.items()), highlight=False, soft_wrap=True)
    top = Table(title="Top leads and two held at MQL, with the reason a rep sees", title_justify="left")
    for column in ("CRM", "record", "name", "score", "stage", "reason"):
        top.add_column(column, overflow="fold")
    shown = sorted(people, key=lambda w: (-w.score, w.connector, w.record_id))[:8]
    shown += [w for w in sorted(people, key=lambda w: (-w.score, w.connector, w.record_id)) if w.held and w not in shown][:2]
    for w in shown:
        top.add_row(w.connector, w.record_id, w.name, str(w.score), w.stage, w.reason)
    console.print(top)
    if accounts:
        models = [m for m in config.models if m.applies_to == "accounts"]
        _distribution(console, "Accounts by stage (companies, Accounts)",
                      [s for m in models for s in m.stages], accounts)
        best = Table(title="Top accounts: their own fit and what their people do", title_justify="left")
        for column in ("CRM", "account", "name", "score", "stage", "reason"):
            best.add_column(column, overflow="fold")
        for name in ("hubspot", "salesforce"):
            for w in sorted((w for w in accounts if w.connector == name), key=lambda w: (-w.score, w.record_id))[:3]:
                best.add_row(w.connector, w.record_id, w.name, str(w.score), w.stage, w.reason)
        console.print(best)
    adding = sum(points_read(w.reason) == w.score for w in written)
    console.print(f"reasons whose points add up to the score written beside them: {adding:,} of {len(written):,}",
                  highlight=False, soft_wrap=True)


def _distribution(console: Console, title: str, stages: Sequence[Any], written: list[Written]) -> None:
    names = list(dict.fromkeys(s.name for s in reversed(list(stages))))
    by = {name: Counter(w.stage for w in written if w.connector == name) for name in ("hubspot", "salesforce")}
    dist = Table(title=title, title_justify="left")
    dist.add_column("stage")
    for name in by:
        dist.add_column(name, justify="right")
        dist.add_column("share", justify="right")
    for stage in names:
        row = [stage]
        for counts in by.values():
            total = sum(counts.values()) or 1
            row += [f"{counts[stage]:,}", f"{counts[stage] / total:.1%}"]
        dist.add_row(*row)
    console.print(dist)


def _next_steps(console: Console, config_path: Path, *, loop: bool = False) -> None:
    activate = activation_hint()
    console.print("\n[bold]Try next[/]" + (f" (activate the environment first: {activate})" if activate else ""))
    looped = (
        f"leadscore report --config {config_path}                 # the champion against the challenger on live outcomes",
        f"leadscore promote --config {config_path}                # the challenger becomes the champion (model_file)",
    ) if loop else ()
    for line in (
        f"leadscore status --config {config_path}                 # runs, cursors, mirror, API calls used today",
        f"cp {config_path} new.toml   # change a rule's points, then:",
        f"leadscore preview --config new.toml --current {config_path}   # stage shifts and biggest movers, writes nothing",
        *looped,
        "leadscore emulator hubspot --contacts 500          # a HubSpot emulator to point your own config at",
        "leadscore demo --offline                            # score a generated CSV export without any CRM",
        f"cp {example_config()} leadscore.toml   # then add [connectors.hubspot] or [connectors.salesforce] (README)",
    ):
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
