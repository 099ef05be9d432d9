"""Decay curves: how an engagement point fades as the activity that earned it ages.

Each curve is compiled once into a plain function ``(points, age_days) -> points`` so the
engine's inner loop pays one call per occurrence. Every curve moves points toward zero and
never away from it, so a lead can only lose points as its activities age.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from leadscore.agent.scoring.model import (
    Decay,
    DecayStep,
    ExpireDecay,
    ExponentialDecay,
    LinearDecay,
    NoDecay,
    StepDecay,
)

DecayFn = Callable[[float, float], float]


def _none(points: float, age_days: float) -> float:
    return points


def _toward_zero(points: float, by: float) -> float:
    if points >= 0:
        return max(0.0, points - by)
    return min(0.0, points + by)


def compile_decay(decay: Decay | None) -> DecayFn:
    if decay is None or isinstance(decay, NoDecay):
        return _none
    if isinstance(decay, StepDecay):
        return _steps(decay.normalised_steps())
    if isinstance(decay, LinearDecay):
        over = decay.over_days

        def linear(points: float, age_days: float) -> float:
            return points * max(0.0, 1.0 - age_days / over)

        return linear
    if isinstance(decay, ExponentialDecay):
        half_life = decay.half_life_days

        def exponential(points: float, age_days: float) -> float:
            return points * 0.5 ** (age_days / half_life)

        return exponential
    if isinstance(decay, ExpireDecay):
        after = decay.after_days

        def expire(points: float, age_days: float) -> float:
            return points if age_days <= after else 0.0

        return expire
    raise TypeError(f"unknown decay {decay!r}")  # pragma: no cover - the model's union is closed


def _steps(steps: list[DecayStep]) -> DecayFn:
    """Steps apply cumulatively once their age is reached: ``x0.5 after 30d`` then ``-10 after
    90d`` gives 10 -> 5 -> 0. Magnitude only ever shrinks, so decay stays monotone."""
    plan = tuple((s.after_days, s.factor, s.minus) for s in steps)

    def step(points: float, age_days: float) -> float:
        for after, factor, minus in plan:
            if age_days < after:
                break
            points = points * factor if factor is not None else _toward_zero(points, minus or 0.0)
        return points

    return step


# --- the same curves over arrays, for the columnar engine ------------------------------------

DecayArrayFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def compile_decay_array(decay: Decay | None) -> DecayArrayFn | None:
    """``compile_decay`` over arrays of points and ages (elementwise, the same arithmetic in the
    same order, so each result equals the scalar curve's to the last bit); None for no decay."""
    if decay is None or isinstance(decay, NoDecay):
        return None
    if isinstance(decay, StepDecay):
        plan = tuple((s.after_days, s.factor, s.minus) for s in decay.normalised_steps())

        def step(points: np.ndarray, age_days: np.ndarray) -> np.ndarray:
            points = points.astype(np.float64, copy=True)
            for after, factor, minus in plan:  # sorted by age: a step applies once its age is reached
                reached = age_days >= after
                if factor is not None:
                    points = np.where(reached, points * factor, points)
                else:
                    by = minus or 0.0
                    moved = np.where(points >= 0, np.maximum(0.0, points - by), np.minimum(0.0, points + by))
                    points = np.where(reached, moved, points)
            return points

        return step
    if isinstance(decay, LinearDecay):
        over = decay.over_days
        return lambda points, age_days: points * np.maximum(0.0, 1.0 - age_days / over)
    if isinstance(decay, ExponentialDecay):
        half_life = decay.half_life_days
        return lambda points, age_days: points * np.power(0.5, age_days / half_life)
    if isinstance(decay, ExpireDecay):
        after = decay.after_days
        return lambda points, age_days: np.where(age_days <= after, points, 0.0)
    raise TypeError(f"unknown decay {decay!r}")  # pragma: no cover - the model's union is closed
