"""Property-based tests of the engine's promises, over generated models, leads and activities:
deterministic, decay never adds points as activities age, caps always hold, reason parts sum
to the score, and messy records never raise."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.agent.core.records import ACTIVITY_TYPES, Activity, Lead
from leadscore.agent.scoring import ScoringEngine, ScoringModel

from .conftest import AS_OF

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPES = sorted(ACTIVITY_TYPES)
URLS = ["/pricing", "/blog/a", "/blog/b", "/product", "/"]

decays = st.one_of(
    st.none(),
    st.just({"kind": "none"}),
    st.builds(lambda d, f: {"kind": "step", "after_days": d, "factor": f}, st.integers(1, 200), st.floats(0, 1)),
    st.builds(lambda d, m: {"kind": "step", "after_days": d, "minus": m}, st.integers(1, 200), st.integers(0, 30)),
    st.builds(lambda d: {"kind": "linear", "over_days": d}, st.integers(1, 400)),
    st.builds(lambda d: {"kind": "exponential", "half_life_days": d}, st.integers(1, 200)),
    st.builds(lambda d: {"kind": "expire", "after_days": d}, st.integers(1, 400)),
)


def _caps(draw: st.DrawFn, signed: bool) -> dict[str, float]:
    caps: dict[str, float] = {}
    if draw(st.booleans()):
        caps["max_points"] = draw(st.integers(-20 if signed else 0, 60))
    if draw(st.booleans()):
        low = draw(st.integers(-60, 10 if signed else 0))
        if "max_points" in caps:
            low = min(low, caps["max_points"])
        caps["min_points"] = low
    return caps


@st.composite
def models(draw: st.DrawFn, positive: bool = False) -> dict[str, Any]:
    points = st.integers(0, 40) if positive else st.integers(-30, 40)
    groups = [{"name": "g0", **_caps(draw, not positive)}, {"name": "g1", "decay": draw(decays) or {"kind": "none"}}]
    rules: list[dict[str, Any]] = [
        {"kind": "fit", "label": "Tech", "field": "industry", "in": ["Technology", "Software"], "points": draw(points), **_caps(draw, not positive)},
        {"kind": "fit", "label": "Title {value}", "field": "title", "regex": r"\b(cto|vp)\b", "points": draw(points)},
        {"kind": "fit", "label": "Big", "field": "employees", "gte": 200, "points": draw(points)},
    ]
    for i in range(draw(st.integers(1, 6))):
        rule: dict[str, Any] = {
            "kind": "engagement",
            "label": f"E{i}",
            "activity": draw(st.sampled_from(TYPES)) if draw(st.booleans()) else draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True)),
            **_caps(draw, not positive),
        }
        if draw(st.booleans()):
            rule["tiers"] = draw(st.lists(points, min_size=1, max_size=3))
        else:
            rule["points"] = draw(points)
        if draw(st.booleans()):
            rule["where"] = {"field": "url", "contains": draw(st.sampled_from(URLS))}
        if (decay := draw(decays)) is not None:
            rule["decay"] = decay
        if draw(st.booleans()):
            rule["max_occurrences"] = draw(st.integers(1, 5))
        if draw(st.booleans()):
            rule["lookback_days"] = draw(st.integers(1, 400))
        if draw(st.booleans()):
            rule["group"] = draw(st.sampled_from(["g0", "g1"]))
        rules.append(rule)
    total = _caps(draw, not positive)
    total = {k.replace("_points", "") + "_points": v for k, v in total.items()}
    return {
        "rules": rules,
        "groups": groups,
        "total": total,
        "stages": [{"name": "Cold"}, {"name": "MQL", "min_score": 30}, {"name": "SQL", "min_score": 60, "requires": ["budget"]}],
        "qualification": {"budget": {"field": "budget", "exists": True}},
        "grades": {"fit": [{"label": "A", "min": 30}, {"label": "B"}], "engagement": [{"label": "1", "min": 30}, {"label": "2"}]},
    }


@st.composite
def activities(draw: st.DrawFn) -> list[Activity]:
    out = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(TYPES))
        age = draw(st.floats(-5, 500, allow_nan=False))
        props = {"url": draw(st.sampled_from(URLS))} if draw(st.booleans()) else {}
        out.append(Activity("x", kind, AS_OF - timedelta(days=age), props))
    return out


leads = st.builds(
    lambda industry, title, employees, budget: Lead(
        "x", fields={"industry": industry, "title": title, "employees": employees, "budget": budget}
    ),
    st.sampled_from(["Technology", "software", "Retail", None, ""]),
    st.sampled_from(["CTO", "VP Sales", "Engineer", None]),
    st.one_of(st.none(), st.integers(0, 5000), st.sampled_from(["1,200", "abc", "50"])),
    st.sampled_from([None, "yes", ""]),
)


def engine_for(model: dict[str, Any]) -> ScoringEngine:
    return ScoringEngine(ScoringModel.model_validate(model))


@SETTINGS
@given(model=models(), lead=leads, acts=activities(), seed=st.integers(0, 1000))
def test_same_input_same_result_whatever_the_activity_order(model, lead, acts, seed) -> None:
    engine = engine_for(model)
    first = engine.score(lead, acts, AS_OF)
    shuffled = list(acts)
    random.Random(seed).shuffle(shuffled)
    assert engine.score(lead, acts, AS_OF) == first
    again = engine.score(lead, shuffled, AS_OF)
    assert (again.score, again.stage, again.grade, sorted(map(repr, again.reasons))) == (
        first.score, first.stage, first.grade, sorted(map(repr, first.reasons)))


@SETTINGS
@given(model=models(), lead=leads, acts=activities())
def test_reason_parts_sum_to_the_score(model, lead, acts) -> None:
    result = engine_for(model).score(lead, acts, AS_OF)
    assert sum(p.points for p in result.reasons) == result.score
    assert sum(p.points for p in result.reasons if p.component == "fit") == result.fit_score
    assert sum(p.points for p in result.reasons if p.component == "engagement") == result.engagement_score
    assert len(result.reason(255)) <= 255


@SETTINGS
@given(model=models(), lead=leads, acts=activities())
def test_caps_always_hold(model, lead, acts) -> None:
    engine = engine_for(model)
    result = engine.score(lead, acts, AS_OF)
    parsed = engine.model
    total = parsed.total
    if total.max_points is not None:
        assert result.score <= total.max_points
    if total.min_points is not None:
        assert result.score >= total.min_points
    for i, rule in enumerate(parsed.rules):
        own = [p.points for p in result.reasons if p.rule == f"rules[{i}]"]
        if not own:
            continue  # caps bound what a rule contributes when it fires; silence is 0
        net = sum(own)
        if rule.max_points is not None:
            assert net <= math.floor(rule.max_points + 0.5)
        if rule.min_points is not None:
            assert net >= math.ceil(rule.min_points - 0.5)
    g0 = parsed.groups[0]
    members = {f"rules[{i}]" for i, r in enumerate(parsed.rules) if r.group == "g0"}
    fired = any(p.rule in members for p in result.reasons)
    g0_net = sum(p.points for p in result.reasons if p.rule in members or (p.kind == "cap" and p.rule == "g0"))
    if g0.max_points is not None and fired:
        assert g0_net <= g0.max_points
    if g0.min_points is not None and fired:
        assert g0_net >= g0.min_points


@SETTINGS
@given(model=models(positive=True), lead=leads, acts=activities(), which=st.integers(0, 100), extra=st.floats(0.01, 400))
def test_aging_an_activity_never_raises_the_score(model, lead, acts, which, extra) -> None:
    acts = [a for a in acts if a.occurred_at <= AS_OF]  # a future activity "aging" into the past is new
    if not acts:
        return
    engine = engine_for(model)
    before = engine.score(lead, acts, AS_OF)
    i = which % len(acts)
    aged = list(acts)
    aged[i] = Activity(acts[i].lead_id, acts[i].type, acts[i].occurred_at - timedelta(days=extra), acts[i].properties)
    after = engine.score(lead, aged, AS_OF)
    assert after.score <= before.score
    assert after.engagement_score <= before.engagement_score


@SETTINGS
@given(model=models(positive=True), lead=leads, acts=activities(), later=st.floats(0.01, 400))
def test_time_passing_never_raises_the_score(model, lead, acts, later) -> None:
    past = [a for a in acts if a.occurred_at <= AS_OF]
    engine = engine_for(model)
    now = engine.score(lead, past, AS_OF)
    assert engine.score(lead, past, AS_OF + timedelta(days=later)).score <= now.score


@SETTINGS
@given(model=models(), lead=leads, acts=activities(), later=st.floats(0.01, 400))
def test_decay_only_shrinks_each_rules_magnitude(model, lead, acts, later) -> None:
    """With negative points too, each rule's raw contribution moves toward zero with time."""
    past = [a for a in acts if a.occurred_at <= AS_OF]
    engine = engine_for(model)

    def raw(result) -> dict[str, int]:
        return {p.rule: p.points for p in result.reasons if p.kind == "engagement"}

    now, then = raw(engine.score(lead, past, AS_OF)), raw(engine.score(lead, past, AS_OF + timedelta(days=later)))
    for rule, points in then.items():
        assert abs(points) <= abs(now.get(rule, 0)) or model_has_sign_mixed_tiers(engine, rule), (rule, now, then)


def model_has_sign_mixed_tiers(engine: ScoringEngine, key: str) -> bool:
    """Tiers like [10, -5] are not one-signed, so their sum's magnitude need not shrink."""
    rule = engine.model.rules[int(key.removeprefix("rules[").rstrip("]"))]
    tiers = getattr(rule, "tiers", None) or []
    return any(t < 0 for t in tiers) and any(t > 0 for t in tiers)


# --- messy records --------------------------------------------------------------------------

messy_values = st.one_of(
    st.none(),
    st.text(max_size=50),
    st.just("abc"),
    st.just("x" * 100_000),
    st.just("Ünïcødé 日本語 \u200b\u0000"),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.dictionaries(
        st.sampled_from(["email", "title", "industry", "country", "employees", "annual_revenue", "budget", "authority",
                         "need", "timeline", "custom.x"]),
        messy_values,
    ),
    props=st.dictionaries(st.sampled_from(["url", "asset", "source"]), messy_values, max_size=3),
    naive=st.booleans(),
)
def test_messy_records_score_without_raising(example_engine: ScoringEngine, fields, props, naive) -> None:
    when = (AS_OF - timedelta(days=3)).replace(tzinfo=None) if naive else AS_OF - timedelta(days=3)
    acts = [
        Activity("m", "page_view", when, props),
        Activity("m", "content_download", when, props),
        Activity("m", "email_open", None, {}),  # type: ignore[arg-type]
        Activity("m", "email_open", "2026-01-01", {}),  # type: ignore[arg-type]
    ]
    result = example_engine.score(Lead("m", fields=fields), acts, AS_OF)
    assert sum(p.points for p in result.reasons) == result.score
    assert any("activities skipped" in w for w in result.warnings)
    assert len(result.reason(255)) <= 255


def test_text_in_a_numeric_field_is_reported_and_treated_as_missing() -> None:
    engine = engine_for(
        {"rules": [{"kind": "fit", "label": "Big", "field": "employees", "gte": 200, "points": 10}]}
    )
    result = engine.score(Lead("n", fields={"employees": "abc"}), (), AS_OF)
    assert result.score == 0
    assert result.warnings == ("employees: 'abc' is not a number",)
    assert engine.score(Lead("n", fields={"employees": "1,200"}), (), AS_OF).score == 10


def test_group_floor_gives_nothing_when_no_rule_in_the_group_fired() -> None:
    engine = engine_for(
        {
            "groups": [{"name": "web", "min_points": 5}],
            "rules": [
                {"kind": "engagement", "label": "Visit", "activity": "page_view", "points": 1, "group": "web"},
                {"kind": "fit", "label": "Tech", "field": "industry", "equals": "Technology", "points": 3},
            ],
        }
    )
    assert engine.score(Lead("g", fields={"industry": "Technology"}), (), AS_OF).score == 3
    one_visit = [Activity("g", "page_view", AS_OF - timedelta(days=1), {})]
    result = engine.score(Lead("g"), one_visit, AS_OF)
    assert [(p.points, p.kind) for p in result.reasons] == [(1, "engagement"), (4, "cap")]
