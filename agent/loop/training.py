"""Training sets from the state store: each mirrored lead as it looked when it would have been
scored, labelled by the outcomes the connectors pulled (see
:mod:`leadscore.agent.predictive.pointintime` for the rows, labels and censoring).

Every configured connector's leads are pooled into one set (a model serves every connector the
config names); with more than one connector a row's lead id is ``connector:record id``, so two
CRMs' ids never merge.

**Deals are left out of store-trained models.** The point-in-time builder can give each row the
deals known at its instant, but the sync scores a lead from its record and activities only: a
model that learned from deal counts would score every lead in production as if it had none. So
training from the store passes no deal data (``deals=[]``: no deal input is built), and training
and scoring see the same inputs. A CSV import path that carries deals keeps them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator, Sequence, TypeVar

import numpy as np

from leadscore.agent.core.records import OutcomeKind, utc
from leadscore.agent.predictive.config import PredictiveConfig
from leadscore.agent.predictive.dataset import TrainingSet
from leadscore.agent.predictive.pointintime import build_point_in_time_set
from leadscore.agent.state import StateStore

#: The outcome kinds that are labels (``open`` decides nothing).
DECIDED = tuple(kind for kind in OutcomeKind if kind is not OutcomeKind.OPEN)

T = TypeVar("T")


@dataclass(frozen=True)
class StoreTrainingSet:
    """A training set read from the store, and what it was read from."""

    data: TrainingSet
    connectors: tuple[str, ...]
    #: Mirrored leads read, and decided outcomes read, per connector.
    leads: dict[str, int]
    outcomes: dict[str, int]
    as_of: datetime

    def describe(self) -> str:
        parts = [f"{name}: {self.leads[name]:,} leads, {self.outcomes[name]:,} decided outcomes" for name in self.connectors]
        return (f"from the state store as of {self.as_of.isoformat()} ({'; '.join(parts)}): {len(self.data):,} "
                f"point-in-time rows, {self.data.positives:,} converted within the horizon")


def _counting(items: Iterable[T], counts: Counter[str], key: str) -> Iterator[T]:
    """``items``, counted into ``counts[key]`` as the builder consumes them (the histories are
    paged from the store, never all in memory)."""
    for item in items:
        counts[key] += 1
        yield item


def store_training_set(
    store: StateStore, connectors: Sequence[str], settings: PredictiveConfig, as_of: datetime
) -> StoreTrainingSet:
    """The point-in-time training set of ``connectors``' mirrored leads and decided outcomes,
    as of ``as_of`` (nothing later is used), per ``settings.point_in_time``."""
    as_of = utc(as_of)
    names = tuple(dict.fromkeys(connectors))
    parts: list[TrainingSet] = []
    leads: dict[str, int] = {}
    seen: Counter[str] = Counter()
    outcome_counts: dict[str, int] = {}
    for name in names:
        outcomes = [row.outcome() for row in store.outcomes(name, kinds=DECIDED)]
        outcome_counts[name] = len(outcomes)
        histories = _counting(store.lead_history(name), seen, name)
        part = build_point_in_time_set(histories, outcomes, as_of, settings.point_in_time, deals=[],
                                       gap_days=settings.gap_days, seed=settings.random_state)
        leads[name] = seen[name]
        parts.append(_prefixed(part, name) if len(names) > 1 else part)
    return StoreTrainingSet(concatenate(parts), names, leads, outcome_counts, as_of)


def _prefixed(data: TrainingSet, connector: str) -> TrainingSet:
    return TrainingSet(tuple(f"{connector}:{i}" for i in data.lead_ids), data.snapshots, data.y, data.order_at,
                       data.always_excluded, tuple(f"{connector}: {note}" for note in data.notes))


def concatenate(parts: Sequence[TrainingSet]) -> TrainingSet:
    """One set of several (rows in order; time-ordered only when every part is)."""
    if len(parts) == 1:
        return parts[0]
    timed = all(p.order_at is not None for p in parts)
    notes: Counter[str] = Counter()
    for part in parts:
        notes.update(dict.fromkeys(part.notes, 1))
    return TrainingSet(
        lead_ids=tuple(i for p in parts for i in p.lead_ids),
        snapshots=tuple(s for p in parts for s in p.snapshots),
        y=np.concatenate([p.y for p in parts]) if parts else np.zeros(0, dtype=np.int8),
        order_at=np.concatenate([p.order_at for p in parts if p.order_at is not None]) if timed and parts else None,
        always_excluded=frozenset().union(*(p.always_excluded for p in parts)) if parts else frozenset(),
        notes=tuple(notes),
    )
