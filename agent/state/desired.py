"""The values one record should carry: the diff's input and output, what a write sends, what a
kept failure remembers, what a dry run lists.

:class:`Desired` is the agent's one type for "values to write". The pipeline makes one per scored
record with every configured value; the diff (:func:`leadscore.agent.sync.diff.plan_writes`)
hands back those to write, each narrowed to the values to send (``send``) and carrying what the
record held before (``previous``); a write sends its :attr:`~Desired.update`, the connector
contract's :class:`~leadscore.agent.core.contract.ScoreUpdate`. Frozen, so a value handed out
cannot change behind the store's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, NamedTuple

from leadscore.agent.core.contract import ScoreUpdate
from leadscore.agent.core.records import ObjectType, ScoreLine, ScoreResult


class RecordKey(NamedTuple):
    """One CRM record within a connector. A NamedTuple: the diff and the store build and hash
    several per record, a million times a night."""

    object_type: ObjectType
    record_id: str


#: Where stored values (last written, kept failures) keep the own fields of the model that wrote
#: them (``Desired.fields``): a value is the same write only to the same field.
FIELDS_KEY = "@fields"


def split_fields(stored: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str] | None]:
    """Stored values as the values and the own fields they went to (None: the ``write`` map)."""
    values = dict(stored)
    fields = values.pop(FIELDS_KEY, None)
    return values, (dict(fields) if isinstance(fields, Mapping) else None)


@dataclass(frozen=True, slots=True)
class Desired:
    """What one record should carry now: every value the connector is configured to write, and
    the score behind them (for the history, which keeps score and stage even when only the reason
    is written) - and, once diffed, which of those values to send."""

    object_type: ObjectType
    record_id: str
    values: Mapping[str, Any]
    score: int
    stage: str
    model_version: str
    reason: str | None = None
    #: The values to send when only some are (the changed ones, and the volatile ones riding
    #: along); None: all of :attr:`values`. For a kept failure: what the failed write sent.
    send: Mapping[str, Any] | None = None
    #: What the record carried before, as last written by leadscore (or as read back from the
    #: CRM by a reconcile); None: not known, never written.
    previous: Mapping[str, Any] | None = None
    #: The CRM field of each value when the record's model has its own fields; None: the
    #: connector's ``write`` map.
    fields: Mapping[str, str] | None = None

    @property
    def key(self) -> RecordKey:
        return RecordKey(self.object_type, self.record_id)

    @property
    def outgoing(self) -> Mapping[str, Any]:
        """The values a write of this record sends."""
        return self.values if self.send is None else self.send

    @property
    def update(self) -> ScoreUpdate:
        """The write, as the connector contract takes it."""
        return ScoreUpdate(self.record_id, self.object_type, self.outgoing, self.fields)

    def stored(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``values`` (default: all of them) as the store keeps them: with the own fields they go to."""
        kept = dict(self.values if values is None else values)
        return kept | {FIELDS_KEY: dict(self.fields)} if self.fields else kept

    def planned(self) -> Iterator[tuple[str, Any, Any]]:
        """Each value a write would change: name, value before (None: not known) and after."""
        before = self.previous or {}
        for name, after in self.outgoing.items():
            yield name, before.get(name), after

    @classmethod
    def from_result(
        cls, result: ScoreResult | ScoreLine, object_type: ObjectType, values: Mapping[str, Any], reason: str | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> Desired:
        """The desired state of ``result``'s record; ``values`` are the configured write values
        (the pipeline maps the result onto the connector's write map); ``reason``: the line
        kept in the history (default: a line's own, a result's at 255 characters)."""
        if reason is None:
            reason = result.reason if isinstance(result, ScoreLine) else result.reason()
        return cls(object_type, result.lead_id, dict(values), result.score, result.stage, result.model_version, reason,
                   fields=dict(fields) if fields else None)
