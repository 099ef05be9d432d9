"""The sync agent's state store: cursors, the mirror, last written values, history, failed
writes, runs, leases and API usage, in SQLite (default) or PostgreSQL.

How the pipeline uses it (``store = StateStore.open(url)``; ``name`` is the connector's name;
``plan_writes`` and ``policy`` are the diff's, :mod:`leadscore.agent.sync.diff`)::

    with store.hold(name, "sync"):                       # a lease: one agent per connector job
        run = store.start_run(name, "sync")
        cursor = Cursor(object_type, store.cursor(name, object_type))
        for batch in connector.pull(cursor, until=started):
            wanted = [Desired.from_result(r, object_type, values_of(r)) for r in scored(batch)]
            reread = [RecordKey(lead.object_type, lead.id) for lead in batch.leads]
            writes = plan_writes(wanted, store.baseline(name, [d.key for d in wanted]), policy, reread=reread)
            results = connector.write([w.update for w in writes])
            store.record_batch(name, batch, writes, results, reread=reread,  # one commit
                               substance=policy.substance, api_calls=delta)
        store.finish_run(run, "ok", counts)

A crash anywhere before a batch's commit leaves its cursor where it was, so the next run pulls
and writes that batch again; the diff then finds the same changes, and rewriting them is harmless.

- **backfill**: ``bf = store.start_backfill(name, object_type, since, until)`` (finds an
  interrupted one again), pull from ``Cursor(object_type, bf.position)``, ``record_batch(...,
  backfill_id=bf.id)`` per batch, then ``finish_backfill(bf.id)``. The live cursor never moves.
- **rescore** (decay, a rule change): ``store.mirror_leads(name)`` yields each lead with its
  activities; score, diff, write, ``record_writes`` - no CRM reads.
- **point-in-time training**: ``store.lead_history(name)`` yields each lead with its field versions
  and activities (:class:`MirroredHistory`), the lead as it was at any instant.
- **retry**: ``store.pending_failures(name)`` and each failure's ``.resend``; ``record_writes``.
"""

from leadscore.agent.state.batch import BatchOutcome, BatchTx
from leadscore.agent.state.canonical import canonical_json
from leadscore.agent.state.cursors import Backfill, CursorState
from leadscore.agent.state.desired import Desired, RecordKey
from leadscore.agent.state.engine import DEFAULT_PATH
from leadscore.agent.state.errors import LeaseHeld, StateError
from leadscore.agent.state.failures import Failure
from leadscore.agent.state.history import FieldVersion, MirroredHistory
from leadscore.agent.state.leases import DEFAULT_LEASE, Lease, new_owner_id
from leadscore.agent.state.mirror import MirroredActivities, MirroredLead
from leadscore.agent.state.models import ModelEvent, ShadowScore, latest_before
from leadscore.agent.state.outcomes import OutcomeCounts, StoredOutcome
from leadscore.agent.state.runs import Run, RunKind, RunStatus
from leadscore.agent.state.status import ConnectorStatus
from leadscore.agent.state.store import StateStore
from leadscore.agent.state.written import Baseline, HistoryEntry, Substance, Written

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_PATH",
    "Backfill",
    "Baseline",
    "BatchOutcome",
    "BatchTx",
    "ConnectorStatus",
    "CursorState",
    "Desired",
    "Failure",
    "FieldVersion",
    "HistoryEntry",
    "Lease",
    "LeaseHeld",
    "MirroredHistory",
    "MirroredActivities",
    "MirroredLead",
    "ModelEvent",
    "OutcomeCounts",
    "RecordKey",
    "Run",
    "RunKind",
    "RunStatus",
    "ShadowScore",
    "StateError",
    "StateStore",
    "StoredOutcome",
    "Substance",
    "Written",
    "canonical_json",
    "latest_before",
    "new_owner_id",
]
