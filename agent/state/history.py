"""Field history: what each mirrored record looked like over time.

The mirror keeps a record's latest fields (``mirror_leads``) and its activities with their times
(``mirror_activities``). A model must learn from a lead *as it looked when it would have been
scored*, not as it looks after sales worked it, so the mirror also keeps one row per field per
change (``mirror_field_versions``), written in the mirror upsert's own transaction:

* only fields whose value changed are written (compared as canonical JSON, so ``5`` read back
  from JSON and ``5`` pulled again are one value): the table grows with edits, not with syncs;
* a field that disappears gets a version whose value is ``None`` (cleared);
* ``observed_at`` is the record's ``updated_at`` in the CRM when the connector read one (the
  last change of the record is the best estimate of when this change happened), else the time
  it was pulled.

:meth:`leadscore.agent.state.mirror.Mirror.lead_history` reads it back as :class:`MirroredHistory`
(the latest lead, its versions oldest first, its activities oldest first), which is the shape
the point-in-time training builder (:mod:`leadscore.agent.predictive.pointintime`) takes: it
asks for "the lead as it was at instant t" without this package knowing about models.

A record first pulled after it was created has no history before that first pull: the first
version of each field says what it held *then*, whenever it was set. That is a limit of what a
CRM tells a reader, not of this table; the training builder documents how it reads it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, NamedTuple, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.state.canonical import canonical_json
from leadscore.agent.state.schema import mirror_field_versions
from leadscore.agent.state.sql import chunks, rows_of_leads, upsert


class FieldVersion(NamedTuple):
    """One value of one field, from ``observed_at`` until the field's next version. ``value``
    None: the field was cleared (or absent) from then on."""

    field: str
    value: Any
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class MirroredHistory:
    """A mirrored lead over time: the lead as last pulled, every version of its fields (oldest
    first) and its activities (oldest first). Plain data: the training builder reads these
    attributes and imports nothing of the store."""

    lead: Lead
    versions: tuple[FieldVersion, ...]
    activities: tuple[Activity, ...]


def changed_fields(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``new`` whose value differs from ``old`` (all of them when there is no
    ``old``: the first pull), and None for each field of ``old`` that ``new`` no longer has."""
    before = old or {}
    changed = {name: value for name, value in new.items() if name not in before or canonical_json(before[name]) != canonical_json(value)}
    changed.update({name: None for name in before if name not in new and before[name] is not None})
    return changed


def record_versions(
    conn: Connection, connector: str, object_type: str, changes: Sequence[tuple[str, datetime, Mapping[str, Any]]]
) -> int:
    """Write the versions of ``changes`` (lead id, when observed, changed fields). Rewriting a
    version already held (a retried batch) keeps one row with the value last written."""
    t = mirror_field_versions
    rows = {
        (lead_id, name, observed_at): {
            "connector": connector,
            "object_type": object_type,
            "lead_id": lead_id,
            "field": name,
            "observed_at": observed_at,
            "value": value,
        }
        for lead_id, observed_at, fields in changes
        for name, value in fields.items()
    }
    if not rows:
        return 0
    stmt = upsert(conn, t)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.connector, t.c.object_type, t.c.lead_id, t.c.field, t.c.observed_at],
        set_={"value": stmt.excluded.value},
    )
    conn.execute(stmt, [rows[key] for key in sorted(rows)])
    return len(rows)


def delete_versions(conn: Connection, connector: str, object_type: str, ids: Sequence[str]) -> None:
    """Forget the history of deleted records (a deletion may be an erasure request)."""
    t = mirror_field_versions
    for part in chunks(ids):
        conn.execute(sa.delete(t).where(t.c.connector == connector, t.c.object_type == object_type, t.c.lead_id.in_(part)))


def read_versions(conn: Connection, connector: str, leads: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[FieldVersion]]:
    """The versions of each (object type, lead id), oldest first (then by field name)."""
    t = mirror_field_versions
    found: dict[tuple[str, str], list[FieldVersion]] = defaultdict(list)
    for object_type, row in rows_of_leads(conn, t, connector, leads, (t.c.field, t.c.value, t.c.observed_at),
                                          (t.c.observed_at, t.c.field)):
        found[(object_type, row.lead_id)].append(FieldVersion(row.field, row.value, row.observed_at))
    return found
