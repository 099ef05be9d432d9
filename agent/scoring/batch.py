"""Scoring a batch of leads at once, over columns (numpy), with the same results as one at a time.

:class:`~leadscore.agent.scoring.engine.ScoringEngine` compiles a model; this module runs it over
a whole batch. Each fit rule, qualification criterion and ``where`` condition is tested once per
*distinct* value (or combination of values) in the batch, and the answer is spread to the rows
with one array index. Each engagement rule is a handful of array operations over the batch's
activities: select by type, time window and ``where``; rank each lead's occurrences newest first;
drop those past ``max_occurrences``; price each one by its tier and decay curve; sum per lead.
The arithmetic is the scalar engine's, in the same order (the same sums in the same sequence,
rounded the same way), so the results are equal to the last point, not close; a property test
holds them to it.

Results stay columnar (:class:`BatchResults`): scores, stages and each rule's points as arrays.
A :class:`ScoreResult` with its reason parts is built only when asked for, and
:meth:`BatchResults.reasons` renders reason lines for the whole batch, mostly with array
operations: each distinct part text ("+10 Webinar attended (x2, last 3d ago)") is formatted once
per batch, and the budget cut is worked out on lengths rather than by trial joins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from leadscore.agent.core.reasons import SEPARATOR, format_reason
from leadscore.agent.core.records import Lead, ReasonPart, ScoreLine, ScoreResult
from leadscore.agent.scoring.columns import ActivityColumns, Factorized, field_column
from leadscore.agent.scoring.conditions import Predicate, is_bad_number
from leadscore.agent.scoring.points import occurrences, preview, round_points

if TYPE_CHECKING:
    from leadscore.agent.scoring.engine import ScoringEngine, _Caps

_DAY = 86400.0
_EPS = 1e-9

# Slot kinds: what a row of the parts matrix holds.
_FIT, _ENGAGEMENT, _ROLLUP, _CAP = "fit", "engagement", "rollup", "cap"


def round_array(values: np.ndarray) -> np.ndarray:
    """:func:`~leadscore.agent.scoring.engine.round_points` over an array: half away from zero."""
    magnitude = np.floor(np.abs(values) + 0.5 + _EPS)
    return np.where(values >= 0, magnitude, -magnitude).astype(np.int64)


def clamp_array(values: np.ndarray, caps: _Caps) -> np.ndarray:
    """:func:`~leadscore.agent.scoring.points.clamp` over an array of whole points."""
    out = values
    if caps.low is not None:
        out = np.where(values < caps.low, round_points(caps.low), out)
    if caps.high is not None:  # checked first by the scalar clamp, so it wins here
        out = np.where(values > caps.high, round_points(caps.high), out)
    return out


@dataclass(frozen=True, slots=True)
class Slot:
    """One reason part a lead may carry, in the order the scalar engine appends them."""

    kind: str
    label: str
    rule: str | None
    component: str
    value_field: str | None = None  # fills "{value}" in a fit rule's label


class LeadColumns:
    """A batch's lead fields, each factorised the first time a condition reads it."""

    def __init__(self, fields: Sequence[Mapping[str, Any]]) -> None:
        self.fields = fields
        self.n = len(fields)
        self._columns: dict[str, Factorized] = {}

    def __call__(self, name: str) -> Factorized:
        column = self._columns.get(name)
        if column is None:
            column = self._columns[name] = field_column(self.fields, name)
        return column


def holds(test: Predicate, names: Sequence[str], column: Callable[[str], Factorized], n: int) -> np.ndarray:
    """Where ``test`` holds over ``n`` rows, asking it once per distinct combination of the
    values of ``names`` (the fields it reads). ``column(name)`` gives a factorised column."""
    if not names:
        return np.full(n, bool(test({})))
    if len(names) == 1:
        name = names[0]
        col = column(name)
        answers = np.fromiter((bool(test({name: v})) for v in col.values), dtype=bool, count=len(col.values))
        return answers[col.codes] if len(col.values) else np.zeros(n, bool)
    cols = [column(name) for name in names]
    combined = np.zeros(n, np.int64)
    span = 1
    for col in cols:
        span *= max(len(col.values), 1)
        if span >= 2**62:  # too many combinations to pack: one test per row
            rows = [{nm: c.values[c.codes[i]] for nm, c in zip(names, cols)} for i in range(n)]
            return np.fromiter((bool(test(r)) for r in rows), dtype=bool, count=n)
        combined = combined * max(len(col.values), 1) + col.codes
    if span <= max(4 * n, 1 << 16):  # a dense table over the combinations: no sort
        present = np.zeros(span, bool)
        present[combined] = True
        distinct = np.flatnonzero(present)
        table = np.zeros(span, bool)
        table[distinct] = _answers(test, names, cols, distinct)
        return table[combined]
    distinct, inverse = np.unique(combined, return_inverse=True)
    return _answers(test, names, cols, distinct)[inverse.reshape(-1)]


def _answers(test: Predicate, names: Sequence[str], cols: Sequence[Factorized], keys: np.ndarray) -> np.ndarray:
    """``test`` on each packed combination of codes in ``keys`` (see :func:`holds`)."""
    answers = np.empty(len(keys), bool)
    for j, key in enumerate(keys.tolist()):
        values: dict[str, Any] = {}
        for nm, col in zip(reversed(names), reversed(cols)):
            key, code = divmod(key, max(len(col.values), 1))
            values[nm] = col.values[code]
        answers[j] = bool(test(values))
    return answers


def _property_column(acts: ActivityColumns, name: str) -> Factorized:
    """An activity property (``None`` where absent, as ``properties.get`` reads it)."""
    col = acts.properties.get(name)
    if col is None:  # no activity carries it (or the columns were built without it)
        return Factorized(np.zeros(len(acts), np.int64), [None])
    return col


@dataclass
class BatchResults:
    """A batch's scores as arrays; :meth:`result` builds one lead's :class:`ScoreResult`."""

    engine: ScoringEngine
    leads: Sequence[Lead]
    as_of: datetime
    slots: tuple[Slot, ...]
    fired: np.ndarray  # bool [slot, lead]: the part exists (a fired rule, a cap that bit)
    points: np.ndarray  # int64 [slot, lead]
    counts: np.ndarray  # int64 [slot, lead]: occurrences an engagement rule counted
    newest: np.ndarray  # float64 [slot, lead]: age in days of the newest counted occurrence
    score: np.ndarray
    fit_score: np.ndarray
    engagement_score: np.ndarray
    stage: np.ndarray  # index into stage_names
    stage_names: tuple[str, ...]
    grade: list[str | None]
    lead_columns: LeadColumns
    gates: dict[int, str] = field(default_factory=dict)  # lead -> the gate note
    details: dict[tuple[int, int], str] = field(default_factory=dict)  # (slot, lead) -> a roll-up's detail
    warnings: dict[int, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.leads)

    def stages(self) -> list[str]:
        names = self.stage_names
        return [names[i] for i in self.stage.tolist()]

    def _label(self, slot: Slot, lead: int) -> str:
        if slot.value_field is None:
            return slot.label
        col = self.lead_columns(slot.value_field)
        return slot.label.replace("{value}", preview(col.values[col.codes[lead]], quote=False))

    def _detail(self, s: int, lead: int) -> str | None:
        slot = self.slots[s]
        if slot.kind == _ENGAGEMENT:
            return occurrences(int(self.counts[s, lead]), float(self.newest[s, lead]))
        if slot.kind == _ROLLUP:
            return self.details[(s, lead)]
        return None

    def parts(self, lead: int) -> list[ReasonPart]:
        parts = [ReasonPart(int(self.points[s, lead]), self._label(self.slots[s], lead),
                            "engagement" if self.slots[s].kind == _ROLLUP else self.slots[s].kind,  # type: ignore[arg-type]
                            self.slots[s].rule, self._detail(s, lead), self.slots[s].component)  # type: ignore[arg-type]
                 for s in np.flatnonzero(self.fired[:, lead]).tolist()]
        gate = self.gates.get(lead)
        if gate is not None:
            parts.insert(0, ReasonPart(0, gate, "gate"))
        return parts

    def result(self, lead: int) -> ScoreResult:
        return ScoreResult(
            self.leads[lead].id, int(self.score[lead]), int(self.fit_score[lead]), int(self.engagement_score[lead]),
            self.stage_names[int(self.stage[lead])], self.grade[lead], tuple(self.parts(lead)), self.engine.version,
            self.as_of, tuple(self.warnings.get(lead, ())),
        )

    def results(self, reason_budget: int | None = None) -> list[ScoreResult]:
        """Every lead's :class:`ScoreResult`, in order; with ``reason_budget``, each carries its
        reason line at that budget, rendered for the whole batch at once."""
        n = len(self.leads)
        lead_e, slot_e = np.nonzero(self.fired.T)
        starts = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(lead_e, minlength=n), out=starts[1:])
        points = self.points[slot_e, lead_e].tolist()
        counts = self.counts[slot_e, lead_e].tolist()
        days = self.newest[slot_e, lead_e].tolist()
        static = [(slot.label if slot.value_field is None else None, "engagement" if slot.kind == _ROLLUP else slot.kind,
                   slot.rule, slot.component) for slot in self.slots]
        details: dict[tuple[int, int], str] = {}
        parts: list[ReasonPart] = []
        for j, (s, lead) in enumerate(zip(slot_e.tolist(), lead_e.tolist())):
            label, kind, rule, component = static[s]
            detail = None
            if kind == _ENGAGEMENT:
                if self.slots[s].kind == _ROLLUP:
                    detail = self.details[(s, lead)]
                else:
                    key = (counts[j], int(days[j]))
                    detail = details.get(key)
                    if detail is None:
                        detail = details[key] = occurrences(counts[j], days[j])
            parts.append(ReasonPart(points[j], label if label is not None else self._label(self.slots[s], lead),
                                    kind, rule, detail, component))  # type: ignore[arg-type]
        lines = self.reasons(reason_budget) if reason_budget is not None else None
        names, version, as_of = self.stage_names, self.engine.version, self.as_of
        ids = [lead.id for lead in self.leads]
        score, fit, engagement, stage = (a.tolist() for a in (self.score, self.fit_score, self.engagement_score, self.stage))
        bounds = starts.tolist()
        out = []
        for i in range(n):
            mine = parts[bounds[i]:bounds[i + 1]]
            gate = self.gates.get(i)
            if gate is not None:
                mine.insert(0, ReasonPart(0, gate, "gate"))
            out.append(ScoreResult(ids[i], score[i], fit[i], engagement[i], names[stage[i]], self.grade[i], tuple(mine),
                                   version, as_of, tuple(self.warnings.get(i, ())),
                                   (reason_budget, lines[i]) if lines is not None else None))  # type: ignore[arg-type]
        return out

    def lines(self, reason_budget: int = 255) -> list[ScoreLine]:
        """Every lead's :class:`ScoreLine` - its values and reason line at ``reason_budget`` -
        in order, straight from the batch's arrays: no reason part is built."""
        n, names, warnings = len(self.leads), self.stage_names, self.warnings
        noted: list[tuple[str, ...]] = [()] * n
        for i, found in warnings.items():
            noted[i] = tuple(found)
        return list(map(ScoreLine, [lead.id for lead in self.leads], self.score.tolist(), self.fit_score.tolist(),
                        self.engagement_score.tolist(), [names[s] for s in self.stage.tolist()], self.grade,
                        self.reasons(reason_budget), repeat(self.engine.version, n), repeat(self.as_of, n), noted))

    # --- reason lines ------------------------------------------------------------------------

    def reasons(self, budget: int = 255) -> list[str]:
        """Every lead's reason line, equal to ``format_reason(result.reasons, budget)``."""
        if budget < 1:
            raise ValueError("budget must be positive")
        n = len(self.leads)
        shown = self.fired & (self.points != 0)
        lead_e, slot_e = np.nonzero(shown.T)  # lead-major, slots in part order
        pts_e = self.points[slot_e, lead_e]
        texts_e, lens_e, odd = self._texts(lead_e, slot_e, pts_e)
        rank_e = -np.abs(pts_e)
        if self.gates:  # a gate note is a part of its own, shown first
            held = np.fromiter(self.gates, np.int64, len(self.gates))
            notes = list(self.gates.values())
            lead_e = np.concatenate((lead_e, held))
            slot_e = np.concatenate((slot_e, np.full(len(held), -1)))
            pts_e = np.concatenate((pts_e, np.zeros(len(held), np.int64)))
            rank_e = np.concatenate((rank_e, np.full(len(held), -(2**62))))
            texts_e = np.concatenate((texts_e, np.array(notes, dtype=object)))
            lens_e = np.concatenate((lens_e, np.fromiter(map(len, notes), np.int64, len(notes))))
        # Gate notes first, then the largest contribution first, ties in part order (format_reason).
        if len(self.slots) < 2**10 and len(pts_e) and np.abs(pts_e).max() < 2**20 and n < 2**30:
            order = np.argsort((lead_e << 32) | ((rank_e + 2**20).clip(0) << 11) | (slot_e + 1), kind="stable")
        else:
            order = np.lexsort((slot_e, rank_e, lead_e))
        lead_o, pts_o, lens_o = lead_e[order], pts_e[order], lens_e[order]
        texts = texts_e[order].tolist()
        k = np.bincount(lead_o, minlength=n)
        starts = np.zeros(n + 1, np.int64)
        np.cumsum(k, out=starts[1:])
        position = np.arange(len(lead_o)) - starts[lead_o]
        # head[p]: the line of parts 0..p; points[p]: their points.
        sep = len(SEPARATOR)
        head = _grouped_cumsum(lens_o + sep, starts, lead_o) - sep
        shown_points = _grouped_cumsum(pts_o, starts, lead_o)
        full = np.zeros(n, np.int64)
        last = starts[1:] - 1
        has = k > 0
        full[has] = head[last[has]]
        total = np.zeros(n, np.int64)
        total[has] = shown_points[last[has]]
        fits = full <= budget
        # A line over budget keeps the most parts whose line plus the closing "+N from M more"
        # fits (format_reason's loop; lines only grow, so those parts were all rendered).
        rest = total[lead_o] - shown_points
        more = k[lead_o] - (position + 1)
        tail = sep + _signed_width(rest) + len(" from ") + _width(more) + len(" more")
        valid = (more >= 1) & (head + tail <= budget)
        keep = np.zeros(n, np.int64)
        np.maximum.at(keep, lead_o[valid], position[valid] + 1)
        odd_leads = set(np.flatnonzero(odd).tolist())
        lines: list[str] = []
        append = lines.append
        join = SEPARATOR.join
        starts_l, k_l, keep_l, fits_l, total_l = starts.tolist(), k.tolist(), keep.tolist(), fits.tolist(), total.tolist()
        shown_l = shown_points.tolist()
        for i in range(n):
            if i in odd_leads:
                append(format_reason(self.parts(i), budget))
                continue
            a = starts_l[i]
            if fits_l[i]:
                append(join(texts[a:a + k_l[i]]))
            elif keep_l[i]:
                kept = keep_l[i]
                append(f"{join(texts[a:a + kept])}{SEPARATOR}{total_l[i] - shown_l[a + kept - 1]:+d} from {k_l[i] - kept} more")
            else:  # one part, or not one fits beside the closing part: clipped
                append(format_reason(self.parts(i), budget))
        return lines

    def _texts(self, lead_e: np.ndarray, slot_e: np.ndarray, pts_e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each shown part's text and length, formatting each distinct text once per batch; and
        the leads whose parts this cannot key (roll-ups, out-of-range numbers), rendered one by
        one."""
        texts = np.empty(len(lead_e), dtype=object)
        lens = np.zeros(len(lead_e), np.int64)
        odd = np.zeros(len(self.leads), bool)
        by_slot = np.argsort(slot_e.astype(np.uint16) if len(self.slots) < 2**16 else slot_e, kind="stable")
        bounds = np.searchsorted(slot_e[by_slot], np.arange(len(self.slots) + 1))
        for s, slot in enumerate(self.slots):
            at = by_slot[bounds[s]:bounds[s + 1]]
            if not len(at):
                continue
            pts = pts_e[at]
            leads = lead_e[at]
            if slot.kind == _ROLLUP:
                odd[leads] = True
                texts[at] = ""
                continue
            if slot.kind == _ENGAGEMENT:
                counts = self.counts[s, leads]
                days = self.newest[s, leads].astype(np.int64)
                ok = (np.abs(pts) < 2**19) & (counts < 2**20) & (days < 2**22)
                if not ok.all():
                    odd[leads[~ok]] = True
                keys = ((pts + 2**19) << 42) | (counts << 22) | days
            elif slot.value_field is not None:
                keys = self.lead_columns(slot.value_field).codes[leads] * (2**21) + (pts + 2**20)
            else:
                keys = pts
            _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            if slot.kind == _ENGAGEMENT:
                label = slot.label
                rendered = [f"{p:+d} {label} ({occurrences(c, d)})" for p, c, d in zip(
                    pts[first].tolist(), counts[first].tolist(), days[first].tolist())]
            else:
                rendered = [f"{p:+d} {self._label(slot, i)}" for p, i in zip(pts[first].tolist(), leads[first].tolist())]
            texts[at] = np.array(rendered, dtype=object)[inverse]
            lens[at] = np.fromiter(map(len, rendered), np.int64, len(rendered))[inverse]
        return texts, lens, odd


def _grouped_cumsum(values: np.ndarray, starts: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sums restarting at each group (rows sorted by group; ``starts`` its offsets)."""
    running = np.cumsum(values)
    before = np.concatenate(([0], running))[starts[:-1]]
    return running - before[group]


def _width(values: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative integers."""
    width = np.ones(len(values), np.int64)
    bound = 10
    big = values >= bound
    while big.any():
        width += big
        bound *= 10
        big = values >= bound
    return width


def _signed_width(values: np.ndarray) -> np.ndarray:
    """Characters of ``f"{v:+d}"``: a sign, then the digits."""
    return 1 + _width(np.abs(values))




# --- the batch pass ----------------------------------------------------------------------------


def score_batch(
    engine: ScoringEngine,
    leads: Sequence[Lead],
    activities: ActivityColumns,
    as_of: datetime,
    people: Sequence[Sequence[ScoreResult]] | None = None,
) -> BatchResults:
    """Score ``leads`` (``activities``: their columns, leads indexed as in ``leads``) as of
    ``as_of`` (a UTC datetime). ``people``: each lead's people's results, for roll-up rules."""
    n = len(leads)
    fields = [lead.fields if lead.fields is not None else {} for lead in leads]
    columns = LeadColumns(fields)
    slots: list[Slot] = []
    rows_fired: list[np.ndarray] = []
    rows_points: list[np.ndarray] = []
    rows_counts: dict[int, np.ndarray] = {}
    rows_newest: dict[int, np.ndarray] = {}
    details: dict[tuple[int, int], str] = {}
    n_groups = len(engine._groups)
    group_totals = np.zeros((n_groups, n), np.int64)
    group_fired = np.zeros((n_groups, n), bool)
    fit_score = np.zeros(n, np.int64)
    engagement_score = np.zeros(n, np.int64)
    warnings: dict[int, list[str]] = {}

    for name in engine._numeric_checks:
        col = columns(name)
        bad = np.fromiter((is_bad_number(v) for v in col.values), bool, len(col.values))
        if len(col.values) and bad.any():
            for i in np.flatnonzero(bad[col.codes]).tolist():
                warnings.setdefault(i, []).append(f"{name}: {preview(fields[i].get(name))} is not a number")

    def add(slot: Slot, fired: np.ndarray, points: np.ndarray) -> int:
        slots.append(slot)
        rows_fired.append(fired)
        rows_points.append(points)
        return len(slots) - 1

    def add_with_caps(slot: Slot, fired: np.ndarray, points: np.ndarray, caps: _Caps | None, group: int | None,
                      component: str) -> np.ndarray:
        add(slot, fired, np.where(fired, points, 0))
        if caps is not None:
            capped = np.where(fired, clamp_array(points, caps), points)
            bit = fired & (capped != points)
            add(Slot(_CAP, f"Cap: {slot.label} {caps.describe()}", slot.rule, component, slot.value_field), bit,
                np.where(bit, capped - points, 0))
            points = capped
        points = np.where(fired, points, 0)
        if group is not None:
            group_totals[group] += points
            group_fired[group] |= fired
        return points

    for rule in engine._fit:
        fired = holds(rule.test, rule.fields, columns, n)
        points = np.full(n, rule.points, np.int64)
        fit_score += add_with_caps(Slot(_FIT, rule.label, rule.key, "fit", rule.value_field), fired, points,
                                   rule.caps, rule.group, "fit")

    if engine._engagement:
        engagement_score += _engagement(engine, activities, as_of, n, add, add_with_caps, rows_counts, rows_newest,
                                        warnings, slots)
    for rollup in engine._rollups:
        raw = np.zeros(n, np.float64)
        fired = np.zeros(n, bool)
        found: dict[int, str] = {}
        for i in range(n):
            rolled = rollup.points(people[i] if people is not None else ())
            if rolled is not None:
                raw[i], found[i] = rolled
                fired[i] = True
        s = len(slots)
        details.update({(s, i): d for i, d in found.items()})
        engagement_score += add_with_caps(Slot(_ROLLUP, rollup.label, rollup.key, "engagement"), fired,
                                          round_array(raw), rollup.caps, rollup.group, "engagement")

    for g in engine._capped_groups:
        group = engine._groups[g]
        assert group.caps is not None
        capped = clamp_array(group_totals[g], group.caps)
        bit = group_fired[g] & (capped != group_totals[g])
        adjustment = np.where(bit, capped - group_totals[g], 0)
        add(Slot(_CAP, f"Cap: {group.label} {group.caps.describe()}", group.name, group.component), bit, adjustment)
        if group.component == "fit":
            fit_score += adjustment
        else:
            engagement_score += adjustment

    score = fit_score + engagement_score
    if engine._total_caps is not None:
        capped = clamp_array(score, engine._total_caps)
        bit = capped != score
        add(Slot(_CAP, f"Cap: total {engine._total_caps.describe()}", None, "total"), bit, np.where(bit, capped - score, 0))
        score = capped

    stage, stage_names, gates = _stages(engine, score, columns, n)
    grade = _grades(engine, fit_score, engagement_score, n)
    counts = np.zeros((len(slots), n), np.int64)
    newest = np.zeros((len(slots), n), np.float64)
    for s, row in rows_counts.items():
        counts[s] = row
        newest[s] = rows_newest[s]
    return BatchResults(
        engine, leads, as_of, tuple(slots),
        np.array(rows_fired, dtype=bool).reshape(len(slots), n),
        np.array(rows_points, dtype=np.int64).reshape(len(slots), n),
        counts, newest, score, fit_score, engagement_score, stage, stage_names, grade, columns, gates, details,
        warnings,
    )


def _engagement(engine: ScoringEngine, acts: ActivityColumns, as_of: datetime, n: int, add: Callable[..., int],
                add_with_caps: Callable[..., np.ndarray], rows_counts: dict[int, np.ndarray],
                rows_newest: dict[int, np.ndarray], warnings: dict[int, list[str]], slots: list[Slot]) -> np.ndarray:
    """The engagement rules' points per lead (their parts added as slots)."""
    total = np.zeros(n, np.int64)
    type_codes = {t: i for i, t in enumerate(acts.types)}
    age = (as_of.timestamp() - acts.occurred) / _DAY
    usable = ~np.isnan(age)
    unusable = np.isin(acts.type, [type_codes[t] for t in engine._types if t in type_codes]) & ~usable
    if unusable.any():
        for i, skipped in enumerate(np.bincount(acts.lead[unusable], minlength=n).tolist()):
            if skipped:
                warnings.setdefault(i, []).append(f"{skipped} activities skipped: no usable occurred_at")
    live = np.flatnonzero(usable & (age >= 0))  # after as_of: it has not happened yet
    # Each type's live activities, in lead and then newest-first order: a rule reads only its own.
    kinds = acts.type[live]
    if len(acts.types) < 2**16:  # a stable sort of small integers is numpy's radix sort: linear
        kinds = kinds.astype(np.uint16)
    by_type = live[np.argsort(kinds, kind="stable")]
    bounds = np.searchsorted(acts.type[by_type], np.arange(len(acts.types) + 1))
    props: dict[str, Factorized] = {}

    def prop(name: str) -> Factorized:
        if name not in props:
            props[name] = _property_column(acts, name)
        return props[name]

    for rule in engine._engagement:
        codes = sorted(type_codes[t] for t in rule.types if t in type_codes)
        fired = np.zeros(n, bool)
        raw = np.zeros(n, np.float64)
        count = np.zeros(n, np.int64)
        newest = np.zeros(n, np.float64)
        if codes:
            chosen = by_type[bounds[codes[0]]:bounds[codes[0] + 1]]
            if len(codes) > 1:
                chosen = np.sort(np.concatenate([by_type[bounds[c]:bounds[c + 1]] for c in codes]))
            if rule.lookback_days is not None:
                chosen = chosen[age[chosen] <= rule.lookback_days]
            if rule.where is not None and len(chosen):
                rows = chosen
                chosen = chosen[holds(rule.where, rule.where_fields,
                                      lambda nm: Factorized(prop(nm).codes[rows], prop(nm).values), len(rows))]
            if len(chosen):
                lead = acts.lead[chosen]
                first = np.empty(len(chosen), bool)
                first[0] = True
                np.not_equal(lead[1:], lead[:-1], out=first[1:])
                starts = np.flatnonzero(first)
                rank = np.arange(len(chosen)) - np.repeat(starts, np.diff(np.append(starts, len(chosen))))
                if rule.max_occurrences is not None:
                    kept = rank < rule.max_occurrences
                    chosen, lead, rank = chosen[kept], lead[kept], rank[kept]
                tiers = np.asarray(rule.tiers, np.float64)
                points = tiers[np.minimum(rank, len(tiers) - 1)]
                ages = age[chosen]
                if rule.decay_array is not None:
                    points = rule.decay_array(points, ages)
                raw = np.bincount(lead, weights=points, minlength=n)
                count = np.bincount(lead, minlength=n)
                fired = count > 0
                newest[lead[rank == 0]] = ages[rank == 0]
        s = len(slots)
        total += add_with_caps(Slot(_ENGAGEMENT, rule.label, rule.key, "engagement"), fired, round_array(raw),
                               rule.caps, rule.group, "engagement")
        rows_counts[s] = count
        rows_newest[s] = newest
    return total


def _stages(engine: ScoringEngine, score: np.ndarray, columns: LeadColumns, n: int
            ) -> tuple[np.ndarray, tuple[str, ...], dict[int, str]]:
    """Each lead's stage (the ladder's ``decide`` over the batch) and the gate notes."""
    ladder = engine._ladder
    ranked = ladder._stages  # highest first: (name, threshold, ((criterion, predicate), ...))
    names = tuple(name for name, _, _ in ranked)
    stage = np.full(n, len(ranked) - 1, np.int64)  # the floor: the lowest stage
    decided = np.zeros(n, bool)
    withheld = np.full(n, -1, np.int64)
    lacking_at: dict[int, list[tuple[str, np.ndarray]]] = {}
    failing: dict[str, np.ndarray] = {}  # criterion -> where it does not hold (each tested once)
    for s, (_, threshold, requires) in enumerate(ranked):
        reached = ~decided & (score >= threshold)
        lacking_any = np.zeros(n, bool)
        lacks = []
        for criterion, predicate in requires:
            lacking = failing.get(criterion)
            if lacking is None:
                lacking = failing[criterion] = ~holds(predicate, engine._criteria_fields[criterion], columns, n)
            lacks.append((criterion, lacking))
            lacking_any |= lacking
        lacking_at[s] = lacks
        met = reached & ~lacking_any
        stage[met] = s
        decided |= met
        held = reached & lacking_any & (withheld < 0)
        withheld[held] = s
    gates: dict[int, str] = {}
    for i in np.flatnonzero(withheld >= 0).tolist():
        s = int(withheld[i])
        missing = [criterion for criterion, lacking in lacking_at[s] if lacking[i]]
        gates[i] = f"Held at {names[int(stage[i])]}: missing {', '.join(missing)} for {names[s]}"
    return stage, names, gates


def _grades(engine: ScoringEngine, fit: np.ndarray, engagement: np.ndarray, n: int) -> list[str | None]:
    matrix = engine._grades
    if matrix is None:
        return [None] * n
    fit_band = _bands(matrix._fit, fit)
    engagement_band = _bands(matrix._engagement, engagement)
    labels = {(f, e): matrix._fit[f][0] + matrix._engagement[e][0]
              for f in range(len(matrix._fit)) for e in range(len(matrix._engagement))}
    return [labels[pair] for pair in zip(fit_band.tolist(), engagement_band.tolist())]


def _bands(bands: tuple[tuple[str, float], ...], values: np.ndarray) -> np.ndarray:
    """Index of the first band whose minimum ``values`` reach (the last band as the floor)."""
    band = np.full(len(values), len(bands) - 1, np.int64)
    for b in range(len(bands) - 1, -1, -1):
        band[values >= bands[b][1]] = b
    return band


__all__ = ["BatchResults", "LeadColumns", "Slot", "holds", "round_array", "score_batch"]
