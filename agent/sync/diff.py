"""The diff: which records to write, and which of their values, from what each should carry now
and what it last carried - one pure function, :func:`plan_writes`, under one policy,
:class:`DiffPolicy`.

The state store only loads the baseline (:meth:`StateStore.baseline`: last written values and
kept failures) and records what was written; every decision about what makes a change is here,
with no I/O, so it is tested on its own (``tests/test_diff.py``). Reconcile compares the values
it reads back from the CRM under the same policy (:meth:`DiffPolicy.crm_holds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Collection, Iterable, Mapping

from leadscore.agent.core.contract import WriteStatus
from leadscore.agent.state import Baseline, Desired, RecordKey, canonical_json
from leadscore.agent.state.canonical import stored_json
from leadscore.agent.state.desired import FIELDS_KEY, split_fields

#: Types whose values are equal exactly when their canonical JSON texts are.
_PLAIN = frozenset({str, int, bool, type(None)})
_DIGITS = "0123456789"


def reason_substance(reason: Any) -> Any:
    """A reason without its activity ages ("(3d ago)", "(x3, last today)"): what makes it a
    different reason. Ages move every day for every lead with activity; rewriting them all
    nightly would spend the API quota on nothing a rep acts on, so they are refreshed only with a
    real change.

    Each "today" or "<digits>d ago" just before a ")" goes. Done by splitting on ")" rather than
    with a regular expression, which cost 9 us a line: with two lines a record, that was a tenth
    of a nightly rescore."""
    if reason.__class__ is not str or ")" not in reason:
        return reason
    pieces = reason.split(")")
    last = len(pieces) - 1
    return ")".join([_unaged(piece) if i < last else piece for i, piece in enumerate(pieces)])


def same_reason(one: str, other: str) -> bool:
    """``reason_substance(one) == reason_substance(other)``, without building either: the two
    lines split on ")" piece for piece, only the pieces that differ stripped of their ages (the
    diff asks this of every record a rescore scores, and most differ only by an age or two)."""
    if one == other:
        return True
    pieces, others = one.split(")"), other.split(")")
    if len(pieces) != len(others):  # ages never hold a ")": the substances differ
        return False
    last = len(pieces) - 1
    for i, (piece, theirs) in enumerate(zip(pieces, others)):
        if piece != theirs and (i == last or _unaged(piece) != _unaged(theirs)):
            return False
    return True


def _unaged(piece: str) -> str:
    """A piece of a reason that a ")" follows, without the age it ends with, if any."""
    if piece.endswith("today"):
        return piece[:-5]
    if piece.endswith("d ago"):
        number = piece[:-5]
        rest = number.rstrip(_DIGITS)
        if len(rest) < len(number):
            return rest
    return piece


#: Normalisers with a faster way to tell whether two values normalise alike.
_SAME: dict[Callable[[Any], Any], Callable[[str, str], bool]] = {reason_substance: same_reason}


@dataclass(frozen=True)
class DiffPolicy:
    """What makes a written value worth writing again."""

    #: Values that change on every scoring without the record changing (``scored_at`` is the
    #: instant of scoring). They never make a change on their own, but go along with one, so the
    #: CRM shows when the value it carries was computed.
    volatile: frozenset[str] = frozenset({"scored_at"})
    #: Per value, what of it makes a change: a reason whose only difference is "3d ago" becoming
    #: "4d ago" is not worth a write on its own, but it rides along, fresh, with any real change.
    normalise: Mapping[str, Callable[[Any], Any]] = field(
        default_factory=lambda: MappingProxyType({"reason": reason_substance})
    )
    #: The longest reason written, in characters (Salesforce's text limit by default).
    reason_budget: int = 255

    def substance(self, values: Mapping[str, Any]) -> str:
        """The values that make a record's values different ones, in canonical form: all but the
        volatile ones. Writes with one substance make one history entry, and a permanent failure
        of one substance is not tried again. Written by orjson (:func:`stored_json`): it is made
        twice for every record written, and only ever compared with another made here."""
        return stored_json({k: v for k, v in values.items() if k not in self.volatile})

    def differs(self, name: str, value: Any, previous: Any) -> bool:
        """Whether ``value`` is a change from the ``previous`` one last written."""
        plain = value.__class__ is previous.__class__ and value.__class__ in _PLAIN
        if plain and value == previous:
            return False  # the same value (normalised or not): the nightly common case, at once
        normalise = self.normalise.get(name)
        if normalise is not None:
            same = _SAME.get(normalise)
            if same is not None and value.__class__ is str and previous.__class__ is str:
                return not same(value, previous)
            value, previous = normalise(value), normalise(previous)
            plain = value.__class__ is previous.__class__ and value.__class__ in _PLAIN
        if plain:
            return bool(value != previous)  # one type: equal values, equal texts (the common case)
        return canonical_json(value) != canonical_json(previous)

    def is_change(self, name: str, value: Any, previous: Mapping[str, Any]) -> bool:
        """Whether ``value`` of ``name`` is a change from the ``previous`` values (a volatile
        value never is; a value never written always is)."""
        return name not in self.volatile and (name not in previous or self.differs(name, value, previous[name]))

    def changed(self, values: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
        """The values of ``values`` that are a change from ``previous``."""
        return {name: value for name, value in values.items() if self.is_change(name, value, previous)}

    def crm_holds(self, name: str, computed: Any, held: Any) -> bool:
        """Whether the CRM's ``held`` value (as read back, often text) is the ``computed`` one, as
        the diff would see it: numbers as numbers, empty as empty, normalised values normalised."""
        if computed in (None, "") or held in (None, ""):
            return computed in (None, "") and held in (None, "")
        if isinstance(computed, (int, float)) and not isinstance(computed, bool):
            try:
                return math.isclose(float(held), float(computed), abs_tol=1e-9)
            except (TypeError, ValueError):
                return False
        normalise = self.normalise.get(name)
        if normalise is not None:
            return bool(normalise(str(computed)) == normalise(str(held)))
        return str(computed) == str(held)


def plan_writes(
    wanted: Iterable[Desired],
    baseline: Baseline,
    policy: DiffPolicy,
    *,
    reread: Collection[RecordKey] = (),
) -> list[Desired]:
    """The records of ``wanted`` to write, each with only the values to send (``send``: the
    changed ones, plus the volatile ones riding along) and what it last carried (``previous``).

    A record with a failed write is sent whole, even when its values equal the last written
    ones: a write that timed out may have landed, so what the CRM shows is not known, and a stale
    retry must never overwrite a newer score. The exception is a permanent failure of these very
    values: it would fail again until something changes - the values, the record read again
    from the CRM (``reread``: it changed there, or came back from its recycle bin), or the admin
    clearing it - so it is left out.
    """
    wanted_by_key = {d.key: d for d in wanted}  # the last of duplicates wins
    again = set(reread)
    writes: list[Desired] = []
    for key, want in wanted_by_key.items():
        if not want.values:
            continue
        previous = same_fields(baseline.written.get(key), want.fields)
        failure = baseline.failed.get(key)
        if failure is not None and failure[0] is WriteStatus.PERMANENT and key in again:
            failure = None
        if failure is not None:
            status, tried = failure
            if status is WriteStatus.PERMANENT and policy.substance(tried) == policy.substance(want.stored()):
                continue
            send = dict(want.values)
        elif previous is None:
            send = dict(want.values)
        else:
            send = policy.changed(want.values, previous)
            if not send:
                continue
            send |= {
                name: value for name, value in want.values.items() if name in policy.volatile or name in policy.normalise
            }
        writes.append(replace(want, send=send, previous=previous))
    return writes


def same_fields(stored: Mapping[str, Any] | None, fields: Mapping[str, str] | None) -> Mapping[str, Any] | None:
    """A record's last written values (``stored``), when they went to the ``fields`` its values
    go to now (:attr:`Desired.fields`; a record whose model changed to one with its own fields,
    or back, has never had these fields written: None, so the write sends every value)."""
    if stored is None:
        return None
    if FIELDS_KEY not in stored and not fields:
        return stored  # the connector's write map, as before: the values as stored
    values, held = split_fields(stored)
    return values if held == (dict(fields) if fields else None) else None


def holds(values: Mapping[str, Any], known: Baseline, key: RecordKey, fields: Mapping[str, str] | None,
          policy: DiffPolicy) -> bool:
    """Whether the record ``key`` carries ``values`` already, as far as :func:`plan_writes`
    would see: no kept failure, last written to the same fields, no value changed. A rescore
    asks this first, so the records it leaves alone - most of them, most nights - cost no
    :class:`Desired` and no diff."""
    if not values or key in known.failed:
        return not values
    previous = same_fields(known.written.get(key), fields)
    if previous is None:
        return False
    # The plain values first: a score that moved settles it without comparing reason lines.
    ordered = sorted(values, key=policy.normalise.__contains__)
    return not any(policy.is_change(name, values[name], previous) for name in ordered)


def drifted(desired: Desired, held: Mapping[str, Any], policy: DiffPolicy) -> list[str]:
    """The values of ``desired`` the CRM holds otherwise (``held``, as read back): what a
    reconcile rewrites. Volatile values never drift."""
    return [
        name
        for name, value in desired.values.items()
        if name not in policy.volatile and not policy.crm_holds(name, value, held.get(name))
    ]
