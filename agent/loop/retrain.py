"""The loop's scheduled jobs in ``leadscore run``: retrain a challenger, and check it against the
champion (promoting it when ``[predictive.loop] promote = "auto"`` and it has earned it).

**Retrain** (weekly by default) trains on the state store (:mod:`.training`) the model kind the
config names and saves it as the challenger, unless a challenger is still being tried: one that
started shadow-scoring less than ``challenger_days`` ago is kept, so it has time to meet outcomes
(a retrain every week would otherwise reset every trial before it could conclude). A challenger
replaced is ``retired`` in the model history, with its live figures. A model identical to the
champion, too few outcomes, or inputs the leakage check flags: nothing is saved, and the
history says why. The retrain never touches the champion: only a promotion does.

**Check** (daily by default) compares the two on the outcomes decided since the challenger
started (:mod:`.live`), logs the figures and the verdict, and with ``promote = "auto"`` promotes
a winner (:mod:`.registry`).

One process at a time: both jobs run under a lease (``_loop``) in the state store, like the
connectors' jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import structlog

from leadscore.agent.config import AgentConfig
from leadscore.agent.loop.live import LiveComparison, Verdict, champion_is_probability, live_comparison
from leadscore.agent.loop.registry import ModelSlots, Promotion, promote
from leadscore.agent.loop.training import store_training_set
from leadscore.agent.predictive import training
from leadscore.agent.predictive.artifacts import save_model
from leadscore.agent.predictive.errors import ArtifactError, LeakageError
from leadscore.agent.state import StateStore, new_owner_id

log = structlog.get_logger("leadscore.loop")

LEASE_OWNER_SCOPE = "_loop"


@dataclass(frozen=True)
class RetrainOutcome:
    #: ``trained`` (a new challenger saved), ``kept`` (the challenger on trial stays), ``skipped``
    #: (nothing to save: too few outcomes, leaky inputs, the champion's twin).
    status: str
    message: str
    version: str | None = None
    figures: Mapping[str, Any] = field(default_factory=dict)


def _readable(load: Any) -> Any:
    try:
        return load()
    except ArtifactError as exc:
        log.warning("loop.model_unreadable", error=str(exc))
        return None


def retrain(store: StateStore, config: AgentConfig, *, now: datetime | None = None, replace_challenger: bool = False) -> RetrainOutcome:
    """Train a challenger from the store, unless one is still on trial (see the module docstring)."""
    settings = config.predictive
    slots = ModelSlots.of(settings)
    assert settings is not None
    moment = now or datetime.now(timezone.utc)
    on_trial = _readable(slots.challenger_model)
    if on_trial is not None and not replace_challenger:
        started = store.shadow_started(None, on_trial.version)
        if started is None or moment - started < timedelta(days=settings.loop.challenger_days):
            since = "has not started shadow-scoring yet" if started is None else f"started {started.isoformat()}"
            return RetrainOutcome("kept", f"the challenger {on_trial.version} {since}; it is tried for "
                                          f"{settings.loop.challenger_days:g} days before a retrain replaces it", on_trial.version)
    built = store_training_set(store, list(config.connectors), settings, moment)
    try:
        result = training.train(built.data, settings, holdout=training.HOLDOUT)
    except LeakageError as exc:
        store.record_model_event("refused", "-", detail={"reason": str(exc), "rows": len(built.data)})
        return RetrainOutcome("skipped", f"not trained: {exc}")
    if result.fallback_to_rules:
        return RetrainOutcome("skipped", f"not trained: {result.message}")
    model = result.require_model()
    figures: dict[str, Any] = {"rows": len(built.data), "converted": built.data.positives,
                               **dict(model.info.get("held_out", {}))}
    champion = _readable(slots.champion_model)
    if champion is not None:
        if champion.version == model.version:
            return RetrainOutcome("skipped", f"the new model is the champion {champion.version} again: nothing to try", model.version)
        replacement = training.compare_with_current(result, built.data, champion)
        figures["against_champion"] = replacement.summary()
    if on_trial is not None:
        live = live_comparison(store, list(config.connectors), on_trial.version,
                               champion_is_probability=champion_is_probability(config.predictive))
        store.record_model_event("retired", on_trial.version, detail={"reason": "replaced by a retrain", **live.summary()})
    save_model(model, slots.challenger)
    store.record_model_event("trained", model.version, detail={"challenger_file": str(slots.challenger), **figures})
    return RetrainOutcome("trained", f"{result.message}; saved as the challenger {slots.challenger}", model.version, figures)


@dataclass(frozen=True)
class CheckOutcome:
    comparison: LiveComparison | None
    verdict: Verdict
    promotion: Promotion | None = None


def check(store: StateStore, config: AgentConfig, *, allow_auto: bool = True) -> CheckOutcome:
    """Compare the champion and the challenger live; promote a winner when the config says auto."""
    settings = config.predictive
    slots = ModelSlots.of(settings)
    assert settings is not None
    challenger = _readable(slots.challenger_model)
    if challenger is None:
        return CheckOutcome(None, Verdict(False, f"no challenger ({slots.challenger} does not exist)"))
    live = live_comparison(store, list(config.connectors), challenger.version,
                           champion_is_probability=champion_is_probability(config.predictive))
    verdict = live.verdict(settings.loop)
    promotion = None
    if verdict.promote and allow_auto and settings.loop.promote == "auto":
        promotion = promote(store, slots, by="auto", detail={"verdict": verdict.reason, **live.summary()})
    return CheckOutcome(live, verdict, promotion)


def run_retrain(config: AgentConfig, store: StateStore, owner: str | None = None) -> None:
    """The scheduled retrain: under the loop's lease, logged, never raising (the scheduler's job)."""
    _leased(store, owner, "retrain", lambda: _log_retrain(retrain(store, config)))


def run_check(config: AgentConfig, store: StateStore, owner: str | None = None) -> None:
    """The scheduled check: under the loop's lease, logged, never raising."""
    _leased(store, owner, "check", lambda: _log_check(check(store, config)))


def _log_retrain(outcome: RetrainOutcome) -> None:
    log.info("loop.retrain", status=outcome.status, version=outcome.version, detail=outcome.message,
             auc=outcome.figures.get("auc"), ece=outcome.figures.get("ece"))


def _log_check(outcome: CheckOutcome) -> None:
    summary = outcome.comparison.summary() if outcome.comparison is not None else {}
    log.info("loop.check", promote=outcome.verdict.promote, detail=outcome.verdict.reason, **{
        k: summary.get(k) for k in ("challenger", "champion", "n", "converted", "champion_auc", "challenger_auc")})
    if outcome.promotion is not None:
        log.info("loop.promoted", version=outcome.promotion.version, previous=outcome.promotion.previous_version, by="auto")


def _leased(store: StateStore, owner: str | None, job: str, step: Any) -> None:
    owner = owner or new_owner_id()
    try:
        if not store.acquire_lease(LEASE_OWNER_SCOPE, job, owner, timedelta(minutes=30)):
            log.info("loop.skipped", job=job, reason="another agent runs it")
            return
        try:
            step()
        finally:
            store.release_lease(LEASE_OWNER_SCOPE, job, owner)
    except Exception as exc:  # noqa: BLE001 - a failed retrain or check must not stop the agent's syncs
        log.warning("loop.failed", job=job, error=f"{type(exc).__name__}: {exc}")
