"""API-call benchmark of the HubSpot connector against the HubSpot emulator.

What it measures: the calls a full pull plus a write of every score costs on N seeded contacts
(default 10,000), by endpoint, against the floor HubSpot's limits allow; then the calls of an
immediate second pass, which must write nothing. Quota is what a HubSpot portal runs out of, so
these counts, not seconds, are the figure that matters (seconds are printed too).

The floor: listing pages of 100 (``ceil(N/100)``), update batches of 100 (``ceil(N/100)``), and
for engagement, per page of contacts, one associations call per engagement object the model needs
plus batch reads of 100 engagements (``ceil(E_page/100)``).

Run from the repository root: ``python bench/hubspot.py [--contacts N] [--seed S]``.
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
# This file is named like the SDK's package: keep its folder off the path so `import hubspot`
# finds hubspot-api-client, not this script.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from leadscore.agent.core.contract import Cursor, PullNeeds, ScoreUpdate, WriteSpec  # noqa: E402
from leadscore.connectors.hubspot import HubSpotConnector  # noqa: E402
from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits  # noqa: E402
from leadscore.connectors.testing import SUITE_MODEL  # noqa: E402
from leadscore.agent.core.records import group_by_lead  # noqa: E402
from leadscore.agent.scoring import ScoringEngine  # noqa: E402

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


OBJECTS = ("emails", "calls", "meetings")


def engagement_floor(emulator: HubSpotEmulator, lead_ids: list[str]) -> Counter[str]:
    """The fewest engagement calls one batch of contacts can cost: one associations call per
    object (up to 1,000 contacts) and batch reads of 100 over its distinct engagements."""
    floor: Counter[str] = Counter()
    for obj in OBJECTS:
        found = {e for i in lead_ids for e in emulator.associations(i, obj)}
        floor[f"associations.{obj}"] += math.ceil(len(lead_ids) / 1000)
        floor[f"{obj}.batch.read"] += math.ceil(len(found) / 100)
    return floor


def run_pass(
    connector: HubSpotConnector, engine: ScoringEngine, cursor: Cursor, written: dict[str, dict], emulator: HubSpotEmulator
) -> tuple[Cursor, dict]:
    needs = PullNeeds(engine.fields_used, engine.activity_types_used)
    pulled = changed = activities = 0
    pages = 0
    floor: Counter[str] = Counter()
    for batch in connector.pull(cursor, needs=needs):
        pages += 1
        floor += engagement_floor(emulator, [lead.id for lead in batch.leads])
        by_lead = group_by_lead(batch.activities)
        activities += len(batch.activities)
        updates = []
        for lead in batch.leads:
            pulled += 1
            r = engine.score(lead, by_lead.get(lead.id, ()), AS_OF)
            values = {"score": r.score, "stage": r.stage, "reason": r.reason(255)}
            if written.get(lead.id) != values:
                updates.append(ScoreUpdate(lead.id, "contact", values))
        if updates:
            for u, result in zip(updates, connector.write(updates)):
                if result.ok:
                    written[u.record_id] = dict(u.values)
                    changed += 1
        cursor = batch.cursor
    return cursor, {"pulled": pulled, "written": changed, "activities": activities, "pages": pages, "floor": floor}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    limits = RateLimits(per_ten_seconds=1_000_000, daily=10_000_000, search_per_second=100_000)
    with HubSpotEmulator(limits=limits) as emulator:
        t0 = time.perf_counter()
        ids = emulator.seed(args.contacts, seed=args.seed, as_of=AS_OF)
        seeded = time.perf_counter() - t0
        engagement_totals = {o: len({e for i in ids for e in emulator.associations(i, o)}) for o in ("emails", "calls", "meetings")}
        connector = HubSpotConnector(
            {"access_token": emulator.token, "host": emulator.base_url, "per_ten_seconds": 1_000_000, "search_per_second": 100_000}
        )
        engine = ScoringEngine(SUITE_MODEL)
        connector.setup(WriteSpec(frozenset({"score", "stage", "reason"}), [s.name for s in SUITE_MODEL.stages]))
        setup_calls = Counter(connector.api_calls())

        written: dict[str, dict] = {}
        t1 = time.perf_counter()
        cursor, first = run_pass(connector, engine, Cursor("contact", None), written, emulator)
        first_seconds = time.perf_counter() - t1
        first_calls = Counter(connector.api_calls()) - setup_calls

        t2 = time.perf_counter()
        _, second = run_pass(connector, engine, cursor, written, emulator)
        second_seconds = time.perf_counter() - t2
        second_calls = Counter(connector.api_calls()) - setup_calls - first_calls

    n = args.contacts
    objects = OBJECTS
    floor = {
        "contacts.list": math.ceil(n / 100),
        "contacts.batch.update": math.ceil(first["written"] / 100),
        **first["floor"],
    }
    print(f"leadscore HubSpot benchmark: {n:,} seeded contacts (seeded in {seeded:.1f} s), model {engine.version}")
    print(f"engagement in the portal: " + ", ".join(f"{engagement_totals[o]:,} {o}" for o in objects))
    print(f"\nfirst pass (full listing + write every score): {first_seconds:.1f} s")
    print(f"  pulled {first['pulled']:,} contacts, {first['activities']:,} activities; wrote {first['written']:,} scores")
    print(f"  {'endpoint':28s} {'calls':>7s} {'floor':>7s}")
    for family in sorted(set(first_calls) | set(floor)):
        print(f"  {family:28s} {first_calls.get(family, 0):7,d} {floor.get(family, 0):7,d}")
    total, floor_total = sum(first_calls.values()), sum(floor.values())
    print(f"  {'total':28s} {total:7,d} {floor_total:7,d}  ({total - floor_total:+,d} over the floor)")
    print("  floor: list pages of 100, update batches of 100; per batch of contacts handed to the agent")
    print("         (self-contained, so a crash re-does one batch), one associations call per object per")
    print("         1,000 contacts (HubSpot's maximum) and reads of 100 over the batch's distinct engagements")
    absolute = sum(math.ceil(engagement_totals[o] / 100) for o in objects)
    print(f"         (reads with no batch boundaries at all would be {absolute:,})")
    print(f"\nsecond pass (incremental from the cursor): {second_seconds:.1f} s")
    print(f"  re-read {second['pulled']:,} contacts (our own writes bumped lastmodifieddate); wrote {second['written']:,}")
    second_floor = {"contacts.search": math.ceil(second["pulled"] / 200), **second["floor"]}
    print(f"  {'endpoint':28s} {'calls':>7s} {'floor':>7s}")
    for family in sorted(set(second_calls) | set(second_floor)):
        print(f"  {family:28s} {second_calls.get(family, 0):7,d} {second_floor.get(family, 0):7,d}")
    print(f"  write calls: {sum(v for k, v in second_calls.items() if 'update' in k)}")

if __name__ == "__main__":
    main()
