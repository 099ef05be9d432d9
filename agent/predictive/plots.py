"""The report's plots, as inline SVG strings: matplotlib, without pyplot, one figure at a time.

Why these choices:

* **SVG inline** keeps the report one self-contained file (no image files, no external URLs,
  scripts or fonts): it opens from an email attachment or a CI artifact, and text in the plots
  stays sharp and searchable. ``svg.fonttype = "none"`` writes text as text in a generic
  sans-serif stack, so no font is embedded or fetched.
* **No pyplot**: figures are built from :class:`matplotlib.figure.Figure` directly, so no
  global state and no GUI backend is ever selected (the same as the Agg backend for our
  purpose, and safe on a server without a display or in a thread).
* **Sanitised output**: each SVG has its XML prolog, DOCTYPE, metadata and namespace URLs
  removed (inline SVG in HTML needs none of them), ``xlink:href`` rewritten to ``href``, and
  every ``id`` prefixed with the plot's id, so several plots in one page never share an id and
  the page contains no ``http`` reference at all.
* **Small**: curves are resampled to a few hundred points and scatter plots subsampled, so a
  report on 100,000 leads stays a few hundred kilobytes.

Every function takes plain numbers (what :mod:`agent.predictive.evaluation` returns) and returns
an SVG string; :mod:`leadscore.agent.predictive.report.html` decides what to plot.
"""

from __future__ import annotations

import io
import math
import re
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from numpy.typing import NDArray

from leadscore.agent.predictive.evaluation import BandStat, CalibrationBin, GainsPoint, RocPoint

if TYPE_CHECKING:  # matplotlib itself loads only when a plot is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: One colour per kind of score, the same in every plot.
COLOURS = {
    "rules": "#3b6ea8",
    "predictive": "#e07b39",
    "learned_points": "#3a9a5b",
    "written": "#8a5cb8",
    "champion": "#3b6ea8",
    "challenger": "#e07b39",
}
CONVERTED = "#2a9d8f"
NOT_CONVERTED = "#b8bec9"
GRID = "#e6e8ec"
TEXT = "#2b2f36"
_FALLBACK = ("#3b6ea8", "#e07b39", "#3a9a5b", "#8a5cb8", "#c44e52", "#8c8c8c")

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "axes.edgecolor": "#9aa1ad",
    "axes.labelcolor": TEXT,
    "axes.titlecolor": TEXT,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
}


def _rc(plot_id: str) -> Any:
    """The style, salted with the plot id so matplotlib's generated ids are stable per plot
    (typed ``Any``: matplotlib's stubs want literal keys)."""
    return {**_RC, "svg.hashsalt": plot_id}


def colour(key: str, index: int = 0) -> str:
    return COLOURS.get(key, _FALLBACK[index % len(_FALLBACK)])


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _style(ax: Axes, *, ygrid: bool = True, xgrid: bool = False) -> None:
    ax.set_axisbelow(True)
    if ygrid:
        ax.yaxis.grid(True, color=GRID, linewidth=0.8)
    if xgrid:
        ax.xaxis.grid(True, color=GRID, linewidth=0.8)


_DROP = (
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*"),
    re.compile(r"<metadata>.*?</metadata>\s*", re.S),
    re.compile(r'\s+xmlns(:\w+)?="[^"]*"'),
)


def to_svg(fig: Figure, plot_id: str, description: str = "") -> str:
    """Render ``fig`` to sanitised inline SVG (see the module docstring)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_rc(plot_id)):
        fig.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    for pattern in _DROP:
        text = pattern.sub("", text)
    text = text.replace("xlink:href=", "href=")
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", plot_id)
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", text)
    # Scale with the page (the viewBox keeps the aspect), never beyond the drawn size.
    size = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', text)
    if size:
        text = text.replace(size.group(0), f'<svg style="width:100%;max-width:{size.group(1)}pt;height:auto"', 1)
    label = f' role="img" aria-label="{_attr(description)}"' if description else ' role="img"'
    text = text.replace("<svg ", f"<svg{label} ", 1)
    return text.strip()


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def _render(build: Any, plot_id: str, description: str, width: float, height: float) -> str:
    import matplotlib

    with matplotlib.rc_context(_rc(plot_id)):
        fig = _figure(width, height)
        build(fig)
        return to_svg(fig, plot_id, description)


def _pct(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0%}"


# --- plots -------------------------------------------------------------------------------------


def score_distribution(plot_id: str, panels: Sequence[tuple[str, NDArray[np.float64], NDArray[np.int64], Sequence[float]]]) -> str:
    """One histogram per score, converted and not converted stacked. ``panels``: (title,
    scores, outcomes, bin edges)."""

    def build(fig: Figure) -> None:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (title, scores, y, edges) in zip(axes, panels):
            lost, won = scores[y == 0], scores[y == 1]
            ax.hist([lost, won], bins=list(edges), stacked=True, color=[NOT_CONVERTED, CONVERTED],
                    label=["not converted", "converted"], edgecolor="white", linewidth=0.4)
            ax.set_title(title)
            ax.set_xlabel("score")
            ax.set_ylabel("leads")
            _style(ax)
        axes[0].legend(loc="upper right")

    return _render(build, plot_id, "Histogram of scores, converted and not converted stacked", 4.2 * len(panels) + 0.6, 3.2)


def conversion_by_band(plot_id: str, panels: Sequence[tuple[str, str, Sequence[BandStat]]], base_rate: float) -> str:
    """Observed conversion rate per score band, one panel per score; ``panels``: (key, title, bands)."""

    def build(fig: Figure) -> None:
        axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
        for i, (ax, (key, title, bands)) in enumerate(zip(axes, panels)):
            labels = [_band_label(b) for b in bands]
            rates = [0.0 if math.isnan(b.conversion_rate) else b.conversion_rate for b in bands]
            bars = ax.bar(range(len(bands)), rates, color=colour(key, i), width=0.7)
            for bar, band in zip(bars, bands):
                text = f"{_pct(band.conversion_rate)}\nn={band.count}" if band.count else "n=0"
                ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7.5, color=TEXT)
            ax.axhline(base_rate, color="#6b7280", linestyle="--", linewidth=1, label=f"all leads {_pct(base_rate)}")
            ax.set_xticks(range(len(bands)), labels, rotation=0, fontsize=8)
            ax.set_title(title)
            ax.set_xlabel("score band")
            ax.set_ylim(0, min(1.0, max(rates + [base_rate]) * 1.3 + 0.05))
            ax.yaxis.set_major_formatter(_percent_formatter())
            _style(ax)
        axes[0].set_ylabel("converted")
        axes[0].legend(loc="upper left")

    return _render(build, plot_id, "Conversion rate by score band", 4.2 * len(panels) + 0.6, 3.3)


def _band_label(band: BandStat) -> str:
    return f"{band.low:g}\u2013{band.high:g}"


def _percent_formatter() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def conversion_by_stage(plot_id: str, stages: Sequence[str], groups: Sequence[tuple[str, str, Sequence[int], Sequence[int]]], base_rate: float) -> str:
    """Conversion rate per stage (lowest first); ``groups``: (key, label, counts, conversions),
    one bar per stage and group."""

    def build(fig: Figure) -> None:
        ax = fig.subplots()
        width = 0.8 / max(1, len(groups))
        for g, (key, label, counts, conversions) in enumerate(groups):
            xs = np.arange(len(stages)) + (g - (len(groups) - 1) / 2) * width
            rates = [c / n if n else 0.0 for c, n in zip(conversions, counts)]
            bars = ax.bar(xs, rates, width=width * 0.92, color=colour(key, g), label=label)
            for bar, n, c in zip(bars, counts, conversions):
                text = f"{_pct(c / n)}\nn={n}" if n else "n=0"
                ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), xytext=(0, 2),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7.5, color=TEXT)
        ax.axhline(base_rate, color="#6b7280", linestyle="--", linewidth=1, label=f"all leads {_pct(base_rate)}")
        ax.set_xticks(range(len(stages)), list(stages))
        ax.set_xlabel("stage")
        ax.set_ylabel("converted")
        top = max([c / n for _, _, ns, cs in groups for c, n in zip(cs, ns) if n] + [base_rate])
        ax.set_ylim(0, min(1.05, top * 1.3 + 0.05))
        ax.yaxis.set_major_formatter(_percent_formatter())
        ax.legend(loc="upper left")
        _style(ax)

    return _render(build, plot_id, "Conversion rate by stage", max(5.0, 1.2 * len(stages) * max(1, len(groups)) + 2.0), 3.3)


def calibration(plot_id: str, series: Sequence[tuple[str, str, Sequence[CalibrationBin]]]) -> str:
    """Reliability diagram: mean predicted probability vs observed rate per bin (marker area by
    count), with the diagonal of perfect calibration. ``series``: (key, label, bins)."""

    def build(fig: Figure) -> None:
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], color="#9aa1ad", linestyle="--", linewidth=1, label="perfectly calibrated")
        total = max(1, max((b.count for _, _, bins in series for b in bins), default=1))
        for i, (key, label, bins) in enumerate(series):
            kept = [b for b in bins if b.count]
            xs = [b.mean_predicted for b in kept]
            ys = [b.observed_rate for b in kept]
            ax.plot(xs, ys, color=colour(key, i), linewidth=1.6, label=label)
            ax.scatter(xs, ys, s=[12 + 120 * b.count / total for b in kept], color=colour(key, i), zorder=3, alpha=0.85)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted probability (bin mean)")
        ax.set_ylabel("observed conversion rate")
        ax.xaxis.set_major_formatter(_percent_formatter())
        ax.yaxis.set_major_formatter(_percent_formatter())
        ax.set_aspect("equal")
        ax.legend(loc="upper left")
        _style(ax, xgrid=True)

    return _render(build, plot_id, "Calibration curve", 5.2, 4.4)


def gains(plot_id: str, series: Sequence[tuple[str, str, Sequence[GainsPoint]]]) -> str:
    """Cumulative gains (left) and lift (right) by share of leads contacted, best first."""

    def build(fig: Figure) -> None:
        left, right = fig.subplots(1, 2)
        left.plot([0, 1], [0, 1], color="#9aa1ad", linestyle="--", linewidth=1, label="random order")
        right.axhline(1.0, color="#9aa1ad", linestyle="--", linewidth=1, label="random order")
        for i, (key, label, points) in enumerate(series):
            xs = [0.0] + [p.fraction_contacted for p in points]
            left.plot(xs, [0.0] + [p.fraction_of_conversions for p in points], color=colour(key, i), linewidth=1.8, label=label)
            right.plot([p.fraction_contacted for p in points], [p.lift for p in points], color=colour(key, i), linewidth=1.8,
                       marker="o", markersize=3, label=label)
        left.set_title("Cumulative gains")
        left.set_xlabel("leads contacted, highest scores first")
        left.set_ylabel("share of all conversions found")
        left.set_xlim(0, 1)
        left.set_ylim(0, 1.02)
        right.set_title("Lift")
        right.set_xlabel("leads contacted, highest scores first")
        right.set_ylabel("conversion rate / overall rate")
        right.set_xlim(0, 1)
        right.set_ylim(bottom=0)
        for ax in (left, right):
            ax.xaxis.set_major_formatter(_percent_formatter())
            _style(ax, xgrid=True)
        left.yaxis.set_major_formatter(_percent_formatter())
        left.legend(loc="lower right")

    return _render(build, plot_id, "Cumulative gains and lift curves", 9.0, 3.6)


def resample_roc(points: Sequence[RocPoint], size: int = 201) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The ROC curve on a fixed grid of false positive rates (highest TPR reached by each), so a
    curve over 100,000 distinct scores is drawn with ``size`` points and the same shape."""
    fpr = np.array([p.false_positive_rate for p in points])
    tpr = np.array([p.true_positive_rate for p in points])
    if fpr.size <= size:
        return fpr, tpr
    grid = np.linspace(0.0, 1.0, size)
    # The curve is a staircase: at each grid FPR take the highest TPR already reached.
    index = np.searchsorted(fpr, grid, side="right") - 1
    return grid, np.maximum.accumulate(tpr)[np.clip(index, 0, tpr.size - 1)]


def roc(plot_id: str, series: Sequence[tuple[str, str, float, Sequence[RocPoint]]]) -> str:
    """ROC curves; ``series``: (key, label, AUC, points)."""

    def build(fig: Figure) -> None:
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], color="#9aa1ad", linestyle="--", linewidth=1, label="random (AUC 0.5)")
        for i, (key, label, auc, points) in enumerate(series):
            xs, ys = resample_roc(points)
            ax.plot(xs, ys, color=colour(key, i), linewidth=1.8, label=f"{label} (AUC {auc:.3f})" if not math.isnan(auc) else label)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("false positive rate (non-converters reached)")
        ax.set_ylabel("true positive rate (converters reached)")
        ax.xaxis.set_major_formatter(_percent_formatter())
        ax.yaxis.set_major_formatter(_percent_formatter())
        ax.set_aspect("equal")
        ax.legend(loc="lower right")
        _style(ax, xgrid=True)

    return _render(build, plot_id, "ROC curves", 5.2, 4.4)


def top_factors(plot_id: str, panels: Sequence[tuple[str, str, Sequence[str], Sequence[float], Sequence[float], str]]) -> str:
    """Diverging bars per factor: what it adds (right) and removes (left).
    ``panels``: (key, title, labels, positive values, negative values (<= 0), x-axis label)."""
    rows = max(len(p[2]) for p in panels)

    def build(fig: Figure) -> None:
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for i, (ax, (key, title, labels, positive, negative, xlabel)) in enumerate(zip(axes, panels)):
            ys = np.arange(len(labels))
            ax.barh(ys, positive, color=CONVERTED, height=0.7, label="raises the score")
            ax.barh(ys, negative, color="#d1495b", height=0.7, label="lowers the score")
            ax.axvline(0, color="#6b7280", linewidth=0.8)
            ax.set_yticks(ys, [_short(label, 42) for label in labels], fontsize=8)
            ax.set_ylim(rows - 0.5, -0.5)  # same bar height in every panel, largest on top
            ax.set_title(title)
            ax.set_xlabel(xlabel)
            _style(ax, ygrid=False, xgrid=True)
            if i == 0:
                ax.legend(loc="lower right")

    return _render(build, plot_id, "Top factors", 6.2 * len(panels), 0.28 * rows + 1.3)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def rule_lift(plot_id: str, rows: Sequence[tuple[str, float, float, int, int, bool]], base_rate: float) -> str:
    """Dumbbell per rule: conversion rate of leads it fires on (filled) vs leads it does not
    (hollow). ``rows``: (label, rate when it fires, rate when not, fires count, not count,
    whether the outcomes disagree with the sign of its points: drawn red)."""

    def build(fig: Figure) -> None:
        ax = fig.subplots()
        ys = np.arange(len(rows))[::-1]
        for y, (label, fires, silent, n_fires, n_silent, disagrees) in zip(ys, rows):
            if not math.isnan(fires) and not math.isnan(silent):
                ax.plot([silent, fires], [y, y], color="#c3c8d0", linewidth=2, zorder=1)
            if not math.isnan(silent):
                ax.scatter([silent], [y], s=36, facecolors="white", edgecolors="#6b7280", linewidths=1.4, zorder=2)
            if not math.isnan(fires):
                ax.scatter([fires], [y], s=40, color="#d1495b" if disagrees else CONVERTED, zorder=3)
            ax.annotate(f"n={n_fires} / {n_silent}", (1.0, y), xycoords=("axes fraction", "data"), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=7.5, color="#4b5563")
        ax.axvline(base_rate, color="#6b7280", linestyle="--", linewidth=1)
        ax.scatter([], [], s=40, color=CONVERTED, label="leads the rule fires on")
        ax.scatter([], [], s=40, color="#d1495b", label="... where outcomes contradict its points")
        ax.scatter([], [], s=36, facecolors="white", edgecolors="#6b7280", label="leads it does not fire on")
        ax.set_yticks(ys, [_short(r[0], 48) for r in rows], fontsize=8)
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(_percent_formatter())
        ax.set_xlabel(f"conversion rate (dashed: all leads, {_pct(base_rate)})")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if len(rows) > 6 else -0.25), ncol=3)
        _style(ax, ygrid=False, xgrid=True)

    return _render(build, plot_id, "Observed conversion lift of each rule", 8.2, 0.3 * len(rows) + 1.6)


def champion_challenger(
    plot_id: str,
    names: tuple[str, str],
    champion: NDArray[np.float64],
    challenger: NDArray[np.float64],
    y: NDArray[np.int64],
    curves: Sequence[tuple[str, str, Sequence[GainsPoint]]],
    max_points: int = 2500,
    seed: int = 0,
) -> str:
    """Left: each lead's champion vs challenger score (a random sample of ``max_points``),
    coloured by outcome. Right: both models' cumulative gains."""

    def build(fig: Figure) -> None:
        left, right = fig.subplots(1, 2)
        index = np.arange(y.size)
        if y.size > max_points:
            index = np.sort(np.random.default_rng(seed).choice(y.size, max_points, replace=False))
        jitter = np.random.default_rng(seed + 1).uniform(-0.35, 0.35, size=(2, index.size))
        for outcome, tone, label in ((0, NOT_CONVERTED, "not converted"), (1, CONVERTED, "converted")):
            chosen = index[y[index] == outcome]
            j = jitter[:, y[index] == outcome]
            left.scatter(champion[chosen] + j[0], challenger[chosen] + j[1], s=6, color=tone, alpha=0.6, linewidths=0, label=label)
        left.set_xlabel(f"{names[0]} score")
        left.set_ylabel(f"{names[1]} score")
        left.set_title("Scores side by side" + (f" (sample of {max_points})" if y.size > max_points else ""))
        left.legend(loc="upper left", markerscale=2.5)
        _style(left, xgrid=True)
        right.plot([0, 1], [0, 1], color="#9aa1ad", linestyle="--", linewidth=1, label="random order")
        for i, (key, label, points) in enumerate(curves):
            right.plot([0.0] + [p.fraction_contacted for p in points], [0.0] + [p.fraction_of_conversions for p in points],
                       color=colour(key, i), linewidth=1.8, label=label)
        right.set_title("Cumulative gains")
        right.set_xlabel("leads contacted, highest scores first")
        right.set_ylabel("share of all conversions found")
        right.xaxis.set_major_formatter(_percent_formatter())
        right.yaxis.set_major_formatter(_percent_formatter())
        right.set_xlim(0, 1)
        right.set_ylim(0, 1.02)
        right.legend(loc="lower right")
        _style(right, xgrid=True)

    return _render(build, plot_id, "Champion versus challenger", 9.0, 3.8)
