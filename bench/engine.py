"""Throughput benchmark for the scoring engine (``agent.scoring.ScoringEngine``).

What it measures: how many leads per second one Python process scores, end to end, under a
realistic 30-rule model -- fit rules on lead fields, engagement rules on 20 activities per lead
with every decay curve, tiers, occurrence limits, lookback windows, rule and group caps, a
BANT-gated SQL stage and a grade matrix -- *including* rendering each result's 255-character
reason line, because every score the agent writes to a CRM carries one.

Why: the agent rescores a whole CRM on every model change. The target is 1,000,000 leads per
minute on one core (about 16,700 leads/s, 60 us per lead), so a full rescore of a large portal
stays a coffee break rather than a batch job. The script reports how far the engine is from that
target and where the time goes, so optimisation work starts from numbers rather than guesses.

How: leads and activities are generated up front with :func:`agent.sample.generate_leads` (not
timed), the model (``bench/engine_model.toml``) is validated through
:func:`agent.config.parse_config` exactly as a real config file would be, and then three
single-process passes are timed with ``time.perf_counter``:

1. score + reason (the headline number),
2. score only,
3. reason formatting only (each batch of results is built untimed, then its reasons are timed).

No timed pass keeps its results: the agent streams results to the CRM, and holding 100k of them
(over a million tracked objects) would make the garbage collector the thing being measured.

After generation the fixture heap is moved out of the cyclic garbage collector's reach with
``gc.freeze()``: two million pre-built Activity objects are an artefact of the benchmark (the
agent streams leads from connectors), and rescanning them on every gen-2 collection would
measure the fixture rather than the engine. ``--no-gc-freeze`` measures with them in reach.

Run from the repository root::

    python bench/engine.py                  # 100k leads x 20 activities
    python bench/engine.py --quick          # 10k leads, a smoke run
    python bench/engine.py --profile        # plus cProfile of 10k leads, top functions by tottime
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from leadscore.agent.config import parse_config  # noqa: E402
from leadscore.agent.core.records import ScoreResult  # noqa: E402
from leadscore.connectors.sample import SampleLead, generate_leads  # noqa: E402
from leadscore.agent.scoring import ScoringEngine, ScoringModel  # noqa: E402
from leadscore.agent.scoring.model import EngagementRule, FitRule  # noqa: E402

TARGET_PER_MINUTE = 1_000_000
FULL_LEADS = 100_000
QUICK_LEADS = 10_000
PROFILE_LEADS = 10_000
WARMUP_LEADS = 1_000
CHUNK = 1_000  # leads scored (untimed) per batch of the reason-only pass
REASON_BUDGET = 255
TOP_FUNCTIONS = 15
AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)

#: The 30-rule benchmark model (13 fit rules, 17 engagement rules), a config file like any other.
MODEL_PATH = Path(__file__).resolve().with_name("engine_model.toml")


@dataclass(frozen=True)
class Timing:
    name: str
    seconds: float
    leads: int

    @property
    def per_second(self) -> float:
        return self.leads / self.seconds if self.seconds > 0 else float("inf")

    @property
    def micros_per_lead(self) -> float:
        return self.seconds / self.leads * 1e6 if self.leads else 0.0


def load_model() -> ScoringModel:
    """The benchmark model, validated exactly like a config file (shapes and cross-references)."""
    model = parse_config(MODEL_PATH.read_text(encoding="utf-8"), source=str(MODEL_PATH.relative_to(ROOT))).scoring
    if len(model.rules) != 30:
        raise SystemExit(f"benchmark model must have 30 rules, has {len(model.rules)}")
    return model


def describe_model(model: ScoringModel) -> str:
    fit = sum(isinstance(r, FitRule) for r in model.rules)
    engagement = [r for r in model.rules if isinstance(r, EngagementRule)]
    decays = sorted(
        {r.decay.kind for r in engagement if r.decay is not None}
        | {g.decay.kind for g in model.groups if g.decay is not None}
    )
    return (
        f"{len(model.rules)} rules ({fit} fit, {len(engagement)} engagement), {len(model.groups)} groups, "
        f"{len(model.stages)} stages, decay: {', '.join(decays)}"
    )


def generate(count: int, activities_per_lead: int, seed: int) -> list[SampleLead]:
    return list(generate_leads(count, seed=seed, as_of=AS_OF, activities_per_lead=activities_per_lead))


def time_score_and_reason(engine: ScoringEngine, data: Sequence[SampleLead]) -> Timing:
    """The headline pass: what the agent does per lead before writing to a CRM."""
    score = engine.score
    as_of = AS_OF
    start = time.perf_counter()
    for sample in data:
        score(sample.lead, sample.activities, as_of).reason(REASON_BUDGET)
    elapsed = time.perf_counter() - start
    return Timing("score + reason", elapsed, len(data))


def time_score_only(engine: ScoringEngine, data: Sequence[SampleLead]) -> Timing:
    score = engine.score
    as_of = AS_OF
    start = time.perf_counter()
    for sample in data:
        score(sample.lead, sample.activities, as_of)
    elapsed = time.perf_counter() - start
    return Timing("score only", elapsed, len(data))


def time_reason_only(engine: ScoringEngine, data: Sequence[SampleLead], sanity: Sanity) -> Timing:
    """Reason formatting alone: each chunk is scored untimed, then its reasons are timed; the
    chunk's results feed the sanity summary and are dropped (see the module docstring)."""
    score = engine.score
    as_of = AS_OF
    elapsed = 0.0
    for offset in range(0, len(data), CHUNK):
        results = [score(s.lead, s.activities, as_of) for s in data[offset : offset + CHUNK]]
        start = time.perf_counter()
        reasons = [r.reason(REASON_BUDGET) for r in results]
        elapsed += time.perf_counter() - start
        sanity.add(results, reasons)
    return Timing("reason only", elapsed, len(data))


def profile(engine: ScoringEngine, data: Sequence[SampleLead]) -> pstats.Stats:
    score = engine.score
    profiler = cProfile.Profile()
    profiler.enable()
    for sample in data:
        score(sample.lead, sample.activities, AS_OF).reason(REASON_BUDGET)
    profiler.disable()
    return pstats.Stats(profiler)


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name  # a builtin, e.g. "<method 'append' of 'list' objects>"
    try:
        filename = str(Path(filename).resolve().relative_to(ROOT))
    except ValueError:
        filename = Path(filename).name
    return f"{name}  ({filename}:{line})"


def print_profile(stats: pstats.Stats, leads: int) -> None:
    raw = stats.stats  # type: ignore[attr-defined]  # {func: (cc, ncalls, tottime, cumtime, callers)}
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\nprofile: {leads:,} leads, {total:.2f} s under cProfile (call overhead inflates call-heavy code)")
    print(f"  top {TOP_FUNCTIONS} by tottime:")
    print(f"  {'ncalls':>11} {'tottime':>8} {'share':>6} {'cumtime':>8} {'calls/lead':>10}  function")
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:TOP_FUNCTIONS]
    for func, (_cc, ncalls, tottime, cumtime, _callers) in ranked:
        print(
            f"  {ncalls:>11,} {tottime:>8.3f} {tottime / total:>6.1%} {cumtime:>8.3f} "
            f"{ncalls / leads:>10.1f}  {_where(func)}"
        )

    # Cumulative time of the engine's phases (each includes its callees).
    phases = (
        ("ScoringEngine.score", "engine.py", "score"),
        ("  _activities_by_type", "engine.py", "_activities_by_type"),
        ("  _engagement_points", "engine.py", "_engagement_points"),
        ("  _add (reason parts)", "engine.py", "_add"),
        ("  StageLadder.decide", "stages.py", "decide"),
        ("  GradeMatrix.grade", "stages.py", "grade"),
        ("ScoreResult.reason", "records.py", "reason"),
        ("  ReasonPart.render", "records.py", "render"),
    )
    print("  phases by cumtime:")
    for title, file_suffix, name in phases:
        cumtime = sum(v[3] for f, v in raw.items() if f[2] == name and f[0].endswith(file_suffix))
        print(f"    {title:<24} {cumtime:>7.3f} s  {cumtime / total:>6.1%}")


@dataclass
class Sanity:
    """Evidence that the model does real work: a spread of stages and grades, full reason lines."""

    stages: Counter[str] = field(default_factory=Counter)
    grades: Counter[str | None] = field(default_factory=Counter)
    scores: list[int] = field(default_factory=list)
    parts: int = 0
    gated: int = 0
    warned: int = 0
    reason_chars: int = 0
    longest: str = ""

    def add(self, results: Sequence[ScoreResult], reasons: Sequence[str]) -> None:
        for result, reason in zip(results, reasons):
            self.stages[result.stage] += 1
            self.grades[result.grade] += 1
            self.scores.append(result.score)
            self.parts += len(result.reasons)
            self.gated += any(p.kind == "gate" for p in result.reasons)
            self.warned += bool(result.warnings)
            self.reason_chars += len(reason)
            if len(reason) > len(self.longest):
                self.longest = reason

    def print(self) -> None:
        n = len(self.scores)
        if not n:
            return
        scores = sorted(self.scores)
        stages = sorted(self.stages.items(), key=lambda kv: -kv[1])
        print("\nsanity:")
        print(f"  stages   {', '.join(f'{k} {v / n:.1%}' for k, v in stages)}")
        print(f"  grades   {', '.join(f'{k} {v / n:.1%}' for k, v in self.grades.most_common(6))} ...")
        print(
            f"  score    median {scores[n // 2]}, p90 {scores[int(n * 0.9)]}, max {scores[-1]}; "
            f"{self.parts / n:.1f} reason parts/lead; {self.gated:,} held by the BANT gate; "
            f"{self.warned:,} with warnings"
        )
        print(f"  reason   mean {self.reason_chars / n:.0f} chars; longest:")
        print(f"           {self.longest}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=None, help=f"leads to score (default {FULL_LEADS:,})")
    parser.add_argument("--activities-per-lead", type=int, default=20, help="activities per lead (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_LEADS:,} leads")
    parser.add_argument(
        "--profile", action="store_true", help=f"also cProfile {PROFILE_LEADS:,} leads, top {TOP_FUNCTIONS} by tottime"
    )
    parser.add_argument(
        "--no-gc-freeze", action="store_true", help="leave the generated data in reach of the cyclic GC"
    )
    args = parser.parse_args(argv)
    if args.leads is None:
        args.leads = QUICK_LEADS if args.quick else FULL_LEADS
    if args.leads < 1 or args.activities_per_lead < 0:
        parser.error("--leads must be positive and --activities-per-lead non-negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    model = load_model()
    engine = ScoringEngine(model)

    start = time.perf_counter()
    data = generate(args.leads, args.activities_per_lead, args.seed)
    generated_in = time.perf_counter() - start
    activities = sum(len(s.activities) for s in data)
    gc.collect()
    if not args.no_gc_freeze:
        gc.freeze()

    print("leadscore engine benchmark")
    print(f"  python         {sys.version.split()[0]} on {sys.platform}, pid {os.getpid()}, single process")
    print(f"  model          {model.name} version {engine.version}: {describe_model(model)}")
    print(f"  rules          {len(model.rules)}")
    print(f"  leads          {len(data):,}")
    print(f"  activities     {activities:,} ({args.activities_per_lead} per lead, seed {args.seed}; "
          f"generated in {generated_in:.1f} s, not timed)")
    print(f"  as_of          {AS_OF.isoformat()}; gc.freeze {'off' if args.no_gc_freeze else 'on'}")

    # Warm up (regex caches, first-call paths) outside the timed passes.
    time_score_and_reason(engine, data[:WARMUP_LEADS])

    # Each pass starts from a collected heap, so no pass pays for another's garbage.
    sanity = Sanity()
    gc.collect()
    headline = time_score_and_reason(engine, data)
    gc.collect()
    scoring = time_score_only(engine, data)
    gc.collect()
    formatting = time_reason_only(engine, data, sanity)
    timings = (headline, scoring, formatting)

    print(f"\n  {'pass':<16} {'seconds':>8} {'leads/s':>10} {'us/lead':>8}")
    for t in timings:
        print(f"  {t.name:<16} {t.seconds:>8.3f} {t.per_second:>10,.0f} {t.micros_per_lead:>8.1f}")

    per_minute = headline.per_second * 60
    print(f"\n  seconds        {headline.seconds:.3f} (score + reason, {len(data):,} leads)")
    print(f"  leads/second   {headline.per_second:,.0f}")
    print(f"  leads/minute   {per_minute:,.0f}")
    print(f"  target         {per_minute / TARGET_PER_MINUTE:.1%} of {TARGET_PER_MINUTE:,} leads/minute "
          f"(needs {60e6 / TARGET_PER_MINUTE:.0f} us/lead, took {headline.micros_per_lead:.1f})")
    split = scoring.seconds + formatting.seconds
    print(f"  breakdown      scoring {scoring.seconds:.3f} s ({scoring.seconds / split:.0%}), "
          f"reason formatting {formatting.seconds:.3f} s ({formatting.seconds / split:.0%}); "
          f"score+reason minus score-only = {headline.seconds - scoring.seconds:.3f} s")

    sanity.print()

    if args.profile:
        subset = data[: min(PROFILE_LEADS, len(data))]
        print_profile(profile(engine, subset), len(subset))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
