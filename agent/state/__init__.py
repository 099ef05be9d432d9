"""The sync agent's state store: cursors, the mirror, last written values, history, failed
writes, runs, leases and API usage, in SQLite (default) or PostgreSQL.

How the pipeline uses it (``store = StateStore.open(url)``; ``name`` is the connector's name)::

    with store.hold(name, "sync"):                       # a lease: one agent per connector job
        run = store.start_run(name, "sync")
        cursor = Cursor(object_type, store.cursor(name, object_type))
        for batch in connector.pull(cursor, until=started):
            desired = [Desired.from_result(r, object_type, values_of(r)) for r in scored(batch)]
            changes = store.diff(name, desired)          # read-only, no transaction held
            results = connector.write([c.update for c in changes])
            store.record_batch(name, batch, changes, results, api_calls=delta)  # one commit
        store.finish_run(run, "ok", counts)

A crash anywhere before a batch's commit leaves its cursor where it was, so the next run pulls
and writes that batch again; the diff then finds the same changes, and rewriting them is harmless.

- **backfill**: ``bf = store.start_backfill(name, object_type, since, until)`` (finds an
  interrupted one again), pull from ``Cursor(object_type, bf.position)``, ``record_batch(...,
  backfill_id=bf.id)`` per batch, then ``finish_backfill(bf.id)``. The live cursor never moves.
- **rescore** (decay, a rule change): ``store.mirror_leads(name)`` yields each lead with its
  activities; score, ``diff``, write, ``record_writes`` - no CRM reads.
- **retry**: ``store.pending_failures(name)`` and each failure's ``.change``; ``record_writes``.
"""

from agent.state.batch import BatchTx
from agent.state.engine import DEFAULT_PATH
from agent.state.errors import LockHeld, StateError
from agent.state.shapes import (
    VOLATILE_VALUES,
    Backfill,
    BatchOutcome,
    Change,
    ConnectorStatus,
    CursorState,
    Desired,
    Failure,
    HistoryEntry,
    Lease,
    MirroredLead,
    RecordKey,
    Run,
    RunKind,
    RunStatus,
    Written,
)
from agent.state.store import DEFAULT_LEASE, StateStore, new_owner_id

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_PATH",
    "VOLATILE_VALUES",
    "Backfill",
    "BatchOutcome",
    "BatchTx",
    "Change",
    "ConnectorStatus",
    "CursorState",
    "Desired",
    "Failure",
    "HistoryEntry",
    "Lease",
    "LockHeld",
    "MirroredLead",
    "RecordKey",
    "Run",
    "RunKind",
    "RunStatus",
    "StateError",
    "StateStore",
    "Written",
    "new_owner_id",
]
