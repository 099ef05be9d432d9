"""Vendor time: both emulators stamp with their clock at commit, and both connectors find every
change however the stamps fall (issue 11).

The Salesforce window case is the one that lost edits: a record found through its activity was
re-read by id, its newer ``SystemModstamp`` moved the cursor past the sync's ``until``, and a
record edited in between was never read again.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from leadscore.agent.core.contract import Cursor
from leadscore.connectors.hubspot.emulator import HubSpotEmulator
from leadscore.connectors.salesforce.emulator import SalesforceEmulator
from tests.test_hubspot_connector import HubSpotHarness
from tests.test_salesforce_connector import SalesforceHarness
from tests.test_salesforce_emulator import sf_for

pytestmark = pytest.mark.network

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)


class Clock:
    """A settable clock for an emulator (seconds since the epoch)."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment.timestamp()


def pull_all(connector: Any, cursor: Cursor, until: datetime | None) -> tuple[set[str], Cursor]:
    ids: set[str] = set()
    last = cursor
    for batch in connector.pull(cursor, until=until):
        ids.update(lead.id for lead in batch.leads)
        last = batch.cursor
    return ids, last


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- stamps never ahead of the clock --------------------------------------------------------


def test_hubspot_seeded_and_written_stamps_are_at_or_before_the_clock():
    with HubSpotEmulator() as emu:
        ids = emu.seed(150, seed=3)  # as of now: the `leadscore emulator hubspot` default
        ceiling = now_iso()
        assert all(c["lastmodifieddate"] <= ceiling and c["createdate"] <= ceiling for c in emu.contacts().values())
        emu.update_contact(ids[0], {"jobtitle": "Chief Scoring Officer"})
        assert emu.contact(ids[0])["lastmodifieddate"] <= now_iso()


def test_salesforce_seeded_and_written_stamps_are_at_or_before_the_clock():
    with SalesforceEmulator() as emu:
        ids = emu.seed(200, seed=3)
        ceiling = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        sf = sf_for(emu)
        for sobject in ("Lead", "Contact", "Opportunity", "Task", "Event"):
            for record in sf.query_all(f"SELECT SystemModstamp, LastModifiedDate, CreatedDate FROM {sobject}")["records"]:
                assert record["SystemModstamp"] <= ceiling, (sobject, record)
        emu.update_record("Lead", ids[0], {"Title": "VP Sales"})
        assert emu.record("Lead", ids[0])["SystemModstamp"] <= datetime.now(timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.000+0000")


def test_seeding_ahead_of_the_clock_is_refused():
    with HubSpotEmulator() as hubspot, SalesforceEmulator() as salesforce:
        later = datetime.now(timezone.utc) + timedelta(days=1)
        with pytest.raises(ValueError, match="ahead of the emulator's clock"):
            hubspot.seed(3, as_of=later)
        with pytest.raises(ValueError, match="ahead of the emulator's clock"):
            salesforce.seed(3, as_of=later)


# --- activity touches the record as the vendor documents -------------------------------------


def _logged(engagement: dict[str, Any], *, after: timedelta) -> tuple[dict[str, Any], dict[str, Any]]:
    """A contact as it was before and after ``engagement`` is logged on it, ``after`` past T0."""
    clock = Clock(T0)
    with HubSpotEmulator(clock=clock) as emu:
        contact = emu.seed(5, seed=2, as_of=T0 - timedelta(days=1))[0]
        before = emu.contact(contact)
        clock.set(T0 + after)
        emu.log_engagement(contact, engagement)
        return before, emu.contact(contact)


def test_hubspot_logging_a_call_updates_the_contacts_rollups_and_lastmodifieddate():
    before, after = _logged({"type": "calls", "properties": {
        "hs_timestamp": "2026-11-19T23:30:00.000Z", "hs_call_status": "COMPLETED", "hs_call_title": "Intro"}},
        after=timedelta(minutes=5))
    assert after["lastmodifieddate"] == "2026-11-20T00:05:00.000Z" > before["lastmodifieddate"]
    assert after["notes_last_contacted"] == "2026-11-19T23:30:00.000Z"
    assert int(after["num_notes"]) == int(before["num_notes"] or 0) + 1
    assert int(after["num_contacted_notes"]) == int(before["num_contacted_notes"] or 0) + 1


def test_hubspot_a_task_counts_as_a_sales_activity_but_not_as_contacted():
    before, after = _logged({"type": "tasks", "properties": {
        "hs_timestamp": "2026-11-27T09:00:00.000Z", "hs_task_subject": "Follow up"}}, after=timedelta(seconds=1))
    assert after["num_contacted_notes"] == before["num_contacted_notes"]
    assert after["notes_last_contacted"] == before["notes_last_contacted"]
    assert int(after["num_notes"]) == int(before["num_notes"] or 0) + 1
    assert after["lastmodifieddate"] == "2026-11-20T00:00:01.000Z"


def test_salesforce_an_event_moves_last_activity_and_systemmodstamp_only():
    clock = Clock(T0)
    with SalesforceEmulator(clock=clock) as emu:
        lead = next(i for i in emu.seed(20, seed=2, as_of=T0 - timedelta(days=1))
                    if not emu.record("Lead", i)["IsConverted"])
        before = emu.record("Lead", lead)
        clock.set(T0 + timedelta(minutes=3))
        emu.create_record("Task", {"WhoId": lead, "Subject": "Call back", "Status": "Not Started",
                                   "ActivityDate": "2026-11-25", "TaskSubtype": "Call"})
        assert emu.record("Lead", lead)["SystemModstamp"] == before["SystemModstamp"]  # an open task: no roll-up
        clock.set(T0 + timedelta(minutes=4))
        emu.create_record("Event", {"WhoId": lead, "Subject": "Demo", "StartDateTime": "2026-11-21T10:00:00.000+0000",
                                    "EndDateTime": "2026-11-21T10:30:00.000+0000"})
        after = emu.record("Lead", lead)
        assert after["LastActivityDate"] == "2026-11-21"
        assert after["SystemModstamp"] == "2026-11-20T00:04:00.000+0000"
        assert after["LastModifiedDate"] == before["LastModifiedDate"]


# --- the next sync sees what was done through the API -----------------------------------------


def test_hubspot_an_edit_and_a_logged_call_are_picked_up_by_the_next_pull():
    harness = HubSpotHarness()
    try:
        ids = harness.emulator.seed(60, seed=4)  # as of now, as `leadscore emulator hubspot` seeds
        connector = harness.connector()
        _, cursor = pull_all(connector, Cursor("contact", None), until=None)
        harness.emulator.update_contact(ids[3], {"jobtitle": "Chief Revenue Officer"})
        harness.emulator.log_engagement(ids[7], {"type": "calls", "properties": {
            "hs_timestamp": now_iso(), "hs_call_status": "COMPLETED"}})
        seen, _ = pull_all(connector, cursor, until=datetime.now(timezone.utc) + timedelta(seconds=1))
        assert {ids[3], ids[7]} <= seen
    finally:
        harness.close()


def test_salesforce_an_edit_and_a_new_task_are_picked_up_by_the_next_pull():
    harness = SalesforceHarness()
    try:
        ids = [i for i in harness.emulator.seed(60, seed=4) if not harness.emulator.record("Lead", i)["IsConverted"]]
        connector = harness.connector()
        _, cursor = pull_all(connector, Cursor("lead", None), until=None)
        harness.emulator.update_record("Lead", ids[3], {"Title": "Chief Revenue Officer"})
        harness.emulator.create_record("Task", {"WhoId": ids[7], "Subject": "Call", "Status": "Not Started",
                                                "TaskSubtype": "Call"})
        seen, _ = pull_all(connector, cursor, until=datetime.now(timezone.utc) + timedelta(seconds=1))
        assert {ids[3], ids[7]} <= seen
    finally:
        harness.close()


def test_salesforce_cursor_never_passes_until_so_an_edit_in_between_is_not_lost():
    """The repro from issue 11: the window ends 00:01:00; lead B is edited at 00:02:10; lead A has
    activity in the window and is edited at 00:17:10. The cursor must stay within the window, so
    the next pull still reads B."""
    clock = Clock(T0)
    harness = SalesforceHarness(clock=clock)
    try:
        emu = harness.emulator
        leads = [i for i in emu.seed(30, seed=6, as_of=T0 - timedelta(days=2)) if not emu.record("Lead", i)["IsConverted"]]
        a, b = leads[0], leads[1]
        connector = harness.connector(overlap_seconds=300)
        clock.set(T0 + timedelta(minutes=30))
        _, cursor = pull_all(connector, Cursor("lead", None), until=T0 + timedelta(minutes=30))
        start = T0 + timedelta(hours=1)
        clock.set(start + timedelta(seconds=30))
        emu.create_record("Task", {"WhoId": a, "Subject": "Call", "Status": "Not Started", "TaskSubtype": "Call"})
        clock.set(start + timedelta(minutes=2, seconds=10))
        emu.update_record("Lead", b, {"Title": "Edited B"})
        clock.set(start + timedelta(minutes=17, seconds=10))
        emu.update_record("Lead", a, {"Title": "Edited A"})

        seen, cursor = pull_all(connector, cursor, until=start + timedelta(minutes=1))
        assert a in seen  # found through its activity (read as it is now)
        assert cursor.value is not None and datetime.fromisoformat(cursor.value.replace("Z", "+00:00")) <= \
            start + timedelta(minutes=1)
        clock.set(start + timedelta(minutes=20))
        seen, _ = pull_all(connector, cursor, until=start + timedelta(minutes=20))
        assert b in seen
    finally:
        harness.close()


# --- ties and stalls ----------------------------------------------------------------------------


@pytest.mark.slow
def test_hubspot_12000_contacts_sharing_one_lastmodifieddate_are_each_read_once():
    """A bulk import stamps every contact alike: more than one search query's 10,000 results."""
    harness = HubSpotHarness()
    try:
        connector = harness.connector()
        since = Cursor("contact", now_iso())
        ids = harness.emulator.import_contacts([{"email": f"tie{n}@example.com", "jobtitle": "Analyst"}
                                                for n in range(12_000)])
        assert len({harness.emulator.contact(i)["lastmodifieddate"] for i in ids[::500]}) == 1
        read: list[str] = []
        for batch in connector.pull(since, until=datetime.now(timezone.utc) + timedelta(seconds=1)):
            read.extend(lead.id for lead in batch.leads)
        assert len(read) == len(set(read)) == 12_000 and set(read) == set(ids)
        assert connector.api_calls()["contacts.search"] == 12_000 // 200  # the floor: ceil(N / 200)
    finally:
        harness.close()


class _Page:
    def __init__(self, ids: list[int], after: str | None) -> None:
        self.results = [type("Contact", (), {"id": str(i), "properties": {"lastmodifieddate": "2026-11-20T00:00:00Z"}})()
                        for i in ids]
        self.paging = type("Paging", (), {"next": type("Next", (), {"after": after})()})() if after else None
        self.total = 10**6


class _RepeatingClient:
    """A server (a spec-derived mock) that answers the same page, and the same ``after``, forever."""

    def __init__(self) -> None:
        self.calls = 0
        self.contacts_search = type("S", (), {"do_search": None})()
        self.contacts_basic = type("B", (), {"get_page": None})()

    def call(self, family: str, fn: Any, *args: Any, search: bool = False, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls > 50:
            raise AssertionError("the pull kept paging a page that does not move")
        return _Page([101, 102, 103], after="3")


def test_a_page_that_does_not_advance_fails_the_pull_instead_of_looping():
    from leadscore.agent.core.errors import StalledCursorError
    from leadscore.connectors.hubspot.config import HubSpotConfig
    from leadscore.connectors.hubspot.pull import ContactReader

    client = _RepeatingClient()
    reader = ContactReader(client, HubSpotConfig(access_token="x", engagements=[]))  # type: ignore[arg-type]
    with pytest.raises(StalledCursorError):
        for _ in reader.pull(Cursor("contact", "2026-11-19T00:00:00Z"), until=T0, needs=None):
            pass
    assert client.calls == 2
    client.calls = 0
    with pytest.raises(StalledCursorError):
        for _ in reader.pull(Cursor("contact", None), until=T0, needs=None):
            pass
    assert client.calls == 2


# --- search lag ---------------------------------------------------------------------------------


def test_hubspot_search_lag_hides_a_write_for_a_moment_and_the_overlap_still_finds_it():
    """HubSpot: "It may take a few moments for newly created or updated CRM objects to appear in
    search results". A sync that runs inside that moment misses the edit; the next one, whose
    window starts ``overlap_seconds`` before the cursor, reads it."""
    clock = Clock(T0)
    harness = HubSpotHarness()
    harness.emulator.stop()
    harness.emulator = HubSpotEmulator(limits=harness.emulator.limits, clock=clock, search_lag=5.0).start()
    try:
        emu = harness.emulator
        ids = emu.seed(20, seed=8, as_of=T0 - timedelta(days=1))
        connector = harness.connector(overlap_seconds=60)
        clock.set(T0 + timedelta(minutes=1))
        _, cursor = pull_all(connector, Cursor("contact", "2026-11-19T00:00:00Z"), until=T0 + timedelta(minutes=1))
        assert cursor.value == "2026-11-20T00:01:00.000Z"
        clock.set(T0 + timedelta(minutes=2))
        emu.update_contact(ids[5], {"jobtitle": "Head of Scoring"})
        clock.set(T0 + timedelta(minutes=2, seconds=2))  # inside the lag
        seen, cursor = pull_all(connector, cursor, until=T0 + timedelta(minutes=2, seconds=2))
        assert ids[5] not in seen  # the window holds it, the index does not yet
        record = emu.contact(ids[5])
        assert record["jobtitle"] == "Head of Scoring"  # reads by id are current
        clock.set(T0 + timedelta(minutes=10))
        seen, _ = pull_all(connector, cursor, until=T0 + timedelta(minutes=10))
        assert ids[5] in seen
    finally:
        harness.close()
