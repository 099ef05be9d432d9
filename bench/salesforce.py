"""API-call benchmark of the Salesforce connector against the Salesforce emulator.

What it measures: the API calls (the emulator's own request log, so every HTTP request counts,
including Bulk 2.0 job polling) that a full pull of N seeded leads (default 10,000) and their
Contacts plus a write of every score costs, once through sObject Collections and once through
Bulk API 2.0, against the floor; then an immediate second pass, which must write nothing. A
Salesforce org's daily API allocation is what runs out, so calls are the figure that matters.

The floor: one ``queryAll`` page per 2,000 records; per batch, one query per activity object
(Task, Event, CampaignMember, and EmailMessage / Campaign when there is something to look up)
per 500 ids; Collections writes of 200 per object type; a Bulk 2.0 job of five calls (create, upload, close, two
state polls: simple-salesforce's wait, then the final counts) per object type whatever the count.

Run from the repository root: ``python bench/salesforce.py [--leads N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from leadscore.agent.core.records import group_by_lead  # noqa: E402
from leadscore.agent.scoring import ScoringEngine  # noqa: E402
from leadscore.agent.core.contract import Cursor, PullNeeds, ScoreUpdate, WriteSpec  # noqa: E402
from leadscore.connectors.salesforce import SalesforceConnector  # noqa: E402
from leadscore.connectors.salesforce.emulator import SalesforceEmulator  # noqa: E402
from leadscore.connectors.testing import SUITE_MODEL  # noqa: E402

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
WRITE = {"score": "Leadscore_Score__c", "stage": "Leadscore_Stage__c", "reason": "Leadscore_Reason__c"}


def connector_for(emulator: SalesforceEmulator, bulk_threshold: int) -> SalesforceConnector:
    creds = emulator.credentials
    return SalesforceConnector(
        {
            "auth": "jwt",
            "login_url": emulator.login_url,
            "client_id": creds.client_id,
            "username": creds.username,
            "private_key": creds.private_key_pem,
            "ca_bundle": emulator.ca_bundle,
            "write": WRITE,
            "bulk_threshold": bulk_threshold,
            "bulk_poll_seconds": 0.2,
        }
    )


def sync(connector: SalesforceConnector, engine: ScoringEngine, cursors: dict[str, Cursor], written: dict) -> dict:
    """Pull Leads then Contacts, score, and write only what changed (the agent's loop)."""
    needs = PullNeeds(engine.fields_used, engine.activity_types_used)
    stats = Counter()
    for object_type in ("lead", "contact"):
        updates = []
        for batch in connector.pull(cursors[object_type], needs=needs):
            by_lead = group_by_lead(batch.activities)
            for lead in batch.leads:
                stats["pulled"] += 1
                r = engine.score(lead, by_lead.get(lead.id, ()), AS_OF)
                values = {"score": r.score, "stage": r.stage, "reason": r.reason(255)}
                if written.get(lead.id) != values:
                    updates.append(ScoreUpdate(lead.id, lead.object_type, values))
            stats["activities"] += len(batch.activities)
            stats[f"{object_type}_batches"] += 1
            cursors[object_type] = batch.cursor
        # One write per object type, as the agent hands over a run's changes.
        for update, result in zip(updates, connector.write(updates)):
            if result.ok:
                written[update.record_id] = dict(update.values)
                stats["written"] += 1
                stats[f"written_{object_type}"] += 1
            else:
                stats["failed"] += 1
    return stats


def run(mode: str, leads: int, seed: int) -> None:
    threshold = 10**9 if mode == "collections" else 1
    with SalesforceEmulator(daily_limit=10_000_000) as emulator:
        t0 = time.perf_counter()
        emulator.seed(leads, seed=seed, as_of=AS_OF)
        seeded = time.perf_counter() - t0
        connector = connector_for(emulator, threshold)
        engine = ScoringEngine(SUITE_MODEL)
        connector.setup(WriteSpec(frozenset(WRITE), [s.name for s in SUITE_MODEL.stages]))
        emulator.reset_log()
        cursors = {"lead": Cursor("lead", None), "contact": Cursor("contact", None)}
        written: dict = {}
        t1 = time.perf_counter()
        first = sync(connector, engine, cursors, written)
        first_seconds = time.perf_counter() - t1
        first_calls = emulator.call_counts()
        emulator.reset_log()
        t2 = time.perf_counter()
        second = sync(connector, engine, cursors, written)
        second_seconds = time.perf_counter() - t2
        second_calls = emulator.call_counts()

    pages = sum(math.ceil(first[f"{o}_batches"]) for o in ("lead", "contact"))
    objects = [o for o in ("lead", "contact") if first[f"written_{o}"]]
    writes = {
        "collections": {"composite.sobjects": sum(math.ceil(first[f"written_{o}"] / 200) for o in objects)},
        # simple-salesforce reads the job state at least twice: its wait loop, then the final counts.
        "bulk": {"bulk2.create": len(objects), "bulk2.upload": len(objects), "bulk2.close": len(objects),
                 "bulk2.poll": 2 * len(objects)},
    }[mode]
    print(f"\n== {mode}: {leads:,} seeded leads (seeded in {seeded:.1f} s), model {engine.version}")
    print(f"first pass: {first_seconds:.1f} s; pulled {first['pulled']:,} records, {first['activities']:,} activities;"
          f" wrote {first['written']:,}, failed {first['failed']:,}")
    print(f"  {'endpoint':22s} {'calls':>7s}")
    for family, count in sorted(first_calls.items()):
        print(f"  {family:22s} {count:7,d}")
    write_calls = sum(v for k, v in first_calls.items() if k.startswith(("composite", "bulk2")))
    print(f"  {'total':22s} {sum(first_calls.values()):7,d}")
    print(f"  writes: {write_calls:,} calls against a floor of {sum(writes.values()):,} "
          f"({', '.join(f'{k} {v}' for k, v in writes.items())})")
    print(f"  reads: {pages} record pages (one per 2,000) plus activity queries per page (one per object per 500 ids)")
    print(f"second pass: {second_seconds:.1f} s; re-read {second['pulled']:,} records; wrote {second['written']:,};"
          f" write calls {sum(v for k, v in second_calls.items() if k.startswith(('composite', 'bulk2')))}")
    for family, count in sorted(second_calls.items()):
        print(f"  {family:22s} {count:7,d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for mode in ("collections", "bulk"):
        run(mode, args.leads, args.seed)


if __name__ == "__main__":
    main()
