"""An agent process's working parts, built from the config: the state store, the models, and one
:class:`~agent.sync.jobs.ConnectorJobs` per configured connector."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from leadscore.agent.config import AgentConfig
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.state import StateStore, new_owner_id
from leadscore.agent.sync.jobs import ConnectorJobs
from leadscore.agent.sync.models import ModelFiles
from leadscore.agent.sync.values import Scorer

if TYPE_CHECKING:
    from leadscore.agent.metrics import HealthState, Metrics


def open_store(config: AgentConfig) -> StateStore:
    return StateStore.open(config.agent.state_url)


@dataclass
class Agent:
    config: AgentConfig
    store: StateStore
    scorer: Scorer
    jobs: dict[str, ConnectorJobs]
    models: ModelFiles | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    metrics: Metrics | None = None
    health: HealthState | None = None

    @classmethod
    def open(
        cls,
        config: AgentConfig,
        *,
        only: Sequence[str] | None = None,
        metrics: Metrics | None = None,
        health: HealthState | None = None,
        stop: threading.Event | None = None,
    ) -> Agent:
        """Build the agent for the configured connectors (or ``only`` these). Connectors are not
        contacted here: each is built at its first job."""
        names = list(config.connectors)
        if not names:
            raise ConfigError("connectors: no [connectors.NAME] table: nothing to sync (see config.example.toml)")
        if only:
            unknown = [n for n in only if n not in config.connectors]
            if unknown:
                raise ConfigError(
                    f"--connector: no [connectors.{unknown[0]}] table (configured: {', '.join(names)})"
                )
            names = [n for n in names if n in only]
        models = ModelFiles(config)
        scorer = models.scorer
        stop = stop or threading.Event()
        store = open_store(config)
        owner = new_owner_id()
        jobs = {
            name: ConnectorJobs(
                name,
                config.connectors[name],
                store,
                scorer,
                config.agent,
                reason_budget=config.scoring.reason_max_length,
                metrics=metrics,
                health=health,
                stop=stop,
                owner=owner,
                models=models,
                learns=config.predictive is not None,
            )
            for name in names
        }
        return cls(config, store, scorer, jobs, models, stop, metrics, health)

    @contextmanager
    def stopped_by_signals(self, notify: Callable[[str], None]) -> Iterator[None]:
        """While in the block, SIGTERM and SIGINT set :attr:`stop` (jobs then finish the batch in
        flight, record it and return) and are told to ``notify`` by name; the previous handlers
        come back after. Signals reach only the main thread: elsewhere this does nothing."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            notify(signal.Signals(signum).name)
            self.stop.set()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def close(self) -> None:
        for jobs in self.jobs.values():
            try:
                jobs.close()
            except Exception:  # noqa: BLE001 - closing must not hide the run's own outcome
                pass
        self.store.close()
