"""The reason line: gate notes first, then parts by size, within the budget, cut honestly."""

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
        label=st.text(min_size=1, max_size=60),
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
        ReasonPart(0, "Held at MQL: SQL needs budget", "gate"),
    ]
    assert format_reason(parts) == "Held at MQL: SQL needs budget | -20 Big penalty | +20 Big (2d ago) | +5 Small"


def test_cut_line_counts_what_it_left_out() -> None:
    parts = [ReasonPart(10 - i, f"Rule number {i}", "fit") for i in range(10)]
    line = format_reason(parts, budget=60)
    assert line == "+10 Rule number 0 | +9 Rule number 1 | \u2026+8 more"
    assert len(line) <= 60


def test_a_single_part_longer_than_the_budget_is_clipped() -> None:
    line = format_reason([ReasonPart(1, "x" * 500, "fit")], budget=40)
    assert len(line) == 40 and line.endswith("\u2026")


@given(parts=parts_strategy, budget=st.integers(40, 300))
def test_budget_always_holds_and_the_tail_count_is_exact(parts: list[ReasonPart], budget: int) -> None:
    line = format_reason(parts, budget)
    assert len(line) <= budget
    shown = ordered_for_display(parts)
    full = " | ".join(p.render() for p in shown)
    if len(full) <= budget:
        assert line == full
    else:
        match = re.search(r" \| \u2026\+(\d+) more$", line)
        if match:  # otherwise the first part alone was clipped
            kept = line[: match.start()]
            omitted = int(match.group(1))
            assert kept == " | ".join(p.render() for p in shown[: len(shown) - omitted])
