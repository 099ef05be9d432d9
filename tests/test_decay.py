"""Decay: how engagement points fade with the age of the activity that earned them.

Each curve is tested twice: directly through :func:`agent.scoring.decay.compile_decay`, and
through the engine with a one-rule model, where the decayed sum is rounded half away from zero.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from leadscore.agent.config import parse_config
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.records import Activity, Lead, ScoreResult
from leadscore.agent.scoring import ScoringEngine, round_points
from leadscore.agent.scoring.decay import compile_decay
from leadscore.agent.scoring.model import Decay

from .conftest import toml_tables

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)

_DECAY = TypeAdapter(Decay)


# --- helpers -----------------------------------------------------------------------------


def curve(**spec: Any):
    """A compiled decay function ``(points, age_days) -> points`` from a decay table."""
    return compile_decay(_DECAY.validate_python(spec))


def engine(rules: str, extra: str = "") -> ScoringEngine:
    """A model from ``[[scoring.rules]]``/``[[scoring.groups]]`` TOML text."""
    return ScoringEngine(parse_config("[scoring]\n" + textwrap.dedent(extra) + textwrap.dedent(rules)).scoring)


def one_rule(points: float, decay: str | None, activity: str = "email_open", **keys: str) -> ScoringEngine:
    """A model with one engagement rule; ``decay`` is an inline table such as
    ``'{ kind = "linear", over_days = 10 }'`` (or None for no decay key), ``keys`` more TOML."""
    more = ([f"decay = {decay}"] if decay is not None else []) + [f"{k} = {v}" for k, v in keys.items()]
    rule = engagement({"label": "Decaying", "activity": activity, "points": points})
    return engine(rule + "".join(f"{line}\n" for line in more))


def engagement(*rules: dict[str, Any]) -> str:
    """``[[scoring.rules]]`` for engagement rules given as their keys."""
    return toml_tables("scoring.rules", *({"kind": "engagement", **rule} for rule in rules))


def act(type_: str, days_ago: float) -> Activity:
    return Activity("L1", type_, AS_OF - timedelta(days=days_ago))


def score(e: ScoringEngine, activities: list[Activity]) -> ScoreResult:
    result = e.score(Lead("L1"), activities, AS_OF)
    assert sum(p.points for p in result.reasons) == result.score
    return result


def points_at(e: ScoringEngine, age_days: float, activity: str = "email_open") -> int:
    """Score of a lead with one activity of the given age."""
    result = score(e, [act(activity, age_days)])
    assert len(result.reasons) == 1  # a decayed-to-zero occurrence still shows as a +0 part
    return result.score


def by_rule(result: ScoreResult) -> dict[str, int]:
    return {p.rule: p.points for p in result.reasons if p.rule}


# --- none --------------------------------------------------------------------------------


@pytest.mark.parametrize("age", [0, 1, 30, 365, 10_000])
def test_none_direct(age: float) -> None:
    assert curve(kind="none")(10, age) == 10
    assert curve(kind="none")(-7, age) == -7
    assert compile_decay(None)(10, age) == 10


@pytest.mark.parametrize("decay", [None, '{ kind = "none" }'])
@pytest.mark.parametrize("age", [0, 29, 400, 5000])
def test_none_through_engine(decay: str | None, age: float) -> None:
    assert points_at(one_rule(10, decay), age) == 10


# --- step --------------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "expected"), [(0, 10), (29, 10), (29.999, 10), (30, 5), (31, 5), (400, 5)])
def test_step_factor_direct(age: float, expected: float) -> None:
    assert curve(kind="step", after_days=30, factor=0.5)(10, age) == pytest.approx(expected)


@pytest.mark.parametrize(("age", "expected"), [(0, 10), (29, 10), (30, 5), (45, 5), (365, 5)])
def test_step_factor_through_engine(age: float, expected: int) -> None:
    e = one_rule(10, '{ kind = "step", after_days = 30, factor = 0.5 }')
    assert points_at(e, age) == expected


def test_step_factor_zero_wipes_points() -> None:
    assert curve(kind="step", after_days=7, factor=0.0)(10, 7) == 0
    assert points_at(one_rule(10, '{ kind = "step", after_days = 7, factor = 0 }'), 8) == 0


@pytest.mark.parametrize(("points", "age", "expected"), [(10, 89, 10), (10, 90, 0), (25, 90, 15), (25, 500, 15), (5, 90, 0), (-25, 90, -15), (-5, 90, 0), (-25, 89, -25)])
def test_step_minus_direct(points: float, age: float, expected: float) -> None:
    assert curve(kind="step", after_days=90, minus=10)(points, age) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("points", "age", "expected"),
    [(10, 89, 10), (10, 90, 0), (25, 100, 15), (4, 100, 0), (-25, 100, -15), (-4, 100, 0), (-4, 30, -4)],
)
def test_step_minus_through_engine_floors_at_zero_and_moves_toward_it(points: int, age: float, expected: int) -> None:
    e = one_rule(points, '{ kind = "step", after_days = 90, minus = 10 }')
    assert points_at(e, age) == expected


STEPS = '{ kind = "step", steps = [{ after_days = 90, minus = 10 }, { after_days = 30, factor = 0.5 }] }'


@pytest.mark.parametrize(("points", "age", "expected"), [(40, 0, 40), (40, 29, 40), (40, 30, 20), (40, 89, 20), (40, 90, 10), (40, 1000, 10), (10, 30, 5), (10, 90, 0), (-40, 90, -10)])
def test_multiple_steps_cumulative_direct(points: float, age: float, expected: float) -> None:
    fn = curve(kind="step", steps=[{"after_days": 90, "minus": 10}, {"after_days": 30, "factor": 0.5}])
    assert fn(points, age) == pytest.approx(expected)


@pytest.mark.parametrize(("age", "expected"), [(10, 40), (30, 20), (60, 20), (90, 10), (200, 10)])
def test_multiple_steps_cumulative_through_engine(age: float, expected: int) -> None:
    # Steps are listed out of order on purpose: they apply in age order.
    assert points_at(one_rule(40, STEPS), age) == expected


def test_two_factor_steps_multiply() -> None:
    fn = curve(kind="step", steps=[{"after_days": 10, "factor": 0.5}, {"after_days": 20, "factor": 0.5}])
    assert [fn(100, a) for a in (9, 10, 19, 20, 100)] == [100, 50, 50, 25, 25]


# --- linear ------------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "expected"), [(0, 10), (2.5, 7.5), (5, 5), (9, 1), (10, 0), (11, 0), (1000, 0)])
def test_linear_direct(age: float, expected: float) -> None:
    fn = curve(kind="linear", over_days=10)
    assert fn(10, age) == pytest.approx(expected)
    assert fn(-10, age) == pytest.approx(-expected)


@pytest.mark.parametrize(("age", "expected"), [(0, 100), (15, 75), (30, 50), (45, 25), (60, 0), (61, 0), (365, 0)])
def test_linear_through_engine(age: float, expected: int) -> None:
    assert points_at(one_rule(100, '{ kind = "linear", over_days = 60 }'), age) == expected


def test_linear_rounds_the_decayed_value() -> None:
    e = one_rule(10, '{ kind = "linear", over_days = 10 }')
    assert points_at(e, 2.5) == 8  # 7.5 -> 8, half away from zero
    assert points_at(e, 7.5) == 3  # 2.5 -> 3 (Python's round would say 2)


# --- exponential -------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "factor"), [(0, 1), (7, 0.5), (14, 0.25), (21, 0.125), (3.5, 2**-0.5)])
def test_exponential_direct(age: float, factor: float) -> None:
    fn = curve(kind="exponential", half_life_days=7)
    assert fn(100, age) == pytest.approx(100 * factor)
    assert fn(-100, age) == pytest.approx(-100 * factor)


@pytest.mark.parametrize(("age", "expected"), [(0, 100), (14, 50), (28, 25), (42, 13), (7, 71)])
def test_exponential_through_engine(age: float, expected: int) -> None:
    # 100 x 0.125 = 12.5 -> 13; 100 x 2 ** -0.5 = 70.7 -> 71
    assert points_at(one_rule(100, '{ kind = "exponential", half_life_days = 14 }'), age) == expected


def test_exponential_never_reaches_zero_in_the_curve() -> None:
    fn = curve(kind="exponential", half_life_days=1)
    assert 0 < fn(10, 30) < 1e-7


# --- expire ------------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "expected"), [(0, 10), (29, 10), (30, 10), (30.001, 0), (31, 0), (999, 0)])
def test_expire_direct(age: float, expected: float) -> None:
    fn = curve(kind="expire", after_days=30)
    assert fn(10, age) == expected
    assert fn(-10, age) == -expected


@pytest.mark.parametrize(("age", "expected"), [(0, 10), (29.5, 10), (30, 10), (30.01, 0), (31, 0)])
def test_expire_through_engine(age: float, expected: int) -> None:
    assert points_at(one_rule(10, '{ kind = "expire", after_days = 30 }'), age) == expected


def test_expire_differs_from_lookback_an_expired_activity_still_counts_as_an_occurrence() -> None:
    e = one_rule(10, '{ kind = "expire", after_days = 30 }')
    result = score(e, [act("email_open", 40), act("email_open", 50)])
    assert result.score == 0
    assert result.reasons[0].detail == "x2, last 40d ago"


# --- every curve -------------------------------------------------------------------------

ALL_CURVES = [
    {"kind": "none"},
    {"kind": "step", "after_days": 30, "factor": 0.5},
    {"kind": "step", "after_days": 30, "minus": 3},
    {"kind": "step", "steps": [{"after_days": 5, "factor": 0.8}, {"after_days": 20, "minus": 2}, {"after_days": 60, "factor": 0.1}]},
    {"kind": "linear", "over_days": 45},
    {"kind": "exponential", "half_life_days": 10},
    {"kind": "expire", "after_days": 14},
]


@pytest.mark.parametrize("spec", ALL_CURVES, ids=lambda s: s["kind"])
@pytest.mark.parametrize("points", [10, -10, 0, 3.5])
def test_decay_only_moves_toward_zero_and_never_flips_sign(spec: dict[str, Any], points: float) -> None:
    fn = curve(**spec)
    previous = abs(points)
    assert fn(points, 0) == points
    for age in [x / 2 for x in range(0, 400)]:
        value = fn(points, age)
        assert value * points >= 0
        assert abs(value) <= previous + 1e-12
        previous = abs(value)


# --- group and rule decay ----------------------------------------------------------------

GROUP = """
[[scoring.groups]]
name = "email"
decay = { kind = "step", after_days = 30, factor = 0.5 }
"""


def points_by_rule(e: ScoringEngine, **ages: float) -> dict[str, int]:
    """Points by rule id for a lead with one activity of each type, as old as given (days)."""
    return by_rule(score(e, [act(type_, days) for type_, days in ages.items()]))


def test_group_decay_applies_to_rules_in_the_group() -> None:
    e = engine(
        engagement(
            {"id": "open", "label": "Opened", "group": "email", "activity": "email_open", "points": 10},
            {"id": "click", "label": "Clicked", "group": "email", "activity": "email_click", "points": 20},
            {"id": "outside", "label": "Page", "activity": "page_view", "points": 10},
        ),
        GROUP,
    )
    assert points_by_rule(e, email_open=40, email_click=45, page_view=40) == {"open": 5, "click": 10, "outside": 10}
    assert points_by_rule(e, email_open=1, email_click=1, page_view=1) == {"open": 10, "click": 20, "outside": 10}


def test_rule_decay_overrides_group_decay() -> None:
    e = engine(
        engagement(
            {"id": "group-decay", "label": "Opened", "group": "email", "activity": "email_open", "points": 10},
            {"id": "own-decay", "label": "Clicked", "group": "email", "activity": "email_click", "points": 10,
             "decay": {"kind": "expire", "after_days": 35}},
            {"id": "no-decay", "label": "Replied", "group": "email", "activity": "email_reply", "points": 10,
             "decay": {"kind": "none"}},
        ),
        GROUP,
    )
    at_32 = points_by_rule(e, email_open=32, email_click=32, email_reply=32)
    assert at_32 == {"group-decay": 5, "own-decay": 10, "no-decay": 10}
    at_40 = points_by_rule(e, email_open=40, email_click=40, email_reply=40)
    assert at_40 == {"group-decay": 5, "own-decay": 0, "no-decay": 10}


def test_each_occurrence_decays_by_its_own_age() -> None:
    e = one_rule(10, '{ kind = "step", after_days = 30, factor = 0.5 }')
    result = score(e, [act("email_open", 10), act("email_open", 40), act("email_open", 29)])
    assert result.score == 25
    assert result.reasons[0].detail == "x3, last 10d ago"


def test_decay_then_group_cap() -> None:
    e = engine(
        engagement({"label": "Opened", "group": "email", "activity": "email_open", "points": 10}),
        GROUP + "max_points = 12\n",
    )
    assert score(e, [act("email_open", 40), act("email_open", 50)]).score == 10  # 5 + 5, under the cap
    assert score(e, [act("email_open", 1), act("email_open", 50)]).score == 12  # 10 + 5 capped


def test_decay_with_tiers_and_negative_points() -> None:
    e = engine(
        engagement(
            {"label": "Bounced", "activity": "email_bounce", "tiers": [-20, -4], "decay": {"kind": "linear", "over_days": 100}}
        )
    )
    # newest (25d): -20 x 0.75 = -15; older (50d): -4 x 0.5 = -2
    assert score(e, [act("email_bounce", 50), act("email_bounce", 25)]).score == -17


def test_fit_rules_cannot_decay() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            """
            [scoring]
            rules = [{ kind = "fit", label = "x", field = "industry", exists = true, points = 1, decay = { kind = "none" } }]
            """
        )
    assert info.value.problems == ["scoring.rules[0].decay: fit rules never decay; decay belongs on engagement rules or their group"]


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "step", "after_days": 30},
        {"kind": "step", "after_days": 30, "factor": 0.5, "minus": 1},
        {"kind": "step", "after_days": 30, "factor": 1.5},
        {"kind": "step", "steps": []},
        {"kind": "linear", "over_days": 0},
        {"kind": "exponential", "half_life_days": -1},
        {"kind": "expire"},
        {"kind": "sometimes"},
    ],
)
def test_malformed_decay_is_rejected(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _DECAY.validate_python(spec)


# --- rounding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (1.5, 2), (2.5, 3), (0.5, 1), (0.49, 0), (2.4999, 2), (-0.5, -1), (-2.5, -3), (-1.4, -1), (7.0, 7), (2 * 0.75, 2), (5 * 0.5, 3)],
)
def test_round_points_half_away_from_zero(value: float, expected: int) -> None:
    assert round_points(value) == expected
    assert isinstance(round_points(value), int)


def test_round_points_absorbs_float_noise() -> None:
    assert 45 * 0.7 < 31.5  # 31.499999999999996, meant as 31.5
    assert round_points(45 * 0.7) == 32
    assert round_points(-45 * 0.7) == -32
    assert points_at(one_rule(45, '{ kind = "step", after_days = 30, factor = 0.7 }'), 40) == 32


@pytest.mark.parametrize(
    ("points", "decay", "age", "expected"),
    [
        (2, '{ kind = "step", after_days = 30, factor = 0.75 }', 40, 2),  # 1.5 -> 2
        (5, '{ kind = "step", after_days = 30, factor = 0.5 }', 40, 3),  # 2.5 -> 3
        (-5, '{ kind = "step", after_days = 30, factor = 0.5 }', 40, -3),  # -2.5 -> -3
        (3, '{ kind = "step", after_days = 30, factor = 0.5 }', 40, 2),  # 1.5 -> 2
        (1, '{ kind = "step", after_days = 30, factor = 0.4 }', 40, 0),  # 0.4 -> 0
    ],
)
def test_engine_rounds_decayed_points_half_away_from_zero(points: int, decay: str, age: float, expected: int) -> None:
    assert points_at(one_rule(points, decay), age) == expected


def test_engine_rounds_once_per_rule_not_per_occurrence() -> None:
    # Three opens of 1 point, each halved: 1.5 in all -> 2 (per-occurrence rounding would give 3).
    e = one_rule(1, '{ kind = "step", after_days = 30, factor = 0.5 }')
    assert score(e, [act("email_open", d) for d in (40, 41, 42)]).score == 2
    # The worked example's email opens: 2 x 2 fresh + 2 x 2 halved = 6.
    e = one_rule(2, '{ kind = "step", after_days = 30, factor = 0.5 }')
    assert score(e, [act("email_open", d) for d in (10, 10, 40, 40)]).score == 6
