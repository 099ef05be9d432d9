"""What the sync agent costs in API calls and time, end to end, against both CRM emulators.

For each CRM: seed N generated leads, then ``setup``, a full ``backfill``, a second ``sync`` (nothing
changed), a ``sync`` after users edited some leads' titles, a ``rescore`` at the same instant (nothing
changed: must cost 0 calls) and rescores a day and a week later (decay moves some scores: only those
are written). Prints calls by endpoint family and timings, and the write requests each pass made (the
emulator's own log: every HTTP request) against the floor, ``ceil(written / chunk)`` - a HubSpot batch
update takes 100 records, a Salesforce sObject Collections call 200; a pass of ``bulk_threshold``
(2,000) changes or more goes through Salesforce's Bulk API 2.0 instead, a handful of requests per
object whatever the count.

``--per-batch`` writes each pulled batch's changes with it, as before the pipeline carried them
across batches to whole calls (issue 16, item 3), for comparison.

    python bench/sync.py [--leads 10000] [--per-batch]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# This folder holds bench/hubspot.py, which must not shadow the hubspot SDK package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from leadscore.agent.config import load_config  # noqa: E402
from leadscore.agent.demo import demo_config_text  # noqa: E402
from leadscore.agent.logs import configure_logging  # noqa: E402
from leadscore.agent.sync import Agent  # noqa: E402


#: The connectors' overlap in this bench (defaults: HubSpot 60 s, Salesforce 300 s), short so that
#: syncs run once it has passed show the steady state without waiting minutes: the sync after a
#: write re-reads what was written, the next one only what changed since. (A sync sooner after a
#: write than the overlap re-reads what was written in it once more.)
OVERLAP = 3


#: Records overwritten behind the agent's back before the second reconcile.
DRIFT = 40


def _drift(name: str, hubspot: Any, salesforce: Any, agent: Any, count: int) -> None:
    """Overwrite ``count`` written scores in the CRM, as a user or a workflow would."""
    written = [m.lead for m in agent.store.mirror_leads(name) if m.lead.object_type in ("contact", "lead")][:count]
    for lead in written:
        if name == "hubspot":
            hubspot.update_contact(lead.id, {"leadscore_score": "999"})
        else:
            salesforce.update_record("Lead" if lead.object_type == "lead" else "Contact", lead.id,
                                     {"Leadscore_Score__c": 999})


#: Records whose title users change before the "edited" sync (a share of the leads).
EDITED = 0.15
#: Records one write call takes, by connector: the floor's divisor.
CHUNK = {"hubspot": 100, "salesforce": 200}


def _edit(name: str, hubspot: Any, salesforce: Any, agent: Any, share: float) -> int:
    """Make every ``1/share``-th mirrored person a CTO in the CRM, as users edit records: a scoring
    input, so most of them change score, spread over every pulled batch. Returns how many."""
    people = [m.lead for m in agent.store.mirror_leads(name) if m.lead.object_type in ("contact", "lead")]
    chosen = people[:: max(1, round(1 / share))]
    for lead in chosen:
        if name == "hubspot":
            hubspot.update_contact(lead.id, {"jobtitle": "CTO"})
        else:
            salesforce.update_record("Lead" if lead.object_type == "lead" else "Contact", lead.id, {"Title": "CTO"})
    return len(chosen)


def _write_requests(name: str, emulator: Any) -> Counter[str]:
    """The write requests the emulator served since its log was last reset, by family."""
    if name == "hubspot":
        return Counter({k: v for k, v in emulator.call_counts().items() if k.endswith(".batch.update")})
    return Counter({k: v for k, v in emulator.call_counts().items() if k == "composite.sobjects" or k.startswith("bulk2.")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--per-batch", action="store_true",
                        help="write each pulled batch's changes with it (the pipeline before issue 16 item 3)")
    args = parser.parse_args()
    configure_logging("console", "error")

    from leadscore.connectors.hubspot import HubSpotConnector
    from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits
    from leadscore.connectors.salesforce import SalesforceConnector
    from leadscore.connectors.salesforce.emulator import SalesforceEmulator

    if args.per_batch:  # declared no write chunk: the pipeline writes every batch as it comes
        HubSpotConnector.write_chunk = None  # type: ignore[assignment,misc]
        SalesforceConnector.write_chunk = None  # type: ignore[assignment,misc]

    seeded_at = datetime.now(timezone.utc) - timedelta(hours=1)
    hubspot = HubSpotEmulator(limits=RateLimits(per_ten_seconds=1_000_000, daily=100_000_000, search_per_second=100_000)).start()
    salesforce = SalesforceEmulator().start()
    try:
        hubspot.seed(args.leads, seed=7, as_of=seeded_at)
        salesforce.seed(args.leads, seed=7, as_of=seeded_at)
        with tempfile.TemporaryDirectory() as tmp:
            config_path = Path(tmp) / "leadscore.toml"
            text = demo_config_text(ROOT / "config.example.toml", hubspot, salesforce, Path(tmp) / "state.db")
            text = text.replace("\n[connectors.hubspot]\n", "\n[connectors.hubspot]\nper_ten_seconds = 1000000\nsearch_per_second = 100000\n"
                                f"overlap_seconds = {OVERLAP}\n")
            text = text.replace("\n[connectors.salesforce]\n", f"\n[connectors.salesforce]\noverlap_seconds = {OVERLAP}\n")
            config_path.write_text(text, encoding="utf-8")
            config = load_config(config_path)
            agent = Agent.open(config)
            how = "each pulled batch written with it" if args.per_batch else "changes carried to whole write calls"
            print(f"{args.leads:,} generated leads per CRM; model {config.scoring.name!r} ({len(config.scoring.rules)} rules); {how}\n")
            print(f"{'CRM':<11} {'pass':<24} {'records':>8} {'written':>8} {'API calls':>10} {'writes':>7} {'floor':>6} "
                  f"{'seconds':>8}  calls by family")
            for name, jobs in agent.jobs.items():
                crm = jobs.connector()
                crm.setup(config.write_spec(frozenset(crm.write_values), name))  # as `leadscore setup`: accounts too
                now = datetime.now(timezone.utc)
                for label, kind, as_of in (
                    ("backfill (full)", "backfill", now),
                    ("second sync", "sync", now),
                    (f"sync {OVERLAP + 1}s later, same", "sync", now),
                    (f"sync, {EDITED:.0%} edited", "sync", now),
                    ("rescore, nothing moved", "rescore", now),
                    ("rescore, 1 day later", "rescore", now + timedelta(days=1)),
                    ("rescore, 7 days later", "rescore", now + timedelta(days=7)),
                    # As of the last rescore: the CRM then holds exactly what the model computes.
                    ("reconcile, no drift", "reconcile", now + timedelta(days=7)),
                    (f"reconcile, {DRIFT} drifted", "reconcile", now + timedelta(days=7)),
                ):
                    if label.startswith(f"reconcile, {DRIFT}"):
                        _drift(name, hubspot, salesforce, agent, DRIFT)
                    if label.endswith("edited"):
                        _edit(name, hubspot, salesforce, agent, EDITED)
                    emulator = hubspot if name == "hubspot" else salesforce
                    emulator.reset_log()
                    if kind == "sync":
                        # Past the overlap since the last write: the steady state of a CRM synced
                        # every few minutes, where each write is re-read once.
                        time.sleep(OVERLAP + 1)
                    before = Counter(crm.api_calls())
                    started = time.perf_counter()
                    outcomes = jobs.run(kind, as_of=as_of)  # type: ignore[arg-type]
                    seconds = time.perf_counter() - started
                    calls = Counter(crm.api_calls())
                    calls.subtract(before)
                    used = {k: v for k, v in calls.items() if v}
                    o = outcomes[-1]
                    records = o.counts.pulled or o.counts.scored
                    detail = ", ".join(f"{k} {v}" for k, v in sorted(used.items()))
                    writes = _write_requests(name, emulator)
                    floor = math.ceil((o.counts.written + o.counts.failed) / CHUNK[name])
                    bulk = " (bulk)" if any(k.startswith("bulk2.") for k in writes) else ""
                    print(f"{name:<11} {label:<24} {records:>8,} {o.counts.written:>8,} {sum(used.values()):>10,} "
                          f"{sum(writes.values()):>7,} {floor:>6,} {seconds:>8.1f}  {detail}{bulk}")
            agent.close()
    finally:
        hubspot.stop()
        salesforce.stop()


if __name__ == "__main__":
    main()
