"""The evaluation report as one self-contained HTML page: ``report.html.j2`` (Jinja2, every value
autoescaped) around the inline SVG plots of :mod:`leadscore.agent.predictive.plots`. No script,
no font, no external reference: the page opens from an email attachment or a CI artifact.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable

from jinja2 import Environment, FunctionLoader, StrictUndefined
from markupsafe import Markup

from leadscore.agent.predictive import plots
from leadscore.agent.predictive.evaluation import BandStat, calibration_bins, cumulative_gains, roc_points
from leadscore.agent.predictive.report.builders import conversion_bands, histogram_edges
from leadscore.agent.predictive.report.model import PLOT_TITLES, Report, RuleStat, num, pct

TEMPLATE = "report.html.j2"
#: Rules shown in the rule-lift plot (all are in its table): the ones firing on the most leads.
MAX_RULES_PLOTTED = 30

Bands = list[tuple[str, str, list[BandStat]]]


def template_environment(package: str) -> Environment:
    """The Jinja2 environment of a package's page templates: every value autoescaped, an
    undefined name an error, and the report's number filters (``num``, ``pct``, ``fmt``)."""

    def source(name: str) -> str:
        return resources.files(package).joinpath(name).read_text(encoding="utf-8")

    env = Environment(loader=FunctionLoader(source), autoescape=True, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, undefined=StrictUndefined)
    env.filters.update(num=num, pct=pct, fmt=format)
    return env


_ENV = template_environment(__package__)


def render_html(report: Report) -> str:
    """The page: one file, inline CSS and SVG, no script, no external reference."""
    bands: Bands = [(s.key, s.name, conversion_bands(s, report.y)) for s in report.distributed()]
    shown = sorted((r for r in report.rules if r.fires), key=lambda r: -r.fires)[:MAX_RULES_PLOTTED]
    drawers = _drawers(report, bands, shown)
    svgs = {name: Markup(drawers[name]()) for name in report.plots()}  # in page order
    return _ENV.get_template(TEMPLATE).render(report=report, titles=PLOT_TITLES, plots=svgs, bands=bands, shown_rules=shown)


def write_report(path: str | Path, report: Report) -> Path:
    path = Path(path)
    path.write_text(render_html(report), encoding="utf-8")
    return path


def _drawers(report: Report, bands: Bands, shown: list[RuleStat]) -> dict[str, Callable[[], str]]:
    """Each plot's drawing (an SVG string), from the report's numbers."""
    y, plotted, challenger = report.y, report.plotted(), report.challenger
    return {
        "score-distribution": lambda: plots.score_distribution(
            "score-distribution", [(s.name, s.scores, y, histogram_edges(s.scores, s.percent_scale)) for s in report.distributed()]),
        "conversion-by-band": lambda: plots.conversion_by_band("conversion-by-band", bands, report.base_rate),
        "conversion-by-stage": lambda: plots.conversion_by_stage(
            "conversion-by-stage", report.stages, [(st.key, st.label, st.counts, st.conversions) for st in report.stage_stats], report.base_rate),
        "calibration": lambda: plots.calibration("calibration", [(s.key, s.name, calibration_bins(y, s.probabilities)) for s in plotted]),
        "gains": lambda: plots.gains("gains", [(s.key, s.name, cumulative_gains(y, s.ranking, 20)) for s in plotted]),
        "roc": lambda: plots.roc("roc", [(s.key, s.name, s.evaluation.auc, roc_points(y, s.ranking)) for s in plotted]),
        "top-factors": lambda: plots.top_factors(
            "top-factors", [(f.key, f.title, f.labels, f.positive, f.negative, f.xlabel) for f in report.factors]),
        "rule-lift": lambda: plots.rule_lift(
            "rule-lift", [(f"{r.label} ({r.points})", r.rate_fires, r.rate_silent, r.fires, r.silent, r.disagrees) for r in shown],
            report.base_rate) if shown else "",
        "champion-challenger": lambda: plots.champion_challenger(
            "champion-challenger", (challenger.champion.name, challenger.challenger.name), challenger.champion.scores,
            challenger.challenger.scores, y,
            [("champion", challenger.champion.name, challenger.champion.gains), ("challenger", challenger.challenger.name, challenger.challenger.gains)],
        ) if challenger is not None else "",
    }
