"""The live challenger's shadow scores and the history of models.

**Shadow scores.** A challenger scores the records the sync scores, at the same instants, and its
scores land here, never in a write: one row each time a record's shadow score changes (as
``score_history`` keeps the written ones), so "what did each model say about this lead just
before it converted" is one lookup per side. A record's first row for a version is when that
version started shadowing it; the earliest row of the version is when it started challenging.

**Model history.** One row per event - ``trained``, ``challenging`` (started shadow-scoring),
``promoted`` (by hand or automatically: ``detail.by``), ``retired`` (replaced without winning),
``refused`` (a retrain worse than the champion, not saved) - with the figures that decided it, so
"which model scored this lead, and why was it put in production" has an answer in the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import sqlalchemy as sa

from leadscore.agent.core.records import utc
from leadscore.agent.state.base import StoreBase
from leadscore.agent.state.schema import model_history, score_history, shadow_scores
from leadscore.agent.state.sql import chunks


class ShadowScore(NamedTuple):
    """A score of one record at one instant (a challenger's, or the written one)."""

    object_type: str
    record_id: str
    at: datetime
    score: float
    model_version: str


@dataclass(frozen=True, slots=True)
class ModelEvent:
    at: datetime
    event: str
    model_version: str
    previous_version: str | None
    detail: Mapping[str, Any]


class Models(StoreBase):
    """Recording and reading shadow scores and model events."""

    def record_shadow_scores(
        self, connector: str, model_version: str, scores: Iterable[tuple[str, str, float]], at: datetime
    ) -> int:
        """Record ``(object type, record id, score)`` as ``model_version``'s scores at ``at``,
        keeping only those that differ from the record's latest shadow score of that version;
        how many were new."""
        rows = list(scores)
        if not rows:
            return 0
        t = shadow_scores
        when = utc(at)
        with self._transaction(f"record the {connector} shadow scores") as conn:
            latest: dict[tuple[str, str], float] = {}
            by_type: dict[str, list[str]] = {}
            for object_type, record_id, _ in rows:
                by_type.setdefault(object_type, []).append(record_id)
            for object_type, ids in by_type.items():
                for part in chunks(ids):
                    query = (sa.select(t.c.record_id, t.c.score)
                             .where(t.c.model_version == model_version, t.c.connector == connector,
                                    t.c.object_type == object_type, t.c.record_id.in_(part))
                             .order_by(t.c.record_id, t.c.at, t.c.id))
                    for row in conn.execute(query):
                        latest[(object_type, row.record_id)] = float(row.score)
            new = [
                {"connector": connector, "object_type": object_type, "record_id": record_id,
                 "model_version": model_version, "at": when, "score": float(score)}
                for object_type, record_id, score in rows
                if latest.get((object_type, record_id)) != float(score)
            ]
            if new:
                conn.execute(sa.insert(t), new)
        return len(new)

    def shadow_started(self, connector: str | None, model_version: str) -> datetime | None:
        """When ``model_version`` first shadow-scored a record (of ``connector``, or any)."""
        t = shadow_scores
        where = [t.c.model_version == model_version]
        if connector is not None:
            where.append(t.c.connector == connector)
        with self._transaction("read the challenger's start", read=True) as conn:
            return conn.execute(sa.select(sa.func.min(t.c.at)).where(*where)).scalar()

    def shadow_score_rows(self, connector: str, model_version: str, record_ids: Iterable[str] | None = None) -> list[ShadowScore]:
        """``model_version``'s shadow scores of ``connector``'s records (of ``record_ids`` when
        given), by record then time."""
        t = shadow_scores
        base = sa.select(t).where(t.c.model_version == model_version, t.c.connector == connector)
        return self._score_rows(base, t, record_ids, "read shadow scores")

    def written_score_rows(self, connector: str, record_ids: Iterable[str] | None = None) -> list[ShadowScore]:
        """The written scores (``score_history``) of ``connector``'s records, by record then time."""
        t = score_history
        return self._score_rows(sa.select(t).where(t.c.connector == connector), t, record_ids, "read score history")

    def _score_rows(self, base: Any, t: sa.Table, record_ids: Iterable[str] | None, action: str) -> list[ShadowScore]:
        queries = [base] if record_ids is None else [base.where(t.c.record_id.in_(part)) for part in chunks(sorted(set(record_ids)))]
        out: list[ShadowScore] = []
        with self._transaction(action, read=True) as conn:
            for query in queries:
                for r in conn.execute(query.order_by(t.c.object_type, t.c.record_id, t.c.at, t.c.id)):
                    out.append(ShadowScore(r.object_type, r.record_id, r.at, float(r.score), r.model_version))
        return out

    def record_model_event(
        self, event: str, model_version: str, *, previous_version: str | None = None, detail: Mapping[str, Any] | None = None
    ) -> None:
        with self._transaction(f"record the model event {event}") as conn:
            conn.execute(sa.insert(model_history).values(at=self.now(), event=event, model_version=model_version,
                                                         previous_version=previous_version, detail=dict(detail or {})))

    def model_events(self, model_version: str | None = None, *, event: str | None = None) -> list[ModelEvent]:
        """Model events, oldest first (of one version, or one kind, when given)."""
        t = model_history
        query = sa.select(t)
        if model_version is not None:
            query = query.where(t.c.model_version == model_version)
        if event is not None:
            query = query.where(t.c.event == event)
        with self._transaction("read the model history", read=True) as conn:
            rows = list(conn.execute(query.order_by(t.c.at, t.c.id)))
        return [ModelEvent(r.at, r.event, r.model_version, r.previous_version, dict(r.detail or {})) for r in rows]


def latest_before(rows: Sequence[ShadowScore], at: datetime) -> ShadowScore | None:
    """The last of one record's rows (time-ordered) strictly before ``at``."""
    found = None
    limit = utc(at)
    for row in rows:
        if utc(row.at) >= limit:
            break
        found = row
    return found
