"""The predictive path: training sets without leakage, the leakage gate, calibrated models and
their reasons, safe artifacts, learned points as engine rules, time-ordered validation, and the
X Education benchmark targets.

Synthetic data plants a known signal (industry, company size and webinars drive conversion;
region and email are noise) so each property can be checked against the answer. Tests on the
real X Education export skip when ``<repo>/../shared/datasets/x-education/Leads.csv`` is absent.
"""

from __future__ import annotations

import json
import math
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from leadscore.agent.config import parse_config
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.predictive import (
    X_EDUCATION_LEAKY_FIELDS,
    X_EDUCATION_MAPPING,
    ArtifactError,
    ColumnMapping,
    FeatureSpec,
    InsufficientOutcomesError,
    LeakageError,
    PredictiveConfig,
    PredictiveModel,
    TrainingSet,
    build_training_set,
    check_leakage,
    cross_validate,
    load_csv_dataset,
    load_model,
    outcomes_from_field,
    read_outcomes_csv,
    save_model,
    take_snapshot,
    train,
    train_scorecard,
)
from leadscore.agent.predictive.config import BoostingCandidate
from leadscore.agent.predictive.evaluation import (
    brier_score,
    calibration_bins,
    conversion_by_band,
    cumulative_gains,
    evaluate,
    expected_calibration_error,
    roc_auc,
    roc_points,
)
from leadscore.agent.predictive.models import TreeEnsembleLogit, fit_logistic
from leadscore.agent.predictive.splits import choose_folds, make_folds, stratified_folds, time_ordered_folds
from leadscore.agent.predictive.training import SCORECARD
from leadscore.agent.core.records import Activity, Lead, ReasonPart
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.core.records import Outcome

ROOT = Path(__file__).resolve().parent.parent
X_EDUCATION = ROOT.parent / "shared" / "datasets" / "x-education" / "Leads.csv"
BASE = datetime(2025, 1, 1, tzinfo=timezone.utc)
AS_OF = datetime(2027, 6, 1, tzinfo=timezone.utc)

#: Small grids so the synthetic tests stay fast; the defaults are exercised on real data.
FAST = PredictiveConfig(
    logistic_c=[0.1, 1.0],
    boosting_grid=[BoostingCandidate(learning_rate=0.2, max_leaf_nodes=8)],
    boosting_max_iter=40,
    scorecard_c=[0.3, 1.0],
    folds=3,
    inner_folds=2,
    min_positives=50,
    min_negatives=50,
)


# --- synthetic data --------------------------------------------------------------------------


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def synthetic(
    n: int = 800,
    seed: int = 0,
    *,
    shift: float = 0.0,
    leaky: bool = False,
    timed: bool = True,
) -> tuple[list[Lead], list[Activity], list[Outcome], np.ndarray]:
    """Leads whose conversion follows a known logit; returns it too (the best possible score).

    Every converted lead also gets a ``meeting`` *after* its outcome (the sales follow-up): a
    training set that snapshots correctly never sees it.
    """
    rng = np.random.default_rng(seed)
    leads: list[Lead] = []
    activities: list[Activity] = []
    outcomes: list[Outcome] = []
    truth = np.empty(n)
    for i in range(n):
        industry = str(rng.choice(["Software", "Retail", "Finance", "Health"]))
        employees = int(rng.lognormal(4.0, 1.2))
        webinars = int(rng.poisson(0.8))
        opens = int(rng.poisson(3.0))
        z = -1.6 + 1.8 * (industry == "Software") - 0.9 * (industry == "Retail") + 0.9 * webinars
        z += 0.35 * (math.log1p(employees) - 4.0) + shift
        truth[i] = z
        converted = bool(rng.random() < _sigmoid(z))
        created = BASE + timedelta(hours=12 * i)
        outcome_at = created + timedelta(days=30)
        fields = {
            "industry": industry,
            "employees": str(employees),
            "country": str(rng.choice(["Germany", "France", "Spain"])),
            "email": f"person{i}@company{i}.com",
        }
        if leaky:
            fields["custom.stage_reason"] = "Closed won" if converted else str(rng.choice(["No budget", "Went dark", "Competitor"]))
        lead = Lead(id=f"L{i}", fields=fields, created_at=created)
        leads.append(lead)
        for _ in range(webinars):
            activities.append(Activity(lead.id, "webinar_attended", created + timedelta(days=float(rng.uniform(0.5, 29)))))
        for _ in range(opens):
            activities.append(Activity(lead.id, "email_open", created + timedelta(days=float(rng.uniform(0.5, 29)))))
        if converted:
            activities.append(Activity(lead.id, "meeting", outcome_at + timedelta(days=1)))
        outcomes.append(Outcome(lead.id, "lead", converted, outcome_at if timed else None))
    return leads, activities, outcomes, truth


def training_set(**kwargs: Any) -> TrainingSet:
    leads, activities, outcomes, _ = synthetic(**kwargs)
    return build_training_set(leads, activities, outcomes, AS_OF)


@pytest.fixture(scope="module")
def planted() -> TrainingSet:
    return training_set()


@pytest.fixture(scope="module")
def models(planted: TrainingSet) -> dict[str, PredictiveModel]:
    return {kind: train(planted, FAST, kind=kind).require_model() for kind in ("logistic", "gradient_boosting")}


# --- training sets and snapshots ---------------------------------------------------------------


def test_snapshot_counts_only_activities_strictly_before_the_instant() -> None:
    lead = Lead("a", fields={"industry": "Software"})
    at = datetime(2025, 3, 1, tzinfo=timezone.utc)
    acts = [
        Activity("a", "email_open", at - timedelta(days=10)),
        Activity("a", "email_open", at - timedelta(days=2)),
        Activity("a", "demo_request", at),  # the converting activity itself
        Activity("a", "meeting", at + timedelta(days=1)),
    ]
    snap = take_snapshot(lead, acts, at)
    assert snap.counts == {"email_open": 2}
    assert snap.recency_days["email_open"] == pytest.approx(2.0)
    gapped = take_snapshot(lead, acts, at, gap_days=5)
    assert gapped.counts == {"email_open": 1}
    assert gapped.recency_days["email_open"] == pytest.approx(5.0)


def test_training_set_snapshots_at_the_outcome_so_later_activities_never_count(planted: TrainingSet) -> None:
    assert len(planted) == 800 and 100 < planted.positives < 700
    assert all("meeting" not in s.counts for s in planted.snapshots)
    spec = FeatureSpec.fit(planted.snapshots)
    assert "activity:meeting" not in spec.input_names
    assert "activity:webinar_attended" in spec.input_names
    assert planted.order_at is not None  # every outcome has a time: validation is time-ordered


def test_without_outcome_times_the_post_outcome_activity_leaks_and_is_flagged() -> None:
    """Snapshotting at the as-of lets the follow-up meeting in: the leakage check catches it."""
    data = training_set(timed=False)
    assert any(s.counts.get("meeting") for s in data.snapshots)
    assert data.order_at is not None  # falls back to the leads' creation times
    report = check_leakage(data)
    assert "activity:meeting" in report.flagged_names


def test_outcomes_merge_per_lead_and_unlabelled_leads_are_not_examples() -> None:
    leads = [Lead("a"), Lead("b"), Lead("c"), Lead("d")]
    t = datetime(2025, 5, 1, tzinfo=timezone.utc)
    outcomes = [
        Outcome("a", "lead", False, t),
        Outcome("a", "lead", True, t + timedelta(days=3)),  # a conversion beats a loss
        Outcome("b", "lead", False, None),  # still open: snapshot at the as-of
        Outcome("c", "lead", True, AS_OF + timedelta(days=1)),  # after the as-of: ignored
        Outcome("zz", "lead", True, t),  # unknown lead
    ]
    data = build_training_set(leads, [], outcomes, AS_OF)
    assert data.lead_ids == ("a", "b")
    assert list(data.y) == [1, 0]
    assert data.snapshots[0].at == t + timedelta(days=3)
    assert data.snapshots[1].at == AS_OF
    assert data.order_at is None  # b has no outcome time and no lead has created_at
    assert any("unknown leads" in note for note in data.notes) and any("after the as-of" in note for note in data.notes)


def test_label_column_is_never_a_feature() -> None:
    leads, _, _, _ = synthetic(n=300)
    rng = np.random.default_rng(1)
    labelled = [Lead(l.id, fields={**l.fields, "custom.converted": "yes" if rng.random() < 0.4 else "no"}) for l in leads]
    outcomes = outcomes_from_field(labelled, "custom.converted")
    assert len(outcomes) == 300 and {o.converted for o in outcomes} == {True, False}
    data = build_training_set(labelled, [], outcomes, AS_OF, label_field="custom.converted")
    assert "custom.converted" not in check_leakage(data).flagged_names
    model = train(data, FAST.model_copy(update={"min_positives": 10, "min_negatives": 10})).require_model()
    assert "custom.converted" not in model.spec.input_names


def test_csv_loader_maps_columns_and_reads_placeholders_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "Prospect ID,Lead Number,Converted,Lead Source,What is your job,Visits\n"
        "p1,1,1,Google,Select,3\n"
        "p2,2,0,Select,Engineer,\n"
        "p3,3,,Google,Engineer,1\n",
        encoding="utf-8",
    )
    mapping = ColumnMapping(
        label="Converted", id="Prospect ID", ignore=frozenset({"Lead Number"}),
        fields={"Lead Source": "lead_source", "Visits": "visits"}, missing_values=frozenset({"", "select"}),
    )
    data = load_csv_dataset(path, mapping)
    assert [lead.id for lead in data.leads] == ["p1", "p2"]  # p3 has no label
    assert data.leads[0].fields == {"lead_source": "Google", "visits": "3"}
    assert data.leads[1].fields == {"custom.what_is_your_job": "Engineer"}
    assert [o.converted for o in data.outcomes] == [True, False]
    with pytest.raises(ConfigError, match="missing column"):
        load_csv_dataset(path, ColumnMapping(label="Outcome"))
    with pytest.raises(ConfigError, match="unknown lead field"):
        load_csv_dataset(path, ColumnMapping(label="Converted", fields={"Visits": "vists"}))


def test_outcomes_csv_reader(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.csv"
    path.write_text("lead_id,converted,occurred_at\na,won,2025-03-01T00:00:00Z\nb,0,\n,1,\nc,,\n", encoding="utf-8")
    outcomes = read_outcomes_csv(path)
    assert [(o.lead_id, o.converted) for o in outcomes] == [("a", True), ("b", False)]
    assert outcomes[0].occurred_at == datetime(2025, 3, 1, tzinfo=timezone.utc) and outcomes[1].occurred_at is None
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,won\na,1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="missing column"):
        read_outcomes_csv(wrong)


# --- leakage -----------------------------------------------------------------------------------


def test_leaky_field_is_flagged_refused_and_accepted_with_force() -> None:
    data = training_set(leaky=True)
    report = check_leakage(data)
    assert report.flagged_names == ("custom.stage_reason",)
    finding = report.findings[0]
    assert finding.auc >= 0.95 and finding.class_share == 1.0 and finding.flagged_by == ("auc", "purity")
    with pytest.raises(LeakageError) as raised:
        train(data, FAST)
    message = str(raised.value)
    assert "custom.stage_reason" in message and "AUC" in message and "force=True" in message
    assert raised.value.names == ("custom.stage_reason",)
    forced = train(data, FAST, force=True).require_model()
    assert "custom.stage_reason" in forced.spec.input_names
    assert forced.info["forced_despite_leakage"]
    excluded = train(data, FAST.model_copy(update={"exclude": ["custom.stage_reason"]})).require_model()
    assert "custom.stage_reason" not in excluded.spec.input_names


def test_planted_signal_and_identifiers_are_not_flagged(planted: TrainingSet) -> None:
    report = check_leakage(planted, exclude=["industri"])
    assert report.findings == ()
    assert report.unmatched_exclusions == ("industri",)
    names = {c.name for c in report.checks}
    assert "industry" in names and "email" not in names  # one value per lead: an identifier
    assert FeatureSpec.fit(planted.snapshots).dropped["email"].startswith("identifier-like")


# --- guard rails -------------------------------------------------------------------------------


def test_too_few_positives_falls_back_to_rules() -> None:
    data = training_set(n=400, shift=-4.0)
    assert data.positives < 50
    result = train(data, FAST)
    assert result.fallback_to_rules and result.model is None
    assert f"{data.positives} converted outcomes" in result.message and "rules model keeps scoring" in result.message
    with pytest.raises(InsufficientOutcomesError, match="too few outcomes"):
        result.require_model()
    assert train_scorecard(data, FAST).fallback_to_rules
    with pytest.raises(InsufficientOutcomesError):
        cross_validate(data, FAST)
    assert train(data, FAST.model_copy(update={"min_positives": 5})).status == "trained"


# --- models, calibration, reasons --------------------------------------------------------------


def test_planted_signal_is_learned_by_every_model() -> None:
    leads, activities, outcomes, truth = synthetic(n=1200, seed=3)
    data = build_training_set(leads, activities, outcomes, AS_OF)
    cv = cross_validate(data, FAST)
    assert cv.time_ordered
    best_possible = roc_auc(data.y, truth)
    for name, result in cv.results.items():
        assert result.mean_fold_auc > best_possible - 0.06, name
        assert result.mean_fold_auc > 0.75, name
        assert result.evaluation.ece < 0.1, name


def test_reasons_sum_exactly_to_the_score(planted: TrainingSet, models: dict[str, PredictiveModel]) -> None:
    for kind, model in models.items():
        scores = model.explain_snapshots(planted.snapshots[:300])
        for s in scores:
            assert 0 <= s.score <= 100
            assert sum(p.points for p in s.reasons) == s.score
            assert all(isinstance(p, ReasonPart) and p.kind in ("fit", "engagement", "cap") for p in s.reasons)
            assert s.reasons[0].label.startswith("Starting point")
            assert abs(s.score - 100 * s.probability) <= 0.5 + 1e-9
            assert s.fit_points + s.engagement_points + sum(p.points for p in s.reasons if p.component == "total") == s.score
        # The planted drivers show up as the named reasons.
        labels = " ".join(p.label for s in scores for p in s.reasons)
        assert "Industry: Software" in labels and "Webinar attended" in labels, kind


def test_score_one_lead_now_matches_the_snapshot_path(models: dict[str, PredictiveModel]) -> None:
    model = models["logistic"]
    lead = Lead("x", fields={"industry": "Software", "employees": "900"})
    acts = [Activity("x", "webinar_attended", AS_OF - timedelta(days=3)), Activity("x", "webinar_attended", AS_OF + timedelta(days=3))]
    result = model.score(lead, acts, as_of=AS_OF)
    assert result.score == model.explain_snapshots([take_snapshot(lead, acts, AS_OF)])[0].score
    assert any("Webinar attended: x1" in p.label for p in result.reasons)
    assert result.reason().startswith("+")
    scored = result.to_score_result(stage="MQL")
    assert scored.score == result.score and scored.model_version == model.version


def test_linear_contributions_are_exact() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=300) > 0).astype(int)
    model = fit_logistic(X, y, 1.0)
    bias, parts = model.contributions(X)
    assert np.allclose(bias + parts.sum(axis=1), model.logit(X))
    assert parts[:, 0].std() > parts[:, 4].std()  # the planted column carries the weight


def test_tree_copy_predicts_exactly_like_scikit_learn_and_attributions_add_up() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    X[rng.random(X.shape) < 0.1] = np.nan  # exercise missing-value routing
    y = ((np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.isnan(X[:, 2])) > 0).astype(int)
    est = HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=8, early_stopping=False, random_state=0).fit(X, y)
    trees = TreeEnsembleLogit.from_sklearn(est, X.shape[1])
    assert np.allclose(trees.logit(X), est.decision_function(X), atol=1e-10)
    bias, parts = trees.contributions(X)
    assert np.allclose(bias + parts.sum(axis=1), trees.logit(X), atol=1e-10)
    assert np.abs(parts[:, 3]).sum() < np.abs(parts[:, 0]).sum()  # noise column gets little credit


def test_calibrated_probabilities_match_observed_rates() -> None:
    data = training_set(n=3000, seed=5)
    cv = cross_validate(data, FAST, kinds=("logistic",), scorecard=False)
    result = cv.results["logistic"]
    assert result.evaluation.ece < 0.05
    assert result.evaluation.brier < brier_score(data.y[cv.validated], np.full(int(cv.validated.sum()), data.y.mean()))


def test_isotonic_calibration_also_gives_reasons_that_sum(planted: TrainingSet, tmp_path: Path) -> None:
    model = train(planted, FAST.model_copy(update={"calibration": "isotonic"}), kind="gradient_boosting").require_model()
    assert model.calibrator.method == "isotonic"
    for s in model.explain_snapshots(planted.snapshots[:100]):
        assert sum(p.points for p in s.reasons) == s.score
    loaded = load_model(save_model(model, tmp_path / "iso.json")[0])
    assert np.array_equal(loaded.probabilities(planted.snapshots), model.probabilities(planted.snapshots))


# --- artifacts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,arrays", [("logistic", "auto"), ("gradient_boosting", "npz"), ("gradient_boosting", "inline")])
def test_artifact_round_trip_gives_identical_predictions(
    tmp_path: Path, planted: TrainingSet, models: dict[str, PredictiveModel], kind: str, arrays: str
) -> None:
    model = models[kind]
    files = save_model(model, tmp_path / "model.json", arrays=arrays)
    assert files[0].read_text(encoding="utf-8").startswith("{")  # JSON, not a pickle
    assert (len(files) == 2) == (arrays == "npz")
    loaded = load_model(files[0])
    assert loaded.version == model.version
    assert np.array_equal(loaded.probabilities(planted.snapshots), model.probabilities(planted.snapshots))
    a = loaded.explain_snapshots(planted.snapshots[:20])
    b = model.explain_snapshots(planted.snapshots[:20])
    assert [x.reasons for x in a] == [x.reasons for x in b]


def test_version_is_a_hash_of_parameters_and_spec(planted: TrainingSet, models: dict[str, PredictiveModel]) -> None:
    again = train(planted, FAST, kind="logistic").require_model()
    assert again.version == models["logistic"].version
    other = train(planted, FAST.model_copy(update={"logistic_c": [0.01]}), kind="logistic").require_model()
    assert other.version != again.version


def test_tampered_or_unknown_artifacts_are_refused(tmp_path: Path, models: dict[str, PredictiveModel]) -> None:
    path = save_model(models["logistic"], tmp_path / "m.json")[0]
    document = json.loads(path.read_text(encoding="utf-8"))

    def write(doc: dict[str, Any]) -> Path:
        target = tmp_path / "edited.json"
        target.write_text(json.dumps(doc), encoding="utf-8")
        return target

    tampered = json.loads(json.dumps(document))
    tampered["arrays"]["inline"]["scorer.coef"]["data"][0] += 0.5
    with pytest.raises(ArtifactError, match="do not match the recorded version"):
        load_model(write(tampered))
    relabelled = json.loads(json.dumps(document))
    relabelled["feature_spec"]["inputs"][0]["name"] = "industry_typo"
    with pytest.raises(ArtifactError, match="do not match"):
        load_model(write(relabelled))
    future = {**document, "format_version": 99}
    with pytest.raises(ArtifactError, match="unknown model format version 99"):
        load_model(write(future))
    with pytest.raises(ArtifactError, match="not a leadscore predictive model"):
        load_model(write({**document, "format": "something-else"}))
    broken = json.loads(json.dumps(document))
    del broken["scorer"]
    with pytest.raises(ArtifactError, match="malformed"):
        load_model(write(broken))
    with pytest.raises(ArtifactError, match="no such model file"):
        load_model(tmp_path / "absent.json")


def test_npz_with_pickled_objects_or_paths_outside_is_refused(tmp_path: Path, models: dict[str, PredictiveModel]) -> None:
    files = save_model(models["gradient_boosting"], tmp_path / "g.json", arrays="npz")
    with np.load(files[1]) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["scorer.value"] = np.array([object()] * arrays["scorer.value"].size, dtype=object)
    np.savez(files[1], **arrays)  # an object array can only be stored pickled
    with pytest.raises(ArtifactError, match="malformed"):
        load_model(files[0])
    document = json.loads(files[0].read_text(encoding="utf-8"))
    document["arrays"]["file"] = "../elsewhere.npz"
    files[0].write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ArtifactError, match="plain file name"):
        load_model(files[0])


def test_tree_arrays_that_could_loop_are_refused(models: dict[str, PredictiveModel]) -> None:
    scalars, arrays = models["gradient_boosting"].scorer.params()
    looping = {k: v.copy() for k, v in arrays.items()}
    first_internal = int(np.flatnonzero(~looping["is_leaf"])[0])
    looping["left"][first_internal] = first_internal  # a node that is its own child
    with pytest.raises(ValueError, match="follow their parent"):
        TreeEnsembleLogit.from_params(scalars, looping)


# --- learned points ----------------------------------------------------------------------------


def test_learned_points_toml_validates_and_the_engine_reproduces_its_points() -> None:
    leads, activities, outcomes, _ = synthetic(n=900, seed=7)
    data = build_training_set(leads, activities, outcomes, AS_OF)
    card = train_scorecard(data, FAST).require_model()
    text = card.to_toml()
    config = parse_config('[scoring]\nname = "learned"\n\n' + text)
    rules = tomllib.loads('[scoring]\n' + text)["scoring"]["rules"]
    assert any("tiers" in r and r["activity"] == "webinar_attended" for r in rules)  # count bins
    assert any("lookback_days" in r for r in rules)  # recency windows
    assert any(r.get("field") == "industry" and r.get("equals") == "Software" and r["points"] > 0 for r in rules)
    assert any(r.get("field") == "employees" and ("gte" in r or "lt" in r) for r in rules)
    assert all(r["kind"] in ("fit", "engagement") for r in rules)
    engine = ScoringEngine(config.scoring)
    by_lead: dict[str, list[Activity]] = {}
    for a in activities:
        by_lead.setdefault(a.lead_id, []).append(a)
    leads_by_id = {lead.id: lead for lead in leads}
    internal = card.score(data.snapshots)
    for snap, points in zip(data.snapshots, internal):
        assert snap.at is not None
        # The engine counts an activity at exactly as_of; the snapshot only those strictly before.
        result = engine.score(leads_by_id[snap.lead_id], by_lead.get(snap.lead_id, ()), snap.at - timedelta(microseconds=1))
        assert result.score == points
    assert roc_auc(data.y, internal) > 0.75
    assert card.score_for_probability(0.5) is not None


def test_learned_points_are_scaled_to_double_the_odds() -> None:
    data = training_set(n=900, seed=8)
    card = train_scorecard(data, FAST.model_copy(update={"scorecard": FAST.scorecard.model_copy(update={"points_to_double_odds": 40.0})})).require_model()
    assert card.factor == pytest.approx(40.0 / math.log(2))
    assert "40 points double the odds" in card.to_toml()
    for variable, points in zip(card.variables, card.points):
        assert points[variable.reference] == 0  # the reference bin earns nothing


# --- validation folds ----------------------------------------------------------------------


def test_time_ordered_folds_never_train_on_the_future() -> None:
    rng = np.random.default_rng(0)
    times = rng.integers(0, 50, size=500).astype(float)  # many ties
    y = rng.integers(0, 2, size=500)
    folds = make_folds(y, 5, order_at=times)
    assert len(folds) >= 3
    for train_idx, valid_idx in folds:
        assert times[train_idx].max() < times[valid_idx].min()
        assert not set(train_idx) & set(valid_idx)
    assert time_ordered_folds(np.zeros(10), 3) == []  # one instant: nothing can be ordered


def test_times_that_cannot_be_ordered_fall_back_to_stratified_folds() -> None:
    y = np.array([0, 1] * 50)
    folds, strategy = choose_folds(y, 5, order_at=np.zeros(100))
    assert strategy == "stratified" and len(folds) == 5


def test_cross_validation_on_timed_outcomes_is_time_ordered(planted: TrainingSet) -> None:
    cv = cross_validate(planted, FAST, kinds=("logistic",), scorecard=False)
    assert cv.time_ordered and planted.order_at is not None
    for train_idx, valid_idx in cv.folds:
        assert planted.order_at[train_idx].max() < planted.order_at[valid_idx].min()
    assert not cv.validated.all()  # the earliest block is only ever trained on
    assert np.isnan(cv.results["logistic"].probabilities[~cv.validated]).all()


def test_stratified_folds_partition_and_keep_the_base_rate() -> None:
    y = np.array([1] * 300 + [0] * 700)
    folds = stratified_folds(y, 5, seed=1)
    seen = np.concatenate([v for _, v in folds])
    assert sorted(seen) == list(range(1000))
    for _, valid in folds:
        assert abs(y[valid].mean() - 0.3) < 0.01


# --- evaluation --------------------------------------------------------------------------------


def test_evaluation_metrics_on_known_cases() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = np.round(rng.random(400) + 0.3 * y, 1)  # ties
    from sklearn.metrics import roc_auc_score

    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    points = roc_points(y, s)
    assert (points[0].false_positive_rate, points[-1].true_positive_rate) == (0.0, 1.0)
    area = sum((b.false_positive_rate - a.false_positive_rate) * (a.true_positive_rate + b.true_positive_rate) / 2 for a, b in zip(points, points[1:]))
    assert area == pytest.approx(roc_auc(y, s))
    assert brier_score([0, 1], [0.0, 1.0]) == 0.0 and brier_score([0, 1], [1.0, 0.0]) == 1.0


def test_calibration_gains_and_bands() -> None:
    p = np.array([0.05] * 20 + [0.95] * 20)
    y = np.array([0] * 19 + [1] + [1] * 19 + [0])
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    bins = calibration_bins(y, p)
    assert len(bins) == 10 and sum(b.count for b in bins) == 40 and bins[0].observed_rate == pytest.approx(0.05)
    assert expected_calibration_error([1, 1], [0.5, 0.5]) == pytest.approx(0.5)
    gains = cumulative_gains(y, p, points=4)
    assert gains[-1].fraction_of_conversions == 1.0 and gains[1].lift == pytest.approx(1.9)
    bands = conversion_by_band(y, 100 * p)
    assert [b.count for b in bands] == [20, 0, 0, 0, 20] and bands[-1].conversion_rate == pytest.approx(0.95)
    summary = evaluate(y, p)
    assert summary.n == 40 and summary.positives == 20 and "AUC" in summary.line()


# --- config ------------------------------------------------------------------------------------


def test_predictive_config_is_strict_like_the_scoring_table() -> None:
    text = """
    [predictive]
    model = "gradient_boosting"
    exclude = ["custom.tags"]
    min_positives = 200
    boosting_grid = [{ learning_rate = 0.05, max_leaf_nodes = 16 }]
    [predictive.leakage]
    max_auc = 0.9
    """
    config = PredictiveConfig.model_validate(tomllib.loads(text.replace("\n    ", "\n"))["predictive"])
    assert config.model == "gradient_boosting" and config.leakage.max_auc == 0.9 and config.boosting_grid[0].max_leaf_nodes == 16
    with pytest.raises(ValidationError):
        PredictiveConfig.model_validate({"min_positive": 5})
    with pytest.raises(ValidationError):
        PredictiveConfig.model_validate({"model": "neural"})


# --- the real data: X Education --------------------------------------------------------------


@pytest.fixture(scope="module")
def x_education() -> TrainingSet:
    if not X_EDUCATION.is_file():
        pytest.skip(f"X Education data not found at {X_EDUCATION}")
    data = load_csv_dataset(X_EDUCATION, X_EDUCATION_MAPPING)
    return build_training_set(data.leads, data.activities, data.outcomes, AS_OF)


def test_x_education_leakage_check_flags_sales_fields(x_education: TrainingSet) -> None:
    assert len(x_education) == 9237 and x_education.positives == 3559
    report = check_leakage(x_education)
    assert {"custom.tags", "custom.lead_quality"} <= set(report.flagged_names)
    honest = {"lead_source", "custom.lead_origin", "custom.occupation", "custom.last_activity", "custom.time_on_site"}
    assert not honest & set(report.flagged_names)
    assert not any(s.counts for s in x_education.snapshots)  # the export has no dated activities
    assert check_leakage(x_education, exclude=X_EDUCATION_LEAKY_FIELDS).findings == ()


@pytest.mark.slow
def test_x_education_meets_the_benchmark_targets(x_education: TrainingSet) -> None:
    config = PredictiveConfig(exclude=list(X_EDUCATION_LEAKY_FIELDS))
    cv = cross_validate(x_education, config)
    assert not cv.time_ordered and cv.validated.all()
    best = cv.best_model()
    points = cv.results[SCORECARD]
    assert best.mean_fold_auc >= 0.90
    assert best.mean_fold_auc - points.mean_fold_auc <= 0.01
    for name, result in cv.results.items():
        assert result.evaluation.ece <= 0.03, name
        assert result.mean_fold_auc > 0.892, name  # at least the README's plain logistic regression
