"""`leadscore report`: the numbers behind the page, its honesty banners, and the page itself,
rendered by headless Chromium and checked for every plot and for no external reference.

Chromium (Debian's ``chromium``) is required in CI (``CI`` set): there a missing browser fails
the test; on a developer machine without it the rendering test is skipped.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from leadscore.agent.config import parse_config
from leadscore.agent.csvfiles import write_activities, write_leads
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.predictive import (
    X_EDUCATION_LEAKY_FIELDS,
    X_EDUCATION_MAPPING,
    PredictiveConfig,
    PredictiveModel,
    build_training_set,
    load_csv_dataset,
    save_model,
)
from leadscore.agent.cli.predictive import report as report_command
from leadscore.agent.predictive.training import train
from leadscore.agent.predictive.report import PLOTS, RULES_PLOTS, Report, build_report, render_html
from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.core.records import Outcome

from .test_hybrid import RULES
from .test_predictive import AS_OF, FAST, ROOT, X_EDUCATION, synthetic

FAST_TOML = """
[predictive]
logistic_c = [0.1, 1.0]
scorecard_c = [0.3, 1.0]
folds = 3
inner_folds = 2
min_positives = 50
min_negatives = 50
"""
BLEND_TOML = FAST_TOML + '\n[predictive.hybrid]\nwrite = "blend"\nblend_weight = 0.5\nstage_from = "written"\n'


# --- fixtures ----------------------------------------------------------------------------------


Population = tuple[list[Lead], list[Activity], list[Outcome]]


@pytest.fixture(scope="module")
def population() -> Population:
    leads, activities, outcomes, _ = synthetic(n=700, seed=21)
    return leads, activities, outcomes


@pytest.fixture(scope="module")
def engine() -> ScoringEngine:
    return ScoringEngine(parse_config(RULES).scoring)


@pytest.fixture(scope="module")
def other_model() -> PredictiveModel:
    """A model trained on *other* leads: scored as given (a holdout evaluation)."""
    leads, activities, outcomes, _ = synthetic(n=700, seed=99)
    return train(build_training_set(leads, activities, outcomes, AS_OF), FAST, kind="gradient_boosting").require_model()


def write_inputs(folder: Path, population: Population, config_text: str) -> dict[str, Path]:
    leads, activities, outcomes = population
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.csv" for name in ("leads", "activities", "outcomes")}
    write_leads(paths["leads"], leads)
    write_activities(paths["activities"], activities)
    with paths["outcomes"].open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lead_id", "converted", "occurred_at"])
        for o in outcomes:
            writer.writerow([o.lead_id, "1" if o.converted else "0", o.occurred_at.isoformat() if o.occurred_at else ""])
    paths["config"] = folder / "leadscore.toml"
    paths["config"].write_text(RULES + config_text, encoding="utf-8")
    return paths


def run_report(*args: str) -> Any:
    """Invoke ``report_command`` as ``leadscore report`` would (a Typer app with subcommands)."""
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """leadscore"""

    app.command("report")(report_command)
    return CliRunner().invoke(app, ["report", *args], catch_exceptions=True)


# --- reading the page ------------------------------------------------------------------------------

_DRAWING = {"path", "rect", "line", "polyline", "polygon", "circle", "ellipse", "use", "text"}
_RESOURCE_TAGS = {"script", "link", "iframe", "img", "object", "embed", "audio", "video", "source", "base"}


class PageParser(HTMLParser):
    """Plot sections (``data-plot``), their headings and SVG content, banners, element ids and
    every attribute that could load something."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.plots: dict[str, dict[str, Any]] = {}
        self.banners: list[str] = []
        self.ids: list[str] = []
        self.resource_refs: list[str] = []
        self.resource_tags: list[str] = []
        self.styles: list[str] = []
        self._open: list[tuple[str, str | None]] = []  # (tag, plot it opened)
        self._heading: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        current = next((p for _, p in reversed(self._open) if p), None)
        opened = None
        if "data-plot" in a and a["data-plot"]:
            opened = a["data-plot"]
            self.plots[opened] = {"id": a.get("id"), "svg": 0, "drawing": 0, "heading": ""}
        elif current is not None:
            plot = self.plots[current]
            if tag == "svg":
                plot["svg"] += 1
            elif tag in _DRAWING and plot["svg"]:
                plot["drawing"] += 1
            elif tag == "h2":
                self._heading = current
        if "data-banner" in a:
            self.banners.append(a["data-banner"] or "")
        if "id" in a and a["id"]:
            self.ids.append(a["id"])
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "action", "poster", "data") and value is not None:
                self.resource_refs.append(value)
            if name == "style" and value:
                self.styles.append(value)
        if tag in _RESOURCE_TAGS:
            self.resource_tags.append(tag)
        if tag not in ("meta", "br", "img", "link", "input", "hr", "source", "base"):
            self._open.append((tag, opened))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._heading = None
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self.plots[self._heading]["heading"] += data


def parse_page(text: str) -> PageParser:
    parser = PageParser()
    parser.feed(text)
    parser.close()
    return parser


def assert_self_contained(page: PageParser, text: str) -> None:
    external = [r for r in page.resource_refs if not r.startswith("#")]
    assert not external, f"external references: {external[:5]}"
    assert not page.resource_tags, f"resource-loading elements: {page.resource_tags}"
    assert "@import" not in text and "@font-face" not in text
    for style in page.styles + [text]:
        for target in style.split("url(")[1:]:
            assert target.lstrip("'\"").startswith("#"), f"url() to something other than a fragment: {target[:40]}"
    assert len(page.ids) == len(set(page.ids)), "element ids must be unique across the page's SVGs"


def assert_plots(page: PageParser, expected: list[str]) -> None:
    assert sorted(page.plots) == sorted(expected), (sorted(page.plots), sorted(expected))
    for name in expected:
        plot = page.plots[name]
        assert plot["id"] == f"plot-{name}"
        assert plot["heading"].strip(), f"{name} has no heading"
        assert plot["svg"] >= 1 and plot["drawing"] >= 10, f"{name} has no drawn SVG: {plot}"


def chromium() -> str:
    found = shutil.which("chromium") or next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI to render the report: apt-get install -y chromium")
        pytest.skip("chromium not installed (apt-get install -y chromium); CI requires it")
    return found


def render_in_chromium(page: Path, profile: Path, screenshot: Path | None = None) -> str:
    """The DOM Chromium built from ``page`` (and optionally a screenshot). Every host name is
    made unresolvable, so a page that tried to load anything from the network would fail to."""
    base = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
    ]
    done = subprocess.run([*base, "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    if screenshot is not None:
        shot = subprocess.run([*base, "--hide-scrollbars", "--window-size=1200,2400", f"--screenshot={screenshot}", page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=120)
        assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    return done.stdout


# --- the page in a browser ---------------------------------------------------------------------


def test_report_command_writes_a_page_chromium_renders_with_every_plot(tmp_path: Path, population: Population, other_model: PredictiveModel) -> None:
    paths = write_inputs(tmp_path / "in", population, BLEND_TOML)
    save_model(other_model, tmp_path / "challenger.json")
    out = tmp_path / "report.html"
    done = run_report("--config", str(paths["config"]), "--leads", str(paths["leads"]), "--activities", str(paths["activities"]),
                      "--outcomes", str(paths["outcomes"]), "--as-of", "2027-06-01T00:00:00Z",
                      "--challenger", str(tmp_path / "challenger.json"), "--out", str(out))
    assert done.exit_code == 0, (done.output, done.exception)
    assert f"-> {out}" in done.output
    text = out.read_text(encoding="utf-8")
    assert "http:" not in text and "https:" not in text and "<script" not in text
    static = parse_page(text)
    assert_plots(static, list(PLOTS))
    assert_self_contained(static, text)

    dom = render_in_chromium(out, tmp_path / "profile")
    page = parse_page(dom)
    assert_plots(page, list(PLOTS))
    assert_self_contained(page, dom)
    assert page.banners == []  # nothing to warn about: out-of-fold numbers, a challenger trained elsewhere
    assert "Written: blend 50% rules + 50% predictive" in dom and "Champion (written)" in dom


# --- the numbers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluated(engine: ScoringEngine, population: Population) -> Report:
    leads, activities, outcomes = population
    config = PredictiveConfig.model_validate(parse_config(RULES + BLEND_TOML).predictive.model_dump())  # type: ignore[union-attr]
    return build_report(engine, leads, activities, outcomes, AS_OF, config=config)


def test_every_score_is_evaluated_out_of_fold_on_the_same_leads(evaluated: Report, engine: ScoringEngine, population: Population) -> None:
    report = evaluated
    assert report.predictive_status == "evaluated" and report.banners == ()
    assert [s.key for s in report.series] == ["rules", "predictive", "learned_points", "written"]
    # Outcomes have times: validation is time-ordered, the earliest block only ever trained on,
    # and every score is evaluated on the same later leads.
    assert 0 < report.evaluated < report.outcomes == 700
    assert all(s.scores.size == report.evaluated and s.evaluation.n == report.evaluated for s in report.series)
    assert any("only ever trained on" in n for n in report.notes)
    assert any("time-ordered cross-validation" in line for line in report.method)
    for s in report.series:
        assert 0.6 < s.evaluation.auc <= 1.0, s.name
        assert np.all((s.probabilities >= 0) & (s.probabilities <= 1))
    predictive = report.series_by_key("predictive")
    assert predictive is not None and predictive.name == "Predictive (logistic, out of fold)"
    # Rules scores are the engine's, as of each outcome.
    leads, activities, outcomes = population
    lead = {l.id: l for l in leads}[report.lead_ids[0]]
    outcome = next(o for o in outcomes if o.lead_id == lead.id)
    acts = [a for a in activities if a.lead_id == lead.id]
    assert outcome.occurred_at is not None
    expected = engine.score(lead, acts, outcome.occurred_at - __import__("datetime").timedelta(microseconds=1)).score
    assert report.series[0].scores[0] == expected
    assert sum(report.stage_stats[0].counts) == report.evaluated
    assert len(report.stage_stats) == 2  # the blend drives the stage: both ladders are shown
    assert report.plots() == [p for p in PLOTS if p != "champion-challenger"]


def test_each_rules_conversion_lift_is_counted_from_the_leads_it_fires_on(evaluated: Report) -> None:
    by_id = {r.rule_id: r for r in evaluated.rules}
    assert set(by_id) == {"software", "retail", "big", "webinar", "opens"}
    for r in evaluated.rules:
        assert r.fires + r.silent == evaluated.evaluated
        assert r.fires_converted + r.silent_converted == evaluated.positives
    # The planted signal: software and webinars convert more, retail less; every sign agrees.
    assert by_id["software"].lift > 1.5 and by_id["webinar"].lift > 1.2 and by_id["retail"].lift < 1
    assert not any(r.disagrees for r in evaluated.rules if r.rule_id in ("software", "webinar", "retail"))
    assert by_id["software"].label == "Industry: Software"  # {value} filled with what the rule tests


def test_a_saved_model_evaluated_on_its_training_data_gets_a_warning(engine: ScoringEngine, population: Population) -> None:
    leads, activities, outcomes = population
    data = build_training_set(leads, activities, outcomes, AS_OF)
    config = PredictiveConfig.model_validate(parse_config(RULES + FAST_TOML).predictive.model_dump())  # type: ignore[union-attr]
    saved = train(data, config).require_model()
    report = build_report(engine, leads, activities, outcomes, AS_OF, config=config, model=saved)
    assert [b.title for b in report.banners] == ["Evaluating on training data"]
    in_sample = report.series_by_key("predictive_in_sample")
    oof = report.series_by_key("predictive")
    assert in_sample is not None and in_sample.in_sample and oof is not None and not oof.in_sample
    assert in_sample.evaluation.auc > oof.evaluation.auc  # why the banner exists
    assert in_sample not in report.plotted()
    text = render_html(report)
    page = parse_page(text)
    assert page.banners == ["Evaluating on training data"]
    assert 'class="insample"' in text and "out-of-fold predictions" in text


def test_a_saved_model_from_other_data_is_scored_as_given(engine: ScoringEngine, population: Population, other_model: PredictiveModel) -> None:
    leads, activities, outcomes = population
    config = PredictiveConfig.model_validate(parse_config(RULES + FAST_TOML).predictive.model_dump())  # type: ignore[union-attr]
    report = build_report(engine, leads, activities, outcomes, AS_OF, config=config, model=other_model)
    assert [b.title for b in report.banners] == ["Saved model scored as given"]
    predictive = report.series_by_key("predictive")
    assert predictive is not None and predictive.version == other_model.version
    assert report.series_by_key("predictive_in_sample") is None
    assert report.factors[0].title.startswith("Predictive model (gradient_boosting)")


# --- guard rails -----------------------------------------------------------------------------------


def test_too_few_outcomes_shows_the_rules_only_evaluation(tmp_path: Path, population: Population, other_model: PredictiveModel) -> None:
    leads, activities, outcomes = population
    few = (leads[:80], [a for a in activities if a.lead_id in {l.id for l in leads[:80]}], outcomes[:80])
    paths = write_inputs(tmp_path / "in", few, BLEND_TOML)
    save_model(other_model, tmp_path / "model.json")
    out = tmp_path / "report.html"
    done = run_report("--config", str(paths["config"]), "--leads", str(paths["leads"]), "--activities", str(paths["activities"]),
                      "--outcomes", str(paths["outcomes"]), "--as-of", "2027-06-01T00:00:00Z", "--model", str(tmp_path / "model.json"),
                      "--out", str(out))
    assert done.exit_code == 0, (done.output, done.exception)
    assert "Too few outcomes" in done.output
    text = out.read_text(encoding="utf-8")
    page = parse_page(text)
    assert page.banners == ["Too few outcomes: rules-only evaluation", "Hybrid settings fall back to the rules"]
    assert_plots(page, list(RULES_PLOTS))
    assert_self_contained(page, text)
    assert "converted outcomes (at least 50 needed: predictive.min_positives)" in text
    assert "The saved model(s) given were not evaluated" in text
    assert 'data-series="rules"' in text and 'data-series="predictive"' not in text


def test_probable_leakage_shows_the_rules_only_evaluation_unless_forced(engine: ScoringEngine) -> None:
    leads, activities, outcomes, _ = synthetic(n=500, seed=4, leaky=True)
    config = FAST.model_copy(update={"folds": 2})
    report = build_report(engine, leads, activities, outcomes, AS_OF, config=config)
    assert report.predictive_status == "leakage"
    assert [b.level for b in report.banners] == ["error"] and "custom.stage_reason" in report.banners[0].text
    assert [s.key for s in report.series] == ["rules"]
    forced = build_report(engine, leads, activities, outcomes, AS_OF, config=config, force=True)
    assert forced.predictive_status == "evaluated" and forced.series_by_key("predictive") is not None


def test_report_command_reports_user_errors(tmp_path: Path, population: Population) -> None:
    paths = write_inputs(tmp_path / "in", population, FAST_TOML)
    both = run_report("--config", str(paths["config"]), "--leads", str(paths["leads"]), "--outcomes", str(paths["outcomes"]),
                      "--label-column", "custom.converted", "--out", str(tmp_path / "r.html"))
    assert isinstance(both.exception, ConfigError) and "give exactly one of --outcomes" in str(both.exception)
    stranger = tmp_path / "stranger.csv"
    stranger.write_text("lead_id,converted\nnobody,1\n", encoding="utf-8")
    none = run_report("--config", str(paths["config"]), "--leads", str(paths["leads"]), "--outcomes", str(stranger),
                      "--out", str(tmp_path / "r.html"))
    assert isinstance(none.exception, ConfigError) and "no outcome matches a lead" in str(none.exception)


# --- the real data -----------------------------------------------------------------------------


@pytest.mark.slow
def test_x_education_report(tmp_path: Path) -> None:
    """9,237 real leads with a hand-written rules model: a realistic page, end to end."""
    if not X_EDUCATION.is_file():
        pytest.skip(f"X Education data not found at {X_EDUCATION}")
    data = load_csv_dataset(X_EDUCATION, X_EDUCATION_MAPPING)
    rules = ScoringEngine(parse_config((ROOT / "bench" / "x_education_model.toml").read_text(encoding="utf-8")).scoring)
    config = PredictiveConfig(exclude=list(X_EDUCATION_LEAKY_FIELDS), folds=3, inner_folds=2, logistic_c=[0.03, 0.3], scorecard_c=[0.3, 1.0])
    report = build_report(rules, data.leads, data.activities, data.outcomes, datetime(2020, 1, 1, tzinfo=timezone.utc), config=config,
                          sources={"data": "X Education Leads.csv"})
    assert report.evaluated == 9237 and report.positives == 3559 and report.banners == ()
    predictive = report.series_by_key("predictive")
    assert predictive is not None and predictive.evaluation.auc > 0.88 and predictive.evaluation.ece < 0.04
    assert report.series[0].evaluation.auc > 0.75  # the hand-written rules rank well, not as well
    lifts = {r.rule_id: r.lift for r in report.rules}
    assert lifts["add-form"] > 2 and lifts["bounced"] < 1
    out = tmp_path / "x-education.html"
    out.write_text(render_html(report), encoding="utf-8")
    dom = render_in_chromium(out, tmp_path / "profile", screenshot=tmp_path / "x-education.png")
    page = parse_page(dom)
    assert_plots(page, report.plots())
    assert_self_contained(page, dom)

