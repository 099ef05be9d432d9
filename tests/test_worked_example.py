"""The seeds' worked example must hold on the shipped model: 45 fit + 61 engagement = 106."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

import pytest

from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.scoring import ScoringEngine

from .conftest import AS_OF, EXAMPLE_CONFIG

BANT = {"budget": "50000", "authority": "yes", "need": "high", "timeline": "this quarter"}


def ago(days: float):
    return AS_OF - timedelta(days=days)


def worked_activities() -> list[Activity]:
    return [
        Activity("w1", "page_view", ago(2), {"url": "https://example.com/pricing"}),
        Activity("w1", "content_download", ago(5), {"asset": "product-datasheet"}),
        Activity("w1", "webinar_attended", ago(100)),
        Activity("w1", "page_view", ago(3), {"url": "https://example.com/blog/mql-vs-sql"}),
        Activity("w1", "page_view", ago(6), {"url": "https://example.com/blog/decay-explained"}),
        Activity("w1", "page_view", ago(8), {"url": "https://example.com/blog/lead-scoring-101"}),
        Activity("w1", "email_open", ago(10)),
        Activity("w1", "email_open", ago(10)),
        Activity("w1", "email_open", ago(40)),
        Activity("w1", "email_open", ago(40)),
        Activity("w1", "email_click", ago(10)),
    ]


def worked_lead(**extra: str) -> Lead:
    return Lead("w1", fields={"industry": "Technology", "title": "CTO", "country": "United States", **extra})


def test_worked_case_scores_45_fit_plus_61_engagement(example_engine: ScoringEngine) -> None:
    result = example_engine.score(worked_lead(), worked_activities(), AS_OF)
    assert (result.fit_score, result.engagement_score, result.score) == (45, 61, 106)
    assert sum(p.points for p in result.reasons) == 106
    by_rule = {p.rule: p.points for p in result.reasons if p.rule}
    assert by_rule == {
        "industry-tech": 20,
        "title-decision-maker": 15,
        "region-north-america": 10,
        "pricing-page": 20,
        "datasheet": 15,
        "webinar": 0,  # +10, minus 10 after 90 days
        "blog": 15,
        "email-open": 6,  # 2 x 2 fresh + 2 x 2 halved after 30 days
        "email-click": 5,
    }
    assert result.grade == "A1"


def test_worked_case_without_bant_stays_mql_and_says_why(example_engine: ScoringEngine) -> None:
    result = example_engine.score(worked_lead(), worked_activities(), AS_OF)
    assert result.stage == "MQL"
    gate = [p for p in result.reasons if p.kind == "gate"]
    assert len(gate) == 1 and gate[0].points == 0
    assert "missing budget, authority, need, timeline for SQL" in gate[0].label
    assert result.reason().startswith("Held at MQL: missing budget")


def test_worked_case_with_bant_is_sql(example_engine: ScoringEngine) -> None:
    result = example_engine.score(worked_lead(**BANT), worked_activities(), AS_OF)
    assert (result.score, result.stage) == (106, "SQL")
    assert not [p for p in result.reasons if p.kind == "gate"]


@pytest.mark.parametrize("missing", sorted(BANT))
def test_each_missing_bant_criterion_is_named(example_engine: ScoringEngine, missing: str) -> None:
    fields = {k: v for k, v in BANT.items() if k != missing}
    result = example_engine.score(worked_lead(**fields), worked_activities(), AS_OF)
    assert result.stage == "MQL"
    assert result.reasons[0].label == f"Held at MQL: missing {missing} for SQL"


def test_reason_line_matches_the_documented_shape(example_engine: ScoringEngine) -> None:
    result = example_engine.score(worked_lead(**BANT), worked_activities(), AS_OF)
    assert result.reason() == (
        "+20 Industry: Technology | +20 Visited pricing page (2d ago) | +15 Title: CTO"
        " | +15 Downloaded product datasheet (5d ago) | +15 Blog visit (x3, last 3d ago)"
        " | +10 North America | +6 Email opened (x4, last 10d ago) | +5 Email link clicked (10d ago)"
    )


def test_free_email_domain_costs_ten(example_engine: ScoringEngine) -> None:
    result = example_engine.score(worked_lead(email="cto@gmail.com"), worked_activities(), AS_OF)
    assert result.score == 96
    assert any(p.label == "Free email domain" and p.points == -10 for p in result.reasons)


def test_packaged_example_config_is_the_shipped_one() -> None:
    packaged = resources.files("agent").joinpath("example_config.toml").read_text(encoding="utf-8")
    assert packaged == EXAMPLE_CONFIG.read_text(encoding="utf-8"), "run: cp config.example.toml agent/example_config.toml"
