"""Throughput of the scoring engine beside a plain numpy program doing the same arithmetic.

What it measures, per core (CPU seconds of this one process), at 10, 20 and 50 activities per
lead, on the same generated leads:

- **engine**: :meth:`ScoringEngine.score_batch` over a batch's columns, *with a reason line
  rendered for every lead* (as in a backfill, where every record is new): the headline.
- **engine, scores only**: the same without reasons.
- **numpy reference**: :func:`reference_scores`, a plain numpy program written apart from the
  engine (no shared arithmetic: its own occurrence ranking, decay curves, caps and stage ladder)
  that computes only scores and stages - the floor this machine allows for the model's
  arithmetic. The ratio engine / reference is the engine's overhead for explaining itself.
- **columns**: turning :class:`Activity` objects into the columns both read (not in either
  figure: the state store can keep activities as columns).
- **per-record path** (before): :meth:`ScoringEngine.score` one lead at a time, on a subset.

The bench checks that the engine and the reference give the same score and stage to every
lead, and that the engine's results (scores, stages, reason parts and lines) equal the
per-record path's on the subset; it exits 1 otherwise.

Run from the repository root::

    python bench/engine.py            # 40k leads at each of 10, 20 and 50 activities per lead
    python bench/engine.py --quick    # 4k leads
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from leadscore.agent.config import parse_config  # noqa: E402
from leadscore.agent.core.records import Lead  # noqa: E402
from leadscore.agent.scoring import ScoringEngine, ScoringModel  # noqa: E402
from leadscore.agent.scoring.batch import LeadColumns  # noqa: E402
from leadscore.agent.scoring.columns import ActivityColumns, Factorized  # noqa: E402
from leadscore.agent.scoring.conditions import compile_condition  # noqa: E402
from leadscore.agent.scoring.model import (  # noqa: E402
    Condition, EngagementRule, ExpireDecay, ExponentialDecay, FitRule, LinearDecay, StepDecay,
)
from leadscore.connectors.sample import generate_leads  # noqa: E402

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
TARGET_PER_MINUTE = 5_000_000
WITHIN = 2.0
ACTIVITY_LEVELS = (10, 20, 50)
FULL_LEADS = 40_000
QUICK_LEADS = 4_000
BATCH = 4_096
SUBSET = 2_000
REASON_BUDGET = 255
MODEL_PATH = Path(__file__).resolve().with_name("engine_model.toml")


def load_model() -> ScoringModel:
    return parse_config(MODEL_PATH.read_text(encoding="utf-8"), source=str(MODEL_PATH.relative_to(ROOT))).scoring


# --- the numpy reference -----------------------------------------------------------------------


def _half_away(values: np.ndarray) -> np.ndarray:
    magnitude = np.floor(np.abs(values) + 0.5 + 1e-9)
    return np.where(values >= 0, magnitude, -magnitude)


def _clip(values: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    out = values
    if low is not None:
        out = np.where(values < low, _half_away(np.array(low)), out)
    if high is not None:
        out = np.where(values > high, _half_away(np.array(high)), out)
    return out


def _mask(cond: Condition, column: Callable[[str], Factorized], n: int) -> np.ndarray:
    """Where ``cond`` holds: each leaf test on the distinct values of its field, then and/or/not."""
    mask = np.ones(n, bool)
    if cond.field is not None:
        leaf = compile_condition(cond.model_copy(update={"all": None, "any": None, "not_": None}))
        col = column(cond.field)
        answers = np.array([leaf({cond.field: v}) for v in col.values], dtype=bool)
        mask &= answers[col.codes]
    if cond.all is not None:
        for child in cond.all:
            mask &= _mask(child, column, n)
    if cond.any is not None:
        found = np.zeros(n, bool)
        for child in cond.any:
            found |= _mask(child, column, n)
        mask &= found
    if cond.not_ is not None:
        mask &= ~_mask(cond.not_, column, n)
    return mask


def _decayed(rule_decay: Any, points: np.ndarray, age: np.ndarray) -> np.ndarray:
    if isinstance(rule_decay, LinearDecay):
        return points * np.clip(1.0 - age / rule_decay.over_days, 0.0, None)
    if isinstance(rule_decay, ExponentialDecay):
        return points * 0.5 ** (age / rule_decay.half_life_days)
    if isinstance(rule_decay, ExpireDecay):
        return points * (age <= rule_decay.after_days)
    if isinstance(rule_decay, StepDecay):
        for step in sorted(rule_decay.normalised_steps(), key=lambda s: s.after_days):
            on = age >= step.after_days
            if step.factor is not None:
                points = np.where(on, points * step.factor, points)
            else:
                shrunk = np.sign(points) * np.clip(np.abs(points) - (step.minus or 0.0), 0.0, None)
                points = np.where(on, shrunk, points)
        return points
    return points


def reference_scores(model: ScoringModel, leads: Sequence[Lead], acts: ActivityColumns) -> tuple[np.ndarray, np.ndarray]:
    """Scores and stage indexes (into ``model.stages``) of ``leads``: the model's arithmetic and
    nothing else (no reasons, no warnings)."""
    n = len(leads)
    columns = LeadColumns([lead.fields for lead in leads])
    groups = {g.name: i for i, g in enumerate(model.groups)}
    group_sum = np.zeros((len(model.groups), n))
    group_on = np.zeros((len(model.groups), n), bool)
    total = np.zeros(n)
    age = (AS_OF.timestamp() - acts.occurred) / 86400.0
    type_code = {t: i for i, t in enumerate(acts.types)}
    live = np.flatnonzero(age >= 0)
    by_type = live[np.argsort(acts.type[live], kind="stable")]
    cuts = np.searchsorted(acts.type[by_type], np.arange(len(acts.types) + 1))
    of_type = {c: by_type[cuts[c]:cuts[c + 1]] for c in range(len(acts.types))}
    empty = np.zeros(0, np.int64)
    props = acts.properties
    none = Factorized(np.zeros(len(acts), np.int64), [None])
    for rule in model.rules:
        if isinstance(rule, FitRule):
            on = _mask(rule, columns, n)
            points = np.where(on, _clip(_half_away(np.full(n, float(rule.points))), rule.min_points, rule.max_points), 0.0)
        elif isinstance(rule, EngagementRule):
            # The rule's activities (each type's are contiguous), back in lead and age order.
            rows = np.sort(np.concatenate([of_type.get(type_code.get(t, -1), empty) for t in rule.activity_types]))
            if rule.lookback_days is not None:
                rows = rows[age[rows] <= rule.lookback_days]
            if rule.where is not None:
                rows = rows[_mask(rule.where, lambda k: Factorized(props.get(k, none).codes[rows], props.get(k, none).values),
                                  len(rows))]
            lead = acts.lead[rows]
            rank = np.arange(len(rows)) - np.searchsorted(lead, lead)  # position among the lead's
            if rule.max_occurrences is not None:
                keep = rank < rule.max_occurrences
                rows, lead, rank = rows[keep], lead[keep], rank[keep]
            tiers = np.array(rule.tiers if rule.tiers is not None else [rule.points or 0.0])
            decay = rule.decay if rule.decay is not None else (model.groups[groups[rule.group]].decay if rule.group else None)
            worth = _decayed(decay, tiers[np.clip(rank, 0, len(tiers) - 1)], age[rows])
            raw = np.bincount(lead, weights=worth, minlength=n)
            on = np.bincount(lead, minlength=n) > 0
            points = np.where(on, _clip(_half_away(raw), rule.min_points, rule.max_points), 0.0)
        else:
            raise SystemExit("the reference has no roll-up rules")
        total += points
        if rule.group:
            group_sum[groups[rule.group]] += points
            group_on[groups[rule.group]] |= on
    for i, group in enumerate(model.groups):
        capped = _clip(group_sum[i], group.min_points, group.max_points)
        total += np.where(group_on[i], capped - group_sum[i], 0.0)
    total = _clip(total, model.total.min_points, model.total.max_points)
    stage = np.zeros(n, np.int64)
    criteria = {name: _mask(c, columns, n) for name, c in model.qualification.items()}
    for s, st in enumerate(model.stages):
        ok = total >= (st.min_score if st.min_score is not None else -np.inf)
        for req in st.requires:
            ok &= criteria[req]
        stage = np.where(ok, s, stage)
    return total.astype(np.int64), stage


# --- timing -------------------------------------------------------------------------------------


@dataclass
class Level:
    activities: int
    leads: int
    engine: float  # CPU seconds, score + reason
    scores_only: float
    reference: float
    columns: float
    per_record: float
    per_record_leads: int
    agree: bool
    same_as_per_record: bool

    def per_minute(self, seconds: float, leads: int | None = None) -> float:
        return (leads or self.leads) / seconds * 60 if seconds else float("inf")


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def run_level(model: ScoringModel, engine: ScoringEngine, count: int, per_lead: int, seed: int) -> Level:
    data = list(generate_leads(count, seed=seed, as_of=AS_OF, activities_per_lead=per_lead))
    leads = [d.lead for d in data]
    activities = {d.lead.id: d.activities for d in data}
    chunks = [leads[i:i + BATCH] for i in range(0, count, BATCH)]
    columns_s, cols = cpu(lambda: [engine.columns([lead.id for lead in chunk], activities) for chunk in chunks])
    engine.score_batch(chunks[0][:500], engine.columns([x.id for x in chunks[0][:500]], activities), AS_OF).reasons()

    def with_reasons() -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for chunk, c in zip(chunks, cols):
            batch = engine.score_batch(chunk, c, AS_OF)
            batch.reasons(REASON_BUDGET)
            out.append((batch.score, batch.stage))
        return out

    engine_s, scored = cpu(with_reasons)
    only_s, _ = cpu(lambda: [engine.score_batch(chunk, c, AS_OF).score for chunk, c in zip(chunks, cols)])
    reference_s, expected = cpu(lambda: [reference_scores(model, chunk, c) for chunk, c in zip(chunks, cols)])
    # The engine's stage index counts from the top of the ladder; the model lists stages bottom up.
    top = len(model.stages) - 1
    agree = all(np.array_equal(s, rs) and np.array_equal(top - st, rst) for (s, st), (rs, rst) in zip(scored, expected))
    subset = data[:SUBSET]
    per_record_s, singles = cpu(lambda: [(r, r.reason(REASON_BUDGET)) for r in
                                         (engine.score(d.lead, d.activities, AS_OF) for d in subset)])
    batch = engine.score_batch([d.lead for d in subset], activities, AS_OF)
    same = batch.results() == [r for r, _ in singles] and batch.reasons(REASON_BUDGET) == [line for _, line in singles]
    return Level(per_lead, count, engine_s, only_s, reference_s, columns_s, per_record_s, len(subset), agree, same)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=None, help=f"leads per level (default {FULL_LEADS:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_LEADS:,} leads per level")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    count = args.leads or (QUICK_LEADS if args.quick else FULL_LEADS)
    model = load_model()
    engine = ScoringEngine(model)
    print("leadscore engine benchmark: columnar engine beside a plain numpy reference")
    print(f"  python {sys.version.split()[0]}, numpy {np.__version__}, pid {os.getpid()}, one process, CPU time")
    print(f"  model {model.name} ({len(model.rules)} rules), {count:,} leads per level in batches of {BATCH:,}, "
          f"reason budget {REASON_BUDGET}")
    print(f"\n  {'activities':>10} {'engine+reason':>14} {'scores only':>12} {'reference':>12} {'ratio':>6} "
          f"{'columns':>10} {'per-record':>11}  check")
    failed = False
    for per_lead in ACTIVITY_LEVELS:
        level = run_level(model, engine, count, per_lead, args.seed)
        ratio = level.engine / level.reference
        ok = level.agree and level.same_as_per_record
        failed |= not ok
        print(f"  {per_lead:>10} {level.per_minute(level.engine) / 1e6:>12.2f}M/min {level.per_minute(level.scores_only) / 1e6:>10.2f}M "
              f"{level.per_minute(level.reference) / 1e6:>10.2f}M {ratio:>6.2f} {level.per_minute(level.columns) / 1e6:>8.2f}M "
              f"{level.per_minute(level.per_record, level.per_record_leads) / 1e6:>9.2f}M  "
              f"{'same scores and stages' if level.agree else 'SCORES DIFFER'}"
              f"{'' if level.same_as_per_record else '; DIFFERS FROM PER-RECORD'}")
        if per_lead == 20:
            headline = level.per_minute(level.engine)
    print(f"\n  target: >= {TARGET_PER_MINUTE / 1e6:.0f}M leads/min/core at 20 activities with reasons "
          f"(measured {headline / 1e6:.2f}M), within {WITHIN:g}x of the reference at each level")
    print("  leads/min/core = leads / CPU seconds x 60; 'columns' is building the columns from Activity objects")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
