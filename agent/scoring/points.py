"""Whole points and shown values: the small pieces both scoring paths share.

A rule's contribution is rounded to a whole point once, half away from zero, before caps, so the
arithmetic after that is exact and the reason parts always sum to the score.
"""

from __future__ import annotations

import math
from typing import Any

from leadscore.agent.scoring.conditions import text_value

_EPS = 1e-9


def round_points(value: float) -> int:
    """Round half away from zero (Python's ``round`` rounds half to even: 2.5 -> 2)."""
    magnitude = math.floor(abs(value) + 0.5 + _EPS)
    return int(magnitude) if value >= 0 else -int(magnitude)


def clamp(value: int, low: float | None, high: float | None) -> int:
    """``value`` within caps (each rounded to a whole point); the upper cap wins a conflict."""
    if high is not None and value > high:
        return round_points(high)
    if low is not None and value < low:
        return round_points(low)
    return value


def preview(value: Any, quote: bool = True, limit: int = 40) -> str:
    """A field value as a reason or a warning shows it: stripped text, cut to ``limit``."""
    text = text_value(value) or ""
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return repr(text) if quote else text


def occurrences(count: int, age_days: float) -> str:
    """An engagement part's detail: ``3d ago`` for one occurrence, ``x3, last today`` for more."""
    days = int(age_days)
    ago = "today" if days == 0 else f"{days}d ago"
    return ago if count == 1 else f"x{count}, last {ago}"
