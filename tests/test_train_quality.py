"""What `leadscore train` prints about a model's quality, and its guard against saving a worse one.

The figures (held-out AUC with its DeLong interval, calibration error, lift of the top 10%,
conversion by score band) are checked on arrays small enough to compute by hand; the command on a
generated export, run in-process (each run fits two model kinds, so the runs are few).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from leadscore.agent.cli import app
from leadscore.agent.csvfiles import Issues, read_leads, write_leads
from leadscore.agent.predictive.errors import ArtifactError
from leadscore.agent.predictive.evaluation import (
    auc_difference,
    auc_interval,
    auc_standard_error,
    lift_at,
    quality,
    roc_auc,
    score_bands,
)
from leadscore.agent.predictive.splits import holdout_split

from .conftest import EXAMPLE_CONFIG
from .test_predictive_cli import labelled_export

# --- the figures, by hand ---------------------------------------------------------------------------

# Converters score 0.9 and 0.4, non-converters 0.6 and 0.1: of the four pairs, 0.4 < 0.6 is the only
# one ranked wrong, so AUC = 3/4. DeLong's components: each converter's share of non-converters
# beaten (v10 = [1, 1/2]) and each non-converter's share of converters above it (v01 = [1/2, 1]);
# var(v10) = var(v01) = 1/8 (n - 1 in the denominator), so SE^2 = 1/8 / 2 + 1/8 / 2 = 1/8.
Y4 = [1, 1, 0, 0]
S4 = [0.9, 0.4, 0.6, 0.1]


def test_auc_and_its_delong_interval() -> None:
    assert roc_auc(Y4, S4) == 0.75
    assert auc_standard_error(Y4, S4) == pytest.approx(math.sqrt(1 / 8))
    low, high = auc_interval(Y4, S4)
    assert low == pytest.approx(0.75 - 1.959963984540054 * math.sqrt(1 / 8)) and high == 1.0  # clipped
    assert math.isnan(auc_standard_error([1, 0, 0], [0.9, 0.2, 0.1]))  # one converter: no variance


def test_paired_auc_difference() -> None:
    perfect = [0.9, 0.8, 0.2, 0.1]  # components all 1, AUC 1
    diff = auc_difference(Y4, S4, perfect)
    assert (diff.auc_a, diff.auc_b, diff.difference) == (0.75, 1.0, -0.25)
    # a - b components: v10 [0, -1/2], v01 [-1/2, 0]; each has variance 1/8.
    assert diff.standard_error == pytest.approx(math.sqrt(1 / 8))
    same = auc_difference(Y4, S4, S4)
    assert same.difference == 0 and same.standard_error == 0


def test_lift_at_ten_percent() -> None:
    y = [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]  # 2 of 10 converted: rate 0.2
    scores = list(range(10, 0, -1))
    assert lift_at(y, scores, 0.1) == pytest.approx(1.0 / 0.2)  # the top lead converted
    assert lift_at(y, scores, 0.2) == pytest.approx(0.5 / 0.2)
    # Ties at the cut count in proportion: the top 2 are the 0.9 lead (lost) and one of three tied
    # at 0.5, two of which converted: (0 + 2/3) / 2 = 1/3 converted, over 0.2 = 5/3, in any order.
    y_tied = [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    s_tied = [0.9, 0.5, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.0]
    assert lift_at(y_tied, s_tied, 0.2) == pytest.approx(5 / 3)
    order = [3, 0, 9, 2, 5, 1, 4, 8, 6, 7]
    assert lift_at([y_tied[i] for i in order], [s_tied[i] for i in order], 0.2) == pytest.approx(5 / 3)
    assert math.isnan(lift_at([0, 0], [0.1, 0.2]))


def test_score_bands_best_first_with_ties_kept_together() -> None:
    y = [1, 1, 0, 1, 0, 0, 0, 0]
    p = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    bands = score_bands(y, p, 4)
    assert [(b.top_from, b.top_to, b.count, b.conversions) for b in bands] == [
        (0.0, 0.25, 2, 2), (0.25, 0.5, 2, 1), (0.5, 0.75, 2, 0), (0.75, 1.0, 2, 0)
    ]
    assert [b.conversion_rate for b in bands] == [1.0, 0.5, 0.0, 0.0]
    assert [(b.low, b.high) for b in bands][:2] == [(0.8, 0.9), (0.6, 0.7)]
    assert bands[0].mean_predicted == pytest.approx(0.85)
    # Three leads tied at 0.5 start in the first quarter: that band takes all four, the second is empty.
    tied = score_bands([1, 1, 0, 0, 1, 0, 0, 0], [0.9, 0.5, 0.5, 0.5, 0.3, 0.2, 0.1, 0.0], 4)
    assert [(b.top_from, b.top_to, b.count, b.conversions) for b in tied] == [(0.0, 0.5, 4, 2), (0.5, 0.75, 2, 1), (0.75, 1.0, 2, 0)]


def test_quality_bundles_the_figures() -> None:
    # ECE: two leads at 0.2 of which one converted (gap 0.3), two at 0.8 both converted (gap 0.2):
    # (2 * 0.3 + 2 * 0.2) / 4 = 0.25. AUC: the lost lead ties one converter at 0.2 -> (1 + 1 + 0.5) / 3.
    q = quality([0, 1, 1, 1], [0.2, 0.2, 0.8, 0.8], bands=2)
    assert (q.n, q.positives, q.base_rate) == (4, 3, 0.75)
    assert q.ece == pytest.approx(0.25) and q.auc == pytest.approx(2.5 / 3)
    assert [(b.count, b.conversions) for b in q.bands] == [(2, 2), (2, 1)]
    assert q.lift_at_10 == pytest.approx(1.0 / 0.75)  # the top lead (one of two tied converters)
    assert math.isnan(q.auc_low)  # one lost lead: no DeLong variance
    assert set(q.summary()) == {"n", "positives", "auc", "auc_95", "ece", "lift_at_10"}


# --- the split --------------------------------------------------------------------------------------


def test_holdout_is_the_latest_part_and_never_splits_equal_times() -> None:
    y = np.array([1, 0, 0, 1, 1, 0, 1, 0, 1, 0])
    times = np.array([9.0, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    (train, held), how = holdout_split(y, 0.3, times)
    assert how == "time-ordered" and held.tolist() == [0, 8, 9] and train.tolist() == list(range(1, 8))
    ties = times.copy()
    ties[7] = 7.0  # equal to index 8's time: both go to the held-out side
    (train, held), _ = holdout_split(y, 0.3, ties)
    assert held.tolist() == [0, 7, 8, 9] and max(ties[train]) < min(ties[held])


def test_holdout_falls_back_to_stratified_and_says_so() -> None:
    y = np.array([1, 0] * 10)
    (train, held), how = holdout_split(y, 0.2, None)
    assert how == "stratified" and held.size == 4 and y[held].sum() == 2 and np.intersect1d(train, held).size == 0
    late_all_lost = np.array([1, 0] * 8 + [0, 0, 0, 0])
    (_, held), how = holdout_split(late_all_lost, 0.2, np.arange(20.0))
    assert how == "stratified" and set(late_all_lost[held]) == {0, 1}


# --- the command ------------------------------------------------------------------------------------

# Everything that tells converters apart in the generated export; what is left (city, country,
# company, names) is noise, so a model trained on it is clearly worse.
INFORMATIVE = ["budget", "authority", "need", "timeline", "title", "employees", "annual_revenue", "industry", "lead_source",
               "email", "call", "content_download", "demo_request", "email_bounce", "email_click", "email_open", "email_reply",
               "event_attended", "form_submit", "meeting", "page_view", "trial_signup", "unsubscribe", "webinar_attended",
               "webinar_registered"]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One OpenMP thread for the boosted trees: on a busy two-core machine their spinning threads
    can make a second-long fit take tens of seconds."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("train_quality")
    leads, activities = labelled_export(folder, 1000)
    worse = folder / "worse.toml"
    worse.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8") + f"\n[predictive]\nexclude = {json.dumps(INFORMATIVE)}\n")
    return leads, activities, worse


def train(leads: Path, activities: Path, out: Path, *extra: str, config: Path = EXAMPLE_CONFIG):  # type: ignore[no-untyped-def]
    args = ["train", "--config", str(config), "--leads", str(leads), "--activities", str(activities),
            "--label-column", "custom.converted", "--as-of", "2026-11-01T00:00:00Z", "--out", str(out), *extra]
    return CliRunner().invoke(app, args, catch_exceptions=False)


def test_train_prints_held_out_quality_and_refuses_a_worse_model(export: tuple[Path, Path, Path], tmp_path: Path) -> None:
    leads, activities, worse = export
    model = tmp_path / "model.json"
    done = train(leads, activities, model)
    assert done.exit_code == 0, done.output
    printed = done.stdout
    assert "held out the latest 200 of 1,000 outcomes" in printed and "tuned and trained on the 800 before them" in printed
    assert "AUC (95% CI)" in printed and "ECE" in printed and "lift@10%" in printed
    assert "logistic *" in printed and "gradient_boosting" in printed  # each candidate, the chosen one starred
    assert "Conversion by score band (logistic, held-out outcomes)" in printed and "top 10%" in printed and "90-100%" in printed
    assert "trained logistic on 1000 outcomes" in printed
    info = json.loads(model.read_text())["info"]
    assert info["held_out"]["strategy"] == "time-ordered" and info["held_out"]["n"] == 200
    assert 0.6 < info["held_out"]["auc"] <= 1 and info["trained_through"].startswith("2026-")
    saved = model.read_bytes()

    refused = train(leads, activities, model, "--no-compare", config=worse)
    assert refused.exit_code == 1, refused.output
    line = refused.stderr.splitlines()[0]
    assert line.startswith("refused: the new model's held-out AUC ") and "below the current model's" in line
    assert "--allow-worse" in line and str(model) in line
    found = re.search(r"held-out AUC (\d\.\d+) is below the current model's (\d\.\d+)", line)
    assert found is not None
    new_auc, current_auc = float(found[1]), float(found[2])
    assert new_auc < current_auc - 0.05
    assert model.read_bytes() == saved and not (tmp_path / "model.npz").exists()  # nothing written

    forced = train(leads, activities, model, "--no-compare", "--allow-worse", config=worse)
    assert forced.exit_code == 0, forced.output
    assert "worse, saved with --allow-worse" in forced.stdout
    replaced = json.loads(model.read_text())["info"]["replaced"]
    assert replaced["saved_despite_worse"] is True and replaced["auc_new"] < replaced["auc_current"]


def test_a_model_trained_on_older_leads_is_compared_on_the_leads_it_never_saw(export: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """The fair basis: the current model was trained on leads created before the held-out ones, so
    both models are scored out of sample; with a generous tolerance the new one is saved."""
    leads, activities, _ = export
    rows = sorted(read_leads(leads, Issues()), key=lambda lead: lead.created_at or datetime.min.replace(tzinfo=timezone.utc))
    older = tmp_path / "older.csv"
    write_leads(older, rows[:700])
    model = tmp_path / "model.json"
    first = train(older, activities, model, "--no-compare")
    assert first.exit_code == 0, first.output
    assert "held out the latest 140 of 700 outcomes" in first.stdout and "against the current model" not in first.stdout
    again = train(leads, activities, model, "--no-compare", "--auc-tolerance", "1")
    assert again.exit_code == 0, again.output
    assert "200 held-out outcomes" in again.stdout and "later than the current model's training" in again.stdout
    assert "not worse" in again.stdout
    assert json.loads(model.read_text())["info"]["replaced"]["basis"] == "unseen"


def test_an_unreadable_current_model_is_not_overwritten_without_allow_worse(export: tuple[Path, Path, Path], tmp_path: Path) -> None:
    leads, activities, _ = export
    model = tmp_path / "model.json"
    model.write_text('{"format": "something else"}\n')
    with pytest.raises(ArtifactError, match="cannot compare with the current model: .*--allow-worse replaces it"):
        train(leads, activities, model, "--no-compare")  # refused before any training
    assert model.read_text() == '{"format": "something else"}\n'
