"""The diff on its own: :func:`plan_writes` under a :class:`DiffPolicy`, with no store and no I/O
(the store's baseline it compares with is tested in tests/test_state.py)."""

from __future__ import annotations

import copy
from dataclasses import FrozenInstanceError
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadscore.agent.core.contract import ScoreUpdate, WriteStatus
from leadscore.agent.state import Baseline, Desired, RecordKey
from leadscore.agent.sync.diff import DiffPolicy, drifted, plan_writes, reason_substance

POLICY = DiffPolicy()
SCORED = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
LATER = SCORED + timedelta(hours=1)
ONE, TWO = RecordKey("contact", "1"), RecordKey("contact", "2")


def want(record_id: str = "1", score: int = 50, stage: str = "MQL", reason: str | None = None, **extra: Any) -> Desired:
    reason = reason or f"+{score} fit"
    values = {"score": score, "stage": stage, "reason": reason} | extra
    return Desired("contact", record_id, values, score, stage, "m1", reason)


def written(**by_id: Desired) -> dict[RecordKey, dict[str, Any]]:
    return {RecordKey("contact", record_id): dict(d.values) for record_id, d in by_id.items()}


def base(written_values: dict[RecordKey, dict[str, Any]] | None = None, **failed: tuple[WriteStatus, Desired]) -> Baseline:
    kept = {RecordKey("contact", record_id): (status, dict(d.values)) for record_id, (status, d) in failed.items()}
    return Baseline(written_values or {}, kept)


def sent(writes: list[Desired]) -> dict[str, dict[str, Any]]:
    return {w.record_id: dict(w.update.values) for w in writes}


# --- what changes ----------------------------------------------------------------------------


def test_a_record_never_written_is_sent_whole() -> None:
    [write] = plan_writes([want(scored_at=SCORED)], base(), POLICY)
    assert write.previous is None and write.key == ONE
    assert dict(write.update.values) == {"score": 50, "stage": "MQL", "reason": "+50 fit", "scored_at": SCORED}


def test_only_changed_values_are_sent_with_the_volatile_ones_riding_along() -> None:
    last = written(**{"1": want(scored_at=SCORED.isoformat()), "2": want("2")})
    # Rescored with the same values: nothing to send, though scored_at moved on.
    assert plan_writes([want(scored_at=LATER), want("2")], base(last), POLICY) == []
    # The score changed: it goes, with the reason (normalised values ride along) and scored_at.
    [write] = plan_writes([want(score=60, reason="+50 fit", scored_at=LATER), want("2")], base(last), POLICY)
    assert dict(write.update.values) == {"score": 60, "reason": "+50 fit", "scored_at": LATER}
    assert write.previous == last[ONE]
    # The whole desired state is kept for the record of the write.
    assert write.values["stage"] == "MQL" and (write.score, write.model_version) == (60, "m1")


def test_a_value_newly_written_counts_as_changed_and_one_no_longer_written_does_not() -> None:
    last = written(**{"1": want()})
    assert sent(plan_writes([want(grade="A")], base(last), POLICY)) == {"1": {"grade": "A", "reason": "+50 fit"}}
    narrowed = Desired("contact", "1", {"score": 50}, 50, "MQL", "m1")
    assert plan_writes([narrowed], base(last), POLICY) == []
    nothing = Desired("contact", "3", {}, 50, "MQL", "m1")
    assert plan_writes([nothing], base(), POLICY) == []


def test_a_datetime_and_its_iso_text_are_one_value() -> None:
    last = {ONE: {"score": 50, "stage": "MQL", "reason": "+50 fit", "scored_at": SCORED.isoformat()}}
    assert plan_writes([want(scored_at=SCORED)], base(last), DiffPolicy(volatile=frozenset())) == []
    assert plan_writes([want(scored_at=LATER)], base(last), DiffPolicy(volatile=frozenset())) != []


def test_a_reason_whose_only_change_is_an_activity_age_is_not_rewritten_alone() -> None:
    last = written(**{"1": want(reason="+20 Visited pricing page (3d ago) | +30 Title: CTO")})
    aged = want(reason="+20 Visited pricing page (4d ago) | +30 Title: CTO")
    assert plan_writes([aged], base(last), POLICY) == []
    today = want(reason="+20 Visited pricing page (today) | +30 Title: CTO")
    assert plan_writes([today], base(last), POLICY) == []
    # ... but rides along, fresh, with a real change.
    moved = want(score=55, reason="+20 Visited pricing page (4d ago) | +30 Title: CTO")
    assert sent(plan_writes([moved], base(last), POLICY))["1"]["reason"].endswith("(4d ago) | +30 Title: CTO")
    # A policy that normalises nothing rewrites every age.
    assert len(plan_writes([aged], base(last), DiffPolicy(normalise={}))) == 1


def test_the_last_of_duplicates_wins() -> None:
    writes = plan_writes([want(score=10), want(score=20)], base(), POLICY)
    assert [w.score for w in writes] == [20]


# --- failures --------------------------------------------------------------------------------


def test_a_record_with_a_retryable_failure_is_sent_whole_even_back_at_its_old_values() -> None:
    last = written(**{"1": want()})
    [write] = plan_writes([want()], base(last, **{"1": (WriteStatus.RETRYABLE, want(score=70, stage="SQL"))}), POLICY)
    assert dict(write.update.values) == dict(want().values) and write.previous == last[ONE]


def test_a_permanent_failure_holds_back_the_same_values_until_something_changes() -> None:
    refused = base(**{"1": (WriteStatus.PERMANENT, want(scored_at=SCORED))})
    # The same values (scored_at aside) would fail the same way again.
    assert plan_writes([want(scored_at=LATER)], refused, POLICY) == []
    # Other values are worth a try, sent whole.
    assert sent(plan_writes([want(score=55)], refused, POLICY)) == {"1": dict(want(score=55).values)}


def test_a_permanent_failure_of_a_record_read_again_no_longer_holds_it_back() -> None:
    last = written(**{"1": want(score=40)})
    refused = base(last, **{"1": (WriteStatus.PERMANENT, want())})
    assert plan_writes([want()], refused, POLICY) == []
    # Read again from the CRM: diffed as if the failure were gone (against what was last written).
    [write] = plan_writes([want()], refused, POLICY, reread=[ONE])
    assert dict(write.update.values) == {"score": 50, "reason": "+50 fit"}
    # Another record read again frees nothing.
    assert plan_writes([want()], refused, POLICY, reread=[TWO]) == []


# --- purity and shape ------------------------------------------------------------------------


def test_the_diff_changes_none_of_its_inputs() -> None:
    wanted = [want(score=60, scored_at=LATER), want("2")]
    baseline = base(written(**{"1": want()}), **{"2": (WriteStatus.RETRYABLE, want("2", 10))})
    before = copy.deepcopy((wanted, baseline))
    first = plan_writes(wanted, baseline, POLICY, reread=[TWO])
    assert (wanted, baseline) == before
    assert plan_writes(wanted, baseline, POLICY, reread=[TWO]) == first
    assert all(w.send is None for w in wanted)


def test_the_policy_is_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        POLICY.reason_budget = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        POLICY.normalise["score"] = str  # type: ignore[index]


def test_a_write_is_one_desired_value_set_sent_as_the_contracts_score_update() -> None:
    [write] = plan_writes([want(score=60)], base(written(**{"1": want()})), POLICY)
    assert write.update == ScoreUpdate("1", "contact", {"score": 60, "reason": "+60 fit"})
    assert write.outgoing == write.send and want().outgoing == want().values
    assert sorted(write.planned()) == [("reason", "+50 fit", "+60 fit"), ("score", 50, 60)]


def test_substance_leaves_the_volatile_values_out() -> None:
    assert POLICY.substance({"score": 1, "scored_at": SCORED}) == POLICY.substance({"score": 1})
    assert POLICY.substance({"score": 1}) != POLICY.substance({"score": 2})
    assert POLICY.substance({"a": 1, "b": (1, 2)}) == POLICY.substance({"b": [1, 2], "a": 1})


# --- drift: values read back from the CRM -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "computed", "held", "same"),
    [
        ("score", 50, "50", True),
        ("score", 50, "50.0", True),
        ("score", 50, "999", False),
        ("score", 50, "fifty", False),
        ("stage", "MQL", "MQL", True),
        ("stage", "MQL", "SQL", False),
        ("grade", None, "", True),
        ("grade", "A1", None, False),
        ("reason", "+20 Visit (3d ago)", "+20 Visit (5d ago)", True),
        ("reason", "+20 Visit (3d ago)", "+25 Visit (3d ago)", False),
    ],
)
def test_what_the_crm_holds_is_compared_as_the_diff_compares(name: str, computed: Any, held: Any, same: bool) -> None:
    assert POLICY.crm_holds(name, computed, held) is same


def test_drifted_names_the_values_the_crm_holds_otherwise_never_the_volatile_ones() -> None:
    desired = want(scored_at=LATER)
    held = {"score": "999", "stage": "MQL", "reason": "+50 fit", "scored_at": "2020-01-01T00:00:00Z"}
    assert drifted(desired, held, POLICY) == ["score"]
    assert drifted(desired, {}, POLICY) == ["score", "stage", "reason"]


def test_reason_substance_drops_only_the_ages() -> None:
    assert reason_substance("+20 Visited pricing (3d ago) | +5 Call (today)") == "+20 Visited pricing () | +5 Call ()"
    assert reason_substance("+15 Title: CTO") == "+15 Title: CTO"
    assert reason_substance(None) is None


_AGE_TEXT = st.lists(st.sampled_from(["(", ")", "0", "1", "9", " ", "d ago", "today", "x3, last ", "a", "d", " ago"]),
                     max_size=14).map("".join)


@settings(max_examples=400, deadline=None)
@given(one=_AGE_TEXT, other=_AGE_TEXT, aged=st.integers(0, 30))
def test_reason_substance_drops_exactly_the_ages(one: str, other: str, aged: int) -> None:
    """The substance drops "today" or "<digits>d ago" just before a ")", as the regular
    expression it replaced did; ``same_reason`` says whether two lines have one substance
    without building either."""
    import re

    from leadscore.agent.sync.diff import same_reason

    assert reason_substance(one) == re.sub(r"(?:today|[0-9]+d ago)\)", ")", one)
    for two in (other, re.sub(r"[0-9]+", str(aged), one), one.replace("today", f"{aged}d ago")):
        assert same_reason(one, two) is (reason_substance(one) == reason_substance(two))


_VALUE = st.one_of(st.integers(0, 3), st.sampled_from(["MQL", "SQL", "+5 Visit (2d ago)", "+5 Visit (today)", "+5 Fit"]),
                   st.none(), st.just(1.0), st.just(True))


@settings(max_examples=400, deadline=None)
@given(values=st.dictionaries(st.sampled_from(["score", "stage", "reason", "scored_at"]), _VALUE, max_size=4),
       stored=st.one_of(st.none(), st.dictionaries(st.sampled_from(["score", "stage", "reason", "@fields"]),
                                                   st.one_of(_VALUE, st.just({"score": "S__c"})), max_size=4)),
       fields=st.sampled_from([None, {"score": "S__c"}]),
       failure=st.sampled_from([None, WriteStatus.RETRYABLE, WriteStatus.PERMANENT]))
def test_a_record_that_holds_its_values_is_one_the_diff_leaves_alone(values, stored, fields, failure) -> None:
    """A rescore skips the records :func:`holds` says carry their values already, before the
    diff: it must say so only of records :func:`plan_writes` would not write."""
    from leadscore.agent.sync.diff import holds

    wanted = Desired("contact", "1", values, 1, "MQL", "m1", None, fields=fields)
    baseline = Baseline({ONE: stored} if stored is not None else {},
                        {ONE: (failure, dict(values))} if failure is not None else {})
    if holds(values, baseline, ONE, fields, POLICY):
        assert plan_writes([wanted], baseline, POLICY) == []
