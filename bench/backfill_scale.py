"""A HubSpot backfill through the CLI, at scale and at the documented rate limit: wall time against
the floor the limit allows, calls, 429s, and the agent's peak memory.

The HubSpot emulator runs in this process at a subscription tier's documented limits
(``RateLimits.for_tier``: Professional, 190 requests per 10 seconds and 5 searches a second, the
connector's defaults too), seeded with N generated contacts. ``leadscore setup`` and then, at once,
``leadscore backfill`` run as subprocesses on the shipped example model, as an admin runs them, so
the backfill starts while setup's calls are still inside the portal's 10-second window.

The floor is the time the limit allows the calls the backfill made: ``max(calls / 19 per second,
searches / 5 per second)``; the ratio wall / floor says how close to the limit the agent runs.
The agent's peak RSS is its process's ``VmHWM``, its CPU from ``wait4``; the emulator's CPU is this process's.

    python bench/backfill_scale.py --contacts 100000
    python bench/backfill_scale.py --contacts 1000000 --tier enterprise
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits  # noqa: E402

LEADSCORE = Path(sys.executable).with_name("leadscore")
SEEDED_AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


def config_text(folder: Path, host: str) -> str:
    model = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    return (f'{model}\n[agent]\nstate_url = "sqlite:///{folder / "state.db"}"\nmetrics_port = 0\nlog_format = "json"\n'
            f'log_level = "warning"\n\n[connectors.hubspot]\nhost = "{host}"\naccess_token = "${{HS_TOKEN}}"\n')


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set so far (``VmHWM``; its own since ``exec``), or None."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(argv: list[str], env: dict[str, str]) -> tuple[int, float, float, float, str]:
    """Run a command to its end: exit code, wall seconds, CPU seconds, peak RSS in MB (polled:
    ``wait4``'s would count this process's pages, which a child shares until it ``exec``s), and
    its stderr's tail."""
    start = time.perf_counter()
    peak = 0.0
    with tempfile.TemporaryFile("w+") as err:
        actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                break
            peak = max(peak, peak_rss_mb(pid) or 0.0)
            time.sleep(0.05)
        err.seek(0)
        tail = err.read()[-2000:]
    return os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_utime + usage.ru_stime, peak, tail


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--tier", default="professional", help="the portal's tier (its documented limits)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    limits = RateLimits.for_tier(args.tier)
    emulator = HubSpotEmulator(limits=limits).start()
    start = time.process_time()
    emulator.seed(args.contacts, seed=args.seed, as_of=SEEDED_AS_OF)
    seeded = time.process_time() - start
    print(f"leadscore backfill at scale: {args.contacts:,} HubSpot contacts, {args.tier} tier "
          f"({limits.per_ten_seconds} requests/10 s, {limits.search_per_second} searches/s); seeded in {seeded:.0f} s CPU")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "leadscore.toml"
        config.write_text(config_text(folder, emulator.base_url), encoding="utf-8")
        env = {**os.environ, "HS_TOKEN": emulator.token or "", "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
        failed = False
        for command in ("setup", "backfill"):
            before = len(emulator.requests())
            cpu_before = time.process_time()
            code, wall, cpu, peak, tail = run([str(LEADSCORE), command, "--config", str(config)], env)
            served = emulator.requests()[before:]
            calls = [r for r in served if r.status != 429]
            searches = sum(1 for r in calls if "search" in r.endpoint)
            floor = max(len(calls) * 10 / limits.per_ten_seconds, searches / limits.search_per_second)
            by_family = Counter(r.endpoint for r in calls)
            print(f"\n  leadscore {command}: exit {code}, {wall:,.1f} s wall")
            print(f"    calls        {len(calls):,} ({searches:,} searches), {len(served) - len(calls):,} answered 429")
            print(f"    floor        {floor:,.1f} s at the limit; wall / floor = {wall / floor if floor else 0:.3f}")
            print(f"    agent        peak RSS {peak:,.0f} MB, CPU {cpu:,.1f} s")
            print(f"    emulator     CPU {time.process_time() - cpu_before:,.1f} s")
            print("    by endpoint  " + ", ".join(f"{k} {v:,}" for k, v in by_family.most_common(8)))
            if code != 0:
                print(tail)
                failed = True
                break
    emulator.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
