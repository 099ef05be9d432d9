"""The columnar engine (``ScoringEngine.score_batch``) against the per-record path, result for
result: scores, stages, grades, every reason part, warnings and the reason line at any budget.

Random models and batches (hypothesis), messy values, the shipped example model and the
benchmark's model on generated leads, roll-ups. Equal means equal, not close."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.agent.config import parse_config
from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.scoring import ScoringEngine, ScoringModel
from leadscore.agent.scoring.columns import factorize
from leadscore.connectors.sample import generate_leads

from .conftest import AS_OF
from .test_properties import URLS, activities, engine_for, leads, messy_values, models

ROOT = Path(__file__).resolve().parent.parent
BATCH_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_same(engine: ScoringEngine, batch_leads: list[Lead], acts: dict[str, list[Activity]], budgets=(255,)) -> None:
    batch = engine.score_batch(batch_leads, acts, AS_OF)
    singles = [engine.score(lead, acts.get(lead.id, ()), AS_OF) for lead in batch_leads]
    assert batch.results() == singles
    for budget in budgets:
        assert batch.reasons(budget) == [r.reason(budget) for r in singles], budget
        assert batch.lines(budget) == [r.line(budget) for r in singles], budget


def richer(model: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """Conditions over several fields and properties: all/any/not, a field read twice."""
    model = dict(model, rules=list(model["rules"]))
    model["rules"].append({
        "kind": "fit", "label": "Decider at {value}", "points": draw(st.integers(-20, 30)),
        "any": [{"field": "industry", "equals": "Technology"},
                {"all": [{"field": "title", "contains": "vp"}, {"not": {"field": "employees", "lt": 100}}]}],
    })
    model["rules"].append({
        "kind": "engagement", "label": "Pricing, not paid", "activity": ["page_view", "content_download"],
        "points": draw(st.integers(-10, 30)), "max_occurrences": draw(st.integers(1, 4)),
        "where": {"all": [{"field": "url", "starts_with": "/p"}, {"not": {"field": "source", "equals": "paid"}}]},
    })
    return model


@st.composite
def batches(draw: st.DrawFn) -> tuple[dict[str, Any], list[Lead], dict[str, list[Activity]]]:
    model = draw(models())
    if draw(st.booleans()):
        model = richer(model, draw)
    count = draw(st.integers(1, 8))
    out_leads: list[Lead] = []
    acts: dict[str, list[Activity]] = {}
    for i in range(count):
        lead = draw(leads)
        lead_id = f"L{i}"
        out_leads.append(Lead(lead_id, fields=lead.fields))
        drawn = draw(activities())
        acts[lead_id] = [Activity(lead_id, a.type, a.occurred_at,
                                  {**a.properties, **({"source": "paid"} if draw(st.booleans()) else {})})
                         for a in drawn]
    return model, out_leads, acts


@BATCH_SETTINGS
@given(case=batches(), budget=st.integers(8, 300))
def test_a_batch_scores_as_each_lead_alone(case, budget) -> None:
    model, batch_leads, acts = case
    assert_same(engine_for(model), batch_leads, acts, budgets=(255, budget))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.lists(st.dictionaries(st.sampled_from(["title", "industry", "country", "employees", "annual_revenue",
                                                     "budget", "authority", "need", "timeline", "email"]),
                                    messy_values), min_size=1, max_size=5),
    props=st.dictionaries(st.sampled_from(["url", "asset", "source", "form"]), messy_values, max_size=3),
    naive=st.booleans(),
)
def test_messy_values_score_as_alone(example_engine: ScoringEngine, fields, props, naive) -> None:
    when = (AS_OF - timedelta(days=3)).replace(tzinfo=None) if naive else AS_OF - timedelta(days=3)
    batch_leads = [Lead(f"m{i}", fields=f) for i, f in enumerate(fields)]
    acts = {lead.id: [
        Activity(lead.id, "page_view", when, props),
        Activity(lead.id, "content_download", when, props),
        Activity(lead.id, "email_open", None, {}),  # type: ignore[arg-type]
        Activity(lead.id, "form_submit", when, None),  # type: ignore[arg-type]
    ] for lead in batch_leads}
    assert_same(example_engine, batch_leads, acts, budgets=(255, 40))


@pytest.mark.parametrize("path", ["agent/example_config.toml", "bench/engine_model.toml"])
def test_shipped_models_on_generated_leads(path: str) -> None:
    config = parse_config((ROOT / path).read_text(encoding="utf-8"), source=path)
    engine = ScoringEngine(config.scoring)
    data = list(generate_leads(600, seed=11, as_of=AS_OF, activities_per_lead=None if "example" in path else 20))
    assert_same(engine, [d.lead for d in data], {d.lead.id: list(d.activities) for d in data}, budgets=(255, 120, 1000))


def test_roll_ups_score_as_alone() -> None:
    model = ScoringModel.model_validate({
        "rules": [
            {"kind": "rollup", "label": "Best contact", "aggregate": "best", "value": "score", "weight": 0.5},
            {"kind": "rollup", "label": "Engaged contacts", "aggregate": "count", "value": "score", "min_score": 20,
             "weight": 5, "max_points": 15},
            {"kind": "engagement", "label": "Meetings across the account", "activity": "meeting", "points": 5},
        ],
        "stages": [{"name": "Cold"}, {"name": "Target", "min_score": 30}],
    })
    people_engine = engine_for({"rules": [{"kind": "fit", "label": "Big", "field": "employees", "gte": 10, "points": 25}],
                                "stages": [{"name": "Cold"}]})
    people = [[people_engine.score(Lead(f"p{i}{j}", fields={"employees": 5 * j}), (), AS_OF) for j in range(i)]
              for i in range(6)]
    accounts = [Lead(f"a{i}", object_type="account") for i in range(6)]
    acts = {"a2": [Activity("a2", "meeting", AS_OF - timedelta(days=2))]}
    engine = ScoringEngine(model)
    batch = engine.score_batch(accounts, acts, AS_OF, people=people)
    singles = [engine.score(a, acts.get(a.id, ()), AS_OF, people=p) for a, p in zip(accounts, people)]
    assert batch.results() == singles
    assert batch.reasons() == [r.reason() for r in singles]
    assert singles[5].score > 0


def test_factorize_keeps_types_apart() -> None:
    column = factorize(["1", 1, 1.0, True, None, "1", [1], [1]])
    assert column.codes.tolist()[:6] == [0, 1, 2, 3, 4, 0]
    assert column.values[:5] == ["1", 1, 1.0, True, None]
    assert [type(v) for v in column.values[:4]] == [str, int, float, bool]


def test_a_where_on_a_property_no_activity_has() -> None:
    engine = engine_for({
        "rules": [{"kind": "engagement", "label": "No source", "activity": "page_view", "points": 5,
                   "where": {"field": "source", "missing": True}}],
        "stages": [{"name": "Cold"}],
    })
    acts = {"a": [Activity("a", "page_view", AS_OF - timedelta(days=1), {"url": URLS[0]})]}
    assert_same(engine, [Lead("a"), Lead("b")], acts)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_columns_read_from_blobs_are_the_columns_of_the_activities(data: st.DataObject) -> None:
    """The state store decodes a rescore page's blobs straight into columns (activities
    newest first, equal instants in blob order, by reversing runs instead of sorting); they
    must be the columns the engine makes from the same activities as objects."""
    from leadscore.agent.scoring.columns import ActivityColumns
    from leadscore.agent.state import activities as blobs

    count = data.draw(st.integers(0, 6))
    moments = st.integers(0, 3).map(lambda m: AS_OF - timedelta(days=m))  # equal instants, often
    by_lead: dict[str, list[Activity]] = {}
    for i in range(count):
        by_lead[str(i)] = [
            Activity(str(i), kind, moment, {"url": url} if url else {})
            for kind, moment, url in data.draw(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), moments,
                                                                  st.sampled_from([None, "/x", "/y", 1, 1.0, True, "1", [1], {"a": 1}])), max_size=6))
        ]
    ids = list(by_lead)
    packed = [blobs.encode(acts)[0] if acts or data.draw(st.booleans()) else None for acts in by_lead.values()]
    types = data.draw(st.sampled_from([None, ["a", "b"], ["c"]]))
    got = blobs.columns(packed, types=types, properties=["url"])
    want = ActivityColumns.of(ids, {i: blobs.activities_of(i, b) for i, b in zip(ids, packed)}, types=types, properties=["url"])
    assert got.lead.tolist() == want.lead.tolist()
    assert [got.types[t] for t in got.type.tolist()] == [want.types[t] for t in want.type.tolist()]
    assert got.occurred.tolist() == want.occurred.tolist()
    for name in ("url",):
        assert [got.properties[name].values[c] for c in got.properties[name].codes.tolist()] == \
            [want.properties[name].values[c] for c in want.properties[name].codes.tolist()]
