"""The reason line: gate notes first, then parts by size, within the budget, cut so it still adds
up: the parts left out are summed into one closing part."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from leadscore.agent.core.records import ReasonPart
from leadscore.agent.core.reasons import format_reason, ordered_for_display

parts_strategy = st.lists(
    st.builds(
        ReasonPart,
        points=st.integers(-50, 50),
        label=st.text(st.characters(categories=("L", "Nd", "Zs")), min_size=1, max_size=60),
        kind=st.sampled_from(["fit", "engagement", "cap"]),
        detail=st.one_of(st.none(), st.text(max_size=20)),
    ),
    max_size=30,
)


def test_parts_in_order_of_size_with_gates_first() -> None:
    parts = [
        ReasonPart(5, "Small", "fit"),
        ReasonPart(-20, "Big penalty", "fit"),
        ReasonPart(0, "Zero", "engagement"),
        ReasonPart(20, "Big", "engagement", detail="2d ago"),
        ReasonPart(0, "Held at MQL: missing budget for SQL", "gate"),
    ]
    assert format_reason(parts) == "Held at MQL: missing budget for SQL | -20 Big penalty | +20 Big (2d ago) | +5 Small"


def test_a_cut_line_sums_what_it_left_out_so_it_adds_up_to_the_score() -> None:
    parts = [ReasonPart(10 - i, f"Rule number {i}", "fit") for i in range(10)]
    line = format_reason(parts, budget=60)
    assert line == "+10 Rule number 0 | +9 Rule number 1 | +36 from 8 more"  # 10 + 9 + 36 = 55, the score
    assert len(line) <= 60


def test_a_single_part_longer_than_the_budget_is_clipped() -> None:
    line = format_reason([ReasonPart(1, "x" * 500, "fit")], budget=40)
    assert len(line) == 40 and line.endswith("\u2026") and line.startswith("+1 ")


def test_a_largest_part_too_long_to_fit_is_clipped_beside_the_rest() -> None:
    line = format_reason([ReasonPart(30, "y" * 300, "fit"), ReasonPart(-5, "Free email", "fit")], budget=50)
    assert line.startswith("+30 yyy") and line.endswith("\u2026 | -5 from 1 more") and len(line) == 50


@given(parts=parts_strategy, budget=st.integers(40, 300))
def test_the_line_fits_and_its_points_always_sum_to_the_score(parts: list[ReasonPart], budget: int) -> None:
    line = format_reason(parts, budget)
    assert len(line) <= budget
    shown = ordered_for_display(parts)
    total = sum(p.points for p in shown)
    full = " | ".join(p.render() for p in shown)
    if len(full) <= budget:
        assert line == full
        return
    if len(shown) == 1:
        assert shown[0].render().startswith(line[:-1])
        return
    match = re.search(r" \| ([+-]\d+) from (\d+) more$", line)
    assert match, line
    hidden, count = int(match.group(1)), int(match.group(2))
    kept = shown[: len(shown) - count]
    head = line[: match.start()]
    rendered = " | ".join(p.render() for p in kept)
    assert head == rendered or (len(kept) == 1 and head.endswith("\u2026") and rendered.startswith(head[:-1]))
    assert sum(p.points for p in kept) + hidden == total  # what the rep reads adds up to the score


