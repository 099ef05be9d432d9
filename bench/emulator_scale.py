"""Scale benchmark of the HubSpot emulator itself: seeding, memory, and the CPU it spends per page.

What it measures, at N seeded contacts (default 100,000) and, for comparison, at 10,000:

- seeding: CPU seconds for ``HubSpotEmulator.seed(N)`` (contacts with their engagements and
  deals), and the process's resident memory after it (current and peak);
- per page, through real HTTP (``requests``): the emulator's CPU seconds (its request threads'
  CPU, from parsing the request to writing the answer) for
  - ``GET /crm/v3/objects/contacts`` pages of 100, from the start and from the middle,
  - the connector's incremental search (``lastmodifieddate`` window, ``hs_object_id GT``, sorted
    by ``hs_object_id``, pages of 200), over the whole portal and over its last week,
  - a search paged by offset (no sort), and one sorted by ``lastmodifieddate`` descending,
  - ``POST /crm/v3/objects/contacts/batch/update`` of 100 contacts (index upkeep on writes),
  - the same incremental search with the indexes bypassed (the full scan), for comparison;
- the client's CPU per page beside it (sending, reading and decoding the JSON), a floor for what
  any agent spends on a page.

Run from the repository root: ``python bench/emulator_scale.py [--contacts N] [--pages P]``.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits  # noqa: E402
from leadscore.connectors.hubspot.emulator import core as emulator_core  # noqa: E402
from leadscore.connectors.hubspot.emulator import search as emulator_search  # noqa: E402

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
UNLIMITED = RateLimits(per_ten_seconds=10_000_000, daily=1_000_000_000, search_per_second=1_000_000)
PROPERTIES = ["email", "firstname", "lastname", "jobtitle", "company", "industry", "country", "lifecyclestage",
              "hs_analytics_num_page_views", "hs_email_open", "num_conversion_events", "recent_conversion_date",
              "notes_last_contacted", "associatedcompanyid", "lastmodifieddate"]


class ServerCpu:
    """CPU seconds the emulator's request threads spend, from parsing a request to answering it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()
        original = emulator_core._Handler.handle_one_request
        meter = self

        def metered(handler: Any) -> None:
            started = time.thread_time()
            try:
                original(handler)
            finally:
                spent = time.thread_time() - started
                with meter._lock:
                    meter.seconds += spent

        emulator_core._Handler.handle_one_request = metered  # type: ignore[method-assign]


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    current = pages * resource.getpagesize() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


def measure(meter: ServerCpu, label: str, pages: Callable[[], Any], count: int) -> dict[str, float]:
    """Run ``pages`` ``count`` times; print and return server and client CPU per page."""
    # A request thread adds its CPU after the client has its answer: let the last one settle.
    time.sleep(0.05)
    server0, process0, wall0 = meter.seconds, time.process_time(), time.perf_counter()
    for _ in range(count):
        pages()
    wall = (time.perf_counter() - wall0) / count
    time.sleep(0.05)
    server = (meter.seconds - server0) / count
    client = (time.process_time() - process0) / count - server
    print(f"  {label:<58} server {server * 1000:8.2f} ms/page   client {client * 1000:7.2f} ms/page   "
          f"wall {wall * 1000:8.2f} ms")
    return {"server": server, "client": client}


def run(count: int, pages: int, scan: bool) -> dict[str, Any]:
    meter = ServerCpu()
    gc.collect()
    emu = HubSpotEmulator(limits=UNLIMITED).start()
    try:
        before = rss_mb()[0]
        started = time.process_time()
        ids = emu.seed(count, seed=7, as_of=AS_OF)
        seed_cpu = time.process_time() - started
        gc.collect()
        current, peak = rss_mb()
        print(f"\n{count:,} contacts: seed {seed_cpu:.1f} s CPU ({seed_cpu / count * 1e6:.0f} us/contact); "
              f"RSS {current:,.0f} MB after seeding ({current - before:,.0f} MB for the portal), peak {peak:,.0f} MB")
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {emu.token}"
        base = emu.base_url
        middle = sorted(int(i) for i in ids)[len(ids) // 2]

        def list_page(after: int | None) -> Callable[[], Any]:
            params: dict[str, Any] = {"limit": 100, "properties": ",".join(PROPERTIES)}
            if after is not None:
                params["after"] = str(after)

            def call() -> Any:
                answer = session.get(f"{base}/crm/v3/objects/contacts", params=params)
                answer.raise_for_status()
                return answer.json()
            return call

        def search(body: dict[str, Any]) -> Callable[[], Any]:
            def call() -> Any:
                answer = session.post(f"{base}/crm/v3/objects/contacts/search", json=body)
                answer.raise_for_status()
                return answer.json()
            return call

        def keyset(start: datetime, after: int = 0) -> dict[str, Any]:
            filters = [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(int(start.timestamp() * 1000))},
                       {"propertyName": "lastmodifieddate", "operator": "LTE", "value": str(int(AS_OF.timestamp() * 1000))}]
            if after:
                filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(after)})
            return {"filterGroups": [{"filters": filters}], "sorts": [{"propertyName": "hs_object_id",
                    "direction": "ASCENDING"}], "properties": PROPERTIES, "limit": 200}

        recent = AS_OF - timedelta(days=7)
        in_week = search(keyset(recent))()["total"]
        results: dict[str, Any] = {"seed_cpu": seed_cpu, "rss_mb": current, "peak_mb": peak}
        results["list_first"] = measure(meter, "list, first page (100)", list_page(None), pages)
        results["list_middle"] = measure(meter, "list, page from the middle (100)", list_page(middle), pages)
        everything = datetime(2000, 1, 1, tzinfo=timezone.utc)
        results["search_all"] = measure(meter, "keyset search, whole portal, first page (200)",
                                        search(keyset(everything)), pages)
        results["search_all_mid"] = measure(meter, "keyset search, whole portal, from the middle (200)",
                                            search(keyset(everything, middle)), pages)
        results["search_week"] = measure(meter, f"keyset search, last week ({in_week:,} matches) (200)",
                                         search(keyset(recent)), pages)
        offset = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                                 "value": str(int(everything.timestamp() * 1000))}]}],
                  "properties": PROPERTIES, "limit": 200, "after": 9_000}
        results["search_offset"] = measure(meter, "search by offset (after=9000, no sort) (200)", search(offset), pages)
        by_date = {**offset, "after": 0, "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}]}
        results["search_by_date"] = measure(meter, "search sorted by lastmodifieddate (cached between writes)",
                                            search(by_date), pages)
        batches = iter(range(10**9))

        def update() -> Any:
            n = next(batches)
            chunk = ids[(n * 100) % len(ids):(n * 100) % len(ids) + 100]
            body = {"inputs": [{"id": i, "properties": {"jobtitle": f"Bench {n}"}} for i in chunk]}
            answer = session.post(f"{base}/crm/v3/objects/contacts/batch/update", json=body)
            answer.raise_for_status()
        results["batch_update"] = measure(meter, "batch update of 100 contacts", update, pages)
        if scan:
            indexed = emulator_search._indexed
            emulator_search._indexed = lambda *args, **kwargs: None  # the full scan, as before the indexes
            try:
                results["search_scan"] = measure(meter, "keyset search, whole portal, indexes bypassed (scan)",
                                                 search(keyset(everything, middle)), max(1, pages // 10))
            finally:
                emulator_search._indexed = indexed
        return results
    finally:
        emu.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=20, help="requests timed per measurement")
    parser.add_argument("--no-scan", action="store_true", help="skip the bypassed-index comparison")
    parser.add_argument("--no-compare", action="store_true", help="skip the 10,000-contact comparison run")
    args = parser.parse_args()
    sizes = [args.contacts] if args.no_compare or args.contacts == 10_000 else [10_000, args.contacts]
    found = {n: run(n, args.pages, not args.no_scan) for n in sizes}
    if len(found) == 2:
        small, large = found[10_000], found[args.contacts]
        print(f"\n{args.contacts:,} vs 10,000 contacts ({args.contacts / 10_000:.0f}x): server CPU per page")
        for key, value in large.items():
            if isinstance(value, dict) and key in small:
                ratio = value["server"] / small[key]["server"] if small[key]["server"] else float("nan")
                print(f"  {key:<16} {ratio:6.2f}x")


if __name__ == "__main__":
    main()
