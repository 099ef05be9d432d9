"""``leadscore report`` from the state store: the models in place, the champion against the live
challenger on outcomes decided since it started (with 95% intervals), conversion by band of the
written score, suggested stage thresholds, and the model history - as data
(:class:`StoreReport`, printed by the CLI) and as one self-contained HTML page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Sequence

from markupsafe import Markup

from leadscore.agent.config import AgentConfig
from leadscore.agent.loop.live import (
    LiveComparison,
    Thresholds,
    Verdict,
    champion_is_probability,
    live_comparison,
    scores_before_outcomes,
    suggest_thresholds,
)
from leadscore.agent.loop.registry import ModelSlots
from leadscore.agent.predictive import plots
from leadscore.agent.predictive.challenger import ChallengerComparison
from leadscore.agent.predictive.errors import ArtifactError
from leadscore.agent.predictive.report.html import template_environment
from leadscore.agent.state import ModelEvent, StateStore


@dataclass(frozen=True)
class ModelSlot:
    role: str
    path: str
    version: str | None
    #: Held-out figures recorded when it was trained (``held_out`` in its info), or why it is absent.
    held_out: dict[str, object]
    note: str = ""


@dataclass(frozen=True)
class StoreReport:
    generated_at: datetime
    connectors: tuple[str, ...]
    slots: tuple[ModelSlot, ...]
    live: LiveComparison | None
    comparison: ChallengerComparison | None
    verdict: Verdict
    promote_mode: str
    thresholds: Thresholds
    thresholds_toml: str
    events: tuple[ModelEvent, ...]
    #: What the live "champion" is: the score the CRM shows, which the hybrid's ``write`` decides.
    champion_meaning: str = ""
    #: The named people models' (``[[models]]``) own bands and thresholds, each on the outcomes
    #: of the records it scored: ``(name, thresholds, [[models.stages]] to paste)``.
    per_model: tuple[tuple[str, Thresholds, str], ...] = ()


def _slot(role: str, path: Path, load: object) -> tuple[ModelSlot, object]:
    if not path.is_file():
        return ModelSlot(role, str(path), None, {}, "none yet"), None
    try:
        model = load()  # type: ignore[operator]
    except ArtifactError as exc:
        return ModelSlot(role, str(path), None, {}, f"unreadable: {exc}"), None
    return ModelSlot(role, str(path), model.version, dict(model.info.get("held_out", {}))), model


def build_store_report(store: StateStore, config: AgentConfig, now: datetime, *, min_band_count: int | None = None) -> StoreReport:
    settings = config.predictive
    slots = ModelSlots.of(settings)
    assert settings is not None
    connectors = tuple(config.connectors)
    champion_slot, _ = _slot("champion", slots.champion, slots.champion_model)
    challenger_slot, challenger = _slot("challenger", slots.challenger, slots.challenger_model)
    live = comparison = None
    verdict = Verdict(False, f"no challenger ({slots.challenger} does not exist)")
    if challenger is not None:
        live = live_comparison(store, list(connectors), challenger.version,  # type: ignore[attr-defined]
                               champion_is_probability=champion_is_probability(settings))
        comparison = live.comparison()
        verdict = live.verdict(settings.loop)
    least = min_band_count or settings.loop.min_outcomes
    y, scores = scores_before_outcomes(store, list(connectors))
    thresholds = suggest_thresholds(y, scores, config.scoring.stages, least)
    per_model = []
    for named in (m for m in config.models if m.applies_to == "people"):
        my, ms = scores_before_outcomes(store, list(connectors), named.name)
        found = suggest_thresholds(my, ms, named.stages, least)
        per_model.append((named.name, found, found.toml(named.stages, "models.stages")))
    write = settings.hybrid.write
    meaning = {
        "rules": 'the live champion is the score the CRM shows: with [predictive.hybrid] write = "rules" that is the '
                 "rules score, not the champion model file (which is loaded but not written)",
        "predictive": 'the live champion is the score the CRM shows: the champion model\'s (write = "predictive")',
        "blend": 'the live champion is the score the CRM shows: the blend of the rules and the champion model (write = "blend")',
    }[write]
    return StoreReport(now, connectors, (champion_slot, challenger_slot), live, comparison, verdict, settings.loop.promote,
                       thresholds, thresholds.toml(config.scoring.stages), tuple(store.model_events()), meaning,
                       tuple(per_model))


# --- the page ----------------------------------------------------------------------------------


_ENV = template_environment(__package__)


def render_html(report: StoreReport) -> str:
    figures: dict[str, Markup] = {}
    c = report.comparison
    if c is not None and report.live is not None:
        figures["live"] = Markup(plots.champion_challenger(
            "live", ("champion", "challenger"), c.champion.scores, c.challenger.scores, report.live.y,
            [("champion", "champion", c.champion.gains), ("challenger", "challenger", c.challenger.gains)]))
    if report.thresholds.n:
        figures["bands"] = Markup(plots.conversion_by_band(
            "bands", [("champion", "Written score before the outcome", report.thresholds.bands)], report.thresholds.base_rate))
    return _ENV.get_template("report.html.j2").render(report=report, figures=figures)


def write_html(path: Path, report: StoreReport) -> Path:
    path.write_text(render_html(report), encoding="utf-8")
    return path


def interval(values: Sequence[float] | None) -> str:
    if not values or any(v is None or v != v for v in values):
        return "n/a"
    return f"{values[0]:.3f}-{values[1]:.3f}"


_ENV.filters.update(interval=interval)
