"""Where the champion and the challenger live, and promotion.

The config names the files: the champion is ``[predictive] model_file`` (what the sync scores and
writes with, through ``[predictive.hybrid]``), the challenger ``[predictive.loop] challenger_file``
(default beside it, ``<stem>.challenger.json``). Files, not rows, because an admin can read, diff,
copy and version them, and because ``leadscore score --model`` and ``report --model`` take them.

**Promotion** saves the challenger as the champion file (renamed into place, so a running agent
reloads the old model or the new one, never half), keeps the champion it replaces as
``<stem>.previous.json`` (promote that back by copying it over the challenger file), removes the
challenger file, and records a ``promoted`` event with who promoted it (``manual`` or ``auto``) and
the live figures. A running agent reloads the champion at its next job; the version change makes
its next sync rescore every mirrored record, and each record whose score or stage moves gets a
score history row carrying the new model version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from leadscore.agent.core.errors import ConfigError
from leadscore.agent.predictive.artifacts import load_model, save_model
from leadscore.agent.predictive.config import PredictiveConfig
from leadscore.agent.predictive.predictor import PredictiveModel
from leadscore.agent.state import StateStore


@dataclass(frozen=True)
class ModelSlots:
    champion: Path
    challenger: Path

    @classmethod
    def of(cls, settings: PredictiveConfig | None) -> ModelSlots:
        if settings is None or not settings.model_file:
            raise ConfigError("predictive.model_file: the champion's file is needed for a challenger and its promotion")
        challenger = settings.challenger_path()
        assert challenger is not None
        return cls(Path(settings.model_file), Path(challenger))

    @property
    def previous(self) -> Path:
        name = self.champion.name[:-5] if self.champion.name.endswith(".json") else self.champion.name
        return self.champion.with_name(f"{name}.previous.json")

    def champion_model(self) -> PredictiveModel | None:
        return load_model(self.champion) if self.champion.is_file() else None

    def challenger_model(self) -> PredictiveModel | None:
        return load_model(self.challenger) if self.challenger.is_file() else None


@dataclass(frozen=True)
class Promotion:
    version: str
    previous_version: str | None
    champion: Path
    previous: Path | None


def promote(store: StateStore, slots: ModelSlots, *, by: str, detail: Mapping[str, Any] | None = None) -> Promotion:
    """Make the challenger the champion (see the module docstring)."""
    challenger = slots.challenger_model()
    if challenger is None:
        raise ConfigError(f"no challenger to promote: {slots.challenger} does not exist (the scheduled retrain, or "
                          f"`leadscore train --out {slots.challenger}`, makes one)")
    current = slots.champion_model()
    previous_path = None
    if current is not None:
        previous_path = slots.previous
        save_model(current, previous_path)
    slots.champion.parent.mkdir(parents=True, exist_ok=True)
    save_model(challenger, slots.champion)
    for stale in (slots.challenger, slots.challenger.with_suffix(".npz")):
        stale.unlink(missing_ok=True)
    store.record_model_event("promoted", challenger.version, previous_version=current.version if current else None,
                             detail={"by": by, "champion_file": str(slots.champion), **dict(detail or {})})
    return Promotion(challenger.version, current.version if current else None, slots.champion, previous_path)
