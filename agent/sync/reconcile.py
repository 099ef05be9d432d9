"""Drift repair: what the CRM holds in the owned fields, against what the engine computes now.

The diff of a sync or a rescore compares with what the agent last wrote, which is cheap and right
as long as nobody else writes those fields. A user, a workflow, a sandbox refresh or a restore
from backup can, and then the CRM is wrong until the record's score moves again. Reconcile reads
the owned fields back from the CRM (the connector's ``read_back``: HubSpot 100 contacts a call,
Salesforce one SOQL pass of 2,000 records a page), scores the mirror as of now, and rewrites
every record whose CRM values differ; what it writes becomes the last written values. It runs
weekly in ``leadscore run`` (``[schedule] reconcile_cron``) and on demand with
``leadscore reconcile [--dry-run]``.

Values are compared under the diff's policy (:meth:`agent.sync.diff.DiffPolicy.crm_holds`):
numbers as numbers, a reason without its activity ages ("3d ago"), and ``scored_at`` not at all
(it changes every pass). The pass is built from the pipeline's public steps (score, write and
record, count API calls). Accounts are read back and repaired like people when a model scores
them; the own fields of a model that has them (``[models.write.NAME]``) are not read back, so its
records are left to the diff.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from leadscore.agent.core.contract import SupportsReadBack
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.state import Desired, MirroredActivities, MirroredLead, RecordKey
from leadscore.agent.sync.diff import drifted

if TYPE_CHECKING:
    from leadscore.agent.sync.pipeline import RunCounts, SyncPipeline


@dataclass(frozen=True)
class Drift:
    """One owned value the CRM holds differently from what the engine computes now."""

    object_type: str
    record_id: str
    value: str
    crm: Any
    computed: Any


def reconcile(pipeline: SyncPipeline, counts: RunCounts, *, dry_run: bool = False,
              report: Callable[[Drift], None] | None = None, as_of: datetime | None = None) -> RunCounts:
    """Read back, compare, rewrite what drifted (or only report it, with ``dry_run``)."""
    connector = pipeline.connector
    if not isinstance(connector, SupportsReadBack):
        raise ConfigError(f"connectors.{pipeline.name}: this connector cannot read its fields back, so it cannot reconcile")
    as_of = as_of or pipeline.scoring_time()
    held: dict[RecordKey, Mapping[str, Any]] = {}
    for object_type in pipeline.object_types():  # people, and accounts when a model scores them
        for record_id, values in connector.read_back(object_type):
            held[RecordKey(object_type, record_id)] = values
    pipeline.record_api_calls(counts)

    page: list[MirroredLead] = []
    waiting: list[Desired] = []

    def compare(page: Sequence[MirroredLead]) -> list[Desired]:
        wanted = pipeline.score([m.lead for m in page], MirroredActivities(page), as_of, counts)
        found: list[Desired] = []
        for desired in wanted:
            if desired.fields:
                continue  # a model's own fields are not read back: the write map's alone are
            crm = held.get(desired.key)
            if crm is None:
                counts.missing += 1
                continue
            names = drifted(desired, crm, pipeline.policy)
            if not names:
                continue
            counts.drifted += 1
            if report is not None:
                for name in names:
                    report(Drift(desired.object_type, desired.record_id, name, crm.get(name), desired.values[name]))
            found.append(replace(desired, previous=dict(crm)))  # rewritten whole
        return found

    for mirrored in pipeline.store.mirror_leads(pipeline.name):
        page.append(mirrored)
        if len(page) >= pipeline.write_batch:
            waiting += compare(page)
            page = []
            if pipeline.progress is not None:
                pipeline.progress(pipeline.write_batch)
        if len(waiting) >= pipeline.write_batch and not dry_run:
            pipeline.write_and_record(waiting, counts)
            waiting = []
        if pipeline.should_stop():
            counts.interrupted = True
            break
    else:
        if page:
            waiting += compare(page)
            if pipeline.progress is not None:
                pipeline.progress(len(page))
    if not dry_run:
        pipeline.write_and_record(waiting, counts)
    return counts
