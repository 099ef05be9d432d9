"""`leadscore train` and `leadscore learn-points` on a labelled export."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

from leadscore.agent.config import load_config, parse_config
from leadscore.agent.csvfiles import write_activities, write_leads
from leadscore.agent.core.records import Lead
from leadscore.connectors.sample import generate_leads
from leadscore.agent.scoring import ScoringEngine

from .conftest import AS_OF, EXAMPLE_CONFIG


def labelled_export(tmp_path: Path, count: int) -> tuple[Path, Path]:
    """Generated leads labelled converted with a probability that rises with their rules score."""
    engine = ScoringEngine(load_config(EXAMPLE_CONFIG).scoring)
    rng = random.Random(5)
    leads, activities = [], []
    for sample in generate_leads(count, seed=3, as_of=AS_OF):
        score = engine.score(sample.lead, sample.activities, AS_OF).score
        converted = rng.random() < min(0.9, 0.05 + score / 150)
        leads.append(Lead(sample.lead.id, "lead", {**sample.lead.fields, "custom.converted": "yes" if converted else "no"},
                          sample.lead.created_at))
        activities.extend(sample.activities)
    write_leads(tmp_path / "leads.csv", leads)
    write_activities(tmp_path / "activities.csv", activities)
    return tmp_path / "leads.csv", tmp_path / "activities.csv"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "leadscore.agent.cli", *args], capture_output=True, text=True, timeout=300)


def test_train_and_learn_points_from_a_label_column(tmp_path: Path) -> None:
    leads, activities = labelled_export(tmp_path, 1200)
    common = ["--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--activities", str(activities),
              "--label-column", "custom.converted", "--as-of", "2026-11-01T00:00:00Z"]
    done = run("train", *common, "--out", str(tmp_path / "model.json"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model.json").is_file() and "trained logistic" in done.stdout
    points = run("learn-points", *common)
    assert points.returncode == 0, points.stderr
    learned = parse_config(points.stdout).scoring  # the snippet is a valid [scoring] model as printed
    assert learned.rules and all(rule.id and rule.id.startswith("learned.") for rule in learned.rules)


def test_too_few_outcomes_keeps_the_rules_scoring(tmp_path: Path) -> None:
    leads, activities = labelled_export(tmp_path, 60)
    done = run("train", "--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--activities", str(activities),
               "--label-column", "custom.converted", "--out", str(tmp_path / "model.json"))
    assert done.returncode == 0, done.stderr
    assert "not trained" in done.stderr and "rules model keeps scoring" in done.stderr
    assert not (tmp_path / "model.json").exists()


def test_outcomes_and_label_column_are_exclusive(tmp_path: Path) -> None:
    leads, _ = labelled_export(tmp_path, 10)
    done = run("train", "--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--out", str(tmp_path / "m.json"))
    assert done.returncode == 2 and "give exactly one of --outcomes" in done.stderr


def test_score_with_a_saved_model_blends_and_records_a_challenger(tmp_path: Path) -> None:
    import csv

    leads, activities = labelled_export(tmp_path, 1200)
    config = tmp_path / "hybrid.toml"
    config.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8") + '\n[predictive.hybrid]\nwrite = "blend"\nblend_weight = 0.5\n')
    common = ["--config", str(config), "--leads", str(leads), "--activities", str(activities), "--as-of", "2026-11-01T00:00:00Z"]
    for kind in ("logistic", "gradient_boosting"):
        trained = run("train", *common, "--label-column", "custom.converted", "--model", kind, "--out", str(tmp_path / f"{kind}.json"))
        assert trained.returncode == 0, trained.stderr
    done = run("score", *common, "--model", str(tmp_path / "logistic.json"), "--out", str(tmp_path / "scored.csv"),
               "--challenger", str(tmp_path / "gradient_boosting.json"), "--challenger-out", str(tmp_path / "shadow.csv"))
    assert done.returncode == 0, done.stderr
    scored = list(csv.DictReader((tmp_path / "scored.csv").open(encoding="utf-8")))
    assert len(scored) == 1200 and all("+" in row["model_version"] for row in scored)  # rules + predictive
    shadow = list(csv.DictReader((tmp_path / "shadow.csv").open(encoding="utf-8")))
    assert len(shadow) == 1200 and shadow[0]["champion_version"] != shadow[0]["challenger_version"]
