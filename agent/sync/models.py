"""The models the sync scores with, read from the files the config names and read again when a
file changes: the **champion** (``[predictive] model_file``, written through
``[predictive.hybrid]``) and the live **challenger** (:meth:`PredictiveConfig.challenger_path`),
which only shadow-scores.

A running agent picks up a promotion, a scheduled retrain or a ``leadscore train --out`` at its
next job, with no restart: each job asks :meth:`ModelFiles.refresh`, which compares the files'
size and modification time with what it loaded. A champion file that cannot be read then keeps
the model already loaded (logged), rather than stopping the sync; a challenger that cannot be
read is dropped (logged). The first load is strict: a missing or broken champion is a config
error at start, as before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import structlog

from leadscore.agent.config import AgentConfig
from leadscore.agent.core import extras
from leadscore.agent.core.errors import ConfigError, LeadscoreError
from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.scoring.modelset import ModelSet
from leadscore.agent.sync.values import Scorer

log = structlog.get_logger("leadscore.sync.models")


class ShadowScorer(Protocol):
    """A model that scores leads without writing: the live challenger."""

    @property
    def version(self) -> str: ...

    def scores(self, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime) -> list[float]: ...


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def _load_model(path: Path, needed_for: str) -> Any:
    artifacts = extras.load("leadscore.agent.predictive.artifacts", "predictive", needed_for)
    return artifacts.load_model(path)


def build_scorer(config: AgentConfig) -> Scorer:
    """The rules engine; with ``[predictive] model_file``, the hybrid of rules and that model;
    with ``[[models]]``, the set of models, that one (or the engine) for what none takes."""
    default = _default_scorer(config)
    return ModelSet(default, config.models) if config.models else default


def _default_scorer(config: AgentConfig) -> Scorer:
    engine = ScoringEngine(config.scoring)
    predictive = config.predictive
    if predictive is None or predictive.model_file is None:
        return engine
    hybrid = extras.load("leadscore.agent.predictive.hybrid", "predictive", "predictive.model_file")
    path = Path(predictive.model_file)
    if not path.is_file():
        raise ConfigError(f"predictive.model_file: no such file {path} (train one with `leadscore train`)")
    return hybrid.HybridScorer(engine, _load_model(path, "predictive.model_file"), predictive.hybrid)


def load_shadow(path: Path) -> ShadowScorer:
    challenger = extras.load("leadscore.agent.predictive.challenger", "predictive", "the live challenger")
    return challenger.ShadowModel(_load_model(path, "the live challenger"))  # type: ignore[no-any-return]


@dataclass
class ModelFiles:
    """The champion scorer and the challenger of one config, kept current with their files."""

    config: AgentConfig
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _champion: tuple[int, int] | None = field(default=None, init=False, repr=False)
    _challenger: tuple[int, int] | None = field(default=None, init=False, repr=False)
    _scorer: Scorer | None = field(default=None, init=False, repr=False)
    _shadow: ShadowScorer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._scorer = build_scorer(self.config)  # strict: a broken champion stops the start
        if self.champion_path is not None:
            self._champion = _signature(self.champion_path)
        self._reload_challenger()

    @property
    def champion_path(self) -> Path | None:
        predictive = self.config.predictive
        return Path(predictive.model_file) if predictive is not None and predictive.model_file else None

    @property
    def challenger_path(self) -> Path | None:
        predictive = self.config.predictive
        path = predictive.challenger_path() if predictive is not None else None
        return Path(path) if path else None

    @property
    def scorer(self) -> Scorer:
        assert self._scorer is not None
        return self._scorer

    @property
    def shadow(self) -> ShadowScorer | None:
        return self._shadow

    def refresh(self) -> tuple[Scorer, ShadowScorer | None]:
        """The current champion scorer and challenger, reloaded where their files changed."""
        with self._lock:
            path = self.champion_path
            signature = _signature(path) if path is not None else None
            if path is not None and signature != self._champion:
                try:
                    scorer = build_scorer(self.config)
                except (LeadscoreError, OSError) as exc:
                    log.warning("model.reload_failed", path=str(path), error=str(exc),
                                detail="the sync keeps scoring with the model it had")
                else:
                    log.info("model.reloaded", path=str(path), version=scorer.version, previous=self.scorer.version)
                    self._scorer = scorer
                self._champion = signature
            if self.challenger_path is not None and _signature(self.challenger_path) != self._challenger:
                self._reload_challenger()
            return self.scorer, self._shadow

    def _reload_challenger(self) -> None:
        path = self.challenger_path
        signature = _signature(path) if path is not None else None
        self._challenger = signature
        if path is None or signature is None:
            self._shadow = None
            return
        try:
            self._shadow = load_shadow(path)
        except (LeadscoreError, OSError) as exc:
            log.warning("challenger.unreadable", path=str(path), error=str(exc), detail="no shadow scores until it is replaced")
            self._shadow = None
        else:
            log.info("challenger.loaded", path=str(path), version=self._shadow.version)
