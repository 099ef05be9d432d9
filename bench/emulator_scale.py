"""Scale benchmark of the CRM emulators themselves: seeding, memory, and the CPU they spend per page.

HubSpot (``--crm hubspot``, the default), at N seeded contacts (default 100,000) and, for
comparison, at 10,000:

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

Salesforce (``--crm salesforce``), at N seeded leads (each with its Tasks, Events, campaign
memberships, and for one in ten a conversion: about 5.8 records a lead), the same figures for
the queries the connector makes (:mod:`leadscore.connectors.salesforce.pull`), over HTTPS:

- a full pull: ``queryAll`` of ``SELECT ... FROM Lead ORDER BY SystemModstamp, Id``, its first
  page (2,000 records) and a ``queryMore`` page from the middle of its locator;
- an incremental pull's window (``SystemModstamp > X AND SystemModstamp <= Y``, last week), its
  ``SELECT COUNT()``, and the Tasks changed in it (the activity that names more leads); the same
  over the last hour (a sync's usual window);
- a page's activity: ``Lead WHERE Id IN`` (500 ids), ``Task WHERE WhoId IN (500) AND
  TaskSubtype IN (...)``, ``CampaignMember WHERE LeadId IN`` (500);
- ``PATCH /composite/sobjects`` of 200 Leads (index upkeep on writes);
- the full pull's first page with the indexes bypassed (the full scan), for comparison.

Each query's first call, which builds the indexes it needs, is shown apart ("first").

Run from the repository root: ``python bench/emulator_scale.py [--crm salesforce] [--count N] [--pages P]``.
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
from leadscore.connectors.salesforce.emulator import SalesforceEmulator, requests_session_trusting  # noqa: E402
from leadscore.connectors.salesforce.emulator import core as salesforce_core  # noqa: E402
from leadscore.connectors.salesforce.emulator import soql as salesforce_soql  # noqa: E402

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
UNLIMITED = RateLimits(per_ten_seconds=10_000_000, daily=1_000_000_000, search_per_second=1_000_000)
PROPERTIES = ["email", "firstname", "lastname", "jobtitle", "company", "industry", "country", "lifecyclestage",
              "hs_analytics_num_page_views", "hs_email_open", "num_conversion_events", "recent_conversion_date",
              "notes_last_contacted", "associatedcompanyid", "lastmodifieddate"]


class ServerCpu:
    """CPU seconds the emulator's request threads spend, from parsing a request to answering it."""

    def __init__(self, core: Any = emulator_core) -> None:
        self.seconds = 0.0
        self._lock = threading.Lock()
        original = core._Handler.handle_one_request
        meter = self

        def metered(handler: Any) -> None:
            started = time.thread_time()
            try:
                original(handler)
            finally:
                spent = time.thread_time() - started
                with meter._lock:
                    meter.seconds += spent

        core._Handler.handle_one_request = metered  # type: ignore[method-assign]


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    current = pages * resource.getpagesize() / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


def measure(meter: ServerCpu, label: str, pages: Callable[[], Any], count: int,
            warm: bool = False) -> dict[str, float]:
    """Run ``pages`` ``count`` times; print and return server and client CPU per page. With
    ``warm``, one call first, shown apart (it builds the indexes the request needs)."""
    first = None
    if warm:
        time.sleep(0.05)
        server0 = meter.seconds
        pages()
        time.sleep(0.05)
        first = meter.seconds - server0
    # A request thread adds its CPU after the client has its answer: let the last one settle.
    time.sleep(0.05)
    server0, process0, wall0 = meter.seconds, time.process_time(), time.perf_counter()
    for _ in range(count):
        pages()
    wall = (time.perf_counter() - wall0) / count
    time.sleep(0.05)
    server = (meter.seconds - server0) / count
    client = (time.process_time() - process0) / count - server
    shown = f"   first {first * 1000:8.1f} ms" if first is not None else ""
    print(f"  {label:<58} server {server * 1000:8.2f} ms/page   client {client * 1000:7.2f} ms/page   "
          f"wall {wall * 1000:8.2f} ms{shown}")
    found = {"server": server, "client": client}
    if first is not None:
        found["first"] = first
    return found


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


#: The connector's Lead columns (``RecordReader.pull`` with the default field map and no needs).
SF_COLUMNS = ("Id, SystemModstamp, IsDeleted, CreatedDate, AnnualRevenue, City, Company, Country, Email, FirstName, "
              "Industry, LastName, LeadSource, NumberOfEmployees, State, Title, IsConverted, ConvertedContactId")


def run_salesforce(count: int, pages: int, scan: bool) -> dict[str, Any]:
    meter = ServerCpu(salesforce_core)
    gc.collect()
    emu = SalesforceEmulator(daily_limit=10**9).start()
    try:
        before = rss_mb()[0]
        started = time.process_time()
        ids = emu.seed(count, seed=7, as_of=AS_OF)
        seed_cpu = time.process_time() - started
        gc.collect()
        current, peak = rss_mb()
        store = emu._store
        records = sum(len(r) for r in store.records.values())
        print(f"\n{count:,} leads ({records:,} records): seed {seed_cpu:.1f} s CPU ({seed_cpu / count * 1e6:.0f} us/lead); "
              f"RSS {current:,.0f} MB after seeding ({current - before:,.0f} MB for the org, "
              f"{(current - before) * 2**20 / records:,.0f} B/record), peak {peak:,.0f} MB")
        session = requests_session_trusting(emu.ca_bundle, timeout=(5, 600))
        creds = emu.credentials
        token = session.post(f"{emu.login_url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": creds.client_id, "client_secret": creds.client_secret,
            "username": creds.username, "password": creds.password}).json()["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        base = f"{emu.instance_url}/services/data/v{emu.api_version}"

        def get(url: str, **params: Any) -> Any:
            answer = session.get(url, params=params or None)
            answer.raise_for_status()
            return answer.json()

        def soql(text: str, word: str = "queryAll") -> Callable[[], Any]:
            return lambda: get(f"{base}/{word}", q=text)

        def iso(ms: int) -> str:
            return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        with store.lock:
            stamps = sorted(r.values["SystemModstamp"] for r in store.records["Lead"].values())
        until, week = stamps[-1], stamps[-1] - 7 * 86_400_000
        window = f"SystemModstamp > {iso(week)} AND SystemModstamp <= {iso(until)}"
        full = f"SELECT {SF_COLUMNS} FROM Lead ORDER BY SystemModstamp, Id"
        results: dict[str, Any] = {"seed_cpu": seed_cpu, "rss_mb": current, "peak_mb": peak}
        results["pull_first"] = measure(meter, "full pull, first page (2,000)", soql(full), pages, warm=True)
        locator = get(f"{base}/queryAll", q=full).get("nextRecordsUrl", "")
        middle = f"{emu.instance_url}{locator.rsplit('-', 1)[0]}-{(count // 2000) * 1000}"
        if locator:
            results["pull_middle"] = measure(meter, "full pull, queryMore page from the middle (2,000)",
                                             lambda: get(middle), pages)
        in_week = get(f"{base}/queryAll", q=f"SELECT COUNT() FROM Lead WHERE {window}")["totalSize"]
        results["window_first"] = measure(meter, f"window, last week ({in_week:,} leads), first page",
                                          soql(f"SELECT {SF_COLUMNS} FROM Lead WHERE {window} ORDER BY SystemModstamp, Id"),
                                          pages, warm=True)
        results["window_count"] = measure(meter, "window, SELECT COUNT()",
                                          soql(f"SELECT COUNT() FROM Lead WHERE {window}"), pages, warm=True)
        results["touched"] = measure(meter, "window, Tasks changed in it (first page)",
                                     soql(f"SELECT WhoId, SystemModstamp FROM Task WHERE {window}", "query"),
                                     max(1, pages // 5), warm=True)
        # A sync every hour or so: the window since the last one.
        hour = f"SystemModstamp > {iso(until - 3_600_000)} AND SystemModstamp <= {iso(until)}"
        in_hour = get(f"{base}/queryAll", q=f"SELECT COUNT() FROM Lead WHERE {hour}")["totalSize"]
        results["hour_first"] = measure(meter, f"window, last hour ({in_hour:,} leads), first page",
                                        soql(f"SELECT {SF_COLUMNS} FROM Lead WHERE {hour} ORDER BY SystemModstamp, Id"),
                                        pages)
        results["hour_touched"] = measure(meter, "window, last hour, Tasks changed in it",
                                          soql(f"SELECT WhoId, SystemModstamp FROM Task WHERE {hour}", "query"), pages)
        some = ", ".join(f"'{i}'" for i in ids[len(ids) // 2:len(ids) // 2 + 500])
        results["by_id"] = measure(meter, "Lead WHERE Id IN (500 ids)",
                                   soql(f"SELECT {SF_COLUMNS} FROM Lead WHERE Id IN ({some})"), pages, warm=True)
        results["tasks"] = measure(meter, "Task WHERE WhoId IN (500) AND TaskSubtype IN (...)", soql(
            "SELECT Id, WhoId, TaskSubtype, Subject, CallType, CallDurationInSeconds, Status, ActivityDate, CreatedDate "
            f"FROM Task WHERE WhoId IN ({some}) AND TaskSubtype IN ('Call', 'Email')", "query"), pages, warm=True)
        results["members"] = measure(meter, "CampaignMember WHERE LeadId IN (500)", soql(
            "SELECT Id, LeadId, ContactId, CampaignId, Status, HasResponded, FirstRespondedDate, CreatedDate "
            f"FROM CampaignMember WHERE LeadId IN ({some})", "query"), pages, warm=True)
        with store.lock:
            live = [r.id for r in store.records["Lead"].values() if not r.deleted and not r.values.get("IsConverted")]
        batches = iter(range(10**9))

        def update() -> Any:
            n = next(batches)
            start = (n * 200) % max(1, len(live) - 200)
            body = {"allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "id": i, "Title": f"Bench {n}"}
                                                    for i in live[start:start + 200]]}
            answer = session.patch(f"{base}/composite/sobjects", json=body)
            answer.raise_for_status()
        results["update"] = measure(meter, "composite/sobjects update of 200 Leads", update, pages)
        if scan and hasattr(salesforce_soql, "indexed"):
            indexed = salesforce_soql.indexed
            salesforce_soql.indexed = lambda *args, **kwargs: None  # the full evaluation, as before the indexes
            try:
                results["pull_scan"] = measure(meter, "full pull, first page, indexes bypassed (scan)", soql(full),
                                               max(1, pages // 5))
            finally:
                salesforce_soql.indexed = indexed
        gc.collect()
        results["rss_end_mb"] = rss_mb()[0]
        print(f"  RSS {results['rss_end_mb']:,.0f} MB after the queries (with the indexes they built), "
              f"peak {rss_mb()[1]:,.0f} MB")
        return results
    finally:
        emu.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crm", choices=("hubspot", "salesforce"), default="hubspot")
    parser.add_argument("--count", "--contacts", "--leads", dest="count", type=int, default=100_000,
                        help="contacts (HubSpot) or leads (Salesforce) to seed")
    parser.add_argument("--pages", type=int, default=20, help="requests timed per measurement")
    parser.add_argument("--no-scan", action="store_true", help="skip the bypassed-index comparison")
    parser.add_argument("--no-compare", action="store_true", help="skip the 10,000-record comparison run")
    args = parser.parse_args()
    one = run_salesforce if args.crm == "salesforce" else run
    sizes = [args.count] if args.no_compare or args.count == 10_000 else [10_000, args.count]
    found = {n: one(n, args.pages, not args.no_scan) for n in sizes}
    if len(found) == 2:
        small, large = found[10_000], found[args.count]
        print(f"\n{args.count:,} vs 10,000 ({args.count / 10_000:.0f}x): server CPU per page")
        for key, value in large.items():
            if isinstance(value, dict) and key in small:
                ratio = value["server"] / small[key]["server"] if small[key]["server"] else float("nan")
                print(f"  {key:<16} {ratio:6.2f}x")


if __name__ == "__main__":
    main()
