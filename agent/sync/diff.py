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
import re
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Collection, Iterable, Mapping

from leadscore.agent.core.contract import WriteStatus
from leadscore.agent.state import Baseline, Desired, RecordKey, canonical_json
from leadscore.agent.state.desired import split_fields

_AGE = re.compile(r"(?:today|\d+d ago)\)")
#: Types whose values are equal exactly when their canonical JSON texts are.
_PLAIN = frozenset({str, int, bool, type(None)})


def reason_substance(reason: Any) -> Any:
    """A reason without its activity ages ("(3d ago)"): what makes it a different reason. Ages
    move every day for every lead with activity; rewriting them all nightly would spend the API
    quota on nothing a rep acts on, so they are refreshed only with a real change."""
    return _AGE.sub(")", reason) if isinstance(reason, str) else reason


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
        of one substance is not tried again."""
        return canonical_json({k: v for k, v in values.items() if k not in self.volatile})

    def differs(self, name: str, value: Any, previous: Any) -> bool:
        """Whether ``value`` is a change from the ``previous`` one last written."""
        normalise = self.normalise.get(name)
        if normalise is not None:
            value, previous = normalise(value), normalise(previous)
        if value.__class__ is previous.__class__ and value.__class__ in _PLAIN:
            return bool(value != previous)  # one type: equal values, equal texts (the common case)
        return canonical_json(value) != canonical_json(previous)

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
        previous = _same_fields(baseline.written.get(key), want)
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
            send = {
                name: value
                for name, value in want.values.items()
                if name not in policy.volatile and (name not in previous or policy.differs(name, value, previous[name]))
            }
            if not send:
                continue
            send |= {
                name: value for name, value in want.values.items() if name in policy.volatile or name in policy.normalise
            }
        writes.append(replace(want, send=send, previous=previous))
    return writes


def _same_fields(stored: Mapping[str, Any] | None, want: Desired) -> Mapping[str, Any] | None:
    """The last written values of ``want``'s record, when they went to the fields ``want`` goes to
    (a record whose model changed to one with its own fields, or back, has never had these fields
    written: None, so the write sends every value)."""
    if stored is None:
        return None
    values, fields = split_fields(stored)
    return values if fields == (dict(want.fields) if want.fields else None) else None


def drifted(desired: Desired, held: Mapping[str, Any], policy: DiffPolicy) -> list[str]:
    """The values of ``desired`` the CRM holds otherwise (``held``, as read back): what a
    reconcile rewrites. Volatile values never drift."""
    return [
        name
        for name, value in desired.values.items()
        if name not in policy.volatile and not policy.crm_holds(name, value, held.get(name))
    ]
