"""Hybrid scoring (rules, predictive or a blend written; either driving the stage) and
champion / challenger records.

The invariants that matter downstream: the written reasons always sum to the written score,
qualification gates hold whatever score drives the stage, a result's version names every model
that shaped it (and how they were combined), and a config that does not opt in is byte-for-byte
the rules engine.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from leadscore.agent.config import parse_config
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.predictive import (
    ChallengerRecord,
    HybridScorer,
    HybridSettings,
    PredictiveModel,
    build_training_set,
    compare_records,
    compare_scores,
    read_challenger_csv,
    shadow_score,
    take_snapshot,
    write_challenger_csv,
)
from leadscore.agent.predictive.challenger import calibrate_out_of_fold, rank_correlation
from leadscore.agent.predictive.hybrid import NO_MODEL_WARNING, blend_score, blend_scores, predictive_fit
from leadscore.agent.predictive.training import train
from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.core.records import Outcome

from .conftest import stage_ladder
from .test_predictive import AS_OF, FAST, synthetic
from leadscore.agent.core.reasons import points_read

#: A rules model on the synthetic leads' fields, with a gated top stage and a grade matrix, on a
#: 0-100-ish scale so one ladder can read rules, predictive or blended scores.
RULES = """
[scoring]
name = "hybrid-test"
[scoring.total]
min_points = 0
max_points = 100
[[scoring.rules]]
kind = "fit"
id = "software"
label = "Industry: {value}"
field = "industry"
equals = "Software"
points = 35
[[scoring.rules]]
kind = "fit"
id = "retail"
label = "Retail"
field = "industry"
equals = "Retail"
points = -10
[[scoring.rules]]
kind = "fit"
id = "big"
label = "200+ employees"
field = "employees"
gte = 200
points = 15
[[scoring.rules]]
kind = "engagement"
id = "webinar"
label = "Attended webinar"
activity = "webinar_attended"
points = 15
[[scoring.rules]]
kind = "engagement"
id = "opens"
label = "Email opened"
activity = "email_open"
points = 3
max_occurrences = 3
[scoring.qualification.budget]
field = "budget"
exists = true
[scoring.grades]
fit = [{ label = "A", min = 40 }, { label = "B", min = 20 }, { label = "C" }]
engagement = [{ label = "1", min = 20 }, { label = "2", min = 5 }, { label = "3" }]
""" + stage_ladder("Cold", ("MQL", 30), ("SQL", 55, ["budget"]))


@pytest.fixture(scope="module")
def engine() -> ScoringEngine:
    return ScoringEngine(parse_config(RULES).scoring)


@pytest.fixture(scope="module")
def population() -> tuple[list[Lead], dict[str, list[Activity]], list[Outcome]]:
    leads, activities, outcomes, _ = synthetic(n=600, seed=11)
    by_lead: dict[str, list[Activity]] = {}
    for a in activities:
        by_lead.setdefault(a.lead_id, []).append(a)
    # Half the leads have a budget, so the SQL gate bites on the other half.
    leads = [Lead(l.id, l.object_type, {**l.fields, **({"budget": "yes"} if i % 2 else {})}, l.created_at) for i, l in enumerate(leads)]
    return leads, by_lead, outcomes


@pytest.fixture(scope="module")
def model(population: tuple[list[Lead], dict[str, list[Activity]], list[Outcome]]) -> PredictiveModel:
    leads, by_lead, outcomes = population
    data = build_training_set(leads, by_lead, outcomes, AS_OF)
    return train(data, FAST.model_copy(update={"exclude": ["budget"]})).require_model()


def hybrid(engine: ScoringEngine, model: PredictiveModel | None, **settings: object) -> HybridScorer:
    return HybridScorer(engine, model, HybridSettings(**settings))  # type: ignore[arg-type]


# --- config ------------------------------------------------------------------------------------


def test_hybrid_settings_default_to_the_rules_and_validate_with_key_paths() -> None:
    config = parse_config(RULES + '\n[predictive.hybrid]\nwrite = "blend"\nblend_weight = 0.3\nstage_from = "rules"\ngrade_fit_from = "predictive"\n')
    assert config.predictive is not None
    assert config.predictive.hybrid == HybridSettings(write="blend", blend_weight=0.3, stage_from="rules", grade_fit_from="predictive")
    assert parse_config(RULES + "\n[predictive]\n").predictive.hybrid == HybridSettings()  # type: ignore[union-attr]
    bad = '\n[predictive.hybrid]\nwrite = "mixed"\nblend_weight = 1\nstage_from = "grade"\nstages = "x"\n'
    with pytest.raises(ConfigError) as raised:
        parse_config(RULES + bad)
    problems = raised.value.problems
    assert "predictive.hybrid.write: expected 'rules', 'predictive' or 'blend', got 'mixed'" in problems
    assert "predictive.hybrid.blend_weight: expected a number < 1, got 1" in problems
    assert "predictive.hybrid.stage_from: expected 'written', 'rules' or 'predictive', got 'grade'" in problems
    assert "predictive.hybrid.stages: unknown key" in problems


# --- scoring -----------------------------------------------------------------------------------


def test_default_settings_are_exactly_the_rules_engine(engine: ScoringEngine, model: PredictiveModel, population) -> None:  # type: ignore[no-untyped-def]
    leads, by_lead, _ = population
    scorer = hybrid(engine, model)
    assert not scorer.uses_model and scorer.version == engine.version
    for lead in leads[:100]:
        assert scorer.score(lead, by_lead.get(lead.id, ()), AS_OF) == engine.score(lead, by_lead.get(lead.id, ()), AS_OF)


@pytest.mark.parametrize("weight", [0.1, 0.25, 0.5, 0.7, 0.9])
def test_blend_reasons_sum_exactly_to_the_blended_score(engine: ScoringEngine, model: PredictiveModel, population, weight: float) -> None:  # type: ignore[no-untyped-def]
    leads, by_lead, _ = population
    scorer = hybrid(engine, model, write="blend", blend_weight=weight)
    for detail in scorer.score_all_detailed(leads, by_lead, AS_OF):
        result, rules, predicted = detail.result, detail.rules, detail.predictive
        assert predicted is not None
        assert result.score == blend_score(rules.score, predicted.score, weight)
        assert sum(p.points for p in result.reasons) == result.score
        assert all(p.points != 0 for p in result.reasons if p.kind != "gate")
        rounding = [p for p in result.reasons if p.label == "Rounding (blend)"]
        assert len(rounding) <= 1 and all(p.kind == "cap" for p in rounding)
        assert result.fit_score == sum(p.points for p in result.reasons if p.component == "fit")
        assert result.model_version == f"{engine.version}+{model.version}-{scorer.version.rsplit('-', 1)[1]}"
    # Both models' reasons are in the line a rep reads.
    sample = scorer.score(leads[0], by_lead.get(leads[0].id, ()), AS_OF)
    rules_ids = {p.rule for p in sample.reasons}
    assert "predictive" in rules_ids and rules_ids - {"predictive", "blend", None}


@pytest.mark.parametrize("write", ["rules", "predictive", "blend"])
def test_every_reason_line_a_rep_reads_adds_up_to_the_score_within_the_field(  # type: ignore[no-untyped-def]
    engine: ScoringEngine, model: PredictiveModel, population, write: str
) -> None:
    leads, by_lead, _ = population
    scorer = hybrid(engine, model, write=write)
    for i, result in enumerate(scorer.score_all(leads, by_lead, AS_OF)):
        for budget in (40, 60 + i % 50, 255):  # the Salesforce field, and lines cut harder
            line = result.reason(budget)
            assert len(line) <= budget and points_read(line) == result.score, (budget, line, result.score)


def test_blend_of_arrays_matches_the_scalar_rounding() -> None:
    rules = np.array([0, 15, 33, 7, 100, 1])
    predictive = np.array([0, 20, 40, 8, 99, 2])
    assert list(blend_scores(rules, predictive, 0.5)) == [blend_score(r, p, 0.5) for r, p in zip(rules, predictive)]
    assert blend_score(1, 2, 0.5) == 2  # 1.5 rounds half away from zero, as the engine does


def test_write_predictive_and_stage_from_each_score(engine: ScoringEngine, model: PredictiveModel, population) -> None:  # type: ignore[no-untyped-def]
    leads, by_lead, _ = population
    for stage_from in ("written", "rules", "predictive"):
        scorer = hybrid(engine, model, write="predictive", stage_from=stage_from)
        for detail in scorer.score_all_detailed(leads[:150], by_lead, AS_OF):
            result, rules, predicted = detail.result, detail.rules, detail.predictive
            assert predicted is not None and result.score == predicted.score
            assert sum(p.points for p in result.reasons) == result.score
            if stage_from == "rules":
                assert result.stage == rules.stage
            else:
                driver = predicted.score
                expected = "SQL" if driver >= 55 and result_has_budget(leads, result.lead_id) else "MQL" if driver >= 30 else "Cold"
                assert result.stage == expected, (stage_from, driver)


def result_has_budget(leads: list[Lead], lead_id: str) -> bool:
    return "budget" in next(l for l in leads if l.id == lead_id).fields


def test_qualification_gates_still_apply_to_a_predictive_driver(engine: ScoringEngine, model: PredictiveModel) -> None:
    strong = {"industry": "Software", "employees": "5000"}
    acts = [Activity("x", "webinar_attended", AS_OF - timedelta(days=d)) for d in (1, 2, 3, 4, 5)]
    scorer = hybrid(engine, model, write="predictive", stage_from="predictive")
    held = scorer.score(Lead("x", fields=strong), acts, AS_OF)
    assert held.score >= 55, "the planted signal should make this lead a near-certain converter"
    assert held.stage == "MQL"
    assert held.reasons[0].kind == "gate" and held.reasons[0].label == "Held at MQL: missing budget for SQL"
    qualified = scorer.score(Lead("x", fields={**strong, "budget": "yes"}), acts, AS_OF)
    assert qualified.stage == "SQL" and not any(p.kind == "gate" for p in qualified.reasons)
    # The rules result's own gate (decided on the rules score) never leaks into another driver's reasons.
    low = hybrid(engine, model, write="rules", stage_from="predictive").score(Lead("y", fields={"industry": "Retail"}), [], AS_OF)
    assert low.stage == "Cold" and not any(p.kind == "gate" for p in low.reasons)


def test_grade_fit_band_can_come_from_the_predictive_fit(engine: ScoringEngine, model: PredictiveModel, population) -> None:  # type: ignore[no-untyped-def]
    leads, by_lead, _ = population
    scorer = hybrid(engine, model, grade_fit_from="predictive")
    assert scorer.uses_model and scorer.version != engine.version
    details = scorer.score_all_detailed(leads[:200], by_lead, AS_OF)
    changed = 0
    for d in details:
        assert d.predictive_fit is not None
        band = "A" if d.predictive_fit >= 40 else "B" if d.predictive_fit >= 20 else "C"
        engagement = "1" if d.rules.engagement_score >= 20 else "2" if d.rules.engagement_score >= 5 else "3"
        assert d.result.grade == band + engagement
        assert d.result.score == d.rules.score and d.result.reasons == d.rules.reasons  # only the grade moved
        changed += d.result.grade != d.rules.grade
    assert changed > 0
    # The predictive fit is the profile alone: activities at the average lead's.
    lead = leads[3]
    snap = take_snapshot(lead, by_lead.get(lead.id, ()), AS_OF)
    bias, contributions = model.input_contributions([snap])
    fit = [i for i in range(len(model.spec.inputs)) if model.spec.input_kind(i) == "fit"]
    manual = 100 * float(model.calibrator(np.array([bias + contributions[0, fit].sum()]))[0])
    assert predictive_fit(model, [snap])[0] == int(np.floor(manual + 0.5))


def test_without_a_model_everything_falls_back_to_the_rules_with_a_warning(engine: ScoringEngine, population) -> None:  # type: ignore[no-untyped-def]
    leads, by_lead, _ = population
    scorer = hybrid(engine, None, write="blend", stage_from="predictive")
    assert scorer.version == engine.version and not scorer.uses_model
    lead = leads[0]
    result = scorer.score(lead, by_lead.get(lead.id, ()), AS_OF)
    rules = engine.score(lead, by_lead.get(lead.id, ()), AS_OF)
    assert (result.score, result.stage, result.reasons, result.model_version) == (rules.score, rules.stage, rules.reasons, rules.model_version)
    assert result.warnings[-1] == NO_MODEL_WARNING


def test_version_names_both_models_and_how_they_are_combined(engine: ScoringEngine, model: PredictiveModel) -> None:
    a = hybrid(engine, model, write="blend", blend_weight=0.5).version
    b = hybrid(engine, model, write="blend", blend_weight=0.6).version
    c = hybrid(engine, model, write="blend", blend_weight=0.5).version
    assert a == c and a != b
    assert a.startswith(f"{engine.version}+{model.version}-")


def test_batched_scoring_equals_one_lead_at_a_time(engine: ScoringEngine, model: PredictiveModel, population) -> None:  # type: ignore[no-untyped-def]
    leads, by_lead, _ = population
    scorer = hybrid(engine, model, write="blend", stage_from="predictive", grade_fit_from="predictive")
    batch = scorer.score_all(leads[:40], by_lead, AS_OF)
    single = [scorer.score(lead, by_lead.get(lead.id, ()), AS_OF) for lead in leads[:40]]
    assert batch == single


# --- champion / challenger ---------------------------------------------------------------------


def test_shadow_scoring_records_both_models_and_round_trips_through_csv(
    tmp_path: Path, engine: ScoringEngine, model: PredictiveModel, population  # type: ignore[no-untyped-def]
) -> None:
    leads, by_lead, _ = population
    champion = hybrid(engine, model)  # writes the rules
    records = shadow_score(champion, model, leads[:50], by_lead, AS_OF)
    assert [r.lead_id for r in records] == [l.id for l in leads[:50]]
    first = records[0]
    assert first.champion_version == engine.version and first.challenger_version == model.version and first.as_of == AS_OF
    assert first.champion_score == engine.score(leads[0], by_lead.get(leads[0].id, ()), AS_OF).score
    assert first.challenger_score == model.score(leads[0], by_lead.get(leads[0].id, ()), AS_OF).score
    path = tmp_path / "shadow.csv"
    assert write_challenger_csv(path, records) == 50
    assert read_challenger_csv(path) == records
    path.write_text("lead_id,as_of\nx,2026-01-01\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="missing column"):
        read_challenger_csv(path)


def test_comparison_on_outcomes(engine: ScoringEngine, model: PredictiveModel, population) -> None:  # type: ignore[no-untyped-def]
    leads, by_lead, outcomes = population
    records = shadow_score(engine, model, leads, by_lead, AS_OF)
    extra = ChallengerRecord("nobody", AS_OF, 1, "v", 2, "w")
    comparison = compare_records(records + [extra], outcomes)
    assert comparison.without_outcome == 1 and comparison.n == len(leads)
    y = np.array([o.converted for o in outcomes], dtype=int)
    direct = compare_scores(y, [r.champion_score for r in records], [r.challenger_score for r in records])
    assert comparison.champion.evaluation == direct.champion.evaluation
    assert comparison.challenger.evaluation == direct.challenger.evaluation
    assert comparison.agreement == direct.agreement
    a = comparison.agreement
    assert 0.3 < a.rank_correlation <= 1 and 0 < a.top_overlap <= 1
    assert a.champion_only_count == a.challenger_only_count  # equal-sized tops differ by the same number
    assert comparison.challenger.is_probability and not comparison.champion.is_probability
    # The same scores on both sides agree perfectly.
    same = compare_scores(y, direct.champion.scores, direct.champion.scores, challenger_is_probability=False)
    assert same.agreement.top_overlap == 1.0 and same.agreement.rank_correlation == pytest.approx(1.0)
    assert same.winner is None


def test_points_are_calibrated_out_of_fold() -> None:
    rng = np.random.default_rng(0)
    points = rng.integers(0, 80, size=4000).astype(float)
    truth = 1 / (1 + np.exp(-(points - 40) / 10))
    y = (rng.random(4000) < truth).astype(int)
    p = calibrate_out_of_fold(points, y)
    assert np.abs(p - truth).mean() < 0.03
    assert rank_correlation(points, p) > 0.99  # one map per fold: nearly, not exactly, the same order
    assert np.all(calibrate_out_of_fold(points, np.zeros(4000)) == 0.0)  # one class: its rate


def test_records_pair_by_lead_id() -> None:
    from leadscore.agent.predictive.challenger import records_from_results
    from leadscore.agent.core.records import ScoreResult

    when = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def result(lead_id: str, score: int, version: str) -> ScoreResult:
        return ScoreResult(lead_id, score, score, 0, "Cold", None, (), version, when)

    records = records_from_results([result("a", 10, "r"), result("b", 20, "r")], [result("b", 70, "p")], when)
    assert records == [ChallengerRecord("b", when, 20, "r", 70, "p")]


# --- the sync scores with a saved model ---------------------------------------------------------


def test_the_sync_scores_with_the_model_file_and_pulls_every_field(model: PredictiveModel, tmp_path: Path) -> None:
    from leadscore.agent.predictive import save_model
    from leadscore.agent.sync import build_scorer
    from leadscore.agent.sync.pipeline import scorer_needs

    save_model(model, tmp_path / "model.json")
    config = parse_config(RULES + f'\n[predictive]\nmodel_file = "{tmp_path / "model.json"}"\n[predictive.hybrid]\nwrite = "blend"\n')
    scorer = build_scorer(config)
    assert isinstance(scorer, HybridScorer) and scorer.uses_model
    assert scorer_needs(scorer) is None  # the model's features span every field
    assert scorer.version != ScoringEngine(config.scoring).version
    missing = parse_config(RULES + '\n[predictive]\nmodel_file = "nope.json"\n')
    with pytest.raises(ConfigError, match="predictive.model_file: no such file nope.json"):
        build_scorer(missing)
