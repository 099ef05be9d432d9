"""What the state store costs per lead: bytes on disk, mirroring a pulled batch, reading the mirror
back, and the nightly rescore of the whole mirror (time and peak memory).

For N generated leads with 20 activities each (``connectors.sample.generate_leads``), scored by the
shipped example model, against a SQLite file (or ``--url`` for PostgreSQL):

1. **mirror**: ``record_batch`` of every lead with its activities, 1,000 a batch, as a backfill's
   pulls record them (CPU per lead), then the file's bytes per lead (after a WAL checkpoint);
2. **re-pull**: the same batches again, unchanged, as an overlapping sync re-reads them;
3. **read**: the mirror read back a page at a time (``mirror_leads``), activities decoded;
4. **rescore**: ``leadscore rescore`` as the nightly job runs it (``ConnectorJobs.run``) against
   a connector that takes every write: the first writes every lead, the second (a day later)
   only what decay moved. Each runs in a fresh process, whose peak RSS is reported.

    python bench/state_store.py                # 100,000 leads
    python bench/state_store.py --leads 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from leadscore.agent.config import load_config  # noqa: E402
from leadscore.agent.core.contract import (  # noqa: E402
    CheckReport, Cursor, OutcomeBatch, PullBatch, PullNeeds, ScoreUpdate, SetupReport, WriteResult, WriteSpec, WriteStatus,
)
from leadscore.agent.logs import configure_logging  # noqa: E402
from leadscore.agent.settings import AgentSettings  # noqa: E402
from leadscore.agent.state import StateStore  # noqa: E402
from leadscore.agent.sync.jobs import ConnectorJobs  # noqa: E402
from leadscore.agent.sync.models import build_scorer  # noqa: E402
from leadscore.connectors.sample import generate_leads  # noqa: E402

AS_OF = datetime(2026, 11, 1, 2, 30, tzinfo=timezone.utc)
BATCH = 1_000
CONFIG = ROOT / "config.example.toml"


class TakingConnector:
    """A connector that answers every write OK, 100 records a call, and counts calls."""

    name = "bench"
    object_types = ("contact",)
    config_model = None

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.written = 0

    @property
    def write_values(self) -> frozenset[str]:
        return frozenset({"score", "stage", "reason"})

    def check(self) -> CheckReport:
        return CheckReport(ok=True)

    def setup(self, spec: WriteSpec) -> SetupReport:
        return SetupReport()

    def pull(self, cursor: Cursor, *, until: datetime | None = None, needs: PullNeeds | None = None) -> Iterator[PullBatch]:
        return iter(())

    def pull_outcomes(self, cursor: Cursor, *, until: datetime | None = None) -> Iterator[OutcomeBatch]:
        return iter(())

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        self.calls["records.batch.update"] += -(-len(updates) // 100)
        self.written += len(updates)
        return [WriteResult(u.record_id, WriteStatus.OK) for u in updates]

    def api_calls(self) -> dict[str, int]:
        return dict(self.calls)

    def count(self, cursor: object, *, until: object = None) -> int | None:
        return None

    def identity(self) -> str | None:
        return None

    def close(self) -> None:
        pass


def cpu() -> float:
    return time.process_time()


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def mirror(url: str, path: Path | None, count: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with StateStore.open(url) as store:
        spent = again = 0.0
        batches = 0
        data = generate_leads(count, seed=7, as_of=AS_OF, activities_per_lead=20)
        while True:
            chunk = [next(data, None) for _ in range(BATCH)]
            chunk = [c for c in chunk if c is not None]
            if not chunk:
                break
            cursor = Cursor("contact", f"2026-10-01T00:00:00.{batches:06d}Z")
            leads = [replace(c.lead, object_type="contact") for c in chunk]
            batch = PullBatch(leads, [a for c in chunk for a in c.activities], cursor)
            start = cpu()
            store.record_batch("bench", batch)
            spent += cpu() - start
            start = cpu()
            store.record_batch("bench", batch)  # the same records pulled again, unchanged
            again += cpu() - start
            batches += 1
        out["mirror_us"] = spent / count * 1e6
        out["repull_us"] = again / count * 1e6
    if path is not None:
        with sqlite3.connect(path) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        out["bytes_per_lead"] = db_bytes(path) / count
    with StateStore.open(url) as store:
        start, read = cpu(), 0
        for mirrored in store.mirror_leads("bench"):
            read += len(mirrored.activities)
        out["read_us"] = (cpu() - start) / count * 1e6
        out["read_activities"] = read
    return out


def rescore_child(url: str, as_of: str) -> None:
    """In a fresh process: one nightly rescore; prints its figures as JSON."""
    configure_logging("json", "warning")
    store = StateStore.open(url)
    config = load_config(CONFIG)
    connector = TakingConnector()
    jobs = ConnectorJobs("bench", {}, store, build_scorer(config), AgentSettings(), factory=lambda _t: connector)
    wall, start = time.perf_counter(), cpu()
    (outcome,) = jobs.run("rescore", as_of=datetime.fromisoformat(as_of))
    figures: dict[str, Any] = {
        "status": outcome.status, "error": outcome.error, "cpu_s": cpu() - start, "wall_s": time.perf_counter() - wall,
        "written": connector.written, "calls": sum(connector.calls.values()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **{k: v for k, v in outcome.counts.as_dict().items() if k in ("scored", "changed")},
    }
    store.close()
    print(json.dumps(figures))


def rescore(url: str, as_of: datetime) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--rescore-child", url, as_of.isoformat()],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--url", help="a state URL (default: a SQLite file in a temporary folder)")
    parser.add_argument("--rescore-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rescore_child:
        rescore_child(*args.rescore_child)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.db"
        url = args.url or f"sqlite:///{path}"
        configure_logging("console", "warning")
        print(f"leadscore state store benchmark: {args.leads:,} leads x 20 activities, {url.split(':')[0]}, pid {os.getpid()}")
        figures = mirror(url, None if args.url else path, args.leads)
        print(f"  mirror a pulled batch   {figures['mirror_us']:8.1f} us CPU per lead (record_batch, {BATCH:,} a batch)")
        print(f"  the same pulled again   {figures['repull_us']:8.1f} us CPU per lead (unchanged: nothing rewritten)")
        if "bytes_per_lead" in figures:
            print(f"  on disk                 {figures['bytes_per_lead']:8.0f} bytes per lead (after a WAL checkpoint)")
        print(f"  read the mirror back    {figures['read_us']:8.1f} us CPU per lead ({figures['read_activities']:,.0f} activities decoded)")
        for label, as_of in (("first rescore", AS_OF), ("a day later", AS_OF + timedelta(days=1))):
            r = rescore(url, as_of)
            if r["status"] != "ok":
                print(f"  rescore failed: {r['error']}")
                return 1
            print(f"  {label:<22}  {r['wall_s']:8.1f} s wall, {r['cpu_s']:.1f} s CPU ({r['cpu_s'] / args.leads * 1e6:.0f} us/lead), "
                  f"peak RSS {r['peak_rss_mb']:,.0f} MB; scored {r['scored']:,}, wrote {r['written']:,} in {r['calls']:,} calls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
