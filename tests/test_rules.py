"""The scoring engine's rules: fit operators, engagement counting, caps, stages, grades,
model versions and config validation.

Models are written as small TOML snippets. Rules are inline tables, one per line, so a whole
model fits in a test: ``engine(fit('field = "industry", equals = "Software"'))``.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from leadscore.agent.config import parse_config
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.records import Activity, Lead, ReasonPart, ScoreResult
from leadscore.agent.scoring import ScoringEngine

from .conftest import toml_table, toml_value

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


# --- helpers -----------------------------------------------------------------------------


def model_text(*rules: str, extra: str = "") -> str:
    """A ``[scoring]`` table whose rules are the given inline-table bodies, plus ``extra``
    (more keys of ``[scoring]`` first, then any sub-tables)."""
    body = ",\n".join(f"  {{ {rule} }}" for rule in rules)
    return f"[scoring]\nrules = [\n{body},\n]\n{textwrap.dedent(extra)}"


def engine(*rules: str, extra: str = "") -> ScoringEngine:
    return ScoringEngine(parse_config(model_text(*rules, extra=extra)).scoring)


def fit(condition: str, points: float = 10, label: str = "Fit", **keys: Any) -> str:
    """An inline fit rule: ``condition`` is the inline-table text of its test."""
    more = "".join(f", {k} = {toml_value(v)}" for k, v in keys.items())
    return f'kind = "fit", label = "{label}", points = {points}{more}, {condition}'


def eng(activity: str | list[str], points: float | None = 5, label: str = "Eng", **keys: Any) -> str:
    """An inline engagement rule; extra keys are TOML literals (strings are quoted for you,
    except ``where``/``decay`` which are given as inline-table text)."""
    text = f'kind = "engagement", label = "{label}", activity = {toml_value(activity)}'
    if points is not None:
        text += f", points = {points}"
    for k, v in keys.items():
        text += f", {k} = {v if k in ('where', 'decay') else toml_value(v)}"
    return text


def qualification(**criteria: dict[str, Any]) -> str:
    """``[scoring.qualification.NAME]`` tables, in the order given, from each criterion's keys."""
    return "".join(toml_table(f"scoring.qualification.{name}", keys) for name, keys in criteria.items())


#: A fit rule that is fine, for models about something else (stages, criteria, mistakes).
SOME_FIT = fit('field = "industry", exists = true', points=1, label="x")


def ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def act(type_: str, days_ago: float, **props: Any) -> Activity:
    return Activity("L1", type_, ago(days_ago), props)


def score(e: ScoringEngine, fields: dict[str, Any] | None = None, activities: list[Activity] = ()) -> ScoreResult:
    result = e.score(Lead("L1", fields=fields or {}), list(activities), AS_OF)
    # The engine's promise: the parts always sum exactly to the score.
    assert sum(p.points for p in result.reasons) == result.score
    return result


def matches(condition: str, **fields: Any) -> bool:
    """Does a fit rule with this condition match a lead with these fields?"""
    result = score(engine(fit(condition, points=7)), fields)
    assert result.score in (0, 7)
    return result.score == 7


def parts(result: ScoreResult, kind: str | None = None) -> list[tuple[int, str, str]]:
    return [(p.points, p.label, p.kind) for p in result.reasons if kind is None or p.kind == kind]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text))
    return info.value.problems


def has_problem(lines: list[str], prefix: str) -> bool:
    return any(line.startswith(prefix) for line in lines)


# --- fit operators -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Software", True), ("SOFTWARE", True), ("software", True), ("  Software  ", True), ("Software Inc", False), ("Soft", False)],
)
def test_equals_ignores_case_by_default(value: str, expected: bool) -> None:
    assert matches('field = "industry", equals = "Software"', industry=value) is expected


@pytest.mark.parametrize(("value", "expected"), [("Software", True), ("software", False), ("SOFTWARE", False)])
def test_equals_case_sensitive(value: str, expected: bool) -> None:
    assert matches('field = "industry", equals = "Software", case_sensitive = true', industry=value) is expected


@pytest.mark.parametrize(("value", "expected"), [("500", True), (500, True), (500.0, True), ("500.0", True), ("501", False)])
def test_equals_number_matches_text_and_numbers(value: Any, expected: bool) -> None:
    assert matches('field = "employees", equals = 500', employees=value) is expected


@pytest.mark.parametrize(("value", "expected"), [("US", True), ("canada", True), ("CANADA", True), ("Mexico", False), ("USA", False)])
def test_in(value: str, expected: bool) -> None:
    assert matches('field = "country", in = ["US", "Canada"]', country=value) is expected


@pytest.mark.parametrize(("value", "expected"), [("VP Marketing", True), ("marketing ops", True), ("Head of MARKETING", True), ("Sales", False)])
def test_contains_string(value: str, expected: bool) -> None:
    assert matches('field = "title", contains = "market"', title=value) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [("Chief Revenue Officer", True), ("Sales Lead", True), ("CTO", False), ("Engineer", False)]
)
def test_contains_list_matches_any_needle(value: str, expected: bool) -> None:
    assert matches('field = "title", contains = ["sales", "revenue"]', title=value) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [("info@acme.com", True), ("INFO@acme.com", True), ("ceo@info.com", False), ("xinfo@acme.com", False)]
)
def test_starts_with(value: str, expected: bool) -> None:
    assert matches('field = "email", starts_with = "info@"', email=value) is expected


def test_starts_with_list() -> None:
    cond = 'field = "phone", starts_with = ["+1", "+44"]'
    assert matches(cond, phone="+44 20 7946 0000")
    assert matches(cond, phone="+1 555 0100")
    assert not matches(cond, phone="+33 1 00 00 00 00")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("bob@gmail.com", True), ("Bob@GMAIL.com", True), ("amy@yahoo.com", True), ("bob@gmail.com.evil.io", False), ("bob@acme.com", False)],
)
def test_ends_with_list(value: str, expected: bool) -> None:
    assert matches('field = "email", ends_with = ["@gmail.com", "@yahoo.com"]', email=value) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [("VP Sales", True), ("vp sales", True), ("Regional vp", True), ("SVP Sales", False), ("Manager", False)]
)
def test_regex_ignores_case_by_default(value: str, expected: bool) -> None:
    assert matches(r"""field = "title", regex = '\bVP\b'""", title=value) is expected


def test_regex_searches_anywhere_in_the_value() -> None:
    assert matches("""field = "title", regex = 'chief .* officer'""", title="Our Chief Marketing Officer (EMEA)")


@pytest.mark.parametrize(
    ("condition", "field", "matching", "other_case"),
    [
        ('field = "country", in = ["US", "Canada"], case_sensitive = true', "country", "Canada", "canada"),
        ('field = "title", contains = "VP", case_sensitive = true', "title", "SVP Sales", "svp sales"),
        ('field = "email", ends_with = "@Acme.com", case_sensitive = true', "email", "a@Acme.com", "a@acme.com"),
        (r"""field = "title", regex = '\bVP\b', case_sensitive = true""", "title", "VP Sales", "vp sales"),
    ],
    ids=["in", "contains", "ends_with", "regex"],
)
def test_case_sensitive_operators(condition: str, field: str, matching: str, other_case: str) -> None:
    assert matches(condition, **{field: matching})
    assert not matches(condition, **{field: other_case})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(99, False), (100, True), (500, True), (1000, True), (1001, False), ("1,000", True), ("1,200", False), (" 250 ", True), ("100.0", True)],
)
def test_range_gte_lte_boundaries_are_inclusive(value: Any, expected: bool) -> None:
    assert matches('field = "employees", gte = 100, lte = 1000', employees=value) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [(100, False), (100.5, True), (101, True), (999, True), (1000, False), ("1,000", False)]
)
def test_range_gt_lt_boundaries_are_exclusive(value: Any, expected: bool) -> None:
    assert matches('field = "employees", gt = 100, lt = 1000', employees=value) is expected


@pytest.mark.parametrize(("value", "expected"), [("1,200", True), ("1_200", True), (1200, True), ("999", False), ("1,199.99", True)])
def test_range_reads_thousands_separators(value: Any, expected: bool) -> None:
    assert matches('field = "employees", gte = 1000', employees=value) is expected


def test_one_sided_upper_bound() -> None:
    assert matches('field = "annual_revenue", lt = 1000000', annual_revenue="999,999")
    assert not matches('field = "annual_revenue", lt = 1000000', annual_revenue="1,000,000")
    assert matches('field = "annual_revenue", lte = 1000000', annual_revenue="1,000,000")


@pytest.mark.parametrize(("value", "expected"), [("555-0100", True), (0, True), ("", False), ("   ", False), (None, False)])
def test_exists(value: Any, expected: bool) -> None:
    assert matches('field = "phone", exists = true', phone=value) is expected
    assert matches('field = "phone", exists = false', phone=value) is (not expected)


def test_exists_on_absent_field() -> None:
    assert not matches('field = "phone", exists = true')
    assert matches('field = "phone", exists = false')


@pytest.mark.parametrize(("fields", "expected"), [({}, True), ({"phone": ""}, True), ({"phone": None}, True), ({"phone": "555"}, False)])
def test_missing(fields: dict[str, Any], expected: bool) -> None:
    assert matches('field = "phone", missing = true', **fields) is expected
    assert matches('field = "phone", missing = false', **fields) is (not expected)


@pytest.mark.parametrize(
    "condition",
    [
        'field = "industry", equals = "Software"',
        'field = "industry", in = ["Software", ""]',
        'field = "industry", contains = ""',
        'field = "industry", starts_with = ""',
        'field = "industry", ends_with = ""',
        """field = "industry", regex = '.*'""",
        'field = "employees", equals = 0',
        'field = "employees", lte = 100',
    ],
)
@pytest.mark.parametrize("fields", [{}, {"industry": None, "employees": None}, {"industry": "  ", "employees": ""}])
def test_missing_field_never_matches_a_value_test(condition: str, fields: dict[str, Any]) -> None:
    assert not matches(condition, **fields)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [({"industry": "Software", "country": "US"}, True), ({"industry": "Software", "country": "FR"}, False), ({"country": "US"}, False)],
)
def test_all(fields: dict[str, Any], expected: bool) -> None:
    cond = 'all = [{ field = "industry", equals = "Software" }, { field = "country", equals = "US" }]'
    assert matches(cond, **fields) is expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [({"industry": "Software"}, True), ({"country": "us"}, True), ({"industry": "Retail", "country": "FR"}, False), ({}, False)],
)
def test_any(fields: dict[str, Any], expected: bool) -> None:
    cond = 'any = [{ field = "industry", equals = "Software" }, { field = "country", equals = "US" }]'
    assert matches(cond, **fields) is expected


@pytest.mark.parametrize(("fields", "expected"), [({"industry": "Software"}, False), ({"industry": "Retail"}, True), ({}, True)])
def test_not(fields: dict[str, Any], expected: bool) -> None:
    assert matches('not = { field = "industry", equals = "Software" }', **fields) is expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"industry": "Software", "employees": "250"}, True),
        ({"industry": "Software", "employees": "20"}, False),
        ({"industry": "Healthcare", "employees": "5000"}, False),
        ({"industry": "Healthcare", "employees": "5000", "country": "US"}, True),
        ({"title": "Founder", "employees": 3, "country": "US"}, True),
        ({"title": "Founder", "employees": 3, "country": "US", "email": "x@gmail.com"}, False),
    ],
)
def test_nested_combinators(fields: dict[str, Any], expected: bool) -> None:
    cond = (
        "any = ["
        '{ all = [{ field = "industry", equals = "Software" }, { field = "employees", gte = 50 }] }, '
        '{ all = [{ field = "country", equals = "US" }, '
        '         { not = { field = "email", ends_with = "@gmail.com" } }, '
        '         { any = [{ field = "employees", gte = 1000 }, { field = "title", regex = "founder" }] }] }'
        "]"
    )
    assert matches(cond, **fields) is expected


def test_leaf_and_combinator_on_one_rule_must_both_hold() -> None:
    cond = 'field = "industry", equals = "Software", not = { field = "country", equals = "US" }'
    assert matches(cond, industry="Software", country="FR")
    assert not matches(cond, industry="Software", country="US")
    assert not matches(cond, industry="Retail", country="FR")


def test_several_operators_on_one_field_must_all_hold() -> None:
    cond = 'field = "email", ends_with = "@acme.com", starts_with = "ceo"'
    assert matches(cond, email="ceo@acme.com")
    assert not matches(cond, email="cto@acme.com")
    assert not matches(cond, email="ceo@other.com")


def test_fit_reason_part_and_value_label() -> None:
    e = engine(fit('field = "industry", in = ["Software", "SaaS"]', points=20, label="Industry: {value}", id="ind"))
    result = score(e, {"industry": "  SaaS "})
    assert result.score == result.fit_score == 20
    assert result.engagement_score == 0
    (part,) = result.reasons
    assert part == ReasonPart(20, "Industry: SaaS", "fit", "ind", None, "fit")  # every field
    assert part.render() == "+20 Industry: SaaS"


def test_value_label_shows_numbers_plainly_and_clips_long_values() -> None:
    e = engine(
        fit('field = "employees", gte = 1000', points=5, label="Employees: {value}"),
        fit('field = "company", exists = true', points=1, label="Company {value}!"),
    )
    result = score(e, {"employees": 1200.0, "company": "A" * 60})
    labels = [p.label for p in result.reasons]
    assert labels[0] == "Employees: 1200"
    assert labels[1] == "Company " + "A" * 39 + "\u2026" + "!"


def test_rule_without_id_is_keyed_by_position() -> None:
    e = engine(fit('field = "industry", exists = true', points=1), fit('field = "country", exists = true', points=2, id="c"))
    result = score(e, {"industry": "x", "country": "y"})
    assert [p.rule for p in result.reasons] == ["rules[0]", "c"]


def test_value_label_on_combinator_rule_is_filled_in() -> None:
    e = engine(fit("""all = [{ field = "title", regex = 'manager' }]""", points=10, label="Title: {value}"))
    result = score(e, {"title": "Marketing Manager"})
    assert result.score == 10
    assert "{value}" not in result.reasons[0].label


@pytest.mark.parametrize("value", ["lots", "n/a", "$1,200", "12 people"])
def test_non_numeric_text_in_range_field_does_not_match_and_warns(value: str) -> None:
    e = engine(fit('field = "employees", gte = 10', points=10))
    result = score(e, {"employees": value})
    assert result.score == 0
    assert result.reasons == ()
    assert result.warnings == (f"employees: {value!r} is not a number",)


def test_numeric_values_do_not_warn() -> None:
    e = engine(fit('field = "employees", gte = 10', points=10))
    for value in ("1,200", 50, "50.5", None, ""):
        assert score(e, {"employees": value}).warnings == ()


def test_bad_number_in_one_field_spoils_only_its_rule() -> None:
    e = engine(fit('field = "employees", gte = 10', points=10), fit('field = "industry", equals = "Software"', points=20))
    result = score(e, {"employees": "many", "industry": "Software"})
    assert result.score == 20
    assert len(result.warnings) == 1 and result.warnings[0].startswith("employees:")


def test_bad_number_in_custom_numeric_field_warns() -> None:
    e = engine(fit('field = "custom.visits", gt = 5', points=10))
    result = score(e, {"custom.visits": "often"})
    assert result.score == 0
    assert result.warnings == ("custom.visits: 'often' is not a number",)


# --- engagement rules ----------------------------------------------------------------------


def test_engagement_single_type_counts_each_occurrence() -> None:
    e = engine(eng("page_view", points=5, label="Page view", id="pv"))
    result = score(e, activities=[act("page_view", 3), act("page_view", 1), act("email_open", 0), act("page_view", 10)])
    assert result.score == result.engagement_score == 15
    assert result.fit_score == 0
    (part,) = result.reasons
    assert part == ReasonPart(15, "Page view", "engagement", "pv", "x3, last 1d ago", "engagement")
    assert part.render() == "+15 Page view (x3, last 1d ago)"


def test_engagement_list_of_types() -> None:
    e = engine(eng(["email_open", "email_click"], points=3, label="Email"))
    result = score(e, activities=[act("email_open", 4), act("email_click", 2), act("email_reply", 1), act("page_view", 0)])
    assert result.score == 6
    assert result.reasons[0].detail == "x2, last 2d ago"


def test_engagement_custom_activity_type() -> None:
    e = engine(eng("custom.app_login", points=4))
    assert score(e, activities=[act("custom.app_login", 1), act("custom.other", 1)]).score == 4


def test_activities_of_other_types_are_ignored() -> None:
    e = engine(eng("demo_request", points=30))
    result = score(e, activities=[act("page_view", 1), act("email_open", 1), act("trial_signup", 1)])
    assert result.score == 0
    assert result.reasons == ()


def test_where_filters_on_activity_properties() -> None:
    e = engine(eng("page_view", points=20, label="Pricing", where='{ field = "url", contains = "/pricing" }'))
    acts = [
        act("page_view", 1, url="https://x.io/PRICING?plan=pro"),
        act("page_view", 2, url="https://x.io/blog/pricing-tips"),
        act("page_view", 3, url="https://x.io/about"),
        act("page_view", 4),
    ]
    result = score(e, activities=acts)
    assert result.score == 40
    assert result.reasons[0].detail == "x2, last 1d ago"


def test_where_with_combinators_and_numbers() -> None:
    where = '{ all = [{ field = "asset", starts_with = "whitepaper" }, { field = "pages", gte = 10 }] }'
    e = engine(eng("content_download", points=7, where=where))
    acts = [
        act("content_download", 1, asset="Whitepaper-ROI", pages="12"),
        act("content_download", 2, asset="whitepaper-intro", pages=4),
        act("content_download", 3, asset="datasheet", pages=20),
    ]
    assert score(e, activities=acts).score == 7


def test_where_matching_nothing_gives_no_reason_part() -> None:
    e = engine(eng("page_view", points=20, where='{ field = "url", contains = "/pricing" }'))
    result = score(e, activities=[act("page_view", 1, url="/about")])
    assert result.score == 0 and result.reasons == ()


@pytest.mark.parametrize(("count", "expected"), [(1, 10), (2, 12), (3, 14), (5, 18)])
def test_tiers_first_then_each_further(count: int, expected: int) -> None:
    e = engine(eng("webinar_attended", points=None, tiers=[10, 2]))
    assert score(e, activities=[act("webinar_attended", d + 1) for d in range(count)]).score == expected


@pytest.mark.parametrize(("count", "expected"), [(1, 10), (2, 15), (3, 16), (4, 17)])
def test_tiers_last_value_repeats(count: int, expected: int) -> None:
    e = engine(eng("email_click", points=None, tiers=[10, 5, 1]))
    assert score(e, activities=[act("email_click", d + 1) for d in range(count)]).score == expected


def test_tiers_count_newest_first() -> None:
    # The newest occurrence (5d, fresh) earns the first tier; the older one (40d, halved) the second.
    # Oldest first would give 10 x 0.5 + 2 = 7.
    decay = '{ kind = "step", after_days = 30, factor = 0.5 }'
    e = engine(eng("webinar_attended", points=None, tiers=[10, 2], decay=decay))
    result = score(e, activities=[act("webinar_attended", 40), act("webinar_attended", 5)])
    assert result.score == 11
    assert result.reasons[0].detail == "x2, last 5d ago"


def test_tiers_newest_first_across_several_types() -> None:
    decay = '{ kind = "step", after_days = 30, factor = 0.0 }'
    e = engine(eng(["meeting", "call"], points=None, tiers=[10, 1], decay=decay))
    # The call is newest: it takes the 10; the meeting is 40 days old and decays to zero.
    assert score(e, activities=[act("meeting", 40), act("call", 2)]).score == 10
    assert score(e, activities=[act("meeting", 2), act("call", 40)]).score == 10


def test_max_occurrences_keeps_the_newest() -> None:
    decay = '{ kind = "step", after_days = 30, factor = 0.5 }'
    e = engine(eng("email_open", points=10, max_occurrences=2, decay=decay))
    # Newest two are 1d (10) and 40d (5); the 50d one is dropped. Keeping the oldest would give 10.
    result = score(e, activities=[act("email_open", 50), act("email_open", 1), act("email_open", 40)])
    assert result.score == 15
    assert result.reasons[0].detail == "x2, last 1d ago"


def test_max_occurrences_one() -> None:
    e = engine(eng("page_view", points=20, max_occurrences=1))
    result = score(e, activities=[act("page_view", d) for d in (3, 1, 2)])
    assert result.score == 20
    assert result.reasons[0].detail == "1d ago"


def test_max_occurrences_counts_only_matching_activities() -> None:
    e = engine(eng("page_view", points=5, max_occurrences=2, where='{ field = "url", contains = "/blog/" }'))
    acts = [act("page_view", 1, url="/about"), act("page_view", 2, url="/blog/a"), act("page_view", 3, url="/blog/b")]
    result = score(e, activities=acts)
    assert result.score == 10
    assert result.reasons[0].detail == "x2, last 2d ago"


def test_lookback_days_excludes_older_activities() -> None:
    e = engine(eng("page_view", points=5, lookback_days=30))
    result = score(e, activities=[act("page_view", 10), act("page_view", 30.5), act("page_view", 31), act("page_view", 365)])
    assert result.score == 5
    assert result.reasons[0].detail == "10d ago"


def test_lookback_days_boundary_is_inclusive() -> None:
    e = engine(eng("page_view", points=5, lookback_days=30))
    assert score(e, activities=[act("page_view", 30)]).score == 5
    assert score(e, activities=[act("page_view", 30.001)]).score == 0


def test_lookback_with_only_old_activities_gives_no_part() -> None:
    e = engine(eng("page_view", points=5, lookback_days=7))
    result = score(e, activities=[act("page_view", 8), act("page_view", 9)])
    assert result.score == 0 and result.reasons == ()


def test_activities_after_as_of_are_ignored() -> None:
    e = engine(eng("demo_request", points=30))
    result = score(e, activities=[act("demo_request", -1), act("demo_request", -0.001)])
    assert result.score == 0 and result.reasons == ()
    result = score(e, activities=[act("demo_request", -5), act("demo_request", 0)])
    assert result.score == 30
    assert result.reasons[0].detail == "today"


def test_naive_timestamps_are_utc() -> None:
    e = engine(eng("call", points=3))
    naive = Activity("L1", "call", (AS_OF - timedelta(days=2)).replace(tzinfo=None))
    result = e.score(Lead("L1"), [naive], AS_OF.replace(tzinfo=None))
    assert result.score == 3
    assert result.reasons[0].detail == "2d ago"


@pytest.mark.parametrize(
    ("ages", "detail"),
    [([2], "2d ago"), ([2.99], "2d ago"), ([0.5], "today"), ([2, 5, 9], "x3, last 2d ago"), ([40, 12], "x2, last 12d ago")],
)
def test_detail_text(ages: list[float], detail: str) -> None:
    e = engine(eng("email_open", points=1, label="Opened"))
    result = score(e, activities=[act("email_open", a) for a in ages])
    (part,) = result.reasons
    assert part.detail == detail
    assert part.render() == f"+{len(ages)} Opened ({detail})"


def test_engagement_only_model_ignores_lead_fields_and_fit_only_ignores_activities() -> None:
    e = engine(fit('field = "industry", equals = "Software"', points=10))
    assert score(e, {"industry": "Software"}, [act("page_view", 1)]).score == 10
    e = engine(eng("page_view", points=4))
    assert score(e, {"industry": "Software"}, [act("page_view", 1)]).score == 4


# --- negative points -----------------------------------------------------------------------


def test_negative_fit_points() -> None:
    e = engine(
        fit('field = "industry", equals = "Software"', points=20, label="Software"),
        fit('field = "email", ends_with = "@gmail.com"', points=-10, label="Free email"),
    )
    result = score(e, {"industry": "Software", "email": "x@Gmail.com"})
    assert result.score == result.fit_score == 10
    assert parts(result) == [(20, "Software", "fit"), (-10, "Free email", "fit")]
    assert result.reasons[1].render() == "-10 Free email"


def test_negative_engagement_points() -> None:
    e = engine(eng("unsubscribe", points=-25, label="Unsubscribed"), eng("email_bounce", points=-5, label="Bounced"))
    result = score(e, activities=[act("unsubscribe", 3), act("email_bounce", 1), act("email_bounce", 2)])
    assert result.score == result.engagement_score == -35
    assert parts(result) == [(-25, "Unsubscribed", "engagement"), (-10, "Bounced", "engagement")]
    assert result.reasons[1].render() == "-10 Bounced (x2, last 1d ago)"


def test_negative_tiers() -> None:
    e = engine(eng("email_bounce", points=None, tiers=[-10, -1]))
    assert score(e, activities=[act("email_bounce", d) for d in (1, 2, 3)]).score == -12


def test_fractional_points_round_half_away_from_zero() -> None:
    e = engine(fit('field = "industry", exists = true', points=2.5), fit('field = "country", exists = true', points=-2.5))
    result = score(e, {"industry": "x", "country": "y"})
    assert [p.points for p in result.reasons] == [3, -3]
    e = engine(eng("email_open", points=0.5))
    assert score(e, activities=[act("email_open", 1) for _ in range(3)]).score == 2  # 1.5 rounded once per rule


# --- caps ----------------------------------------------------------------------------------


def test_rule_max_points_adds_a_cap_part() -> None:
    e = engine(eng("page_view", points=5, label="Blog", id="blog", max_points=12))
    result = score(e, activities=[act("page_view", d) for d in (1, 2, 3, 4)])
    assert result.score == result.engagement_score == 12
    assert [(p.points, p.label, p.kind, p.rule, p.component) for p in result.reasons] == [
        (20, "Blog", "engagement", "blog", "engagement"),
        (-8, "Cap: Blog max 12", "cap", "blog", "engagement"),
    ]


def test_rule_max_points_not_reached_adds_nothing() -> None:
    e = engine(eng("page_view", points=5, max_points=12))
    result = score(e, activities=[act("page_view", 1), act("page_view", 2)])
    assert result.score == 10
    assert [p.kind for p in result.reasons] == ["engagement"]


def test_rule_min_points_caps_negative_rules() -> None:
    e = engine(eng("email_bounce", points=-5, label="Bounced", id="b", min_points=-10))
    result = score(e, activities=[act("email_bounce", d) for d in (1, 2, 3)])
    assert result.score == -10
    assert [(p.points, p.label, p.kind, p.component) for p in result.reasons] == [
        (-15, "Bounced", "engagement", "engagement"),
        (5, "Cap: Bounced min -10", "cap", "engagement"),
    ]


def test_fit_rule_caps() -> None:
    e = engine(fit('field = "industry", exists = true', points=30, label="Industry", min_points=0, max_points=25))
    result = score(e, {"industry": "x"})
    assert result.score == result.fit_score == 25
    assert parts(result) == [(30, "Industry", "fit"), (-5, "Cap: Industry 0..25", "cap")]
    assert result.reasons[1].component == "fit"


def test_group_max_points_across_rules() -> None:
    e = engine(
        fit('field = "title", contains = "vp"', points=10, label="VP", group="title"),
        fit('field = "title", contains = "sales"', points=10, label="Sales", group="title"),
        fit('field = "industry", exists = true', points=7, label="Industry"),
        extra='groups = [{ name = "title", label = "Title rules", max_points = 15 }]',
    )
    result = score(e, {"title": "VP Sales", "industry": "x"})
    assert result.score == result.fit_score == 22
    assert [(p.points, p.label, p.kind, p.rule, p.component) for p in result.reasons] == [
        (10, "VP", "fit", "rules[0]", "fit"),
        (10, "Sales", "fit", "rules[1]", "fit"),
        (7, "Industry", "fit", "rules[2]", "fit"),
        (-5, "Cap: Title rules max 15", "cap", "title", "fit"),
    ]


def test_group_cap_counts_rule_capped_points() -> None:
    e = engine(
        fit('field = "industry", exists = true', points=30, label="Industry", max_points=20, group="g"),
        fit('field = "country", exists = true', points=10, label="Country", group="g"),
        extra='groups = [{ name = "g", max_points = 25 }]',
    )
    result = score(e, {"industry": "x", "country": "y"})
    # 30 -> rule cap 20; 20 + 10 = 30 -> group cap 25
    assert result.score == 25
    assert parts(result) == [(30, "Industry", "fit"), (-10, "Cap: Industry max 20", "cap"), (10, "Country", "fit"), (-5, "Cap: g max 25", "cap")]


def test_group_cap_not_reached_adds_nothing() -> None:
    e = engine(
        fit('field = "title", contains = "vp"', points=10, group="title"),
        fit('field = "title", contains = "sales"', points=10, group="title"),
        extra='groups = [{ name = "title", max_points = 15 }]',
    )
    result = score(e, {"title": "VP Marketing"})
    assert result.score == 10
    assert [p.kind for p in result.reasons] == ["fit"]


def test_group_cap_on_engagement_rules_uses_rule_capped_points() -> None:
    e = engine(
        eng("email_open", points=2, label="Open", group="email", max_points=6),
        eng("email_click", points=5, label="Click", group="email"),
        extra='groups = [{ name = "email", min_points = -20, max_points = 10 }]',
    )
    acts = [act("email_open", d) for d in range(1, 6)] + [act("email_click", 1)]
    result = score(e, activities=acts)
    # open 10 -> rule cap 6; + click 5 = 11 -> group cap 10
    assert result.score == result.engagement_score == 10
    assert parts(result) == [
        (10, "Open", "engagement"),
        (-4, "Cap: Open max 6", "cap"),
        (5, "Click", "engagement"),
        (-1, "Cap: email -20..10", "cap"),
    ]
    assert all(p.component == "engagement" for p in result.reasons)


def test_group_min_points() -> None:
    e = engine(
        eng("email_bounce", points=-10, group="neg"),
        eng("unsubscribe", points=-30, group="neg"),
        extra='groups = [{ name = "neg", label = "Negative", min_points = -25 }]',
    )
    result = score(e, activities=[act("email_bounce", 1), act("unsubscribe", 1)])
    assert result.score == -25
    assert parts(result)[-1] == (15, "Cap: Negative min -25", "cap")


def test_total_max_points() -> None:
    e = engine(
        fit('field = "industry", exists = true', points=40),
        eng("demo_request", points=30),
        extra="[scoring.total]\nmax_points = 50\n",
    )
    result = score(e, {"industry": "x"}, [act("demo_request", 1)])
    assert result.score == 50
    assert (result.fit_score, result.engagement_score) == (40, 30)
    cap = result.reasons[-1]
    assert (cap.points, cap.label, cap.kind, cap.rule, cap.component) == (-20, "Cap: total max 50", "cap", None, "total")


def test_total_min_points() -> None:
    e = engine(
        fit('field = "email", ends_with = "@gmail.com"', points=-10),
        eng("unsubscribe", points=-20),
        extra="[scoring.total]\nmin_points = 0\n",
    )
    result = score(e, {"email": "a@gmail.com"}, [act("unsubscribe", 1)])
    assert result.score == 0
    assert (result.fit_score, result.engagement_score) == (-10, -20)
    assert (result.reasons[-1].points, result.reasons[-1].label, result.reasons[-1].component) == (30, "Cap: total min 0", "total")


def test_total_within_caps_adds_nothing() -> None:
    e = engine(fit('field = "industry", exists = true', points=40), extra="[scoring.total]\nmin_points = 0\nmax_points = 100\n")
    result = score(e, {"industry": "x"})
    assert result.score == 40
    assert [p.kind for p in result.reasons] == ["fit"]


def test_component_scores_are_sums_of_their_parts() -> None:
    e = engine(
        fit('field = "title", contains = "vp"', points=10, group="t"),
        fit('field = "title", contains = "sales"', points=10, group="t"),
        fit('field = "industry", exists = true', points=30, max_points=20),
        eng("page_view", points=5, max_points=10),
        eng("email_open", points=3, group="e"),
        eng("email_click", points=4, group="e"),
        eng("unsubscribe", points=-50),
        extra=(
            'groups = [{ name = "t", max_points = 15 }, { name = "e", max_points = 5 }]\n'
            "[scoring.total]\nmin_points = -100\nmax_points = 20\n"
        ),
    )
    acts = [act("page_view", d) for d in (1, 2, 3)] + [act("email_open", 1), act("email_click", 2), act("unsubscribe", 3)]
    result = score(e, {"title": "VP Sales", "industry": "x"}, acts)
    fit_sum = sum(p.points for p in result.reasons if p.component == "fit")
    eng_sum = sum(p.points for p in result.reasons if p.component == "engagement")
    assert (result.fit_score, result.engagement_score) == (fit_sum, eng_sum) == (35, -35)
    assert result.score == 0
    assert [p for p in result.reasons if p.component == "total"] == []


# --- stages ----------------------------------------------------------------------------------

STAGES = """
stages = [
  { name = "Cold" },
  { name = "Warm", min_score = 25 },
  { name = "MQL", min_score = 50 },
  { name = "SQL", min_score = 100 },
]
"""


def scored_at(target: int, extra: str = STAGES, **fields: Any) -> ScoreResult:
    """Score a lead at exactly ``target`` points (a fit rule worth ``target`` matches it)."""
    e = engine(fit(f'field = "custom.target", equals = {target}', points=target, label="Target"), extra=extra)
    return score(e, {"custom.target": target, **fields})


@pytest.mark.parametrize(
    ("target", "stage"),
    [(-20, "Cold"), (0, "Cold"), (24, "Cold"), (25, "Warm"), (49, "Warm"), (50, "MQL"), (99, "MQL"), (100, "SQL"), (500, "SQL")],
)
def test_stage_thresholds(target: int, stage: str) -> None:
    result = scored_at(target)
    assert result.score == target
    assert result.stage == stage
    assert not [p for p in result.reasons if p.kind == "gate"]


@pytest.mark.parametrize(("target", "stage"), [(0, "Cold"), (49, "Cold"), (50, "MQL"), (100, "SQL")])
def test_default_stages(target: int, stage: str) -> None:
    assert scored_at(target, extra="").stage == stage


def test_below_every_threshold_is_the_first_stage() -> None:
    extra = 'stages = [{ name = "Low", min_score = 10 }, { name = "High", min_score = 50 }]'
    assert scored_at(0, extra=extra).stage == "Low"
    assert scored_at(-5, extra=extra).stage == "Low"
    assert scored_at(10, extra=extra).stage == "Low"
    assert scored_at(50, extra=extra).stage == "High"


GATED = """
stages = [
  { name = "Cold" },
  { name = "MQL", min_score = 50 },
  { name = "SQL", min_score = 100, requires = ["budget", "authority"] },
]
""" + qualification(budget={"field": "budget", "gte": 1}, authority={"field": "authority", "in": ["yes", "signer"]})


def test_requires_met_gives_the_stage() -> None:
    result = scored_at(120, extra=GATED, budget="50,000", authority="Signer")
    assert result.stage == "SQL"
    assert [p for p in result.reasons if p.kind == "gate"] == []


@pytest.mark.parametrize(
    ("fields", "missing"),
    [({"budget": "10000"}, "authority"), ({"authority": "yes"}, "budget"), ({}, "budget, authority"), ({"budget": "tbd", "authority": "no"}, "budget, authority")],
)
def test_failed_requirement_withholds_stage_with_a_gate_part(fields: dict[str, Any], missing: str) -> None:
    result = scored_at(120, extra=GATED, **fields)
    assert result.score == 120
    assert result.stage == "MQL"
    gate = result.reasons[0]
    assert (gate.points, gate.kind, gate.label) == (0, "gate", f"Held at MQL: missing {missing} for SQL")
    assert gate.render() == f"Held at MQL: missing {missing} for SQL"
    assert [p.kind for p in result.reasons].count("gate") == 1
    assert result.reason().startswith("Held at MQL: missing ")


def test_requirements_do_not_matter_below_the_threshold() -> None:
    result = scored_at(60, extra=GATED)
    assert result.stage == "MQL"
    assert [p for p in result.reasons if p.kind == "gate"] == []


def test_gate_falls_through_several_gated_stages() -> None:
    extra = """
    stages = [
      { name = "Cold" },
      { name = "MQL", min_score = 50, requires = ["budget"] },
      { name = "SQL", min_score = 100, requires = ["budget", "authority"] },
    ]
    """ + qualification(budget={"field": "budget", "exists": True}, authority={"field": "authority", "equals": "yes"})
    result = scored_at(150, extra=extra)
    assert result.stage == "Cold"
    assert result.reasons[0].label == "Held at Cold: missing budget, authority for SQL"
    result = scored_at(150, extra=extra, budget="yes")
    assert result.stage == "MQL"
    assert result.reasons[0].label == "Held at MQL: missing authority for SQL"
    result = scored_at(70, extra=extra)
    assert result.stage == "Cold"
    assert result.reasons[0].label == "Held at Cold: missing budget for MQL"


# --- grades ----------------------------------------------------------------------------------

GRADES = """
[scoring.grades]
fit = [{ label = "A", min = 40 }, { label = "B", min = 25 }, { label = "C", min = 10 }, { label = "D" }]
engagement = [{ label = "1", min = 50 }, { label = "2", min = 25 }, { label = "3", min = 10 }, { label = "4" }]
"""


@pytest.mark.parametrize(
    ("fit_points", "eng_points", "grade"),
    [(40, 50, "A1"), (100, 100, "A1"), (0, 0, "D4"), (-10, -10, "D4"), (39, 49, "B2"), (25, 10, "B3"), (10, 9, "C4"), (9, 60, "D1"), (45, 24, "A3")],
)
def test_grade_matrix(fit_points: int, eng_points: int, grade: str) -> None:
    e = engine(
        fit('field = "industry", exists = true', points=fit_points),
        eng("meeting", points=eng_points),
        extra=GRADES,
    )
    result = score(e, {"industry": "x"}, [act("meeting", 1)])
    assert (result.fit_score, result.engagement_score) == (fit_points, eng_points)
    assert result.grade == grade


def test_grade_uses_component_scores_after_group_caps() -> None:
    e = engine(
        fit('field = "industry", exists = true', points=50, group="g"),
        extra='groups = [{ name = "g", max_points = 30 }]\n' + GRADES,
    )
    assert score(e, {"industry": "x"}).grade == "B4"


def test_no_grades_gives_none() -> None:
    e = engine(fit('field = "industry", exists = true', points=50))
    assert score(e, {"industry": "x"}).grade is None


# --- model version -----------------------------------------------------------------------------

BASE_MODEL = """
[scoring]
name = "m"
[[scoring.rules]]
kind = "fit"
label = "Software"
field = "industry"
equals = "Software"
points = 20
[[scoring.rules]]
kind = "engagement"
label = "Opens"
activity = "email_open"
points = 2
group = "email"
[[scoring.groups]]
name = "email"
decay = { kind = "step", after_days = 30, factor = 0.5 }
[scoring.total]
min_points = 0
"""

SAME_MODEL_REORDERED = """
[scoring.total]
min_points = 0.0
[scoring]
[[scoring.groups]]
decay = { factor = 0.5, after_days = 30.0, kind = "step" }
name = "email"
[[scoring.rules]]
points = 20.0
equals = "Software"
field = "industry"
label = "Software"
kind = "fit"
case_sensitive = false
[[scoring.rules]]
group = "email"
points = 2.0
activity = "email_open"
label = "Opens"
kind = "engagement"
"""


def version_of(text: str) -> str:
    return ScoringEngine(parse_config(textwrap.dedent(text)).scoring).version


def test_version_ignores_key_order_number_spelling_and_spelled_out_defaults() -> None:
    # 'name' must stay in [scoring]; TOML forbids re-opening it, so keep it in the reordered text too.
    reordered = SAME_MODEL_REORDERED.replace("[scoring]\n", '[scoring]\nname = "m"\n', 1)
    assert version_of(BASE_MODEL) == version_of(reordered)
    with_default_stages = BASE_MODEL.replace(
        '[scoring]\nname = "m"\n',
        '[scoring]\nname = "m"\nreason_max_length = 255\nstages = [{ name = "Cold" }, { name = "MQL", min_score = 50 }, { name = "SQL", min_score = 100 }]\n',
    )
    assert version_of(BASE_MODEL) == version_of(with_default_stages)


def test_version_ignores_order_of_qualification_criteria() -> None:
    stages = model_text(SOME_FIT, extra='stages = [{ name = "Cold" }, { name = "SQL", min_score = 100, requires = ["budget", "need"] }]\n')
    one = stages + qualification(budget={"field": "budget", "exists": True}, need={"field": "need", "equals": "yes"})
    two = stages + qualification(need={"equals": "yes", "field": "need"}, budget={"exists": True, "field": "budget"})
    assert version_of(one) == version_of(two)
    assert version_of(one) != version_of(one.replace('equals = "yes"', 'equals = "no"'))


def test_version_is_on_every_result_and_stable() -> None:
    e = ScoringEngine(parse_config(BASE_MODEL).scoring)
    result = e.score(Lead("x"), [], AS_OF)
    assert result.model_version == e.version == version_of(BASE_MODEL)
    assert len(e.version) == 12 and all(c in "0123456789abcdef" for c in e.version)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("points = 20\n", "points = 21\n"),
        ('label = "Software"', 'label = "Software!"'),
        ('equals = "Software"', 'equals = "SaaS"'),
        ("factor = 0.5", "factor = 0.25"),
        ("min_points = 0", "min_points = -10"),
        ('activity = "email_open"', 'activity = "email_click"'),
        ('name = "m"', 'name = "other"'),
    ],
)
def test_version_changes_when_the_model_changes(old: str, new: str) -> None:
    assert old in BASE_MODEL
    assert version_of(BASE_MODEL) != version_of(BASE_MODEL.replace(old, new, 1))


# --- config validation -------------------------------------------------------------------------


def test_valid_model_parses() -> None:
    parse_config(BASE_MODEL)


#: Models the validation refuses: the problems it must report (each by its start, so by its key)
#: and the keys beside them it must not blame.
INVALID_MODELS = [
    pytest.param(
        model_text(eng("email_open", 1, "Open", group="email"), eng("email_click", 1, "Click", group="emails"),
                   extra='groups = [{ name = "email" }]'),
        ["scoring.rules[1].group: unknown group 'emails'"],
        ["scoring.rules[0]"],
        id="unknown group referenced by a rule",
    ),
    pytest.param(
        model_text(SOME_FIT, extra='stages = [{ name = "Cold" }, { name = "MQL", min_score = 50 }, '
                                   '{ name = "SQL", min_score = 100, requires = ["budget", "bugdet"] }]\n')
        + qualification(budget={"field": "budget", "exists": True}),
        ["scoring.stages[2].requires[1]: unknown qualification criterion 'bugdet'"],
        ["scoring.stages[2].requires[0]"],
        id="stage requires an unknown criterion",
    ),
    pytest.param(
        model_text(SOME_FIT, extra='stages = [{ name = "Cold" }, { name = "MQL", min_score = 50 }, '
                                   '{ name = "SQL", min_score = 40 }, { name = "Hot", min_score = 40 }]'),
        ["scoring.stages[2].min_score: stages must ascend", "scoring.stages[3].min_score: stages must ascend"],
        ["scoring.stages[1]"],
        id="stages must ascend",
    ),
    pytest.param(
        model_text(fit('field = "industry", exists = true', points=1, label="x", group="mixed"),
                   eng("email_open", 1, "y", group="mixed"), extra='groups = [{ name = "ok" }, { name = "mixed" }]'),
        ["scoring.groups[1]: group 'mixed' mixes fit and engagement rules"],
        ["scoring.groups[0]"],
        id="group mixing fit and engagement",
    ),
    pytest.param(
        model_text(fit('field = "title", exists = true', points=1, label="x", group="titles"),
                   extra='groups = [{ name = "titles", decay = { kind = "linear", over_days = 30 } }]'),
        ["scoring.groups[0].decay: group 'titles' holds fit rules, and fit never decays"],
        [],
        id="fit group with decay",
    ),
    pytest.param(
        model_text(SOME_FIT, eng("page_veiw", 1, "y"), eng(["email_open", "email_opne"], 1, "z")),
        ["scoring.rules[1].activity: unknown activity type 'page_veiw'",
         "scoring.rules[2].activity: unknown activity type 'email_opne'"],
        [],
        id="unknown activity type",
    ),
    pytest.param(
        model_text(SOME_FIT, eng("email_open", 1, "y", tiers=[5, 1])),
        ["scoring.rules[1]: give exactly one of 'points' or 'tiers'"],
        [],
        id="engagement rule with both points and tiers",
    ),
    pytest.param(
        model_text(eng("email_open", None, "y")),
        ["scoring.rules[0]: give exactly one of 'points' or 'tiers'"],
        [],
        id="engagement rule with neither points nor tiers",
    ),
    pytest.param(
        model_text(fit('field = "industry", exists = true', points=1, label="x", group="nope"),
                   eng("email_open", 1, "y", group="nope2"),
                   extra='stages = [{ name = "Cold" }, { name = "SQL", min_score = 100, requires = ["bant"] }]'),
        ["scoring.rules[0].group: unknown group 'nope'", "scoring.rules[1].group: unknown group 'nope2'",
         "scoring.stages[1].requires[0]: unknown qualification criterion 'bant'"],
        [],
        id="all problems are reported at once",
    ),
]


@pytest.mark.parametrize(("text", "reported", "spared"), INVALID_MODELS)
def test_invalid_model_reports_each_problem_at_its_key(text: str, reported: list[str], spared: list[str]) -> None:
    lines = problems(text)
    assert [prefix for prefix in reported if not has_problem(lines, prefix)] == [], lines
    assert [prefix for prefix in spared if has_problem(lines, prefix)] == [], lines


def test_fit_group_without_decay_is_fine() -> None:
    parse_config(
        model_text(
            fit('field = "title", exists = true', group="titles"),
            extra='groups = [{ name = "titles", decay = { kind = "none" }, max_points = 5 }]',
        )
    )


def test_activity_type_listed_twice_counts_once() -> None:
    try:
        e = engine(eng(["email_open", "email_open"], points=1))
    except ConfigError:
        return  # rejecting the duplicate would also be a fix
    assert score(e, activities=[act("email_open", 1)]).score == 1
