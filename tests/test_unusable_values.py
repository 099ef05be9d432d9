"""Bad values stay with their record: every value parser of both connectors degrades to "unusable
value" - the record is scored with the rest, logged once and counted ``warned`` (or ``bad`` when the
record cannot be read at all) in the run log, ``status`` and the metrics; nothing raises.

A Hypothesis property feeds random junk (text, lone surrogates, NUL, huge strings, huge numbers,
NaN and infinity, nested JSON, bytes, None) through both connectors' normalisers and checks that
no exception escapes, that what is kept can be scored and stored, and that each unusable value is
named on its record. The end-to-end test is the reported failure: one HubSpot contact of 600 with
``hs_email_last_click_date = "99999999999999999"``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, Mapping, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.agent.config import parse_config
from leadscore.agent.metrics import Metrics
from leadscore.agent.core.records import (
    MAX_TEXT_CHARS,
    NUMERIC_FIELDS,
    WHOLE_RECORD,
    Activity,
    Lead,
    Unusable,
    unreadable_lead,
    usable_fields,
    usable_value,
)
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.scoring.conditions import is_bad_number
from leadscore.agent.state import StateStore
from leadscore.agent.state.canonical import canonical_json
from leadscore.agent.sync import SyncPipeline
from leadscore.agent.core.contract import Cursor, PullBatch, PullNeeds, ScoreUpdate, WriteResult, WriteStatus
from leadscore.connectors.hubspot import pull as hubspot
from leadscore.connectors.hubspot.config import HubSpotConfig
from leadscore.connectors.salesforce import pull as salesforce
from leadscore.connectors.salesforce.config import SalesforceConfig

from .cli_agent import CliAgent, json_events, start_emulator
from .conftest import AS_OF, EXAMPLE_CONFIG

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENGINE = ScoringEngine(parse_config(EXAMPLE_CONFIG.read_text(encoding="utf-8")).scoring)

# --- junk --------------------------------------------------------------------------------------

ODD_TEXT = [
    "99999999999999999", "-99999999999999999", "NaN", "nan", "inf", "-inf", "1e309", "-1e309", "1e-400",
    "2024-13-45", "2024-02-30T25:61:00Z", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00",
    "²", "٣٤", "1,200", "100-500", "1000+", "\x00", "a\x00b", "\x07bell", "\ud800", "x\udfffy", "😀", "👩‍💻 VP",
    " ", "", "-", "+1 555 0100", "=HYPERLINK(\"http://x\")", "9" * 5000,
]
HUGE = "x" * (MAX_TEXT_CHARS + 10)
MEGABYTE = "é" * 1_000_000
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**330),
    st.integers(min_value=-(10**330), max_value=-(10**300)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.lists(st.integers(0xD800, 0xDFFF), min_size=1, max_size=3).map(lambda cs: "".join(map(chr, cs))),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=5),
    st.binary(max_size=20),
    st.sampled_from(ODD_TEXT + [HUGE, MEGABYTE]),
)
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=4)


def unusable(value: Any, numeric: bool = False) -> bool:
    """The test's own idea of a value no connector may pass on as it is."""
    if isinstance(value, (dict, list, tuple, set, bytes, bytearray)):
        return True
    if isinstance(value, bool):
        return numeric
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return True
        return False
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            return True
        if any(ord(c) < 0x20 and c not in "\t\n\r" or c == "\x7f" for c in value):
            return True
        return numeric and is_bad_number(value)
    return False


def present(value: Any) -> bool:
    """A value is there (blank text is missing, not bad)."""
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


def assert_storable(values: Mapping[str, Any]) -> None:
    """What the mirror stores: JSON without NaN, encodable as UTF-8, no NUL, within the bound."""
    text = canonical_json(dict(values))
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in {text[:80]}"))
    text.encode("utf-8")
    assert "\x00" not in text
    for value in values.values():
        assert not isinstance(value, (dict, list, bytes))
        if isinstance(value, str):
            assert len(value) <= MAX_TEXT_CHARS


# --- the shared cleaning -------------------------------------------------------------------------


@SETTINGS
@given(value=junk, numeric=st.booleans())
def test_usable_fields_keeps_only_storable_values_and_names_each_unusable_one(value: Any, numeric: bool) -> None:
    key = "annual_revenue" if numeric else "title"
    kept, problems = usable_fields({key: value}, {key: "CrmName"})
    assert_storable(kept)
    assert all(p.field == "CrmName" and p.reason for p in problems)
    if unusable(value, numeric) and present(value):
        assert problems, f"{value!r} passed as usable"
    if value is None or value == "" or not unusable(value, numeric):
        assert not problems, problems


def test_usable_value_says_what_it_did() -> None:
    assert usable_value("😀 fine") == ("😀 fine", None)
    assert usable_value(float("nan")) == (None, "not a finite number (dropped)")
    assert usable_value(10**400)[0] is None
    assert usable_value("a\x00b") == ("ab", "control characters (NUL...) removed")
    assert usable_value("\ud800x") == ("\ufffdx", "invalid Unicode replaced")
    text, reason = usable_value(MEGABYTE)
    assert len(text) == MAX_TEXT_CHARS and reason == "1,000,000 characters, cut to 65,536"
    assert usable_value({"street": "x"})[0] is None and "nested dict" in usable_value({"street": "x"})[1]
    assert str(Unusable("hs_email_last_click_date", "epoch milliseconds out of range (17 digits)")) == (
        "hs_email_last_click_date: epoch milliseconds out of range (17 digits)")


# --- HubSpot -------------------------------------------------------------------------------------

HS_CONFIG = HubSpotConfig(access_token="x", fields={"budget": "budget", "timeline": "timeline"})
HS_FIELDS = HS_CONFIG.field_map()
HS_PLAN = hubspot.PullPlan.build(HS_CONFIG, None)
HS_TIMES = ["createdate", *hubspot.SUMMARY_ACTIVITIES]
HS_PROPERTIES = sorted({*HS_FIELDS.values(), *HS_TIMES, "lifecyclestage", "recent_conversion_event_name", "lastmodifieddate"})
ENGAGEMENT_PROPERTIES = sorted({p for props in hubspot.ENGAGEMENT_PROPERTIES.values() for p in props})


def hubspot_reader(engagements: dict[str, Mapping[str, Any]] | None = None) -> hubspot.ContactReader:
    """A reader whose engagement reads answer ``engagements`` (object type -> properties of one
    engagement of contact 101), without a client."""
    reader = hubspot.ContactReader(None, HS_CONFIG)  # type: ignore[arg-type]
    engagements = engagements or {}
    reader._associated = lambda ids, object_type: {f"{object_type}-1": ["101"]} if object_type in engagements else {}  # type: ignore[method-assign]
    reader._read_objects = lambda object_type, ids, properties=None: [  # type: ignore[method-assign]
        SimpleNamespace(id=f"{object_type}-1", properties=engagements[object_type])
    ]
    return reader


@SETTINGS
@given(
    props=st.dictionaries(st.sampled_from(HS_PROPERTIES), junk, max_size=10),
    engagement=st.dictionaries(st.sampled_from(ENGAGEMENT_PROPERTIES), junk, max_size=5),
    object_type=st.sampled_from(sorted(hubspot.ENGAGEMENT_PROPERTIES)),
    odd_map=st.booleans(),
)
def test_hubspot_normalisers_never_raise_and_name_every_unusable_value(
    props: dict[str, Any], engagement: dict[str, Any], object_type: str, odd_map: bool
) -> None:
    record = SimpleNamespace(id="101", properties=props if not odd_map else list(props.items()), created_at=None, updated_at=None)
    batch = hubspot_reader({object_type: engagement})._batch([record], HS_PLAN, Cursor("contact", "c"))
    [lead] = batch.leads
    assert not lead.unreadable and lead.id == "101"
    named = {p.field for p in lead.problems}
    assert_storable(lead.fields)
    for activity in batch.activities:
        assert_storable(activity.properties)
        assert activity.occurred_at.tzinfo is not None and 1 <= activity.occurred_at.year <= 9999
    ENGINE.score(lead, batch.activities, AS_OF)  # and the engine takes what was kept
    if odd_map:
        assert "properties" in named and not lead.fields and not any(n in named for n in props)
        return
    canonical = {prop: name for name, prop in HS_FIELDS.items()}
    for prop, value in props.items():
        if prop in canonical and present(value):
            name = canonical[prop]
            if name == "employees":
                value = hubspot.employees_from_bucket(value)
            if unusable(value, numeric=name in NUMERIC_FIELDS):
                assert prop in named, f"{prop}={value!r} not reported: {lead.problems}"
        if prop in HS_TIMES and present(value) and hubspot.parse_time(value) is None:
            assert prop in named, f"{prop}={value!r} not reported"
    stamp = engagement.get("hs_timestamp")
    if present(stamp) and hubspot.parse_time(stamp) is None:
        assert f"{object_type}.hs_timestamp" in named
    for prop, value in engagement.items():
        if prop != "hs_timestamp" and unusable(value) and present(value) and hubspot.parse_time(stamp) is not None:
            if (object_type, prop) in {("calls", "hs_call_status"), ("calls", "hs_call_direction"), ("calls", "hs_call_duration"),
                                       ("meetings", "hs_meeting_outcome"), ("meetings", "hs_meeting_title"),
                                       ("emails", "hs_email_direction")}:
                assert f"{object_type}.{prop}" in named, f"{object_type}.{prop}={value!r} not reported"


@SETTINGS
@given(value=junk)
def test_hubspot_value_parsers_never_raise(value: Any) -> None:
    moment, reason = hubspot.read_time(value)
    assert hubspot.parse_time(value) == moment
    assert moment is None or (moment.tzinfo is not None and moment.utcoffset() == timedelta(0))
    assert (reason is None) == (moment is not None or not present(value) or (isinstance(value, str) and not value.strip()))
    hubspot.employees_from_bucket(value)
    found: list[Unusable] = []
    for object_type in hubspot.ENGAGEMENT_PROPERTIES:
        hubspot._engagement_activity(object_type, {"hs_timestamp": value, "hs_email_direction": "INCOMING_EMAIL"}, found)


def test_the_reported_hubspot_date_is_unusable_not_fatal() -> None:
    assert hubspot.parse_time("99999999999999999") is None  # was: ValueError year 3170843 is out of range
    assert hubspot.read_time("99999999999999999")[1] == "epoch milliseconds out of range (17 digits)"
    assert hubspot.read_time("999999999999999")[1] == "epoch milliseconds out of range"  # 15 digits: year 33658
    assert hubspot.parse_time("1700000000000") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert hubspot.parse_time("2026-10-01T12:00:00.000Z") == datetime(2026, 10, 1, 12, tzinfo=timezone.utc)
    assert hubspot.employees_from_bucket("²-5") == "²-5"  # str.isdigit() says yes; int() said no


def test_a_hubspot_record_that_cannot_be_read_is_a_bad_stand_in_not_a_crash() -> None:
    class Exploding:
        id = "102"

        @property
        def properties(self) -> Mapping[str, Any]:
            raise RuntimeError("boom")

    good = SimpleNamespace(id="101", properties={"jobtitle": "CTO"}, created_at=None, updated_at=None)
    batch = hubspot_reader()._batch([good, Exploding()], HS_PLAN, Cursor("contact", "c"))
    assert [lead.id for lead in batch.leads] == ["101", "102"]
    assert not batch.leads[0].problems and batch.leads[1].unreadable
    assert batch.leads[1].problems[0].field == WHOLE_RECORD and "RuntimeError" in batch.leads[1].problems[0].reason


# --- Salesforce ----------------------------------------------------------------------------------

SF_CONFIG = SalesforceConfig(client_id="x", auth="client_credentials", client_secret="s")
SF_WANTED = SF_CONFIG.field_map("Lead")
SF_COLUMNS = sorted({*SF_WANTED.values(), "CreatedDate", "SystemModstamp"})


class FakeSalesforce:
    """``client.call(family, fn)`` with ``fn(sf)``: queries answer the rows of their table."""

    def __init__(self, tables: Mapping[str, list[dict[str, Any]]]) -> None:
        self.tables = tables

    def call(self, family: str, fn: Any) -> Any:
        return fn(self)

    def query_all(self, soql: str) -> dict[str, Any]:
        table = soql.split(" FROM ", 1)[1].split()[0]
        return {"records": list(self.tables.get(table, [])), "done": True}


def salesforce_reader(tables: Mapping[str, list[dict[str, Any]]]) -> salesforce.RecordReader:
    return salesforce.RecordReader(FakeSalesforce(tables), SF_CONFIG, salesforce.ConversionMap({}))  # type: ignore[arg-type]


@SETTINGS
@given(
    values=st.dictionaries(st.sampled_from(SF_COLUMNS), junk, max_size=10),
    task=st.fixed_dictionaries({}, optional={c: junk for c in ("Subject", "CallType", "CallDurationInSeconds", "Status",
                                                                "ActivityDate", "CreatedDate")}),
    event=st.fixed_dictionaries({}, optional={"StartDateTime": junk, "Subject": junk}),
    member=st.fixed_dictionaries({}, optional={"Status": junk, "HasResponded": junk, "FirstRespondedDate": junk,
                                               "CreatedDate": junk}),
    subtype=st.sampled_from(["Call", "Email"]),
    campaign=st.sampled_from(["Webinar", "Event", "Email", ""]),
)
def test_salesforce_normalisers_never_raise_and_name_every_unusable_value(
    values: dict[str, Any], task: dict[str, Any], event: dict[str, Any], member: dict[str, Any], subtype: str, campaign: str
) -> None:
    lead = salesforce.RecordReader._lead({"Id": "00Q000000000001AAA", **values}, "lead", SF_WANTED)
    assert not lead.unreadable
    assert_storable(lead.fields)
    named = {p.field for p in lead.problems}
    canonical = {api: name for name, api in SF_WANTED.items()}
    for column, value in values.items():
        if column in canonical and present(value) and unusable(value, numeric=canonical[column] in NUMERIC_FIELDS):
            assert column in named, f"{column}={value!r} not reported"
        if column in ("CreatedDate", "SystemModstamp") and present(value) and salesforce.parse_time(value) is None:
            assert column in named, f"{column}={value!r} not reported"

    tables = {
        "Task": [{"Id": "00T1", "WhoId": lead.id, "TaskSubtype": subtype, **task}],
        "Event": [{"Id": "00U1", "WhoId": lead.id, **event}],
        "CampaignMember": [{"Id": "00v1", "LeadId": lead.id, "CampaignId": "701A", **member}],
        "Campaign": [{"Id": "701A", "Type": campaign}],
    }
    leads = [lead]
    activities = salesforce_reader(tables)._activities(leads, "Lead", None)
    [scored] = leads
    for activity in activities:
        assert activity.lead_id == lead.id
        assert_storable(activity.properties)
        assert activity.occurred_at.tzinfo is not None
    ENGINE.score(scored, activities, AS_OF)
    named = {p.field for p in scored.problems}
    start = event.get("StartDateTime")
    if present(start) and salesforce.parse_time(start) is None:
        assert "Event.StartDateTime" in named
    if salesforce.parse_time(start) is not None and present(event.get("Subject")) and unusable(event.get("Subject")):
        assert "Event.Subject" in named
    created = task.get("CreatedDate")
    if present(created) and salesforce.parse_time(created) is None:
        assert "Task.CreatedDate" in named


@SETTINGS
@given(value=junk)
def test_salesforce_time_parser_never_raises(value: Any) -> None:
    moment, reason = salesforce.read_time(value)
    assert salesforce.parse_time(value) == moment
    assert moment is None or moment.utcoffset() == timedelta(0)
    assert reason is None or moment is None


def test_a_salesforce_record_without_an_id_is_a_bad_stand_in() -> None:
    lead = salesforce.RecordReader._lead({"Title": "CTO"}, "lead", SF_WANTED)
    assert lead.unreadable and "KeyError" in lead.problems[0].reason


# --- the pipeline counts them --------------------------------------------------------------------

MODEL = """
[scoring]
name = "unusable"
rules = [
  { kind = "fit", label = "Title: {value}", field = "title", contains = "VP", points = 30 },
  { kind = "fit", label = "Big company", field = "employees", gte = 500, points = 10 },
]
stages = [{ name = "Cold" }, { name = "MQL", min_score = 30 }]
"""


class OneBatchCrm:
    """A connector answering one batch: a clean lead, one with problems the connector named,
    one with a value only the engine finds bad, and one it could not read at all."""

    name = "odd"
    object_types = ("lead",)
    write_values = frozenset({"score", "stage", "reason"})

    def __init__(self) -> None:
        self.written: list[ScoreUpdate] = []

    def pull(self, cursor: Cursor, *, until: datetime | None = None, needs: PullNeeds | None = None) -> Iterator[PullBatch]:
        leads = [
            Lead("L1", fields={"title": "VP Sales"}),
            Lead("L2", fields={"title": "VP"}, problems=(Unusable("LastActivityDate", "not a date/time"),)),
            Lead("L3", fields={"title": "CTO", "employees": "lots"}),
            unreadable_lead("L4", "lead", RuntimeError("boom")),
        ]
        activities = [Activity("L4", "meeting", AS_OF - timedelta(days=1))]
        yield PullBatch(leads, activities, Cursor("lead", "2026-11-01T00:00:00Z"))

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        self.written.extend(updates)
        return [WriteResult(u.record_id, WriteStatus.OK) for u in updates]

    def api_calls(self) -> Mapping[str, int]:
        return {}


def test_the_pipeline_scores_warned_records_and_counts_bad_ones_without_mirroring_them(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    store = StateStore.open(f"sqlite:///{tmp_path / 's.db'}")
    crm, metrics = OneBatchCrm(), Metrics()
    with capture_logs() as logs:
        pipeline = SyncPipeline("odd", crm, store, ScoringEngine(parse_config(MODEL).scoring), metrics=metrics, as_of=AS_OF)
        counts = pipeline.sync()
    assert (counts.pulled, counts.scored, counts.warned, counts.bad) == (4, 3, 2, 1)
    assert counts.status == "partial"  # a record could not be scored
    assert sorted(u.record_id for u in crm.written) == ["L1", "L2", "L3"]
    assert sorted(m.lead.id for m in store.mirror_leads("odd")) == ["L1", "L2", "L3"]  # never the unreadable one
    assert store.cursor("odd", "lead") == "2026-11-01T00:00:00Z"  # and it never holds a sync back
    events = [e for e in logs if e["event"] in ("record.bad_values", "record.unreadable")]
    assert sorted((e["event"], e["record_id"]) for e in events) == [
        ("record.bad_values", "L2"), ("record.bad_values", "L3"), ("record.unreadable", "L4")]
    [l2] = [e for e in events if e["record_id"] == "L2"]
    assert l2["unusable"] == ["LastActivityDate: not a date/time"]
    value = metrics.registry.get_sample_value
    assert value("leadscore_records_with_problems_total", {"connector": "odd", "kind": "warned"}) == 2
    assert value("leadscore_records_with_problems_total", {"connector": "odd", "kind": "bad"}) == 1
    store.close()


# --- end to end: the reported contact, through the CLI -------------------------------------------


def store_raw(emulator: Any, contact_id: str, values: Mapping[str, str]) -> None:
    """Set property values as stored text, past the emulator's validation (which refuses a
    17-digit epoch, as ``values.py`` reads HubSpot's docs), the way a value already in a portal
    reaches the API. The contact's ``lastmodifieddate`` moves, as any change's does."""
    from leadscore.connectors.hubspot.emulator.store import SOURCE_IMPORT

    store = emulator._store
    with store.lock:
        store.update(store.get("contacts", contact_id), dict(values), at_ms=store.write_ms(), source=SOURCE_IMPORT)


@pytest.mark.network
def test_one_contact_with_an_out_of_range_date_is_warned_and_the_other_599_are_scored_and_written(tmp_path: Path) -> None:
    emulator = start_emulator(600)
    try:
        ids = sorted(emulator.contacts(), key=int)
        odd = ids[300]
        store_raw(emulator, odd, {"hs_email_last_click_date": "99999999999999999"})
        assert emulator.contact(odd)["hs_email_last_click_date"] == "99999999999999999"
        agent = CliAgent.for_emulator(tmp_path, emulator, agent={"log_level": "debug"})
        agent.setup()
        done = agent.run("sync", check=True)
        assert "Traceback" not in done.stderr
        written = {cid: props.get("leadscore_score") for cid, props in emulator.contacts().items()}
        assert len(written) == 600 and all(score is not None for score in written.values())

        with agent.store() as store:
            [run] = store.runs("hubspot", limit=1)
            assert run.status == "ok" and run.counts["scored"] == 600 and run.counts["bad"] == 0
            assert run.counts["warned"] == 1 and run.counts["written"] == 600
        events = [e for e in json_events(done.stderr) if e.get("event") == "record.bad_values"]
        assert [e["record_id"] for e in events] == [odd]
        assert events[0]["unusable"] == ["hs_email_last_click_date: epoch milliseconds out of range (17 digits)"]

        status = agent.run("status", check=True).stdout
        header = next(line for line in status.splitlines() if "warned" in line)
        row = next(line for line in status.splitlines() if line.strip("│┃ ").startswith("sync "))
        cells, columns = ([c.strip() for c in re.split("[│┃]", line.strip().strip("│┃"))] for line in (row, header))
        assert cells[columns.index("warned")] == "1" and cells[columns.index("bad")] == "0", status

        store_raw(emulator, ids[5], {"jobtitle": "VP Sales"})  # later syncs go on as ever
        again = agent.run("sync", check=True)
        assert "Traceback" not in again.stderr
        assert emulator.contact(ids[5])["leadscore_reason"] and "VP" in emulator.contact(ids[5])["leadscore_reason"]
    finally:
        emulator.stop()
